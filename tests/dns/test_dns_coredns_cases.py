"""CoreDNS's own expectations: plugin/kubernetes/handler_test.go (TestServeDNS) ported case by
case onto the same fixture (APIConnServeTest's services and endpoints), compared as sorted
record sets the way its SortAndCheck does. The SOA serial (the API's modification time
upstream) is normalised."""

from __future__ import annotations

import pytest

from sim.dns.records import ClusterDNS
from sim.model import (
    ClusterState,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Namespace,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
)

HTTP = ServicePort(80, Protocol.TCP, "http", 80)


def _svc(name, ips, ports=(HTTP,), **kw):
    ip = ips[0] if ips else ""
    return Service("testns", name, cluster_ip=ip, cluster_ips=tuple(ips), ports=ports, **kw)


def _slice(svc, *addrs, ports=(EndpointPort(80, Protocol.TCP, "http"),), ns="testns"):
    eps = tuple(Endpoint((ip,), hostname=host) for ip, host in addrs)
    return EndpointSlice(ns, f"{svc}-slice1", svc, endpoints=eps, ports=ports)


FIXTURE = ClusterState(
    namespaces=(Namespace("testns"), Namespace("kube-system")),
    services=(
        Service("kube-system", "kubedns", cluster_ip="10.0.0.10", cluster_ips=("10.0.0.10",),
                ports=(ServicePort(53, Protocol.UDP, "dns", 53),)),
        _svc("svc1", ["10.0.0.1"]),
        _svc("svcempty", ["10.0.0.1"]),
        _svc("svc6", ["1234:abcd::1"], ip_families=("IPv6",)),
        _svc("hdls1", ["None"], ports=()),
        _svc("external", [], type=ServiceType.EXTERNAL_NAME, external_name="ext.interwebs.test"),
        _svc("external-to-service", [], type=ServiceType.EXTERNAL_NAME,
             external_name="svc1.testns.svc.cluster.local."),
        _svc("hdlsprtls", ["None"], ports=()),
        _svc("svc-dual-stack", ["10.0.0.3", "10::3"]),
    ),
    endpoint_slices=(
        _slice("kubedns", ("172.0.0.100", ""), ports=(EndpointPort(53, Protocol.UDP, "dns"),),
               ns="kube-system"),
        _slice("svc1", ("172.0.0.1", "ep1a")),
        _slice("svcempty"),
        _slice("hdls1", ("172.0.0.2", ""), ("172.0.0.3", ""), ("172.0.0.4", "dup-name"),
               ("172.0.0.5", "dup-name"), ("5678:abcd::1", ""), ("5678:abcd::2", "")),
        _slice("hdlsprtls", ("172.0.0.20", ""), ports=()),
    ),
)

SOA = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"
Z = ".testns.svc.cluster.local."

# (qname, qtype, rcode, answer, authority, additional) straight from handler_test.go.
CASES = [
    ("svc1" + Z, "A", "NOERROR", [f"svc1{Z} 5 IN A 10.0.0.1"], [], []),
    ("svcempty" + Z, "A", "NOERROR", [f"svcempty{Z} 5 IN A 10.0.0.1"], [], []),
    ("svc1" + Z, "SRV", "NOERROR", [f"svc1{Z} 5 IN SRV 0 100 80 svc1{Z}"], [],
     [f"svc1{Z} 5 IN A 10.0.0.1"]),
    ("svcempty" + Z, "SRV", "NOERROR", [f"svcempty{Z} 5 IN SRV 0 100 80 svcempty{Z}"], [],
     [f"svcempty{Z} 5 IN A 10.0.0.1"]),
    ("svc6" + Z, "SRV", "NOERROR", [f"svc6{Z} 5 IN SRV 0 100 80 svc6{Z}"], [],
     [f"svc6{Z} 5 IN AAAA 1234:abcd::1"]),
    ("_http._tcp.svc1" + Z, "SRV", "NOERROR", [f"_http._tcp.svc1{Z} 5 IN SRV 0 100 80 svc1{Z}"],
     [], [f"svc1{Z} 5 IN A 10.0.0.1"]),
    ("_http._tcp.svcempty" + Z, "SRV", "NOERROR",
     [f"_http._tcp.svcempty{Z} 5 IN SRV 0 100 80 svcempty{Z}"], [],
     [f"svcempty{Z} 5 IN A 10.0.0.1"]),
    ("hdls1" + Z, "A", "NOERROR", [f"hdls1{Z} 5 IN A 172.0.0.{i}" for i in (2, 3, 4, 5)], [], []),
    ("hdlsprtls" + Z, "A", "NOERROR", [f"hdlsprtls{Z} 5 IN A 172.0.0.20"], [], []),
    ("svc1" + Z, "AAAA", "NOERROR", [], [SOA], []),
    ("svc0" + Z, "AAAA", "NXDOMAIN", [], [SOA], []),
    ("svc0" + Z, "A", "NXDOMAIN", [], [SOA], []),
    ("svc0.svc-nons.svc.cluster.local.", "A", "NXDOMAIN", [], [SOA], []),
    ("dns-version.cluster.local.", "TXT", "NOERROR",
     ['dns-version.cluster.local. 28800 IN TXT "1.1.0"'], [], []),
    ("svc1" + Z, "TXT", "NOERROR", [], [SOA], []),
    ("svc0.svc-nons.svc.cluster.local.", "TXT", "NXDOMAIN", [], [SOA], []),
    ("bogusendpoint.hdls1" + Z, "A", "NXDOMAIN", [], [SOA], []),
    ("bogusendpoint.svc0" + Z, "A", "NXDOMAIN", [], [SOA], []),
    ("svc6" + Z, "AAAA", "NOERROR", [f"svc6{Z} 5 IN AAAA 1234:abcd::1"], [], []),
    ("_http._tcp.svc6" + Z, "SRV", "NOERROR", [f"_http._tcp.svc6{Z} 5 IN SRV 0 100 80 svc6{Z}"],
     [], [f"svc6{Z} 5 IN AAAA 1234:abcd::1"]),
    ("hdls1" + Z, "AAAA", "NOERROR",
     [f"hdls1{Z} 5 IN AAAA 5678:abcd::1", f"hdls1{Z} 5 IN AAAA 5678:abcd::2"], [], []),
    ("svc.cluster.local.", "A", "NOERROR", [], [SOA], []),
    ("pod.cluster.local.", "A", "NOERROR", [], [SOA], []),
    ("testns.svc.cluster.local.", "A", "NOERROR", [], [SOA], []),
    ("svc.cluster.local.", "NS", "NOERROR", [], [SOA], []),
    ("testns.svc.cluster.local.", "NS", "NOERROR", [], [SOA], []),
    ("foo.cluster.local.", "NS", "NXDOMAIN", [], [SOA], []),
    ("foo.svc.cluster.local.", "NS", "NXDOMAIN", [], [SOA], []),
    ("svc-dual-stack" + Z, "A", "NOERROR", [f"svc-dual-stack{Z} 5 IN A 10.0.0.3"], [], []),
    ("svc-dual-stack" + Z, "AAAA", "NOERROR", [f"svc-dual-stack{Z} 5 IN AAAA 10::3"], [], []),
    ("svc-dual-stack" + Z, "SRV", "NOERROR",
     [f"svc-dual-stack{Z} 5 IN SRV 0 50 80 svc-dual-stack{Z}"], [],
     [f"svc-dual-stack{Z} 5 IN A 10.0.0.3", f"svc-dual-stack{Z} 5 IN AAAA 10::3"]),
    ("svc1" + Z, "SOA", "NOERROR", [], [SOA], []),
    ("endpoint.external" + Z, "CNAME", "NXDOMAIN", [], [SOA], []),
    ("subdomain.subdomain.external" + Z, "CNAME", "NXDOMAIN", [], [SOA], []),
    # dnsTestCases (single-cluster zone)
    ("_http._tcp.hdls1" + Z, "SRV", "NOERROR",
     [f"_http._tcp.hdls1{Z} 5 IN SRV 0 16 80 {t}.hdls1{Z}"
      for t in ("172-0-0-2", "172-0-0-3", "5678-abcd--1", "5678-abcd--2", "dup-name")], [],
     [f"172-0-0-2.hdls1{Z} 5 IN A 172.0.0.2", f"172-0-0-3.hdls1{Z} 5 IN A 172.0.0.3",
      f"5678-abcd--1.hdls1{Z} 5 IN AAAA 5678:abcd::1",
      f"5678-abcd--2.hdls1{Z} 5 IN AAAA 5678:abcd::2",
      f"dup-name.hdls1{Z} 5 IN A 172.0.0.4", f"dup-name.hdls1{Z} 5 IN A 172.0.0.5"]),
    ("5678-abcd--2.hdls1.testns.svc.cluster.local", "AAAA", "NOERROR",
     [f"5678-abcd--2.hdls1{Z} 5 IN AAAA 5678:abcd::2"], [], []),
    ("5678-abcd--1.hdls1" + Z, "AAAA", "NOERROR", [f"5678-abcd--1.hdls1{Z} 5 IN AAAA 5678:abcd::1"],
     [], []),
    ("172-0-0-20.hdlsprtls" + Z, "A", "NOERROR", [f"172-0-0-20.hdlsprtls{Z} 5 IN A 172.0.0.20"],
     [], []),
    ("172-0-0-2.hdls1" + Z, "A", "NOERROR", [f"172-0-0-2.hdls1{Z} 5 IN A 172.0.0.2"], [], []),
    ("172-0-0-3.hdls1" + Z, "A", "NOERROR", [f"172-0-0-3.hdls1{Z} 5 IN A 172.0.0.3"], [], []),
    ("dup-name.hdls1" + Z, "A", "NOERROR",
     [f"dup-name.hdls1{Z} 5 IN A 172.0.0.4", f"dup-name.hdls1{Z} 5 IN A 172.0.0.5"], [], []),
    ("external" + Z, "CNAME", "NOERROR", [f"external{Z} 5 IN CNAME ext.interwebs.test."], [], []),
    ("external" + Z, "A", "NOERROR",
     ["ext.interwebs.test. 5 IN A 1.2.3.4", f"external{Z} 5 IN CNAME ext.interwebs.test."], [], []),
    ("external-to-service.testns.svc.cluster.local", "A", "NOERROR",
     [f"external-to-service{Z} 5 IN CNAME svc1{Z}", f"svc1{Z} 5 IN A 10.0.0.1"], [], []),
]


@pytest.fixture(scope="module")
def coredns():
    # The upstream stub answers ext.interwebs.test with TTL 5.
    return ClusterDNS(FIXTURE, upstream={"ext.interwebs.test": ["1.2.3.4"]}, upstream_ttl_s=5)


@pytest.mark.parametrize("qname,qtype,rcode,answer,authority,additional", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_handler_case(coredns, qname, qtype, rcode, answer, authority, additional):
    """Each TestServeDNS case: same rcode and the same records in every section."""
    got = coredns.answer(qname, qtype)
    assert got.rcode == rcode
    assert sorted(rr.text() for rr in got.answer) == sorted(answer)
    assert sorted(rr.text() for rr in got.authority) == sorted(authority)
    assert sorted(rr.text() for rr in got.additional) == sorted(additional)
    # CNAMEs never come after their targets (test.CNAMEOrder).
    types = [rr.type for rr in got.answer]
    assert types == sorted(types, key=lambda t: t != "CNAME")


# reverse_test.go (TestReverse): zones cluster.local and the CIDR-style reverse zone
# 0.10.in-addr.arpa; svc1 has cluster IP 192.168.1.100 and a ready endpoint ep1a 10.0.0.100.
REVERSE = ClusterState(
    namespaces=(Namespace("testns"),),
    services=(Service("testns", "svc1", cluster_ip="192.168.1.100",
                      cluster_ips=("192.168.1.100",), ports=(HTTP,)),
              Service("testns", "svc2", cluster_ip="192.168.1.101",
                      cluster_ips=("192.168.1.101",), ports=(HTTP,))),
    endpoint_slices=(_slice("svc1", ("10.0.0.100", "ep1a"), ("10.0.0.99", "double-ep")),
                     _slice("svc2", ("10.0.0.99", "double-ep"))))
RSOA = ("0.10.in-addr.arpa. 5 IN SOA ns.dns.0.10.in-addr.arpa. hostmaster.0.10.in-addr.arpa. "
        "1 7200 1800 86400 5")
REVERSE_CASES = [
    ("100.0.0.10.in-addr.arpa.", "PTR", "NOERROR",
     ["100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local."], []),
    ("101.0.0.10.in-addr.arpa.", "PTR", "NXDOMAIN", [], [RSOA]),
    ("example.org.cluster.local.", "PTR", "NXDOMAIN", [], [SOA]),
    ("svc1.testns.svc.cluster.local.", "PTR", "NOERROR", [], [SOA]),
    ("svc1.testns.svc.0.10.in-addr.arpa.", "A", "NXDOMAIN", [], [RSOA]),
    ("100.0.0.10.cluster.local.", "PTR", "NXDOMAIN", [], [SOA]),
    ("99.0.0.10.in-addr.arpa.", "PTR", "NOERROR",
     ["99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc1.testns.svc.cluster.local.",
      "99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc2.testns.svc.cluster.local."], []),
]


@pytest.mark.parametrize("qname,qtype,rcode,answer,authority", REVERSE_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in REVERSE_CASES])
def test_reverse_case(qname, qtype, rcode, answer, authority):
    """Each TestReverse case with a CIDR-style reverse zone: PTRs for endpoints (one per
    service), NXDOMAIN with that zone's SOA, forward-zone names with the cluster SOA."""
    d = ClusterDNS(REVERSE, reverse_zones=("0.10.in-addr.arpa",))
    got = d.answer(qname, qtype)
    assert got.rcode == rcode
    assert sorted(rr.text() for rr in got.answer) == sorted(answer)
    assert sorted(rr.text() for rr in got.authority) == sorted(authority)
