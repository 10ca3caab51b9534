"""Packets and connection tuples as they cross the simulated network."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class FiveTuple:
    """(protocol, source, source port, destination, destination port); protocol lower-case."""

    proto: str
    src: str
    sport: int
    dst: str
    dport: int

    def reversed(self) -> "FiveTuple":
        """The tuple of a reply."""
        return FiveTuple(self.proto, self.dst, self.dport, self.src, self.sport)


@dataclass(frozen=True, slots=True)
class Packet:
    """An IP packet with its L4 header fields and the per-packet kernel metadata rules see.

    ``tcp_flags`` is a set-like string of the flags present (``"S"`` for a SYN, ``"SA"``,
    ``"A"``, ``"F"``, ``"R"``); empty for UDP/SCTP. ``mark`` is ``skb->mark``.
    """

    proto: str
    src: str
    dst: str
    sport: int = 0
    dport: int = 0
    tcp_flags: str = "S"
    mark: int = 0
    length: int = 60
    in_iface: str = ""
    out_iface: str = ""
    icmp_type: int | None = None

    @property
    def tuple(self) -> FiveTuple:
        return FiveTuple(self.proto, self.src, self.sport, self.dst, self.dport)

    def with_(self, **changes: object) -> "Packet":
        """A copy with fields replaced (packets are immutable)."""
        return replace(self, **changes)
