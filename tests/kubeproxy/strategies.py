"""Hypothesis strategies: small clusters with services of every type and policy."""

from __future__ import annotations

from hypothesis import strategies as st

from sim.model import (
    ClusterState,
    ConntrackConfig,
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

NODE = "node-a"
NODE_IP = "192.168.0.2"
NODES = (NODE, "node-b", "node-c")

# (ready, serving, terminating): the condition combinations EndpointSlices carry.
CONDITIONS = st.sampled_from([
    (True, True, False),
    (None, None, None),
    (False, False, False),
    (False, True, True),
    (False, False, True),
])


@st.composite
def service_specs(draw, index: int):
    """One Service plus its EndpointSlice; addresses derived from ``index`` so they never clash."""
    kind = draw(st.sampled_from([ServiceType.CLUSTER_IP, ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER]))
    etp = draw(st.sampled_from([TrafficPolicy.CLUSTER, TrafficPolicy.LOCAL]))
    itp = draw(st.sampled_from([TrafficPolicy.CLUSTER, TrafficPolicy.LOCAL]))
    affinity = draw(st.booleans())
    protocol = draw(st.sampled_from([Protocol.TCP, Protocol.UDP, Protocol.SCTP]))
    n_ports = draw(st.integers(1, 2))
    external_ips = tuple(f"192.168.99.{index * 2 + i}" for i in range(draw(st.integers(0, 1))))
    lb = ()
    ranges: tuple[str, ...] = ()
    hcnp = 0
    if kind == ServiceType.LOAD_BALANCER:
        lb = (LoadBalancerIngress(ip=f"5.6.{index}.1"),)
        ranges = draw(st.sampled_from([(), ("203.0.113.0/25",), ("192.168.0.0/24", "203.0.113.0/25")]))
        hcnp = 32000 + index if etp == TrafficPolicy.LOCAL else 0
    ports = []
    ep_ports = []
    for p in range(n_ports):
        name = f"p{p}" if n_ports > 1 or draw(st.booleans()) else ""
        node_port = 30000 + index * 4 + p if kind != ServiceType.CLUSTER_IP else 0
        ports.append(ServicePort(port=80 + p, name=name, protocol=protocol, node_port=node_port,
                                 target_port=8080 + p))
        ep_ports.append(EndpointPort(port=8080 + p, name=name, protocol=protocol))
    svc = Service(
        namespace=draw(st.sampled_from(["default", "ns1", "ns-2"])),
        name=f"svc{index}", type=kind, ports=tuple(ports),
        cluster_ip=f"172.30.{index}.1", cluster_ips=(f"172.30.{index}.1",),
        external_ips=external_ips, load_balancer_ingress=lb, load_balancer_source_ranges=ranges,
        external_traffic_policy=etp, internal_traffic_policy=itp, health_check_node_port=hcnp,
        session_affinity=SessionAffinity.CLIENT_IP if affinity else SessionAffinity.NONE,
        affinity_timeout_s=draw(st.sampled_from([10800, 60])) if affinity else 0,
    )
    n_eps = draw(st.integers(0, 6))
    endpoints = []
    for e in range(n_eps):
        ready, serving, terminating = draw(CONDITIONS)
        endpoints.append(Endpoint(addresses=(f"10.{index}.{e}.{draw(st.sampled_from([1, 11]))}",),
                                  node_name=draw(st.sampled_from(NODES)),
                                  ready=ready, serving=serving, terminating=terminating))
    sl = EndpointSlice(namespace=svc.namespace, name=f"svc{index}-x", service_name=svc.name,
                       endpoints=tuple(endpoints), ports=tuple(ep_ports))
    return svc, sl


@st.composite
def clusters(draw, max_services: int = 6):
    """A ClusterState seen from node ``node-a``, with a random kube-proxy configuration."""
    n = draw(st.integers(0, max_services))
    specs = [draw(service_specs(i)) for i in range(n)]
    config = KubeProxyConfig(
        cluster_cidr=draw(st.sampled_from(["10.0.0.0/8", ""])),
        masquerade_all=draw(st.booleans()),
        localhost_node_ports=draw(st.booleans()),
        node_port_addresses=draw(st.sampled_from([(), ("192.168.0.0/24",), ("192.168.0.0/24", "127.0.0.1/32")])),
        masquerade_bit=draw(st.sampled_from([14, 0, 31])),
        mark_format=draw(st.sampled_from(["%#08x", "%#x"])),
        masquerade_random_fully=draw(st.booleans()),
        conntrack=ConntrackConfig(tcp_be_liberal=draw(st.booleans())),
    )
    nodes = tuple(Node(name=name, addresses=(NodeAddress("InternalIP", f"192.168.0.{i + 2}"),))
                  for i, name in enumerate(NODES))
    return ClusterState(kube_proxy=config, nodes=nodes, services=tuple(s for s, _ in specs),
                        endpoint_slices=tuple(sl for _, sl in specs))
