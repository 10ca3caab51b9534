"""The namespace cluster reproduces the reference outcomes of the kernel-oracle note."""

from __future__ import annotations

import pytest

from sim.oracle import (
    ClusterSpec,
    KernelCluster,
    NodeSpec,
    OracleError,
    counter_diff,
    own_namespaces,
)
from sim.oracle.netns import Namespace, cleanup_stale, list_namespaces

from tests.oracle.cluster_data import RULES, SPEC

pytestmark = pytest.mark.kernel


def test_pods_reach_each_other_without_rules():
    """Without any rules, a pod reaches a pod on the other node and sees its real source."""
    with KernelCluster(SPEC) as kc:
        [r] = kc.probe("web-1", "10.244.2.2", 8080)
    assert (r.status, r.pod, r.peer_ip) == ("ok", "web-2", "10.244.1.2")


def test_namespaces_deleted_on_exit_even_after_failure():
    """Every namespace the cluster made is gone after the with-block, also when it raised."""
    with pytest.raises(RuntimeError):
        with KernelCluster(SPEC) as kc:
            assert len(own_namespaces(kc.prefix)) == 1 + 2 + 2 + 1
            raise RuntimeError("boom")
    assert own_namespaces(kc.prefix) == []
    assert kc.agents == {}


def test_stale_namespaces_of_dead_runs_are_removed():
    """A namespace named for a process that no longer exists is deleted by cleanup_stale."""
    ns = Namespace("kns999999999-stale")
    try:
        assert "kns999999999-stale" in cleanup_stale()
        assert "kns999999999-stale" not in list_namespaces()
    finally:
        if "kns999999999-stale" in list_namespaces():
            ns.delete()


def test_pod_to_cluster_ip_keeps_pod_source(kc):
    """pod -> ClusterIP reaches an endpoint and another pod sees the caller's pod IP (no
    SNAT); when the caller lands on itself, the hairpin rule masquerades to the bridge."""
    results = kc.probe("web-2", "10.96.0.10", 80, count=20)
    seen = {(r.status, r.pod, r.peer_ip) for r in results}
    assert seen == {("ok", "web-1", "10.244.2.2"), ("ok", "web-2", "10.244.2.1")}


def test_node_to_cluster_ip_is_masqueraded(kc):
    """node -> ClusterIP is masqueraded: to the pod-bridge address for a local endpoint, to
    the node's LAN address for a remote one."""
    results = kc.probe("node-a", "10.96.0.10", 80, count=20)
    seen = {(r.pod, r.peer_ip) for r in results}
    assert seen == {("web-1", "10.244.1.1"), ("web-2", "192.168.0.2")}


def test_outside_to_nodeport_is_masqueraded_on_each_node(kc):
    """outside -> NodePort (Cluster policy) works on every node, source masqueraded."""
    for node_ip, local in (("192.168.0.2", ("web-1", "10.244.1.1")),
                           ("192.168.0.3", ("web-2", "10.244.2.1"))):
        results = kc.probe("ext", node_ip, 30080, count=20)
        seen = {(r.pod, r.peer_ip) for r in results}
        remote = ("web-2", node_ip) if local[0] == "web-1" else ("web-1", node_ip)
        assert seen == {local, remote}


def test_outside_via_gateway_to_cluster_ip_is_masqueraded(kc):
    """outside -> ClusterIP (routed via its gateway node) reaches a pod, masqueraded."""
    results = kc.probe("ext", "10.96.0.10", 80, count=10)
    assert {r.status for r in results} == {"ok"}
    assert {r.peer_ip for r in results} <= {"10.244.1.1", "192.168.0.2"}


def test_udp_cluster_ip(kc):
    """A UDP ClusterIP answers from its endpoint and the pod sees the caller's pod IP."""
    [r] = kc.probe("web-2", "10.96.0.11", 53, proto="udp")
    assert (r.status, r.pod, r.peer_ip) == ("ok", "web-1", "10.244.2.2")


def test_no_endpoints_rejects_every_connection_of_a_burst(kc):
    """With the ICMP rate limits lifted, every one of a 200-connection burst to a Service
    without endpoints is refused at once (with the defaults only the first ~9 would be)."""
    results = kc.probe("web-1", "10.96.0.12", 80, count=200, timeout_s=1.0)
    assert [r.status for r in results] == ["refused"] * 200


def test_drop_times_out(kc):
    """A filter DROP makes the connection time out."""
    [r] = kc.probe("ext", "10.96.0.14", 80, timeout_s=0.3)
    assert r.status == "timeout"


def test_hairpin_reaches_itself_masqueraded_to_bridge(kc):
    """A pod calling a Service whose only endpoint is itself gets through (hairpin) and sees
    its node's pod-bridge address as the source."""
    [r] = kc.probe("web-1", "10.96.0.13", 80)
    assert (r.status, r.pod, r.peer_ip) == ("ok", "web-1", "10.244.1.1")


def test_counters_trace_exactly_one_connection(kc):
    """The counter diff around one connection names the nat rules its first packet hit."""
    before = kc.counters("node-a")
    [r] = kc.probe("web-1", "10.96.0.13", 80)
    hit = {(c.table, c.chain) for c in counter_diff(before, kc.counters("node-a"))
           if c.table == "nat"}
    assert r.status == "ok"
    assert {("nat", "KUBE-SVC-SELF"), ("nat", "KUBE-SEP-SELF1"),
            ("nat", "KUBE-MARK-MASQ")} <= hit
    assert ("nat", "KUBE-SVC-WEB") not in hit


def test_conntrack_records_the_dnat(kc):
    """conntrack -L on the node shows the ClusterIP flow with the endpoint as reply source."""
    kc.flush_conntrack("node-b")
    [r] = kc.probe("web-2", "10.96.0.11", 53, proto="udp")
    entries = [e for e in kc.conntrack("node-b") if e["original"].get("dst") == "10.96.0.11"]
    assert r.status == "ok"
    assert [(e["proto"], e["reply"]["src"], e["reply"]["sport"]) for e in entries] == [
        ("udp", "10.244.1.2", 53)]


def test_bad_restore_is_refused_and_changes_nothing(kc):
    """A payload with a dangling jump fails naming the line; the old rules stay in force."""
    def rules(node: str) -> list[str]:
        # iptables-save's "# Generated by ... on <time>" lines differ between two reads.
        return [line for line in kc.save(node).splitlines() if not line.startswith("#")]

    before = rules("node-a")
    bad = "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-NOPE\nCOMMIT\n"
    with pytest.raises(OracleError, match="line"):
        kc.restore("node-a", bad)
    assert rules("node-a") == before


def test_legacy_backend_gives_the_same_outcome():
    """The same rules loaded with iptables-legacy give the same ClusterIP/REJECT outcomes."""
    with KernelCluster(SPEC, backend="legacy") as kc:
        for node in ("node-a", "node-b"):
            kc.restore(node, RULES)
        ok = kc.probe("web-2", "10.96.0.10", 80, count=10)
        refused = kc.probe("web-2", "10.96.0.12", 80)
        saved = kc.save("node-a")
    assert {r.status for r in ok} == {"ok"}
    assert refused[0].status == "refused"
    assert "-A KUBE-SVC-WEB" in saved


def test_unknown_backend_is_an_error():
    """Only nft and legacy are accepted."""
    with pytest.raises(OracleError, match="backend"):
        KernelCluster(ClusterSpec(nodes=(NodeSpec("n", "192.168.0.2", "10.244.0.0/24"),)),
                      backend="xtables")


def test_recent_lists_are_read_and_cleared():
    """``recent`` shows the addresses a --set rule recorded (per client address), and
    clear_recent empties the list."""
    rules = ("*filter\n:INPUT ACCEPT [0:0]\n"
             "-A INPUT -p tcp --dport 9 -m recent --set --name probe --rsource\nCOMMIT\n")
    with KernelCluster(SPEC) as kc:
        kc.restore("node-a", rules)
        for ip in ("203.0.113.7", "203.0.113.8"):
            [r] = kc.probe("ext", "192.168.0.2", 9, src_ip=ip)
            assert r.status == "refused"
        seen = sorted(e["src"] for e in kc.recent("node-a", "probe"))
        kc.clear_recent("node-a")
        after = kc.recent("node-a", "probe")
    assert seen == ["203.0.113.7", "203.0.113.8"]
    assert after == []
