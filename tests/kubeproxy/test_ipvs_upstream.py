"""IPVS compiler against upstream's IPVS proxier tests (``pkg/proxy/ipvs/proxier_test.go``):
the same services and endpoints give the virtual servers, real servers, ipset members and
chain layouts those tests expect. The fake proxier there has no node addresses (no NodePort
virtual servers) and no local-traffic detector; ``addresses=()`` and an empty cluster CIDR
reproduce that."""

from __future__ import annotations

import dataclasses

from sim.kubeproxy.ipvs import compile_ipvs
from sim.model import LoadBalancerIngress, Protocol, ServiceType, SessionAffinity, TrafficPolicy

from tests.kubeproxy.fixtures import FAKE_PROXY_CONFIG, TEST_NODE, ep, eps, port, state, svc

CONFIG = dataclasses.replace(FAKE_PROXY_CONFIG, cluster_cidr="")


def _compile(services, slices, **kw):
    return compile_ipvs(state(services, slices, CONFIG), TEST_NODE, addresses=(), **kw)


def _chain(rules, table: str, chain: str) -> list[tuple[str, str]]:
    """(target, matched set) per rule of ``chain``, as upstream's checkIptables compares."""
    out = []
    for line in rules.payload.table(table).lines:
        words = line.split()
        if words[1] != chain:
            continue
        target = words[words.index("-j") + 1]
        match_set = words[words.index("--match-set") + 1] if "--match-set" in words else ""
        out.append((target, match_set))
    return out


def _vs(rules, address: str, port_: int):
    return next(v for v in rules.ipvs.virtual_servers if v.address == address and v.port == port_)


def test_load_balancer_source_ranges() -> None:
    """TestLoadBalancerSourceRanges: 2 virtual servers; LB, LB-FW and SOURCE-CIDR members;
    KUBE-SERVICES, KUBE-PROXY-FIREWALL and KUBE-SOURCE-RANGES-FIREWALL in upstream's order."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80), type=ServiceType.LOAD_BALANCER,
            load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),),
            load_balancer_source_ranges=("10.0.0.0/8",))
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.0.1")])])
    assert len(r.ipvs.virtual_servers) == 2
    assert [(x.address, x.port) for x in _vs(r, "1.2.3.4", 80).real_servers] == [("10.180.0.1", 80)]
    assert r.ipset("KUBE-LOAD-BALANCER").members == ("1.2.3.4,tcp:80",)
    assert r.ipset("KUBE-LOAD-BALANCER-FW").members == ("1.2.3.4,tcp:80",)
    assert r.ipset("KUBE-LOAD-BALANCER-SOURCE-CIDR").members == ("1.2.3.4,tcp:80,10.0.0.0/8",)
    assert _chain(r, "nat", "KUBE-SERVICES") == [
        ("RETURN", ""), ("KUBE-LOAD-BALANCER", "KUBE-LOAD-BALANCER"),
        ("KUBE-MARK-MASQ", "KUBE-CLUSTER-IP"), ("KUBE-NODE-PORT", ""),
        ("ACCEPT", "KUBE-CLUSTER-IP"), ("ACCEPT", "KUBE-LOAD-BALANCER")]
    assert _chain(r, "filter", "KUBE-PROXY-FIREWALL") == [
        ("KUBE-SOURCE-RANGES-FIREWALL", "KUBE-LOAD-BALANCER-FW")]
    assert _chain(r, "filter", "KUBE-SOURCE-RANGES-FIREWALL") == [
        ("RETURN", "KUBE-LOAD-BALANCER-SOURCE-CIDR"), ("DROP", "")]


def test_accept_ipvs_traffic() -> None:
    """TestAcceptIPVSTraffic: externalIP masquerade and the two ACCEPT forms, then the final
    ACCEPTs for the ClusterIP and LB sets at the end of KUBE-SERVICES."""
    services = [
        svc("ns1", "svc1", "10.20.30.40", port(80, node_port=80), external_ips=("5.6.7.8",)),
        svc("ns1", "svc2", "10.20.30.41", port(80, node_port=80), type=ServiceType.LOAD_BALANCER,
            load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),)),
        svc("ns1", "svc3", "10.20.30.42", port(80, node_port=80), type=ServiceType.NODE_PORT),
    ]
    r = _compile(services, [])
    assert _chain(r, "nat", "KUBE-SERVICES") == [
        ("RETURN", ""), ("KUBE-LOAD-BALANCER", "KUBE-LOAD-BALANCER"),
        ("KUBE-MARK-MASQ", "KUBE-CLUSTER-IP"), ("KUBE-MARK-MASQ", "KUBE-EXTERNAL-IP"),
        ("ACCEPT", "KUBE-EXTERNAL-IP"), ("ACCEPT", "KUBE-EXTERNAL-IP"), ("KUBE-NODE-PORT", ""),
        ("ACCEPT", "KUBE-CLUSTER-IP"), ("ACCEPT", "KUBE-LOAD-BALANCER")]


def test_only_local_load_balancing() -> None:
    """TestOnlyLocalLoadBalancing: externalTrafficPolicy Local keeps only the local endpoint
    as the LB's real server; LB and LB-LOCAL members; KUBE-LOAD-BALANCER returns for local."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80, node_port=3001), type=ServiceType.LOAD_BALANCER,
            load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),),
            external_traffic_policy=TrafficPolicy.LOCAL)
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.0.1", TEST_NODE), ep("10.180.1.1", "other-node")])])
    assert len(r.ipvs.virtual_servers) == 2
    assert [x.address for x in _vs(r, "1.2.3.4", 80).real_servers] == ["10.180.0.1"]
    assert r.ipset("KUBE-LOAD-BALANCER").members == ("1.2.3.4,tcp:80",)
    assert r.ipset("KUBE-LOAD-BALANCER-LOCAL").members == ("1.2.3.4,tcp:80",)
    assert _chain(r, "nat", "KUBE-LOAD-BALANCER") == [
        ("RETURN", "KUBE-LOAD-BALANCER-LOCAL"), ("KUBE-MARK-MASQ", "")]


def test_nodeport_virtual_servers_per_node_address() -> None:
    """TestNodePortIPv4: a NodePort gets one virtual server per node address (loopback
    excluded), KUBE-NODE-PORT-TCP holds the port, SCTP NodePorts go into the hash set per
    node address."""
    services = [svc("ns1", "svc1", "10.20.30.41", port(80, node_port=3001), type=ServiceType.NODE_PORT),
                svc("ns1", "svc2", "10.20.30.42", port(80, node_port=3002, protocol=Protocol.SCTP),
                    type=ServiceType.NODE_PORT)]
    st = state(services, [eps("ns1", "svc1", [ep("10.180.0.1")])], CONFIG)
    r = compile_ipvs(st, TEST_NODE, addresses=("100.101.102.103", "2001:db8::1:1", "127.0.0.1"))
    addrs = sorted((v.address, v.port) for v in r.ipvs.virtual_servers)
    assert addrs == [("10.20.30.41", 80), ("10.20.30.42", 80), ("100.101.102.103", 3001),
                     ("100.101.102.103", 3002)]
    assert r.ipset("KUBE-NODE-PORT-TCP").members == ("3001",)
    assert "100.101.102.103,sctp:3002" in r.ipset("KUBE-NODE-PORT-SCTP-HASH").members
    assert [x.address for x in _vs(r, "100.101.102.103", 3001).real_servers] == ["10.180.0.1"]


def test_etp_local_without_local_endpoint_falls_back_to_cluster_endpoints() -> None:
    """syncEndpoint (PR 97081): externalTrafficPolicy Local with no local endpoint gives the
    LB virtual server every cluster endpoint (iptables mode would drop)."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80), type=ServiceType.LOAD_BALANCER,
            load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),),
            external_traffic_policy=TrafficPolicy.LOCAL)
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.1.1", "other-node"), ep("10.180.2.1", "node-c")])])
    assert [x.address for x in _vs(r, "1.2.3.4", 80).real_servers] == ["10.180.1.1", "10.180.2.1"]


def test_itp_local_service_without_local_endpoint_has_no_real_servers() -> None:
    """internalTrafficPolicy Local on a ClusterIP-only Service uses no cluster endpoints, so
    the fallback finds none: the ClusterIP virtual server is empty."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80), internal_traffic_policy=TrafficPolicy.LOCAL)
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.1.1", "other-node")])])
    assert _vs(r, "10.20.30.41", 80).real_servers == ()


def test_session_affinity_is_persistence() -> None:
    """TestSessionAffinity: ClientIP affinity makes the virtual server persistent with the
    affinity timeout (``-p`` in ipvsadm-save)."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80), session_affinity=SessionAffinity.CLIENT_IP,
            affinity_timeout_s=10800)
    r = _compile([s], [])
    assert _vs(r, "10.20.30.41", 80).persistence_s == 10800


def test_loopback_set_holds_local_endpoints() -> None:
    """KUBE-LOOP-BACK: ``ip,proto:port,ip`` for each local endpoint only."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80))
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.0.1", TEST_NODE), ep("10.180.1.1", "other")])])
    assert r.ipset("KUBE-LOOP-BACK").members == ("10.180.0.1,tcp:80,10.180.0.1",)


def test_draining_real_server_kept_at_weight_zero() -> None:
    """Graceful termination: a real server removed from the endpoints but still holding
    connections stays with weight 0; one that is an endpoint again gets weight 1."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80))
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.0.1")])],
                 draining=frozenset({("tcp", "10.20.30.41", 80, "10.180.0.9", 80),
                                     ("tcp", "10.20.30.41", 80, "10.180.0.1", 80),
                                     ("tcp", "10.99.99.99", 80, "10.180.0.8", 80)}))
    assert [(x.address, x.weight) for x in _vs(r, "10.20.30.41", 80).real_servers] == [
        ("10.180.0.1", 1), ("10.180.0.9", 0)]
    assert all(v.address != "10.99.99.99" for v in r.ipvs.virtual_servers)


def test_bound_addresses_skip_node_addresses() -> None:
    """ClusterIPs are bound to kube-ipvs0; an externalIP that is a node address is not."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80), external_ips=("192.168.0.2", "5.6.7.8"))
    r = compile_ipvs(state([s], [], CONFIG), TEST_NODE, addresses=("192.168.0.2",))
    assert r.bound_addresses == ("5.6.7.8", "10.20.30.41")
    assert r.ipset("KUBE-IPVS-IPS").members == ("10.20.30.41", "5.6.7.8")


def test_source_range_not_covering_node_ip_blocks_node_access() -> None:
    """Issue 119656: an LB whose source ranges exclude the node IP gets a KUBE-IPVS-OUT-FILTER
    drop; one that covers it gets a SOURCE-IP member instead."""
    mk = lambda cidr: svc("ns1", "svc1", "10.20.30.41", port(80), type=ServiceType.LOAD_BALANCER,  # noqa: E731
                          load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),),
                          load_balancer_source_ranges=(cidr,))
    outside = _compile([mk("10.0.0.0/8")], [])
    assert outside.payload.table("filter").lines.count(
        "-A KUBE-IPVS-OUT-FILTER -s 1.2.3.4 -m ipvs --vaddr 1.2.3.4 --vproto tcp --vport 80 -j DROP") == 1
    inside = _compile([mk("192.168.0.0/24")], [])
    assert inside.ipset("KUBE-LOAD-BALANCER-SOURCE-IP").members == ("1.2.3.4,tcp:80,1.2.3.4",)
    assert not any("KUBE-IPVS-OUT-FILTER -s" in line for line in inside.payload.table("filter").lines)


def test_scheduler_from_config() -> None:
    """``ipvs.scheduler`` names every virtual server's scheduler (default rr); "mh" adds the
    source-hash flag (``-b mh-port``)."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80))
    assert _compile([s], []).ipvs.virtual_servers[0].scheduler == "rr"
    cfg = dataclasses.replace(CONFIG, ipvs=dataclasses.replace(CONFIG.ipvs, scheduler="mh"))
    vs = compile_ipvs(state([s], [], cfg), TEST_NODE, addresses=()).ipvs.virtual_servers[0]
    assert (vs.scheduler, vs.flags) == ("mh", ("mh-port",))
