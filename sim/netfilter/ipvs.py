"""The IPVS stage of a node: virtual servers, the kernel's schedulers, the connection table.

Model
    :class:`IPVSStage` is what ``net/netfilter/ipvs`` does on one node with the table
    kube-proxy programmed (a :class:`sim.ipvs.IPVSTable`). It sits on the node's hook path
    where ``ip_vs_core.c`` registers its hooks:

    * ``ip_vs_reply4`` at LOCAL_IN (priority NAT_SRC-2) and FORWARD (100), and
      ``ip_vs_local_reply4`` at LOCAL_OUT (NAT_DST+1): a reply from a real server (found in
      the connection table by its out tuple) gets the virtual address back as its source
      (``handle_response``), and the connection's state moves (OUTPUT direction);
    * ``ip_vs_remote_request4`` at LOCAL_IN (NAT_SRC-1, after filter INPUT, before nat
      INPUT) for packets to addresses the node owns (the kube-ipvs0 addresses included) and
      ``ip_vs_local_request4`` at LOCAL_OUT (NAT_DST+2, after nat OUTPUT): ``ip_vs_in`` finds
      the connection by its in tuple or schedules a new one (TCP only on a SYN without RST,
      ``tcp_conn_schedule``), DNATs the packet to the real server and, with
      ``net.ipv4.vs.conntrack=1`` (kube-proxy sets it), alters the still unconfirmed
      conntrack entry's reply tuple (``ip_vs_update_conntrack``) so the kernel's conntrack
      recognises the replies. ``ip_vs_nat_xmit`` then sends a packet for a remote real
      server through ``NF_HOOK(LOCAL_OUT, ..., dst_output)``: raw and mangle OUTPUT again,
      filter OUTPUT, POSTROUTING (where KUBE-POSTROUTING masquerades it), conntrack
      confirmation; a packet for a real server on the node itself continues on LOCAL_IN.

    Schedulers pick exactly as the kernel modules do over the service's destination list,
    which ``__ip_vs_update_dest`` builds with ``list_add_rcu`` (newest destination first):
    ``rr`` (``ip_vs_rr.c``: a cursor per service, the next destination with weight > 0
    after it, wrapping once), ``wrr`` (``ip_vs_wrr.c``: current weight ``cw`` stepping down
    by the gcd ``di`` from ``mw = max - (di - 1)``), ``lc`` (``ip_vs_lc.c``: the first
    destination of least overhead ``activeconns * 256 + inactconns``), ``wlc``
    (``ip_vs_wlc.c``: least overhead/weight by cross multiplication), ``sh``
    (``ip_vs_sh.c``: 256 buckets filled round the list, each destination ``weight`` buckets
    in a row, bucket ``hash_32(source, 8)``), ``dh`` (``ip_vs_dh.c``: 256 buckets, one
    destination each in list order, bucket ``hash_32(daddr, 8)``). A destination of
    weight 0 gets no new connections. No destination: ``ip_vs_leave`` answers ICMP port
    unreachable (a REJECT verdict).

    Connections (``ip_vs_conn.c``) are keyed by their in tuple (client -> virtual) and out
    tuple (real server -> client) and expire on their own timers: TCP per IPVS TCP state
    (``ip_vs_proto_tcp.c`` ``tcp_timeouts`` and ``tcp_states``; ESTABLISHED 900 s, FIN_WAIT
    120 s, or ``ipvs.tcpTimeout`` / ``tcpFinTimeout``), UDP 300 s (``ipvs.udpTimeout``). A
    new connection starts inactive and counts as active only while ESTABLISHED
    (``set_tcp_state``); UDP connections stay inactive. ClientIP affinity is a persistent
    service: a template per (client, virtual address, port) holds the chosen destination,
    re-armed to the persistence timeout by every connection it schedules and kept while it
    controls connections (``ip_vs_sched_persist``, ``ip_vs_conn_expire``). kube-proxy's
    sysctls are modelled: ``expire_nodest_conn=1`` (a packet of a connection whose
    destination was deleted is dropped and the connection expired; a SYN reusing a
    connection to a weight-0 destination is rescheduled), ``expire_quiescent_template=1`` (a
    template whose destination has weight 0 is dropped and the client rescheduled) and
    ``conn_reuse_mode=1`` (a SYN on a TIME_WAIT connection is rescheduled; when the old
    conntrack entry is still confirmed the SYN is dropped and both entries removed, the
    client's retransmission starts afresh). An expiring connection removes its conntrack
    entry (``ip_vs_conn_expire`` -> ``ip_vs_conn_drop_conntrack``), so the two tables stay in
    step the way the kernel keeps them.

    :meth:`IPVSStage.apply` installs a table as kube-proxy's netlink calls would: services
    added, updated (scheduler, persistence) or deleted; destinations added (at the list
    head), re-weighted or deleted (a deleted destination is unavailable: its connections
    drop on their next packet). Graceful termination (``pkg/proxy/ipvs/graceful_termination.go``)
    is kube-proxy's, not the kernel's: :meth:`IPVSStage.apply` with ``graceful=True`` keeps a
    TCP destination that left the table at weight 0 while it has connections and
    :meth:`IPVSStage.delete_drained` (kube-proxy's once-a-minute ``tryDeleteRs``) removes it
    once it has none; UDP and SCTP destinations are deleted at once.
Scope and limitations
    IPv4, masquerading (NAT) forwarding only (kube-proxy uses nothing else); no fwmark
    services, one-packet scheduling, overload thresholds, ``sh-port``/``sh-fallback`` flags,
    ``sloppy_tcp``, IPVS's own ICMP handling (``ip_vs_in_icmp``: an ICMP error is left to
    conntrack), the ``secure_tcp`` state table, or connection synchronisation. SCTP
    connections have one state with the TCP ESTABLISHED timeout (the SCTP state machine is
    not modelled). Expiry is checked in simulated time at each packet (the kernel's timers
    fire in between; the counters the schedulers read are brought up to date first).
Validation
    NOT checked against a kernel: this machine's kernel has no ``CONFIG_IP_VS``. The
    schedulers, the TCP state table and timeouts, persistence and the sysctl behaviours are
    checked against the kernel sources named above, case by case, in
    ``tests/netfilter/test_ipvs.py`` (pick sequences worked out from ``ip_vs_rr.c``,
    ``ip_vs_wrr.c``, ``ip_vs_lc.c``, ``ip_vs_wlc.c``, ``ip_vs_sh.c``, ``ip_vs_dh.c``); the
    hook placement (what iptables rules an IPVS packet meets) against ``ip_vs_core.c`` and
    ``ip_vs_xmit.c``.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from sim.ipvs import IPVSTable, RealServer, VirtualServer
from sim.model.config import IPVSConfig
from sim.model.errors import SimError
from sim.netfilter.compiled import OUT_FILTER, OUT_MANGLE, OUT_RAW, run_table
from sim.netfilter.engine import PacketContext, _Stop
from sim.netfilter.pipeline import postrouting
from sim.netfilter.types import CtDir, Hook, TraceStep, Verdict

# ---------------------------------------------------------------- TCP states and timeouts
# IP_VS_TCP_S_* (include/uapi/linux/ip_vs.h order)
(S_NONE, S_ESTABLISHED, S_SYN_SENT, S_SYN_RECV, S_FIN_WAIT, S_TIME_WAIT, S_CLOSE,
 S_CLOSE_WAIT, S_LAST_ACK, S_LISTEN, S_SYNACK) = range(11)
TCP_STATE_NAMES = ("NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
                   "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK")
# ip_vs_proto_tcp.c tcp_timeouts (seconds), by state
TCP_TIMEOUTS_S = (2.0, 900.0, 120.0, 60.0, 120.0, 120.0, 10.0, 60.0, 30.0, 120.0, 120.0)
UDP_TIMEOUT_S = 300.0  # ip_vs_proto_udp.c udp_timeouts[IP_VS_UDP_S_NORMAL]
CONN_NEW_TIMEOUT_S = 3.0  # ip_vs_conn_new: cp->timeout = 3*HZ before the first transition

_NO, _ES, _SS, _SR, _FW, _TW, _CL, _CW, _LA, _LI, _SA = range(11)
# ip_vs_proto_tcp.c tcp_states: [direction][event][state] -> next state; direction 0 INPUT
# (client -> real server), 1 OUTPUT (real server -> client); event 0 syn, 1 fin, 2 ack, 3 rst.
_TCP_NEXT = (
    ((_SR, _ES, _ES, _SR, _SR, _SR, _SR, _SR, _SR, _SR, _SR),
     (_CL, _CW, _SS, _TW, _TW, _TW, _CL, _CW, _LA, _LI, _TW),
     (_CL, _ES, _SS, _ES, _FW, _TW, _CL, _CW, _CL, _LI, _ES),
     (_CL, _CL, _CL, _SR, _CL, _CL, _CL, _CL, _LA, _LI, _SR)),
    ((_SS, _ES, _SS, _SR, _SS, _SS, _SS, _SS, _SS, _LI, _SR),
     (_TW, _FW, _SS, _TW, _FW, _TW, _CL, _TW, _LA, _LI, _TW),
     (_ES, _ES, _SS, _ES, _FW, _TW, _CL, _CW, _LA, _ES, _ES),
     (_CL, _CL, _SS, _CL, _CL, _TW, _CL, _CL, _CL, _CL, _CL)),
)
DIR_INPUT, DIR_OUTPUT = 0, 1


def tcp_event(flags: str) -> int:
    """``tcp_state_idx``: rst 3, else syn 0, else fin 1, else ack 2; -1 for none of them."""
    if "R" in flags:
        return 3
    if "S" in flags:
        return 0
    if "F" in flags:
        return 1
    if "A" in flags:
        return 2
    return -1


def tcp_timeouts(config: IPVSConfig | None) -> tuple[float, ...]:
    """The TCP timeout table after kube-proxy's ``ipvsadm --set``-equivalent
    (``ip_vs_set_timeout``: tcp -> ESTABLISHED, tcpfin -> FIN_WAIT; 0 leaves the kernel's)."""
    t = list(TCP_TIMEOUTS_S)
    if config is not None:
        if config.tcp_timeout_s > 0:
            t[S_ESTABLISHED] = float(config.tcp_timeout_s)
        if config.tcp_fin_timeout_s > 0:
            t[S_FIN_WAIT] = float(config.tcp_fin_timeout_s)
    return tuple(t)


# ---------------------------------------------------------------- addresses

def ip_int(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def hash_32(value: int, bits: int) -> int:
    """``include/linux/hash.h`` ``hash_32``: ``(value * GOLDEN_RATIO_32) >> (32 - bits)``."""
    return ((value * 0x61C88647) & 0xFFFFFFFF) >> (32 - bits)


def sh_bucket(source: int, port: int = 0) -> int:
    """``ip_vs_sh_hashkey`` (offset 0): ``hash_32(port + saddr, 8) & 255``; ``port`` is 0
    unless the service has the ``sh-port`` flag (kube-proxy sets none)."""
    return hash_32((port + source) & 0xFFFFFFFF, 8) & 255


def dh_bucket(destination: int) -> int:
    """``ip_vs_dh_hashkey``: ``hash_32(daddr, 8)`` (kernels before 4.x multiplied by
    2654435761 and kept the low 8 bits; the current source hashes with ``hash_32``)."""
    return hash_32(destination, 8)


# ---------------------------------------------------------------- destinations, services

class Dest:
    """A real server of one service (``struct ip_vs_dest``): weight and connection counters."""

    __slots__ = ("address", "addr", "port", "weight", "activeconns", "inactconns",
                 "persistconns", "available")

    def __init__(self, address: str, port: int, weight: int) -> None:
        self.address = address
        self.addr = ip_int(address)
        self.port = port
        self.weight = weight
        self.activeconns = 0
        self.inactconns = 0
        self.persistconns = 0
        self.available = True  # IP_VS_DEST_F_AVAILABLE: cleared when deleted

    def overhead(self) -> int:
        """``ip_vs_dest_conn_overhead``: ``(activeconns << 8) + inactconns``."""
        return (self.activeconns << 8) + self.inactconns

    def real_server(self) -> RealServer:
        return RealServer(self.address, self.port, self.weight)

    def __repr__(self) -> str:
        return f"Dest({self.address}:{self.port} w={self.weight})"


class Scheduler:
    """A scheduling module: state per service, kept in step with the destination list."""

    name = ""

    def __init__(self, svc: "Service") -> None:
        self.svc = svc

    def dest_added(self, dest: Dest) -> None:  # add_dest
        pass

    def dest_deleted(self, index: int, dest: Dest) -> None:  # del_dest (dest unlinked)
        pass

    def dest_updated(self, dest: Dest) -> None:  # upd_dest
        pass

    def schedule(self, src: int, dst: int) -> Dest | None:
        raise NotImplementedError


class RoundRobin(Scheduler):
    """``ip_vs_rr.c``: ``sched_data`` points at the last destination picked (initially the
    list head); the next pick is the first destination after it with weight > 0, wrapping
    round the list once."""

    name = "rr"

    def __init__(self, svc: "Service") -> None:
        super().__init__(svc)
        self.pos = -1  # the cursor's index in the list; -1: the list head

    def dest_added(self, dest: Dest) -> None:
        if self.pos >= 0:
            self.pos += 1  # linked before the cursor (at the head)

    def dest_deleted(self, index: int, dest: Dest) -> None:
        # ip_vs_rr_del_dest: a cursor on the deleted destination moves to the one before it
        # (index - 1, or the head); a cursor after it keeps its destination.
        if self.pos >= index:
            self.pos -= 1

    def schedule(self, src: int, dst: int) -> Dest | None:
        dests = self.svc.dests
        n = len(dests)
        start = self.pos + 1
        for k in range(n):
            i = (start + k) % n
            if dests[i].weight > 0:
                self.pos = i
                return dests[i]
        return None


class WeightedRoundRobin(Scheduler):
    """``ip_vs_wrr.c``: mark ``cl`` (current destination or head), ``cw`` current weight,
    ``mw`` = max weight - (di - 1), ``di`` = gcd of the positive weights."""

    name = "wrr"

    def __init__(self, svc: "Service") -> None:
        super().__init__(svc)
        self.cl = -1  # mark->cl as an index in the list; -1: the list head
        self.di = self._gcd()
        self.mw = self._max() - (self.di - 1)
        self.cw = self.mw

    def _gcd(self) -> int:
        g = 0
        for d in self.svc.dests:
            if d.weight > 0:
                g = gcd(d.weight, g) if g > 0 else d.weight
        return g or 1

    def _max(self) -> int:
        return max((d.weight for d in self.svc.dests), default=0)

    def _changed(self) -> None:  # ip_vs_wrr_dest_changed
        self.cl = -1
        self.di = self._gcd()
        self.mw = self._max() - (self.di - 1)
        if self.cw > self.mw or not self.cw:
            self.cw = self.mw
        elif self.di > 1:
            self.cw = (self.cw // self.di) * self.di + 1

    def dest_added(self, dest: Dest) -> None:
        self._changed()

    def dest_deleted(self, index: int, dest: Dest) -> None:
        self._changed()

    def dest_updated(self, dest: Dest) -> None:
        self._changed()

    def schedule(self, src: int, dst: int) -> Dest | None:
        dests = self.svc.dests
        n = len(dests)
        if self.mw == 0:
            return None
        # Positions: -1 is the list head, 0..n-1 the destinations.
        last = self.cl
        pos = last
        stop: int | None = None
        last_pass = restarted = False
        while True:
            for i in range(pos + 1, n):
                d = dests[i]
                if d.weight >= self.cw:
                    self.cl = i
                    return d
                if i == stop:
                    self.cl = i
                    return None
            pos = -1
            self.cw -= self.di
            if self.cw <= 0:
                self.cw = self.mw
                if last_pass or last == -1:
                    self.cl = -1
                    return None
                restarted = True
            last_pass = self.cw <= self.di
            if last_pass and restarted and last != -1:
                stop = last


class LeastConnection(Scheduler):
    """``ip_vs_lc.c``: the first destination (list order) of least overhead, weight 0
    skipped."""

    name = "lc"

    def schedule(self, src: int, dst: int) -> Dest | None:
        least = None
        loh = 0
        for d in self.svc.dests:
            if d.weight == 0:
                continue
            doh = d.overhead()
            if least is None or doh < loh:
                least, loh = d, doh
        return least


class WeightedLeastConnection(Scheduler):
    """``ip_vs_wlc.c``: start from the first destination with weight > 0, then take a later
    one when ``loh * its weight > doh * least's weight``."""

    name = "wlc"

    def schedule(self, src: int, dst: int) -> Dest | None:
        dests = self.svc.dests
        for i, d in enumerate(dests):
            if d.weight > 0:
                least, loh = d, d.overhead()
                break
        else:
            return None
        for d in dests[i + 1:]:
            doh = d.overhead()
            if loh * d.weight > doh * least.weight:
                least, loh = d, doh
        return least


class _Buckets(Scheduler):
    """A 256-bucket table rebuilt on every destination change."""

    def __init__(self, svc: "Service") -> None:
        super().__init__(svc)
        self.buckets: list[Dest | None] = []
        self._assign()

    def _assign(self) -> None:
        raise NotImplementedError

    def dest_added(self, dest: Dest) -> None:
        self._assign()

    def dest_deleted(self, index: int, dest: Dest) -> None:
        self._assign()

    def dest_updated(self, dest: Dest) -> None:
        self._assign()

    @staticmethod
    def usable(d: Dest | None) -> Dest | None:
        return d if d is not None and d.available and d.weight > 0 else None


class SourceHashing(_Buckets):
    """``ip_vs_sh.c``: ``ip_vs_sh_reassign`` walks the list round, giving each destination
    ``weight`` consecutive buckets (at least one: the count check is ``>= weight``)."""

    name = "sh"

    def _assign(self) -> None:
        dests = self.svc.dests
        out: list[Dest | None] = []
        if not dests:
            self.buckets = [None] * 256
            return
        i = 0
        count = 0
        for _ in range(256):
            d = dests[i % len(dests)]
            out.append(d)
            count += 1
            if count >= d.weight:
                i += 1
                count = 0
        self.buckets = out

    def schedule(self, src: int, dst: int) -> Dest | None:
        return self.usable(self.buckets[sh_bucket(src)])


class DestinationHashing(_Buckets):
    """``ip_vs_dh.c``: ``ip_vs_dh_reassign`` gives bucket i the i-th destination round the
    list (weights do not matter)."""

    name = "dh"

    def _assign(self) -> None:
        dests = self.svc.dests
        self.buckets = [dests[i % len(dests)] for i in range(256)] if dests else [None] * 256

    def schedule(self, src: int, dst: int) -> Dest | None:
        return self.usable(self.buckets[dh_bucket(dst)])


SCHEDULERS: dict[str, type[Scheduler]] = {
    s.name: s for s in (RoundRobin, WeightedRoundRobin, LeastConnection,
                        WeightedLeastConnection, SourceHashing, DestinationHashing)}


class Service:
    """A virtual server (``struct ip_vs_service``) with its destination list in the kernel's
    order (newest first) and its scheduler's state."""

    __slots__ = ("protocol", "address", "addr", "port", "persistence_s", "dests",
                 "scheduler")

    def __init__(self, vs: VirtualServer) -> None:
        self.protocol = vs.protocol
        self.address = vs.address
        self.addr = ip_int(vs.address)
        self.port = vs.port
        self.persistence_s = vs.persistence_s
        self.dests: list[Dest] = []
        self.scheduler: Scheduler = _scheduler(vs.scheduler)(self)

    def find(self, address: str, port: int) -> Dest | None:
        for d in self.dests:
            if d.address == address and d.port == port:
                return d
        return None

    def add_dest(self, rs: RealServer) -> Dest:
        """``ip_vs_new_dest`` + ``__ip_vs_update_dest(add)``: linked at the list head."""
        d = Dest(rs.address, rs.port, rs.weight)
        self.dests.insert(0, d)
        self.scheduler.dest_added(d)
        return d

    def set_weight(self, d: Dest, weight: int) -> None:
        if d.weight != weight:
            d.weight = weight
            self.scheduler.dest_updated(d)

    def del_dest(self, d: Dest) -> None:
        """``__ip_vs_del_dest``: unlinked and unavailable (its connections drop)."""
        index = self.dests.index(d)
        del self.dests[index]
        d.available = False
        self.scheduler.dest_deleted(index, d)

    def set_scheduler(self, name: str) -> None:
        if name != self.scheduler.name:
            self.scheduler = _scheduler(name)(self)

    def virtual_server(self) -> VirtualServer:
        return VirtualServer(self.protocol, self.address, self.port, self.scheduler.name,
                             self.persistence_s,
                             tuple(d.real_server() for d in self.dests))


def _scheduler(name: str) -> type[Scheduler]:
    try:
        return SCHEDULERS[name or "rr"]
    except KeyError:
        raise SimError(f'ipvs.scheduler: Unsupported value: "{name}": the IPVS engine models '
                       + ", ".join(f'"{n}"' for n in SCHEDULERS)) from None


# ---------------------------------------------------------------- connections

class Conn:
    """One IPVS connection (``struct ip_vs_conn``) or persistence template."""

    __slots__ = ("protocol", "caddr", "cport", "vaddr", "vport", "daddr", "dport", "dest",
                 "svc", "state", "inactive", "timeout", "expires_at", "control", "n_control",
                 "template", "nfct", "alive")

    def __init__(self, protocol: str, caddr: int, cport: int, vaddr: int, vport: int,
                 dest: Dest, svc: Service, template: bool = False) -> None:
        self.protocol = protocol
        self.caddr, self.cport, self.vaddr, self.vport = caddr, cport, vaddr, vport
        self.daddr, self.dport = dest.addr, dest.port
        self.dest = dest
        self.svc = svc
        self.state = S_NONE
        self.inactive = True  # dest->conn_flags carries IP_VS_CONN_F_INACTIVE
        self.timeout = CONN_NEW_TIMEOUT_S
        self.expires_at = 0.0
        self.control: Conn | None = None
        self.n_control = 0
        self.template = template
        self.nfct = not template  # IP_VS_CONN_F_NFCT (net.ipv4.vs.conntrack=1)
        self.alive = True

    @property
    def state_name(self) -> str:
        if self.template:
            return "NONE"
        return TCP_STATE_NAMES[self.state] if self.protocol == "tcp" else "UDP"


@dataclass(frozen=True, slots=True)
class ConnSnapshot:
    """One line of ``ipvsadm -Lnc``: protocol, state, expiry, client, virtual, real."""

    protocol: str
    state: str
    expires_in_s: float
    source: str
    virtual: str
    destination: str
    template: bool


def _ip(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


class IPVSStage:
    """The IPVS state of one node: services, connections, templates; the hooks' work.

    Parameters
    ----------
    config
        kube-proxy's ``ipvs`` settings (timeouts; 0 keeps the kernel's).
    """

    def __init__(self, config: IPVSConfig | None = None) -> None:
        self.config = config or IPVSConfig()
        self.tcp_timeouts = tcp_timeouts(config)
        self.udp_timeout_s = (float(config.udp_timeout_s) if config is not None
                              and config.udp_timeout_s > 0 else UDP_TIMEOUT_S)
        self.services: dict[tuple[str, int, int], Service] = {}
        self.conns_in: dict[tuple, Conn] = {}
        self.conns_out: dict[tuple, Conn] = {}
        self.templates: dict[tuple, Conn] = {}
        self._heap: list[tuple[float, int, Conn]] = []
        self._seq = 0
        # kube-proxy's graceful termination list: (service key, dest) kept at weight 0
        self.terminating: dict[tuple, Dest] = {}
        # For the tracer: the (address, port) the next schedule must pick (None: the
        # scheduler's choice)
        self.forced: tuple[str, int] | None = None
        # the node's own addresses before kube-ipvs0's (set by attach)
        self.base_local: frozenset[int] = frozenset()
        # ip_vs_conn_drop_conntrack: called with an expiring connection that carries
        # IP_VS_CONN_F_NFCT (set by attach; None: no conntrack to keep in step)
        self.drop_conntrack = None

    # ------------------------------------------------------------ programming

    def apply(self, table: IPVSTable, *, graceful: bool = True, now: float = 0.0) -> None:
        """Make the services equal ``table`` (kube-proxy's ``syncService``/``syncEndpoint``
        netlink calls). Real servers are added in the table's order (so the kernel list holds
        them last-first); with ``graceful``, a TCP real server that left the table and still
        has connections stays at weight 0 until :meth:`delete_drained`."""
        self.expire(now)
        wanted = {(vs.protocol, ip_int(vs.address), vs.port): vs for vs in table.virtual_servers}
        for key in [k for k in self.services if k not in wanted]:
            self._delete_service(key)
        for key, vs in wanted.items():
            svc = self.services.get(key)
            if svc is None:
                svc = self.services[key] = Service(vs)
            else:
                svc.set_scheduler(vs.scheduler)
                svc.persistence_s = vs.persistence_s
            keep = {(rs.address, rs.port): rs for rs in vs.real_servers}
            for d in list(svc.dests):
                rs = keep.get((d.address, d.port))
                if rs is not None:
                    if rs.weight > 0:  # desired again: out of the graceful-deletion list
                        self.terminating.pop((key, d.address, d.port), None)
                    svc.set_weight(d, rs.weight)
                elif graceful and svc.protocol == "tcp" and d.activeconns + d.inactconns > 0:
                    # graceful_termination.go GracefulDeleteRS: weight 0, queued
                    svc.set_weight(d, 0)
                    self.terminating[(key, d.address, d.port)] = d
                else:
                    self.terminating.pop((key, d.address, d.port), None)
                    svc.del_dest(d)
            have = {(d.address, d.port) for d in svc.dests}
            for rs in vs.real_servers:
                if (rs.address, rs.port) not in have:
                    svc.add_dest(rs)

    def delete_drained(self, now: float) -> int:
        """kube-proxy's ``tryDeleteRs``: delete the queued real servers that have no
        connections left; the number deleted."""
        self.expire(now)
        done = 0
        for k, d in list(self.terminating.items()):
            svc = self.services.get(k[0])
            if svc is None or d not in svc.dests:
                del self.terminating[k]
                continue
            if d.activeconns + d.inactconns == 0:
                svc.del_dest(d)
                del self.terminating[k]
                done += 1
        return done

    def _delete_service(self, key: tuple) -> None:
        svc = self.services.pop(key)
        for d in list(svc.dests):
            svc.del_dest(d)
        for k in [k for k in self.terminating if k[0] == key]:
            del self.terminating[k]

    def table(self) -> IPVSTable:
        """The services as they are now (kernel list order, current weights)."""
        return IPVSTable(tuple(self.services[k].virtual_server() for k in sorted(self.services)))

    # ------------------------------------------------------------ connection table

    def _arm(self, cp: Conn, now: float, timeout: float) -> None:
        """``ip_vs_conn_put``: the timer re-armed to ``now + timeout``."""
        cp.timeout = timeout
        cp.expires_at = now + timeout
        self._seq += 1
        heapq.heappush(self._heap, (cp.expires_at, self._seq, cp))

    def expire(self, now: float) -> None:
        """Run the connection timers due by ``now`` (``ip_vs_conn_expire``)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, cp = heapq.heappop(heap)
            if not cp.alive or cp.expires_at != at:
                continue
            if cp.n_control:
                # a template controlling connections: expire_later
                self._arm(cp, at, cp.timeout)
                continue
            self._unlink(cp)

    def _unlink(self, cp: Conn) -> None:
        """Unhash and unbind the connection from its destination and its template."""
        if not cp.alive:
            return
        cp.alive = False
        d = cp.dest
        if cp.template:
            key = (cp.protocol, cp.caddr, cp.vaddr, cp.vport)
            if self.templates.get(key) is cp:
                del self.templates[key]
            d.persistconns -= 1
        else:
            if cp.nfct and self.drop_conntrack is not None:
                self.drop_conntrack(cp)  # ip_vs_conn_expire: the conntrack entry goes too
            kin = (cp.protocol, cp.caddr, cp.cport, cp.vaddr, cp.vport)
            if self.conns_in.get(kin) is cp:
                del self.conns_in[kin]
            kout = (cp.protocol, cp.daddr, cp.dport, cp.caddr, cp.cport)
            if self.conns_out.get(kout) is cp:
                del self.conns_out[kout]
            if cp.inactive:
                d.inactconns -= 1
            else:
                d.activeconns -= 1
            if cp.control is not None:
                cp.control.n_control -= 1
                cp.control = None

    def connections(self, now: float) -> list[ConnSnapshot]:
        """``ipvsadm -Lnc``: live connections and templates, sorted."""
        self.expire(now)
        out = []
        for cp in list(self.conns_in.values()) + list(self.templates.values()):
            out.append(ConnSnapshot(
                cp.protocol.upper(), cp.state_name, max(0.0, cp.expires_at - now),
                f"{_ip(cp.caddr)}:{cp.cport}", f"{_ip(cp.vaddr)}:{cp.vport}",
                f"{_ip(cp.daddr)}:{cp.dport}", cp.template))
        return sorted(out, key=lambda s: (s.virtual, s.source, s.destination, s.template))

    def _new_conn(self, proto: str, src: int, sport: int, dst: int, dport: int,
                  dest: Dest, svc: Service, now: float) -> Conn:
        """``ip_vs_conn_new`` + ``ip_vs_bind_dest``: starts inactive."""
        cp = Conn(proto, src, sport, dst, dport, dest, svc)
        dest.inactconns += 1
        self.conns_in[(proto, src, sport, dst, dport)] = cp
        self.conns_out[(proto, dest.addr, dest.port, src, sport)] = cp
        self._arm(cp, now, CONN_NEW_TIMEOUT_S)
        return cp

    def _transition(self, cp: Conn, direction: int, flags: str, now: float) -> None:
        """``tcp_state_transition`` / ``udp_state_transition``: state, counters, timer."""
        if cp.protocol == "tcp":
            ev = tcp_event(flags)
            new = _CL if ev < 0 else _TCP_NEXT[direction][ev][cp.state]
            if new != cp.state:
                d = cp.dest
                if not cp.inactive and new != S_ESTABLISHED:
                    d.activeconns -= 1
                    d.inactconns += 1
                    cp.inactive = True
                elif cp.inactive and new == S_ESTABLISHED:
                    d.activeconns += 1
                    d.inactconns -= 1
                    cp.inactive = False
            cp.state = new
            self._arm(cp, now, self.tcp_timeouts[new])
        elif cp.protocol == "udp":
            self._arm(cp, now, self.udp_timeout_s)
        else:
            self._arm(cp, now, self.tcp_timeouts[S_ESTABLISHED])

    # ------------------------------------------------------------ scheduling

    def _pick(self, svc: Service, src: int, dst: int) -> Dest | None:
        forced = self.forced
        if forced is not None:
            return svc.find(*forced)
        return svc.scheduler.schedule(src, dst)

    def _template_ok(self, ct: Conn) -> bool:
        """``ip_vs_check_template`` with ``expire_quiescent_template=1``."""
        d = ct.dest
        return ct.alive and d.available and d.weight > 0

    def schedule(self, svc: Service, proto: str, src: int, sport: int, dst: int, dport: int,
                 now: float) -> Conn | None:
        """``ip_vs_schedule``: a new connection, through the persistence template when the
        service is persistent (``ip_vs_sched_persist``); None when no destination."""
        if svc.persistence_s > 0:
            key = (proto, src, dst, dport)
            ct = self.templates.get(key)
            if ct is None or not self._template_ok(ct):
                if ct is not None:
                    # invalid template: unhashed (children keep their control pointer)
                    del self.templates[key]
                    if ct.n_control == 0:
                        self._unlink(ct)
                dest = self._pick(svc, src, dst)
                if dest is None:
                    return None
                ct = Conn(proto, src, 0, dst, dport, dest, svc, template=True)
                dest.persistconns += 1
                self.templates[key] = ct
            dest = ct.dest
            cp = self._new_conn(proto, src, sport, dst, dport, dest, svc, now)
            cp.control = ct
            ct.n_control += 1
            self._arm(ct, now, float(svc.persistence_s))
            return cp
        dest = self._pick(svc, src, dst)
        if dest is None:
            return None
        return self._new_conn(proto, src, sport, dst, dport, dest, svc, now)

    # ------------------------------------------------------------ hooks

    def request(self, proto: str, src: int, sport: int, dst: int, dport: int, flags: str,
                now: float, ct_confirmed: bool) -> tuple[str, Conn | None]:
        """``ip_vs_in`` for one packet. Returns ``(action, conn)``:

        * ``("accept", None)``: not IPVS's (no service, or a TCP packet other than a SYN
          without a connection): the packet goes on as it is;
        * ``("nat", conn)``: DNAT to ``conn``'s real server;
        * ``("drop", conn)``: dropped (destination deleted; or a reused connection whose old
          conntrack entry is confirmed: ``conn`` is the expired connection, whose
          conntrack entry the caller removes);
        * ``("reject", None)``: no destination available (``ip_vs_leave``: ICMP port
          unreachable).

        ``ct_confirmed``: the packet's conntrack entry is confirmed (an old connection).
        """
        self.expire(now)
        key = (proto, src, sport, dst, dport)
        cp = self.conns_in.get(key)
        syn = proto == "tcp" and "S" in flags
        if cp is not None and syn:
            resched = False
            if cp.dest.weight == 0:  # expire_nodest_conn=1 and a quiesced destination
                resched = True
            elif cp.protocol == "tcp" and cp.state == S_TIME_WAIT:  # conn_reuse_mode=1
                resched = True
            if resched:
                if not ct_confirmed:
                    cp.nfct = False  # the packet's new conntrack entry must survive
                self._unlink(cp)
                if ct_confirmed:
                    return "drop", cp
                cp = None
        if cp is None:
            if proto == "tcp" and (not syn or "R" in flags):
                return "accept", None
            svc = self.services.get((proto, dst, dport))
            if svc is None:
                return "accept", None
            cp = self.schedule(svc, proto, src, sport, dst, dport, now)
            if cp is None:
                return "reject", None
        elif not cp.dest.available:
            # expire_nodest_conn=1: the connection expires now, the packet is dropped
            self._unlink(cp)
            return "drop", cp
        self._transition(cp, DIR_INPUT, flags, now)
        return "nat", cp

    def reply(self, proto: str, src: int, sport: int, dst: int, dport: int, flags: str,
              now: float) -> Conn | None:
        """``ip_vs_out``: the connection a packet from a real server to a client belongs
        to (its state moves in the OUTPUT direction); None when it is not IPVS's."""
        self.expire(now)
        cp = self.conns_out.get((proto, src, sport, dst, dport))
        if cp is None:
            return None
        self._transition(cp, DIR_OUTPUT, flags, now)
        return cp

    # ------------------------------------------------------------ the engine's hooks
    #
    # NodeNetfilter calls these with the packet's context when its ``ipvs`` attribute holds
    # this stage (see :func:`attach`).

    def local_in(self, c: PacketContext) -> bool:
        """LOCAL_IN after filter INPUT: ``ip_vs_reply4`` then ``ip_vs_remote_request4``.
        True when IPVS sent the packet on to a remote real server (the rest of its path,
        OUTPUT and POSTROUTING, has run); False when it goes on up LOCAL_IN."""
        if c.ipvs or c.proto not in _PROTOS or c.invalid or c.related:
            return False
        if self._out(c):
            return False
        if not self._in(c):
            return False
        eng = c.eng
        if eng.is_local(c.dst):
            return False  # a real server on this node: NF_ACCEPT, on to the socket
        # ip_vs_nat_xmit -> ip_vs_nat_send_or_cont: NF_HOOK(LOCAL_OUT, ..., dst_output).
        # nat OUTPUT is not consulted (the DST manip was set up at PREROUTING); conntrack
        # sees the entry already attached; POSTROUTING's nat runs for a new connection.
        st = eng._compiled.starts
        c.local = False
        c.route()
        c.hooks.append(_OUT)
        run_table(c, _OUT, st[OUT_RAW])
        run_table(c, _OUT, st[OUT_MANGLE])
        run_table(c, _OUT, st[OUT_FILTER])
        postrouting(c)
        return True

    def forward(self, c: PacketContext) -> None:
        """FORWARD after filter: ``ip_vs_reply4`` (a reply to a client elsewhere)."""
        if not c.ipvs and c.proto in _PROTOS and not c.invalid and not c.related:
            self._out(c)

    def local_out(self, c: PacketContext) -> None:
        """LOCAL_OUT after nat OUTPUT: ``ip_vs_local_reply4`` then ``ip_vs_local_request4``
        (a connection from a process on the node; the DNATed packet traverses raw and
        mangle OUTPUT again, ``NF_HOOK`` in ``ip_vs_nat_send_or_cont``)."""
        if c.ipvs or c.proto not in _PROTOS or c.invalid or c.related:
            return
        if self._out(c):
            return
        if self._in(c) and not c.eng.is_local(c.dst):
            st = c.eng._compiled.starts
            run_table(c, _OUT, st[OUT_RAW])
            run_table(c, _OUT, st[OUT_MANGLE])

    def info(self, c: PacketContext) -> tuple | None:
        """What ``-m ipvs`` (``xt_ipvs.c``) sees of the packet: ``(virtual address, virtual
        port, forwarding method, original direction, control connection's virtual port)``
        for a packet IPVS handled (``ipvs_property``) whose connection ``conn_out_get``
        finds with the inverted tuple (a DNATed request: client -> real server), else
        None."""
        if not c.ipvs:
            return None
        cp = self.conns_out.get((c.proto, c.dst, c.dport, c.src, c.sport))
        if cp is None:
            return None
        ctl = cp.control.vport if cp.control is not None else None
        return (cp.vaddr, cp.vport, "MASQ", not c.is_reply, ctl)

    def _out(self, c: PacketContext) -> bool:
        cp = self.reply(c.proto, c.src, c.sport, c.dst, c.dport, c.tflags, c.now)
        if cp is None:
            return False
        c.ipvs = True
        c.src, c.sport = cp.vaddr, cp.vport  # handle_response: snat_handler
        if c.trail is not None:
            c.trail.append(TraceStep(
                "ipvs", _vs_name(cp.svc), 0,
                f"reply {_ip(cp.daddr)}:{cp.dport} -> {_ip(cp.vaddr)}:{cp.vport} "
                f"state {cp.state_name}", "ipvs"))
        return True

    def _in(self, c: PacketContext) -> bool:
        """``ip_vs_in``: True when the packet was DNATed to a real server."""
        confirmed = c.ct is not None and c.new_entry is None
        action, cp = self.request(c.proto, c.src, c.sport, c.dst, c.dport, c.tflags, c.now,
                                  confirmed)
        if action == "accept":
            return False
        trail = c.trail
        if action == "reject":
            svc = self.services[(c.proto, c.dst, c.dport)]
            if trail is not None:
                trail.append(TraceStep("ipvs", _vs_name(svc), 0,
                                       "no destination available", "ipvs"))
            raise _Stop(Verdict.REJECT, "ipvs", "icmp-port-unreachable")
        assert cp is not None
        if action == "drop":
            # the connection expired with IP_VS_CONN_F_NFCT and took its conntrack entry
            # along (ip_vs_conn_drop_conntrack)
            if trail is not None:
                trail.append(TraceStep("ipvs", _vs_name(cp.svc), 0,
                                       f"drop: connection to {_ip(cp.daddr)}:{cp.dport} "
                                       "expired", "ipvs"))
            raise _Stop(Verdict.NF_DROP, "ipvs")
        c.ipvs = True
        e = c.new_entry
        if e is not None and not c.is_reply:
            # ip_vs_update_conntrack: the unconfirmed entry expects replies from the real
            # server
            e.reply = (c.proto, cp.dest.address, cp.dport, e.reply[3], e.reply[4])
            e.ipvs = True
        c.dst, c.dport = cp.daddr, cp.dport
        if trail is not None:
            how = (f"persistent {cp.svc.persistence_s}s" if cp.control is not None
                   else cp.svc.scheduler.name)
            trail.append(TraceStep(
                "ipvs", _vs_name(cp.svc), 0,
                f"-> {_ip(cp.daddr)}:{cp.dport} ({how}; state {cp.state_name})", "ipvs"))
        return True

    # ------------------------------------------------------------ the tracer's view

    def choices(self, svc: Service, src: int, dst: int) -> tuple[str, list[tuple[Dest, Fraction | None]]]:
        """The destinations a new connection from ``src`` may get and how likely each is.

        ``rr`` and ``wrr`` are random-like over their start position: each destination with
        weight > 0 has its share of a full cycle (1/N, or weight/sum of weights). ``sh``
        and ``dh`` pick one destination for this source / destination (probability 1).
        ``lc`` and ``wlc`` depend on the connections each destination has: the destination
        picked with the counters as they are now (probability None: state-dependent).
        A persistent service with a live template for this client keeps its destination.
        Returns ``(kind, [(dest, probability), ...])`` with kind ``cycle``, ``hash``,
        ``state`` or ``persistent``.
        """
        ct = self.templates.get((svc.protocol, src, dst, svc.port))
        if svc.persistence_s > 0 and ct is not None and self._template_ok(ct):
            return "persistent", [(ct.dest, Fraction(1))]
        sched = svc.scheduler
        live = [d for d in svc.dests if d.weight > 0]
        if isinstance(sched, (RoundRobin, WeightedRoundRobin)):
            if isinstance(sched, RoundRobin):
                return "cycle", [(d, Fraction(1, len(live))) for d in live]
            total = sum(d.weight for d in live)
            return "cycle", [(d, Fraction(d.weight, total)) for d in live]
        d = sched.schedule(src, dst)
        if isinstance(sched, (SourceHashing, DestinationHashing)):
            return "hash", [(d, Fraction(1))] if d is not None else []
        return "state", [(d, None)] if d is not None else []

    def service(self, proto: str, address: str, port: int) -> Service | None:
        return self.services.get((proto, ip_int(address), port))


_PROTOS = frozenset({"tcp", "udp", "sctp"})
_OUT = Hook.OUTPUT


def _vs_name(svc: Service) -> str:
    return f"{svc.protocol.upper()} {svc.address}:{svc.port}"


def attach(nf, table: IPVSTable | None = None, config: IPVSConfig | None = None,
           now: float = 0.0) -> IPVSStage:
    """Give the engine ``nf`` (a :class:`~sim.netfilter.engine.NodeNetfilter`) an IPVS
    stage, with ``table`` applied and its virtual addresses bound to the node (kube-ipvs0)."""
    stage = IPVSStage(config)
    nf.ipvs = stage
    nf.ipvs_info = stage.info

    def drop_conntrack(cp: Conn) -> None:
        # the entry whose ORIGINAL tuple is the connection's client -> virtual tuple
        ct = nf.conntrack
        hit = ct._by_tuple.get((cp.protocol, _ip(cp.caddr), cp.cport, _ip(cp.vaddr), cp.vport))
        if hit is not None and hit[1] is CtDir.ORIGINAL:
            ct._remove(hit[0])

    stage.drop_conntrack = drop_conntrack
    stage.base_local = nf.local
    if table is not None:
        apply(nf, table, now=now)
    return stage


def apply(nf, table: IPVSTable, *, graceful: bool = True, now: float = 0.0,
          addresses: Iterable[str] | None = None) -> None:
    """Program ``table`` into ``nf``'s IPVS stage and make the node own the kube-ipvs0
    addresses (``addresses``; default: every virtual server's address)."""
    stage: IPVSStage = nf.ipvs
    stage.apply(table, graceful=graceful, now=now)
    bound = (frozenset(ip_int(a) for a in addresses) if addresses is not None
             else frozenset(ip_int(vs.address) for vs in table.virtual_servers))
    nf.local = stage.base_local | bound


def stage_for(table: IPVSTable, config: IPVSConfig | None = None,
              now: float = 0.0) -> IPVSStage:
    """A stage with ``table`` applied (what a freshly synced node has)."""
    stage = IPVSStage(config)
    stage.apply(table, now=now)
    return stage


def schedule_sequence(vs: VirtualServer, sources: Iterable[str]) -> list[str]:
    """The ``ip:port`` each successive new connection from ``sources`` gets on a fresh
    service built from ``vs`` (no connection ends in between): a worked example helper.

    >>> from sim.ipvs import RealServer, VirtualServer
    >>> vs = VirtualServer("tcp", "10.96.0.10", 80, "rr",
    ...                    real_servers=(RealServer("10.244.0.1", 80),
    ...                                  RealServer("10.244.0.2", 80)))
    >>> schedule_sequence(vs, ["10.0.0.1"] * 3)   # the newest destination comes first
    ['10.244.0.2:80', '10.244.0.1:80', '10.244.0.2:80']
    """
    stage = stage_for(IPVSTable((vs,)))
    svc = stage.services[(vs.protocol, ip_int(vs.address), vs.port)]
    out = []
    for i, s in enumerate(sources):
        cp = stage.schedule(svc, vs.protocol, ip_int(s), 10000 + i, svc.addr, vs.port, 0.0)
        out.append("-" if cp is None else f"{cp.dest.address}:{cp.dest.port}")
    return out


__all__ = [
    "CONN_NEW_TIMEOUT_S", "Conn", "apply", "attach", "trace_ipvs_packet", "ConnSnapshot", "Dest", "IPVSStage", "SCHEDULERS",
    "Scheduler", "Service", "TCP_STATE_NAMES", "TCP_TIMEOUTS_S", "UDP_TIMEOUT_S", "dh_bucket",
    "hash_32", "schedule_sequence", "sh_bucket", "stage_for", "tcp_event", "tcp_timeouts",
]


# ---------------------------------------------------------------- tracing

_KIND_NOTES = {
    "rr": "rr: new connections go to the real servers in turn; over the cursor's position "
          "each has an equal share",
    "wrr": "wrr: new connections follow the weight cycle; over its position each real server "
           "has weight/total",
    "lc": "lc: least connections (active*256 + inactive) decides: state-dependent; this is "
          "the pick with the real servers' current connections",
    "wlc": "wlc: least connections per weight decides: state-dependent; this is the pick "
           "with the real servers' current connections",
}


def trace_ipvs_packet(nf, packet, *, local_out: bool, in_iface: str = "eth0",
                      now: float = 0.0) -> list:
    """Every outcome of ``packet`` on the node ``nf`` (a fresh
    :class:`~sim.netfilter.engine.NodeNetfilter` with an IPVS stage, see :func:`attach`),
    as :class:`~sim.netfilter.tracer.Outcome` objects (the iptables mode's shape).

    A packet to a virtual server gives one outcome per real server it may get: with its
    share of the cycle for ``rr``/``wrr`` (random-like over the scheduler's position), the
    single real server ``sh`` (source hash) or ``dh`` (destination hash) picks with
    probability 1, or the server ``lc``/``wlc`` picks now with probability ``None``
    (state-dependent: it changes with the servers' connections). Any other packet has one
    outcome. The stage and conntrack are left as they were.
    """
    import numpy as np

    from sim.netfilter.tracer import Outcome

    stage: IPVSStage = nf.ipvs
    proto = packet.proto.lower()
    src, dst = ip_int(packet.src), ip_int(packet.dst)
    svc = stage.services.get((proto, dst, packet.dport))
    plans: list[tuple[Dest | None, Fraction | None, tuple[str, ...]]] = [(None, Fraction(1), ())]
    if svc is not None:
        kind, choices = stage.choices(svc, src, dst)
        sched = svc.scheduler.name
        if kind == "persistent":
            note = (f"persistent {svc.persistence_s}s: the client's template holds this real "
                    "server")
        elif kind == "hash":
            bucket = sh_bucket(src) if sched == "sh" else dh_bucket(dst)
            what = f"source {packet.src}" if sched == "sh" else f"destination {packet.dst}"
            note = f"{sched}: bucket {bucket} of 256 (hash_32 of the {what})"
        else:
            note = _KIND_NOTES[sched]
        if svc.persistence_s > 0 and kind != "persistent":
            note += f"; then persistent for {svc.persistence_s}s (ClientIP affinity)"
        if choices:
            plans = [(d, p, (note,)) for d, p in choices]
    out = []
    rng = np.random.default_rng(0)
    saved = _snapshot(stage, nf)
    for dest, prob, conditions in plans:
        stage.forced = None if dest is None else (dest.address, dest.port)
        try:
            res = (nf.output(packet, now, rng) if local_out
                   else nf.prerouting(packet, now, rng, in_iface))
        finally:
            stage.forced = None
            _restore(stage, nf, saved)
        pkt = res.packet
        dnat = res.dnat or (res.verdict is Verdict.NF_ACCEPT and
                            (pkt.dst, pkt.dport) != (packet.dst, packet.dport))
        where = f"{pkt.dst}:{pkt.dport}" if dnat else None
        out.append(Outcome(res.verdict, res.reject_with, where, res.masqueraded, prob,
                           conditions, res.trail, pkt, res.local, res.walk_length, res))
    return out


def _snapshot(stage: IPVSStage, nf) -> tuple:
    """The stage's tables and the node's conntrack, copied (the trace runs leave no trace)."""
    return copy.deepcopy((stage.services, stage.conns_in, stage.conns_out, stage.templates,
                          stage._heap, stage.terminating, nf.conntrack))


def _restore(stage: IPVSStage, nf, saved: tuple) -> None:
    (stage.services, stage.conns_in, stage.conns_out, stage.templates, stage._heap,
     stage.terminating, nf.conntrack) = copy.deepcopy(saved)
