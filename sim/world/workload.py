"""Clients: processes that open connections at a rate and record each outcome.

A client lives in a pod, on a node (host network) or outside the cluster. It opens TCP
connections (or sends UDP datagrams) to a target at a constant rate or as a Poisson process,
drawing inter-arrival gaps from its own random stream. A target is an ``ip:port`` or a Service
reached by its cluster IP, a node's NodePort, an externalIP or its load-balancer address,
resolved against the apiserver's state when each connection starts (a client keeps using the
address it was configured with, as a real one would).

A target only needs ``label`` and ``resolve(state) -> (ip, port) | None``, a function of the
state alone (a client resolves again only when the world has a new state snapshot). Clients
that look a name up through cluster DNS first are ``sim.world.dns.DNSClient``: they resolve
in simulated time, then open the same :class:`Connection`.
"""

from __future__ import annotations

import math

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simpy.core import URGENT

from sim.model.cluster import ClusterState
from sim.model.packet import Packet, make_packet
from sim.world.network import Host, Reply
from sim.world.recorder import ConnectionRecord

TCP_SYN_BYTES = 60
REQUEST_BYTES = 200


@dataclass(frozen=True, slots=True)
class AddressTarget:
    """A literal ``ip:port``."""

    ip: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.ip}:{self.port}"

    def resolve(self, state: ClusterState) -> tuple[str, int] | None:
        return self.ip, self.port


@dataclass(frozen=True, slots=True)
class ServiceTarget:
    """A Service port reached one way: ``clusterIP``, ``nodePort`` (on ``node``),
    ``externalIP`` or ``loadBalancer`` (the first ingress address)."""

    namespace: str
    name: str
    port: int | str
    via: str = "clusterIP"
    node: str = ""

    @property
    def label(self) -> str:
        where = f"@{self.node}" if self.node else ""
        return f"{self.via}:{self.namespace}/{self.name}:{self.port}{where}"

    def resolve(self, state: ClusterState) -> tuple[str, int] | None:
        svc = state.service(self.namespace, self.name)
        if svc is None:
            return None
        sp = next((p for p in svc.ports if p.port == self.port or (p.name and p.name == self.port)),
                  None)
        if sp is None:
            return None
        if self.via == "clusterIP":
            return (svc.cluster_ip, sp.port) if svc.has_cluster_ip else None
        if self.via == "nodePort":
            node = state.node(self.node)
            if node is None or not sp.node_port:
                return None
            return node.internal_ip, sp.node_port
        if self.via == "externalIP":
            return (svc.external_ips[0], sp.port) if svc.external_ips else None
        ips = [i.ip for i in svc.load_balancer_ingress if i.ip]
        return (ips[0], sp.port) if ips else None


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """One stream of connections from one client.

    ``arrival`` is ``constant`` or ``poisson``; the flow stops after ``count`` connections or
    at ``stop_s``, whichever comes first.
    """

    name: str
    client_kind: str  # pod | node | external
    client: str  # pod "ns/name", node name or external host name
    target: object
    proto: str = "tcp"
    rate_per_s: float = 10.0
    arrival: str = "constant"
    start_s: float = 0.0
    stop_s: float = float("inf")
    count: int | None = None
    connect_timeout_s: float = 1.0


def constant_arrivals(rate_per_s: float, start_s: float, stop_s: float) -> float:
    """Connections a constant flow opens: one at each ``start + k / rate`` (k = 0, 1, ...)
    strictly before ``stop`` (the active interval is half-open, ``[start, stop)``), so
    ``rate x (stop - start)`` when that is a whole number, rounded up otherwise.

    >>> constant_arrivals(10, 0, 5), constant_arrivals(20, 0, 5), constant_arrivals(7, 0, 5)
    (50, 100, 35)
    >>> constant_arrivals(3, 1, 2.5), constant_arrivals(10, 0, float("inf"))
    (5, inf)
    """
    if stop_s == float("inf"):
        return float("inf")
    x = (stop_s - start_s) * rate_per_s
    if x <= 0:
        return 0
    # A relative tolerance of 1e-9 absorbs the rounding of rates such as 0.0666666667/s.
    return math.ceil(x - 1e-9 * x)


class Arrivals:
    """A flow's arrival process: waits until ``spec.start_s``, then calls ``open_one(env)``
    at a constant rate or with exponential gaps (``arrival: poisson``) until ``spec.stop_s``
    or ``spec.count`` connections. The gaps are drawn from ``rng``, the flow's own stream.

    Callbacks on the SimPy queue rather than a generator process (one step per connection,
    so it is on the hot path), scheduled exactly as the process would be: the first step as
    ``env.process()`` schedules it (``URGENT``, now), each gap as the ``env.timeout`` the
    process would yield, after ``open_one`` returns. Only the process's own end event, which
    nothing waits for, is not scheduled; the order of every other event is the same. A
    constant gap is a ``Network.set_deadline`` (every client of a rate shares one FIFO, out
    of SimPy's heap), a Poisson one a ``Network.call_later``.
    """

    __slots__ = ("env", "net", "spec", "rng", "open_one", "opened", "mean_gap", "done", "limit")

    def __init__(self, world, spec: FlowSpec, rng, open_one: Callable[[Any], None]) -> None:
        self.env, self.net = world.env, world.net
        self.spec, self.rng, self.open_one = spec, rng, open_one
        self.opened = 0
        self.mean_gap = 1.0 / spec.rate_per_s  # > 0: the scenario loader checks it
        self.done = False  # no gap is pending once the flow has ended
        # How many connections may open: count, and for constant arrivals the number of
        # instants start + k/rate inside [start, stop) (see constant_arrivals).
        limit = float("inf") if spec.count is None else spec.count
        if spec.arrival != "poisson":
            limit = min(limit, constant_arrivals(spec.rate_per_s, spec.start_s, spec.stop_s))
        self.limit = limit

    def start(self) -> None:
        self.net.call_later(0.0, self._begin, URGENT)

    def _begin(self, _ev) -> None:
        env, spec = self.env, self.spec
        if spec.start_s > env.now:
            self.net.call_later(spec.start_s - env.now, self._next)
        else:
            self._next(None)

    def _next(self, _ev=None) -> None:
        spec = self.spec
        # Constant arrivals stop by their number (the gaps add up with float rounding, so the
        # clock alone would let a 51st connection in at 4.9999999 s of a 10/s, 5 s flow).
        if self.opened < self.limit and (spec.arrival != "poisson" or self.env._now < spec.stop_s):
            self.opened += 1
            self.open_one(self.env)
            if spec.arrival == "poisson":
                self.net.call_later(self.rng.exponential(self.mean_gap), self._next)
            else:
                self.net.set_deadline(self.mean_gap, self, self._next)
        else:
            self.done = True


class Client:
    """The process behind one :class:`FlowSpec`; constructed idle, started by :meth:`start`."""

    def __init__(self, world, spec: FlowSpec, rng) -> None:
        self.world = world
        self.spec = spec
        self.rng = rng
        self._label = spec.target.label  # targets are frozen: the label never changes
        # (state, resolved address) of the last resolution: snapshots are immutable, so the
        # answer holds until the world has a new one.
        self._resolved: tuple[ClusterState | None, tuple[str, int] | None] = (None, None)

    def _host(self) -> Host | None:
        net = self.world.net
        kind, name = self.spec.client_kind, self.spec.client
        if kind == "node":
            return net.nodes.get(name)
        if kind == "external":
            return net.externals.get(name)
        return self.world.pod_hosts.get(name)

    def start(self, env) -> None:
        Arrivals(self.world, self.spec, self.rng, self._open).start()

    def _open(self, env) -> None:
        spec = self.spec
        host = self._host()
        rec = self.world.recorder.new_connection(
            spec.name, spec.client, host.ip if host is not None else "", spec.proto,
            self._label, env.now)
        if host is None or not host.alive:
            rec.outcome = "unresolved"
            return
        state = self.world.state
        cached_state, resolved = self._resolved
        if cached_state is not state:
            resolved = spec.target.resolve(state)
            self._resolved = (state, resolved)
        if resolved is None:
            rec.outcome = "unresolved"
            return
        Connection(self.world, host, rec, resolved[0], resolved[1], spec).start(env)


class Connection:
    """One connection's state machine (callbacks, not a process: it is on the hot path)."""

    __slots__ = ("world", "host", "rec", "dst", "dport", "spec", "src", "sport", "done", "env",
                 "established")

    def __init__(self, world, host: Host, rec: ConnectionRecord, dst: str, dport: int,
                 spec: FlowSpec) -> None:
        self.world, self.host, self.rec = world, host, rec
        self.dst, self.dport, self.spec = dst, dport, spec
        self.done = False
        self.established = False

    def start(self, env) -> None:
        self.env = env
        proto = self.spec.proto
        bound = self.host.bind_ephemeral(proto, self.on_packet)
        if bound is None:
            # connect() fails at once: every ephemeral port of the address is in use.
            self.done = True
            self.rec.outcome, self.rec.error = "error", "EADDRNOTAVAIL"
            return
        self.src, self.sport = bound
        if proto == "tcp":
            pkt = make_packet("tcp", self.src, self.dst, self.sport, self.dport, "S", 0,
                              TCP_SYN_BYTES, "", "", None)
            data = None
        else:
            pkt = make_packet(proto, self.src, self.dst, self.sport, self.dport, "", 0,
                              REQUEST_BYTES, "", "", None)
            data = self.rec.id
        net = self.world.net
        net.set_deadline(self.spec.connect_timeout_s, self, self.timed_out)
        net.send_from(self.host, pkt, data)

    def _finish(self, outcome: str) -> None:
        self.done = True
        self.rec.outcome = outcome
        self.rec.elapsed_s = self.env.now - self.rec.start_s
        self.host.unbind(self.spec.proto, self.src, self.sport)

    def timed_out(self) -> None:
        """The connect timeout passed with nothing back (called only while not done)."""
        self._finish("timeout")

    def on_packet(self, packet: Packet, data: object, error: bool) -> None:
        if self.done:
            return
        if (packet.dst != self.dst or packet.dport != self.dport) if error else (
                packet.src != self.dst or packet.sport != self.dport):
            # Socket lookup matches the whole 4-tuple: an answer from another address (a
            # hairpinned reply that missed its un-DNAT) does not belong to this connection,
            # nor does an ICMP error quoting a datagram to another destination (for an
            # error, ``packet`` is the quoted datagram: __udp4_lib_err's lookup).
            return
        if error or "R" in packet.tcp_flags:
            # A reset after the handshake (a userspace proxy closing an accepted connection
            # with the request unread) is not a refusal at the SYN.
            self._finish("reset" if self.established and not error else "refused")
            return
        if isinstance(data, Reply):
            self.rec.server = data.server
            self.rec.server_node = data.node
            self.rec.source_seen = data.peer_ip
            self._finish("ok")
            return
        if packet.tcp_flags == "SA":
            self.established = True
            ack = make_packet("tcp", self.src, self.dst, self.sport, self.dport, "A", 0,
                              REQUEST_BYTES, "", "", None)
            self.world.net.send_from(self.host, ack, self.rec.id)
