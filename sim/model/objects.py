"""Kubernetes objects as the simulator sees them: defaulted, validated, immutable.

These are the shapes *after* the apiserver has defaulted and validated a manifest
(``sim.api`` builds them). Field names follow the Kubernetes API in snake_case; units are in
names (``timeout_s``). Every object is a frozen dataclass so a :class:`ClusterState` snapshot can
be shared between nodes and hashed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from sim.model.frozen import EMPTY, FrozenDict


class Protocol(str, Enum):
    """L4 protocols a Service port may use (``v1.Protocol``)."""

    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"

    @property
    def lower(self) -> str:
        """Lower-case name as kube-proxy and iptables write it (``tcp``)."""
        return self.value.lower()


class ServiceType(str, Enum):
    """``spec.type``."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"
    EXTERNAL_NAME = "ExternalName"


class TrafficPolicy(str, Enum):
    """``externalTrafficPolicy`` / ``internalTrafficPolicy``."""

    CLUSTER = "Cluster"
    LOCAL = "Local"


class SessionAffinity(str, Enum):
    """``spec.sessionAffinity``."""

    NONE = "None"
    CLIENT_IP = "ClientIP"


DEFAULT_AFFINITY_TIMEOUT_S = 10800
MAX_AFFINITY_TIMEOUT_S = 86400


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A ``targetRef``: which object an endpoint address belongs to."""

    kind: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One element of ``spec.ports`` (defaulted: protocol TCP, targetPort = port)."""

    port: int
    protocol: Protocol = Protocol.TCP
    name: str = ""
    target_port: int | str = 0
    node_port: int = 0
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class LoadBalancerIngress:
    """One element of ``status.loadBalancer.ingress``."""

    ip: str = ""
    hostname: str = ""
    ip_mode: str | None = None  # "VIP" or "Proxy"; None behaves as VIP


@dataclass(frozen=True, slots=True)
class Service:
    """A defaulted, validated ``v1`` Service.

    ``cluster_ip`` is ``"None"`` for headless services and ``""`` for ExternalName.
    ``selector`` is ``None`` when the manifest has no selector (manual Endpoints).
    """

    namespace: str
    name: str
    type: ServiceType = ServiceType.CLUSTER_IP
    ports: tuple[ServicePort, ...] = ()
    selector: FrozenDict | None = None
    cluster_ip: str = ""
    cluster_ips: tuple[str, ...] = ()
    ip_families: tuple[str, ...] = ("IPv4",)
    ip_family_policy: str = "SingleStack"
    session_affinity: SessionAffinity = SessionAffinity.NONE
    affinity_timeout_s: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ip: str = ""
    load_balancer_source_ranges: tuple[str, ...] = ()
    load_balancer_ingress: tuple[LoadBalancerIngress, ...] = ()
    external_traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    internal_traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    health_check_node_port: int = 0
    external_name: str = ""
    publish_not_ready_addresses: bool = False
    labels: FrozenDict = EMPTY
    annotations: FrozenDict = EMPTY
    creation_index: int = 0

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def is_headless(self) -> bool:
        """``clusterIP: None``."""
        return self.cluster_ip == "None"

    @property
    def has_cluster_ip(self) -> bool:
        """True for services kube-proxy programs (a real cluster IP, not ExternalName)."""
        return self.type != ServiceType.EXTERNAL_NAME and self.cluster_ip not in ("", "None")


@dataclass(frozen=True, slots=True)
class EndpointPort:
    """A port of an EndpointSlice / Endpoints subset (``name`` may be empty)."""

    port: int
    protocol: Protocol = Protocol.TCP
    name: str = ""
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint of a ``discovery.k8s.io/v1`` EndpointSlice.

    Conditions follow the API: ``None`` means unknown; consumers interpret ``ready=None`` as
    ready and ``serving=None`` as serving (kube-proxy's endpointslicecache does).
    """

    addresses: tuple[str, ...]
    ready: bool | None = True
    serving: bool | None = True
    terminating: bool | None = False
    hostname: str = ""
    node_name: str = ""
    zone: str = ""
    target_ref: ObjectRef | None = None

    @property
    def is_ready(self) -> bool:
        return self.ready is None or self.ready

    @property
    def is_serving(self) -> bool:
        return self.serving is None or self.serving

    @property
    def is_terminating(self) -> bool:
        return bool(self.terminating)


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    """A ``discovery.k8s.io/v1`` EndpointSlice (``service_name`` from ``kubernetes.io/service-name``)."""

    namespace: str
    name: str
    service_name: str
    address_type: str = "IPv4"
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[EndpointPort, ...] = ()
    labels: FrozenDict = EMPTY
    managed_by: str = ""


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    """An address of a ``v1`` Endpoints subset."""

    ip: str
    hostname: str = ""
    node_name: str = ""
    target_ref: ObjectRef | None = None


@dataclass(frozen=True, slots=True)
class EndpointSubset:
    """A ``v1`` Endpoints subset."""

    addresses: tuple[EndpointAddress, ...] = ()
    not_ready_addresses: tuple[EndpointAddress, ...] = ()
    ports: tuple[EndpointPort, ...] = ()


@dataclass(frozen=True, slots=True)
class Endpoints:
    """A ``v1`` Endpoints object (legacy API; mirrored into EndpointSlices)."""

    namespace: str
    name: str
    subsets: tuple[EndpointSubset, ...] = ()
    labels: FrozenDict = EMPTY


@dataclass(frozen=True, slots=True)
class ContainerPort:
    """``spec.containers[].ports[]``."""

    container_port: int
    protocol: Protocol = Protocol.TCP
    name: str = ""


@dataclass(frozen=True, slots=True)
class DNSConfig:
    """``spec.dnsConfig`` of a pod."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Pod:
    """A pod as far as Service networking is concerned."""

    namespace: str
    name: str
    labels: FrozenDict = EMPTY
    node_name: str = ""
    pod_ip: str = ""
    pod_ips: tuple[str, ...] = ()
    ready: bool = True
    phase: str = "Running"
    terminating: bool = False
    container_ports: tuple[ContainerPort, ...] = ()
    hostname: str = ""
    subdomain: str = ""
    dns_policy: str = "ClusterFirst"
    dns_config: DNSConfig | None = None
    enable_service_links: bool = True
    host_network: bool = False
    creation_index: int = 0
    owner: str = ""  # "ReplicaSet/<name>" when made from a template

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """``status.addresses[]`` (type InternalIP, ExternalIP, Hostname, ...)."""

    type: str
    address: str


@dataclass(frozen=True, slots=True)
class Node:
    """A cluster node."""

    name: str
    addresses: tuple[NodeAddress, ...] = ()
    pod_cidr: str = ""
    pod_cidrs: tuple[str, ...] = ()
    labels: FrozenDict = EMPTY
    ready: bool = True

    @property
    def ips(self) -> tuple[str, ...]:
        """InternalIP then ExternalIP addresses, in status order (no hostnames)."""
        order = {"InternalIP": 0, "ExternalIP": 1}
        addrs = [a for a in self.addresses if a.type in order]
        addrs.sort(key=lambda a: order[a.type])
        return tuple(a.address for a in addrs)

    @property
    def internal_ip(self) -> str:
        """The first InternalIP (kube-proxy's node IP), or the first address."""
        for a in self.addresses:
            if a.type == "InternalIP":
                return a.address
        ips = self.ips
        return ips[0] if ips else ""

    @property
    def zone(self) -> str:
        return self.labels.get("topology.kubernetes.io/zone", "")


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """The parts of ``spec.template`` the simulator uses."""

    labels: FrozenDict = EMPTY
    container_ports: tuple[ContainerPort, ...] = ()
    hostname: str = ""
    subdomain: str = ""
    dns_policy: str = "ClusterFirst"
    dns_config: DNSConfig | None = None
    enable_service_links: bool = True
    node_name: str = ""


@dataclass(frozen=True, slots=True)
class Workload:
    """An ``apps/v1`` Deployment or ReplicaSet: pods are made from its template."""

    kind: str  # "Deployment" or "ReplicaSet"
    namespace: str
    name: str
    replicas: int = 1
    selector: FrozenDict = EMPTY
    template: PodTemplate = field(default_factory=PodTemplate)
    labels: FrozenDict = EMPTY


@dataclass(frozen=True, slots=True)
class Namespace:
    """A ``v1`` Namespace."""

    name: str
    labels: FrozenDict = EMPTY
