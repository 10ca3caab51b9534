"""``ClusterState``: one immutable snapshot of everything Service networking depends on."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sim.model.config import ClusterConfig, KubeProxyConfig
from sim.model.objects import (
    EndpointSlice,
    Endpoints,
    Namespace,
    Node,
    Pod,
    Service,
    Workload,
)


@dataclass(frozen=True)
class ClusterState:
    """A snapshot of the apiserver's objects after defaulting, allocation and the controllers.

    Collections are tuples in a canonical order (namespace, name) so equal states compare and
    hash equal regardless of how they were built. Lookups are cached indexes.
    """

    config: ClusterConfig = field(default_factory=ClusterConfig)
    kube_proxy: KubeProxyConfig = field(default_factory=KubeProxyConfig)
    namespaces: tuple[Namespace, ...] = ()
    nodes: tuple[Node, ...] = ()
    pods: tuple[Pod, ...] = ()
    services: tuple[Service, ...] = ()
    endpoints: tuple[Endpoints, ...] = ()
    endpoint_slices: tuple[EndpointSlice, ...] = ()
    workloads: tuple[Workload, ...] = ()

    @cached_property
    def services_by_key(self) -> dict[str, Service]:
        return {s.key: s for s in self.services}

    @cached_property
    def slices_by_service(self) -> dict[str, tuple[EndpointSlice, ...]]:
        out: dict[str, list[EndpointSlice]] = {}
        for s in self.endpoint_slices:
            out.setdefault(f"{s.namespace}/{s.service_name}", []).append(s)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def nodes_by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    @cached_property
    def pods_by_key(self) -> dict[str, Pod]:
        return {p.key: p for p in self.pods}

    @cached_property
    def pods_by_ip(self) -> dict[str, Pod]:
        return {p.pod_ip: p for p in self.pods if p.pod_ip}

    def service(self, namespace: str, name: str) -> Service | None:
        return self.services_by_key.get(f"{namespace}/{name}")

    def slices_for(self, service: Service) -> tuple[EndpointSlice, ...]:
        return self.slices_by_service.get(service.key, ())

    def node(self, name: str) -> Node | None:
        return self.nodes_by_name.get(name)
