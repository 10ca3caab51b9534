"""Hypothesis strategies for small, consistent clusters the kernel oracle can build.

Two nodes (192.168.0.2 / 10.244.1.0/24 and 192.168.0.3 / 10.244.2.0/24), one to four pods
spread over them, one to three Services of type ClusterIP or NodePort, TCP or UDP, with
externalTrafficPolicy Cluster or Local, ClientIP affinity on or off, endpoints a chosen subset
of the pods (possibly none), and kube-proxy's clusterCIDR set or not (masquerading of
off-cluster traffic depends on it).
"""

from __future__ import annotations

from hypothesis import strategies as st

from sim.model import (
    ClusterState,
    ContainerPort,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    KubeProxyConfig,
    Node,
    NodeAddress,
    Pod,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    SessionAffinity,
    TrafficPolicy,
)

NODES = (("node-1", "192.168.0.2", "10.244.1.0/24"), ("node-2", "192.168.0.3", "10.244.2.0/24"))


@st.composite
def clusters(draw) -> ClusterState:
    """A small cluster (see the module docstring)."""
    nodes = tuple(Node(n, addresses=(NodeAddress("InternalIP", ip),), pod_cidr=cidr)
                  for n, ip, cidr in NODES)
    placement = draw(st.lists(st.sampled_from([0, 1]), min_size=1, max_size=4))
    pods = []
    for i, k in enumerate(placement):
        name, _, cidr = NODES[k]
        ip = cidr.rsplit(".", 1)[0] + f".{10 + i}"
        pods.append(Pod("default", f"pod-{i}", node_name=name, pod_ip=ip, pod_ips=(ip,),
                        container_ports=(ContainerPort(8080), ContainerPort(5353, Protocol.UDP))))
    services, slices = [], []
    for j in range(draw(st.integers(1, 3))):
        proto = draw(st.sampled_from([Protocol.TCP, Protocol.UDP]))
        target = 8080 if proto is Protocol.TCP else 5353
        node_port = draw(st.booleans())
        affinity = draw(st.booleans())
        name = f"svc-{j}"
        services.append(Service(
            "default", name,
            type=ServiceType.NODE_PORT if node_port else ServiceType.CLUSTER_IP,
            ports=(ServicePort(80, proto, "p", target, 30100 + j if node_port else 0),),
            cluster_ip=f"10.96.0.{10 + j}", cluster_ips=(f"10.96.0.{10 + j}",),
            session_affinity=SessionAffinity.CLIENT_IP if affinity else SessionAffinity.NONE,
            affinity_timeout_s=10800 if affinity else 0,
            external_traffic_policy=draw(st.sampled_from(list(TrafficPolicy)))
            if node_port else TrafficPolicy.CLUSTER,
            creation_index=j,
        ))
        chosen = draw(st.lists(st.integers(0, len(pods) - 1), unique=True, max_size=len(pods)))
        eps = tuple(Endpoint((pods[i].pod_ip,), node_name=pods[i].node_name)
                    for i in sorted(chosen))
        slices.append(EndpointSlice("default", f"{name}-x", name, endpoints=eps,
                                    ports=(EndpointPort(target, proto, "p"),)))
    cidr = draw(st.sampled_from(["", "10.244.0.0/16"]))
    proxy = KubeProxyConfig(cluster_cidr=cidr)
    return ClusterState(kube_proxy=proxy, nodes=nodes, pods=tuple(pods),
                        services=tuple(services), endpoint_slices=tuple(slices))
