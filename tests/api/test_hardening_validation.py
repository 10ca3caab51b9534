"""Upstream validation and impossible clusters the apiserver model refuses (issue 14)."""

from __future__ import annotations

from sim.api.controllers import services_without_endpoints
from tests.api.helpers import node, pod, refused, server, service, two_node_cluster


def _slice(n: int) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "big", "labels": {"kubernetes.io/service-name": "s"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [f"10.1.{i // 250}.{1 + i % 250}"]} for i in range(n)],
            "ports": [{"port": 80}]}


def test_endpointslice_with_more_than_1000_endpoints_is_refused():
    """discovery validation: at most 1000 endpoints per slice (field.TooMany)."""
    assert refused(server(), _slice(1001)) == ["endpoints: Too many: 1001: must have at most 1000 items"]


def test_endpointslice_with_1000_endpoints_is_accepted():
    """Exactly 1000 endpoints is within the limit."""
    api = server()
    api.apply(_slice(1000))
    assert api.version == 1


def test_annotations_over_256_kib_are_refused():
    """ValidateAnnotationsSize: keys and values together at most 262144 bytes."""
    svc = service()
    svc["metadata"]["annotations"] = {"a": "x" * (256 * 1024)}
    assert refused(server(), svc) == ["metadata.annotations: Too long: may not be more than 262144 bytes"]


def test_annotations_at_the_limit_are_accepted():
    """262144 bytes of keys and values in total is allowed."""
    svc = service()
    svc["metadata"]["annotations"] = {"a": "x" * (256 * 1024 - 1)}
    api = server()
    api.apply(svc)
    assert api.version == 1


def test_pod_ip_reused_after_the_first_pod_is_deleted():
    """Deleting a pod frees its IP for another pod (no false duplicate)."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5"))
    api.delete("Pod", "default", "a")
    api.apply(pod("b", "10.244.1.5"))
    assert [p.name for p in api.snapshot().pods] == ["b"]


def test_finished_pod_ip_may_be_reused():
    """A Succeeded pod's IP is free (the kubelet released it)."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5", phase="Succeeded"))
    api.apply(pod("b", "10.244.1.5"))
    assert len(api.snapshot().pods) == 2


def test_host_network_pods_share_the_node_address():
    """hostNetwork pods use the node's address: neither duplicates nor outside the podCIDR."""
    api = two_node_cluster(server())
    api.apply(pod("a", "192.168.0.11", hostNetwork=True))
    api.apply(pod("b", "192.168.0.11", hostNetwork=True))
    assert len(api.snapshot().pods) == 2


def test_reapplying_a_pod_keeps_its_ip():
    """Applying the same pod again is not a duplicate of itself."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5"))
    api.apply(pod("a", "10.244.1.5", labels={"app": "other"}))
    assert api.snapshot().pods[0].labels["app"] == "other"


def test_node_pod_cidr_overlap_names_the_other_node():
    """A second node whose podCIDR overlaps the first's is refused, naming it."""
    api = server()
    api.apply(node("node-1", "192.168.0.11", "10.244.1.0/24"))
    (msg,) = refused(api, node("node-2", "192.168.0.12", "10.244.1.128/25"))
    assert 'overlaps podCIDR "10.244.1.0/24" of node "node-1"' in msg


def test_service_without_matching_pod_is_reported():
    """A selector that matches no pod is reported; one that matches is not."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5"))
    api.apply(service(name="ok", selector={"app": "MyApp"}))
    api.apply(service(name="typo", selector={"app": "MyAp"}))
    (w,) = services_without_endpoints(api.snapshot())
    assert w.startswith("Service default/typo: selector app=MyAp matches no pod")
