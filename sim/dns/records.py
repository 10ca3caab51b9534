"""The cluster DNS zone: what CoreDNS's ``kubernetes`` plugin answers for a cluster snapshot.

:class:`ClusterDNS` is pure and sans-IO: ``answer(qname, qtype)`` returns an :class:`Answer`
(plain data) that the wire server encodes and the simulated world carries in UDP packets.

The records follow the Kubernetes DNS-based service discovery specification (schema 1.1.0);
where the specification leaves a choice the behaviour is CoreDNS's (plugin/kubernetes:
``handler.go ServeDNS``, ``kubernetes.go Services/Records/findServices/findPods``,
``parse.go parseRequest``, ``reverse.go``; plugin/backend_lookup.go ``A/AAAA/SRV/PTR/TXT/
CNAME/SOA/BackendError``).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from sim.model import ClusterState, EndpointSlice, Service, ServiceType
from sim.model.errors import SimError

DNS_SCHEMA_VERSION = "1.1.0"  # kubernetes.go DNSSchemaVersion
DNS_VERSION_TTL_S = 28800  # kubernetes.go Services: the TXT record's fixed TTL
DEFAULT_TTL_S = 5  # kubernetes.go defaultTTL
MAX_TTL_S = 3600  # setup.go: ttl must be in 0..3600
POD_MODES = ("disabled", "insecure", "verified")

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = (
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED")
RCODES = (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED)


@dataclass(frozen=True, slots=True)
class RR:
    """One resource record in presentation form (class IN).

    ``rdata`` is the zone-file text of the data: ``10.96.0.1``, ``0 100 443 target.``,
    ``"1.1.0"``, ``ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5``.
    """

    name: str
    type: str
    ttl: int
    rdata: str

    def text(self) -> str:
        """The record as a zone-file line (``name ttl IN type rdata``).

        >>> RR("a.ns.svc.cluster.local.", "A", 5, "10.96.0.1").text()
        'a.ns.svc.cluster.local. 5 IN A 10.96.0.1'
        """
        return f"{self.name} {self.ttl} IN {self.type} {self.rdata}"


@dataclass(frozen=True, slots=True)
class Answer:
    """A DNS response as plain data.

    ``rcode`` is one of ``NOERROR``, ``FORMERR``, ``SERVFAIL``, ``NXDOMAIN``, ``NOTIMP``,
    ``REFUSED``. A NODATA answer is ``NOERROR`` with an empty answer section (CoreDNS puts the
    zone's SOA in the authority section of both NXDOMAIN and NODATA).
    """

    rcode: str
    authoritative: bool = True
    answer: tuple[RR, ...] = ()
    authority: tuple[RR, ...] = ()
    additional: tuple[RR, ...] = ()
    recursion_available: bool = False

    @property
    def is_nxdomain(self) -> bool:
        return self.rcode == NXDOMAIN

    @property
    def is_nodata(self) -> bool:
        """NOERROR without answer records."""
        return self.rcode == NOERROR and not self.answer

    def addresses(self, qtype: str | None = None) -> tuple[str, ...]:
        """The A/AAAA data in the answer section (of ``qtype`` only when given)."""
        types = (qtype,) if qtype else ("A", "AAAA")
        return tuple(rr.rdata for rr in self.answer if rr.type in types)

    def min_ttl(self) -> int | None:
        """The lowest TTL over all sections, or None when there are no records."""
        ttls = [rr.ttl for rr in self.answer + self.authority + self.additional]
        return min(ttls) if ttls else None

    def with_ttl(self, ttl: int) -> "Answer":
        """A copy with every record's TTL set to ``ttl`` (what a cache writes into replies)."""
        def fix(rrs: tuple[RR, ...]) -> tuple[RR, ...]:
            return tuple(replace(rr, ttl=ttl) for rr in rrs)
        return replace(self, answer=fix(self.answer), authority=fix(self.authority),
                       additional=fix(self.additional))

    def text(self) -> str:
        """A dig-like rendering: status line then one line per record per section."""
        lines = [f";; status: {self.rcode}" + (", aa" if self.authoritative else "")]
        for title, rrs in (("ANSWER", self.answer), ("AUTHORITY", self.authority),
                           ("ADDITIONAL", self.additional)):
            if rrs:
                lines.append(f";; {title} SECTION:")
                lines.extend(rr.text() for rr in rrs)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Item:
    """``msg.Service`` of CoreDNS: one backend item (an address or a CNAME target and a port),
    ``key`` being the owner name it belongs to (used as SRV target)."""

    host: str
    port: int = 0
    key: str = ""
    ttl: int = DEFAULT_TTL_S


@dataclass(frozen=True, slots=True)
class _Request:
    """``recordRequest`` of parse.go."""

    pod_or_svc: str = ""
    namespace: str = ""
    service: str = ""
    endpoint: str = ""
    port: str = ""
    protocol: str = ""


class _NameError(Exception):
    """errNoItems / errNsNotExposed / errInvalidRequest: answered NXDOMAIN."""


@dataclass(frozen=True, slots=True)
class _Address:
    ip: str
    hostname: str  # the endpoint name as CoreDNS's endpointHostname computes it


@dataclass(frozen=True, slots=True)
class _Subset:
    """One EndpointSlice as CoreDNS stores it (object.Endpoints with a single subset)."""

    addresses: tuple[_Address, ...]
    ports: tuple[tuple[int, str, str], ...]  # (port, name, protocol); (-1, "", "") = no ports


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _family(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"


def reverse_name(ip: str) -> str:
    """The PTR owner name of an address (``in-addr.arpa.`` / full-nibble ``ip6.arpa.``).

    >>> reverse_name("10.96.0.1")
    '1.0.96.10.in-addr.arpa.'
    """
    return ipaddress.ip_address(ip).reverse_pointer + "."


def address_from_reverse(name: str) -> str:
    """``dnsutil.ExtractAddressFromReverse``: the address a full reverse name encodes, or ``""``.

    >>> address_from_reverse("1.0.96.10.in-addr.arpa.")
    '10.96.0.1'
    >>> address_from_reverse("0.96.10.in-addr.arpa.")
    ''
    """
    lower = name.lower().rstrip(".")
    if lower.endswith(".in-addr.arpa"):
        labels = lower[: -len(".in-addr.arpa")].split(".")
        if len(labels) != 4:
            return ""
        text = ".".join(reversed(labels))
    elif lower.endswith(".ip6.arpa"):
        nibbles = lower[: -len(".ip6.arpa")].split(".")
        if len(nibbles) != 32 or any(len(n) != 1 for n in nibbles):
            return ""
        hexs = "".join(reversed(nibbles))
        text = ":".join(hexs[i:i + 4] for i in range(0, 32, 4))
    else:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def endpoint_hostname(ip: str, hostname: str, target_name: str = "",
                      endpoint_pod_names: bool = False) -> str:
    """``endpointHostname``: the endpoint's hostname, else (with ``endpoint_pod_names``) the pod
    name when shorter than 64 characters, else the dashed IP (``::`` ends get a ``0``).

    >>> endpoint_hostname("10.1.2.3", ""), endpoint_hostname("2001:db8::", "")
    ('10-1-2-3', '2001-db8--0')
    """
    if hostname:
        return hostname
    if endpoint_pod_names and target_name and len(target_name) < 64:
        return target_name
    if "." in ip:
        return ip.replace(".", "-")
    dashed = ip.replace(":", "-")
    return dashed + "0" if dashed.endswith("-") else dashed


@dataclass
class ClusterDNS:
    """The cluster zone served by CoreDNS's ``kubernetes`` plugin for one cluster snapshot.

    Parameters
    ----------
    state
        The cluster snapshot (services, EndpointSlices, pods, namespaces).
    zone
        The cluster domain; default ``state.config.cluster_domain``.
    ttl_s
        The plugin's ``ttl`` (CoreDNS default 5 s, kubeadm 30 s; 0..3600).
    pods
        ``pods`` option: ``disabled`` (CoreDNS default), ``insecure`` (kubeadm), ``verified``.
    endpoint_pod_names
        ``endpoint_pod_names``: unnamed endpoints are named after their pod.
    ignore_empty_service
        ``ignore empty_service``: ClusterIP services without ready endpoints are NXDOMAIN.
    reverse_zones
        Reverse zones the plugin serves PTR for (kubeadm: ``in-addr.arpa ip6.arpa``).
    upstream
        Stand-in for ``forward . /etc/resolv.conf``: out-of-zone name -> addresses. Names not
        listed are answered NXDOMAIN (non-authoritative, no SOA), as an upstream resolver would
        for a name that does not exist; nothing is ever sent to the internet.
    upstream_ttl_s
        TTL of the upstream answers.
    dns_service_ips
        Addresses of the DNS server itself (``ns.dns.<zone>`` A and the NS glue); default the
        cluster's DNS service IP.
    serial
        SOA serial. CoreDNS uses the Unix time of the last change it saw; the simulator keeps
        it fixed (default 1, ``spec.dns.soaSerial``) so that answers are deterministic.

    >>> from sim.model import ServicePort
    >>> svc = Service("default", "kubernetes", cluster_ip="10.96.0.1", cluster_ips=("10.96.0.1",),
    ...               ports=(ServicePort(443, name="https"),))
    >>> dns = ClusterDNS(ClusterState(services=(svc,)))
    >>> dns.answer("kubernetes.default.svc.cluster.local", "A").answer[0].text()
    'kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1'
    """

    state: ClusterState
    zone: str = ""
    ttl_s: int = DEFAULT_TTL_S
    pods: str = "disabled"
    endpoint_pod_names: bool = False
    ignore_empty_service: bool = False
    reverse_zones: tuple[str, ...] = ("in-addr.arpa", "ip6.arpa")
    upstream: Mapping[str, Sequence[str]] = field(default_factory=dict)
    upstream_ttl_s: int = 30
    dns_service_ips: tuple[str, ...] = ()
    serial: int = 1

    def __post_init__(self) -> None:
        if not 0 <= int(self.ttl_s) <= MAX_TTL_S:
            raise SimError(f"dns.ttl: Invalid value: {self.ttl_s}: must be in the range 0..3600")
        if self.pods not in POD_MODES:
            raise SimError(f'dns.pods: Unsupported value: "{self.pods}": supported values: '
                           + ", ".join(f'"{m}"' for m in POD_MODES))
        self.zone = (self.zone or self.state.config.cluster_domain).strip(".").lower()
        self.reverse_zones = tuple(z.strip(".").lower() for z in self.reverse_zones)
        self.upstream = {_fqdn(k.lower()): tuple(v) for k, v in self.upstream.items()}
        if not self.dns_service_ips:
            self.dns_service_ips = _default_dns_ips(self.state)
        self._build_indexes()

    # -- indexes -----------------------------------------------------------------------------

    def _build_indexes(self) -> None:
        st = self.state
        names = {n.name for n in st.namespaces}
        # A namespace exists when a Namespace object or any namespaced object lives in it:
        # scenario files often omit Namespace manifests that a real cluster would have.
        names.update(s.namespace for s in st.services)
        names.update(p.namespace for p in st.pods)
        self._namespaces = {n.lower() for n in names}
        self._svc_index: dict[tuple[str, str], Service] = {
            (s.namespace.lower(), s.name.lower()): s for s in st.services}
        self._subsets: dict[tuple[str, str], list[_Subset]] = {}
        self._ip_to_services: dict[str, list[Service]] = {}
        for svc in sorted(st.services, key=lambda s: (s.namespace, s.name)):
            for ip in _cluster_ips(svc):
                self._ip_to_services.setdefault(_norm_ip(ip), []).append(svc)
        for sl in st.endpoint_slices:
            svc = st.service(sl.namespace, sl.service_name)
            subset = self._subset(sl, svc)
            self._subsets.setdefault((sl.namespace.lower(), sl.service_name.lower()),
                                     []).append(subset)
        self._pod_ips = {(_norm_ip(ip), p.namespace.lower())
                         for p in st.pods for ip in (p.pod_ips or (p.pod_ip,)) if ip}

    def _subset(self, sl: EndpointSlice, svc: Service | None) -> _Subset:
        """``endpointSliceToEndpoints``: ready addresses only; a slice without ports gets the
        port -1 sentinel (A records yes, SRV never)."""
        publish = bool(svc and svc.publish_not_ready_addresses)
        addrs = []
        for ep in sl.endpoints:
            # Only ready endpoints are published (spec 2.4); publishNotReadyAddresses makes
            # every endpoint ready, as the EndpointSlice controller does (podToEndpoint).
            if not (ep.is_ready or publish):
                continue
            target = ep.target_ref.name if ep.target_ref else ""
            for ip in ep.addresses:
                name = endpoint_hostname(ip, ep.hostname, target, self.endpoint_pod_names)
                addrs.append(_Address(ip, name))
        ports = tuple((p.port, p.name, p.protocol.value) for p in sl.ports) or ((-1, "", ""),)
        return _Subset(tuple(addrs), ports)

    # -- entry point -------------------------------------------------------------------------

    def answer(self, qname: str, qtype: str) -> Answer:
        """The response to one question (class IN).

        ``qname`` may or may not end with a dot; owner names echo its case. ``qtype`` is a
        mnemonic (``A``, ``AAAA``, ``SRV``, ``PTR``, ``TXT``, ...) or ``TYPE<n>``.
        """
        qname = _fqdn(qname)
        qtype = qtype.upper()
        lower = qname.lower()
        zone = self._match_zone(lower)
        if zone is None:
            return self.upstream_answer(qname, qtype)
        # handler.go: "maintain case of original query" for the zone part.
        zone_q = qname[len(qname) - len(zone) - 1:] if zone else "."
        return self._serve(qname, qtype, zone, zone_q)

    def _match_zone(self, lower: str) -> str | None:
        best = None
        for z in (self.zone, *self.reverse_zones):
            if lower == z + "." or lower.endswith("." + z + "."):
                if best is None or len(z) > len(best):
                    best = z
        return best

    def _serve(self, qname: str, qtype: str, zone: str, zone_q: str) -> Answer:
        records: list[RR] = []
        extra: list[RR] = []
        try:
            if qtype in ("A", "AAAA"):
                records = self._address(qname, qtype, zone, zone_q, [])
            elif qtype == "TXT":
                records = self._txt(qname, zone, zone_q)
            elif qtype == "CNAME":
                items = self._services(qname, "CNAME", zone, zone_q)
                if items and not _is_ip(items[0].host):
                    records = [RR(qname, "CNAME", items[0].ttl, _fqdn(items[0].host))]
            elif qtype == "PTR":
                records = self._ptr(qname, zone, zone_q)
            elif qtype == "SRV":
                records, extra = self._srv(qname, zone, zone_q)
            elif qtype == "MX":
                # No kubernetes item is a mail exchanger: only the name error can surface.
                self._services(qname, "MX", zone, zone_q)
            elif qtype == "SOA":
                if qname.lower() == zone + ".":
                    records = [self._soa(zone_q)]
            elif qtype in ("AXFR", "IXFR"):
                return Answer(REFUSED, authoritative=False)
            elif qtype == "NS" and qname.lower() == zone + ".":
                ns_name = "ns.dns." + zone_q
                records = [RR(qname, "NS", self.ttl_s, ns_name)]
                extra = [RR(ns_name, _family(ip), self.ttl_s, ip) for ip in self.dns_service_ips]
            else:
                # handler.go: "Do a fake A lookup, so we can distinguish between NODATA and
                # NXDOMAIN".
                self._address(qname, "A", zone, zone_q, [])
        except _NameError:
            return Answer(NXDOMAIN, authority=(self._soa(zone_q),))
        if not records:
            return Answer(NOERROR, authority=(self._soa(zone_q),))
        return Answer(NOERROR, answer=tuple(records), additional=tuple(extra))

    def _soa(self, zone_q: str) -> RR:
        """backend_lookup.go SOA: TTL min(ttl, 300), minimum field = the plugin ttl."""
        ttl = min(self.ttl_s, 300)
        rdata = (f"ns.dns.{zone_q} hostmaster.{zone_q} {self.serial} 7200 1800 86400 "
                 f"{self.ttl_s}")
        return RR(zone_q, "SOA", ttl, rdata)

    # -- name parsing and lookup -------------------------------------------------------------

    def _parse(self, qname: str, zone: str) -> _Request:
        """``parseRequest``: read the labels right to left: svc|pod, namespace, service, then
        one endpoint label or ``_port._proto``; more labels are NXDOMAIN."""
        base = qname.lower()[: -(len(zone) + 1)].rstrip(".")
        if base in ("", "svc", "pod"):
            return _Request()
        segs = base.split(".")
        if segs[-1] not in ("svc", "pod"):
            raise _NameError()
        r = {"pod_or_svc": segs[-1]}
        rest = segs[:-1]
        if rest:
            r["namespace"] = rest.pop()
        if rest:
            r["service"] = rest.pop()
        if len(rest) == 1:
            r["endpoint"] = rest[0]
        elif len(rest) == 2:
            r["port"], r["protocol"] = rest[0].removeprefix("_"), rest[1].removeprefix("_")
        elif len(rest) > 2:
            raise _NameError()
        return _Request(**r)

    def _records(self, qname: str, zone: str, zone_q: str) -> list[_Item]:
        """``Records``: NXDOMAIN for names outside svc/pod, reverse names and unknown
        namespaces; ``[]`` (NODATA) for the apex, ``svc``/``pod`` and ``<ns>.svc``."""
        r = self._parse(qname, zone)
        if not r.pod_or_svc:
            return []
        if zone != self.zone:
            raise _NameError()  # names inside a reverse zone carry no svc/pod data
        if r.namespace not in self._namespaces:
            raise _NameError()
        if r.pod_or_svc == "pod":
            return self._find_pods(r, zone_q)
        return self._find_services(r, zone_q)

    def _find_pods(self, r: _Request, zone_q: str) -> list[_Item]:
        """``findPods``: ``a-b-c-d.<ns>.pod.<zone>`` per the ``pods`` mode."""
        if self.pods == "disabled":
            raise _NameError()
        if not r.service:
            return []
        label = r.service
        if label.count("-") == 3 and "--" not in label:
            ip = label.replace("-", ".")
        else:
            ip = label.replace("-", ":")
        if not _is_ip(ip):
            raise _NameError()
        if self.pods == "verified" and (_norm_ip(ip), r.namespace) not in self._pod_ips:
            raise _NameError()
        return [_Item(ip, 0, f"{label}.{r.namespace}.pod.{zone_q}", self.ttl_s)]

    def _find_services(self, r: _Request, zone_q: str) -> list[_Item]:
        """``findServices``: the items of one service; NXDOMAIN when nothing matched."""
        if not r.service:
            return []
        svc = self._svc_index.get((r.namespace, r.service))
        if svc is None:
            raise _NameError()
        subsets = self._subsets.get((r.namespace, r.service), [])
        base = f"{svc.name}.{svc.namespace}.svc.{zone_q}"
        if (self.ignore_empty_service and svc.type != ServiceType.EXTERNAL_NAME
                and not svc.is_headless
                and not any(s.addresses for s in subsets)):
            raise _NameError()
        if svc.type == ServiceType.EXTERNAL_NAME:
            # External services have no endpoints nor _port._proto names; an IP-looking
            # externalName is not a CNAME and is not served.
            if r.endpoint or r.port or r.protocol or not svc.external_name \
                    or _is_ip(svc.external_name):
                raise _NameError()
            return [_Item(svc.external_name, 0, base, self.ttl_s)]
        items: list[_Item] = []
        if svc.is_headless or r.endpoint:
            for subset in subsets:
                for addr in subset.addresses:
                    if r.endpoint and r.endpoint != addr.hostname.lower():
                        continue
                    for port, name, proto in subset.ports:
                        if not _port_match(r, name, proto):
                            continue
                        items.append(_Item(addr.ip, port, f"{addr.hostname}.{base}", self.ttl_s))
        else:
            for sp in svc.ports:
                if not _port_match(r, sp.name, sp.protocol.value):
                    continue
                for ip in _cluster_ips(svc):
                    items.append(_Item(ip, sp.port, base, self.ttl_s))
        if not items:
            raise _NameError()
        return items

    def _services(self, qname: str, qtype: str, zone: str, zone_q: str) -> list[_Item]:
        """``Services``: the generic lookup plus the ``ns.dns.<zone>`` name of the server."""
        if qname.lower() == f"ns.dns.{zone}.":
            # isDefaultNS: the server's own addresses, for A/AAAA questions only.
            return [_Item(ip, 0, qname, self.ttl_s) for ip in self.dns_service_ips
                    if _family(ip) == qtype]
        items = self._records(qname, zone, zone_q)
        if qtype == "SRV":
            # "SRV for external services is not yet implemented, so remove those records."
            items = [i for i in items if _is_ip(i.host)]
        return items

    # -- per-type answers --------------------------------------------------------------------

    def _address(self, qname: str, qtype: str, zone: str, zone_q: str,
                 previous: list[RR]) -> list[RR]:
        """``plugin.A`` / ``plugin.AAAA`` (with ``checkForApex``): addresses of the family,
        duplicates removed; CNAMEs followed inside the zone, or answered by the upstream."""
        if qname.lower() == zone + ".":
            return []  # the apex has no address: NODATA
        out: list[RR] = []
        seen: set[str] = set()
        for item in self._services(qname, qtype, zone, zone_q):
            if _is_ip(item.host):
                if _family(item.host) == qtype and item.host not in seen:
                    seen.add(item.host)
                    out.append(RR(qname, qtype, item.ttl, item.host))
                continue
            target = _fqdn(item.host)
            if target.lower() == qname.lower() or len(previous) > 10:
                continue  # a direct loop or a chain longer than maxCnameChainLength
            cname = RR(qname, "CNAME", item.ttl, target)
            if any(p.name.lower() == cname.name.lower() and p.rdata.lower() == target.lower()
                   for p in previous):
                continue
            inner_zone = self._match_zone(target.lower())
            if inner_zone == self.zone:
                try:
                    nxt = self._address(target, qtype, zone, zone_q, previous + [cname])
                except _NameError:
                    nxt = []
                if nxt:
                    out.append(cname)
                    out.extend(nxt)
                continue
            # Outside the zone CoreDNS asks its own chain again (plugin/pkg/upstream), i.e.
            # `forward`; an upstream NXDOMAIN still yields the CNAME alone.
            out.append(cname)
            out.extend(self.upstream_answer(target, qtype).answer)
        return out

    def _txt(self, qname: str, zone: str, zone_q: str) -> list[RR]:
        """``Services`` for TXT: only ``dns-version.<zone>``; another existing name is NODATA,
        anything else NXDOMAIN."""
        if qname.lower() == f"dns-version.{zone}.":
            return [RR(qname, "TXT", DNS_VERSION_TTL_S, f'"{DNS_SCHEMA_VERSION}"')]
        if self._records(qname, zone, zone_q):
            return []
        raise _NameError()

    def _ptr(self, qname: str, zone: str, zone_q: str) -> list[RR]:
        """``Reverse`` / ``serviceRecordForIP``: a cluster IP names its service; otherwise every
        ready endpoint with that address names ``<endpoint>.<svc>.<ns>.svc.<zone>``."""
        ip = address_from_reverse(qname)
        if not ip:
            self._records(qname, zone, zone_q)
            return []
        primary = self.zone + "."
        services = self._ip_to_services.get(ip)
        if services:
            svc = services[0]
            return [RR(qname, "PTR", self.ttl_s, f"{svc.name}.{svc.namespace}.svc.{primary}")]
        targets: list[str] = []
        for (ns, name), subsets in sorted(self._subsets.items()):
            svc = self._svc_index.get((ns, name))
            if svc is None:
                continue
            for subset in subsets:
                for addr in subset.addresses:
                    if _norm_ip(addr.ip) == ip:
                        t = f"{addr.hostname}.{svc.name}.{svc.namespace}.svc.{primary}"
                        if t not in targets:
                            targets.append(t)
        if not targets:
            raise _NameError()
        return [RR(qname, "PTR", self.ttl_s, t) for t in targets]

    def _srv(self, qname: str, zone: str, zone_q: str) -> tuple[list[RR], list[RR]]:
        """``plugin.SRV``: priority 0, weight floor(100/N) over the N matched items, one SRV per
        (target, port), the targets' addresses in the additional section."""
        items = self._services(qname, "SRV", zone, zone_q)
        weight = max(1, math.floor(100.0 / (100 * len(items)) * 100)) if items else 0
        records: list[RR] = []
        extra: list[RR] = []
        seen_srv: set[tuple[str, int]] = set()
        seen_addr: set[tuple[str, str]] = set()
        for item in items:
            if item.port == -1:
                continue
            target = _fqdn(item.key)
            if (target, item.port) not in seen_srv:
                seen_srv.add((target, item.port))
                records.append(RR(qname, "SRV", item.ttl, f"0 {weight} {item.port} {target}"))
            if (target, item.host) not in seen_addr:
                seen_addr.add((target, item.host))
                extra.append(RR(target, _family(item.host), item.ttl, item.host))
        return records, extra

    # -- outside the zone --------------------------------------------------------------------

    def upstream_answer(self, qname: str, qtype: str) -> Answer:
        """The stand-in for ``forward``: the ``upstream`` table, else NXDOMAIN. Also what a
        resolver outside the cluster (the node's nameserver, which a ``dnsPolicy: Default``
        pod asks) answers: it knows nothing of the cluster zone."""
        addrs = self.upstream.get(qname.lower())
        if addrs is None:
            return Answer(NXDOMAIN, authoritative=False, recursion_available=True)
        rrs = tuple(RR(qname, qtype, self.upstream_ttl_s, a) for a in addrs
                    if qtype in ("A", "AAAA") and _family(a) == qtype)
        return Answer(NOERROR, authoritative=False, answer=rrs, recursion_available=True)


def _port_match(r: _Request, name: str, proto: str) -> bool:
    """``matchPortAndProtocol``: an empty request part matches anything; case-insensitive."""
    return ((not r.port or r.port == name.lower())
            and (not r.protocol or r.protocol == proto.lower()))


def _cluster_ips(svc: Service) -> tuple[str, ...]:
    if not svc.has_cluster_ip:
        return ()
    return svc.cluster_ips or (svc.cluster_ip,)


def _norm_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip


def _default_dns_ips(state: ClusterState) -> tuple[str, ...]:
    """The DNS service IP: ``spec.cluster.dnsServiceIP``, else the 10th address of the service
    CIDR as kubeadm allocates it."""
    if state.config.dns_service_ip:
        return (state.config.dns_service_ip,)
    net = ipaddress.ip_network(state.config.service_cidr, strict=False)
    return (str(net.network_address + 10),)
