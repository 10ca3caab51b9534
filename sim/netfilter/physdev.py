"""``-m physdev``: the bridge ports a bridged packet came in on and goes out of.

Model
    With ``br_netfilter``, iptables sees packets a Linux bridge forwards; ``physdev`` matches
    the bridge *port* (``xt_physdev.c``). The ports modelled are a node's pod veths on its
    pod bridge: a packet from a pod of this node arrives on the port ``veth-<pod>`` (the
    world's name for a pod's uplink) or, in ``trace``, on the bridge ``cni0`` itself with no
    port name known; a packet routed to a pod of this node leaves on the bridge. So:

    * ``--physdev-is-in``: the packet came in through a bridge port (``veth*`` or a bridge:
      ``cni0``, ``cbr0``, ``docker0``, ``weave``, ``kube-bridge``, ``br-*``);
    * ``--physdev-is-out``: it leaves through one (its output interface is a bridge or a
      veth); only known after routing, as in the kernel (FORWARD, POSTROUTING);
    * ``--physdev-is-bridged``: both (the bridge forwarded it between two of its ports);
    * ``--physdev-in NAME`` / ``--physdev-out NAME`` (``+`` a wildcard): the port's name,
      which is known only for a ``veth-*`` interface; on a bridge with no port known the
      name never matches (``!`` then matches).

Scope and limitations
    No bridge-only path (ebtables, the bridge's own FDB): a packet between two pods of one
    bridge is seen in FORWARD only as the world routes it. Weave's ``vethwe-bridge`` port
    (the datapath's side of the weave bridge) is not modelled: traffic from other nodes never
    comes in on it.

Validation
    Option parsing and ``iptables-save`` form checked against ``iptables-nft-save`` 1.8.9
    (``tests/iptables``); the matching semantics follow ``physdev_mt`` in
    ``net/netfilter/xt_physdev.c`` for the ports above.
"""

from __future__ import annotations

from typing import Any

BRIDGES = ("cni0", "cbr0", "docker0", "weave", "kube-bridge")


def is_bridge_port(iface: str) -> bool:
    """Whether a packet on ``iface`` passes a bridge port (a bridge or one of its veths).

    >>> [is_bridge_port(i) for i in ("cni0", "veth-default/web-1", "br-1a2b", "eth0", "")]
    [True, True, True, False, False]
    """
    return bool(iface) and (iface in BRIDGES or iface.startswith(("veth", "br-")))


def port_name(iface: str) -> str:
    """The bridge port's name when the model knows it (a veth), else ``""``."""
    return iface if iface.startswith("veth") else ""


def _name_matches(port: str, pattern: str) -> bool:
    if not port:
        return False
    if pattern.endswith("+"):
        return port.startswith(pattern[:-1])
    return port == pattern


def physdev_preds(options: dict[str, Any]) -> list[tuple[str, dict[str, object]]]:
    """The conditions of one ``physdev`` match as (expression, constants) pairs over the
    engine's packet context ``c`` (``c.in_iface``, ``c.out_iface``)."""
    out: list[tuple[str, dict[str, object]]] = []
    env = {"__b": is_bridge_port, "__p": port_name, "__n": _name_matches}
    for name, attr in (("--physdev-in", "c.in_iface"), ("--physdev-out", "c.out_iface")):
        if name in options:
            opt = options[name]
            expr = f"__n(__p({attr}), __s)"
            out.append((f"not {expr}" if opt.negated else expr, {**env, "__s": opt.values[0]}))
    flags = {"--physdev-is-in": "__b(c.in_iface)", "--physdev-is-out": "__b(c.out_iface)",
             "--physdev-is-bridged": "(__b(c.in_iface) and __b(c.out_iface))"}
    for name, expr in flags.items():
        if name in options:
            out.append((f"not {expr}" if options[name].negated else expr, env))
    return out
