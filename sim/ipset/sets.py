"""ipsets as data: set types, create options, members and membership.

A set's members are kept as the text ``ipset`` prints for them (``10.96.0.1,tcp:443``), in a
canonical order; :class:`SetIndex` turns them into integer tuples for membership tests, the
way the kernel's ``ip_set_hash_*`` / ``ip_set_bitmap_port`` modules store them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache

# Set types kube-proxy and the common CNIs create, with their dimension count (how many
# src/dst flags a ``--match-set`` needs) and the kind of each dimension.
SET_TYPES: dict[str, tuple[str, ...]] = {
    "hash:ip": ("ip",),
    "hash:net": ("net",),
    "hash:ip,port": ("ip", "port"),
    "hash:net,port": ("net", "port"),
    "hash:ip,port,ip": ("ip", "port", "ip"),
    "hash:ip,port,net": ("ip", "port", "net"),
    "bitmap:port": ("port",),
}
# Protocols an ``ip,port`` entry may name (``ipset`` also takes icmp:TYPE/CODE entries; they
# are not modelled). ``bitmap:port`` matches TCP and UDP packets only (ip_set_get_ip_port).
PORT_PROTOCOLS = ("tcp", "udp", "sctp", "udplite")
BITMAP_PORT_PROTOCOLS = frozenset({"tcp", "udp"})
FAMILIES = ("inet", "inet6")
DEFAULT_HASHSIZE = 1024
DEFAULT_MAXELEM = 65536
MAX_SET_NAME = 31  # IPSET_MAXNAMELEN - 1


class EntryError(ValueError):
    """A member that does not fit its set's type; the text parser names the line."""


@dataclass(frozen=True, slots=True)
class IPSet:
    """One set as ``ipset create`` made it, with its members.

    ``hashsize``/``maxelem`` apply to hash types, ``port_range`` to ``bitmap:port``.
    ``extra`` holds the create options kept verbatim in print order (``comment``,
    ``timeout 0``, ``counters``, ``bucketsize 12``, ``initval 0x...``) so a parsed
    ``ipset save`` renders back as it was. ``members`` are entry texts in canonical order
    (ports ascending for ``bitmap:port``, as ``ipset save`` lists them; byte-wise string order
    for hash types, whose real listing order is the kernel's hash order, seeded at random);
    ``entry_options`` maps an entry to the options printed after it (``comment "..."``,
    ``timeout 0 packets 0 bytes 0``).
    """

    name: str
    type: str
    family: str = "inet"
    hashsize: int = DEFAULT_HASHSIZE
    maxelem: int = DEFAULT_MAXELEM
    port_range: tuple[int, int] = (0, 65535)
    extra: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    entry_options: tuple[tuple[str, str], ...] = ()

    @property
    def dimension(self) -> int:
        """How many ``src``/``dst`` flags a match needs (``set->type->dimension``)."""
        return len(SET_TYPES[self.type])

    @property
    def has_comment(self) -> bool:
        return "comment" in self.extra


def _ip(text: str, family: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise EntryError(f"invalid address {text!r}") from None
    if (ip.version == 6) != (family == "inet6"):
        raise EntryError(f"address {text!r} is not of the set's family {family}")
    return ip


@lru_cache(maxsize=1 << 18)
def _ip_int(text: str, family: str) -> int:
    # Cached: a node's sets repeat the same addresses (every ClusterIP in two sets, each
    # endpoint twice in KUBE-LOOP-BACK) and are rebuilt on every sync.
    return int(_ip(text, family))


def _net(text: str, family: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    addr, slash, bits = text.partition("/")
    ip = _ip(addr, family)
    width = ip.max_prefixlen
    if slash:
        if not bits.isdigit() or not 0 < int(bits) <= width:
            # ipset refuses a zero prefix ("Zero valued IP address or prefix not allowed").
            raise EntryError(f"invalid prefix in {text!r}")
        plen = int(bits)
    else:
        plen = width
    return ipaddress.ip_network(f"{ip}/{plen}", strict=False)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise EntryError(f"invalid port {text!r}")
    return int(text)


def _proto_port(text: str, protocols: tuple[str, ...] = PORT_PROTOCOLS) -> tuple[str, int]:
    proto, colon, port = text.rpartition(":")
    if not colon:
        return "tcp", _port(text)  # ipset's default protocol for a bare port
    if proto not in protocols:
        raise EntryError(f"protocol {proto!r} is not modelled (tcp, udp, sctp, udplite)")
    return proto, _port(port)


def _ip_text(ip) -> str:
    return str(ip)


def _net_text(net) -> str:
    # ipset prints a host prefix without "/32" (or "/128").
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def parse_entry(set_type: str, family: str, text: str,
                port_range: tuple[int, int] = (0, 65535)) -> tuple:
    """The key the kernel stores for ``text`` in a set of ``set_type``.

    ip and net parts are integers, a net is ``(network, prefix length)``; protocols are names.

    >>> parse_entry("hash:ip,port", "inet", "10.96.0.1,tcp:443")
    (174063617, 'tcp', 443)
    >>> parse_entry("hash:ip,port,net", "inet", "1.2.3.4,udp:53,10.0.0.0/8")
    (16909060, 'udp', 53, 167772160, 8)
    """
    parts = text.split(",")
    kinds = SET_TYPES[set_type]
    if set_type.startswith("hash:") and len(parts) != len(kinds):
        raise EntryError(f"{text!r} does not have the {len(kinds)} parts of {set_type}")
    key: list = []
    if set_type == "bitmap:port":
        if len(parts) != 1:
            raise EntryError(f"{text!r} is not a port")
        _, port = _proto_port(parts[0], ("tcp", "udp"))
        if not port_range[0] <= port <= port_range[1]:
            raise EntryError(f"port {port} is outside the set's range "
                             f"{port_range[0]}-{port_range[1]}")
        return (port,)
    for kind, part in zip(kinds, parts):
        if kind == "ip":
            key.append(_ip_int(part, family))
        elif kind == "net":
            net = _net(part, family)
            key.extend((int(net.network_address), net.prefixlen))
        else:
            key.extend(_proto_port(part))
    return tuple(key)


def normalise_entry(set_type: str, family: str, text: str,
                    port_range: tuple[int, int] = (0, 65535)) -> str:
    """``text`` as ``ipset save`` prints it (host nets without ``/32``, bare ports with their
    default protocol, networks with host bits cleared).

    >>> normalise_entry("hash:ip,port,net", "inet", "1.2.3.4,80,10.0.0.7/8")
    '1.2.3.4,tcp:80,10.0.0.0/8'
    >>> normalise_entry("hash:net", "inet", "10.1.2.3/32")
    '10.1.2.3'
    """
    key = parse_entry(set_type, family, text, port_range)
    return render_key(set_type, family, key)


def render_key(set_type: str, family: str, key: tuple) -> str:
    """The entry text of a key from :func:`parse_entry`."""
    if set_type == "bitmap:port":
        return str(key[0])
    make_ip = ipaddress.IPv6Address if family == "inet6" else ipaddress.IPv4Address
    out = []
    i = 0
    for kind in SET_TYPES[set_type]:
        if kind == "ip":
            out.append(_ip_text(make_ip(key[i])))
            i += 1
        elif kind == "net":
            net = ipaddress.ip_network((make_ip(key[i]), key[i + 1]))
            out.append(_net_text(net))
            i += 2
        else:
            out.append(f"{key[i]}:{key[i + 1]}")
            i += 2
    return ",".join(out)


@dataclass(slots=True)
class SetIndex:
    """Membership of one set, as the kernel tests it (``ip_set_test``).

    Host-keyed types are one hash lookup; net types try each prefix length present, most
    specific first, as ``hash:net`` walks its ``nets[]`` array.
    """

    set: IPSet
    keys: frozenset = field(default_factory=frozenset)
    prefixes: tuple[int, ...] = ()

    @staticmethod
    def of(s: IPSet) -> "SetIndex":
        """The index of ``s``, shared by equal sets (every node holds the same
        KUBE-CLUSTER-IP, and a sync rewrites sets that did not change)."""
        return _shared_index(s)

    @classmethod
    def build(cls, s: IPSet) -> "SetIndex":
        keys = frozenset(parse_entry(s.type, s.family, m, s.port_range) for m in s.members)
        prefixes: tuple[int, ...] = ()
        kinds = SET_TYPES[s.type]
        if "net" in kinds:
            at = _net_offset(kinds)
            prefixes = tuple(sorted({k[at + 1] for k in keys}, reverse=True))
        return cls(s, keys, prefixes)

    def test(self, values: tuple) -> bool:
        """Whether the packet values (one per dimension: an address int or a
        ``(protocol, port)`` pair) are in the set."""
        s = self.set
        kinds = SET_TYPES[s.type]
        if s.type == "bitmap:port":
            proto, port = values[0]
            return proto in BITMAP_PORT_PROTOCOLS and (port,) in self.keys
        key: list = []
        net_at = -1
        for kind, v in zip(kinds, values):
            if kind == "ip":
                key.append(v)
            elif kind == "net":
                net_at = len(key)
                key.extend((v, 0))
            else:
                key.extend(v)
        if net_at < 0:
            return tuple(key) in self.keys
        width = 128 if s.family == "inet6" else 32
        full = (1 << width) - 1
        addr = key[net_at]
        for plen in self.prefixes:
            key[net_at] = addr & (full ^ ((1 << (width - plen)) - 1))
            key[net_at + 1] = plen
            if tuple(key) in self.keys:
                return True
        return False


@lru_cache(maxsize=1024)
def _shared_index(s: IPSet) -> SetIndex:
    return SetIndex.build(s)


def _net_offset(kinds: tuple[str, ...]) -> int:
    at = 0
    for kind in kinds:
        if kind == "net":
            return at
        at += 1 if kind == "ip" else 2
    raise AssertionError(kinds)


__all__ = [
    "BITMAP_PORT_PROTOCOLS", "DEFAULT_HASHSIZE", "DEFAULT_MAXELEM", "EntryError", "FAMILIES",
    "IPSet", "MAX_SET_NAME", "PORT_PROTOCOLS", "SET_TYPES", "SetIndex", "normalise_entry",
    "parse_entry", "render_key",
]
