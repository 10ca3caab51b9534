"""IPVS compiler against upstream's IPVS proxier tests (``pkg/proxy/ipvs/proxier_test.go``):
the same services and endpoints give the virtual servers, real servers, ipset members and
chain layouts those tests expect. The fake proxier there has no node addresses (no NodePort
virtual servers) and no local-traffic detector; ``addresses=()`` and an empty cluster CIDR
reproduce that."""

from __future__ import annotations

import dataclasses

import pytest

from sim.kubeproxy.ipvs import compile_ipvs
from sim.model import LoadBalancerIngress, NodeAddress, Protocol, ServiceType, SessionAffinity, TrafficPolicy

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


def _slice(ns: str, name: str, addrs: list[tuple[str, str]], proto: Protocol, n: int,
           family: str = "IPv4"):
    sl = eps(ns, name, [ep(a, node) for a, node in addrs], protocol=proto, suffix=str(n))
    return dataclasses.replace(sl, address_type=family)


def _table(rules) -> dict[tuple[str, str, int], list[tuple[str, int, int]]]:
    return {(v.protocol, v.address, v.port): [(r.address, r.port, r.weight) for r in v.real_servers]
            for v in rules.ipvs.virtual_servers}


def _nodeport_svc(cluster_ip: str, proto: Protocol, **kw):
    return svc("ns1", "svc1", cluster_ip, port(80, node_port=3001, protocol=proto),
               type=ServiceType.NODE_PORT, **kw)


NODEPORT_CASES = {
    # TestNodePortIPv4 / TestNodePortIPv6: (family, service, slices, node IPs,
    # nodePortAddresses, expected IPVS table, expected set members)
    "v4 node port, 2 endpoints of which one IPv6": (
        "IPv4", _nodeport_svc("10.20.30.41", Protocol.TCP),
        [_slice("ns1", "svc1", [("10.180.0.1", "")], Protocol.TCP, 1),
         _slice("ns1", "svc1", [("1002:ab8::2:10", "")], Protocol.TCP, 2, "IPv6")],
        ("100.101.102.103", "2001:db8::1:1"), (),
        {("tcp", "10.20.30.41", 80): [("10.180.0.1", 80, 1)],
         ("tcp", "100.101.102.103", 3001): [("10.180.0.1", 80, 1)]},
        {}),
    "v4 UDP node port, nodePortAddresses 0.0.0.0/0": (
        "IPv4", _nodeport_svc("10.20.30.41", Protocol.UDP),
        [_slice("ns1", "svc1", [("10.180.0.1", "")], Protocol.UDP, 1)],
        ("100.101.102.103",), ("0.0.0.0/0",),
        {("udp", "10.20.30.41", 80): [("10.180.0.1", 80, 1)],
         ("udp", "100.101.102.103", 3001): [("10.180.0.1", 80, 1)]},
        {"KUBE-NODE-PORT-UDP": ("3001",)}),
    "v4 node port without endpoints": (
        "IPv4", _nodeport_svc("10.20.30.41", Protocol.TCP), [], ("100.101.102.103",), (),
        {("tcp", "10.20.30.41", 80): [], ("tcp", "100.101.102.103", 3001): []}, {}),
    "v4 SCTP node port on three node IPs": (
        "IPv4", _nodeport_svc("10.20.30.41", Protocol.SCTP),
        [_slice("ns1", "svc1", [("10.180.0.1", "")], Protocol.SCTP, 1)],
        ("100.101.102.103", "100.101.102.104", "100.101.102.105", "2001:db8::1:1",
         "2001:db8::1:2", "2001:db8::1:3"), (),
        {("sctp", "10.20.30.41", 80): [("10.180.0.1", 80, 1)],
         ("sctp", "100.101.102.103", 3001): [("10.180.0.1", 80, 1)],
         ("sctp", "100.101.102.104", 3001): [("10.180.0.1", 80, 1)],
         ("sctp", "100.101.102.105", 3001): [("10.180.0.1", 80, 1)]},
        {"KUBE-NODE-PORT-SCTP-HASH": ("100.101.102.103,sctp:3001", "100.101.102.104,sctp:3001",
                                      "100.101.102.105,sctp:3001")}),
    "v4 SCTP node port, externalTrafficPolicy Local": (
        "IPv4", _nodeport_svc("10.20.30.41", Protocol.SCTP, external_traffic_policy=TrafficPolicy.LOCAL),
        [_slice("ns1", "svc1", [("10.180.0.1", TEST_NODE), ("10.180.1.1", "other-node")], Protocol.SCTP, 1)],
        ("100.101.102.103",), (),
        {("sctp", "10.20.30.41", 80): [("10.180.0.1", 80, 1), ("10.180.1.1", 80, 1)],
         ("sctp", "100.101.102.103", 3001): [("10.180.0.1", 80, 1)]},
        {"KUBE-NODE-PORT-SCTP-HASH": ("100.101.102.103,sctp:3001",),
         "KUBE-NODE-PORT-LOCAL-SCTP-HASH": ("100.101.102.103,sctp:3001",)}),
    "v6 node port, 2 endpoints of which one IPv4": (
        "IPv6", _nodeport_svc("2020::1", Protocol.TCP),
        [_slice("ns1", "svc1", [("10.180.0.1", "")], Protocol.TCP, 1),
         _slice("ns1", "svc1", [("1002:ab8::2:10", "")], Protocol.TCP, 2, "IPv6")],
        ("100.101.102.103", "2001:db8::1:1"), (),
        {("tcp", "2001:db8::1:1", 3001): [("1002:ab8::2:10", 80, 1)],
         ("tcp", "2020::1", 80): [("1002:ab8::2:10", 80, 1)]},
        {}),
    "v6 proxier ignores an IPv4 service": (
        "IPv6", _nodeport_svc("10.20.30.41", Protocol.UDP),
        [_slice("ns1", "svc1", [("10.180.0.1", "")], Protocol.UDP, 1, "IPv6")],
        ("100.101.102.103",), ("0.0.0.0/0",), {}, {}),
    "v6 node port without endpoints": (
        "IPv6", _nodeport_svc("2020::1", Protocol.TCP), [], ("100.101.102.103", "2001:db8::1:1"), (),
        {("tcp", "2001:db8::1:1", 3001): [], ("tcp", "2020::1", 80): []}, {}),
    "v6 SCTP node port on two node IPs": (
        "IPv6", _nodeport_svc("2020::1", Protocol.SCTP),
        [_slice("ns1", "svc1", [("2001::1", "")], Protocol.SCTP, 1, "IPv6")],
        ("2001:db8::1:1", "2001:db8::1:2"), (),
        {("sctp", "2001:db8::1:1", 3001): [("2001::1", 80, 1)],
         ("sctp", "2001:db8::1:2", 3001): [("2001::1", 80, 1)],
         ("sctp", "2020::1", 80): [("2001::1", 80, 1)]},
        {"KUBE-6-NODE-PORT-SCTP-HASH": ("2001:db8::1:1,sctp:3001", "2001:db8::1:2,sctp:3001")}),
}


@pytest.mark.parametrize("case", sorted(NODEPORT_CASES))
def test_node_port_cases(case: str) -> None:
    """TestNodePortIPv4 / TestNodePortIPv6: the whole IPVS table and the listed set members."""
    family, service, slices, node_ips, np_addresses, want_ipvs, want_sets = NODEPORT_CASES[case]
    cfg = dataclasses.replace(CONFIG, node_port_addresses=np_addresses)
    r = compile_ipvs(state([service], slices, cfg), TEST_NODE, ip_family=family, addresses=node_ips)
    assert _table(r) == want_ipvs
    for name, members in want_sets.items():
        assert r.ipset(name).members == members


def test_udp_node_port_chain_layout() -> None:
    """TestNodePortIPv4 (UDP case): KUBE-NODE-PORT masquerades the UDP NodePort set (nat) and
    accepts health-check node ports (filter); KUBE-SERVICES as upstream orders it."""
    cfg = dataclasses.replace(CONFIG, node_port_addresses=("0.0.0.0/0",))
    st = state([_nodeport_svc("10.20.30.41", Protocol.UDP)],
               [_slice("ns1", "svc1", [("10.180.0.1", "")], Protocol.UDP, 1)], cfg)
    r = compile_ipvs(st, TEST_NODE, addresses=("100.101.102.103",))
    assert _chain(r, "nat", "KUBE-NODE-PORT") + _chain(r, "filter", "KUBE-NODE-PORT") == [
        ("KUBE-MARK-MASQ", "KUBE-NODE-PORT-UDP"), ("ACCEPT", "KUBE-HEALTH-CHECK-NODE-PORT")]
    assert _chain(r, "nat", "KUBE-SERVICES") == [
        ("RETURN", ""), ("KUBE-MARK-MASQ", "KUBE-CLUSTER-IP"), ("KUBE-NODE-PORT", ""),
        ("ACCEPT", "KUBE-CLUSTER-IP")]


def test_external_ips() -> None:
    """TestExternalIPs: an IPv6 externalIP is skipped by the IPv4 proxier, 127.0.0.1 is kept:
    3 virtual servers, each externalIP with the endpoint as real server."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80), external_ips=("50.60.70.81", "2012::51", "127.0.0.1"))
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.0.1")])])
    assert sorted(_table(r)) == [("tcp", "10.20.30.41", 80), ("tcp", "127.0.0.1", 80),
                                 ("tcp", "50.60.70.81", 80)]
    assert _table(r)[("tcp", "50.60.70.81", 80)] == [("10.180.0.1", 80, 1)]
    assert r.ipset("KUBE-EXTERNAL-IP").members == ("127.0.0.1,tcp:80", "50.60.70.81,tcp:80")


def test_external_ips_no_endpoint() -> None:
    """TestExternalIPsNoEndpoint: 2 virtual servers, the externalIP one without real servers."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80), external_ips=("50.60.70.81",))
    assert _table(_compile([s], []))[("tcp", "50.60.70.81", 80)] == []


def test_only_local_external_ips() -> None:
    """TestOnlyLocalExternalIPs: with externalTrafficPolicy Local the externalIP virtual
    servers hold only the local endpoint, and the IPs go into KUBE-EXTERNAL-IP-LOCAL."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80), type=ServiceType.NODE_PORT,
            external_ips=("50.60.70.81", "2012::51", "127.0.0.1"),
            external_traffic_policy=TrafficPolicy.LOCAL)
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.0.1", TEST_NODE), ep("10.180.1.1", "other-node")])])
    assert len(r.ipvs.virtual_servers) == 3
    assert _table(r)[("tcp", "50.60.70.81", 80)] == [("10.180.0.1", 80, 1)]
    assert r.ipset("KUBE-EXTERNAL-IP-LOCAL").members == ("127.0.0.1,tcp:80", "50.60.70.81,tcp:80")
    assert r.ipset("KUBE-EXTERNAL-IP").members == ()


def test_load_balancer() -> None:
    """TestLoadBalancer: 2 virtual servers (no node address), LB set, and KUBE-LOAD-BALANCER
    masquerading everything."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80, node_port=3001), type=ServiceType.LOAD_BALANCER,
            load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),))
    r = _compile([s], [eps("ns1", "svc1", [ep("10.180.0.1")], protocol=Protocol.UDP)])
    assert len(r.ipvs.virtual_servers) == 2
    assert r.ipset("KUBE-LOAD-BALANCER").members == ("1.2.3.4,tcp:80",)
    assert _chain(r, "nat", "KUBE-LOAD-BALANCER") == [("KUBE-MARK-MASQ", "")]


def test_only_local_node_ports() -> None:
    """TestOnlyLocalNodePorts: nodePortAddresses 100.101.102.0/24 picks the node address in
    it; the NodePort's real server is the local endpoint; both TCP NodePort sets hold it."""
    st = state([svc("ns1", "svc1", "10.20.30.41", port(80, node_port=3001), type=ServiceType.NODE_PORT,
                    external_traffic_policy=TrafficPolicy.LOCAL)],
               [eps("ns1", "svc1", [ep("10.180.0.1", TEST_NODE), ep("10.180.1.1", "other-node")])],
               dataclasses.replace(CONFIG, node_port_addresses=("100.101.102.0/24",)))
    node = dataclasses.replace(st.nodes[0], addresses=(NodeAddress("InternalIP", "100.101.102.103"),))
    r = compile_ipvs(dataclasses.replace(st, nodes=(node,)), TEST_NODE)
    assert _table(r)[("tcp", "100.101.102.103", 3001)] == [("10.180.0.1", 80, 1)]
    assert len(r.ipvs.virtual_servers) == 2
    assert r.ipset("KUBE-NODE-PORT-TCP").members == ("3001",)
    assert r.ipset("KUBE-NODE-PORT-LOCAL-TCP").members == ("3001",)
    assert _chain(r, "nat", "KUBE-NODE-PORT") + _chain(r, "filter", "KUBE-NODE-PORT") == [
        ("RETURN", "KUBE-NODE-PORT-LOCAL-TCP"), ("KUBE-MARK-MASQ", "KUBE-NODE-PORT-TCP"),
        ("ACCEPT", "KUBE-HEALTH-CHECK-NODE-PORT")]


def test_health_check_node_port() -> None:
    """TestHealthCheckNodePort: the health-check node ports of Local-policy LoadBalancers go
    into KUBE-HEALTH-CHECK-NODE-PORT; a Cluster-policy one's does not."""
    def lb(name: str, policy: TrafficPolicy, hc: int):
        return svc("ns1", name, "10.20.30.41", port(80, node_port=3000), type=ServiceType.LOAD_BALANCER,
                   external_traffic_policy=policy, health_check_node_port=hc)
    services = [lb("valid-svc1", TrafficPolicy.LOCAL, 30000), lb("valid-svc2", TrafficPolicy.LOCAL, 30001),
                lb("invalid-svc3", TrafficPolicy.CLUSTER, 30002)]
    r = compile_ipvs(state(services, [], CONFIG), TEST_NODE, addresses=("100.101.102.103",))
    assert r.ipset("KUBE-HEALTH-CHECK-NODE-PORT").members == ("30000", "30001")


def test_no_node_address_skips_the_node_port_and_its_health_check() -> None:
    """syncProxyRules ``continue``s past a NodePort when there is no node address: no NodePort
    set member, no NodePort virtual server, and no health-check node port member either."""
    s = svc("ns1", "svc1", "10.20.30.41", port(80, node_port=3000), type=ServiceType.LOAD_BALANCER,
            external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=30000)
    r = _compile([s], [])
    assert r.ipset("KUBE-NODE-PORT-TCP").members == ()
    assert r.ipset("KUBE-HEALTH-CHECK-NODE-PORT").members == ()
    assert len(r.ipvs.virtual_servers) == 1


@pytest.mark.parametrize("random_fully", [False, True])
def test_masquerade_rule(random_fully: bool) -> None:
    """TestMasqueradeRule: KUBE-POSTROUTING masquerades, with --random-fully when iptables
    has it."""
    cfg = dataclasses.replace(CONFIG, masquerade_random_fully=random_fully)
    r = compile_ipvs(state([], [], cfg), TEST_NODE, addresses=())
    masq = [line for line in r.payload.table("nat").lines
            if line.startswith("-A KUBE-POSTROUTING") and "-j MASQUERADE" in line]
    assert len(masq) == 1 and masq[0].endswith("--random-fully") == random_fully
