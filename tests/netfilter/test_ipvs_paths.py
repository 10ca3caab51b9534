"""An IPVS node gives the same results over the fast path and the linear reference walk.

The IPVS stage has one implementation; what differs between the two engines is how the IPVS
proxier's iptables rules (with their ``-m set`` matches) are walked. Random packet sequences
(new connections, their replies, established packets, other ports and addresses) go through
both, and every result must be identical, connection state included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sim.iptables import apply_payload
from sim.kubeproxy.ipvs import bootstrap_payload, compile_ipvs
from sim.model.packet import Packet
from sim.netfilter import NodeNetfilter, Route
from sim.netfilter.ipvs import attach
from sim.scenario.spec import load_scenario

ROOT = Path(__file__).resolve().parents[2]
STATE = load_scenario(ROOT / "scenarios" / "world" / "ipvs-round-robin.yaml").state()
RULES = compile_ipvs(STATE, "node-3")
RULESET = apply_payload(RULES.payload, apply_payload(bootstrap_payload(), noflush=True),
                        noflush=True)
NODE_IP = "192.168.49.4"
VIPS = sorted({vs.address for vs in RULES.ipvs.virtual_servers})
SERVERS = sorted({rs.address for vs in RULES.ipvs.virtual_servers for rs in vs.real_servers})
CLIENTS = ["10.244.3.30", "203.0.113.7", NODE_IP]


def _node(fast: bool) -> NodeNetfilter:
    route = Route("eth0", NODE_IP)
    nf = NodeNetfilter(RULESET, [NODE_IP, "10.244.3.1"], fast=fast, route=lambda d: route,
                       ipsets=RULES.ipsets)
    attach(nf, RULES.ipvs, STATE.kube_proxy.ipvs)
    return nf


step = st.tuples(
    st.sampled_from(["new", "reply", "again"]),
    st.sampled_from(CLIENTS), st.integers(40000, 40003),
    st.sampled_from(VIPS + [NODE_IP, "10.0.0.9"]), st.sampled_from([80, 81]),
    st.sampled_from(["S", "A", "SA", "FA", "R"]), st.sampled_from(["tcp", "udp"]),
)


def _view(res) -> tuple:
    return (res.verdict, res.packet, res.local, res.hooks, res.ctstate, res.trail,
            res.masqueraded, res.reject_with)


@given(st.lists(step, min_size=1, max_size=25))
def test_fast_path_equals_reference_walk_on_an_ipvs_node(steps) -> None:
    """Same verdict, packet, hooks, trail and state for every packet on both engines."""
    nodes = [_node(True), _node(False)]
    rngs = [np.random.default_rng(1), np.random.default_rng(1)]
    seen: list[Packet] = []
    for t, (kind, src, sport, dst, dport, flags, proto) in enumerate(steps):
        flags = flags if proto == "tcp" else ""
        if kind == "reply" and seen:
            last = seen[-1]
            pkt = Packet(last.proto, last.dst, NODE_IP, last.dport, last.sport, flags)
        elif kind == "again" and seen:
            pkt = seen[0]
        else:
            pkt = Packet(proto, src, dst, sport, dport, flags)
        out = []
        for nf, rng in zip(nodes, rngs):
            local = pkt.src == NODE_IP
            res = (nf.output(pkt, t * 0.5, rng) if local
                   else nf.prerouting(pkt, t * 0.5, rng, "eth0"))
            out.append(res)
        assert _view(out[0]) == _view(out[1])
        if out[0].verdict.value == "ACCEPT" and kind == "new":
            seen.append(out[0].packet)
    a, b = (n.ipvs.connections(len(steps)) for n in nodes)
    assert a == b
