"""Packets and connection tuples as they cross the simulated network."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Field names of :class:`Packet`, in declaration order.
_PACKET_FIELDS = ("proto", "src", "dst", "sport", "dport", "tcp_flags", "mark", "length",
                  "in_iface", "out_iface", "icmp_type", "inner")


class _PacketSlots:
    """The same slot layout as :class:`Packet` without its frozen ``__setattr__``.

    A frozen dataclass sets each field through ``object.__setattr__`` in ``__init__``, twelve
    generic attribute calls per packet (about 2 us, the largest single cost of a simulated
    hop). :func:`make_packet` (which :meth:`Packet.__new__` calls) fills one of these with
    plain slot stores instead and then makes it a ``Packet`` (``__class__`` assignment between
    classes of identical slots).
    """

    __slots__ = _PACKET_FIELDS


_object_new = object.__new__


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


@dataclass(frozen=True, slots=True, init=False)
class Packet:
    """An IP packet with its L4 header fields and the per-packet kernel metadata rules see.

    ``tcp_flags`` is a set-like string of the flags present (``"S"`` for a SYN, ``"SA"``,
    ``"A"``, ``"F"``, ``"R"``); empty for UDP/SCTP. ``mark`` is ``skb->mark``. An ICMP error
    (``icmp_type`` 3, 4, 5, 11 or 12) carries in ``inner`` the ``(proto, src, sport, dst,
    dport)`` of the packet it reports on, as the header quoted in its payload.

    A frozen dataclass (equality, hash, ``repr``, ``dataclasses.replace``, and
    ``FrozenInstanceError`` on assignment as usual) built by :meth:`__new__` rather than a
    generated ``__init__``, because one is made per simulated packet. Not meant to be
    subclassed.

    >>> p = Packet("tcp", "10.0.0.1", "10.96.0.10", 40000, 80)
    >>> p.with_(dst="10.1.0.5") == Packet("tcp", "10.0.0.1", "10.1.0.5", 40000, 80)
    True
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
    inner: tuple[str, str, int, str, int] | None = None

    def __new__(cls, proto: str, src: str, dst: str, sport: int = 0, dport: int = 0,
                tcp_flags: str = "S", mark: int = 0, length: int = 60, in_iface: str = "",
                out_iface: str = "", icmp_type: int | None = None,
                inner: tuple[str, str, int, str, int] | None = None) -> "Packet":
        return make_packet(proto, src, dst, sport, dport, tcp_flags, mark, length, in_iface,
                           out_iface, icmp_type, inner)

    def __reduce__(self):
        # copy and pickle rebuild through __new__ (the dataclass's slot state setter would
        # need an instance made without arguments).
        return Packet, tuple(getattr(self, f) for f in _PACKET_FIELDS)

    @property
    def tuple(self) -> FiveTuple:
        return FiveTuple(self.proto, self.src, self.sport, self.dst, self.dport)

    def with_(self, **changes: object) -> "Packet":
        """A copy with fields replaced (packets are immutable)."""
        return replace(self, **changes)


def make_packet(proto: str, src: str, dst: str, sport: int, dport: int, tcp_flags: str,
                mark: int, length: int, in_iface: str, out_iface: str,
                icmp_type: int | None,
                inner: tuple[str, str, int, str, int] | None = None) -> Packet:
    """``Packet(...)`` with every field given positionally, without the class call's own
    overhead (``__new__`` reached through ``type.__call__``): half the cost, for the code
    that builds a packet per simulated packet.

    >>> make_packet("tcp", "10.0.0.1", "10.96.0.10", 40000, 80, "S", 0, 60, "", "", None) == (
    ...     Packet("tcp", "10.0.0.1", "10.96.0.10", 40000, 80))
    True
    """
    p = _object_new(_PacketSlots)
    p.proto = proto
    p.src = src
    p.dst = dst
    p.sport = sport
    p.dport = dport
    p.tcp_flags = tcp_flags
    p.mark = mark
    p.length = length
    p.in_iface = in_iface
    p.out_iface = out_iface
    p.icmp_type = icmp_type
    p.inner = inner
    p.__class__ = Packet
    return p
