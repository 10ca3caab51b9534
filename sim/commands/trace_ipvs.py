"""``kube-netsim trace`` in IPVS mode (``spec.kubeProxy.mode: ipvs`` or ``--mode ipvs``).

The node runs what the IPVS proxier programs (``sim.kubeproxy.ipvs.compile_ipvs``: the
iptables payload over its bootstrap jumps, the ipsets, the kube-ipvs0 addresses and the IPVS
table) on an engine with the IPVS stage (:mod:`sim.netfilter.ipvs`). The trail shows the
iptables rules hit (their ``-m set`` lookups in the rule text), then the IPVS steps (``ipvs``
kind: the virtual server and the real server picked), then OUTPUT/POSTROUTING. One outcome
per real server the scheduler may pick, with its probability
(:func:`sim.netfilter.ipvs.trace_ipvs_packet`). Same text and ``--json`` shapes as iptables
mode.
"""

from __future__ import annotations

from sim.iptables import apply_payload
from sim.kubeproxy.ipvs import bootstrap_payload, compile_ipvs
from sim.netfilter import NodeNetfilter
from sim.netfilter.ipvs import attach, trace_ipvs_packet


def setup(state, node_name: str):
    """``(ruleset, extra local addresses, ipsets, IPVS table)`` of ``node_name``."""
    rules = compile_ipvs(state, node_name)
    base = apply_payload(bootstrap_payload(), noflush=True)
    ruleset = apply_payload(rules.payload, base, noflush=True)
    return ruleset, list(rules.bound_addresses), rules.ipsets, rules.ipvs


def trace(state, ruleset, local: list[str], ipsets, table, packet, *, local_out: bool,
          in_iface: str, route) -> list:
    """Every outcome of ``packet`` on a fresh node programmed in IPVS mode."""
    nf = NodeNetfilter(ruleset, local, route=route, ipsets=ipsets, trace=True)
    attach(nf, table, state.kube_proxy.ipvs)
    return trace_ipvs_packet(nf, packet, local_out=local_out, in_iface=in_iface)
