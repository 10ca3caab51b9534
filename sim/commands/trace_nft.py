"""``kube-netsim trace`` in nftables mode: the rules to trace and the node's addresses.

With a scenario (``spec.kubeProxy.mode: nftables`` or ``--mode nftables``) the rules are the
table kube-proxy's first, full sync leaves (``sim.kubeproxy.nftables.compile_nft`` applied
like ``nft -f``); with ``--rules FILE`` an ``nft list ruleset`` dump (or any ``nft -f`` text)
is recognised by its first statement (``table ...``, ``add ...``) and applied the same way.
The engine runs it beside an empty iptables ruleset; the trail names nft rules by table
(``ip kube-proxy``), chain and position, as ``nft list`` prints them.
"""

from __future__ import annotations

from sim.model.ip import parse_ip
from sim.nftables import NftRuleset, apply_nft, looks_like_nft

__all__ = ["infer_local", "is_nft_text", "rules_from_file", "scenario_rules"]


def scenario_rules(state, node_name: str) -> NftRuleset:
    """The table kube-proxy (nftables mode) programs on ``node_name``."""
    from sim.kubeproxy.nftables import compile_nft

    return apply_nft(compile_nft(state, node_name), source=f"kube-proxy nftables ({node_name})")


def is_nft_text(text: str) -> bool:
    """Whether a ``--rules`` file is nft text rather than iptables-save text."""
    return looks_like_nft(text)


def rules_from_file(text: str, path: str) -> NftRuleset:
    """An ``nft list ruleset`` dump (or ``nft -f`` text) applied to an empty ruleset."""
    return apply_nft(text, source=path)


def infer_local(rs: NftRuleset, dst: str, dport: int) -> list[str]:
    """The ``--dst`` is a node address when kube-proxy's table lists it in ``nodeport-ips``,
    or when its services chain matches NodePorts on every local address (``fib daddr type
    local``) and ``--dport`` is a key of ``service-nodeports`` or ``no-endpoint-nodeports``."""
    table = rs.tables.get(("ip", "kube-proxy"))
    if table is None:
        return []
    addr = int(parse_ip(dst))
    nodeport_ips = table.sets.get("nodeport-ips")
    if nodeport_ips is not None and addr in nodeport_ips.elements:
        return [dst]
    services = table.chains.get("services")
    any_local = services is not None and any("fib daddr type local" in r.render()
                                             for r in services.rules)
    if any_local:
        for name in ("service-nodeports", "no-endpoint-nodeports"):
            m = table.sets.get(name)
            if m is not None and any(isinstance(k, tuple) and k[-1] == dport
                                     for k in m.elements):
                return [dst]
    return []
