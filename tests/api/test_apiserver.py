"""ApiServer behaviour: strict decoding, kinds, workloads, mutations, determinism."""

from __future__ import annotations

import pytest

from sim.model.errors import SimError, ValidationError
from tests.api.helpers import deployment, node, pod, refused, server, service, two_node_cluster


def test_unmodelled_kind_is_skipped_with_one_summary_line():
    """Kinds that exist but are not modelled (Ingress, ConfigMap, custom resources) are
    skipped, all summed up in one warning line."""
    api = server()
    api.apply({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"}},
              ("x.yaml", 3))
    for name in ("a", "b"):
        api.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    api.apply({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "p"}})
    assert api.warnings == ["skipped 4 objects whose kinds kube-netsim does not model: "
                            "ConfigMap (v1) x2, IPPool (crd.projectcalico.org/v1) x1, "
                            "Ingress (networking.k8s.io/v1) x1"]
    assert api.version == 0


def test_removed_api_is_refused_naming_the_replacement():
    """extensions/v1beta1 Deployment is refused as kubectl refuses it, naming apps/v1."""
    assert refused(server(), {"apiVersion": "extensions/v1beta1", "kind": "Deployment",
                              "metadata": {"name": "web"}}) == [
        'kind: Invalid value: "Deployment": no matches for kind "Deployment" in version '
        '"extensions/v1beta1": removed in Kubernetes 1.16, use apiVersion: apps/v1']


@pytest.mark.parametrize("api_version,kind,hint", [
    ("v1", "Pdo", 'did you mean "Pod"?'),
    ("v2", "Pod", "Pod is served as apiVersion: v1"),
    ("apps/v1", "Deploymnet", 'did you mean "Deployment"?'),
])
def test_unknown_kind_or_version_in_a_core_group_is_refused(api_version, kind, hint):
    """A kind or version that Kubernetes does not serve in its own groups is an error."""
    (msg,) = refused(server(), {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})
    assert f'no matches for kind "{kind}" in version "{api_version}"' in msg and hint in msg


def test_unknown_field_is_an_error():
    """A field the type does not declare is refused (strict decoding)."""
    assert refused(server(), service(foo="bar")) == [
        'spec.foo: Unknown field: strict decoding error: unknown field "spec.foo"']


def test_wrong_type_is_an_error():
    """A string where an integer belongs is refused."""
    assert refused(server(), service(ports=[{"port": "80"}])) == [
        'spec.ports[0].port: Invalid value: "80": must be of type integer']


def test_label_value_must_be_string():
    """Label values are strings (an unquoted number is a type error)."""
    m = service()
    m["metadata"]["labels"] = {"version": 1}
    assert refused(server(), m) == ["metadata.labels[version]: Invalid value: 1: must be of type string"]


def test_missing_kind_and_api_version():
    """apiVersion and kind are required."""
    assert refused(server(), {"metadata": {"name": "x"}}) == [
        "apiVersion: Required value", "kind: Required value"]


def test_errors_carry_source_and_object():
    """Field errors name the file, line and object."""
    api = server()
    with pytest.raises(ValidationError) as info:
        api.apply(service(ports=[{"port": 0, "targetPort": 1}]), ("svc.yaml", 7))
    assert str(info.value) == ("svc.yaml:7: Service default/my-service: spec.ports[0].port: "
                               "Invalid value: 0: must be between 1 and 65535, inclusive")


def test_list_is_expanded():
    """kind: List applies each item."""
    api = server()
    api.apply({"apiVersion": "v1", "kind": "List", "items": [service(name="a"), service(name="b")]})
    assert [s.name for s in api.snapshot().services] == ["a", "b"]


def test_version_increments_on_change_only():
    """version counts successful changes; refused ones leave it."""
    api = server()
    api.apply(service())
    v = api.version
    refused(api, service(name="bad", ports=[]))
    assert (v, api.version) == (1, 1)


def test_snapshot_cached_per_version():
    """The same version returns the same snapshot object."""
    api = server()
    api.apply(service())
    assert api.snapshot() is api.snapshot()


def test_same_seed_same_snapshot():
    """Identical calls with the same seed give identical snapshots."""
    def build(seed):
        api = two_node_cluster(server(seed))
        api.apply(deployment(replicas=5))
        for i in range(20):
            api.apply(service(name=f"s{i}", type="NodePort", selector={"app": "MyApp"}))
        return api.snapshot()
    assert build(3) == build(3)


def test_different_seed_different_cluster_ips():
    """The seed drives ClusterIP allocation."""
    def ips(seed):
        api = server(seed)
        for i in range(5):
            api.apply(service(name=f"s{i}"))
        return [s.cluster_ip for s in api.snapshot().services]
    assert ips(1) != ips(2)


def test_allocated_cluster_ip_in_range():
    """Allocated cluster IPs lie inside the service CIDR."""
    api = server(service_cidrs=("10.0.0.0/24",))
    api.apply(service())
    assert api.snapshot().services[0].cluster_ip.startswith("10.0.0.")


def test_creation_index_monotonic_and_kept_on_update():
    """Services keep their creation index across updates; new objects get larger ones."""
    api = server()
    api.apply(service(name="a"))
    api.apply(service(name="b"))
    api.apply(service(name="a", sessionAffinity="ClientIP"))
    idx = {s.name: s.creation_index for s in api.snapshot().services}
    assert idx["a"] < idx["b"]


def test_update_keeps_cluster_ip_and_node_port():
    """Re-applying without clusterIP/nodePort keeps the allocated values."""
    api = server()
    api.apply(service(type="NodePort"))
    before = api.snapshot().services[0]
    api.apply(service(type="NodePort", sessionAffinity="ClientIP"))
    after = api.snapshot().services[0]
    assert (after.cluster_ip, after.ports[0].node_port) == (before.cluster_ip, before.ports[0].node_port)


def test_type_change_to_cluster_ip_releases_node_port():
    """Changing NodePort -> ClusterIP frees the NodePort."""
    api = server()
    api.apply(service(name="a", type="NodePort", ports=[{"port": 80, "nodePort": 30036}]))
    api.apply(service(name="a"))
    api.apply(service(name="b", type="NodePort", ports=[{"port": 80, "nodePort": 30036}]))
    assert api.snapshot().service("default", "b").ports[0].node_port == 30036


def test_delete_service_releases_allocations():
    """Deleting a Service frees its clusterIP and NodePort."""
    api = server()
    api.apply(service(name="a", type="NodePort", clusterIP="10.96.0.10", ports=[{"port": 80, "nodePort": 30036}]))
    api.delete("Service", "default", "a")
    api.apply(service(name="b", type="NodePort", clusterIP="10.96.0.10", ports=[{"port": 80, "nodePort": 30036}]))
    assert api.snapshot().service("default", "b").cluster_ip == "10.96.0.10"


def test_delete_missing_object():
    """Deleting something absent is a NotFound error."""
    with pytest.raises(SimError, match='services "nope" not found in namespace default'):
        server().delete("Service", "default", "nope")


def test_load_balancer_address_from_pool():
    """A LoadBalancer without status gets the first free pool address."""
    api = server(load_balancer_pool=("198.51.100.0/29",))
    api.apply(service(name="a", type="LoadBalancer"))
    api.apply(service(name="b", type="LoadBalancer"))
    assert [s.load_balancer_ingress[0].ip for s in api.snapshot().services] == ["198.51.100.1", "198.51.100.2"]


def test_load_balancer_requested_ip_honoured():
    """The simulated provider honours loadBalancerIP."""
    api = server()
    api.apply(service(type="LoadBalancer", loadBalancerIP="78.11.24.19"))
    assert api.snapshot().services[0].load_balancer_ingress[0].ip == "78.11.24.19"


def test_load_balancer_status_kept():
    """A status.loadBalancer.ingress from the manifest is used as is."""
    api = server()
    api.apply(service(type="LoadBalancer", loadBalancerIP="78.11.24.19",
                      status={"loadBalancer": {"ingress": [{"ip": "146.148.47.155"}]}}))
    assert [i.ip for i in api.snapshot().services[0].load_balancer_ingress] == ["146.148.47.155"]


def test_load_balancer_pool_exhausted_leaves_service_pending():
    """When the pool is used up the Service is still created, with no ingress address
    (EXTERNAL-IP <pending>, as a cloud controller that cannot provision leaves it), and a
    warning names the Service and the pool."""
    api = server(load_balancer_pool=("198.51.100.0/30",))
    api.apply(service(name="a", type="LoadBalancer"))
    api.apply(service(name="b", type="LoadBalancer"))
    api.apply(service(name="c", type="LoadBalancer"))
    by_name = {s.name: s for s in api.snapshot().services}
    assert [i.ip for i in by_name["a"].load_balancer_ingress] == ["198.51.100.1"]
    assert [i.ip for i in by_name["b"].load_balancer_ingress] == ["198.51.100.2"]
    assert by_name["c"].load_balancer_ingress == ()
    assert api.warnings == ["Service default/c: the simulated load-balancer pool is exhausted "
                            "(198.51.100.0/30, spec.cluster.loadBalancerPool): no ingress "
                            "address, EXTERNAL-IP <pending>"]


def test_negative_seed_refused():
    """A negative seed is a user error naming the value, not a numpy traceback."""
    with pytest.raises(SimError, match=r"seed: Invalid value: -1: must be an integer greater "
                                       r"than or equal to 0"):
        server(seed=-1)


def test_deployment_makes_pods_from_template():
    """A Deployment makes `replicas` pods with the template labels plus pod-template-hash."""
    api = two_node_cluster(server())
    api.apply(deployment(replicas=3))
    pods = api.snapshot().pods
    assert len(pods) == 3
    assert all(p.labels["app"] == "MyApp" and "pod-template-hash" in p.labels for p in pods)
    assert all(p.name.startswith("web-" + p.labels["pod-template-hash"] + "-") for p in pods)


def test_pods_spread_over_nodes_with_ips_from_pod_cidr():
    """Pods are spread over the ready nodes and get IPs from each node's podCIDR."""
    api = two_node_cluster(server())
    api.apply(deployment(replicas=4))
    by_node = sorted((p.node_name, p.pod_ip) for p in api.snapshot().pods)
    assert by_node == [("node-1", "10.244.1.2"), ("node-1", "10.244.1.3"),
                       ("node-2", "10.244.2.2"), ("node-2", "10.244.2.3")]


def test_pod_without_status_gets_ip_and_is_ready():
    """A pod manifest without status is scheduled, addressed and ready."""
    api = two_node_cluster(server())
    m = pod("p", None)
    del m["status"]
    api.apply(m)
    p = api.snapshot().pods[0]
    assert (p.pod_ip, p.ready, p.phase) == ("10.244.1.2", True, "Running")


def test_host_network_pod_uses_node_ip():
    """A hostNetwork pod's IP is its node's InternalIP."""
    api = two_node_cluster(server())
    m = pod("p", None, hostNetwork=True)
    del m["status"]
    api.apply(m)
    assert api.snapshot().pods[0].pod_ip == "192.168.49.2"


def test_scale_up_and_down():
    """scale adds pods from the template and removes the newest first."""
    api = two_node_cluster(server())
    api.apply(deployment(replicas=2))
    first = {p.name for p in api.snapshot().pods}
    api.scale("Deployment", "default", "web", 4)
    assert len(api.snapshot().pods) == 4
    api.scale("Deployment", "default", "web", 2)
    assert {p.name for p in api.snapshot().pods} == first


def test_scale_down_removes_not_ready_first():
    """Scaling down removes not-ready pods before ready ones."""
    api = two_node_cluster(server())
    api.apply(deployment(replicas=3))
    victim = api.snapshot().pods[0].name
    api.set_pod_ready("default", victim, False)
    api.scale("Deployment", "default", "web", 2)
    assert victim not in {p.name for p in api.snapshot().pods}


def test_template_change_rolls_pods():
    """A changed template replaces the pods (new ReplicaSet)."""
    api = two_node_cluster(server())
    api.apply(deployment(replicas=2))
    old = {p.name for p in api.snapshot().pods}
    api.apply(deployment(replicas=2, hostname="x"))
    new = {p.name for p in api.snapshot().pods}
    assert len(new) == 2 and not old & new


def test_delete_deployment_deletes_pods():
    """Deleting a Deployment removes its pods."""
    api = two_node_cluster(server())
    api.apply(deployment(replicas=2))
    api.delete("Deployment", "default", "web")
    assert api.snapshot().pods == ()


def test_set_pod_ready_updates_endpoints():
    """A pod turning not ready shows in its endpoint conditions."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5"))
    api.apply(service(selector={"app": "MyApp"}))
    api.set_pod_ready("default", "a", False)
    ep = api.snapshot().endpoint_slices[0].endpoints[0]
    assert (ep.ready, ep.serving) == (False, False)


def test_set_pod_terminating_updates_endpoints():
    """A terminating pod is serving but not ready."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5"))
    api.apply(service(selector={"app": "MyApp"}))
    api.set_pod_terminating("default", "a")
    ep = api.snapshot().endpoint_slices[0].endpoints[0]
    assert (ep.ready, ep.serving, ep.terminating) == (False, True, True)


def test_delete_pod_removes_endpoint():
    """A deleted pod leaves the slice."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5"))
    api.apply(pod("b", "10.244.1.6"))
    api.apply(service(selector={"app": "MyApp"}))
    api.delete_pod("default", "a")
    assert [e.target_ref.name for e in api.snapshot().endpoint_slices[0].endpoints] == ["b"]


def test_node_not_ready_marks_its_pods_not_ready():
    """Pods on a NotReady node are reported not ready (MarkPodsNotReady)."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5", node_name="node-1"))
    api.apply(pod("b", "10.244.2.5", node_name="node-2"))
    api.apply(service(selector={"app": "MyApp"}))
    api.set_node_ready("node-1", False)
    got = {e.target_ref.name: e.ready for e in api.snapshot().endpoint_slices[0].endpoints}
    assert got == {"a": False, "b": True}


def test_node_ready_again_restores_pods():
    """When the node is Ready again its pods are ready again."""
    api = two_node_cluster(server())
    api.apply(pod("a", "10.244.1.5"))
    api.set_node_ready("node-1", False)
    api.set_node_ready("node-1", True)
    assert api.snapshot().pods[0].ready


def test_not_ready_node_not_scheduled():
    """New pods avoid NotReady nodes."""
    api = two_node_cluster(server())
    api.set_node_ready("node-1", False)
    api.apply(deployment(replicas=2))
    assert {p.node_name for p in api.snapshot().pods} == {"node-2"}


def test_node_with_several_addresses():
    """A node keeps every status address, InternalIP first for kube-proxy."""
    api = server()
    m = node("n1", "192.168.1.2", "10.244.1.0/24")
    m["status"]["addresses"] = [{"type": "Hostname", "address": "n1"},
                                {"type": "ExternalIP", "address": "203.0.113.7"},
                                {"type": "InternalIP", "address": "192.168.1.2"}]
    api.apply(m)
    n = api.snapshot().nodes[0]
    assert (len(n.addresses), n.internal_ip, n.ips) == (3, "192.168.1.2", ("192.168.1.2", "203.0.113.7"))


def test_rollout_leaves_other_workloads_alone():
    """A Deployment rollout replaces only its own pods, not a ReplicaSet with a similar name."""
    api = two_node_cluster(server())
    rs = deployment(name="web-abc", replicas=1, labels={"app": "other"})
    rs["kind"] = "ReplicaSet"
    api.apply(rs)
    api.apply(deployment(replicas=1))
    api.apply(deployment(replicas=1, hostname="x"))
    assert sorted(p.owner.split("/")[1].startswith("web-abc") for p in api.snapshot().pods) == [False, True]


def test_type_change_to_external_name_releases_cluster_ip():
    """ClusterIP -> ExternalName frees the cluster IP for another Service."""
    api = server()
    api.apply(service(name="a", clusterIP="10.96.0.10"))
    api.apply(service(name="a", type="ExternalName", externalName="db.example.com", ports=[]))
    api.apply(service(name="b", clusterIP="10.96.0.10"))
    state = api.snapshot()
    assert (state.service("default", "a").cluster_ip, state.service("default", "b").cluster_ip) == ("", "10.96.0.10")


def test_external_name_to_cluster_ip_allocates():
    """ExternalName -> ClusterIP allocates a cluster IP."""
    api = server()
    api.apply(service(type="ExternalName", externalName="db.example.com", ports=[]))
    api.apply(service())
    assert api.snapshot().services[0].has_cluster_ip
