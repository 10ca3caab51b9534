"""The userspace proxy of Kubernetes 1.0: a proxy process on every node.

Model
    Upstream ``pkg/proxy`` of 1.0 (``proxier.go``, ``proxysocket.go``, ``roundrobin.go``):

    * **Sockets.** One listening socket per service port on the node (``addServiceOnPort``), on
      a proxy port from :func:`sim.kubeproxy.userspace.allocate_proxy_ports` (the node's stream
      ``userspace-ports/<node>``: same seed, same ports). The portal rules
      (:func:`sim.kubeproxy.userspace.compile_rules`) REDIRECT (from pods and other hosts) or
      DNAT (from the node itself) the service's addresses to it.
    * **TCP** (``tcpProxySocket.ProxyLoop``): the kernel completes the client's handshake on
      the listening socket; the proxy accepts, pays its set-up cost, asks the load balancer
      for an endpoint and dials it *from the node* (``tryConnect``), so the backend sees a node
      address (the route's source: the pod bridge's address for a pod on this node, the
      InternalIP otherwise). A dial that is refused, unreachable or unanswered within its
      timeout (1, 2, 4, 8 s) is retried with the load balancer's *next* choice; after four
      failures, or at once when the service has no endpoints, the proxy closes the client's
      connection. The client's request is already in the socket then (it rides on the
      handshake's last ACK in this model), so the kernel answers with a reset: outcome
      ``reset``, distinct from ``refused`` (a RST to the SYN, what REJECT or a closed port
      gives) and ``timeout``. Accepting and dialling happen in the one accept loop of the
      socket (upstream's ``TODO: This could spin up a new goroutine``): while a dial waits,
      later connections to the same service port wait in the accept queue. Each relayed
      packet costs the proxy ``per_packet_s``.
    * **UDP** (``udpProxySocket``): a per-client (source address and port) mapping to a node
      socket connected to one endpoint, dropped after ``udpIdleTimeout`` (10 s in 1.0) without
      traffic either way, or at once when the endpoint answers with an ICMP error. A datagram
      to a service without endpoints is dropped silently (``tryConnect`` fails, the loop reads
      the next datagram).
    * **Round robin** (``LoadBalancerRR``): per service port, the endpoint list is shuffled
      (the node's stream ``userspace-lb/<node>``) whenever its set changes and the cursor reset;
      each new connection takes ``endpoints[cursor]`` and advances it. ``ClientIP`` affinity
      keys on the source address: an entry used less than ``stickyMaxAge`` ago (180 minutes in
      1.0, or the Service's ``timeoutSeconds``) pins the endpoint and is refreshed; entries of
      removed endpoints are purged. 1.0's ``tryConnect`` asks ``NextEndpoint`` again on each
      retry, and an affinity entry answers again with the same endpoint (the later
      ``sessionAffinityReset`` did not exist yet).
    * **Sync** (:class:`UserspaceBackend`): kube-proxy 1.0 had no restore and no rate limit:
      ``OnUpdate`` ran on every watch event and added/removed each portal rule with its own
      ``iptables`` process (``EnsureRule`` = ``-C`` then ``-A``; ``DeleteRule`` = ``-D``), and
      ``SyncLoop`` re-ensured every rule every 5 s (``-C`` each). A sync costs
      ``iptables_call_s`` per command; endpoint-only changes run no command.

Scope and limitations
    Cost parameters are :class:`sim.world.params.UserspaceParams` (defaults measured by
    ``benchmarks/userspace_bench.py``). The proxy's sockets are visible to the node's own
    ``deliver`` only through the node's listeners (the proxy listens on 0.0.0.0). REDIRECT
    from a pod goes to the node's primary address here (the kernel uses the bridge's; the
    socket accepts on both and the reply is un-NATed the same). The proxy forwards the one
    request and the one response of the world's TCP model; half-closes and byte streams are
    not modelled. The periodic re-ensure runs ``sync_period`` after the previous sync (a
    ticker upstream). Per-packet costs apply to the proxy's relaying only; the kernel's
    extra hops (two TCP connections instead of one) are simulated as packets.
Validation
    ``tests/world/test_userspace.py`` (round robin order and cycle, affinity and expiry,
    dial retries and their timeouts, UDP idle expiry, no-endpoint behaviour, the source the
    backend sees); ``tests/kernel/test_userspace_kernel.py`` holds the source address and
    the portal rules to the real kernel.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass

from sim.iptables.restore import apply_payload, parse_restore
from sim.iptables.ruleset import Ruleset
from sim.kubeproxy.userspace import (
    CHAINS,
    ENDPOINT_DIAL_TIMEOUTS_S,
    SYNC_INTERVAL_S,
    UDP_IDLE_TIMEOUT_S,
    ProxyService,
    allocate_proxy_ports,
    compile_rules,
    parse_port_range,
    proxy_services,
    service_endpoints,
)
from sim.model.cluster import ClusterState
from sim.model.config import KubeProxyConfig
from sim.model.packet import Packet, make_packet
from sim.world.params import UserspaceParams
from sim.world.rng import component_rng

TCP_SYN_BYTES = 60
IDLE_EPSILON_S = 1e-9
# iptablesInit on every sync: EnsureChain (one call) and EnsureRule (-C) for four chains.
INIT_COMMANDS = 8


def proxy_ports_for(state: ClusterState, node_name: str, config: KubeProxyConfig, seed: int,
                    rng=None, taken=None) -> dict[tuple[str, str], int]:
    """The proxy ports of ``node_name`` (its stream ``userspace-ports/<node>`` unless ``rng``
    is given): what the world allocates at kube-proxy's start and ``rules --mode userspace``
    prints."""
    rng = rng if rng is not None else component_rng(seed, f"userspace-ports/{node_name}")
    keys = [s.key for s in proxy_services(state)]
    return allocate_proxy_ports(keys, parse_port_range(config.port_range), rng, taken)


# ---------------------------------------------------------------------------- load balancer
class LoadBalancerRR:
    """``LoadBalancerRR`` of one node: shuffled endpoint lists, a cursor, ClientIP affinity."""

    def __init__(self, rng) -> None:
        self.rng = rng
        self.endpoints: dict[tuple[str, str], list[str]] = {}
        self.index: dict[tuple[str, str], int] = {}
        # key -> client ip -> [endpoint, last used]
        self.affinity: dict[tuple[str, str], dict[str, list]] = {}
        self.services: dict[tuple[str, str], ProxyService] = {}

    def on_update(self, services: dict[tuple[str, str], ProxyService],
                  endpoints: dict[tuple[str, str], tuple[str, ...]]) -> None:
        """``OnUpdate`` of the services and endpoints configs (keys visited in sorted order,
        so the shuffles draw in a fixed order)."""
        for key in sorted(services):
            svc = services[key]
            old = self.services.get(key)
            if old is None or old.affinity != svc.affinity:
                self.affinity[key] = {}
            self.services[key] = svc
            eps = endpoints.get(key, ())
            current = self.endpoints.get(key)
            if current is not None and sorted(current) == list(eps):
                continue
            removed = set(current or ()) - set(eps)
            sticky = self.affinity.setdefault(key, {})
            for client in [c for c, (ep, _t) in sticky.items() if ep in removed]:
                del sticky[client]
            order = self.rng.permutation(len(eps)) if eps else ()
            self.endpoints[key] = [eps[i] for i in order]
            self.index[key] = 0
        for key in [k for k in self.services if k not in services]:
            for table in (self.services, self.endpoints, self.index, self.affinity):
                table.pop(key, None)

    def pinned(self, key: tuple[str, str], client_ip: str, now: float) -> str | None:
        """The endpoint ``client_ip`` is pinned to (a live affinity entry), if any."""
        svc = self.services.get(key)
        entry = self.affinity.get(key, {}).get(client_ip)
        if svc is None or svc.affinity != "ClientIP" or entry is None:
            return None
        return entry[0] if now - entry[1] < svc.sticky_max_age_s else None

    def next_endpoint(self, key: tuple[str, str], client_ip: str, now: float) -> str | None:
        """``NextEndpoint``: ``None`` when the service has no endpoints."""
        eps = self.endpoints.get(key)
        if not eps:
            return None
        svc = self.services[key]
        if svc.affinity == "ClientIP":
            entry = self.affinity[key].get(client_ip)
            if entry is not None and now - entry[1] < svc.sticky_max_age_s:
                entry[1] = now
                return entry[0]
        i = self.index[key]
        ep = eps[i]
        self.index[key] = (i + 1) % len(eps)
        if svc.affinity == "ClientIP":
            self.affinity[key][client_ip] = [ep, now]
        return ep


# ---------------------------------------------------------------------------- sockets
def _split(endpoint: str) -> tuple[str, int]:
    ip, _, port = endpoint.rpartition(":")
    return ip, int(port)


class _Owner:
    """Something a network deadline belongs to (``done`` cancels it)."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False


class _TCPConn:
    """One client connection in the proxy: accepted, dialling, relaying."""

    __slots__ = ("request", "data", "client_ip", "attempt", "dial", "local", "endpoint")

    def __init__(self, request: Packet, data: object) -> None:
        self.request, self.data = request, data
        self.client_ip = request.src
        self.attempt = 0
        self.dial: _Owner | None = None
        self.local: tuple[str, int] | None = None
        self.endpoint = ""


class TCPProxySocket:
    """``tcpProxySocket``: the accept loop of one service port."""

    def __init__(self, proxier: "Proxier", key: tuple[str, str], port: int) -> None:
        self.proxier, self.key, self.port = proxier, key, port
        self.queue: list[_TCPConn] = []
        self.busy = False
        self.closed = False

    def handler(self, host, packet: Packet, data: object) -> None:
        """The node's listener on the proxy port: the kernel completed the handshake and the
        request arrived; the connection waits in the accept queue."""
        self.queue.append(_TCPConn(packet, data))
        if not self.busy:
            self._accept_next()

    def _accept_next(self) -> None:
        if self.closed or not self.queue:
            self.busy = False
            return
        self.busy = True
        conn = self.queue.pop(0)
        self.proxier.net.call_later(self.proxier.params.setup_s, lambda _e: self._try(conn))

    def _try(self, conn: _TCPConn) -> None:
        """One round of ``tryConnect``."""
        px = self.proxier
        if self.closed:
            return
        if conn.attempt >= len(ENDPOINT_DIAL_TIMEOUTS_S):
            px.stats["dial_failed"] += 1
            self._reset(conn)
            return
        ep = px.lb.next_endpoint(self.key, conn.client_ip, px.net.env.now)
        if ep is None:
            px.stats["no_endpoints"] += 1
            self._reset(conn)
            return
        timeout = ENDPOINT_DIAL_TIMEOUTS_S[conn.attempt]
        conn.attempt += 1
        conn.endpoint = ep
        ip, port = _split(ep)
        node = px.node
        dial = conn.dial = _Owner()
        local = node.bind_ephemeral("tcp", lambda p, d, err: self._on_backend(conn, dial, p, d, err),
                                    px.source_for(ip))
        if local is None:  # no ephemeral port: the dial fails at once
            dial.done = True
            self._try(conn)
            return
        conn.local = local
        px.net.set_deadline(timeout, dial, lambda: self._dial_failed(conn, dial))
        px.net.send_from(node, make_packet("tcp", local[0], ip, local[1], port, "S", 0,
                                           TCP_SYN_BYTES, "", "", None), None)

    def _dial_failed(self, conn: _TCPConn, dial: _Owner) -> None:
        dial.done = True
        self.proxier.stats["dial_retries"] += 1
        self.proxier.node.unbind("tcp", *conn.local)
        self._try(conn)

    def _on_backend(self, conn: _TCPConn, dial: _Owner, packet: Packet, data: object,
                    error: bool) -> None:
        px = self.proxier
        if error or "R" in packet.tcp_flags:
            if not dial.done:
                self._dial_failed(conn, dial)
            return
        if packet.tcp_flags == "SA" and not dial.done:
            # Connected: the accept loop moves on; proxyTCP copies the request over.
            dial.done = True
            px.stats["connected"] += 1
            self._accept_next()
            local, ip, port = conn.local, *_split(conn.endpoint)
            px.net.call_later(px.params.per_packet_s, lambda _e: px.net.send_from(
                px.node, make_packet("tcp", local[0], ip, local[1], port, "A", 0,
                                     conn.request.length, "", "", None), conn.data))
            return
        if data is not None and dial.done:
            # The backend's answer: copied back to the client, then both sides close.
            px.node.unbind("tcp", *conn.local)
            req = conn.request
            px.net.call_later(px.params.per_packet_s, lambda _e: px.net.send_from(
                px.node, make_packet("tcp", req.dst, req.src, req.dport, req.sport, "A", 0,
                                     req.length, "", "", None), data))

    def _reset(self, conn: _TCPConn) -> None:
        """``inConn.Close()`` with the request unread: the kernel sends a reset."""
        req = conn.request
        self.proxier.net.send_from(self.proxier.node, make_packet(
            "tcp", req.dst, req.src, req.dport, req.sport, "R", 0, TCP_SYN_BYTES, "", "", None), None)
        self._accept_next()


class _UDPClient:
    __slots__ = ("client", "local", "endpoint", "last", "owner", "reply_from")

    def __init__(self, client: tuple[str, int], reply_from: tuple[str, int]) -> None:
        self.client, self.reply_from = client, reply_from
        self.local: tuple[str, int] | None = None
        self.endpoint = ""
        self.last = 0.0
        self.owner = _Owner()


class UDPProxySocket:
    """``udpProxySocket``: per-client backend sockets with an idle timeout."""

    def __init__(self, proxier: "Proxier", key: tuple[str, str], port: int) -> None:
        self.proxier, self.key, self.port = proxier, key, port
        self.clients: dict[tuple[str, int], _UDPClient] = {}
        self.closed = False

    def handler(self, host, packet: Packet, data: object) -> None:
        px = self.proxier
        ckey = (packet.src, packet.sport)
        c = self.clients.get(ckey)
        if c is None:
            ep = px.lb.next_endpoint(self.key, packet.src, px.net.env.now)
            if ep is None:
                px.stats["no_endpoints"] += 1
                px.net.drop("userspace-no-endpoints")
                return
            c = _UDPClient(ckey, (packet.dst, packet.dport))
            ip, _port = _split(ep)
            local = px.node.bind_ephemeral("udp", lambda p, d, err: self._on_backend(c, p, d, err),
                                           px.source_for(ip))
            if local is None:
                px.net.drop("userspace-no-port")
                return
            c.local, c.endpoint = local, ep
            self.clients[ckey] = c
            c.last = px.net.env.now
            self._arm(c)
        c.last = px.net.env.now
        ip, port = _split(c.endpoint)
        local = c.local
        px.net.call_later(px.params.per_packet_s, lambda _e: px.net.send_from(
            px.node, make_packet("udp", local[0], ip, local[1], port, "", 0, packet.length,
                                 "", "", None), data))

    def _arm(self, c: _UDPClient) -> None:
        """Check the mapping when its idle deadline (``last`` + timeout) comes."""
        px = self.proxier
        due = max(c.last + px.idle_timeout_s - px.net.env.now, 0.0)
        px.net.call_later(due, lambda _e: self._check_idle(c))

    def _check_idle(self, c: _UDPClient) -> None:
        if c.owner.done:
            return
        # The timer was set for last + timeout; float rounding may bring it a hair early.
        if self.proxier.net.env.now >= c.last + self.proxier.idle_timeout_s - IDLE_EPSILON_S:
            self._close(c)
            self.proxier.stats["udp_idle_expired"] += 1
        else:
            self._arm(c)

    def _close(self, c: _UDPClient) -> None:
        c.owner.done = True
        if self.clients.get(c.client) is c:
            del self.clients[c.client]
        self.proxier.node.unbind("udp", *c.local)

    def _on_backend(self, c: _UDPClient, packet: Packet, data: object, error: bool) -> None:
        px = self.proxier
        if c.owner.done:
            return
        if error:  # proxyClient: Read failed -> the mapping goes
            self._close(c)
            return
        c.last = px.net.env.now
        src, client = c.reply_from, c.client
        px.net.call_later(px.params.per_packet_s, lambda _e: px.net.send_from(
            px.node, make_packet("udp", src[0], client[0], src[1], client[1], "", 0,
                                 packet.length, "", "", None), data))

    def close_all(self) -> None:
        for c in list(self.clients.values()):
            self._close(c)


class Proxier:
    """The proxy half of one node's 1.0 kube-proxy: its sockets and load balancer."""

    def __init__(self, world, node, params: UserspaceParams, idle_timeout_s: float) -> None:
        self.net = world.net
        self.node = node
        self.params = params
        self.idle_timeout_s = idle_timeout_s
        self.lb = LoadBalancerRR(component_rng(world.seed, f"userspace-lb/{node.name}"))
        self.sockets: dict[tuple[str, str], TCPProxySocket | UDPProxySocket] = {}
        self.stats = {"connected": 0, "dial_retries": 0, "dial_failed": 0, "no_endpoints": 0,
                      "udp_idle_expired": 0}
        self._bridges = [(net, str(net.network_address + 1)) for net in node.pod_nets
                         if net.version == 4 and net.num_addresses > 2]

    def source_for(self, dst: str) -> str:
        """The source address the kernel picks for the proxy's dial (the route's ``src``)."""
        addr = ipaddress.ip_address(dst)
        for net, ip in self._bridges:
            if addr in net:
                return ip
        return self.node.ip

    def update(self, prog: "UserspaceProgram") -> None:
        """``OnUpdate``: open sockets of new or changed service ports, close removed ones,
        hand the endpoints to the load balancer."""
        for key in [k for k in self.sockets if prog.ports.get(k) != self.sockets[k].port]:
            self._close(key)
        for svc in prog.services:
            port = prog.ports.get(svc.key)
            if port and svc.key not in self.sockets:
                cls = UDPProxySocket if svc.protocol == "udp" else TCPProxySocket
                sock = cls(self, svc.key, port)
                self.sockets[svc.key] = sock
                self.node.listeners[(svc.protocol, port)] = sock.handler
        self.lb.on_update({s.key: s for s in prog.services}, prog.endpoints)

    def _close(self, key) -> None:
        sock = self.sockets.pop(key)
        sock.closed = True
        self.node.listeners.pop((key[1], sock.port), None)
        if isinstance(sock, UDPProxySocket):
            sock.close_all()

    def stop(self) -> None:
        """The kube-proxy process exits: every socket closes."""
        for key in list(self.sockets):
            self._close(key)


# ---------------------------------------------------------------------------- backend
@dataclass(frozen=True, slots=True)
class UserspaceProgram:
    """What one sync leaves on a node: the nat rules (``rules`` counts all of them, ``lines``
    holds the portal rules), the sockets' ports, the services and the endpoints the load
    balancer holds."""

    ruleset: Ruleset
    rules: int
    lines: frozenset[str]
    services: tuple[ProxyService, ...]
    ports: dict
    endpoints: dict
    nat_chains: frozenset[str] = frozenset(CHAINS)
    deletions: int = 0


class UserspaceBackend:
    """The userspace mode's proxy backend (see :class:`sim.world.kubeproxy.RulesCache` for the
    contract). Holds each node's proxy ports between syncs (kept while a service port's
    configuration is unchanged, upstream's ``sameConfig``) and each node's :class:`Proxier`."""

    def __init__(self, config: KubeProxyConfig) -> None:
        # 1.0 ran OnUpdate on every change (no minSyncPeriod) and SyncLoop every 5 s.
        self.config = dataclasses.replace(config, min_sync_period_s=0.0,
                                          sync_period_s=SYNC_INTERVAL_S)
        self.params = UserspaceParams()
        self.idle_timeout_s = config.udp_idle_timeout_s or UDP_IDLE_TIMEOUT_S
        self.world = None
        self.proxiers: dict[str, Proxier] = {}
        self._ports: dict[str, tuple[dict, dict]] = {}  # node -> (ports, services by key)
        self._rngs: dict[str, object] = {}
        self._rulesets: dict[str, Ruleset] = {}
        self.compiles = 0
        self.applies = 0

    def attach(self, world) -> None:
        """The world this backend serves (the proxies send packets through its network) and
        its ``spec.network.userspaceProxy`` costs."""
        self.world = world
        self.params = world.params.userspace

    def program(self, state: ClusterState, node_name: str,
                existing_nat_chains: frozenset[str]) -> UserspaceProgram:
        services = proxy_services(state)
        by_key = {s.key: s for s in services}
        old_ports, old_services = self._ports.get(node_name, ({}, {}))
        # sameConfig: a service port keeps its socket (and port) while nothing changed.
        keep = {k: p for k, p in old_ports.items() if k in by_key and old_services.get(k) == by_key[k]}
        rng = self._rngs.get(node_name)
        if rng is None:
            rng = self._rngs[node_name] = component_rng(self.world.seed,
                                                        f"userspace-ports/{node_name}")
        ports = proxy_ports_for(state, node_name, self.config, self.world.seed, rng=rng, taken=keep)
        self._ports[node_name] = (ports, by_key)
        payload = compile_rules(state, node_name, ports)
        self.compiles += 1
        text = payload.render()
        ruleset = self._rulesets.get(text)
        if ruleset is None:
            ruleset = self._rulesets[text] = apply_payload(parse_restore(text), Ruleset(),
                                                           noflush=True)
            self.applies += 1
        nat = payload.tables[0].lines
        lines = frozenset(line for line in nat if not line.startswith(("-A PREROUTING ", "-A OUTPUT ")))
        return UserspaceProgram(ruleset, len(nat), lines, tuple(services), ports,
                                service_endpoints(state, node_name))

    def written(self, prev: UserspaceProgram | None, prog: UserspaceProgram, full: bool) -> int:
        """``iptables`` commands this sync runs (``-N``/``-C``/``-A``/``-D``, one process each)."""
        if prev is None:
            # Start: iptablesInit, iptablesFlush of the four chains, then EnsureRule per rule.
            return INIT_COMMANDS + len(CHAINS) + 2 * len(prog.lines)
        added, removed = prog.lines - prev.lines, prev.lines - prog.lines
        if added or removed:
            return 2 * len(added) + len(removed)
        if prog.endpoints != prev.endpoints:
            return 0  # endpoints go to the load balancer only
        return INIT_COMMANDS + len(prog.lines)  # SyncLoop: iptablesInit + ensurePortals

    def duration_s(self, restore, written: int) -> float:
        return written * self.params.iptables_call_s

    def install(self, node, prog: UserspaceProgram) -> None:
        node.datapath.load(prog.ruleset)
        proxier = self.proxiers.get(node.name)
        if proxier is None:
            proxier = self.proxiers[node.name] = Proxier(self.world, node, self.params,
                                                         self.idle_timeout_s)
        proxier.update(prog)

    def stopped(self, node) -> None:
        """kube-proxy exited on ``node``: its sockets close; a restart allocates new ports."""
        proxier = self.proxiers.get(node.name)
        if proxier is not None:
            proxier.stop()
        self._ports.pop(node.name, None)


__all__ = ["LoadBalancerRR", "Proxier", "UserspaceBackend", "UserspaceParams"]
