"""Kernel-named enums and the result records of the engine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from sim.model.packet import Packet


class Hook(IntEnum):
    """Netfilter hooks, numbered as ``enum nf_inet_hooks``."""

    PREROUTING = 0
    INPUT = 1
    FORWARD = 2
    OUTPUT = 3
    POSTROUTING = 4


class Verdict(Enum):
    """The fate of a packet: ``NF_ACCEPT``, ``NF_DROP``, or ``REJECT`` (``NF_DROP`` after the
    REJECT target sent an ICMP error or a TCP reset back to the sender)."""

    NF_ACCEPT = "ACCEPT"
    NF_DROP = "DROP"
    REJECT = "REJECT"


class CtState(Enum):
    """``--ctstate`` of a packet (``enum ip_conntrack_info`` as the conntrack match sees it)."""

    NEW = "NEW"
    ESTABLISHED = "ESTABLISHED"
    RELATED = "RELATED"
    INVALID = "INVALID"
    UNTRACKED = "UNTRACKED"


class CtDir(Enum):
    """Direction of a packet relative to its connection (``IP_CT_DIR_*``)."""

    ORIGINAL = "ORIGINAL"
    REPLY = "REPLY"


class TcpState(Enum):
    """``enum tcp_conntrack`` states the engine tracks."""

    SYN_SENT = "SYN_SENT"
    SYN_RECV = "SYN_RECV"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT = "FIN_WAIT"
    CLOSE_WAIT = "CLOSE_WAIT"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"
    CLOSE = "CLOSE"


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One line of an ``iptables -j TRACE`` style trail.

    ``kind`` is ``rule`` (the rule matched), ``return`` (fell off the end of a user chain) or
    ``policy`` (a built-in chain's policy decided); ``rule_number`` is 1-based (for
    ``return``/``policy`` it is the number of rules in the chain + 1, as TRACE prints);
    ``text`` is the rule as ``iptables-save`` prints it.
    """

    table: str
    chain: str
    rule_number: int
    text: str
    kind: str = "rule"

    def render(self) -> str:
        head = f"{self.table}:{self.chain}:{self.kind}:{self.rule_number}"
        return f"{head}  {self.text}" if self.text else head


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What a LOG target would have written to the kernel log, or an NFLOG target sent to
    its netlink group (``level`` None, ``group`` the ``--nflog-group``)."""

    prefix: str
    level: int | None
    table: str
    chain: str
    rule_number: int
    packet: Packet
    group: int | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """The routing decision for a destination: egress interface and the address MASQUERADE
    uses (the primary address of that interface)."""

    out_iface: str
    source: str


@dataclass(frozen=True, slots=True)
class ConntrackSnapshot:
    """An immutable view of a conntrack entry (what ``conntrack -L`` prints)."""

    proto: str
    orig: tuple[str, int, str, int]  # src, sport, dst, dport
    reply: tuple[str, int, str, int]
    status: frozenset[str]  # SEEN_REPLY, ASSURED, CONFIRMED, SRC_NAT, DST_NAT
    tcp_state: TcpState | None
    expires_at: float
    mark: int

    @property
    def dnat(self) -> bool:
        return "DST_NAT" in self.status

    @property
    def snat(self) -> bool:
        return "SRC_NAT" in self.status


class Result:
    """What the hooks did with one packet (read-only attributes).

    Attributes
    ----------
    verdict
        ``NF_ACCEPT``, ``NF_DROP`` or ``REJECT``.
    reject_with
        The REJECT type (``icmp-port-unreachable``, ``tcp-reset``...) or ``None``.
    packet
        The packet after NAT and MARK, as it leaves the last hook.
    local
        True when the packet is delivered to the node itself (INPUT ran and accepted it).
    hooks
        The hooks traversed, in order.
    ctstate, direction
        How conntrack classified the packet.
    conntrack
        The connection's entry as it was after this packet (``None`` when untracked, or a
        new connection that was dropped before confirmation).
    masqueraded, dnat, snat
        Whether the packet's connection is source-NATed by MASQUERADE, destination-NATed,
        source-NATed (by SNAT or MASQUERADE, or a source port remapped to avoid a clash).
    trail
        The TRACE-like rule trail (empty when the engine runs with ``trace=False``).
    walk_length
        Rules a kernel would have evaluated for this packet (every rule passed over).
    reason
        Why the packet was not accepted: ``rule``, ``policy``, ``conntrack-full`` ("" when
        accepted).
    out_iface
        The egress interface chosen by routing (``lo`` for a local destination).
    logs
        LOG target records.
    """

    __slots__ = ("verdict", "_pkt", "_packet", "local", "hooks", "ctstate", "direction",
                 "_ct", "masqueraded", "dnat", "snat", "trail", "walk_length", "reject_with",
                 "reason", "out_iface", "logs")

    def __init__(self, verdict: Verdict, pkt: tuple, local: bool, hooks: tuple[Hook, ...],
                 ctstate: CtState, direction: CtDir, ct: tuple | None, masqueraded: bool,
                 dnat: bool, snat: bool, trail: tuple[TraceStep, ...], walk_length: int,
                 reject_with: str | None, reason: str, out_iface: str,
                 logs: tuple[LogRecord, ...]) -> None:
        self.verdict = verdict
        self._pkt = pkt
        self._packet: Packet | None = None
        self.local = local
        self.hooks = hooks
        self.ctstate = ctstate
        self.direction = direction
        self._ct = ct
        self.masqueraded = masqueraded
        self.dnat = dnat
        self.snat = snat
        self.trail = trail
        self.walk_length = walk_length
        self.reject_with = reject_with
        self.reason = reason
        self.out_iface = out_iface
        self.logs = logs

    @property
    def packet(self) -> Packet:
        if self._packet is None:
            self._packet = Packet(*self._pkt)
        return self._packet

    @property
    def conntrack(self) -> ConntrackSnapshot | None:
        if self._ct is None:
            return None
        proto, orig, reply, seen_reply, assured, tcp_state, expires_at, mark = self._ct
        status = {"CONFIRMED"}
        if seen_reply:
            status.add("SEEN_REPLY")
        if assured:
            status.add("ASSURED")
        if orig[2] != reply[0] or orig[3] != reply[1]:
            status.add("DST_NAT")
        if orig[0] != reply[2] or orig[1] != reply[3]:
            status.add("SRC_NAT")
        return ConntrackSnapshot(proto, orig, reply, frozenset(status), tcp_state, expires_at,
                                 mark)

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.NF_ACCEPT

    def __repr__(self) -> str:
        return (f"Result({self.verdict.name}, {self.packet}, local={self.local}, "
                f"ctstate={self.ctstate.name}, masqueraded={self.masqueraded}, "
                f"walk_length={self.walk_length})")
