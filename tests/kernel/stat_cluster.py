"""The statistics cluster: node-1 runs web-0, node-2 runs web-1 and web-2; ``default/web``
(10.96.0.10:80) spreads over the three, ``default/sticky`` (10.96.0.11:80) has ClientIP
affinity with a one-second timeout. The outside client has twelve addresses and routes via
node-1.
"""

from __future__ import annotations

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
    Service,
    ServicePort,
    SessionAffinity,
)
from tests.kernel.probing import Probe

ALPHA = 0.001  # fixed significance of every chi-square test here
CONNECTIONS = 1500
CLIENT_IPS = tuple(f"198.51.100.{10 + i}" for i in range(12))
AFFINITY_S = 1
PODS = ("web-0", "web-1", "web-2")


def stat_state() -> ClusterState:
    nodes = (Node("node-1", addresses=(NodeAddress("InternalIP", "192.168.0.2"),),
                  pod_cidr="10.244.1.0/24"),
             Node("node-2", addresses=(NodeAddress("InternalIP", "192.168.0.3"),),
                  pod_cidr="10.244.2.0/24"))
    placed = (("web-0", "node-1", "10.244.1.10"), ("web-1", "node-2", "10.244.2.10"),
              ("web-2", "node-2", "10.244.2.11"))
    pods = tuple(Pod("default", n, node_name=node, pod_ip=ip, pod_ips=(ip,),
                     container_ports=(ContainerPort(8080),)) for n, node, ip in placed)
    eps = tuple(Endpoint((ip,), node_name=node) for _, node, ip in placed)
    services, slices = [], []
    for name, vip, affinity in (("web", "10.96.0.10", False), ("sticky", "10.96.0.11", True)):
        services.append(Service(
            "default", name, ports=(ServicePort(80, name="http", target_port=8080),),
            cluster_ip=vip, cluster_ips=(vip,),
            session_affinity=SessionAffinity.CLIENT_IP if affinity else SessionAffinity.NONE,
            affinity_timeout_s=AFFINITY_S if affinity else 0))
        slices.append(EndpointSlice("default", f"{name}-x", name, endpoints=eps,
                                    ports=(EndpointPort(8080, name="http"),)))
    return ClusterState(kube_proxy=KubeProxyConfig(cluster_cidr="10.244.0.0/16"), nodes=nodes,
                        pods=pods, services=tuple(services), endpoint_slices=tuple(slices))


def probe_to(src_ip: str, vip: str) -> Probe:
    """A TCP probe from the outside client's address ``src_ip`` to ``vip:80`` via node-1."""
    return Probe(f"{src_ip} -> {vip}", "ext", src_ip, "external", "node-1", "tcp", vip, 80)
