"""EndpointSlice and EndpointSliceMirroring controllers (``podToEndpoint``, ``FindPort``,
``ShouldSetHostname``, mirroring of v1 Endpoints)."""

from __future__ import annotations

from sim.model.objects import Protocol
from tests.api.helpers import pod, server, service, two_node_cluster


def slices(api, name="my-service"):
    return [s for s in api.snapshot().endpoint_slices if s.service_name == name]


def only_endpoint(api, name="my-service"):
    (sl,) = slices(api, name)
    (ep,) = sl.endpoints
    return ep


def cluster_with(*pods, **svc):
    api = two_node_cluster(server())
    for p in pods:
        api.apply(p)
    svc.setdefault("selector", {"app": "MyApp"})
    api.apply(service(**svc))
    return api


def test_ready_pod_is_ready_and_serving():
    """A ready pod: ready, serving, not terminating."""
    ep = only_endpoint(cluster_with(pod("a", "10.244.1.5")))
    assert (ep.ready, ep.serving, ep.terminating) == (True, True, False)


def test_not_ready_pod_is_published_not_ready():
    """A not-ready pod is in the slice with ready=false, serving=false."""
    ep = only_endpoint(cluster_with(pod("a", "10.244.1.5", ready=False)))
    assert (ep.ready, ep.serving, ep.terminating) == (False, False, False)


def test_terminating_pod_is_not_ready_but_serving():
    """A terminating ready pod: ready=false, serving=true, terminating=true."""
    p = pod("a", "10.244.1.5")
    p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    ep = only_endpoint(cluster_with(p))
    assert (ep.ready, ep.serving, ep.terminating) == (False, True, True)


def test_publish_not_ready_addresses_marks_ready():
    """publishNotReadyAddresses makes every endpoint ready."""
    ep = only_endpoint(cluster_with(pod("a", "10.244.1.5", ready=False), publishNotReadyAddresses=True))
    assert (ep.ready, ep.serving) == (True, False)


def test_pod_without_ip_is_left_out():
    """A pod with no IP yet (bound to a node with no podCIDR) has no endpoint."""
    api = two_node_cluster(server())
    api.apply(pod("a", None, node_name="ghost"))
    api.apply(pod("b", "10.244.1.5"))
    api.apply(service(selector={"app": "MyApp"}))
    assert [e.target_ref.name for s in slices(api) for e in s.endpoints] == ["b"]


def test_terminal_pod_is_left_out():
    """Succeeded and Failed pods are never endpoints."""
    api = cluster_with(pod("a", "10.244.1.5", phase="Failed"), pod("b", "10.244.1.6"))
    assert [e.target_ref.name for s in slices(api) for e in s.endpoints] == ["b"]


def test_endpoint_carries_node_and_zone():
    """nodeName from the pod, zone from the node's topology label."""
    ep = only_endpoint(cluster_with(pod("a", "10.244.2.5", node_name="node-2")))
    assert (ep.node_name, ep.zone) == ("node-2", "zone-b")


def test_hostname_set_when_subdomain_matches():
    """ShouldSetHostname: hostname and subdomain == service name."""
    ep = only_endpoint(cluster_with(pod("a", "10.244.1.5", hostname="my-pet", subdomain="my-service"),
                                    clusterIP="None"))
    assert ep.hostname == "my-pet"


def test_hostname_not_set_for_other_service():
    """A pod whose subdomain names another Service gets no hostname here."""
    ep = only_endpoint(cluster_with(pod("a", "10.244.1.5", hostname="my-pet", subdomain="other"),
                                    clusterIP="None"))
    assert ep.hostname == ""


def test_named_target_port_resolved_per_pod():
    """Pods mapping one port name to different numbers land in different slices."""
    api = cluster_with(
        pod("a", "10.244.1.5", ports=[{"name": "http", "containerPort": 8080}]),
        pod("b", "10.244.1.6", ports=[{"name": "http", "containerPort": 9090}]),
        ports=[{"port": 80, "targetPort": "http"}])
    got = sorted((s.ports[0].port, s.endpoints[0].target_ref.name) for s in slices(api))
    assert got == [(8080, "a"), (9090, "b")]


def test_named_target_port_needs_same_protocol():
    """FindPort matches the name and the protocol: a UDP container port does not serve TCP."""
    api = cluster_with(pod("a", "10.244.1.5", ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"}]),
                       ports=[{"port": 53, "targetPort": "dns"}])
    (sl,) = slices(api)
    assert sl.ports == () and len(sl.endpoints) == 1


def test_slice_port_keeps_service_port_name_and_protocol():
    """A slice port has the Service port's name/protocol and the resolved number."""
    api = cluster_with(pod("a", "10.244.1.5"), ports=[{"name": "web", "port": 80, "targetPort": "http"}])
    (sl,) = slices(api)
    assert [(p.name, p.protocol, p.port) for p in sl.ports] == [("web", Protocol.TCP, 9376)]


def test_slices_hold_at_most_100_endpoints():
    """250 pods make slices of 100, 100 and 50."""
    api = two_node_cluster(server())
    for i in range(250):
        api.apply(pod(f"p{i:03d}", f"10.244.{1 + i // 200}.{2 + i % 200}", node_name=f"node-{1 + i // 200}"))
    api.apply(service(selector={"app": "MyApp"}))
    assert sorted(len(s.endpoints) for s in slices(api)) == [50, 100, 100]


def test_headless_slice_label():
    """Slices of a headless Service carry service.kubernetes.io/headless."""
    (sl,) = slices(cluster_with(pod("a", "10.244.1.5"), clusterIP="None"))
    assert sl.labels["service.kubernetes.io/headless"] == ""


def test_external_name_has_no_slices():
    """ExternalName Services get no EndpointSlices."""
    api = cluster_with(pod("a", "10.244.1.5"), type="ExternalName", externalName="db.example.com", ports=[])
    assert slices(api) == []


def test_empty_selector_selects_every_pod_of_the_namespace():
    """selector: {} (not absent) matches all pods in the namespace."""
    api = cluster_with(pod("a", "10.244.1.5", labels={"x": "1"}), pod("b", "10.244.1.6", labels={}), selector={})
    assert sorted(e.target_ref.name for s in slices(api) for e in s.endpoints) == ["a", "b"]


def test_given_slices_used_as_is():
    """A Service with user-supplied slices gets no controller slices."""
    api = cluster_with(pod("a", "10.244.1.5"))
    api.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "mine", "labels": {"kubernetes.io/service-name": "my-service"}},
               "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.9.9"], "conditions": {"ready": True}}],
               "ports": [{"name": "", "port": 1234}]})
    (sl,) = slices(api)
    assert (sl.name, sl.endpoints[0].addresses, sl.ports[0].port) == ("mine", ("10.244.9.9",), 1234)


def test_dual_stack_one_slice_per_family():
    """A dual-stack Service gets an IPv4 and an IPv6 slice."""
    api = server(service_cidrs=("10.96.0.0/12", "fd00:10:96::/112"))
    two_node_cluster(api)
    p = pod("a", "10.244.1.5")
    p["status"]["podIPs"] = [{"ip": "10.244.1.5"}, {"ip": "fd00:244:1::5"}]
    api.apply(p)
    api.apply(service(selector={"app": "MyApp"}, ipFamilyPolicy="PreferDualStack"))
    got = sorted((s.address_type, s.endpoints[0].addresses[0]) for s in slices(api))
    assert got == [("IPv4", "10.244.1.5"), ("IPv6", "fd00:244:1::5")]


def _mirror_api(**labels):
    api = server()
    api.apply(service(selector=None))
    api.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "my-service", "labels": labels},
               "subsets": [{"addresses": [{"ip": "1.2.3.4", "hostname": "db-0"}],
                            "notReadyAddresses": [{"ip": "1.2.3.5"}], "ports": [{"port": 9376}]}]})
    return api


def test_mirrored_ready_and_not_ready_addresses():
    """Mirroring: addresses are ready, notReadyAddresses are not; serving/terminating unset."""
    (sl,) = slices(_mirror_api())
    got = [(e.addresses[0], e.ready, e.serving, e.terminating, e.hostname) for e in sl.endpoints]
    assert got == [("1.2.3.4", True, None, None, "db-0"), ("1.2.3.5", False, None, None, "")]


def test_mirrored_slice_managed_by_mirroring_controller():
    """Mirrored slices carry the mirroring controller's managed-by label."""
    (sl,) = slices(_mirror_api())
    assert sl.managed_by == "endpointslicemirroring-controller.k8s.io"


def test_skip_mirror_label_honoured():
    """endpointslice.kubernetes.io/skip-mirror: "true" stops mirroring."""
    assert slices(_mirror_api(**{"endpointslice.kubernetes.io/skip-mirror": "true"})) == []


def test_endpoints_of_selector_service_not_mirrored():
    """Endpoints of a Service with a selector are not mirrored (the controller owns them)."""
    api = cluster_with(pod("a", "10.244.1.5"))
    api.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "my-service"},
               "subsets": [{"addresses": [{"ip": "1.2.3.4"}], "ports": [{"port": 9376}]}]})
    assert [e.addresses[0] for s in slices(api) for e in s.endpoints] == ["10.244.1.5"]


def test_endpoints_without_service_not_mirrored():
    """Endpoints with no Service of that name produce no slice."""
    api = server()
    api.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "orphan"},
               "subsets": [{"addresses": [{"ip": "1.2.3.4"}], "ports": [{"port": 9376}]}]})
    assert api.snapshot().endpoint_slices == ()
