"""Per-node connection tracking: tuples in both directions, NAT mappings, TCP/UDP state and
timeouts that expire with simulated time, and the ``nf_conntrack_max`` limit.

Models ``net/netfilter/nf_conntrack_core.c`` (lookup by either tuple, confirmation at the end
of the hooks, early drop of a non-assured entry when the table is full),
``nf_conntrack_proto_tcp.c`` (a reduced state machine with the kernel's per-state timeouts;
established and close-wait timeouts as kube-proxy configures them) and
``nf_conntrack_proto_udp.c`` (30 s until a reply was seen and for short exchanges, 120 s
"stream" once a replied flow is older than 2 s).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from sim.model.config import ConntrackConfig
from sim.netfilter.types import ConntrackSnapshot, CtDir, TcpState

Tuple4 = tuple[str, str, int, str, int]  # proto, src, sport, dst, dport

# nf_conntrack_tcp_timeout_* defaults (seconds) for the states kube-proxy does not set.
TCP_TIMEOUTS = {
    TcpState.SYN_SENT: 120.0,
    TcpState.SYN_RECV: 60.0,
    TcpState.FIN_WAIT: 120.0,
    TcpState.LAST_ACK: 30.0,
    TcpState.TIME_WAIT: 120.0,
    TcpState.CLOSE: 10.0,
}
_TIMEOUT_BY_VALUE = {s._value_: t for s, t in TCP_TIMEOUTS.items()}
UDP_STREAM_AFTER_S = 2.0  # nf_conntrack_udp_packet: "still active after two seconds"
GENERIC_TIMEOUT_S = 600.0  # nf_conntrack_generic_timeout (sctp/icmp and others here)
ICMP_TIMEOUT_S = 30.0


# Enum members are descriptors in Python 3.11: bind them once for the per-packet paths.
(_SYN_SENT, _SYN_RECV, _ESTABLISHED, _FIN_WAIT, _CLOSE_WAIT, _LAST_ACK, _TIME_WAIT, _CLOSE) = tuple(TcpState)
_ORIGINAL, _REPLY = CtDir.ORIGINAL, CtDir.REPLY


@dataclass(slots=True)
class Entry:
    """One tracked connection (mutable; snapshots go out)."""

    proto: str
    orig: Tuple4
    reply: Tuple4
    created: float
    expires_at: float
    tcp_state: TcpState | None = None
    seen_reply: bool = False
    assured: bool = False
    mark: int = 0
    fin_dir: CtDir | None = None
    masquerade: bool = False
    heap_at: float = 0.0  # the deadline of this entry's item in the expiry heap
    ipvs: bool = False  # reply tuple altered by IPVS (ip_vs_update_conntrack), not DST_NAT

    @property
    def dnat(self) -> bool:
        return self.orig[3] != self.reply[1] or self.orig[4] != self.reply[2]

    @property
    def snat(self) -> bool:
        return self.orig[1] != self.reply[3] or self.orig[2] != self.reply[4]

    def state(self) -> tuple:
        """The fields a :class:`~sim.netfilter.types.Result` keeps (cheap copy)."""
        return (self.proto, self.orig[1:], self.reply[1:], self.seen_reply, self.assured,
                self.tcp_state, self.expires_at, self.mark)

    def snapshot(self) -> ConntrackSnapshot:
        status = {"CONFIRMED"}
        if self.seen_reply:
            status.add("SEEN_REPLY")
        if self.assured:
            status.add("ASSURED")
        if self.dnat and not self.ipvs:
            status.add("DST_NAT")
        if self.snat:
            status.add("SRC_NAT")
        return ConntrackSnapshot(self.proto, self.orig[1:], self.reply[1:], frozenset(status),
                                 self.tcp_state, self.expires_at, self.mark)


class ConntrackTable:
    """The conntrack table of one node (one network namespace).

    Parameters
    ----------
    max_entries
        ``nf_conntrack_max``. When full, a new connection evicts the oldest entry that is not
        ASSURED (the kernel's ``early_drop``); if every entry is assured the packet is dropped.
    config
        Timeouts (``KubeProxyConfig.conntrack``).
    """

    def __init__(self, max_entries: int = 262144, config: ConntrackConfig | None = None) -> None:
        self.max_entries = max_entries
        self.config = config or ConntrackConfig()
        self._by_tuple: dict[Tuple4, tuple[Entry, CtDir]] = {}
        self._entries: dict[Tuple4, Entry] = {}  # by original tuple, in creation order
        # Expiry heap, lazily: one item per live entry at its deadline when pushed; an
        # entry whose deadline moved later is re-armed when its item comes up, so a packet
        # that extends a timeout (most of them) pushes nothing.
        self._expiry: list[tuple[float, int, Entry]] = []
        self._seq = 0
        self.drops_full = 0
        self.early_drops = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, t: Tuple4, now: float) -> tuple[Entry, CtDir] | None:
        """The live entry whose original or reply tuple is ``t``, and the direction."""
        hit = self._by_tuple.get(t)
        if hit is None:
            return None
        if hit[0].expires_at <= now:
            self._remove(hit[0])
            return None
        return hit

    def reply_in_use(self, t: Tuple4, now: float) -> bool:
        """Whether ``t`` is already some live entry's tuple (source-port clash check)."""
        return self.lookup(t, now) is not None

    def entries(self, now: float | None = None) -> list[Entry]:
        """Live entries in creation order."""
        if now is not None:
            self.expire(now)
        return list(self._entries.values())

    def expire(self, now: float) -> None:
        """Remove every entry whose timeout passed."""
        heap = self._expiry
        while heap and heap[0][0] <= now:
            at, _, e = heapq.heappop(heap)
            if self._entries.get(e.orig) is not e or at != e.heap_at:
                continue  # removed already, or a stale item (the entry was re-pushed)
            if e.expires_at <= now:
                self._remove(e)
            else:
                self._push(e)

    def flush(self) -> None:
        """``conntrack -F``."""
        self._by_tuple.clear()
        self._entries.clear()
        self._expiry.clear()

    def make_room(self, now: float) -> bool:
        """Before confirming a new entry: expire, then early-drop if full. False: drop."""
        if len(self._entries) < self.max_entries:
            return True
        self.expire(now)
        if len(self._entries) < self.max_entries:
            return True
        for e in self._entries.values():
            if not e.assured:
                self._remove(e)
                self.early_drops += 1
                return True
        self.drops_full += 1
        return False

    def reopens(self, e: Entry, direction: CtDir) -> bool:
        """A SYN in the original direction on a connection in TIME_WAIT or CLOSE reopens
        it (nf_conntrack_tcp_packet: the old entry is killed and the SYN is a NEW packet that
        goes through nat again). Removes the old entry when so."""
        if e.proto != "tcp" or direction is not _ORIGINAL or e.tcp_state not in (_TIME_WAIT,
                                                                                 _CLOSE):
            return False
        self._remove(e)
        return True

    def confirm(self, entry: Entry) -> None:
        """Insert a new entry (``__nf_conntrack_confirm``)."""
        self._entries[entry.orig] = entry
        self._by_tuple[entry.orig] = (entry, _ORIGINAL)
        self._by_tuple[entry.reply] = (entry, _REPLY)
        self._push(entry)

    def _push(self, entry: Entry) -> None:
        self._seq += 1
        entry.heap_at = entry.expires_at
        heapq.heappush(self._expiry, (entry.expires_at, self._seq, entry))

    def _remove(self, e: Entry) -> None:
        if self._entries.get(e.orig) is e:
            del self._entries[e.orig]
        for t in (e.orig, e.reply):
            hit = self._by_tuple.get(t)
            if hit is not None and hit[0] is e:
                del self._by_tuple[t]

    # ------------------------------------------------------------------ state machines

    def new_entry(self, orig: Tuple4, reply: Tuple4, now: float, tcp_flags: str) -> Entry:
        """A fresh entry for the first packet of a connection (not yet confirmed); its mark
        (``ct->mark``) is 0 until CONNMARK sets it."""
        proto = orig[0]
        if proto == "tcp":
            state = _SYN_SENT if "S" in tcp_flags else _ESTABLISHED
            return Entry(proto, orig, reply, now, now + self._tcp_timeout(state), state)
        e = Entry(proto, orig, reply, now, now)
        if proto == "udp":
            e.expires_at = now + self.config.udp_timeout_s
        elif proto == "icmp":
            e.expires_at = now + ICMP_TIMEOUT_S
        else:
            e.expires_at = now + GENERIC_TIMEOUT_S
        return e

    def _tcp_timeout(self, state: TcpState) -> float:
        if state is _ESTABLISHED:
            return self.config.tcp_established_timeout_s
        if state is _CLOSE_WAIT:
            return self.config.tcp_close_wait_timeout_s
        # Keyed by the member's value: hashing an Enum member runs Enum.__hash__ in Python.
        return _TIMEOUT_BY_VALUE[state._value_]

    def update(self, e: Entry, direction: CtDir, tcp_flags: str, now: float) -> None:
        """Advance state and timeout for a packet of a confirmed entry."""
        if direction is _REPLY:
            e.seen_reply = True
        if e.proto == "tcp":
            e.tcp_state = self._tcp_next(e, direction, tcp_flags)
            if e.tcp_state is _ESTABLISHED and e.seen_reply:
                e.assured = True
            e.expires_at = now + self._tcp_timeout(e.tcp_state)
        elif e.proto == "udp":
            if e.seen_reply and now - e.created > UDP_STREAM_AFTER_S:
                e.assured = True
                e.expires_at = now + self.config.udp_stream_timeout_s
            else:
                e.expires_at = now + self.config.udp_timeout_s
        elif e.proto == "icmp":
            e.expires_at = now + ICMP_TIMEOUT_S
        else:
            e.expires_at = now + GENERIC_TIMEOUT_S
        if e.expires_at < e.heap_at:
            self._push(e)  # the deadline moved earlier (a TCP close): arm the earlier one

    @staticmethod
    def _tcp_next(e: Entry, d: CtDir, flags: str) -> TcpState:
        s = e.tcp_state
        if "R" in flags:
            return _CLOSE
        if "F" in flags:
            if s in (_FIN_WAIT, _CLOSE_WAIT) and e.fin_dir is not d:
                return _LAST_ACK
            if s in (_ESTABLISHED, _SYN_RECV):
                e.fin_dir = d
                return _FIN_WAIT
            return s or _ESTABLISHED
        if s is _SYN_SENT and d is _REPLY and "S" in flags and "A" in flags:
            return _SYN_RECV
        if s is _SYN_RECV and d is _ORIGINAL and "A" in flags:
            return _ESTABLISHED
        if s is _FIN_WAIT and "A" in flags and e.fin_dir is not d:
            return _CLOSE_WAIT
        if s is _LAST_ACK and "A" in flags and e.fin_dir is d:
            return _TIME_WAIT
        return s or _ESTABLISHED
