"""Builders shared by the sim.api tests."""

from __future__ import annotations

import pytest

from sim.api.apiserver import ApiServer
from sim.model.config import ClusterConfig, KubeProxyConfig
from sim.model.errors import ValidationError
from sim.model.frozen import FrozenDict


def server(seed: int = 1, **cluster: object) -> ApiServer:
    """An ApiServer on a default cluster with ``cluster`` fields overridden."""
    if "feature_gates" in cluster:
        cluster["feature_gates"] = FrozenDict(cluster["feature_gates"])
    return ApiServer(ClusterConfig(**cluster), KubeProxyConfig(), seed)


def service(name: str = "my-service", namespace: str | None = None, status: dict | None = None,
            **spec: object) -> dict:
    """A v1 Service manifest; ``spec`` defaults to one TCP port 80 -> 9376 selecting app=MyApp."""
    spec.setdefault("ports", [{"port": 80, "targetPort": 9376}])
    meta: dict = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    m = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
    if status is not None:
        m["status"] = status
    return m


def node(name: str, ip: str, pod_cidr: str, zone: str = "", ready: bool = True) -> dict:
    """A v1 Node with an InternalIP, a podCIDR and a Ready condition."""
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": pod_cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name: str, ip: str | None, node_name: str = "node-1", labels: dict | None = None,
        ports: list | None = None, ready: bool = True, namespace: str | None = None,
        phase: str = "Running", **spec: object) -> dict:
    """A v1 Pod with one container; ``ports`` default to 9376 named http."""
    meta: dict = {"name": name, "labels": {"app": "MyApp"} if labels is None else labels}
    if namespace:
        meta["namespace"] = namespace
    status: dict = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node_name, **spec, "containers": [{
                "name": "app",
                "ports": [{"name": "http", "containerPort": 9376}] if ports is None else ports}]},
            "status": status}


def deployment(name: str = "web", replicas: int = 3, labels: dict | None = None, **template_spec) -> dict:
    """An apps/v1 Deployment whose pods expose 9376 named http."""
    labels = labels or {"app": "MyApp"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {**template_spec, "containers": [{
                                      "name": "app", "ports": [{"name": "http", "containerPort": 9376}]}]}}}}


def refused(api: ApiServer, manifest: dict) -> list[str]:
    """The apiserver messages (``FieldError.message()``) of a manifest that must be refused."""
    with pytest.raises(ValidationError) as info:
        api.apply(manifest)
    return [e.message() for e in info.value.errors]


def two_node_cluster(api: ApiServer) -> ApiServer:
    """Adds node-1 (10.244.1.0/24, zone-a) and node-2 (10.244.2.0/24, zone-b)."""
    api.apply(node("node-1", "192.168.49.2", "10.244.1.0/24", "zone-a"))
    api.apply(node("node-2", "192.168.49.3", "10.244.2.0/24", "zone-b"))
    return api
