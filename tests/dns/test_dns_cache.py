"""DNS cache with CoreDNS cache-plugin semantics."""

from __future__ import annotations

from sim.dns.cache import DNSCache, classify
from sim.dns.records import RR, Answer

SOA = RR("cluster.local.", "SOA", 30, "ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30")


def pos(ttl=300, name="x.example."):
    return Answer("NOERROR", answer=(RR(name, "A", ttl, "10.0.0.1"),))


def nx(soa=SOA):
    return Answer("NXDOMAIN", authority=(soa,) if soa else ())


def test_cap_written_into_reply_and_countdown():
    """With `cache 30` a 300 s record is served with TTL 30, then the remaining TTL."""
    c = DNSCache(success_ttl_s=30, denial_ttl_s=30)
    assert c.store("x.example.", "A", pos(), 100.0).answer[0].ttl == 30
    assert c.lookup("x.example.", "A", 110.9).answer[0].ttl == 20
    assert c.lookup("x.example.", "A", 130.0) is None


def test_min_ttl_raises_short_ttls():
    """A 1 s record is cached (and served) for the 5 s MINTTL."""
    c = DNSCache()
    assert c.store("x.example.", "A", pos(ttl=1), 0.0).answer[0].ttl == 5
    assert c.lookup("x.example.", "A", 4.0) is not None
    assert c.lookup("x.example.", "A", 5.0) is None


def test_denial_cached_with_soa_ttl():
    """NXDOMAIN with an SOA is cached for the SOA record's TTL (bounded by the denial cap)."""
    c = DNSCache()
    c.store("n.cluster.local.", "A", nx(), 0.0)
    hit = c.lookup("n.cluster.local.", "A", 29.0)
    assert hit.rcode == "NXDOMAIN" and hit.authority[0].ttl == 1
    assert c.lookup("n.cluster.local.", "A", 30.0) is None


def test_nxdomain_without_soa_not_cached():
    """A denial without SOA has no TTL and is not stored."""
    c = DNSCache()
    c.store("n.example.", "A", nx(soa=None), 0.0)
    assert c.lookup("n.example.", "A", 0.0) is None


def test_servfail_cached_briefly_and_refused_never():
    """SERVFAIL is cached for servfail_ttl_s (5 s); REFUSED is not cached."""
    c = DNSCache()
    c.store("s.example.", "A", Answer("SERVFAIL"), 0.0)
    assert c.lookup("s.example.", "A", 4.0).rcode == "SERVFAIL"
    assert c.lookup("s.example.", "A", 5.0) is None
    c.store("r.example.", "A", Answer("REFUSED"), 0.0)
    assert c.lookup("r.example.", "A", 0.0) is None


def test_key_is_case_insensitive_and_per_type():
    """The key is the lower-case name and the type."""
    c = DNSCache()
    c.store("X.Example.", "A", pos(), 0.0)
    assert c.lookup("x.example.", "A", 1.0) is not None
    assert c.lookup("x.example.", "AAAA", 1.0) is None


def test_disabled_zone_not_stored_but_ttl_still_capped():
    """`disable success cluster.local`: not stored, yet the reply TTL is still capped."""
    c = DNSCache(success_ttl_s=30, disabled_zones=("cluster.local",))
    reply = c.store("a.ns.svc.cluster.local.", "A", pos(ttl=60, name="a.ns.svc.cluster.local."), 0)
    assert reply.answer[0].ttl == 30
    assert c.lookup("a.ns.svc.cluster.local.", "A", 1.0) is None


def test_capacity_evicts_oldest():
    """Beyond capacity the oldest entry goes."""
    c = DNSCache(capacity=2)
    for i in range(3):
        c.store(f"h{i}.example.", "A", pos(name=f"h{i}.example."), 0.0)
    assert c.lookup("h0.example.", "A", 1.0) is None
    assert c.lookup("h2.example.", "A", 1.0) is not None


def test_classify():
    """Typify: answers -> success, NODATA/NXDOMAIN with SOA -> denial, SERVFAIL -> error."""
    assert classify(pos()) == "success"
    assert classify(Answer("NOERROR", authority=(SOA,))) == "denial"
    assert classify(nx()) == "denial"
    assert classify(Answer("SERVFAIL")) == "error"
    assert classify(Answer("REFUSED")) == "other"


def test_hit_and_miss_counters():
    """hits and misses count lookups."""
    c = DNSCache()
    c.lookup("x.example.", "A", 0.0)
    c.store("x.example.", "A", pos(), 0.0)
    c.lookup("x.example.", "A", 1.0)
    assert (c.hits, c.misses) == (1, 1)


def test_upstream_compute_ttl_table():
    """cache_test.go TestComputeTTL: min(max(msgTTL, min), max) for its four rows."""
    for msg_ttl, lo, hi, want in ((1800, 300, 3600, 1800), (299, 300, 3600, 300),
                                  (299, 0, 3600, 299), (3601, 300, 3600, 3600)):
        c = DNSCache(success_ttl_s=hi, min_success_ttl_s=lo)
        assert c.store("x.example.", "A", pos(ttl=msg_ttl), 0.0).answer[0].ttl == want


def test_zero_ttl_not_cached():
    """TestCacheZeroTTL: with MINTTL 0 a TTL-0 answer is not stored."""
    c = DNSCache(min_success_ttl_s=0, min_denial_ttl_s=0)
    c.store("x.example.", "A", pos(ttl=0), 0.0)
    assert len(c) == 0


def test_configured_max_above_default_honoured():
    """TestCacheHonorsConfiguredPositiveMaxTTLAboveDefault: cap 2 h, a 1-day record -> 7200."""
    c = DNSCache(success_ttl_s=7200, min_success_ttl_s=0)
    assert c.store("x.example.", "A", pos(ttl=86400), 0.0).answer[0].ttl == 7200


def test_servfail_ttl_zero_not_cached():
    """TestCacheServfailTTL0: `servfail 0` disables SERVFAIL caching."""
    c = DNSCache(servfail_ttl_s=0)
    c.store("x.example.", "A", Answer("SERVFAIL"), 0.0)
    assert len(c) == 0
