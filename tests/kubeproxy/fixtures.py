"""Builders for the kube-proxy unit-test fixture (``NewFakeProxier`` conventions).

Pod IPs 10.0.0.0/8, ClusterIPs 172.30.0.0/16, node ``test-node`` at 192.168.0.2, externalIPs
192.168.99.0/24, LB IPs 1.2.3.4 / 5.6.7.8, LB source range 203.0.113.0/25; mark ``0x4000``,
no ``--random-fully`` (the fake iptables lacks it), nfacct counters present.
"""

from __future__ import annotations

from sim.model import (
    ClusterState,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    KubeProxyConfig,
    LoadBalancerIngress,
    Node,
    NodeAddress,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    SessionAffinity,
    TrafficPolicy,
)

TEST_NODE = "test-node"
TEST_NODE_IP = "192.168.0.2"

FAKE_PROXY_CONFIG = KubeProxyConfig(
    cluster_cidr="10.0.0.0/8",
    mark_format="%#x",
    masquerade_random_fully=False,
)


def svc(ns: str, name: str, cluster_ip: str, *ports: ServicePort, **kw) -> Service:
    """A Service with ``ports`` (TCP unless given)."""
    return Service(namespace=ns, name=name, cluster_ip=cluster_ip, cluster_ips=(cluster_ip,),
                   ports=tuple(ports), **kw)


def port(number: int, name: str = "p80", protocol: Protocol = Protocol.TCP, node_port: int = 0) -> ServicePort:
    return ServicePort(port=number, name=name, protocol=protocol, node_port=node_port,
                       target_port=number)


def eps(ns: str, name: str, endpoints: list[Endpoint], port_number: int = 80, port_name: str = "p80",
        protocol: Protocol = Protocol.TCP, suffix: str = "1") -> EndpointSlice:
    """An EndpointSlice for service ``name`` (upstream ``makeTestEndpointSlice``)."""
    return EndpointSlice(namespace=ns, name=f"{name}-{suffix}", service_name=name,
                         endpoints=tuple(endpoints),
                         ports=(EndpointPort(port=port_number, name=port_name, protocol=protocol),))


def ep(ip: str, node: str = "", ready: bool | None = None, serving: bool | None = None,
       terminating: bool | None = None) -> Endpoint:
    """An endpoint; conditions left unset (None) behave as upstream's nil pointers."""
    return Endpoint(addresses=(ip,), node_name=node, ready=ready, serving=serving, terminating=terminating)


def state(services: list[Service], slices: list[EndpointSlice], config: KubeProxyConfig = FAKE_PROXY_CONFIG) -> ClusterState:
    node = Node(name=TEST_NODE, addresses=(NodeAddress("InternalIP", TEST_NODE_IP),))
    return ClusterState(kube_proxy=config, nodes=(node,), services=tuple(services),
                        endpoint_slices=tuple(slices))


def overall_rules_state() -> ClusterState:
    """The cluster of upstream ``TestOverallIPTablesRules``."""
    services = [
        svc("ns1", "svc1", "172.30.0.41", port(80)),
        svc("ns2", "svc2", "172.30.0.42", port(80, node_port=3001), type=ServiceType.LOAD_BALANCER,
            external_traffic_policy=TrafficPolicy.LOCAL, external_ips=("192.168.99.22",),
            load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),), health_check_node_port=30000),
        svc("ns3", "svc3", "172.30.0.43", port(80, node_port=3003), type=ServiceType.NODE_PORT),
        svc("ns4", "svc4", "172.30.0.44", port(80), type=ServiceType.NODE_PORT,
            external_ips=("192.168.99.33",)),
        svc("ns5", "svc5", "172.30.0.45", port(80, node_port=3002), type=ServiceType.LOAD_BALANCER,
            load_balancer_ingress=(LoadBalancerIngress(ip="5.6.7.8"),), health_check_node_port=30000,
            load_balancer_source_ranges=(" 203.0.113.0/25",),
            session_affinity=SessionAffinity.CLIENT_IP, affinity_timeout_s=10800),
        svc("ns6", "svc6", "172.30.0.46", port(80)),
    ]
    slices = [
        eps("ns1", "svc1", [ep("10.180.0.1")]),
        eps("ns2", "svc2", [ep("10.180.0.2")]),
        eps("ns3", "svc3", [ep("10.180.0.3")]),
        eps("ns4", "svc4", [ep("10.180.0.4"), ep("10.180.0.5", node=TEST_NODE)]),
        eps("ns5", "svc5", [ep("10.180.0.3")]),
    ]
    return state(services, slices)
