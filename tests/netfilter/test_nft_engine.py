"""The engine runs nft rulesets: kube-proxy's nftables rules (upstream's
TestOverallNFTablesRules fixture) give upstream's packet-flow outcomes; iptables tables and
nft base chains share one hook pipeline in priority order; affinity sets pin and expire;
numgen spreads with the kernel's probabilities."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import chisquare

from sim.iptables.ruleset import Ruleset
from sim.model.packet import Packet
from sim.netfilter import NodeNetfilter, Route, Verdict, numgen_probability
from sim.nftables import apply_nft
from tests.netfilter.conftest import ruleset
from tests.nftables.test_parse import upstream_text

NODE_IPS = ["192.168.0.2", "192.168.1.2", "192.168.99.11"]


def kube_proxy_node(**kw) -> NodeNetfilter:
    return NodeNetfilter(None, NODE_IPS, nft=apply_nft(upstream_text()),
                         route=lambda dst: Route("eth0", NODE_IPS[0]), **kw)


def syn(src: str, dst: str, dport: int, sport: int = 40000, proto: str = "tcp") -> Packet:
    return Packet(proto, src, dst, sport, dport, "S" if proto == "tcp" else "")


# (source, destination, port, expected "ip:port" / "REJECT" / "DROP", masquerade):
# upstream's packet-flow expectations for these services (TestOverallNFTablesRules'
# cluster, flows as in TestClusterIPGeneral, TestLoadBalancer, TestNoEndpointsReject).
FLOWS = [
    ("10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", False),  # pod to ClusterIP
    ("10.180.0.1", "172.30.0.41", 80, "10.180.0.1:80", True),  # hairpin
    ("203.0.113.2", "172.30.0.41", 80, "10.180.0.1:80", True),  # external to ClusterIP
    ("10.0.0.2", "172.30.0.41", 443, "REJECT", False),  # known ClusterIP, unknown port
    ("10.0.0.2", "172.30.0.50", 80, "DROP", False),  # unallocated ClusterIP
    ("10.0.0.2", "172.30.0.46", 80, "REJECT", False),  # no endpoints
    ("203.0.113.2", "192.168.0.2", 3003, "10.180.0.3:80", True),  # NodePort
    ("203.0.113.2", "192.168.0.2", 3001, "DROP", False),  # eTP Local, no local endpoint
    ("10.0.0.2", "192.168.0.2", 3001, "10.180.0.2:80", False),  # pod short-circuit
    ("203.0.113.2", "5.6.7.8", 80, "10.180.0.3:80", True),  # LB within source ranges
    ("203.0.113.130", "5.6.7.8", 80, "DROP", False),  # LB outside source ranges
    ("203.0.113.2", "192.168.99.33", 80, "10.180.0.4:80", True),  # externalIP
    ("203.0.113.2", "1.2.3.4", 80, "DROP", False),  # eTP Local LB without local endpoint
]


@pytest.mark.parametrize("src, dst, dport, want, masq", FLOWS)
def test_upstream_flows(src, dst, dport, want, masq):
    """Each flow ends as upstream's packet-flow tests say (first numgen branch)."""
    nf = kube_proxy_node()
    res = nf.prerouting(syn(src, dst, dport), 0.0, np.random.default_rng(0), "eth0")
    if want in ("REJECT", "DROP"):
        assert res.verdict is Verdict[("NF_" if want == "DROP" else "") + want]
        return
    assert res.verdict is Verdict.NF_ACCEPT
    got = f"{res.packet.dst}:{res.packet.dport}"
    if dst == "192.168.99.33":  # two endpoints: either
        assert got in ("10.180.0.4:80", "10.180.0.5:80")
    else:
        assert got == want
    assert res.masqueraded == masq


def test_localhost_nodeport_is_not_served():
    """nftables mode has no localhost NodePorts: 127.0.0.1:NodePort is not DNATed."""
    nf = kube_proxy_node()
    res = nf.output(syn("127.0.0.1", "127.0.0.1", 3003), 0.0, np.random.default_rng(0))
    assert not res.dnat and res.packet.dst == "127.0.0.1" and res.local


def test_established_packets_skip_nat_chains_and_keep_backend():
    """Later packets of a connection are translated from conntrack: no nat chain in the
    trail, same backend; the reply is un-NATed."""
    nf = kube_proxy_node()
    rng = np.random.default_rng(0)
    first = nf.prerouting(syn("10.0.0.2", "172.30.0.44", 80), 0.0, rng, "eth0")
    again = nf.prerouting(Packet("tcp", "10.0.0.2", "172.30.0.44", 40000, 80, "A"), 1.0, rng,
                          "eth0")
    assert again.packet.dst == first.packet.dst
    assert not any(s.chain.startswith("nat-") for s in again.trail)
    reply = nf.prerouting(Packet("tcp", first.packet.dst, "10.0.0.2", 80, 40000, "SA"), 1.0,
                          rng, "eth0")
    assert (reply.packet.src, reply.packet.sport) == ("172.30.0.44", 80)


def test_iptables_and_nft_share_the_hooks_in_priority_order():
    """A CNI's iptables tables and an nft table run interleaved by priority; the nat chains
    of both languages run in priority order until one sets up the mapping."""
    ipt = ruleset("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -p tcp\n"
                  "COMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
                  ":FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                  "-A PREROUTING -p tcp\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n"
                  ":INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                  "-A PREROUTING -d 10.96.0.2 -p tcp -j DNAT --to-destination 10.244.0.2\n"
                  "COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                  ":OUTPUT ACCEPT [0:0]\n-A FORWARD -p tcp\nCOMMIT\n")
    nft = apply_nft("add table ip t\n"
                    "add chain ip t early { type filter hook prerouting priority -250 ; }\n"
                    "add chain ip t late { type filter hook prerouting priority -120 ; }\n"
                    "add chain ip t dnat { type nat hook prerouting priority -110 ; }\n"
                    "add chain ip t fwd { type filter hook forward priority 5 ; }\n"
                    "add rule ip t early meta l4proto tcp\nadd rule ip t late meta l4proto tcp\n"
                    "add rule ip t dnat ip daddr 10.96.0.1 dnat to 10.244.0.1\n"
                    "add rule ip t fwd meta l4proto tcp\n")
    nf = NodeNetfilter(ipt, ["192.168.0.2"], nft=nft)
    rng = np.random.default_rng(0)
    res = nf.prerouting(syn("10.0.0.9", "10.96.0.2", 80), 0.0, rng, "eth0")
    order = [(s.table, s.chain, s.kind) for s in res.trail]
    assert order == [("raw", "PREROUTING", "rule"), ("raw", "PREROUTING", "policy"),
                     ("ip t", "early", "rule"), ("ip t", "early", "policy"),
                     ("mangle", "PREROUTING", "rule"), ("mangle", "PREROUTING", "policy"),
                     ("ip t", "late", "rule"), ("ip t", "late", "policy"),
                     ("ip t", "dnat", "policy"), ("nat", "PREROUTING", "rule"),
                     ("mangle", "FORWARD", "policy"),
                     ("filter", "FORWARD", "rule"), ("filter", "FORWARD", "policy"),
                     ("ip t", "fwd", "rule"), ("ip t", "fwd", "policy"),
                     ("mangle", "POSTROUTING", "policy"), ("nat", "POSTROUTING", "policy")]
    assert res.packet.dst == "10.244.0.2"
    nft_first = nf.prerouting(syn("10.0.0.9", "10.96.0.1", 80), 0.0, rng, "eth0")
    assert nft_first.packet.dst == "10.244.0.1"
    assert ("nat", "PREROUTING") not in [(s.table, s.chain) for s in nft_first.trail]


AFFINITY = """add table ip kube-proxy
add set ip kube-proxy aff-a { type ipv4_addr ; flags dynamic,timeout ; timeout 10s ; }
add set ip kube-proxy aff-b { type ipv4_addr ; flags dynamic,timeout ; timeout 10s ; }
add chain ip kube-proxy ep-a
add chain ip kube-proxy ep-b
add chain ip kube-proxy svc
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add rule ip kube-proxy nat-prerouting ip daddr 10.96.0.10 tcp dport 80 jump svc
add rule ip kube-proxy svc ip saddr @aff-a goto ep-a
add rule ip kube-proxy svc ip saddr @aff-b goto ep-b
add rule ip kube-proxy svc numgen random mod 2 vmap { 0 : goto ep-a , 1 : goto ep-b }
add rule ip kube-proxy ep-a update @aff-a { ip saddr }
add rule ip kube-proxy ep-a meta l4proto tcp dnat to 10.244.0.1:80
add rule ip kube-proxy ep-b update @aff-b { ip saddr }
add rule ip kube-proxy ep-b meta l4proto tcp dnat to 10.244.0.2:80
"""


def test_affinity_pins_a_client_until_the_timeout():
    """ClientIP affinity: every new connection within the timeout goes to the first
    backend; after the timeout the choice is random again."""
    nf = NodeNetfilter(None, ["192.168.0.2"], nft=apply_nft(AFFINITY))
    rng = np.random.default_rng(7)
    first = nf.prerouting(syn("10.0.0.5", "10.96.0.10", 80, 1000), 0.0, rng, "eth0").packet.dst
    for k in range(30):
        res = nf.prerouting(syn("10.0.0.5", "10.96.0.10", 80, 1001 + k), 0.1 * k, rng, "eth0")
        assert res.packet.dst == first
    later = {nf.prerouting(syn(f"10.0.1.{k}", "10.96.0.10", 80), 0.0, rng, "eth0").packet.dst
             for k in range(30)}
    assert later == {"10.244.0.1", "10.244.0.2"}
    seen = set()
    for k in range(40):  # each connection 11 s after the last: the pin has expired
        seen.add(nf.prerouting(syn("10.0.0.6", "10.96.0.10", 80, 2000 + k), 100.0 + 11 * k,
                               rng, "eth0").packet.dst)
    assert seen == {"10.244.0.1", "10.244.0.2"}
    listing = nf.nft_ruleset.render(now=0.0)
    assert "10.0.0.5 expires" in listing


def test_numgen_spreads_uniformly():
    """numgen random mod 4 spreads 4,000 connections evenly (chi-square p > 0.001)."""
    text = AFFINITY.replace("flags dynamic,timeout ; timeout 10s ;", "")
    text = "\n".join(ln for ln in text.splitlines() if "@aff" not in ln) + "\n"
    text = text.replace("numgen random mod 2 vmap { 0 : goto ep-a , 1 : goto ep-b }",
                        "numgen random mod 4 vmap { 0 : goto ep-a , 1 : goto ep-b , "
                        "2 : goto ep-a , 3 : goto ep-b }")
    nf = NodeNetfilter(None, ["192.168.0.2"], nft=apply_nft(text), trace=False)
    rng = np.random.default_rng(3)
    counts = {}
    for k in range(4000):
        trail_free = nf.prerouting(syn(f"10.1.{k >> 8}.{k & 255}", "10.96.0.10", 80), 0.0, rng,
                                   "eth0")
        counts[trail_free.packet.dst] = counts.get(trail_free.packet.dst, 0) + 1
    assert chisquare(list(counts.values())).pvalue > 0.001


@pytest.mark.parametrize("mod", [1, 2, 3, 5, 7, 10])
def test_numgen_probabilities_are_the_kernels(mod):
    """reciprocal_scale's probabilities sum to exactly 1 and are 1/N when N divides 2^32."""
    ps = [numgen_probability(v, mod) for v in range(mod)]
    assert sum(ps) == 1
    if (1 << 32) % mod == 0:
        assert set(ps) == {Fraction(1, mod)}
    assert max(ps) - min(ps) <= Fraction(1, 1 << 32)


def test_rule_counters_count_matches():
    """Per-rule counters count the packets that matched each rule."""
    nf = kube_proxy_node()
    rng = np.random.default_rng(0)
    for k in range(3):
        nf.prerouting(syn("10.0.0.2", "172.30.0.41", 80, 40000 + k), 0.0, rng, "eth0")
    counters = nf.nft_counters()
    assert counters["ip kube-proxy", "services", 1][0] == 3
    assert counters["ip kube-proxy", "services", 2][0] == 0


def test_drop_policy_of_a_base_chain():
    """A base chain with policy drop drops what no rule accepted."""
    nft = apply_nft("add table ip t\n"
                    "add chain ip t input-filter { type filter hook input priority 0 ; policy drop ; }\n"
                    "add rule ip t input-filter tcp dport 22 accept\n")
    nf = NodeNetfilter(Ruleset(), ["192.168.0.2"], nft=nft)
    rng = np.random.default_rng(0)
    assert nf.prerouting(syn("1.1.1.1", "192.168.0.2", 22), 0, rng, "eth0").verdict is \
        Verdict.NF_ACCEPT
    res = nf.prerouting(syn("1.1.1.1", "192.168.0.2", 23), 0, rng, "eth0")
    assert res.verdict is Verdict.NF_DROP and res.reason == "policy"


def test_trace_branches_over_numgen_values_with_exact_probabilities():
    """The tracer explores every numgen value with reciprocal_scale's probability; the
    probabilities of all branches sum to exactly 1."""
    from sim.netfilter import trace_packet

    text = AFFINITY.replace("numgen random mod 2 vmap { 0 : goto ep-a , 1 : goto ep-b }",
                            "numgen random mod 3 vmap { 0 : goto ep-a , 1 : goto ep-b , "
                            "2 : goto ep-a }")
    outs = trace_packet(Ruleset(), ["192.168.0.2"], syn("10.0.0.5", "10.96.0.10", 80),
                        local_out=False, nft=apply_nft(text))
    fresh = [o for o in outs if o.probability is not None]
    assert sum(o.probability for o in fresh) == 1
    assert sorted(o.probability for o in fresh) == sorted(
        numgen_probability(v, 3) for v in range(3))
    pinned = [o for o in outs if o.probability is None]
    assert [o.conditions for o in pinned] == [("10.0.0.5 is in set aff-a",),
                                              ("10.0.0.5 is in set aff-b",)]
    assert [o.destination for o in pinned] == ["10.244.0.1:80", "10.244.0.2:80"]
