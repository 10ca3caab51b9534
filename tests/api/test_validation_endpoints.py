"""Validation of Endpoints, EndpointSlices, pods, nodes and workloads."""

from __future__ import annotations

import pytest

from tests.api.helpers import deployment, node, pod, refused, server


def endpoints(*ips: str, ports: list | None = None, not_ready: list | None = None) -> dict:
    subset: dict = {"ports": ports if ports is not None else [{"port": 9376}]}
    if ips:
        subset["addresses"] = [{"ip": ip} for ip in ips]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "my-service"}, "subsets": [subset]}


def endpoint_slice(address_type: str = "IPv4", addresses=("10.1.2.3",), ports=None) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "my-service-abcde", "labels": {"kubernetes.io/service-name": "my-service"}},
            "addressType": address_type, "endpoints": [{"addresses": list(addresses)}],
            "ports": ports if ports is not None else [{"name": "http", "port": 9376}]}


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.1.2.3"])
def test_endpoints_loopback_refused(ip):
    """Endpoints may not point into 127.0.0.0/8."""
    assert refused(server(), endpoints(ip)) == [
        f'subsets[0].addresses[0].ip: Invalid value: "{ip}": may not be in the loopback range (127.0.0.0/8, ::1/128)']


def test_endpoints_link_local_refused():
    """Endpoints may not point into 169.254.0.0/16."""
    assert refused(server(), endpoints("169.254.169.254")) == [
        'subsets[0].addresses[0].ip: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)']


def test_endpoints_link_local_multicast_refused():
    """Endpoints may not point into 224.0.0.0/24."""
    assert refused(server(), endpoints("224.0.0.251")) == [
        'subsets[0].addresses[0].ip: Invalid value: "224.0.0.251": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)']


def test_endpoints_other_multicast_accepted():
    """224.0.1.1 is outside the link-local multicast block and accepted."""
    api = server()
    api.apply(endpoints("224.0.1.1"))
    assert api.snapshot().endpoints[0].subsets[0].addresses[0].ip == "224.0.1.1"


def test_endpoints_service_cidr_refused():
    """Endpoints may not point at cluster IPs (inside the service CIDR)."""
    assert refused(server(), endpoints("10.96.0.10")) == [
        'subsets[0].addresses[0].ip: Invalid value: "10.96.0.10": may not be in the service IP range (10.96.0.0/12)']


def test_endpoints_unspecified_refused():
    """0.0.0.0 is not an endpoint."""
    assert refused(server(), endpoints("0.0.0.0")) == [
        'subsets[0].addresses[0].ip: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)']


def test_endpoints_not_ready_address_checked_too():
    """notReadyAddresses are checked like addresses."""
    assert refused(server(), endpoints(not_ready=["127.0.0.1"])) == [
        'subsets[0].notReadyAddresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']


def test_endpoints_address_must_be_ip():
    """Endpoint addresses must be IPs."""
    assert refused(server(), endpoints("my.host")) == [
        'subsets[0].addresses[0].ip: Invalid value: "my.host": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']


def test_endpoints_subset_needs_addresses():
    """A subset without any address is refused."""
    assert refused(server(), endpoints()) == [
        "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"]


def test_endpoints_multi_port_names_required():
    """Every port of a multi-port subset needs a name."""
    assert refused(server(), endpoints("1.2.3.4", ports=[{"name": "a", "port": 1}, {"port": 2}])) == [
        "subsets[0].ports[1].name: Required value"]


def test_endpoints_port_range():
    """Endpoint ports must be valid port numbers."""
    assert refused(server(), endpoints("1.2.3.4", ports=[{"port": 0}])) == [
        "subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"]


def test_endpoint_slice_address_type_unsupported():
    """addressType must be IPv4, IPv6 or FQDN."""
    assert refused(server(), endpoint_slice(address_type="IP")) == [
        'addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"']


def test_endpoint_slice_address_must_match_type():
    """An IPv4 slice holds IPv4 addresses only."""
    assert refused(server(), endpoint_slice(addresses=["fd00::1"])) == [
        'endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address']


def test_endpoint_slice_needs_an_address():
    """Each endpoint has at least one address."""
    assert refused(server(), endpoint_slice(addresses=[])) == [
        "endpoints[0].addresses: Required value: must contain at least 1 address"]


def test_endpoint_slice_loopback_refused():
    """Slices may not carry loopback addresses either."""
    assert refused(server(), endpoint_slice(addresses=["127.0.0.1"])) == [
        'endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']


def test_endpoint_slice_duplicate_port_names():
    """Port names within a slice are unique."""
    assert refused(server(), endpoint_slice(ports=[{"name": "http", "port": 1}, {"name": "http", "port": 2}])) == [
        'ports[1].name: Duplicate value: "http"']


def test_container_port_required():
    """A container port needs containerPort."""
    assert refused(server(), pod("p", "10.244.1.5", ports=[{"name": "http"}])) == [
        "spec.containers[0].ports[0].containerPort: Required value"]


def test_container_port_name_is_iana_svc_name():
    """Container port names are at most 15 characters."""
    assert refused(server(), pod("p", "10.244.1.5", ports=[{"name": "a-very-long-port-name", "containerPort": 80}])) == [
        'spec.containers[0].ports[0].name: Invalid value: "a-very-long-port-name": must be no more than 15 characters']


def test_container_sctp_needs_gate():
    """SCTP container ports need the SCTPSupport gate too."""
    assert refused(server(), pod("p", "10.244.1.5", ports=[{"containerPort": 7777, "protocol": "SCTP"}])) == [
        'spec.containers[0].ports[0].protocol: Unsupported value: "SCTP": supported values: "TCP", "UDP"']


def test_pod_ip_must_be_ip():
    """status.podIP must be an IP."""
    assert refused(server(), pod("p", "10.244.1.500")) == [
        'status.podIP: Invalid value: "10.244.1.500": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']


def test_pod_dns_policy_unsupported():
    """dnsPolicy has four values."""
    assert refused(server(), pod("p", "10.244.1.5", dnsPolicy="Cluster")) == [
        'spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirst", '
        '"ClusterFirstWithHostNet", "Default", "None"']


def test_node_pod_cidr_must_be_cidr():
    """spec.podCIDR must be a CIDR."""
    assert refused(server(), node("n1", "192.168.1.2", "10.244.1.0/33")) == [
        'spec.podCIDRs[0]: Invalid value: "10.244.1.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']


def test_node_duplicate_address():
    """A node address may not repeat."""
    m = node("n1", "192.168.1.2", "10.244.1.0/24")
    m["status"]["addresses"].append({"type": "InternalIP", "address": "192.168.1.2"})
    assert refused(server(), m) == [
        'status.addresses[1]: Duplicate value: core.NodeAddress{Type:"InternalIP", Address:"192.168.1.2"}']


def test_namespace_name_is_dns_label():
    """Namespace names are DNS-1123 labels."""
    msgs = refused(server(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Prod"}})
    assert msgs[0].startswith('metadata.name: Invalid value: "Prod": a lowercase RFC 1123 label')


def test_workload_selector_must_match_template():
    """A Deployment's selector must match its template labels."""
    m = deployment()
    m["spec"]["selector"]["matchLabels"] = {"app": "Other"}
    assert refused(server(), m) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"MyApp"}: '
        "`selector` does not match template `labels`"]


def test_workload_negative_replicas():
    """replicas may not be negative."""
    assert refused(server(), deployment(replicas=-1)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
