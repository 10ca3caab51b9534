"""A pod's stub resolver (getaddrinfo over resolv.conf), sans-IO.

``StubResolver(resolv_conf, flavour).start(name, family)`` returns a :class:`Lookup` that says
which queries to send (``pending()``) and takes the answers back (``feed()``); the caller moves
the packets (the simulated world through kube-proxy, or a test directly against
:class:`~sim.dns.records.ClusterDNS`).

glibc (resolv/res_query.c ``__res_context_search`` and ``__res_context_query`` with
``T_QUERY_A_AND_AAAA``):

- ``dots`` = dots in the name; a trailing dot makes it absolute and it is only tried as is;
- ``dots >= ndots``: the name as is first; success ends the lookup;
- then, for an unqualified name or a relative dotted one, each search domain in order; a
  candidate with answer records ends the search; NXDOMAIN, NODATA and SERVFAIL go on to the
  next domain ("a wildcard entry of another type could keep us from finding this entry"); any
  other failure (REFUSED, FORMERR, NOTIMP, no reply) stops the search loop;
- finally the name as is, unless it was already tried (or ``.`` was on the search list);
- AF_UNSPEC sends an A and an AAAA query per candidate (together, or one after the other
  with ``options single-request``/``single-request-reopen``); the candidate fails only if
  neither has answer records, and then the A reply's rcode decides how;
- ``options no-tld-query``: a single-label name is not tried as is after the search list.

musl (src/network/lookup_name.c ``name_from_dns_search`` / ``name_from_dns``):

- ``dots >= ndots`` or a trailing dot: the search list is skipped entirely;
- each search domain, then the name as is; only NXDOMAIN moves on; NODATA stops with
  EAI_NODATA (musl 1.2; older releases say EAI_NONAME), SERVFAIL with EAI_AGAIN, other rcodes
  with EAI_FAIL.

/etc/hosts (nsswitch ``files`` before ``dns``) is consulted first: a hit costs no query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sim.dns.records import NOERROR, NXDOMAIN, SERVFAIL, Answer
from sim.kubelet.resolvconf import ResolvConf
from sim.model.errors import SimError

FLAVOURS = ("glibc", "musl")
FAMILIES = {"UNSPEC": ("A", "AAAA"), "INET": ("A",), "INET6": ("AAAA",)}


@dataclass
class Lookup:
    """One name resolution in progress.

    Attributes
    ----------
    done
        True once the lookup has finished (success or error).
    addresses
        The addresses found (A records first, then AAAA), empty on error.
    error
        The resolver's error on failure: glibc ``h_errno`` names (``HOST_NOT_FOUND``,
        ``NO_DATA``, ``TRY_AGAIN``, ``NO_RECOVERY``) or musl ``EAI_*`` names; ``""`` on success.
    queries
        Every ``(qname, qtype)`` handed out by :meth:`pending`, in order.
    answered_name
        The candidate name whose answer ended the lookup successfully.
    from_hosts
        True when /etc/hosts answered.
    ttl_s
        The lowest TTL of the address records found (what a caching client may keep them
        for); None when nothing was found or /etc/hosts answered.
    """

    name: str
    qtypes: tuple[str, ...]
    candidates: list[tuple[str, str]]  # (fqdn, role): "as-is-first" | "search" | "as-is-last"
    flavour: str
    sequential: bool = False  # glibc `options single-request` / `single-request-reopen`
    unencodable: frozenset[int] = frozenset()  # candidates res_mkquery cannot encode
    done: bool = False
    addresses: tuple[str, ...] = ()
    error: str = ""
    queries: list[tuple[str, str]] = field(default_factory=list)
    answered_name: str = ""
    from_hosts: bool = False
    ttl_s: int | None = None
    _index: int = 0
    _to_send: list[str] = field(default_factory=list)
    _outstanding: int = 0
    _answers: dict[str, Answer | None] = field(default_factory=dict)
    _got_nodata: bool = False
    _got_servfail: bool = False
    _saved_error: str = ""
    _stop_search: bool = False

    @property
    def queries_sent(self) -> int:
        """How many DNS queries this lookup has sent so far."""
        return len(self.queries)

    def __post_init__(self) -> None:
        self._to_send = list(self.qtypes)
        self._skip_unencodable()

    def _skip_unencodable(self) -> None:
        """Candidates that cannot be put in a query are failed without sending anything.

        glibc: ``__res_context_query`` gets no query from ``res_nmkquery`` (``ns_name_pton``
        refuses an empty label, a label over 63 bytes or a name over 255 bytes on the wire;
        ``__res_context_querydomain`` refuses an empty name), sets ``NO_RECOVERY`` and the
        search loop treats that like any hard failure: it stops. musl: ``__res_mkquery``
        returns -1 and ``name_from_dns`` gives no result, so the next candidate is tried.
        """
        while not self.done and self._index < len(self.candidates) \
                and self._index in self.unencodable:
            name, role = self.candidates[self._index]
            if self.flavour == "glibc":
                self._advance_glibc(name, role, (), "NO_RECOVERY")
            else:
                self._index += 1
                if self._index >= len(self.candidates):
                    self._finish(name, (), "EAI_NONAME")

    def pending(self) -> list[tuple[str, str]]:
        """The queries to send now (each is returned once); empty while waiting or when done.

        A and AAAA go out together, or one after the other with ``single-request``.
        """
        if self.done or not self._to_send or (self.sequential and self._outstanding):
            return []
        qname = self.candidates[self._index][0]
        batch = self._to_send[:1] if self.sequential else self._to_send
        self._to_send = self._to_send[len(batch):]
        self._outstanding += len(batch)
        out = [(qname, t) for t in batch]
        self.queries.extend(out)
        return out

    def feed(self, qname: str, qtype: str, answer: Answer | None) -> None:
        """Give the reply to one pending query; ``None`` means no reply after all retries."""
        if self.done:
            return
        current = self.candidates[self._index][0]
        if (not self._outstanding or qname.lower() != current.lower()
                or qtype not in self.qtypes or qtype in self._answers or qtype in self._to_send):
            raise SimError(f"unexpected answer for {qname} {qtype}: waiting for {current}")
        self._outstanding -= 1
        self._answers[qtype] = answer
        if len(self._answers) == len(self.qtypes):
            self._advance()

    def refused(self) -> None:
        """An ICMP port unreachable came back for a query (nothing listens behind the
        nameserver address, e.g. a DNS Service without endpoints that kube-proxy REJECTs).

        glibc connects its UDP socket, so the error surfaces as ECONNREFUSED and
        ``__res_context_search`` gives up at once (TRY_AGAIN). musl's socket is not connected,
        so Linux never reports the error to it: it keeps waiting for its timeout.
        """
        if self.done or self.flavour != "glibc":
            return
        self._answers, self._to_send, self._outstanding = {}, [], 0
        self.done, self.error = True, "TRY_AGAIN"

    def failed_to_send(self, errno_name: str) -> None:
        """The query socket could not be set up (e.g. ``EADDRNOTAVAIL``: every ephemeral port
        of the address is in use). glibc's ``send_dg`` gives up on the server and, with no
        other server, the lookup fails with the system error; musl likewise."""
        if self.done:
            return
        self._answers, self._to_send, self._outstanding = {}, [], 0
        self.done, self.error = True, errno_name

    def _advance(self) -> None:
        answers = [self._answers[t] for t in self.qtypes]
        name, role = self.candidates[self._index]
        self._answers = {}
        self._to_send = list(self.qtypes)
        if self.flavour == "glibc":
            self._advance_glibc(name, role, answers)
        else:
            self._advance_musl(name, answers)
        self._skip_unencodable()

    def _finish(self, name: str, answers: Sequence[Answer | None], error: str = "") -> None:
        self.done = True
        if error:
            self.error = error
            return
        found: list[str] = []
        ttls: list[int] = []
        for qtype, ans in zip(self.qtypes, answers):
            if ans is not None and ans.rcode == NOERROR:
                found.extend(ans.addresses(qtype))
                ttls.extend(rr.ttl for rr in ans.answer if rr.type == qtype)
        self.addresses = tuple(found)
        self.ttl_s = min(ttls) if ttls else None
        self.answered_name = name
        if not found:
            # Answer records without addresses (a CNAME whose target did not resolve):
            # res_search succeeded, getaddrinfo finds nothing to return.
            self.error = "NO_DATA" if self.flavour == "glibc" else "EAI_NODATA"

    def _advance_glibc(self, name: str, role: str, answers: Sequence[Answer | None],
                       herr: str = "") -> None:
        if any(a is not None and a.rcode == NOERROR and a.answer for a in answers):
            self._finish(name, answers)
            return
        first = answers[0] if answers else None
        if herr:
            pass  # decided without a reply (the query could not be built)
        elif first is None:
            herr = "TRY_AGAIN_TIMEOUT"
        elif first.rcode == NXDOMAIN:
            herr = "HOST_NOT_FOUND"
        elif first.rcode == NOERROR:
            herr = "NO_DATA"
        elif first.rcode == SERVFAIL:
            herr = "TRY_AGAIN"
        else:
            herr = "NO_RECOVERY"
        if role == "as-is-first":
            if self.name.endswith("."):
                self._finish(name, answers, _public(herr))
                return
            self._saved_error = _public(herr)
        elif role == "search":
            if herr == "NO_DATA":
                self._got_nodata = True
            elif herr == "TRY_AGAIN":
                self._got_servfail = True
            elif herr != "HOST_NOT_FOUND":
                self._stop_search = True
        self._index += 1
        while (self._index < len(self.candidates) and self._stop_search
               and self.candidates[self._index][1] == "search"):
            self._index += 1
        if self._index < len(self.candidates):
            return
        if self._saved_error:
            self._finish(name, answers, self._saved_error)
        elif self._got_nodata:
            self._finish(name, answers, "NO_DATA")
        elif self._got_servfail:
            self._finish(name, answers, "TRY_AGAIN")
        else:
            self._finish(name, answers, _public(herr))

    def _advance_musl(self, name: str, answers: Sequence[Answer | None]) -> None:
        for ans in answers:
            if ans is None or ans.rcode == SERVFAIL:
                self._finish(name, answers, "EAI_AGAIN")
                return
            if ans.rcode == NXDOMAIN:
                self._index += 1
                if self._index >= len(self.candidates):
                    self._finish(name, answers, "EAI_NONAME")
                return
            if ans.rcode != NOERROR:
                self._finish(name, answers, "EAI_FAIL")
                return
        if any(a is not None and a.addresses(t) for a, t in zip(answers, self.qtypes)):
            self._finish(name, answers)
        else:
            self._finish(name, answers, "EAI_NODATA")


def encodable(text: str) -> bool:
    """Whether a query can carry ``text`` (``ns_name_pton`` into a 255-byte buffer, after
    ``__res_context_querydomain``'s empty-name check): the root ``.``, or labels of 1 to 63
    bytes, at most 255 bytes on the wire. Backslash escapes are not interpreted.

    >>> encodable("my-service.default"), encodable("."), encodable("a..b"), encodable("")
    (True, True, False, False)
    >>> encodable("x" * 63 + ".com"), encodable("x" * 64 + ".com")
    (True, False)
    """
    if text == ".":
        return True
    bare = text[:-1] if text.endswith(".") else text
    labels = bare.split(".")
    return all(0 < len(label.encode()) <= 63 for label in labels) and len(bare.encode()) + 2 <= 255


def _public(herr: str) -> str:
    # A timeout is TRY_AGAIN to the caller; internally it differs from SERVFAIL because glibc
    # keeps searching after SERVFAIL but not after a timeout.
    return "TRY_AGAIN" if herr == "TRY_AGAIN_TIMEOUT" else herr


class StubResolver:
    """A pod's resolver: resolv.conf (search list, ndots) plus /etc/hosts.

    Parameters
    ----------
    resolv_conf
        The pod's resolv.conf (from :func:`sim.kubelet.resolvconf.pod_resolv_conf`).
    flavour
        ``glibc`` (Debian/Ubuntu-based images) or ``musl`` (Alpine).
    hosts
        /etc/hosts entries as ``(ip, names)`` pairs
        (:func:`sim.kubelet.hosts.pod_hosts_entries`).

    >>> rc = ResolvConf(("10.96.0.10",), ("my-ns.svc.cluster.local", "svc.cluster.local",
    ...                 "cluster.local"), ("ndots:5",))
    >>> StubResolver(rc).candidates("my-service")
    ['my-service.my-ns.svc.cluster.local.', 'my-service.svc.cluster.local.', 'my-service.cluster.local.', 'my-service.']
    """

    def __init__(self, resolv_conf: ResolvConf, flavour: str = "glibc",
                 hosts: Sequence[tuple[str, Sequence[str]]] = ()) -> None:
        if flavour not in FLAVOURS:
            raise SimError(f'resolver flavour: Unsupported value: "{flavour}": supported values: '
                           '"glibc", "musl"')
        self.resolv_conf = resolv_conf
        self.flavour = flavour
        self.hosts = tuple((ip, tuple(n.lower() for n in names)) for ip, names in hosts)

    def _plan(self, name: str) -> list[tuple[str, str, str]]:
        """``(fqdn, role, text)`` per candidate; ``text`` is the string the libc hands to its
        query builder (the name as given, or ``name.domain``), which decides if it encodes."""
        ndots = self.resolv_conf.ndots
        trailing = name.endswith(".")
        bare = name.rstrip(".")
        dots = bare.count(".")
        as_is = bare + "."
        plan: list[tuple[str, str, str]] = []
        if self.flavour == "musl":
            if not (dots >= ndots or trailing):
                plan.extend((f"{bare}.{d.strip('.')}.", "search", f"{name}.{d.strip('.')}")
                            for d in self.resolv_conf.searches if d.strip("."))
            plan.append((as_is, "as-is-last", name))
            return plan
        if dots >= ndots or trailing:
            plan.append((as_is, "as-is-first", name))
            if trailing:
                return plan
        root_on_list = False
        for d in self.resolv_conf.searches:
            domain = d.strip(".")
            if not domain:
                # "." on the search list means the name as is, in that position (queried again
                # even if it was tried first), and no final as-is attempt.
                root_on_list = True
                plan.append((as_is, "search", name))
                continue
            plan.append((f"{bare}.{domain}.", "search", f"{name}.{domain}"))
        searched = any(role == "search" for _, role, _ in plan)
        no_tld = "no-tld-query" in self.resolv_conf.options
        if not (plan and plan[0][1] == "as-is-first") and not root_on_list \
                and (dots or not searched or not no_tld):
            plan.append((as_is, "as-is-last", name))
        return plan

    def candidates(self, name: str) -> list[str]:
        """Every name this resolver may query for ``name``, in order (without feedback);
        names no query can carry (see :func:`encodable`) are left out."""
        return [n for n, _, text in self._plan(name) if encodable(text)]

    def start(self, name: str, family: str = "UNSPEC") -> Lookup:
        """Begin resolving ``name``; ``family`` is ``UNSPEC`` (A and AAAA), ``INET`` or
        ``INET6``."""
        if family not in FAMILIES:
            raise SimError(f'family: Unsupported value: "{family}": supported values: '
                           '"UNSPEC", "INET", "INET6"')
        qtypes = FAMILIES[family]
        # musl ignores these glibc options (it always sends A and AAAA in parallel).
        sequential = self.flavour == "glibc" and any(
            o in ("single-request", "single-request-reopen") for o in self.resolv_conf.options)
        plan = self._plan(name)
        if self.flavour == "musl" and not 0 < len(name) < 255:
            # lookup_name.c refuses the name before any query (strnlen(name, 255) - 1 >= 254).
            lookup = Lookup(name, qtypes, [], self.flavour, sequential)
            lookup.done, lookup.error = True, "EAI_NONAME"
            return lookup
        lookup = Lookup(name, qtypes, [(n, r) for n, r, _ in plan], self.flavour, sequential,
                        frozenset(i for i, (_, _, text) in enumerate(plan) if not encodable(text)))
        wanted = name.rstrip(".").lower()
        hits = [ip for ip, names in self.hosts if wanted in names
                and ("AAAA" if ":" in ip else "A") in qtypes]
        if hits:
            lookup.done, lookup.addresses, lookup.from_hosts = True, tuple(hits), True
            lookup.answered_name = wanted + "."
        return lookup
