"""Cluster DNS in the simulated world: CoreDNS pods behind the kube-dns Service, clients that
resolve a name through their pod's resolv.conf and then connect.

Model
    The DNS server is an ordinary Service: each query is a UDP datagram from the client pod to
    the DNS Service IP, DNATed by the client node's kube-proxy rules to one of the DNS pods, and
    the answer comes back through the same conntrack entry, with the network's latency both
    ways. The DNS pods answer with :class:`sim.dns.records.ClusterDNS` built from the cluster
    state they have *seen*: CoreDNS learns changes through its EndpointSlice/Service informers,
    i.e. after the same control-plane delay as kube-proxy (EndpointSlice controller + watch).
    An optional cache per DNS pod (``spec.dns.cache``; each CoreDNS process has its own) and
    ``loadbalance`` (record order shuffled per reply from the ``dns/loadbalance`` random
    stream) sit in front of the records.

    A client is a flow whose target is a DNS name: before each connection it resolves the name
    with a :class:`sim.dns.resolver.StubResolver` built from the pod's resolv.conf (the
    kubelet's ``GetPodDNS``) and /etc/hosts, sending every query the resolver asks for (A and
    AAAA together from one socket, as glibc does), sending each query ``attempts`` times
    (default 2) ``timeout`` apart (default 5 s; musl spreads the attempts over one timeout),
    then connects to the first address.
    Its own cache is ``none`` (resolve every time, as a libc without nscd does), ``ttl``
    (keep the answer for its TTL) or ``forever`` (resolve once: an application that looks the
    name up at start-up, or a JVM with ``networkaddress.cache.ttl=-1``).

Scope and limitations
    Every running pod behind the DNS Service runs the server (new pods and restarted
    containers are picked up within ``poll_s``); a pod that is not ready still answers, as a
    real CoreDNS process does, but kube-proxy stops sending it queries. ``single-request``
    sends A then AAAA, each from a new socket (as ``single-request-reopen``). No TCP fallback
    on truncation, no RFC 6724 address sorting (the first address is used).
    Out-of-zone names are answered from ``spec.dns.upstream`` by the DNS pods themselves
    (no forwarding hop). The informer view is sampled every ``poll_s`` (10 ms).
Validation
    ``tests/dns/test_dns_world.py`` checks query counts on the wire against the stub resolver,
    the informer delay, the client cache modes and the round-robin-DNS scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sim.dns.cache import DNSCache
from sim.dns.config import DNSOptions, parse_dns_options
from sim.dns.records import Answer, ClusterDNS
from sim.dns.resolver import Lookup, StubResolver
from sim.kubelet.hosts import pod_hosts_entries
from sim.model.errors import SimError, quote
from sim.model.packet import Packet
from sim.world.network import Host
from sim.world.rng import component_rng
from sim.world.workload import Arrivals, Connection, FlowSpec

DNS_PORT = 53
QUERY_BYTES = 80  # IP + UDP + DNS header + a typical question
RR_BYTES = 16  # a compressed A record
CACHE_MODES = ("none", "ttl", "forever")


@dataclass(frozen=True, slots=True)
class DNSTarget:
    """A flow target reached by name: resolve ``name``, then connect to ``port``.

    ``cache`` is the client's own answer cache (``none``, ``ttl``, ``forever``); ``flavour`` the
    libc (``glibc`` or ``musl``); ``family`` the getaddrinfo family (``UNSPEC``, ``INET``,
    ``INET6``).
    """

    name: str
    port: int
    cache: str = "none"
    flavour: str = "glibc"
    family: str = "UNSPEC"

    @property
    def label(self) -> str:
        return f"dns:{self.name}:{self.port}"


@dataclass
class LookupRecord:
    """One name resolution by a client."""

    flow: str
    client: str
    name: str
    start_s: float
    end_s: float = 0.0
    queries: int = 0
    packets: int = 0
    addresses: tuple[str, ...] = ()
    error: str = ""
    cached: bool = False


@dataclass
class DNSStats:
    """What the DNS side of a run did."""

    lookups: list[LookupRecord] = field(default_factory=list)
    queries_by_server: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Counts per flow: lookups, cache hits, queries, failures."""
        out: dict[str, dict[str, float]] = {}
        for rec in self.lookups:
            s = out.setdefault(rec.flow, {"lookups": 0, "cached": 0, "queries": 0, "failed": 0})
            s["lookups"] += 1
            s["cached"] += int(rec.cached)
            s["queries"] += rec.queries
            s["failed"] += int(bool(rec.error))
        return {"flows": dict(sorted(out.items())),
                "queries_by_server": dict(sorted(self.queries_by_server.items()))}


class ClusterDNSService:
    """The cluster DNS server: the pods behind the DNS Service answer on UDP/TCP 53.

    Parameters
    ----------
    world
        The :class:`sim.world.world.World`.
    options
        The validated ``spec.dns`` (:func:`sim.dns.config.parse_dns_options`).
    seed
        The run seed (for the ``loadbalance`` shuffle stream).
    poll_s
        How often the informer view samples the apiserver state.

    Constructed idle; :meth:`start` registers the servers and starts the informer process.
    """

    def __init__(self, world, options: DNSOptions, seed: int, poll_s: float = 0.01) -> None:
        self.world = world
        self.options = options
        self.poll_s = poll_s
        cp = world.params.control_plane
        self.informer_delay_s = cp.endpointslice_delay_s + cp.watch_delay_s
        self.stats = DNSStats()
        # Each CoreDNS pod has its own cache (the cache plugin is per process).
        self.caches: dict[str, DNSCache] = {}
        self._rng = component_rng(seed, "dns/loadbalance")
        self._history: list[tuple[float, object]] = []
        self._records: tuple[object, ClusterDNS] | None = None
        state = world.state
        probe = options.cluster_dns(state)
        self.service_ip = probe.dns_service_ips[0]
        self.zone = probe.zone
        self.service = next((s for s in state.services if s.has_cluster_ip
                             and self.service_ip in (s.cluster_ips or (s.cluster_ip,))), None)
        if self.service is None:
            raise SimError(f"spec.dns: no Service has the cluster DNS IP {self.service_ip} "
                           "(add the kube-dns Service, or set spec.cluster.dnsServiceIP)")
        self.server_pods: tuple[str, ...] = ()

    def start(self, env) -> None:
        """Run the DNS server in the pods behind the DNS Service; start the informer."""
        state = self.world.state
        self._register(state)
        if not self.server_pods:
            raise SimError(f"spec.dns: the DNS Service {self.service.key} has no pod "
                           "running in the world to serve DNS")
        self._history.append((-self.informer_delay_s, state))
        env.process(self._informer(env))

    def _register(self, state) -> None:
        """Run the DNS server in every running pod behind the DNS Service (the pods of the
        CoreDNS Deployment): new ones and those whose container restarted."""
        service = state.service(self.service.namespace, self.service.name)
        if service is None:
            return
        pods = set(self.server_pods)
        for sl in state.slices_for(service):
            for ep in sl.endpoints:
                if ep.target_ref is None:
                    continue
                key = f"{ep.target_ref.namespace or sl.namespace}/{ep.target_ref.name}"
                host = self.world.pod_hosts.get(key)
                if host is None or key in self.world.crashed:
                    continue
                if host.listeners.get(("udp", DNS_PORT)) is not self.handle:
                    host.listeners[("udp", DNS_PORT)] = self.handle
                    host.listeners[("tcp", DNS_PORT)] = self.handle
                pods.add(key)
        self.server_pods = tuple(sorted(pods))

    def _informer(self, env):
        while True:
            yield env.timeout(self.poll_s)
            if self.world.state is not self._history[-1][1]:
                self._history.append((env.now, self.world.state))
                self._register(self.world.state)

    def _seen_state(self, now: float):
        # Entries older than the newest visible one can never be seen again: drop them so
        # a long run with many changes keeps this O(1) per query.
        h = self._history
        while len(h) > 1 and h[1][0] + self.informer_delay_s <= now:
            del h[0]
        return h[0][1]

    def records(self, now: float) -> ClusterDNS:
        """The record store as the DNS pods see it at ``now``."""
        state = self._seen_state(now)
        if self._records is None or self._records[0] is not state:
            self._records = (state, self.options.cluster_dns(state))
        return self._records[1]

    def answer(self, qname: str, qtype: str, now: float, server: str = "") -> Answer:
        """One question to DNS pod ``server``: through its cache (if configured), then the
        records."""
        if self.options.cache is None:
            return self.records(now).answer(qname, qtype)
        cache = self.caches.get(server)
        if cache is None:
            cache = self.caches[server] = self.options.make_cache()
        hit = cache.lookup(qname, qtype, now)
        if hit is not None:
            return hit
        return cache.store(qname, qtype, self.records(now).answer(qname, qtype), now)

    def handle(self, host: Host, packet: Packet, data: object) -> object:
        """The server function of a DNS pod: ``data`` is ``(qname, qtype)``."""
        if not (isinstance(data, tuple) and len(data) == 2):
            return None
        qname, qtype = data
        self.stats.queries_by_server[host.name] = self.stats.queries_by_server.get(host.name, 0) + 1
        ans = self.answer(qname, qtype, self.world.env.now, host.name)
        if self.options.loadbalance and len(ans.answer) > 1:
            ans = _shuffle(ans, self._rng)
        return (qname, qtype, ans)

    # ------------------------------------------------------------------ clients
    def resolver_for(self, pod_key: str, flavour: str) -> StubResolver:
        """The stub resolver of a pod: resolv.conf per its dnsPolicy, and its /etc/hosts."""
        pod = self.world.state.pods_by_key.get(pod_key)
        if pod is None:
            raise SimError(f"spec.traffic.flows: Not found: {quote(pod_key)}: DNS clients must be pods")
        # The kubelet builds the pod's resolv.conf from the node's (spec.dns.nodeResolvConf):
        # ClusterFirst pods get the node's search domains after the cluster ones.
        rc = self.options.pod_resolv_conf(pod, [self.service_ip], self.zone)
        if self.service_ip not in rc.nameservers:
            # dnsPolicy Default (or None without the cluster DNS IP) sends queries to the node's
            # upstream servers, which are outside the simulated network.
            raise SimError(f"spec.traffic.flows: pod {pod_key} (dnsPolicy {pod.dns_policy}) does "
                           f"not use the cluster DNS {self.service_ip}: its nameservers "
                           f"{list(rc.nameservers)} are not simulated; use ClusterFirst or "
                           "dnsConfig.nameservers")
        return StubResolver(rc, flavour, pod_hosts_entries(pod, self.zone))

    def resolve(self, host: Host, resolver: StubResolver, target: DNSTarget, rec: LookupRecord,
                done: Callable[[Lookup], None]) -> None:
        """Resolve ``target.name`` from ``host`` over the network; ``done(lookup)`` at the end."""
        _Resolution(self.world, host, resolver.start(target.name, target.family),
                    resolver.resolv_conf, rec, done).start()


def _shuffle(ans: Answer, rng) -> Answer:
    """``loadbalance``: shuffle the address records, CNAMEs stay first."""
    head = tuple(rr for rr in ans.answer if rr.type not in ("A", "AAAA"))
    addrs = [rr for rr in ans.answer if rr.type in ("A", "AAAA")]
    order = rng.permutation(len(addrs))
    return Answer(ans.rcode, ans.authoritative, head + tuple(addrs[i] for i in order),
                  ans.authority, ans.additional, ans.recursion_available)


class _Resolution:
    """Moves one lookup's queries over the network, with glibc-style retransmission."""

    def __init__(self, world, host: Host, lookup: Lookup, resolv_conf, rec: LookupRecord,
                 done: Callable[[Lookup], None]) -> None:
        self.world, self.host, self.lookup, self.rec, self.done = world, host, lookup, rec, done
        timeout_s = max(resolv_conf.timeout_s, 1)
        self.attempts = max(resolv_conf.attempts, 1)
        # glibc (res_send.c) waits `timeout` for each of `attempts` sends to a single server;
        # musl (res_msend.c) spreads `attempts` sends over one `timeout` in total.
        self.interval_s = timeout_s if lookup.flavour == "glibc" else timeout_s / self.attempts
        self.server = resolv_conf.nameservers[0] if resolv_conf.nameservers else ""
        self.src = ""
        self.sport = 0
        self.waiting: dict[tuple[str, str], int] = {}  # query -> sends so far
        self.round = 0

    def start(self) -> None:
        if self.lookup.done or not self.server:
            self._finish()
            return
        self._next_round()

    def _next_round(self) -> None:
        # One socket per candidate name, shared by its A and AAAA queries (glibc's
        # send_dg sends both from the same socket). It is opened before the queries are
        # taken, so a socket that cannot be bound sends (and counts) nothing.
        if self.src:
            self.host.unbind("udp", self.src, self.sport)
            self.src = ""
        bound = self.host.bind_ephemeral("udp", self._on_packet)
        if bound is None:
            self.lookup.failed_to_send("EADDRNOTAVAIL")
            self._finish()
            return
        self.src, self.sport = bound
        queries = self.lookup.pending()
        if not queries:
            self._finish()
            return
        self.round += 1
        self.waiting = {}
        for q in queries:
            self.waiting[q] = 0
            self._send(q)
        self._arm(self.round)

    def _send(self, q: tuple[str, str]) -> None:
        self.waiting[q] += 1
        self.rec.packets += 1
        pkt = Packet("udp", self.src, self.server, self.sport, DNS_PORT, tcp_flags="",
                     length=QUERY_BYTES)
        self.world.net.send_from(self.host, pkt, q)

    def _arm(self, round_no: int) -> None:
        ev = self.world.env.timeout(self.interval_s)
        ev.callbacks.append(lambda _e: self._on_timeout(round_no))

    def _on_timeout(self, round_no: int) -> None:
        if round_no != self.round or not self.waiting:
            return
        lost = [q for q in self.waiting]
        if all(self.waiting[q] < self.attempts for q in lost):
            for q in lost:
                self._send(q)
            self._arm(round_no)
            return
        for q in lost:
            self._deliver(q, None)

    def _on_packet(self, packet: Packet, data: object, error: bool) -> None:
        if error:
            # ICMP port unreachable (kube-proxy REJECTs a Service without endpoints): glibc
            # gives up at once, musl does not see it and waits for its timeout.
            self.lookup.refused()
            if self.lookup.done:
                self.waiting = {}
                self._finish()
            return
        if not (isinstance(data, tuple) and len(data) == 3):
            return
        qname, qtype, answer = data
        if (qname, qtype) in self.waiting:
            self._deliver((qname, qtype), answer)

    def _deliver(self, q: tuple[str, str], answer: Answer | None) -> None:
        if q not in self.waiting:
            return
        del self.waiting[q]
        self.lookup.feed(q[0], q[1], answer)
        if not self.waiting:
            self._next_round()

    def _finish(self) -> None:
        if self.src:
            self.host.unbind("udp", self.src, self.sport)
            self.src = ""
        self.round += 1
        self.rec.end_s = self.world.env.now
        self.rec.queries = self.lookup.queries_sent
        self.rec.addresses = self.lookup.addresses
        self.rec.error = self.lookup.error
        self.done(self.lookup)


class DNSClient:
    """A flow whose target is a :class:`DNSTarget`: resolve (or use the cache), then connect.

    Constructed idle; :meth:`start` starts its process. Connection records use the flow's
    name; a failed resolution is recorded with outcome ``unresolved``.
    """

    def __init__(self, world, dns: ClusterDNSService, spec: FlowSpec, rng) -> None:
        if spec.client_kind != "pod":
            raise SimError(f"spec.traffic.flows: flow {spec.name}: a DNS target needs a pod "
                           "client (only pods get the cluster resolv.conf)")
        target = spec.target
        if not isinstance(target, DNSTarget) or target.cache not in CACHE_MODES:
            raise SimError(f"flow {spec.name}: target must be a DNSTarget with cache in "
                           f"{CACHE_MODES}")
        self.world, self.dns, self.spec, self.rng = world, dns, spec, rng
        self.target: DNSTarget = target
        self.resolver = dns.resolver_for(spec.client, target.flavour)
        self._cached: tuple[tuple[str, ...], float] | None = None  # (addresses, expiry)

    def start(self, env) -> None:
        Arrivals(self.world, self.spec, self.rng, self._open).start()

    def _open(self, env) -> None:
        spec = self.spec
        host = self.world.pod_hosts.get(spec.client)
        rec = self.world.recorder.new_connection(
            spec.name, spec.client, host.ip if host is not None else "", spec.proto,
            self.target.label, env.now)
        if host is None or not host.alive:
            rec.outcome = "unresolved"
            return
        lk = LookupRecord(spec.name, spec.client, self.target.name, env.now)
        self.dns.stats.lookups.append(lk)
        if self._cached is not None and env.now < self._cached[1]:
            lk.cached, lk.addresses, lk.end_s = True, self._cached[0], env.now
            self._connect(env, host, rec, self._cached[0])
            return

        def done(lookup: Lookup) -> None:
            if lookup.addresses:
                if self.target.cache == "forever":
                    self._cached = (lookup.addresses, float("inf"))
                elif self.target.cache == "ttl" and lookup.ttl_s:
                    self._cached = (lookup.addresses, env.now + lookup.ttl_s)
            self._connect(env, host, rec, lookup.addresses)

        self.dns.resolve(host, self.resolver, self.target, lk, done)

    def _connect(self, env, host: Host, rec, addresses: tuple[str, ...]) -> None:
        if not addresses or not host.alive:
            rec.outcome = "unresolved"
            rec.elapsed_s = env.now - rec.start_s
            return
        Connection(self.world, host, rec, addresses[0], self.target.port, self.spec).start(env)


DNS_TARGET_FIELDS = ("dns", "port", "cache", "resolver", "family")


def dns_target(to: dict, path: str, file: str = "") -> DNSTarget:
    """A flow's ``to: {dns: NAME, port: N, cache: none|ttl|forever, resolver: glibc|musl,
    family: UNSPEC|INET|INET6}`` checked into a :class:`DNSTarget` (errors name the field).

    >>> dns_target({"dns": "web", "port": 80, "cache": "ttl"}, "spec.traffic.flows[0].to")
    DNSTarget(name='web', port=80, cache='ttl', flavour='glibc', family='UNSPEC')
    """
    where = f"{file}: " if file else ""

    def bad(field_name: str, value: object, detail: str) -> SimError:
        shown = f'"{value}"' if isinstance(value, str) else value
        return SimError(f"{where}{path}.{field_name}: Invalid value: {shown}: {detail}")

    for key in to:
        if key not in DNS_TARGET_FIELDS:
            raise bad(key, key, "not allowed with dns (allowed: " + ", ".join(DNS_TARGET_FIELDS) + ")")
    name = to.get("dns")
    if not isinstance(name, str) or not name or len(name) > 253:
        raise bad("dns", name, "must be a DNS name")
    port = to.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise bad("port", port, "must be a port number (1..65535)")
    choices = {"cache": CACHE_MODES, "resolver": ("glibc", "musl"),
               "family": ("UNSPEC", "INET", "INET6")}
    defaults = {"cache": "none", "resolver": "glibc", "family": "UNSPEC"}
    values = {}
    for key, allowed in choices.items():
        value = to.get(key, defaults[key])
        if value not in allowed:
            raise bad(key, value, "supported values: " + ", ".join(f'"{a}"' for a in allowed))
        values[key] = value
    return DNSTarget(name, port, values["cache"], values["resolver"], values["family"])


def install_cluster_dns(world, raw_dns: dict | None, seed: int,
                        source: str = "") -> ClusterDNSService:
    """Parse ``spec.dns``, attach the DNS server to the world and start it."""
    service = ClusterDNSService(world, parse_dns_options(raw_dns, source), seed)
    service.start(world.env)
    return service
