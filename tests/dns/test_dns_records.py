"""Cluster DNS records: the DNS specification 1.1.0 as CoreDNS's kubernetes plugin answers it."""

from __future__ import annotations

import pytest
from dns_cluster import ep, eslice, spec_cluster, svc

from sim.dns.records import ClusterDNS, address_from_reverse, reverse_name
from sim.model import (
    ClusterConfig,
    ClusterState,
    EndpointPort,
    Namespace,
    Pod,
    ServicePort,
    ServiceType,
)
from sim.model.errors import SimError

Z = "cluster.local."
SOA = "ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"


@pytest.fixture(scope="module")
def dns():
    return ClusterDNS(spec_cluster(), upstream={"www.example.com": ["192.0.2.53", "2001:db8::53"]})


def texts(rrs):
    return sorted(rr.text() for rr in rrs)


def assert_nxdomain(ans):
    assert ans.rcode == "NXDOMAIN" and ans.authoritative and not ans.answer
    assert [rr.text() for rr in ans.authority] == [f"{Z} 5 IN SOA {SOA}"]


def assert_nodata(ans):
    assert ans.rcode == "NOERROR" and ans.authoritative and not ans.answer
    assert [rr.text() for rr in ans.authority] == [f"{Z} 5 IN SOA {SOA}"]


def test_dns_version_txt(dns):
    """dns-version.<zone> TXT is "1.1.0" with TTL 28800."""
    ans = dns.answer("dns-version.cluster.local.", "TXT")
    assert texts(ans.answer) == ['dns-version.cluster.local. 28800 IN TXT "1.1.0"']


def test_clusterip_a(dns):
    """A ClusterIP service's A record is its cluster IP with the default TTL 5."""
    ans = dns.answer("kubernetes.default.svc.cluster.local.", "A")
    assert ans.rcode == "NOERROR" and ans.authoritative
    assert texts(ans.answer) == ["kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"]


def test_clusterip_aaaa_on_ipv4_service_is_nodata(dns):
    """AAAA on an IPv4-only service is NODATA with the SOA in authority."""
    assert_nodata(dns.answer("kubernetes.default.svc.cluster.local.", "AAAA"))


def test_ipv6_service_aaaa_and_a_nodata(dns):
    """An IPv6 service answers AAAA; A is NODATA."""
    ans = dns.answer("v6.default.svc.cluster.local.", "AAAA")
    assert texts(ans.answer) == ["v6.default.svc.cluster.local. 5 IN AAAA fd00::1"]
    assert_nodata(dns.answer("v6.default.svc.cluster.local.", "A"))


def test_dual_stack_service_answers_both_families(dns):
    """A dual-stack service has an A and an AAAA record."""
    assert dns.answer("dual.default.svc.cluster.local.", "A").addresses() == ("10.96.0.20",)
    assert dns.answer("dual.default.svc.cluster.local.", "AAAA").addresses() == ("fd00::20",)


def test_clusterip_without_endpoints_still_answers(dns):
    """A ClusterIP service without endpoints still has its A record (CoreDNS svcempty)."""
    assert dns.answer("empty.default.svc.cluster.local.", "A").addresses() == ("10.96.0.30",)


def test_ignore_empty_service_makes_it_nxdomain():
    """With `ignore empty_service` a ClusterIP service without ready endpoints is NXDOMAIN."""
    d = ClusterDNS(spec_cluster(), ignore_empty_service=True)
    assert_nxdomain(d.answer("empty.default.svc.cluster.local.", "A"))
    assert d.answer("web.default.svc.cluster.local.", "A").addresses() == ("10.96.0.40",)


def test_named_port_srv_clusterip(dns):
    """_https._tcp SRV targets the service name with priority 0 weight 100 and the Service
    port; the additional section carries the target's A record."""
    ans = dns.answer("_https._tcp.kubernetes.default.svc.cluster.local.", "SRV")
    assert texts(ans.answer) == [
        "_https._tcp.kubernetes.default.svc.cluster.local. 5 IN SRV 0 100 443 "
        "kubernetes.default.svc.cluster.local."]
    assert texts(ans.additional) == ["kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"]


def test_srv_port_and_protocol_must_both_match(dns):
    """_https._udp (wrong protocol) and _http._tcp (no such name) are NXDOMAIN."""
    assert_nxdomain(dns.answer("_https._udp.kubernetes.default.svc.cluster.local.", "SRV"))
    assert_nxdomain(dns.answer("_http._tcp.kubernetes.default.svc.cluster.local.", "SRV"))


def test_unnamed_port_has_no_port_srv(dns):
    """The unnamed UDP port 81 of web cannot be addressed by _port._proto (its number is not a
    name); the named one can."""
    assert_nxdomain(dns.answer("_81._udp.web.default.svc.cluster.local.", "SRV"))
    ans = dns.answer("_http._tcp.web.default.svc.cluster.local.", "SRV")
    assert texts(ans.answer) == ["_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 "
                                 "web.default.svc.cluster.local."]


def test_srv_on_bare_name_lists_every_port(dns):
    """SRV on the bare service name covers every port, named or not, weight floor(100/N)."""
    ans = dns.answer("web.default.svc.cluster.local.", "SRV")
    assert texts(ans.answer) == [
        "web.default.svc.cluster.local. 5 IN SRV 0 50 80 web.default.svc.cluster.local.",
        "web.default.svc.cluster.local. 5 IN SRV 0 50 81 web.default.svc.cluster.local."]


def test_dual_stack_srv_is_one_record_weight_50(dns):
    """Dual-stack: two matched items give weight 50 but one SRV; A and AAAA in additional."""
    ans = dns.answer("_https._tcp.dual.default.svc.cluster.local.", "SRV")
    assert [rr.rdata for rr in ans.answer] == ["0 50 443 dual.default.svc.cluster.local."]
    assert texts(ans.additional) == ["dual.default.svc.cluster.local. 5 IN A 10.96.0.20",
                                     "dual.default.svc.cluster.local. 5 IN AAAA fd00::20"]


def test_headless_a_lists_ready_endpoints_only(dns):
    """A headless service answers one A per ready endpoint; the not-ready one is absent."""
    ans = dns.answer("headless.default.svc.cluster.local.", "A")
    assert sorted(ans.addresses()) == ["10.3.0.100", "10.3.0.101", "10.3.0.102"]


def test_headless_without_ready_endpoints_is_nxdomain(dns):
    """A headless service without ready endpoints is NXDOMAIN (spec and CoreDNS)."""
    assert_nxdomain(dns.answer("nohost.default.svc.cluster.local.", "A"))


def test_headless_ipv4_endpoints_aaaa_is_nodata(dns):
    """AAAA on a headless service with only IPv4 endpoints is NODATA."""
    assert_nodata(dns.answer("headless.default.svc.cluster.local.", "AAAA"))


def test_publish_not_ready_addresses(dns):
    """publishNotReadyAddresses publishes a not-ready endpoint."""
    assert dns.answer("pnr.default.svc.cluster.local.", "A").addresses() == ("10.3.1.1",)


def test_endpoint_hostname_records(dns):
    """<hostname>.<svc> answers the endpoint's IP; an unnamed endpoint uses its dashed IP."""
    assert dns.answer("my-pet.headless.default.svc.cluster.local.", "A").addresses() == \
        ("10.3.0.100",)
    assert dns.answer("10-3-0-102.headless.default.svc.cluster.local.", "A").addresses() == \
        ("10.3.0.102",)


def test_endpoint_with_hostname_not_reachable_by_dashed_ip(dns):
    """An endpoint with a hostname is only named by it, not by its dashed IP."""
    assert_nxdomain(dns.answer("10-3-0-100.headless.default.svc.cluster.local.", "A"))


def test_not_ready_endpoint_name_is_nxdomain(dns):
    """The not-ready endpoint has no per-endpoint record."""
    assert_nxdomain(dns.answer("10-3-0-103.headless.default.svc.cluster.local.", "A"))


def test_headless_srv_per_endpoint(dns):
    """Headless SRV: one per ready endpoint, weight floor(100/3)=33, targets per endpoint,
    their A records in the additional section."""
    ans = dns.answer("_https._tcp.headless.default.svc.cluster.local.", "SRV")
    assert texts(ans.answer) == [
        "_https._tcp.headless.default.svc.cluster.local. 5 IN SRV 0 33 443 "
        f"{t}.headless.default.svc.cluster.local." for t in ("10-3-0-102", "my-pet-2", "my-pet")]
    assert texts(ans.additional) == [
        "10-3-0-102.headless.default.svc.cluster.local. 5 IN A 10.3.0.102",
        "my-pet-2.headless.default.svc.cluster.local. 5 IN A 10.3.0.101",
        "my-pet.headless.default.svc.cluster.local. 5 IN A 10.3.0.100"]


def test_headless_srv_uses_endpoint_target_port():
    """Headless SRV carries the EndpointSlice (target) port, as CoreDNS does."""
    state = ClusterState(
        namespaces=(Namespace("default"),),
        services=(svc("default", "hl", "None", ServicePort(80, name="http", target_port=8080)),),
        endpoint_slices=(eslice("default", "hl", ep("10.1.0.1"),
                                ports=(EndpointPort(8080, name="http"),)),))
    ans = ClusterDNS(state).answer("_http._tcp.hl.default.svc.cluster.local.", "SRV")
    assert [rr.rdata for rr in ans.answer] == ["0 100 8080 10-1-0-1.hl.default.svc.cluster.local."]


def test_headless_without_ports_has_a_but_no_srv():
    """A headless service without ports has A records and no SRV (NODATA on the bare name)."""
    state = ClusterState(namespaces=(Namespace("default"),),
                         services=(svc("default", "hl", "None"),),
                         endpoint_slices=(eslice("default", "hl", ep("10.1.0.1")),))
    d = ClusterDNS(state)
    assert d.answer("hl.default.svc.cluster.local.", "A").addresses() == ("10.1.0.1",)
    assert_nodata(d.answer("hl.default.svc.cluster.local.", "SRV"))


def test_endpoint_record_under_clusterip_service(dns):
    """CoreDNS also answers <endpoint>.<clusterip-svc> for ready endpoints."""
    assert dns.answer("10-1-0-5.web.default.svc.cluster.local.", "A").addresses() == ("10.1.0.5",)


def test_endpoint_pod_names_option():
    """With endpoint_pod_names an unnamed endpoint is named after its pod."""
    d = ClusterDNS(spec_cluster(), endpoint_pod_names=True)
    assert d.answer("web-a.web.default.svc.cluster.local.", "A").addresses() == ("10.1.0.5",)
    assert_nxdomain(d.answer("10-1-0-5.web.default.svc.cluster.local.", "A"))


def test_ptr_cluster_ip(dns):
    """PTR of a cluster IP names the service (TTL 5)."""
    ans = dns.answer("1.0.96.10.in-addr.arpa.", "PTR")
    assert texts(ans.answer) == ["1.0.96.10.in-addr.arpa. 5 IN PTR "
                                 "kubernetes.default.svc.cluster.local."]


def test_ptr_ipv6_cluster_ip(dns):
    """PTR of an IPv6 cluster IP uses the 32-nibble ip6.arpa name."""
    name = reverse_name("fd00::1")
    assert name.count(".") == 34
    assert [rr.rdata for rr in dns.answer(name, "PTR").answer] == ["v6.default.svc.cluster.local."]


def test_ptr_headless_endpoint(dns):
    """PTR of a ready headless endpoint names <hostname>.<svc>.<ns>.svc.<zone>."""
    ans = dns.answer("100.0.3.10.in-addr.arpa.", "PTR")
    assert [rr.rdata for rr in ans.answer] == ["my-pet.headless.default.svc.cluster.local."]


def test_ptr_not_ready_and_unknown_are_nxdomain(dns):
    """A not-ready endpoint or an unknown address has no PTR."""
    assert dns.answer("103.0.3.10.in-addr.arpa.", "PTR").rcode == "NXDOMAIN"
    assert dns.answer("9.9.9.10.in-addr.arpa.", "PTR").rcode == "NXDOMAIN"


def test_ptr_ip_in_two_services_gives_two_records():
    """An endpoint address in two services' slices gets one PTR per service."""
    state = ClusterState(
        namespaces=(Namespace("default"),),
        services=(svc("default", "a", "None"), svc("default", "b", "None")),
        endpoint_slices=(eslice("default", "a", ep("10.1.0.1")),
                         eslice("default", "b", ep("10.1.0.1"))))
    ans = ClusterDNS(state).answer("1.0.1.10.in-addr.arpa.", "PTR")
    assert [rr.rdata for rr in ans.answer] == ["10-1-0-1.a.default.svc.cluster.local.",
                                               "10-1-0-1.b.default.svc.cluster.local."]


def test_no_reverse_zone_means_no_ptr():
    """Without reverse zones PTR names are out of zone (upstream: NXDOMAIN, not authoritative)."""
    ans = ClusterDNS(spec_cluster(), reverse_zones=()).answer("1.0.96.10.in-addr.arpa.", "PTR")
    assert ans.rcode == "NXDOMAIN" and not ans.authoritative


def test_external_name_cname_then_target(dns):
    """ExternalName: a CNAME first, then the target's records from the upstream."""
    ans = dns.answer("foo.default.svc.cluster.local.", "A")
    assert [rr.text() for rr in ans.answer] == [
        "foo.default.svc.cluster.local. 5 IN CNAME www.example.com.",
        "www.example.com. 30 IN A 192.0.2.53"]
    ans6 = dns.answer("foo.default.svc.cluster.local.", "AAAA")
    assert [rr.rdata for rr in ans6.answer] == ["www.example.com.", "2001:db8::53"]


def test_external_name_cname_query(dns):
    """A CNAME question on an ExternalName returns the CNAME alone."""
    ans = dns.answer("foo.default.svc.cluster.local.", "CNAME")
    assert texts(ans.answer) == ["foo.default.svc.cluster.local. 5 IN CNAME www.example.com."]


def test_external_name_unknown_target_gives_cname_only():
    """If the upstream says NXDOMAIN for the target, the CNAME still comes alone."""
    ans = ClusterDNS(spec_cluster()).answer("foo.default.svc.cluster.local.", "A")
    assert ans.rcode == "NOERROR" and [rr.type for rr in ans.answer] == ["CNAME"]


def test_external_name_srv_nodata_and_subnames_nxdomain(dns):
    """SRV on an ExternalName is NODATA; _port._proto or endpoint names under it are NXDOMAIN."""
    assert_nodata(dns.answer("foo.default.svc.cluster.local.", "SRV"))
    assert_nxdomain(dns.answer("_http._tcp.foo.default.svc.cluster.local.", "SRV"))
    assert_nxdomain(dns.answer("x.foo.default.svc.cluster.local.", "A"))


def test_external_name_to_in_zone_service():
    """An ExternalName pointing inside the zone is resolved internally (CNAME + A)."""
    state = ClusterState(namespaces=(Namespace("default"),), services=(
        svc("default", "alias", "", type=ServiceType.EXTERNAL_NAME,
            external_name="real.default.svc.cluster.local"),
        svc("default", "real", "10.96.0.77", ServicePort(80))))
    ans = ClusterDNS(state).answer("alias.default.svc.cluster.local.", "A")
    assert [rr.text() for rr in ans.answer] == [
        "alias.default.svc.cluster.local. 5 IN CNAME real.default.svc.cluster.local.",
        "real.default.svc.cluster.local. 5 IN A 10.96.0.77"]


def test_ip_looking_external_name_not_served():
    """An ExternalName that is an IPv4 address is not served (NXDOMAIN)."""
    state = ClusterState(namespaces=(Namespace("default"),), services=(
        svc("default", "ip", "", type=ServiceType.EXTERNAL_NAME, external_name="1.2.3.4"),))
    assert_nxdomain(ClusterDNS(state).answer("ip.default.svc.cluster.local.", "A"))


@pytest.mark.parametrize("name", [
    "missing.default.svc.cluster.local.",      # unknown service
    "kubernetes.nons.svc.cluster.local.",      # unknown namespace
    "nons.svc.cluster.local.",                 # unknown namespace alone
    "example.com.cluster.local.",              # last label neither svc nor pod
    "a.b.c.kubernetes.default.svc.cluster.local.",  # too many labels
    "*.default.svc.cluster.local.",            # wildcards are gone since CoreDNS 1.9.0
    "1-2-3-4.default.pod.cluster.local.",      # pods disabled by default
])
def test_nxdomain_cases(dns, name):
    """Unknown or malformed names are NXDOMAIN with the SOA."""
    assert_nxdomain(dns.answer(name, "A"))


@pytest.mark.parametrize("name,qtype", [
    ("svc.cluster.local.", "A"), ("pod.cluster.local.", "A"), ("default.svc.cluster.local.", "A"),
    ("cluster.local.", "A"), ("kubernetes.default.svc.cluster.local.", "TXT"),
    ("kubernetes.default.svc.cluster.local.", "MX"), ("kubernetes.default.svc.cluster.local.", "HINFO"),
    ("kubernetes.default.svc.cluster.local.", "CNAME"),
])
def test_nodata_cases(dns, name, qtype):
    """Existing names asked for a type they lack, and the structural names, are NODATA."""
    assert_nodata(dns.answer(name, qtype))


def test_txt_on_unknown_name_is_nxdomain(dns):
    """TXT on a name that does not exist is NXDOMAIN."""
    assert_nxdomain(dns.answer("nope.default.svc.cluster.local.", "TXT"))


def test_soa_and_ns_at_apex(dns):
    """The apex answers SOA, and NS with the server address as glue."""
    assert texts(dns.answer("cluster.local.", "SOA").answer) == [f"{Z} 5 IN SOA {SOA}"]
    ans = dns.answer("cluster.local.", "NS")
    assert texts(ans.answer) == ["cluster.local. 5 IN NS ns.dns.cluster.local."]
    assert texts(ans.additional) == ["ns.dns.cluster.local. 5 IN A 10.96.0.10"]


def test_zone_transfer_refused(dns):
    """AXFR is REFUSED."""
    assert dns.answer("cluster.local.", "AXFR").rcode == "REFUSED"


def test_case_insensitive_and_owner_echoes_query_case(dns):
    """Matching ignores case; owner names echo the query; SRV targets keep stored names with
    the zone in query case."""
    ans = dns.answer("KuberNetes.Default.SVC.Cluster.Local.", "A")
    assert [rr.text() for rr in ans.answer] == ["KuberNetes.Default.SVC.Cluster.Local. 5 IN A "
                                                "10.96.0.1"]
    srv = dns.answer("_HTTPS._TCP.kubernetes.default.svc.Cluster.Local.", "SRV")
    assert srv.answer[0].rdata == "0 100 443 kubernetes.default.svc.Cluster.Local."
    nx = dns.answer("nope.default.svc.CLUSTER.LOCAL.", "A")
    assert nx.authority[0].name == "CLUSTER.LOCAL."


def test_configurable_ttl_and_soa_ttl_cap():
    """ttl sets record TTLs and the SOA minimum; the SOA's own TTL is min(ttl, 300)."""
    d = ClusterDNS(spec_cluster(), ttl_s=600)
    assert d.answer("kubernetes.default.svc.cluster.local.", "A").answer[0].ttl == 600
    soa = d.answer("nope.default.svc.cluster.local.", "A").authority[0]
    assert soa.ttl == 300 and soa.rdata.endswith(" 600")


def test_ttl_out_of_range_refused():
    """ttl outside 0..3600 is a user error."""
    with pytest.raises(SimError, match="0..3600"):
        ClusterDNS(spec_cluster(), ttl_s=3601)


def test_cluster_domain_from_state():
    """The zone is the scenario's cluster domain."""
    state = spec_cluster(config=ClusterConfig(cluster_domain="corp.internal"))
    d = ClusterDNS(state)
    assert d.answer("kubernetes.default.svc.corp.internal.", "A").addresses() == ("10.96.0.1",)
    assert d.answer("kubernetes.default.svc.cluster.local.", "A").rcode == "NXDOMAIN"


def test_pods_insecure_and_verified():
    """pods insecure answers any IP-shaped label in an existing namespace; verified only real
    pods of that namespace."""
    ins = ClusterDNS(spec_cluster(), pods="insecure")
    assert ins.answer("1-2-3-4.default.pod.cluster.local.", "A").addresses() == ("1.2.3.4",)
    assert ins.answer("fd00--1.default.pod.cluster.local.", "AAAA").addresses() == ("fd00::1",)
    assert_nxdomain(ins.answer("not-an-ip.default.pod.cluster.local.", "A"))
    assert_nxdomain(ins.answer("1-2-3-4.nons.pod.cluster.local.", "A"))
    ver = ClusterDNS(spec_cluster(), pods="verified")
    assert ver.answer("10-1-0-5.default.pod.cluster.local.", "A").addresses() == ("10.1.0.5",)
    assert_nxdomain(ver.answer("1-2-3-4.default.pod.cluster.local.", "A"))
    assert_nxdomain(ver.answer("10-1-0-5.prod.pod.cluster.local.", "A"))


def test_pod_subdomain_fqdn_via_headless_service():
    """A pod with hostname+subdomain behind a same-named headless service gets its FQDN record."""
    state = ClusterState(
        namespaces=(Namespace("default"),),
        services=(svc("default", "sub", "None", ServicePort(1234, name="foo")),),
        endpoint_slices=(eslice("default", "sub", ep("10.1.0.9", hostname="busybox-1")),),
        pods=(Pod("default", "busybox1", pod_ip="10.1.0.9", hostname="busybox-1",
                  subdomain="sub"),))
    d = ClusterDNS(state)
    assert d.answer("busybox-1.sub.default.svc.cluster.local.", "A").addresses() == ("10.1.0.9",)


def test_out_of_zone_upstream_table(dns):
    """Out-of-zone names come from the upstream table (not authoritative) or are NXDOMAIN."""
    ans = dns.answer("www.example.com.", "A")
    assert ans.rcode == "NOERROR" and not ans.authoritative and ans.addresses() == ("192.0.2.53",)
    nx = dns.answer("nothing.invalid.", "A")
    assert nx.rcode == "NXDOMAIN" and not nx.authoritative and not nx.authority


def test_reverse_name_helpers():
    """reverse_name and address_from_reverse are inverses; partial names give ''."""
    for ip in ("10.96.0.1", "2001:db8::1"):
        assert address_from_reverse(reverse_name(ip)) == ip
    assert address_from_reverse("96.10.in-addr.arpa.") == ""
