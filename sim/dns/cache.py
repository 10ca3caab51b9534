"""A DNS answer cache with CoreDNS ``cache`` plugin semantics (plugin/cache).

The caller passes the clock (``now_s``) so the same cache serves the simulated world (SimPy
time) and the real wire server (monotonic time).

Upstream rules modelled (``cache.go ResponseWriter.WriteMsg/set``, ``item.go``,
``pkg/dnsutil/ttl.go MinimalTTLWithMaximum``, ``pkg/response/typify.go``):

- classification: NOERROR with answers = success; NXDOMAIN and NOERROR-without-answers with
  an SOA = denial; SERVFAIL (and NOTIMP) = server error; anything else is not cached;
  NXDOMAIN without an SOA is not cached (no denial TTL);
- duration = min(max(lowest TTL in the message, MINTTL), cap); a message without records gets
  the 5 s fail-safe; caps default to 3600 s (success) and 1800 s (denial), MINTTL to 5 s;
  SERVFAIL is cached for ``servfail_ttl_s`` (5 s);
- the capped duration is written into the reply (every record's TTL), and a cache hit reports
  the remaining TTL (original duration minus the seconds elapsed, truncated);
- key = (lower-case name, type); capacity per kind with eviction of the oldest entry when full
  (upstream evicts a random entry of a shard; we evict deterministically).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from sim.dns.records import NOERROR, NOTIMP, NXDOMAIN, SERVFAIL, Answer

MAX_TTL_S = 3600  # dnsutil.MaximumDefaultTTL
MAX_DENIAL_TTL_S = 1800  # cache.go maxNTTL = MaximumDefaultTTL / 2
MIN_TTL_S = 5  # dnsutil.MinimalDefaultTTL
DEFAULT_CAPACITY = 10000  # cache.go defaultCap


@dataclass(frozen=True, slots=True)
class _Entry:
    answer: Answer
    stored_s: float
    duration_s: int


def classify(answer: Answer) -> str:
    """``response.Typify`` reduced to the kinds the cache cares about.

    Returns ``success``, ``denial``, ``error`` or ``other``.
    """
    has_soa = any(rr.type == "SOA" for rr in answer.authority)
    if answer.answer and answer.rcode == NOERROR:
        return "success"
    if answer.answer:
        return "other"
    if answer.rcode == NOERROR and has_soa:
        return "denial"
    if answer.rcode == NXDOMAIN:
        return "denial" if has_soa else "other"
    if answer.rcode in (SERVFAIL, NOTIMP):
        return "error"
    if answer.rcode == NOERROR:
        return "success"
    return "other"


class DNSCache:
    """A positive and a negative cache keyed by (name, type).

    Parameters
    ----------
    success_ttl_s, denial_ttl_s
        The caps (``cache [TTL]`` sets both; ``success CAP TTL`` / ``denial CAP TTL``).
    min_success_ttl_s, min_denial_ttl_s
        The MINTTLs (default 5 s).
    servfail_ttl_s
        ``servfail DURATION`` (default 5 s; 0 disables).
    capacity
        Entries per kind (success / denial).
    disabled_zones
        ``disable success|denial ZONE``: names in these zones are never stored (kubeadm disables
        both for ``cluster.local`` in its current Corefile).

    >>> from sim.dns.records import RR
    >>> c = DNSCache(success_ttl_s=30)
    >>> a = Answer("NOERROR", answer=(RR("x.", "A", 300, "10.0.0.1"),))
    >>> c.store("x.", "A", a, now_s=0.0).answer[0].ttl
    30
    >>> c.lookup("X.", "A", now_s=12.5).answer[0].ttl
    18
    """

    def __init__(self, success_ttl_s: int = MAX_TTL_S, denial_ttl_s: int = MAX_DENIAL_TTL_S,
                 min_success_ttl_s: int = MIN_TTL_S, min_denial_ttl_s: int = MIN_TTL_S,
                 servfail_ttl_s: int = MIN_TTL_S, capacity: int = DEFAULT_CAPACITY,
                 disabled_zones: tuple[str, ...] = ()) -> None:
        self.success_ttl_s = success_ttl_s
        self.denial_ttl_s = denial_ttl_s
        self.min_success_ttl_s = min_success_ttl_s
        self.min_denial_ttl_s = min_denial_ttl_s
        self.servfail_ttl_s = servfail_ttl_s
        self.capacity = capacity
        self.disabled_zones = tuple(z.strip(".").lower() for z in disabled_zones)
        self._positive: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._negative: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._positive) + len(self._negative)

    def _duration(self, answer: Answer, kind: str) -> int:
        if kind == "error":
            return self.servfail_ttl_s
        lowest = answer.min_ttl()
        if kind == "denial":
            cap, floor = self.denial_ttl_s, self.min_denial_ttl_s
        else:
            cap, floor = self.success_ttl_s, self.min_success_ttl_s
        # MinimalTTLWithMaximum: no records at all -> the 5 s fail-safe; else the lowest TTL,
        # itself bounded by the cap.
        msg_ttl = MIN_TTL_S if lowest is None else min(lowest, cap)
        return min(max(msg_ttl, floor), cap)

    def store(self, qname: str, qtype: str, answer: Answer, now_s: float) -> Answer:
        """Record ``answer`` and return the reply as the cache writes it (TTLs capped)."""
        kind = classify(answer)
        if kind == "other":
            return answer
        duration = self._duration(answer, kind)
        reply = answer.with_ttl(duration) if kind != "error" else answer
        key = (qname.lower().rstrip(".") + ".", qtype.upper())
        if duration > 0 and not self._excluded(key[0]):
            table = self._positive if kind == "success" else self._negative
            table.pop(key, None)
            table[key] = _Entry(reply, now_s, duration)
            while len(table) > self.capacity:
                table.popitem(last=False)
        return reply

    def _excluded(self, name: str) -> bool:
        return any(name == z + "." or name.endswith("." + z + ".") for z in self.disabled_zones)

    def lookup(self, qname: str, qtype: str, now_s: float) -> Answer | None:
        """The cached reply with the remaining TTL, or None on a miss or an expired entry.

        The negative cache is consulted first, as ``getIfNotStale`` does.
        """
        key = (qname.lower().rstrip(".") + ".", qtype.upper())
        for table in (self._negative, self._positive):
            entry = table.get(key)
            if entry is None:
                continue
            remaining = entry.duration_s - math.floor(now_s - entry.stored_s)
            if remaining > 0:
                self.hits += 1
                if entry.answer.rcode == SERVFAIL:
                    return entry.answer
                return entry.answer.with_ttl(remaining)
            del table[key]
        self.misses += 1
        return None
