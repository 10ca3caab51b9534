"""Service validation and allocation errors with the apiserver's exact messages (HTTP 422:
nothing is stored when an object is refused)."""

from __future__ import annotations

import pytest

from sim.model.errors import SimError
from tests.api.helpers import refused, server, service

DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
           "with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',"
           "  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
DNS1123_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
                 " '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or"
                 " '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1123_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                     "characters, '-' or '.', and must start and end with an alphanumeric character"
                     " (e.g. 'example.com', regex used for validation is "
                     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range(port):
    """Service ports must be 1-65535."""
    assert refused(server(), service(ports=[{"port": port, "targetPort": 9376}])) == [
        f"spec.ports[0].port: Invalid value: {port}: must be between 1 and 65535, inclusive"]


def test_defaulted_target_port_inherits_invalid_port():
    """targetPort defaults to the (invalid) port, so both are reported, as upstream does."""
    assert refused(server(), service(ports=[{"port": 0}])) == [
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive"]


def test_target_port_number_out_of_range():
    """A numeric targetPort must be a valid port number."""
    assert refused(server(), service(ports=[{"port": 80, "targetPort": 70000}])) == [
        "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]


def test_target_port_name_must_be_iana_svc_name():
    """A named targetPort must be a valid port name."""
    assert refused(server(), service(ports=[{"port": 80, "targetPort": "http--alt"}])) == [
        'spec.ports[0].targetPort: Invalid value: "http--alt": must not contain consecutive hyphens']


def test_ports_required():
    """A ClusterIP Service needs at least one port."""
    assert refused(server(), service(ports=[])) == ["spec.ports: Required value"]


def test_multi_port_names_required():
    """Every port of a multi-port Service needs a name."""
    assert refused(server(), service(ports=[{"name": "http", "port": 80}, {"port": 443}])) == [
        "spec.ports[1].name: Required value"]


def test_multi_port_names_unique():
    """Port names must be unique."""
    assert refused(server(), service(ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}])) == [
        'spec.ports[1].name: Duplicate value: "http"']


def test_port_name_must_be_dns_label():
    """A port name is a DNS-1123 label."""
    assert refused(server(), service(ports=[{"name": "HTTP", "port": 80}])) == [
        f'spec.ports[0].name: Invalid value: "HTTP": {DNS1123_LABEL}']


def test_duplicate_port_and_protocol():
    """Two ports with the same number and protocol are refused."""
    assert refused(server(), service(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}])) == [
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
        'AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, '
        'StrVal:""}, NodePort:0}']


def test_same_port_number_on_two_protocols_is_allowed():
    """TCP 53 and UDP 53 may coexist (the DNS Service does this)."""
    api = server()
    api.apply(service(ports=[{"name": "dns", "port": 53, "protocol": "UDP"},
                             {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]))
    assert len(api.snapshot().services[0].ports) == 2


def test_unsupported_protocol():
    """Only TCP, UDP and SCTP exist."""
    assert refused(server(), service(ports=[{"port": 80, "protocol": "ICMP"}])) == [
        'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"']


def test_sctp_refused_without_feature_gate():
    """SCTP needs the SCTPSupport gate (v1.12-v1.19 behaviour)."""
    assert refused(server(), service(ports=[{"port": 7777, "protocol": "SCTP"}])) == [
        'spec.ports[0].protocol: Unsupported value: "SCTP": supported values: "TCP", "UDP"']


def test_sctp_accepted_with_feature_gate():
    """With SCTPSupport on, an SCTP port is accepted."""
    api = server(feature_gates={"SCTPSupport": "true"})
    api.apply(service(ports=[{"port": 7777, "protocol": "SCTP"}]))
    assert api.snapshot().services[0].ports[0].protocol.value == "SCTP"


def test_unsupported_type():
    """spec.type must be one of the four types."""
    assert refused(server(), service(type="Internal")) == [
        'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"']


def test_service_name_must_be_dns1035_label():
    """Service names are DNS-1035 labels (they must start with a letter)."""
    assert refused(server(), service(name="1-service")) == [
        f'metadata.name: Invalid value: "1-service": {DNS1035}']


def test_service_name_required():
    """metadata.name is required."""
    assert refused(server(), service(name="")) == [
        "metadata.name: Required value: name or generateName is required"]


def test_namespace_must_exist():
    """Objects in a namespace that does not exist are refused (NotFound)."""
    assert refused(server(), service(namespace="prod")) == ['metadata.namespace: Not found: "prod"']


def test_node_port_outside_range():
    """A requested nodePort must lie in --service-node-port-range."""
    assert refused(server(), service(type="NodePort", ports=[{"port": 80, "nodePort": 80}])) == [
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"]


def test_node_port_range_from_cluster_config():
    """The NodePort range is the cluster's, not a constant."""
    assert refused(server(node_port_range=(31000, 31999)),
                   service(type="NodePort", ports=[{"port": 80, "nodePort": 30036}])) == [
        "spec.ports[0].nodePort: Invalid value: 30036: provided port is not in the valid range. "
        "The range of valid ports is 31000-31999"]


def test_node_port_already_allocated():
    """Two Services cannot hold the same nodePort."""
    api = server()
    api.apply(service(name="first", type="NodePort", ports=[{"port": 80, "nodePort": 30036}]))
    assert refused(api, service(name="second", type="NodePort", ports=[{"port": 80, "nodePort": 30036}])) == [
        "spec.ports[0].nodePort: Invalid value: 30036: provided port is already allocated"]


def test_node_port_shared_pool_across_protocols():
    """The NodePort allocator is one pool: a UDP Service cannot take a TCP Service's port."""
    api = server()
    api.apply(service(name="first", type="NodePort", ports=[{"port": 80, "nodePort": 30036}]))
    assert refused(api, service(name="second", type="NodePort",
                                ports=[{"port": 80, "protocol": "UDP", "nodePort": 30036}])) == [
        "spec.ports[0].nodePort: Invalid value: 30036: provided port is already allocated"]


def test_duplicate_node_port_within_service_same_protocol():
    """Within one Service a nodePort may not repeat for the same protocol."""
    assert refused(server(), service(type="NodePort", ports=[
        {"name": "a", "port": 80, "nodePort": 30036}, {"name": "b", "port": 81, "nodePort": 30036}])) == [
        "spec.ports[1].nodePort: Duplicate value: 30036"]


def test_same_node_port_for_tcp_and_udp_in_one_service():
    """TCP and UDP ports of one Service may share a nodePort."""
    api = server()
    api.apply(service(type="NodePort", ports=[
        {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "nodePort": 30053}]))
    assert [p.node_port for p in api.snapshot().services[0].ports] == [30053, 30053]


def test_node_port_forbidden_on_cluster_ip():
    """A ClusterIP Service may not carry a nodePort."""
    assert refused(server(), service(ports=[{"port": 80, "nodePort": 30036}])) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]


def test_cluster_ip_outside_range():
    """A chosen clusterIP must lie in --service-cluster-ip-range."""
    assert refused(server(), service(clusterIP="10.0.171.239")) == [
        'spec.clusterIP: Invalid value: "10.0.171.239": provided IP is not in the valid range. '
        "The range of valid IPs is 10.96.0.0/12"]


def test_cluster_ip_network_address_outside_range():
    """The network address of the service CIDR is never allocatable."""
    assert refused(server(), service(clusterIP="10.96.0.0")) == [
        'spec.clusterIP: Invalid value: "10.96.0.0": provided IP is not in the valid range. '
        "The range of valid IPs is 10.96.0.0/12"]


def test_cluster_ip_already_allocated():
    """Two Services cannot hold the same clusterIP."""
    api = server()
    api.apply(service(name="a", clusterIP="10.96.0.10"))
    assert refused(api, service(name="b", clusterIP="10.96.0.10")) == [
        'spec.clusterIP: Invalid value: "10.96.0.10": provided IP is already allocated']


def test_cluster_ip_must_be_an_ip():
    """clusterIP must be an IP address or None."""
    assert refused(server(), service(clusterIP="10.96.0.300")) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, '
        "(e.g. 10.9.8.7 or 2001:db8::ffff)"]


def test_cluster_ip_is_immutable():
    """An update may not change the allocated clusterIP."""
    api = server()
    api.apply(service(clusterIP="10.96.0.10"))
    assert refused(api, service(clusterIP="10.96.0.11")) == [
        'spec.clusterIP: Invalid value: "10.96.0.11": field is immutable']


def test_headless_nodeport_refused():
    """A NodePort Service cannot be headless."""
    assert refused(server(), service(type="NodePort", clusterIP="None")) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]


def test_headless_load_balancer_refused():
    """A LoadBalancer Service cannot be headless."""
    assert refused(server(), service(type="LoadBalancer", clusterIP="None")) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services"]


def test_headless_without_ports_accepted():
    """A headless Service needs no ports."""
    api = server()
    api.apply(service(clusterIP="None", ports=[], selector={"app": "MyApp"}))
    assert api.snapshot().services[0].is_headless


def test_external_name_must_be_dns_subdomain():
    """spec.externalName must be a lowercase DNS-1123 subdomain."""
    assert refused(server(), service(type="ExternalName", ports=[], externalName="My_DB.example.com")) == [
        f'spec.externalName: Invalid value: "My_DB.example.com": {DNS1123_SUBDOMAIN}']


def test_external_name_required():
    """An ExternalName Service needs spec.externalName."""
    assert refused(server(), service(type="ExternalName", ports=[])) == ["spec.externalName: Required value"]


def test_external_name_trailing_dot_accepted():
    """A fully-qualified externalName (trailing dot) is accepted."""
    api = server()
    api.apply(service(type="ExternalName", ports=[], externalName="my.database.example.com."))
    assert api.snapshot().services[0].cluster_ip == ""


def test_external_name_with_cluster_ip_forbidden():
    """An ExternalName Service may not set a clusterIP."""
    assert refused(server(), service(type="ExternalName", ports=[], externalName="db.example.com",
                                     clusterIP="10.96.0.10")) == [
        "spec.clusterIPs: Forbidden: may not be set for ExternalName services"]


def test_session_affinity_unsupported():
    """sessionAffinity must be None or ClientIP."""
    assert refused(server(), service(sessionAffinity="Cookie")) == [
        'spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None"']


@pytest.mark.parametrize("timeout", [0, 86401])
def test_client_ip_timeout_range(timeout):
    """The ClientIP timeout must be within (0, 86400]."""
    assert refused(server(), service(sessionAffinity="ClientIP",
                                     sessionAffinityConfig={"clientIP": {"timeoutSeconds": timeout}})) == [
        f"spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: {timeout}: "
        "must be greater than 0 and less than 86400"]


def test_client_ip_timeout_max_accepted():
    """86400 s is the largest accepted ClientIP timeout."""
    api = server()
    api.apply(service(sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 86400}}))
    assert api.snapshot().services[0].affinity_timeout_s == 86400


def test_external_ip_must_be_an_ip():
    """externalIPs entries must be IP addresses."""
    assert refused(server(), service(externalIPs=["80.11.12"])) == [
        'spec.externalIPs[0]: Invalid value: "80.11.12": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']


def test_external_ip_loopback_refused():
    """externalIPs may not be loopback addresses."""
    assert refused(server(), service(externalIPs=["127.0.0.1"])) == [
        'spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']


def test_external_traffic_policy_only_for_external_services():
    """externalTrafficPolicy on a plain ClusterIP Service is refused."""
    assert refused(server(), service(externalTrafficPolicy="Local")) == [
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services']


def test_external_traffic_policy_unsupported():
    """externalTrafficPolicy must be Cluster or Local."""
    assert refused(server(), service(type="NodePort", externalTrafficPolicy="Nearest")) == [
        'spec.externalTrafficPolicy: Unsupported value: "Nearest": supported values: "Cluster", "Local"']


def test_internal_traffic_policy_unsupported():
    """internalTrafficPolicy must be Cluster or Local."""
    assert refused(server(), service(internalTrafficPolicy="Node")) == [
        'spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", "Local"']


def test_health_check_node_port_only_for_local_load_balancer():
    """healthCheckNodePort needs type LoadBalancer with externalTrafficPolicy Local."""
    assert refused(server(), service(type="NodePort", healthCheckNodePort=30100)) == [
        "spec.healthCheckNodePort: Invalid value: 30100: may only be set when `type` is "
        "'LoadBalancer' and `externalTrafficPolicy` is 'Local'"]


def test_local_load_balancer_gets_health_check_node_port():
    """A LoadBalancer with externalTrafficPolicy Local is allocated a healthCheckNodePort."""
    api = server()
    api.apply(service(type="LoadBalancer", externalTrafficPolicy="Local"))
    svc = api.snapshot().services[0]
    assert 30000 <= svc.health_check_node_port <= 32767
    assert svc.health_check_node_port != svc.ports[0].node_port


def test_source_ranges_only_for_load_balancer():
    """loadBalancerSourceRanges need type LoadBalancer (upstream's capitalised path)."""
    assert refused(server(), service(loadBalancerSourceRanges=["10.0.0.0/8"])) == [
        "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"]


def test_source_range_must_be_cidr():
    """loadBalancerSourceRanges entries must be CIDRs."""
    assert refused(server(), service(type="LoadBalancer", loadBalancerSourceRanges=["10.0.0.0/33"])) == [
        'spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.0/33": must be a valid CIDR value, '
        "(e.g. 10.9.8.0/24 or 2001:db8::/64)"]


def test_require_dual_stack_on_single_stack_cluster():
    """RequireDualStack is refused by a single-stack cluster."""
    assert refused(server(), service(ipFamilyPolicy="RequireDualStack")) == [
        'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services']


def test_ip_family_not_configured():
    """An IP family the cluster lacks is refused."""
    assert refused(server(), service(ipFamilies=["IPv6"])) == [
        'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster']


def test_selector_label_value_invalid():
    """Selector values must be valid label values."""
    msg = refused(server(), service(selector={"app": "my app"}))
    assert msg == ['spec.selector[app]: Invalid value: "my app": a valid label must be an empty string or '
                   "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                   "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
                   "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]


def test_every_error_is_reported():
    """All field errors of one object are reported together."""
    msgs = refused(server(), service(type="Weird", ports=[{"port": 0, "targetPort": 80}]))
    assert msgs == [
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.type: Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"',
    ]


def test_refused_service_is_not_stored():
    """A refused Service leaves no object and no allocation behind (HTTP 422)."""
    api = server()
    refused(api, service(name="bad", type="NodePort", ports=[
        {"name": "a", "port": 80, "nodePort": 30036}, {"name": "b", "port": 81, "nodePort": 99999}]))
    api.apply(service(name="good", type="NodePort", ports=[{"port": 80, "nodePort": 30036}]))
    assert [s.name for s in api.snapshot().services] == ["good"]


def test_refused_update_keeps_old_object():
    """A refused update leaves the stored Service unchanged."""
    api = server()
    api.apply(service(clusterIP="10.96.0.10"))
    before = api.snapshot()
    refused(api, service(clusterIP="10.96.0.10", ports=[{"port": 0}]))
    assert api.snapshot() == before


def test_cluster_ip_range_full_is_an_internal_error():
    """When the range is exhausted the apiserver answers 500, which is a SimError here."""
    api = server(service_cidrs=("10.96.0.0/30",))
    api.apply(service(name="a"))
    api.apply(service(name="b"))
    with pytest.raises(SimError, match="failed to allocate a serviceIP: range is full"):
        api.apply(service(name="c"))


DUAL = {"service_cidrs": ("10.96.0.0/12", "fd00:10:96::/112")}


def test_cluster_ips_first_must_match_cluster_ip():
    """clusterIPs[0] must equal clusterIP."""
    assert refused(server(**DUAL), service(clusterIP="10.96.0.10", clusterIPs=["10.96.0.11"])) == [
        'spec.clusterIPs: Invalid value: []string{"10.96.0.11"}: first value must match `clusterIP`']


def test_cluster_ips_one_per_family():
    """Two cluster IPs must be of different families."""
    assert refused(server(**DUAL), service(ipFamilyPolicy="PreferDualStack",
                                           clusterIPs=["10.96.0.10", "10.96.0.11"])) == [
        'spec.clusterIPs: Invalid value: []string{"10.96.0.10", "10.96.0.11"}: '
        "may specify no more than one IP for each IP family"]


def test_none_must_be_only_cluster_ip():
    """'None' cannot be combined with an address."""
    assert refused(server(**DUAL), service(clusterIPs=["None", "fd00:10:96::10"])) == [
        'spec.clusterIPs: Invalid value: []string{"None", "fd00:10:96::10"}: '
        "'None' must be the first and only value"]


def test_single_stack_with_two_cluster_ips():
    """SingleStack cannot carry two cluster IPs."""
    assert refused(server(**DUAL), service(ipFamilyPolicy="SingleStack",
                                           clusterIPs=["10.96.0.10", "fd00:10:96::10"])) == [
        "spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or "
        "'PreferDualStack' when multiple cluster IPs are specified"]


def test_cluster_ip_family_must_match_ip_families():
    """An IPv6 clusterIP under ipFamilies [IPv4] is refused."""
    assert refused(server(**DUAL), service(clusterIP="fd00:10:96::10", ipFamilies=["IPv4"])) == [
        'spec.clusterIPs[0]: Invalid value: "fd00:10:96::10": expected an IPv4 value as indicated by `ipFamilies[0]`']


def test_duplicate_ip_family():
    """An IP family may not repeat."""
    assert refused(server(**DUAL), service(ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv4", "IPv4"])) == [
        'spec.ipFamilies[1]: Duplicate value: "IPv4"']


def test_unsupported_ip_family_policy():
    """ipFamilyPolicy has three values."""
    assert refused(server(), service(ipFamilyPolicy="DualStack")) == [
        'spec.ipFamilyPolicy: Unsupported value: "DualStack": supported values: "PreferDualStack", '
        '"RequireDualStack", "SingleStack"']


def test_ipv6_cluster_ip_not_configured_on_ipv4_cluster():
    """An IPv6 clusterIP on an IPv4-only cluster is refused."""
    assert refused(server(), service(clusterIP="fd00::10")) == [
        'spec.clusterIPs[0]: Invalid value: []string{"fd00::10"}: IPv6 is not configured on this cluster']
