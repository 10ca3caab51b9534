"""Features of the nftables compiler, one behaviour per test, on the upstream fixture's
conventions (``nft_fixtures``): rule and element text as ``pkg/proxy/nftables/proxier.go``
writes it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sim.kubeproxy.nftables import compile_nft
from sim.model import LoadBalancerIngress, Node, NodeAddress, Protocol, ServiceType, TrafficPolicy
from sim.model.errors import SimError
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy.nft_fixtures import NFT_PROXY_CONFIG, nft_state

P = "ip kube-proxy"


def _tx(services, slices, **cfg) -> tuple[str, ...]:
    state = nft_state(fx.state(services, slices), replace(NFT_PROXY_CONFIG, **cfg))
    return compile_nft(state, fx.TEST_NODE).commands


def _one(**cfg) -> tuple[str, ...]:
    return _tx([fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80, node_port=3001), type=ServiceType.NODE_PORT)],
               [fx.eps("ns1", "svc1", [fx.ep("10.180.0.1")])], **cfg)


SVC1 = "service-ULMVA6XW-ns1/svc1/tcp/p80"


def test_masquerade_all_marks_every_cluster_ip_packet():
    """--masquerade-all: the service chain marks all traffic to the cluster IP."""
    assert f"add rule {P} {SVC1} ip daddr 172.30.0.41 jump mark-for-masquerade" in _one(masquerade_all=True)


def test_no_local_detector_writes_no_masquerade_or_pod_short_circuit():
    """Without a cluster CIDR there is no off-cluster masquerade rule in the service chain."""
    cmds = _one(cluster_cidr="")
    assert not [c for c in cmds if c.startswith(f"add rule {P} {SVC1} ip daddr")]


def test_node_cidr_detector_uses_the_node_pod_cidr():
    """detectLocalMode NodeCIDR: the masquerade rule tests the node's pod CIDR."""
    state = nft_state(fx.state([fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80))],
                               [fx.eps("ns1", "svc1", [fx.ep("10.180.0.1")])]),
                      replace(NFT_PROXY_CONFIG, detect_local_mode="NodeCIDR"))
    node = replace(state.nodes[0], pod_cidr="10.180.0.0/24")
    cmds = compile_nft(replace(state, nodes=(node,)), fx.TEST_NODE).commands
    assert f"add rule {P} {SVC1} ip daddr 172.30.0.41 ip saddr != 10.180.0.0/24 jump mark-for-masquerade" in cmds


def test_match_all_nodeport_addresses_use_fib_and_delete_the_set():
    """nodePortAddresses 0.0.0.0/0: NodePorts match any local address but localhost, and the
    nodeport-ips set is deleted (added then deleted so the delete cannot fail)."""
    cmds = _one(node_port_addresses=("0.0.0.0/0",))
    assert (f"add rule {P} services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . "
            "th dport vmap @service-nodeports") in cmds
    assert (f"add rule {P} nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto . th dport "
            "vmap @no-endpoint-nodeports") in cmds
    assert cmds.index(f"delete set {P} nodeport-ips") > cmds.index(
        next(c for c in cmds if c.startswith(f"add set {P} nodeport-ips")))


def test_default_nodeport_addresses_are_the_primary_ip_without_localhost():
    """nftables mode defaults nodePortAddresses to ``primary``; a loopback range gives no
    element (localhost NodePorts are never supported)."""
    assert f"add element {P} nodeport-ips {{ 192.168.0.2 }}" in _one(node_port_addresses=())
    cmds = _one(node_port_addresses=("127.0.0.0/8",))
    assert not [c for c in cmds if c.startswith(f"add element {P} nodeport-ips")]


def test_source_range_containing_the_node_admits_the_lb_ips():
    """A loadBalancerSourceRanges entry holding the node IP adds the LB IPs to the allowed
    sources (the VIP-loops-back case), joined as knftables Concat joins them."""
    svc = fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80, node_port=3001), type=ServiceType.LOAD_BALANCER,
                 load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"), LoadBalancerIngress(ip="5.6.7.8")),
                 load_balancer_source_ranges=("192.168.0.0/24", " 203.0.113.0/25"))
    cmds = _tx([svc], [fx.eps("ns1", "svc1", [fx.ep("10.180.0.1")])])
    assert (f"add rule {P} firewall-ULMVA6XW-ns1/svc1/tcp/p80 ip saddr != {{ 192.168.0.0/24 , "
            "203.0.113.0/25 , 1.2.3.4 , 5.6.7.8 } drop") in cmds
    assert (f"add element {P} firewall-ips {{ 1.2.3.4 . tcp . 80 : goto "
            "firewall-ULMVA6XW-ns1/svc1/tcp/p80 }") in cmds


def test_internal_local_policy_without_local_endpoints_drops():
    """iTP Local with endpoints only elsewhere: the cluster IP drops (no-endpoint-services
    ``drop`` with the port's name as comment), no service-ips element."""
    svc = fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80), internal_traffic_policy=TrafficPolicy.LOCAL)
    cmds = _tx([svc], [fx.eps("ns1", "svc1", [fx.ep("10.180.0.1", node="other")])])
    assert f'add element {P} no-endpoint-services {{ 172.30.0.41 . tcp . 80 comment "ns1/svc1:p80" : drop }}' in cmds
    assert not [c for c in cmds if c.startswith(f"add element {P} service-ips")]


def test_external_local_policy_goes_to_the_local_chain():
    """eTP Local with a local endpoint: the external chain ends in ``goto local-...`` whose
    numgen holds only the local endpoint."""
    svc = fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80, node_port=3001), type=ServiceType.NODE_PORT,
                 external_traffic_policy=TrafficPolicy.LOCAL)
    cmds = _tx([svc], [fx.eps("ns1", "svc1", [fx.ep("10.180.0.1"), fx.ep("10.180.0.2", node=fx.TEST_NODE)])])
    local = "local-ULMVA6XW-ns1/svc1/tcp/p80"
    assert f"add rule {P} external-ULMVA6XW-ns1/svc1/tcp/p80 goto {local}" in cmds
    numgen = [c for c in cmds if c.startswith(f"add rule {P} {local} numgen")]
    assert len(numgen) == 1 and "mod 1 " in numgen[0] and "10.180.0.2/80" in numgen[0]


def test_terminating_endpoints_are_used_when_none_is_ready():
    """No ready endpoint: serving, terminating ones carry the traffic."""
    cmds = _tx([fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80))],
               [fx.eps("ns1", "svc1", [fx.ep("10.180.0.1", ready=False, serving=True, terminating=True),
                                       fx.ep("10.180.0.2", ready=False, serving=False, terminating=True)])])
    numgen = next(c for c in cmds if " numgen " in c)
    assert "mod 1 " in numgen and "10.180.0.1/80" in numgen


@pytest.mark.parametrize("protocol", [Protocol.UDP, Protocol.SCTP])
def test_udp_and_sctp_keys_and_dnat(protocol):
    """The protocol is part of map keys, chain names and the DNAT's ``meta l4proto``."""
    p = protocol.lower
    cmds = _tx([fx.svc("ns1", "svc1", "172.30.0.41", fx.port(53, name="dns", protocol=protocol))],
               [fx.eps("ns1", "svc1", [fx.ep("10.180.0.1")], port_number=53, port_name="dns", protocol=protocol)])
    assert any(c.startswith(f"add element {P} service-ips {{ 172.30.0.41 . {p} . 53 : goto service-")
               and c.endswith(f"-ns1/svc1/{p}/dns }}") for c in cmds)
    assert any(c.endswith(f"meta l4proto {p} dnat to 10.180.0.1:53") for c in cmds)


def test_unnamed_port_chain_name_ends_with_a_slash():
    """An unnamed port leaves the last part of the name empty (``ns/name/proto/``)."""
    cmds = _tx([fx.svc("ns1", "svc1", "172.30.0.41", fx.port(80, name=""))],
               [fx.eps("ns1", "svc1", [fx.ep("10.180.0.1")], port_name="")])
    assert any(c.startswith(f"add chain {P} service-") and c.endswith("-ns1/svc1/tcp/") for c in cmds)


def test_mark_follows_masquerade_bit_and_format():
    """The masquerade mark is 1 << masqueradeBit, formatted as kube-proxy's ``%#08x``."""
    cmds = _one(masquerade_bit=5, mark_format="%#08x")
    assert f"add rule {P} mark-for-masquerade mark set mark or 0x00000020" in cmds


def test_ipv6_family_uses_the_ip6_table():
    """The IPv6 proxier writes ``ip6 kube-proxy`` with ``ipv6_addr`` keys and ``ip6`` words."""
    state = nft_state(fx.state([], []))
    state = replace(state, nodes=(Node(name=fx.TEST_NODE, addresses=(NodeAddress("InternalIP", "2001:db8::1"),)),),
                    config=replace(state.config, service_cidrs=("fd00:10:96::/112",)))
    cmds = compile_nft(state, fx.TEST_NODE, ip_family="IPv6").commands
    assert cmds[0] == 'add table ip6 kube-proxy { comment "rules for kube-proxy" ; }'
    assert 'add set ip6 kube-proxy cluster-ips { type ipv6_addr ; comment "Active ClusterIPs" ; }' in cmds
    assert ('add rule ip6 kube-proxy cluster-ips-check ip6 daddr { fd00:10:96::/112 } drop comment '
            '"Drop traffic to unallocated ClusterIPs"') in cmds
    assert "add element ip6 kube-proxy nodeport-ips { 2001:db8::1 }" in cmds


def test_unknown_family_is_refused():
    """An ip_family other than IPv4/IPv6 is a SimError naming the value."""
    with pytest.raises(SimError, match="ip_family"):
        compile_nft(nft_state(fx.state([], [])), fx.TEST_NODE, ip_family="IPv5")
