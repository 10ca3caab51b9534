"""Defaulting of Services, Endpoints, EndpointSlices and pods (``pkg/apis/core/v1/defaults.go``,
the Service REST strategy and ``initIPFamilyFields``)."""

from __future__ import annotations

from sim.model.objects import Protocol, ServiceType, SessionAffinity, TrafficPolicy
from tests.api.helpers import deployment, pod, server, service, two_node_cluster


def _svc(api, name="my-service", namespace="default"):
    return api.snapshot().service(namespace, name)


def test_type_defaults_to_cluster_ip():
    """A Service without spec.type is a ClusterIP Service."""
    api = server()
    api.apply(service())
    assert _svc(api).type == ServiceType.CLUSTER_IP


def test_protocol_defaults_to_tcp():
    """A port without protocol is TCP."""
    api = server()
    api.apply(service(ports=[{"port": 80}]))
    assert _svc(api).ports[0].protocol == Protocol.TCP


def test_target_port_defaults_to_port():
    """A port without targetPort targets the same number."""
    api = server()
    api.apply(service(ports=[{"port": 8080}]))
    assert _svc(api).ports[0].target_port == 8080


def test_target_port_zero_defaults_to_port():
    """targetPort: 0 is treated as unset and becomes the port number."""
    api = server()
    api.apply(service(ports=[{"port": 8080, "targetPort": 0}]))
    assert _svc(api).ports[0].target_port == 8080


def test_session_affinity_defaults_to_none():
    """sessionAffinity defaults to None, with no affinity timeout."""
    api = server()
    api.apply(service())
    svc = _svc(api)
    assert (svc.session_affinity, svc.affinity_timeout_s) == (SessionAffinity.NONE, 0)


def test_session_affinity_none_drops_config():
    """With sessionAffinity None a sessionAffinityConfig is dropped, not refused."""
    api = server()
    api.apply(service(sessionAffinity="None", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}))
    assert _svc(api).affinity_timeout_s == 0


def test_client_ip_timeout_defaults_to_10800():
    """ClientIP affinity without a timeout gets 10800 s (3 h)."""
    api = server()
    api.apply(service(sessionAffinity="ClientIP"))
    assert _svc(api).affinity_timeout_s == 10800


def test_client_ip_timeout_kept_when_given():
    """An explicit ClientIP timeout is kept."""
    api = server()
    api.apply(service(sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}))
    assert _svc(api).affinity_timeout_s == 600


def test_external_traffic_policy_defaults_to_cluster_for_nodeport():
    """NodePort Services get externalTrafficPolicy Cluster."""
    api = server()
    api.apply(service(type="NodePort"))
    assert _svc(api).external_traffic_policy == TrafficPolicy.CLUSTER


def test_internal_traffic_policy_defaults_to_cluster():
    """internalTrafficPolicy defaults to Cluster."""
    api = server()
    api.apply(service(internalTrafficPolicy=None))
    assert _svc(api).internal_traffic_policy == TrafficPolicy.CLUSTER


def test_ip_families_default_to_the_primary_service_cidr():
    """On a single-stack cluster a Service is SingleStack IPv4."""
    api = server()
    api.apply(service())
    svc = _svc(api)
    assert (svc.ip_families, svc.ip_family_policy) == (("IPv4",), "SingleStack")


def test_ip_family_inferred_from_cluster_ip():
    """An IPv6 clusterIP on a dual-stack cluster makes the Service IPv6."""
    api = server(service_cidrs=("10.96.0.0/12", "fd00:10:96::/112"))
    api.apply(service(clusterIP="fd00:10:96::10"))
    svc = _svc(api)
    assert (svc.ip_families, svc.cluster_ips) == (("IPv6",), ("fd00:10:96::10",))


def test_prefer_dual_stack_gets_both_families():
    """PreferDualStack on a dual-stack cluster allocates one IP per family, primary first."""
    api = server(service_cidrs=("10.96.0.0/12", "fd00:10:96::/112"))
    api.apply(service(ipFamilyPolicy="PreferDualStack"))
    svc = _svc(api)
    assert svc.ip_families == ("IPv4", "IPv6")
    assert [ip.count(":") > 0 for ip in svc.cluster_ips] == [False, True]


def test_headless_selectorless_defaults_to_require_dual_stack():
    """A headless Service without selector defaults to RequireDualStack with both families."""
    api = server()
    api.apply(service(clusterIP="None", selector=None))
    svc = _svc(api)
    assert (svc.ip_family_policy, svc.ip_families) == ("RequireDualStack", ("IPv4", "IPv6"))


def test_load_balancer_allocates_node_ports_by_default():
    """allocateLoadBalancerNodePorts defaults to true: LoadBalancer ports get NodePorts."""
    api = server()
    api.apply(service(type="LoadBalancer"))
    assert 30000 <= _svc(api).ports[0].node_port <= 32767


def test_load_balancer_without_node_ports_when_disabled():
    """allocateLoadBalancerNodePorts: false leaves unset NodePorts at 0."""
    api = server()
    api.apply(service(type="LoadBalancer", allocateLoadBalancerNodePorts=False))
    assert _svc(api).ports[0].node_port == 0


def test_load_balancer_ingress_ip_mode_defaults_to_vip():
    """A status ingress IP without ipMode is a VIP."""
    api = server()
    api.apply(service(type="LoadBalancer", status={"loadBalancer": {"ingress": [{"ip": "146.148.47.155"}]}}))
    assert _svc(api).load_balancer_ingress[0].ip_mode == "VIP"


def test_cluster_ips_follow_cluster_ip():
    """clusterIPs is filled from clusterIP."""
    api = server()
    api.apply(service(clusterIP="10.96.0.42"))
    assert _svc(api).cluster_ips == ("10.96.0.42",)


def test_namespace_defaults_to_default():
    """An object without metadata.namespace lands in default."""
    api = server()
    api.apply(service())
    assert _svc(api).namespace == "default"


def test_endpoints_port_protocol_defaults_to_tcp():
    """An Endpoints port without protocol is TCP (and so is its mirrored slice port)."""
    api = server()
    api.apply(service(selector=None))
    api.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "my-service"},
               "subsets": [{"addresses": [{"ip": "1.2.3.4"}], "ports": [{"port": 9376}]}]})
    state = api.snapshot()
    assert state.endpoints[0].subsets[0].ports[0].protocol == Protocol.TCP
    assert state.endpoint_slices[0].ports[0].protocol == Protocol.TCP


def test_endpoint_slice_port_defaults():
    """An EndpointSlice port without protocol or name is TCP with name ""."""
    api = server()
    api.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "s1", "labels": {"kubernetes.io/service-name": "x"}},
               "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.2.3"]}], "ports": [{"port": 80}]})
    port = api.snapshot().endpoint_slices[0].ports[0]
    assert (port.protocol, port.name) == (Protocol.TCP, "")


def test_container_port_protocol_defaults_to_tcp():
    """A container port without protocol is TCP."""
    api = two_node_cluster(server())
    api.apply(pod("p", "10.244.1.5", ports=[{"containerPort": 9376}]))
    assert api.snapshot().pods[0].container_ports[0].protocol == Protocol.TCP


def test_pod_dns_policy_and_service_links_default():
    """dnsPolicy defaults to ClusterFirst and enableServiceLinks to true."""
    api = two_node_cluster(server())
    api.apply(pod("p", "10.244.1.5"))
    p = api.snapshot().pods[0]
    assert (p.dns_policy, p.enable_service_links) == ("ClusterFirst", True)


def test_deployment_replicas_default_to_one():
    """A Deployment without replicas runs one pod."""
    api = two_node_cluster(server())
    m = deployment()
    del m["spec"]["replicas"]
    api.apply(m)
    assert len(api.snapshot().pods) == 1
