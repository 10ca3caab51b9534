"""Property tests: records against the cluster they come from, the wire server against the
record store, and the stub resolver's query sequences against the glibc/musl rules."""

from __future__ import annotations

import math

import dns.flags
import dns.message
import dns.rcode
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.dns.records import RR, Answer, ClusterDNS, reverse_name
from sim.dns.resolver import StubResolver
from sim.dns.server import DNSHandler
from sim.kubelet.resolvconf import ResolvConf
from sim.model import (
    ClusterState,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Namespace,
    Protocol,
    Service,
    ServicePort,
)

LABEL = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


@st.composite
def clusters(draw):
    """1-4 services in namespace `ns`, each ClusterIP or headless, 0-3 ports (named or not),
    0-5 endpoints with random readiness and optional hostnames; unique IPs."""
    names = draw(st.lists(LABEL, min_size=1, max_size=4, unique=True))
    services, slices = [], []
    ip_n = 1
    for i, name in enumerate(names):
        headless = draw(st.booleans())
        nports = draw(st.integers(0 if headless else 1, 3))
        ports = tuple(ServicePort(1000 + k, draw(st.sampled_from([Protocol.TCP, Protocol.UDP])),
                                  f"p{k}" if draw(st.booleans()) or nports > 1 else "", 2000 + k)
                      for k in range(nports))
        ip = "None" if headless else f"10.96.0.{i + 1}"
        services.append(Service("ns", name, cluster_ip=ip,
                                cluster_ips=() if headless else (ip,), ports=ports))
        eps = []
        for _ in range(draw(st.integers(0, 5))):
            host = draw(st.sampled_from(["", "", "h" + str(ip_n)]))
            eps.append(Endpoint((f"10.1.0.{ip_n}",), ready=draw(st.booleans()), hostname=host))
            ip_n += 1
        slices.append(EndpointSlice("ns", f"{name}-x", name, endpoints=tuple(eps),
                                    ports=tuple(EndpointPort(p.target_port, p.protocol, p.name)
                                                for p in ports)))
    return ClusterState(namespaces=(Namespace("ns"),), services=tuple(services),
                        endpoint_slices=tuple(slices))


def ready_ips(state, svc):
    return sorted(a for sl in state.slices_for(svc) for e in sl.endpoints if e.is_ready
                  for a in e.addresses)


def ep_name(ep):
    return ep.hostname or ep.addresses[0].replace(".", "-")


@settings(max_examples=60)
@given(clusters())
def test_headless_a_is_exactly_the_ready_endpoints(state):
    """Headless A answers are the ready endpoint IPs; NXDOMAIN exactly when there are none."""
    d = ClusterDNS(state)
    for svc in state.services:
        ans = d.answer(f"{svc.name}.ns.svc.cluster.local.", "A")
        if svc.is_headless:
            want = ready_ips(state, svc)
            assert sorted(ans.addresses()) == want
            assert ans.is_nxdomain == (not want)
        else:
            assert ans.addresses() == (svc.cluster_ip,)


@settings(max_examples=60)
@given(clusters())
def test_every_ready_endpoint_has_a_ptr_and_a_name(state):
    """Each ready endpoint's IP has a PTR to <name>.<svc>.ns.svc.cluster.local, and that name
    resolves back to the IP; not-ready endpoints have neither."""
    d = ClusterDNS(state)
    for svc in state.services:
        for sl in state.slices_for(svc):
            for ep in sl.endpoints:
                target = f"{ep_name(ep)}.{svc.name}.ns.svc.cluster.local."
                ptr = d.answer(reverse_name(ep.addresses[0]), "PTR")
                fwd = d.answer(target, "A")
                if ep.is_ready:
                    assert [rr.rdata for rr in ptr.answer] == [target]
                    assert fwd.addresses() == ep.addresses
                else:
                    assert ptr.is_nxdomain and fwd.is_nxdomain


@settings(max_examples=60)
@given(clusters())
def test_named_port_srv_counts_and_weights(state):
    """_name._proto SRV: one record per distinct target, weight floor(100/N), priority 0."""
    d = ClusterDNS(state)
    for svc in state.services:
        for p in svc.ports:
            if not p.name:
                continue
            ans = d.answer(f"_{p.name}._{p.protocol.value.lower()}.{svc.name}.ns.svc.cluster.local.",
                           "SRV")
            n = len(ready_ips(state, svc)) if svc.is_headless else 1
            if n == 0:
                assert ans.is_nxdomain
                continue
            weights = {rr.rdata.split()[1] for rr in ans.answer}
            assert len(ans.answer) == n
            assert weights == {str(max(1, math.floor(100 / n)))}
            assert all(rr.rdata.startswith("0 ") for rr in ans.answer)
            port = p.target_port if svc.is_headless else p.port
            assert all(rr.rdata.split()[2] == str(port) for rr in ans.answer)


@settings(max_examples=40)
@given(clusters(), st.data())
def test_matching_ignores_case(state, data):
    """Any mix of upper and lower case gets the same data as the lower-case name."""
    d = ClusterDNS(state)
    svc = data.draw(st.sampled_from(state.services))
    name = f"{svc.name}.ns.svc.cluster.local."
    mixed = "".join(c.upper() if data.draw(st.booleans()) else c for c in name)
    a, b = d.answer(name, "A"), d.answer(mixed, "A")
    assert (a.rcode, sorted(a.addresses())) == (b.rcode, sorted(b.addresses()))
    assert all(rr.name == mixed for rr in b.answer)


@settings(max_examples=60)
@given(clusters(), st.data())
def test_wire_answer_equals_record_store(state, data):
    """Through the wire server (dnspython encode/decode), rcode, flags and every section
    equal what the record store answered; an answer too large for UDP comes back truncated
    (TC, no records) and complete over TCP, as a client's retry gets it."""
    d = ClusterDNS(state)
    handler = DNSHandler(d)
    svc = data.draw(st.sampled_from(state.services))
    qname = data.draw(st.sampled_from([
        f"{svc.name}.ns.svc.cluster.local.", f"x.{svc.name}.ns.svc.cluster.local.",
        f"_p0._tcp.{svc.name}.ns.svc.cluster.local.", "ns.svc.cluster.local.",
        "dns-version.cluster.local.", "1.0.96.10.in-addr.arpa.", "1.0.1.10.in-addr.arpa."]))
    qtype = data.draw(st.sampled_from(["A", "AAAA", "SRV", "PTR", "TXT", "MX", "SOA"]))
    expected = d.answer(qname, qtype)
    query = dns.message.make_query(qname, qtype).to_wire()
    reply = dns.message.from_wire(handler.handle(query))
    if reply.flags & dns.flags.TC:
        assert not (reply.answer or reply.authority or reply.additional)
        reply = dns.message.from_wire(handler.handle(query, udp=False))
        assert not reply.flags & dns.flags.TC
    assert dns.rcode.to_text(reply.rcode()) == expected.rcode

    def wire(section):
        return sorted(" ".join(line.split()) for rrset in section
                      for line in rrset.to_text().splitlines())

    def ours(rrs):
        return sorted(" ".join(rr.text().split()) for rr in rrs)

    assert wire(reply.answer) == ours(expected.answer)
    assert wire(reply.authority) == ours(expected.authority)
    assert wire(reply.additional) == ours(expected.additional)


NAMES = st.lists(LABEL, min_size=1, max_size=6).map(".".join)
SEARCHES = st.lists(st.lists(LABEL, min_size=1, max_size=3).map(".".join), min_size=0,
                    max_size=6, unique=True)


def nxdomain_everything(qname, qtype):
    return Answer("NXDOMAIN")


def drive(resolver, name, answer):
    lk = resolver.start(name)
    while not lk.done:
        for q, t in lk.pending():
            lk.feed(q, t, answer(q, t))
    return lk


@settings(max_examples=100)
@given(NAMES, st.booleans(), SEARCHES, st.integers(1, 15))
def test_glibc_query_sequence_rule(name, trailing, searches, ndots):
    """glibc, nothing found: as is first iff dots >= ndots (or absolute, then only that),
    then every search domain in order, then as is if not tried yet; A and AAAA each time."""
    rc = ResolvConf(("10.96.0.10",), tuple(searches), (f"ndots:{ndots}",))
    full = name + ("." if trailing else "")
    lk = drive(StubResolver(rc, "glibc"), full, nxdomain_everything)
    dots = name.count(".")
    if trailing:
        want = [name + "."]
    else:
        want = [f"{name}.{s}." for s in searches]
        want = ([name + "."] + want) if dots >= ndots else (want + [name + "."])
    assert [q for q, _ in lk.queries] == [n for n in want for _ in (0, 1)]
    assert [t for _, t in lk.queries] == ["A", "AAAA"] * len(want)
    assert lk.error == "HOST_NOT_FOUND"


@settings(max_examples=100)
@given(NAMES, st.booleans(), SEARCHES, st.integers(1, 15))
def test_musl_query_sequence_rule(name, trailing, searches, ndots):
    """musl, nothing found: search domains only when dots < ndots and relative, then as is."""
    rc = ResolvConf(("10.96.0.10",), tuple(searches), (f"ndots:{ndots}",))
    lk = drive(StubResolver(rc, "musl"), name + ("." if trailing else ""), nxdomain_everything)
    searched = not trailing and name.count(".") < ndots
    want = ([f"{name}.{s}." for s in searches] if searched else []) + [name + "."]
    assert [q for q, _ in lk.queries][::2] == want
    assert lk.error == "EAI_NONAME"


@settings(max_examples=100)
@given(NAMES, SEARCHES, st.integers(1, 15), st.sampled_from(["glibc", "musl"]), st.data())
def test_search_stops_at_the_first_answer(name, searches, ndots, flavour, data):
    """Whichever candidate answers first ends the lookup: 2 x (its position + 1) queries."""
    rc = ResolvConf(("10.96.0.10",), tuple(searches), (f"ndots:{ndots}",))
    resolver = StubResolver(rc, flavour)
    candidates = resolver.candidates(name)
    k = data.draw(st.integers(0, len(candidates) - 1))

    def answer(qname, qtype):
        # NXDOMAIN is about the name, so the answering name's AAAA is NODATA, not NXDOMAIN.
        if qname == candidates[k]:
            return Answer("NOERROR", answer=(RR(qname, "A", 5, "192.0.2.1"),) if qtype == "A"
                          else ())
        return Answer("NXDOMAIN")

    lk = drive(resolver, name, answer)
    assert lk.addresses == ("192.0.2.1",) and lk.queries_sent == 2 * (k + 1)
