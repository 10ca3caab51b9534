"""One behaviour of the iptables compiler per test; expected lines are upstream's spelling
(``pkg/proxy/iptables/proxier.go``; names and lines quoted from ``proxier_test.go`` where the
test says so)."""

from __future__ import annotations

import gc
import textwrap
from dataclasses import replace

import pytest

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.model import (
    ConntrackConfig,
    KubeProxyConfig,
    LoadBalancerIngress,
    Protocol,
    ServiceType,
    TrafficPolicy,
)
from sim.model.errors import SimError
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy.test_upstream_fixture import assert_dump_equal

NODE = fx.TEST_NODE


def nat(payload) -> list[str]:
    return list(payload.table("nat").lines)


def filt(payload) -> list[str]:
    return list(payload.table("filter").lines)


def one_service(*, config: KubeProxyConfig = fx.FAKE_PROXY_CONFIG, endpoints=None, **svc_kw):
    """ns1/svc1:p80 at 172.30.0.41 with the given endpoints (default one remote ready one)."""
    ports = svc_kw.pop("ports", (fx.port(80, node_port=svc_kw.pop("node_port", 0)),))
    service = fx.svc("ns1", "svc1", "172.30.0.41", *ports, **svc_kw)
    eps = endpoints if endpoints is not None else [fx.ep("10.180.0.1")]
    return fx.state([service], [fx.eps("ns1", "svc1", eps)], config)


def test_sync_proxy_rules_repeated_first_sync_matches_upstream():
    """TestSyncProxyRulesRepeated's first (full) sync: two ClusterIP services, no nfacct."""
    st = fx.state(
        [fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80)),
         fx.svc("ns2", "svc2", "172.30.0.42", fx.port(8080, name="p8080"))],
        [fx.eps("ns1", "svc1", [fx.ep("10.0.1.1")]),
         fx.eps("ns2", "svc2", [fx.ep("10.0.2.1")], port_number=8080, port_name="p8080")])
    assert_dump_equal(textwrap.dedent("""
        *filter
        :KUBE-NODEPORTS - [0:0]
        :KUBE-SERVICES - [0:0]
        :KUBE-EXTERNAL-SERVICES - [0:0]
        :KUBE-FIREWALL - [0:0]
        :KUBE-FORWARD - [0:0]
        :KUBE-PROXY-FIREWALL - [0:0]
        -A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
        -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
        -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
        -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        COMMIT
        *nat
        :KUBE-NODEPORTS - [0:0]
        :KUBE-SERVICES - [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]
        :KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
        :KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
        :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
        -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
        -A KUBE-SERVICES -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 -j KUBE-SVC-2VJB64SDSIJUP5T6
        -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
        -A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
        -A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
        -A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ
        -A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080
        -A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
        -A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV
        -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
        -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
        COMMIT
        """), compile_rules(st, NODE).render())


def _large_cluster(extra: list = ()):
    cfg = replace(fx.FAKE_PROXY_CONFIG, masquerade_all=True)
    half = 1000 // 2 - 1
    services = [fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80)),
                fx.svc("ns2", "svc2", "172.30.0.42", fx.port(8080, name="p8080")),
                fx.svc("ns3", "svc3", "172.30.0.43", fx.port(8081, name="p8081"))]
    slices = [fx.eps("ns1", "svc1", [fx.ep(f"10.0.{i % 256}.{i // 256}") for i in range(half)]),
              fx.eps("ns2", "svc2", [fx.ep(f"10.1.{i % 256}.{i // 256}") for i in range(half)],
                     port_number=8080, port_name="p8080")]
    for s, sl in extra:
        services.append(s)
        slices.append(sl)
    return fx.state(services, slices, cfg)


def test_comments_kept_up_to_the_large_cluster_threshold():
    """998 endpoints: SEP rules keep their comments (TestSyncProxyRulesLargeClusterMode)."""
    lines = nat(compile_rules(_large_cluster(), NODE))
    assert ("-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT "
            "--to-destination 10.0.0.0:80") in lines


def test_large_cluster_mode_drops_sep_and_endpoint_comments():
    """Over 1000 endpoints the SEP rules and the SVC "-> ep" rules lose their comments."""
    svc3_eps = fx.eps("ns3", "svc3", [fx.ep("203.0.113.4"), fx.ep("203.0.113.8"), fx.ep("203.0.113.12")],
                      port_number=8081, port_name="p8081")
    st = _large_cluster()
    st = replace(st, endpoint_slices=st.endpoint_slices + (svc3_eps,))
    lines = nat(compile_rules(st, NODE))
    assert "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80" in lines
    assert "-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081" in lines
    assert not any(" -> " in ln for ln in lines)
    assert any('"ns1/svc1:p80 cluster IP"' in ln for ln in lines)  # other comments stay


def test_stale_service_chains_are_flushed_and_deleted():
    """Chains kube-proxy owns but no longer uses get a chain line and -X, others are left alone
    (TestSyncProxyRulesLargeClusterMode: svc4's KUBE-SVC-EBDQOQU5SJFXRIL3 and its SEP)."""
    existing = frozenset({"KUBE-SVC-EBDQOQU5SJFXRIL3", "KUBE-SEP-SU5STNODRYEWJAUF",
                          "KUBE-SERVICES", "CNI-FOO", "KUBE-SVC-XPGD46QRK7WJZT7O"})
    payload = compile_rules(one_service(), NODE, existing_nat_chains=existing)
    lines = nat(payload)
    assert [ln for ln in lines if ln.startswith("-X ")] == [
        "-X KUBE-SEP-SU5STNODRYEWJAUF", "-X KUBE-SVC-EBDQOQU5SJFXRIL3"]
    chains = [c.name for c in payload.table("nat").chains]
    assert "KUBE-SVC-EBDQOQU5SJFXRIL3" in chains and "CNI-FOO" not in chains


def test_default_config_uses_real_mark_format_and_random_fully():
    """Without the unit-test overrides kube-proxy writes %#08x marks and --random-fully."""
    lines = nat(compile_rules(one_service(config=KubeProxyConfig(cluster_cidr="10.0.0.0/8")), NODE))
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000" in lines
    assert ('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
            "-j MASQUERADE --random-fully") in lines


def test_masquerade_bit_sets_the_mark():
    """masqueradeBit 5 gives mark 0x20 everywhere."""
    payload = compile_rules(one_service(config=replace(fx.FAKE_PROXY_CONFIG, masquerade_bit=5)), NODE)
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x20" in nat(payload)
    assert any("--mark 0x20/0x20 -j ACCEPT" in ln for ln in filt(payload))


def test_masquerade_all_marks_every_cluster_ip_packet():
    """masqueradeAll writes the cluster-IP masquerade rule without the ! -s condition."""
    lines = nat(compile_rules(one_service(config=replace(fx.FAKE_PROXY_CONFIG, masquerade_all=True)), NODE))
    assert ('-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp '
            "-d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ") in lines


def test_no_cluster_cidr_means_no_masquerade_rule_and_no_short_circuit():
    """Without a local detector there is no cluster-IP masquerade rule and the eTP-Local EXT
    chain has no pod short-circuit."""
    cfg = replace(fx.FAKE_PROXY_CONFIG, cluster_cidr="")
    st = one_service(config=cfg, type=ServiceType.NODE_PORT, node_port=30080,
                     external_traffic_policy=TrafficPolicy.LOCAL, endpoints=[fx.ep("10.180.0.1", node=NODE)])
    lines = nat(compile_rules(st, NODE))
    assert not any("KUBE-MARK-MASQ" in ln and "cluster IP" in ln for ln in lines)
    assert not any("pod traffic for" in ln for ln in lines)
    assert "-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O" in lines


def test_node_cidr_detector_uses_the_node_pod_cidr():
    """detectLocalMode NodeCIDR takes the node's podCIDR for ! -s."""
    st = one_service(config=replace(fx.FAKE_PROXY_CONFIG, detect_local_mode="NodeCIDR"))
    st = replace(st, nodes=(replace(st.nodes[0], pod_cidr="10.244.1.0/24"),))
    assert any(ln.endswith("! -s 10.244.1.0/24 -j KUBE-MARK-MASQ") for ln in nat(compile_rules(st, NODE)))


def test_internal_policy_local_without_local_endpoints_drops():
    """iTP Local with only remote endpoints: filter DROP "has no local endpoints", no nat
    cluster-IP rule, no KUBE-SVL chain."""
    payload = compile_rules(one_service(internal_traffic_policy=TrafficPolicy.LOCAL), NODE)
    assert ('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp '
            "-d 172.30.0.41 --dport 80 -j DROP") in filt(payload)
    assert not any("172.30.0.41" in ln for ln in nat(payload))


def test_internal_policy_local_uses_local_endpoints_only():
    """iTP Local: the cluster IP jumps to KUBE-SVL, which holds only the local endpoint."""
    st = one_service(internal_traffic_policy=TrafficPolicy.LOCAL,
                     endpoints=[fx.ep("10.180.0.1"), fx.ep("10.180.0.2", node=NODE)])
    lines = nat(compile_rules(st, NODE))
    assert any(ln.startswith("-A KUBE-SERVICES") and ln.endswith("-j KUBE-SVL-XPGD46QRK7WJZT7O") for ln in lines)
    svl = [ln for ln in lines if ln.startswith("-A KUBE-SVL-") and "KUBE-SEP" in ln]
    assert len(svl) == 1 and "10.180.0.2:80" in svl[0]


def test_external_policy_local_with_local_endpoint():
    """eTP Local LB with a local endpoint: EXT short-circuits pods and LOCAL, then jumps to SVL;
    the health-check node port is accepted in filter KUBE-NODEPORTS."""
    st = one_service(type=ServiceType.LOAD_BALANCER, node_port=3001, health_check_node_port=30000,
                     external_traffic_policy=TrafficPolicy.LOCAL,
                     load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),),
                     endpoints=[fx.ep("10.180.0.1"), fx.ep("10.180.0.2", node=NODE)])
    payload = compile_rules(st, NODE)
    ext = [ln for ln in nat(payload) if ln.startswith("-A KUBE-EXT-")]
    assert ext[-1] == "-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O"
    assert "-s 10.0.0.0/8 -j KUBE-SVC-XPGD46QRK7WJZT7O" in ext[0]
    assert ('-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp '
            "--dport 30000 -j ACCEPT") in filt(payload)
    assert not any("KUBE-EXTERNAL-SERVICES" in ln for ln in filt(payload))


def test_health_check_port_ignored_for_cluster_policy():
    """A Cluster-policy LoadBalancer with healthCheckNodePort set gets no ACCEPT rule."""
    st = one_service(type=ServiceType.LOAD_BALANCER, node_port=3001, health_check_node_port=30000,
                     load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),))
    assert not any("health check" in ln for ln in filt(compile_rules(st, NODE)))


def test_source_range_containing_node_ip_allows_lb_ip_as_source():
    """When a loadBalancerSourceRange contains the node IP, the LB IPs are allowed as sources."""
    st = one_service(type=ServiceType.LOAD_BALANCER, node_port=3001,
                     load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),),
                     load_balancer_source_ranges=("192.168.0.0/24",))
    fw = [ln for ln in nat(compile_rules(st, NODE)) if ln.startswith("-A KUBE-FW-")]
    assert fw == [
        '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/24 -j KUBE-EXT-XPGD46QRK7WJZT7O',
        '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j KUBE-EXT-XPGD46QRK7WJZT7O',
        '-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"',
    ]


def test_proxy_mode_lb_ingress_is_ignored():
    """An ingress with ipMode Proxy gets no rules (TestLoadBalancerIngressRouteTypeProxy)."""
    st = one_service(type=ServiceType.LOAD_BALANCER, node_port=3001,
                     load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4", ip_mode="Proxy"),))
    assert not any("1.2.3.4" in ln for ln in nat(compile_rules(st, NODE)))


def test_no_endpoints_rejects_every_entry_point():
    """No endpoints: REJECT for the cluster IP, externalIP, LB IP and NodePort; no nat rules
    (TestNoEndpointsReject)."""
    st = one_service(type=ServiceType.LOAD_BALANCER, node_port=3001, external_ips=("192.168.99.11",),
                     load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),), endpoints=[])
    payload = compile_rules(st, NODE)
    rejects = [ln for ln in filt(payload) if ln.endswith("-j REJECT")]
    assert len(rejects) == 4
    assert all('"ns1/svc1:p80 has no endpoints"' in ln for ln in rejects)
    assert not any("svc1" in ln for ln in nat(payload))


def test_terminating_endpoints_are_a_fallback_only():
    """Serving+terminating endpoints are used only when no endpoint is ready."""
    both = one_service(endpoints=[fx.ep("10.180.0.1"),
                                  fx.ep("10.180.0.2", ready=False, serving=True, terminating=True)])
    assert not any("10.180.0.2" in ln for ln in nat(compile_rules(both, NODE)))
    only_term = one_service(endpoints=[fx.ep("10.180.0.2", ready=False, serving=True, terminating=True),
                                       fx.ep("10.180.0.3", ready=False, serving=False, terminating=True)])
    lines = nat(compile_rules(only_term, NODE))
    assert any("DNAT --to-destination 10.180.0.2:80" in ln for ln in lines)
    assert not any("10.180.0.3" in ln for ln in lines)


def test_endpoints_are_ordered_as_byte_strings():
    """10.1.1.11:11 sorts before 10.1.1.1:11, as upstream's string sort does."""
    st = fx.state([fx.svc("ns1", "svc1", "172.30.0.41", fx.port(11, name=""))],
                  [fx.eps("ns1", "svc1", [fx.ep("10.1.1.1"), fx.ep("10.1.1.11")], port_number=11, port_name="")])
    dispatch = [ln for ln in nat(compile_rules(st, NODE)) if "-> " in ln]
    assert '"ns1/svc1 -> 10.1.1.11:11"' in dispatch[0]
    assert '"ns1/svc1 -> 10.1.1.1:11"' in dispatch[1]


def test_udp_and_sctp_use_their_own_match_module():
    """The protocol appears as -m udp -p udp / -m sctp -p sctp and is hashed in lower case."""
    for proto in (Protocol.UDP, Protocol.SCTP):
        st = fx.state([fx.svc("ns1", "svc1", "172.30.0.41", fx.port(53, name="dns", protocol=proto))],
                      [fx.eps("ns1", "svc1", [fx.ep("10.0.0.5")], port_number=53, port_name="dns", protocol=proto)])
        lines = nat(compile_rules(st, NODE))
        p = proto.lower
        assert f'-A KUBE-SERVICES -m comment --comment "ns1/svc1:dns cluster IP" -m {p} -p {p} -d 172.30.0.41 --dport 53' in lines[4]


def test_localhost_nodeports_disabled():
    """localhostNodePorts false: no KUBE-FIREWALL chain and the nodeports jump excludes 127/8."""
    payload = compile_rules(one_service(config=replace(fx.FAKE_PROXY_CONFIG, localhost_node_ports=False)), NODE)
    assert "KUBE-FIREWALL" not in [c.name for c in payload.table("filter").chains]
    assert nat(payload)[-1].endswith("-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS")


def test_nodeport_addresses_give_one_rule_per_node_ip():
    """nodePortAddresses: one final KUBE-SERVICES rule per matching node address; 127.0.0.1 is
    kept when listed and localhost NodePorts are on; 'primary' is the node IP."""
    cfg = replace(fx.FAKE_PROXY_CONFIG, node_port_addresses=("192.168.0.0/24", "127.0.0.1/32"))
    lines = nat(compile_rules(one_service(config=cfg), NODE))
    tail = [ln for ln in lines if "KUBE-NODEPORTS" in ln and ln.startswith("-A KUBE-SERVICES")]
    assert [ln.split(" -d ")[1] for ln in tail] == ["127.0.0.1 -j KUBE-NODEPORTS", "192.168.0.2 -j KUBE-NODEPORTS"]
    only_lan = replace(fx.FAKE_PROXY_CONFIG, node_port_addresses=("primary",))
    payload = compile_rules(one_service(config=only_lan), NODE)
    assert nat(payload)[-1].endswith("-d 192.168.0.2 -j KUBE-NODEPORTS")
    assert "KUBE-FIREWALL" not in [c.name for c in payload.table("filter").chains]


def test_tcp_be_liberal_omits_invalid_drop():
    """With nf_conntrack_tcp_be_liberal set kube-proxy writes no INVALID DROP rule."""
    cfg = replace(fx.FAKE_PROXY_CONFIG, conntrack=ConntrackConfig(tcp_be_liberal=True))
    assert not any("INVALID" in ln for ln in filt(compile_rules(one_service(config=cfg), NODE)))


def test_headless_and_external_name_services_produce_nothing():
    """Headless and ExternalName services are not programmed."""
    headless = fx.svc("ns1", "h", "None", fx.port(80))
    extname = replace(fx.svc("ns1", "e", "172.30.0.9", fx.port(80)), type=ServiceType.EXTERNAL_NAME)
    st = fx.state([headless, extname], [fx.eps("ns1", "h", [fx.ep("10.0.0.1")])])
    payload = compile_rules(st, NODE)
    assert len(nat(payload)) == 5 and len(filt(payload)) == 4


def test_bootstrap_jump_order_on_a_clean_host():
    """Prepending each jump leaves INPUT as KUBE-FIREWALL, KUBE-PROXY-FIREWALL, KUBE-NODEPORTS,
    KUBE-EXTERNAL-SERVICES and nat PREROUTING -> KUBE-SERVICES."""
    payload = bootstrap_payload()
    inputs = [ln.rsplit(" ", 1)[1] for ln in payload.table("filter").lines if ln.startswith("-A INPUT")]
    assert inputs == ["KUBE-FIREWALL", "KUBE-PROXY-FIREWALL", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES"]
    assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in payload.table("nat").lines


def test_ipv6_proxier_programs_only_ipv6_objects():
    """The IPv6 proxier: bracketed DNAT destinations, ``! -d ::1/128`` on the nodeports jump,
    no KUBE-FIREWALL, and IPv4-only services ignored."""
    v6 = replace(fx.svc("ns1", "svc6", "fd00:172:30::41", fx.port(80)), ip_families=("IPv6",))
    v4 = fx.svc("ns1", "svc4", "172.30.0.41", fx.port(80))
    sl = replace(fx.eps("ns1", "svc6", [fx.ep("fd00:10:180::1")]), address_type="IPv6")
    cfg = replace(fx.FAKE_PROXY_CONFIG, cluster_cidr="10.0.0.0/8,fd00:10::/64")
    payload = compile_rules(fx.state([v6, v4], [sl], cfg), NODE, ip_family="IPv6")
    lines = nat(payload)
    assert any(ln.endswith("-j DNAT --to-destination [fd00:10:180::1]:80") for ln in lines)
    assert any(ln.endswith("! -s fd00:10::/64 -j KUBE-MARK-MASQ") for ln in lines)
    assert lines[-1].endswith("-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS")
    assert not any("172.30.0.41" in ln for ln in lines + filt(payload))
    assert "KUBE-FIREWALL" not in [c.name for c in payload.table("filter").chains]


def test_endpoint_ips_are_normalised_like_parse_ip_sloppy():
    """An endpoint written 10.180.00.001 is programmed (and hashed) as 10.180.0.1, and a
    non-IP address is ignored."""
    st = one_service(endpoints=[fx.ep("10.180.00.001"), fx.ep("not-an-ip")])
    lines = nat(compile_rules(st, NODE))
    assert ("-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT "
            "--to-destination 10.180.0.1:80") in lines
    assert sum("DNAT" in ln for ln in lines) == 1


def test_compile_restores_the_garbage_collector_state():
    """compile_rules pauses the cyclic GC only for its own duration, in either starting state."""
    st = one_service()
    assert gc.isenabled()
    compile_rules(st, NODE)
    assert gc.isenabled()
    gc.disable()
    try:
        compile_rules(st, NODE)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_unsupported_local_detector_and_bad_cidr_are_user_errors():
    """A detectLocalMode the simulator does not model, or an unparseable clusterCIDR, is a
    SimError naming the field, not a traceback."""
    with pytest.raises(SimError, match="detectLocalMode"):
        compile_rules(one_service(config=replace(fx.FAKE_PROXY_CONFIG, detect_local_mode="BridgeInterface")), NODE)
    with pytest.raises(SimError, match="clusterCIDR"):
        compile_rules(one_service(config=replace(fx.FAKE_PROXY_CONFIG, cluster_cidr="10.0.0.0/33")), NODE)
