"""The netfilter adapter: shared compilation behaves exactly like per-node compilation."""

from __future__ import annotations

from sim.iptables import apply_payload, parse_restore
from sim.model.config import KubeProxyConfig
from sim.model.packet import Packet
from sim.world.engine import NetfilterDatapath, SharedCompilation
from sim.world.kubeproxy import RulesCache
from sim.world.rng import component_rng

from worldkit import small_cluster


def _pair():
    state = small_cluster().snapshot()
    ruleset = RulesCache(state.kube_proxy).program(state, "n1", frozenset()).ruleset
    shared = SharedCompilation()
    own = NetfilterDatapath(("192.168.0.1",), state.kube_proxy, component_rng(1, "x"))
    first = NetfilterDatapath(("192.168.0.1",), state.kube_proxy, component_rng(1, "x"), shared)
    adopter = NetfilterDatapath(("192.168.0.1",), state.kube_proxy, component_rng(1, "x"), shared)
    own.load(ruleset)
    first.load(ruleset)
    adopter.load(ruleset)
    return state, shared, own, first, adopter


def test_second_node_adopts_the_first_compilation():
    """Two loads of one ruleset compile once; both nodes run the same compiled object."""
    _, shared, _, first, adopter = _pair()
    assert shared.compiles == 1
    assert adopter.nf._compiled is first.nf._compiled


def test_adopting_node_gives_the_same_verdicts_and_nat_as_its_own_compilation():
    """Same packets, same random stream: identical verdicts and rewritten packets."""
    state, _, own, _, adopter = _pair()
    vip = state.service("default", "web").cluster_ip
    for sport in range(40000, 40050):
        p = Packet("tcp", "10.244.1.10", vip, sport, 80, tcp_flags="S")
        assert own.ingress(p, 0.0, "veth0") == adopter.ingress(p, 0.0, "veth0")


def test_a_node_loading_something_else_does_not_change_what_others_adopt():
    """The first node flushing its rules later must not affect nodes adopting afterwards."""
    state, shared, _, first, _ = _pair()
    ruleset = first.nf.ruleset
    first.load(None)
    late = NetfilterDatapath(("192.168.0.1",), state.kube_proxy, component_rng(1, "x"), shared)
    late.load(ruleset)
    assert late.nf.ruleset is ruleset
    assert first.nf.ruleset is not ruleset


def test_counters_and_conntrack_stay_per_node():
    """Traffic through one node changes neither the other's rule counters nor its conntrack."""
    state, _, _, first, adopter = _pair()
    vip = state.service("default", "web").cluster_ip
    first.ingress(Packet("tcp", "10.244.1.10", vip, 40000, 80, tcp_flags="S"), 0.0, "veth0")
    assert sum(first.nf.counters_packets) > 0
    assert sum(adopter.nf.counters_packets) == 0
    assert len(first.nf.conntrack_entries(0.0)) == 1
    assert adopter.nf.conntrack_entries(0.0) == []


_LIMITED = """*filter
:FORWARD DROP [0:0]
-A FORWARD -p tcp -m tcp --syn -m limit --limit 1/min --limit-burst 2 -j ACCEPT
COMMIT
"""


def test_limit_buckets_are_per_node_not_shared():
    """A ruleset with a ``limit`` rule is compiled per node: a burst spent on one node leaves
    the other node's token bucket full (two SYNs pass on each, the third is dropped)."""
    ruleset = apply_payload(parse_restore(_LIMITED))
    shared = SharedCompilation()
    config = KubeProxyConfig()
    nodes = [NetfilterDatapath(("192.168.0.1",), config, component_rng(1, "x"), shared)
             for _ in range(2)]
    for node in nodes:
        node.load(ruleset)
    assert shared.compiles == 2
    for node in nodes:
        verdicts = [node.ingress(Packet("tcp", "10.1.0.5", "10.2.0.5", 40000 + k, 80,
                                        tcp_flags="S"), 0.0, "eth0").action
                    for k in range(3)]
        assert verdicts == ["ACCEPT", "ACCEPT", "DROP"]
