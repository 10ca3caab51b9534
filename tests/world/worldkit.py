"""Helpers for world tests: a small cluster built through the real apiserver."""

from __future__ import annotations

from sim.api.apiserver import ApiServer
from sim.model.config import ClusterConfig, KubeProxyConfig
from sim.world.datapath import NoRules


class RecordingNoRules(NoRules):
    """A node kernel that routes without rules and remembers which rulesets kube-proxy loaded.

    Used only where a test is about routing or kube-proxy timing, not about what rules do.
    """

    def __init__(self, local_addresses: frozenset[str]) -> None:
        super().__init__(local_addresses)
        self.loaded: list[object] = []

    def load(self, ruleset: object) -> None:
        self.loaded.append(ruleset)


def recording_datapath(node, seed, config):
    return RecordingNoRules(frozenset(node.ips))


def node_manifest(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}"},
            "spec": {"podCIDR": f"10.244.{i}.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": f"192.168.0.{i}"}]}}


def pod_manifest(name: str, node: int, ip_last: int, labels=None, ports=(80,)) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
            "spec": {"nodeName": f"n{node}", "containers": [
                {"name": "c", "ports": [{"containerPort": p} for p in ports]}]},
            "status": {"phase": "Running", "podIP": f"10.244.{node}.{ip_last}",
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def service_manifest(name: str, selector: dict, port: int = 80, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": selector, "ports": [{"port": port}], **spec}}


def small_cluster(min_sync: float = 1.0, sync_period: float = 30.0, extra=()) -> ApiServer:
    """Three nodes, a client pod on n1, two web pods (n2, n3) and Service web (port 80)."""
    api = ApiServer(ClusterConfig(), KubeProxyConfig(cluster_cidr="10.244.0.0/16",
                                                     min_sync_period_s=min_sync,
                                                     sync_period_s=sync_period), 1)
    for i in (1, 2, 3):
        api.apply(node_manifest(i))
    api.apply(pod_manifest("client", 1, 10, ports=()))
    api.apply(pod_manifest("web-a", 2, 20, {"app": "web"}))
    api.apply(pod_manifest("web-b", 3, 30, {"app": "web"}))
    api.apply(service_manifest("web", {"app": "web"}))
    for m in extra:
        api.apply(m)
    return api
