"""kube-proxy's rules from a real-format node dump, run by the engine: the reference
outcomes of ../shared/notes/kernel-oracle.md ("What the kernel did")."""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy.stats import chisquare

from sim.model.packet import Packet
from sim.netfilter import CtDir, CtState, Verdict

from tests.netfilter.conftest import NODE1_BRIDGE, NODE1_IP, node1

POD = "10.244.1.20"  # a client pod on node1
OUTSIDE = "192.168.0.50"  # a host on the node LAN
WEB = "10.96.100.1"
WEB_EPS = {"10.244.1.7", "10.244.2.8", "10.244.2.9"}


def test_pod_to_cluster_ip_is_dnated_without_masquerade(rng) -> None:
    """pod -> ClusterIP reaches an endpoint with the pod's own source address."""
    res = node1().prerouting(Packet("tcp", POD, WEB, 40000, 80), 0, rng, "cni0")
    assert res.verdict is Verdict.NF_ACCEPT
    assert res.packet.dst in WEB_EPS and res.packet.dport == 8080
    assert res.packet.src == POD and not res.masqueraded
    assert res.ctstate is CtState.NEW and res.dnat


def test_outside_host_to_cluster_ip_is_masqueraded_to_the_egress_address(rng) -> None:
    """outside -> ClusterIP is masqueraded to the address of the egress route."""
    res = node1().prerouting(Packet("tcp", OUTSIDE, WEB, 40000, 80), 0, rng, "eth0")
    assert res.masqueraded and res.packet.src == NODE1_IP


def test_node_to_cluster_ip_is_masqueraded(rng) -> None:
    """A node process -> ClusterIP (OUTPUT path) is masqueraded."""
    res = node1().output(Packet("tcp", NODE1_IP, WEB, 40000, 80), 0, rng)
    assert res.verdict is Verdict.NF_ACCEPT and res.packet.dst in WEB_EPS
    assert res.masqueraded


def test_nodeport_with_cluster_policy_is_dnated_and_masqueraded(rng) -> None:
    """outside -> NodePort (eTP Cluster) goes to an endpoint, masqueraded."""
    res = node1().prerouting(Packet("tcp", OUTSIDE, NODE1_IP, 40000, 30080), 0, rng, "eth0")
    assert res.packet.dst in WEB_EPS and res.masqueraded and not res.local


def test_nodeport_with_local_policy_and_no_local_endpoint_drops(rng) -> None:
    """outside -> NodePort (eTP Local) on a node without a local endpoint: filter DROP."""
    res = node1().prerouting(Packet("tcp", OUTSIDE, NODE1_IP, 40000, 30090), 0, rng, "eth0")
    assert res.verdict is Verdict.NF_DROP and res.reason == "rule"
    assert res.trail[-1].chain == "KUBE-EXTERNAL-SERVICES"


def test_pod_to_local_policy_nodeport_short_circuits_to_the_cluster_chain(rng) -> None:
    """pod -> NodePort (eTP Local) keeps the pod IP and reaches the remote endpoint."""
    res = node1().prerouting(Packet("tcp", POD, NODE1_IP, 40000, 30090), 0, rng, "cni0")
    assert res.verdict is Verdict.NF_ACCEPT
    assert res.packet.dst == "10.244.2.12" and res.packet.src == POD and not res.masqueraded


def test_service_without_endpoints_is_rejected(rng) -> None:
    """any -> ClusterIP of a Service with no endpoints: REJECT icmp-port-unreachable."""
    nf = node1()
    for res in (nf.prerouting(Packet("tcp", POD, "10.96.200.1", 40000, 80), 0, rng, "cni0"),
                nf.output(Packet("tcp", NODE1_IP, "10.96.200.1", 40001, 80), 0, rng)):
        assert res.verdict is Verdict.REJECT
        assert res.reject_with == "icmp-port-unreachable"


def test_reply_is_un_nated_back_to_the_client(rng) -> None:
    """The endpoint's reply goes back to the original client from the ClusterIP."""
    nf = node1()
    first = nf.prerouting(Packet("tcp", OUTSIDE, WEB, 40000, 80), 0, rng, "eth0")
    p = first.packet
    reply = nf.prerouting(Packet("tcp", p.dst, p.src, p.dport, p.sport, "SA"), 0.01, rng, "cni0")
    assert reply.direction is CtDir.REPLY and reply.ctstate is CtState.ESTABLISHED
    assert (reply.packet.src, reply.packet.sport) == (WEB, 80)
    assert (reply.packet.dst, reply.packet.dport) == (OUTSIDE, 40000)


def test_established_connection_keeps_its_backend(rng) -> None:
    """Later packets of a connection reuse the stored DNAT (no new random draw)."""
    nf = node1()
    first = nf.prerouting(Packet("tcp", POD, WEB, 40000, 80), 0, rng, "cni0")
    for k in range(20):
        again = nf.prerouting(Packet("tcp", POD, WEB, 40000, 80, "A"), 0.01 * k, rng, "cni0")
        assert again.packet.dst == first.packet.dst
        assert again.walk_length < first.walk_length


def test_session_affinity_pins_a_client_until_the_timeout(rng) -> None:
    """ClientIP affinity: every new connection of a client goes to its pinned endpoint
    until ``--seconds`` (10800) pass without a new connection."""
    nf = node1()
    first = nf.prerouting(Packet("tcp", POD, "10.96.100.2", 40000, 80), 0, rng, "cni0")
    pinned = first.packet.dst
    for k in range(1, 30):
        res = nf.prerouting(Packet("tcp", POD, "10.96.100.2", 40000 + k, 80), 100.0 * k, rng,
                            "cni0")
        assert res.packet.dst == pinned
    later = 2900.0 + 10800.5
    seen = {nf.prerouting(Packet("tcp", POD, "10.96.100.2", 41000 + k, 80), later + 10801 * k,
                          rng, "cni0").packet.dst for k in range(30)}
    assert seen == {"10.244.1.10", "10.244.2.11"}


def test_spread_over_three_endpoints_is_uniform() -> None:
    """3000 connections spread 1/3 each (chi-square, df=2, alpha 0.001)."""
    nf = node1(trace=False)
    rng = np.random.default_rng(7)
    counts = Counter(nf.prerouting(Packet("tcp", POD, WEB, 1024 + k, 80), 0, rng,
                                   "cni0").packet.dst for k in range(3000))
    assert set(counts) == WEB_EPS
    assert chisquare([counts[e] for e in sorted(WEB_EPS)]).pvalue > 0.001


def test_pod_reaching_itself_through_the_service_is_masqueraded(rng) -> None:
    """Hairpin: a pod whose connection lands on itself is masqueraded (KUBE-SEP rule)."""
    nf = node1()
    for k in range(200):
        res = nf.prerouting(Packet("tcp", "10.244.1.7", WEB, 2000 + k, 80), 0, rng, "cni0")
        if res.packet.dst == "10.244.1.7":
            assert res.masqueraded and res.packet.src == NODE1_IP
            return
    raise AssertionError("no connection landed on the client pod in 200 tries")


def test_udp_dns_is_dnated_and_replies_are_un_nated(rng) -> None:
    """UDP to the DNS ClusterIP is DNATed; the reply comes back from the ClusterIP."""
    nf = node1()
    q = nf.prerouting(Packet("udp", POD, "10.96.0.10", 5353, 53, ""), 0, rng, "cni0")
    assert q.packet.dst in {"10.244.1.5", "10.244.2.6"}
    a = nf.prerouting(Packet("udp", q.packet.dst, POD, 53, 5353, ""), 0.001, rng, "cni0")
    assert (a.packet.src, a.packet.sport) == ("10.96.0.10", 53)


def test_martian_localhost_traffic_is_dropped_by_kube_firewall(rng) -> None:
    """An outside packet to 127.0.0.1 (not DNATed) hits KUBE-FIREWALL's DROP."""
    res = node1().prerouting(Packet("tcp", OUTSIDE, "127.0.0.1", 40000, 22), 0, rng, "eth0")
    assert res.verdict is Verdict.NF_DROP
    assert res.trail[-1].chain == "KUBE-FIREWALL"


def test_node_bridge_address_is_local(rng) -> None:
    """Every node address (here the pod bridge address) is ``addrtype LOCAL``."""
    res = node1().prerouting(Packet("tcp", POD, NODE1_BRIDGE, 40000, 30080), 0, rng, "cni0")
    assert res.packet.dst in WEB_EPS
