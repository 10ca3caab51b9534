"""The built-in generated cluster of a sweep: nodes, Services, endpoints, type mix, affinity.

Objects go through the apiserver (:class:`sim.api.apiserver.ApiServer`) as manifests, so the
generated cluster is defaulted, validated and allocated exactly like a scenario's. Services
have no selector; each has one EndpointSlice (``discovery.k8s.io/v1``, labelled with
``kubernetes.io/service-name``) listing its own endpoints, spread round-robin over the nodes.
That keeps a 10,000-Service cluster at 20,000 objects instead of 100,000 pods, and changes
nothing kube-proxy sees: it reads EndpointSlices, never pods.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sim.api.apiserver import ApiServer, gc_paused
from sim.model.config import ClusterConfig, KubeProxyConfig

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
NAMESPACE = "sweep"
CLUSTER_CIDR = "10.128.0.0/9"  # endpoint addresses; disjoint from the default 10.96.0.0/12


@dataclass(frozen=True)
class GeneratedCluster:
    """Shape of a generated cluster (the sweep file's ``spec.cluster``)."""

    nodes: int = 3
    services: int = 100
    endpoints_per_service: int = 10
    service_types: tuple[tuple[str, float], ...] = (("ClusterIP", 1.0),)
    affinity_share: float = 0.0
    ports_per_service: int = 1


def spread(n: int, shares: tuple[tuple[str, float], ...]) -> list[str]:
    """``n`` labels drawn deterministically in proportion to ``shares`` (largest remainder,
    interleaved: item ``i`` takes the label whose running quota is furthest behind).

    >>> spread(5, (("ClusterIP", 0.6), ("NodePort", 0.4)))
    ['ClusterIP', 'NodePort', 'ClusterIP', 'NodePort', 'ClusterIP']
    """
    total = sum(w for _, w in shares) or 1.0
    given = {name: 0 for name, _ in shares}
    out = []
    for i in range(n):
        name = max(shares, key=lambda s: ((i + 1) * s[1] / total - given[s[0]], -shares.index(s)))[0]
        given[name] += 1
        out.append(name)
    return out


def has_affinity(i: int, share: float) -> bool:
    """Whether Service ``i`` gets ``sessionAffinity: ClientIP`` (every 1/share-th one).

    >>> [has_affinity(i, 0.25) for i in range(8)]
    [False, False, False, True, False, False, False, True]
    """
    return int((i + 1) * share) > int(i * share)


def endpoint_ip(k: int) -> str:
    """The ``k``-th endpoint address inside :data:`CLUSTER_CIDR` (from 10.128.0.1 on).

    >>> endpoint_ip(0), endpoint_ip(255)
    ('10.128.0.1', '10.128.1.0')
    """
    n = (10 << 24) + (128 << 16) + 1 + k
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def service_name(i: int, total: int) -> str:
    """Zero-padded so that name order is creation order (kube-proxy sorts by name)."""
    return f"svc-{i:0{max(5, len(str(total - 1)))}d}"


def manifests(c: GeneratedCluster) -> list[dict]:
    """The cluster as manifests in apply order: Nodes, then each Service and its slice."""
    out: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for n in range(c.nodes):
        out.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{n}"},
                    "spec": {"podCIDR": f"10.{1 + n // 256}.{n % 256}.0/24"},
                    "status": {"addresses": [{"type": "InternalIP",
                                              "address": f"172.16.{n // 250}.{n % 250 + 1}"}],
                               "conditions": [{"type": "Ready", "status": "True"}]}})
    types = spread(c.services, c.service_types)
    k = 0
    for i in range(c.services):
        name = service_name(i, c.services)
        ports = [{"name": f"p{p}", "port": 80 + p, "targetPort": 8080 + p, "protocol": "TCP"}
                 for p in range(c.ports_per_service)]
        spec: dict = {"type": types[i], "ports": ports}
        if has_affinity(i, c.affinity_share):
            spec["sessionAffinity"] = "ClientIP"
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec})
        eps = []
        for j in range(c.endpoints_per_service):
            eps.append({"addresses": [endpoint_ip(k)], "nodeName": f"node-{(i + j) % c.nodes}",
                        "conditions": {"ready": True, "serving": True, "terminating": False}})
            k += 1
        out.append(slice_manifest(name, eps, ports))
    return out


def slice_manifest(service: str, endpoints: list[dict], ports: list[dict]) -> dict:
    """The EndpointSlice of ``service`` (one per Service, named ``<service>-0``)."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-0", "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": p["name"], "port": p["targetPort"], "protocol": "TCP"}
                      for p in ports]}


def build_api(c: GeneratedCluster, kube_proxy: KubeProxyConfig, seed: int) -> ApiServer:
    """An apiserver holding the generated cluster."""
    # The endpoints' range is the cluster CIDR unless the sweep sets one (kube-proxy's
    # masquerade rule for traffic from outside it, as on a real cluster).
    cfg = kube_proxy if kube_proxy.cluster_cidr else replace(kube_proxy, cluster_cidr=CLUSTER_CIDR)
    api = ApiServer(ClusterConfig(), cfg, seed)
    with gc_paused():
        for m in manifests(c):
            api.apply(m, ("generated cluster", None))
    return api

