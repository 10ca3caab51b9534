"""Value types shared by every layer: Kubernetes objects, configuration, packets.

Model
    Frozen dataclasses of the objects as they are *after* the apiserver defaulted and validated
    them (``sim.api`` builds them from manifests). ``ClusterState`` is one immutable snapshot.
Scope and limitations
    Only the fields Service networking depends on are kept; unknown manifest fields are
    rejected by ``sim.api``, not silently dropped.
Validation
    Field names and defaults were checked against the Kubernetes API types (core/v1,
    discovery/v1) and KubeProxyConfiguration; the defaults are tested in ``tests/api``.
"""

from sim.model.cluster import ClusterState
from sim.model.config import PROXY_MODES, ClusterConfig, ConntrackConfig, IPVSConfig, KubeProxyConfig
from sim.model.frozen import EMPTY, FrozenDict
from sim.model.objects import (
    DEFAULT_AFFINITY_TIMEOUT_S,
    MAX_AFFINITY_TIMEOUT_S,
    ContainerPort,
    DNSConfig,
    Endpoint,
    EndpointAddress,
    EndpointPort,
    EndpointSlice,
    Endpoints,
    EndpointSubset,
    LoadBalancerIngress,
    Namespace,
    Node,
    NodeAddress,
    ObjectRef,
    Pod,
    PodTemplate,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
    SessionAffinity,
    TrafficPolicy,
    Workload,
)
from sim.model.packet import FiveTuple, Packet

__all__ = [
    "DEFAULT_AFFINITY_TIMEOUT_S", "MAX_AFFINITY_TIMEOUT_S", "EMPTY", "ClusterConfig",
    "PROXY_MODES", "ClusterState", "ConntrackConfig", "ContainerPort", "DNSConfig", "Endpoint",
    "EndpointAddress", "EndpointPort", "EndpointSlice", "Endpoints", "EndpointSubset",
    "FiveTuple", "FrozenDict", "IPVSConfig", "KubeProxyConfig", "LoadBalancerIngress", "Namespace", "Node",
    "NodeAddress", "ObjectRef", "Packet", "Pod", "PodTemplate", "Protocol", "Service",
    "ServicePort", "ServiceType", "SessionAffinity", "TrafficPolicy", "Workload",
]
