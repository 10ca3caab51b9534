"""``kube-netsim rules --mode userspace``: the portal rules of a 1.0 kube-proxy on a node.

The proxy ports are drawn as the world draws them when kube-proxy starts (the node's stream
``userspace-ports/<node>`` of the run seed, or ``spec.kubeProxy.portRange``), so the text is
the one a run with that seed starts from.

``save`` (the default in this mode)
    what ``iptables-save -t nat`` prints on the node: 1.0 never used ``iptables-restore``;
``restore``
    the same rules as an ``iptables-restore --noflush`` payload;
``commands``
    the ``iptables`` invocations kube-proxy ran, one rule at a time (``-N``, ``-C``, ``-I``/``-A``).
"""

from __future__ import annotations

from sim.iptables import apply_payload, render_save
from sim.kubeproxy.userspace import compile_rules, iptables_commands
from sim.model.errors import SimError
from sim.world.userspace import proxy_ports_for

FORMATS = ("save", "restore", "commands")


def userspace_rules(state, node: str, seed: int, fmt: str, stats: bool) -> str:
    """The text ``rules`` prints for ``node`` in userspace mode."""
    if fmt not in FORMATS:
        raise SimError(f'--format: Unsupported value: "{fmt}": supported values in userspace '
                       'mode: ' + ", ".join(f'"{f}"' for f in FORMATS))
    payload = compile_rules(state, node, proxy_ports_for(state, node, state.kube_proxy, seed))
    if stats:
        nat = payload.table("nat")
        return (f"{'table':<8} {'chains':>7} {'rules':>7}  proxy sockets\n"
                f"{'nat':<8} {len(nat.chains):>7} {len(nat.lines):>7}  "
                f"{len(proxy_ports_for(state, node, state.kube_proxy, seed))}\n")
    if fmt == "restore":
        return payload.render()
    if fmt == "commands":
        return "\n".join(iptables_commands(payload)) + "\n"
    return render_save(apply_payload(payload, noflush=True))
