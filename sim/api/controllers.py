"""The EndpointSlice and EndpointSliceMirroring controllers, as pure functions.

``compute_slices`` models ``pkg/controller/endpointslice`` (``reconciler.go`` and
``utils.go``: ``podToEndpoint``, ``getEndpointPorts``, ``ShouldPodBeInEndpoints``,
``ShouldSetHostname``); ``mirror_endpoints`` models ``pkg/controller/endpointslicemirroring``
(``addressToEndpoint``, one slice per address family and port set).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from sim.model.cluster import ClusterState
from sim.model.frozen import FrozenDict
from sim.model.ip import parse_ip
from sim.model.objects import (
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Endpoints,
    Node,
    ObjectRef,
    Pod,
    Service,
    ServiceType,
)

LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
LABEL_ZONE = "topology.kubernetes.io/zone"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MIRROR_CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager --max-endpoints-per-slice default
MAX_MIRRORED_PER_SUBSET = 1000  # --mirroring-max-endpoints-per-subset default

# Alphabet of apimachinery's rand.String (generateName suffixes): no vowels, no 0/1/3.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def name_suffix(*parts: object, length: int = 5) -> str:
    """A stable stand-in for a ``generateName`` suffix, derived from ``parts``.

    >>> name_suffix("default", "web", "IPv4") == name_suffix("default", "web", "IPv4")
    True
    >>> len(name_suffix("x"))
    5
    """
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return "".join(_ALPHANUMS[b % len(_ALPHANUMS)] for b in digest[:length])


def _family(ip: str) -> str:
    return "IPv6" if parse_ip(ip).version == 6 else "IPv4"


def find_port(pod: Pod, target_port: int | str, protocol) -> int | None:
    """``podutil.FindPort``: a number is used as is; a name is looked up among the pod's
    container ports with the same protocol (pods may map one name to different numbers)."""
    if isinstance(target_port, int):
        return target_port
    for cp in pod.container_ports:
        if cp.name == target_port and cp.protocol == protocol:
            return cp.container_port
    return None


def should_pod_be_in_endpoints(pod: Pod) -> bool:
    """``ShouldPodBeInEndpoints(pod, includeTerminating=true)``: not terminal, has an IP."""
    return pod.phase not in ("Succeeded", "Failed") and bool(pod.pod_ip or pod.pod_ips)


def should_set_hostname(pod: Pod, service: Service) -> bool:
    """``ShouldSetHostname``: the pod names a hostname and its subdomain is this service."""
    return bool(pod.hostname) and pod.subdomain == service.name and pod.namespace == service.namespace


def pod_to_endpoint(pod: Pod, node: Node | None, service: Service, family: str) -> Endpoint | None:
    """``podToEndpoint``: serving = pod ready; terminating = deletion requested; ready =
    publishNotReadyAddresses or (serving and not terminating)."""
    addrs = tuple(ip for ip in (pod.pod_ips or (pod.pod_ip,)) if ip and _family(ip) == family)
    if not addrs:
        return None
    serving = pod.ready
    terminating = pod.terminating
    ready = service.publish_not_ready_addresses or (serving and not terminating)
    return Endpoint(
        addresses=addrs[:1],
        ready=ready,
        serving=serving,
        terminating=terminating,
        hostname=pod.hostname if should_set_hostname(pod, service) else "",
        node_name=pod.node_name,
        zone=node.labels.get(LABEL_ZONE, "") if node is not None else "",
        target_ref=ObjectRef("Pod", pod.namespace, pod.name),
    )


def endpoint_ports(pod: Pod, service: Service) -> tuple[EndpointPort, ...]:
    """``getEndpointPorts``: one port per Service port whose target resolves on this pod,
    with the Service port's name and protocol and the resolved (container) number."""
    out = []
    for sp in service.ports:
        num = find_port(pod, sp.target_port, sp.protocol)
        if num is None:
            continue
        out.append(EndpointPort(port=num, protocol=sp.protocol, name=sp.name,
                                app_protocol=sp.app_protocol))
    return tuple(out)


def compute_slices(service: Service, pods: Iterable[Pod], nodes: Mapping[str, Node]) -> tuple[EndpointSlice, ...]:
    """The slices the EndpointSlice controller keeps for a Service with a selector.

    One set of slices per address family of the Service; endpoints are grouped by their
    resolved port list (pods that resolve a named port differently land in different slices),
    then cut into slices of at most 100 endpoints. Endpoints are ordered by pod name so the
    output does not depend on input order.
    """
    if service.selector is None or service.type == ServiceType.EXTERNAL_NAME:
        return ()
    labels = dict(service.labels)
    labels[LABEL_SERVICE_NAME] = service.name
    labels[LABEL_MANAGED_BY] = CONTROLLER_NAME
    if service.is_headless:
        labels[LABEL_HEADLESS] = ""
    frozen_labels = FrozenDict(labels)
    ordered = sorted((p for p in pods if should_pod_be_in_endpoints(p)), key=lambda p: p.name)
    slices: list[EndpointSlice] = []
    for family in service.ip_families:
        groups: dict[tuple[EndpointPort, ...], list[Endpoint]] = {}
        for pod in ordered:
            ep = pod_to_endpoint(pod, nodes.get(pod.node_name), service, family)
            if ep is not None:
                groups.setdefault(endpoint_ports(pod, service), []).append(ep)
        for ports in sorted(groups, key=_ports_key):
            eps = groups[ports]
            for chunk in range(0, len(eps), MAX_ENDPOINTS_PER_SLICE):
                slices.append(EndpointSlice(
                    namespace=service.namespace,
                    name=f"{service.name}-{name_suffix(service.namespace, service.name, family, _ports_key(ports), chunk)}",
                    service_name=service.name,
                    address_type=family,
                    endpoints=tuple(eps[chunk:chunk + MAX_ENDPOINTS_PER_SLICE]),
                    ports=ports,
                    labels=frozen_labels,
                    managed_by=CONTROLLER_NAME,
                ))
    return tuple(slices)


def _ports_key(ports: tuple[EndpointPort, ...]) -> tuple:
    return tuple((p.name, p.protocol.value, p.port) for p in ports)


def mirror_endpoints(endpoints: Endpoints, service: Service) -> tuple[EndpointSlice, ...]:
    """The slices the EndpointSliceMirroring controller writes for a selector-less Service's
    Endpoints: per subset and address family, ready addresses with ``ready: true`` and
    ``notReadyAddresses`` with ``ready: false`` (serving/terminating left unset, as
    ``addressToEndpoint`` does); at most 1000 addresses per subset are mirrored."""
    if service.selector is not None or endpoints.labels.get(LABEL_SKIP_MIRROR) == "true":
        return ()
    labels = {k: v for k, v in endpoints.labels.items()
              if k not in ("endpoints.kubernetes.io/last-change-trigger-time",)}
    labels[LABEL_SERVICE_NAME] = service.name
    labels[LABEL_MANAGED_BY] = MIRROR_CONTROLLER_NAME
    frozen_labels = FrozenDict(labels)
    groups: dict[tuple[str, tuple[EndpointPort, ...]], list[Endpoint]] = {}
    for subset in endpoints.subsets:
        ports = subset.ports
        addresses = [(a, True) for a in subset.addresses] + [(a, False) for a in subset.not_ready_addresses]
        for addr, ready in addresses[:MAX_MIRRORED_PER_SUBSET]:
            ep = Endpoint(
                addresses=(addr.ip,), ready=ready, serving=None, terminating=None,
                hostname=addr.hostname, node_name=addr.node_name, target_ref=addr.target_ref)
            groups.setdefault((_family(addr.ip), ports), []).append(ep)
    slices = []
    for family, ports in sorted(groups, key=lambda k: (k[0], _ports_key(k[1]))):
        eps = groups[(family, ports)]
        for chunk in range(0, len(eps), MAX_ENDPOINTS_PER_SLICE):
            slices.append(EndpointSlice(
                namespace=endpoints.namespace,
                name=f"{service.name}-{name_suffix('mirror', endpoints.namespace, endpoints.name, family, _ports_key(ports), chunk)}",
                service_name=service.name,
                address_type=family,
                endpoints=tuple(eps[chunk:chunk + MAX_ENDPOINTS_PER_SLICE]),
                ports=ports,
                labels=frozen_labels,
                managed_by=MIRROR_CONTROLLER_NAME,
            ))
    return tuple(slices)


def services_without_endpoints(state: ClusterState) -> list[str]:
    """A warning for each Service whose selector matches no pod of its namespace: the
    EndpointSlice controller gives it no endpoints, so kube-proxy rejects connections to it
    (a typo in a label is the usual cause).

    ExternalName Services and Services without a selector (manual Endpoints) are left out.
    """
    out = []
    for svc in state.services:
        if not svc.selector or svc.type.value == "ExternalName":
            continue
        if any(sl.endpoints for sl in state.slices_for(svc)):
            continue
        sel = ",".join(f"{k}={v}" for k, v in svc.selector.items())
        out.append(f"Service {svc.namespace}/{svc.name}: selector {sel} matches no pod in "
                   f'namespace "{svc.namespace}": it has no endpoints (connections to it are rejected)')
    return out
