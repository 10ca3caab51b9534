"""Stub resolver: search-list expansion and query counts as glibc and musl do them."""

from __future__ import annotations

import pytest
from dns_cluster import spec_cluster, svc

from sim.dns.records import RR, Answer, ClusterDNS
from sim.dns.resolver import StubResolver
from sim.kubelet.resolvconf import ResolvConf
from sim.model import ClusterState, ServicePort
from sim.model.errors import SimError

SEARCH = ("my-ns.svc.cluster.local", "svc.cluster.local", "cluster.local")
RC = ResolvConf(("10.96.0.10",), SEARCH, ("ndots:5",))
RC_HOST = ResolvConf(("10.96.0.10",), SEARCH + ("corp.example",), ("ndots:5",))


def cluster():
    """spec_cluster plus my-service in my-ns and an upstream with example.com."""
    st = spec_cluster()
    extra = svc("my-ns", "my-service", "10.96.5.5", ServicePort(80, name="http"))
    st = ClusterState(namespaces=st.namespaces, services=st.services + (extra,),
                  endpoint_slices=st.endpoint_slices, pods=st.pods)
    return ClusterDNS(st, upstream={"example.com": ["93.184.216.34"],
                                    "a.b.c.d.e.example": ["192.0.2.7"],
                                    "a.b.c.d.example": ["192.0.2.8"]})


DNS = cluster()


def run(resolver, name, family="UNSPEC", answer=DNS.answer):
    lookup = resolver.start(name, family)
    while not lookup.done:
        for qname, qtype in lookup.pending():
            lookup.feed(qname, qtype, answer(qname, qtype))
    return lookup


def names(lookup):
    return [q for q, _ in lookup.queries]


@pytest.fixture(params=["glibc", "musl"])
def flavour(request):
    return request.param


def test_short_name_found_in_own_namespace_costs_two_queries(flavour):
    """`my-service` from my-ns: the first search candidate answers; A+AAAA = 2 queries."""
    lk = run(StubResolver(RC, flavour), "my-service")
    assert lk.queries == [("my-service.my-ns.svc.cluster.local.", "A"),
                          ("my-service.my-ns.svc.cluster.local.", "AAAA")]
    assert lk.addresses == ("10.96.5.5",) and lk.error == ""


def test_service_dot_namespace_costs_four_queries(flavour):
    """`my-service.my-ns`: the ns search candidate is NXDOMAIN, the svc one answers: 4 queries."""
    lk = run(StubResolver(RC, flavour), "my-service.my-ns")
    assert names(lk) == ["my-service.my-ns.my-ns.svc.cluster.local."] * 2 + \
        ["my-service.my-ns.svc.cluster.local."] * 2
    assert lk.queries_sent == 4 and lk.addresses == ("10.96.5.5",)


def test_external_name_walks_whole_search_list(flavour):
    """`example.com` (1 dot < ndots 5): three cluster suffixes, one host suffix, then as is:
    2 x (4 + 1) = 10 queries, answered on the last."""
    lk = run(StubResolver(RC_HOST, flavour), "example.com")
    assert names(lk)[::2] == ["example.com.my-ns.svc.cluster.local.",
                              "example.com.svc.cluster.local.", "example.com.cluster.local.",
                              "example.com.corp.example.", "example.com."]
    assert lk.queries_sent == 10 and lk.addresses == ("93.184.216.34",)
    assert lk.answered_name == "example.com."


def test_trailing_dot_costs_two_queries(flavour):
    """`example.com.` is absolute: only the name itself, A and AAAA."""
    lk = run(StubResolver(RC_HOST, flavour), "example.com.")
    assert lk.queries == [("example.com.", "A"), ("example.com.", "AAAA")]


def test_four_dot_cluster_name_still_searches(flavour):
    """`kubernetes.default.svc.cluster.local` has 4 dots < 5: glibc and musl search first."""
    lk = run(StubResolver(RC, flavour), "kubernetes.default.svc.cluster.local")
    assert lk.queries_sent == 8 and lk.answered_name == "kubernetes.default.svc.cluster.local."


def test_five_dot_name_glibc_tries_as_is_first():
    """glibc: a 5-dot name (>= ndots) is tried as is first: found, 2 queries."""
    lk = run(StubResolver(RC, "glibc"), "a.b.c.d.e.example")
    assert lk.queries_sent == 2 and lk.addresses == ("192.0.2.7",)


def test_five_dot_name_glibc_not_found_then_searches():
    """glibc: when the as-is try fails, the search list follows (no final as-is)."""
    lk = run(StubResolver(RC, "glibc"), "x.b.c.d.e.example")
    assert names(lk)[::2] == ["x.b.c.d.e.example.", "x.b.c.d.e.example.my-ns.svc.cluster.local.",
                              "x.b.c.d.e.example.svc.cluster.local.",
                              "x.b.c.d.e.example.cluster.local."]
    assert lk.error == "HOST_NOT_FOUND" and lk.queries_sent == 8


def test_five_dot_name_musl_never_searches():
    """musl: a name with >= ndots dots skips the search list entirely."""
    lk = run(StubResolver(RC, "musl"), "x.b.c.d.e.example")
    assert lk.queries == [("x.b.c.d.e.example.", "A"), ("x.b.c.d.e.example.", "AAAA")]
    assert lk.error == "EAI_NONAME"


def test_four_dot_external_name_costs_eight(flavour):
    """A 4-dot external name walks 3 suffixes then as is: 8 queries."""
    lk = run(StubResolver(RC, flavour), "a.b.c.d.example")
    assert lk.queries_sent == 8 and lk.addresses == ("192.0.2.8",)


def test_missing_service_costs_full_list(flavour):
    """A name that exists nowhere costs 2 x (3 + 1) queries and ends in a name error."""
    lk = run(StubResolver(RC, flavour), "nosuch")
    assert lk.queries_sent == 8
    assert lk.error == ("HOST_NOT_FOUND" if flavour == "glibc" else "EAI_NONAME")


def test_inet_family_sends_a_only(flavour):
    """AF_INET sends only A queries: `my-service.my-ns` costs 2."""
    lk = run(StubResolver(RC, flavour), "my-service.my-ns", family="INET")
    assert [t for _, t in lk.queries] == ["A", "A"]


def _nodata_first(qname, qtype):
    """A server where the first search candidate exists but has no address records."""
    if qname.startswith("svc2.my-ns."):
        return Answer("NOERROR", authority=(RR("cluster.local.", "SOA", 5, "x"),))
    return DNS.answer(qname.replace("svc2", "my-service"), qtype)


def test_glibc_continues_after_nodata():
    """glibc keeps searching after a NODATA candidate."""
    lk = run(StubResolver(RC, "glibc"), "svc2", answer=_nodata_first)
    assert lk.queries_sent == 8 and lk.error == "NO_DATA"


def test_musl_stops_on_nodata():
    """musl stops at the first NODATA candidate with EAI_NODATA."""
    lk = run(StubResolver(RC, "musl"), "svc2", answer=_nodata_first)
    assert lk.queries_sent == 2 and lk.error == "EAI_NODATA"


def _servfail_first(qname, qtype):
    if ".my-ns.svc." in qname:
        return Answer("SERVFAIL", authoritative=False)
    return DNS.answer(qname, qtype)


def test_glibc_continues_after_servfail_musl_stops():
    """SERVFAIL: glibc tries the next suffix; musl gives up with EAI_AGAIN."""
    glibc = run(StubResolver(RC, "glibc"), "kubernetes.default", answer=_servfail_first)
    assert glibc.addresses == ("10.96.0.1",) and glibc.queries_sent == 4
    musl = run(StubResolver(RC, "musl"), "kubernetes.default", answer=_servfail_first)
    assert musl.error == "EAI_AGAIN" and musl.queries_sent == 2


def _refused_first(qname, qtype):
    if ".my-ns.svc." in qname:
        return Answer("REFUSED", authoritative=False)
    return DNS.answer(qname, qtype)


def test_glibc_refused_stops_search_but_tries_as_is():
    """glibc: REFUSED ends the search loop; the name as is is still tried last."""
    lk = run(StubResolver(RC, "glibc"), "example.com", answer=_refused_first)
    assert names(lk)[::2] == ["example.com.my-ns.svc.cluster.local.", "example.com."]
    assert lk.addresses == ("93.184.216.34",)


def test_timeout_is_try_again():
    """No reply at all (None fed) stops glibc's search and yields TRY_AGAIN if as-is fails."""
    lk = run(StubResolver(RC, "glibc"), "nosuch", answer=lambda q, t: None)
    assert names(lk)[::2] == ["nosuch.my-ns.svc.cluster.local.", "nosuch."]
    assert lk.error == "TRY_AGAIN"


def test_search_dot_means_as_is_in_place():
    """A '.' search entry queries the name as is in that position and suppresses the final try."""
    rc = ResolvConf(("10.96.0.10",), ("my-ns.svc.cluster.local", "."), ("ndots:5",))
    assert StubResolver(rc).candidates("nosuch") == ["nosuch.my-ns.svc.cluster.local.", "nosuch."]


def test_hosts_file_answers_without_queries(flavour):
    """A name in /etc/hosts costs no DNS query."""
    r = StubResolver(RC, flavour, hosts=[("10.1.0.7", ("web-0",))])
    lk = r.start("WEB-0")
    assert lk.done and lk.addresses == ("10.1.0.7",) and lk.queries_sent == 0 and lk.from_hosts


def test_pending_returns_each_query_once(flavour):
    """pending() hands out the A/AAAA pair once; feeding the wrong name is an error."""
    lk = StubResolver(RC, flavour).start("my-service")
    assert len(lk.pending()) == 2 and lk.pending() == []
    with pytest.raises(SimError):
        lk.feed("other.", "A", None)


def test_unknown_flavour_refused():
    """Only glibc and musl exist."""
    with pytest.raises(SimError):
        StubResolver(RC, "bionic")


def test_connection_refused_glibc_gives_up_musl_waits(flavour):
    """ICMP port unreachable: glibc (connected socket, ECONNREFUSED) fails at once with
    TRY_AGAIN; musl (unconnected socket) does not see it and keeps waiting."""
    lk = StubResolver(RC, flavour).start("my-service")
    lk.pending()
    lk.refused()
    if flavour == "glibc":
        assert lk.done and lk.error == "TRY_AGAIN" and lk.queries_sent == 2
    else:
        assert not lk.done


def test_single_request_sends_a_then_aaaa():
    """glibc `options single-request`: the AAAA query waits for the A answer."""
    rc = ResolvConf(("10.96.0.10",), SEARCH, ("ndots:5", "single-request"))
    lk = StubResolver(rc, "glibc").start("my-service")
    first = lk.pending()
    assert first == [("my-service.my-ns.svc.cluster.local.", "A")] and lk.pending() == []
    lk.feed(*first[0], DNS.answer(*first[0]))
    second = lk.pending()
    assert second == [("my-service.my-ns.svc.cluster.local.", "AAAA")]
    lk.feed(*second[0], DNS.answer(*second[0]))
    assert lk.done and lk.addresses == ("10.96.5.5",) and lk.queries_sent == 2


def test_musl_ignores_single_request():
    """musl has no single-request option: A and AAAA still go out together."""
    rc = ResolvConf(("10.96.0.10",), SEARCH, ("ndots:5", "single-request-reopen"))
    assert len(StubResolver(rc, "musl").start("my-service").pending()) == 2


def test_no_tld_query_skips_bare_single_label():
    """glibc `options no-tld-query`: a single-label name is not tried as is after the search;
    a dotted one still is."""
    rc = ResolvConf(("10.96.0.10",), SEARCH, ("ndots:5", "no-tld-query"))
    r = StubResolver(rc, "glibc")
    assert r.candidates("nosuch")[-1] == "nosuch.cluster.local."
    assert r.candidates("a.b")[-1] == "a.b."
    assert run(r, "nosuch").queries_sent == 6


LONG_LABEL = "x" * 64
LONG_NAME = ".".join(["abcdefghij"] * 28)  # 307 characters, 27 dots, labels of 10


@pytest.mark.parametrize("name", ["", "a..b", f"{LONG_LABEL}.example.com", LONG_NAME, ".a"])
def test_glibc_sends_no_query_for_a_name_no_query_can_carry(name):
    """glibc: res_nmkquery cannot encode an empty name, an empty label, a label over 63 bytes
    or a name over 255 bytes, so no packet leaves and getaddrinfo fails with NO_RECOVERY."""
    lk = run(StubResolver(RC, "glibc"), name)
    assert (lk.queries, lk.addresses, lk.error) == ([], (), "NO_RECOVERY")


@pytest.mark.parametrize("name", ["", "a..b", f"{LONG_LABEL}.example.com", LONG_NAME])
def test_musl_sends_no_query_for_a_name_no_query_can_carry(name):
    """musl: the name (or every candidate) fails __res_mkquery or the length check in
    lookup_name.c: no query, EAI_NONAME."""
    lk = run(StubResolver(RC, "musl"), name)
    assert (lk.queries, lk.addresses, lk.error) == ([], (), "EAI_NONAME")


def test_glibc_too_long_search_candidate_stops_the_search_then_tries_as_is():
    """A name that fits alone but not with the first search domain appended: glibc's search
    loop stops at that (unbuildable) candidate, then the name is queried as is."""
    name = ".".join(["y" * 60] * 3) + ".ab"  # 186 characters, 3 dots
    rc = ResolvConf(("10.96.0.10",), ("z" * 63 + ".example",) + SEARCH, ("ndots:5",))
    lk = run(StubResolver(rc, "glibc"), name)
    assert names(lk) == [name + ".", name + "."]
    assert lk.error == "HOST_NOT_FOUND"


def test_candidates_leave_out_unencodable_names():
    """candidates() lists only the names a query can carry."""
    assert StubResolver(RC, "glibc").candidates("a..b") == []
