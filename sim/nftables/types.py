"""nft data types: parsing and printing values the way ``nft`` does.

A value is stored in the form the engine compares: addresses and integers as ``(lo, hi)``
intervals of ints (an exact value has ``lo == hi``), protocols as lower-case names
(``"tcp"``), interface names as strings, ``ct state``/``ct status`` as bit masks, verdicts as
``(kind, chain)``.
"""

from __future__ import annotations

import ipaddress

# Selectors: (keyword, field) -> data type.
SELECTORS: dict[tuple[str, str], str] = {
    ("ip", "saddr"): "ipv4_addr", ("ip", "daddr"): "ipv4_addr",
    ("ip", "protocol"): "inet_proto",
    ("ip6", "saddr"): "ipv6_addr", ("ip6", "daddr"): "ipv6_addr",
    ("ip6", "nexthdr"): "inet_proto",
    ("meta", "l4proto"): "inet_proto", ("meta", "mark"): "mark",
    ("meta", "iifname"): "ifname", ("meta", "oifname"): "ifname",
    ("meta", "nfproto"): "nf_proto",
    ("th", "sport"): "inet_service", ("th", "dport"): "inet_service",
    ("tcp", "sport"): "inet_service", ("tcp", "dport"): "inet_service",
    ("udp", "sport"): "inet_service", ("udp", "dport"): "inet_service",
    ("sctp", "sport"): "inet_service", ("sctp", "dport"): "inet_service",
    ("tcp", "flags"): "tcp_flag",
    ("icmp", "type"): "icmp_type",
    ("ct", "state"): "ct_state", ("ct", "status"): "ct_status", ("ct", "mark"): "mark",
    ("ct", "direction"): "ct_dir",
}
# meta keys nft prints (and accepts) without the "meta" keyword.
UNQUALIFIED_META = frozenset({"iifname", "oifname", "mark"})
UNQUALIFIED_PRINT = frozenset({"iifname", "oifname"})

TYPE_BITS = {"ipv4_addr": 32, "ipv6_addr": 128, "inet_service": 16, "mark": 32,
             "integer": 32, "inet_proto": 8}

PROTOCOLS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
             "icmpv6": 58, "sctp": 132, "udplite": 136}
PROTO_NAMES = {v: k for k, v in PROTOCOLS.items()}

CT_STATE_BITS = {"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
CT_STATUS_BITS = {"expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16,
                  "dnat": 32, "dying": 512}
FIB_TYPES = ("unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole",
             "unreachable", "prohibit")
TCP_FLAGS = {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ecn": 64,
             "cwr": 128}
ICMP_TYPES = {"echo-reply": 0, "destination-unreachable": 3, "source-quench": 4,
              "redirect": 5, "echo-request": 8, "time-exceeded": 11, "parameter-problem": 12}
NF_PROTOS = {"ipv4": 2, "ipv6": 10}
CT_DIRS = {"original": 0, "reply": 1}
VERDICTS = ("accept", "drop", "continue", "return", "jump", "goto")


class TypeError_(ValueError):
    """A value that does not parse as its data type."""


def _ip4(text: str) -> int:
    """A dotted IPv4 address as an integer (strict, as ``ipaddress`` parses it)."""
    parts = text.split(".")
    if len(parts) == 4:
        value = 0
        for part in parts:
            if not (part.isascii() and part.isdigit() and len(part) <= 3
                    and (part[0] != "0" or part == "0")) or int(part) > 255:
                break
            value = (value << 8) | int(part)
        else:
            return value
    return int(ipaddress.IPv4Address(text))


def _int(text: str) -> int:
    return int(text, 16) if text.lower().startswith("0x") else int(text, 10)


def _range(text: str, parse) -> tuple[int, int]:
    if "-" in text:
        a, _, b = text.partition("-")
        lo, hi = parse(a), parse(b)
        if lo > hi:
            raise TypeError_(f"range {text} is empty")
        return lo, hi
    v = parse(text)
    return v, v


def parse_value(dtype: str, text: str) -> object:
    """``text`` as a value of ``dtype`` (see the module docstring).

    >>> parse_value("ipv4_addr", "10.0.0.0/8")
    (167772160, 184549375)
    >>> parse_value("inet_proto", "6"), parse_value("ct_state", "established,related")
    ('tcp', 6)
    """
    try:
        if dtype == "ipv4_addr":
            if "/" in text:
                net = ipaddress.IPv4Network(text, strict=True)
                return int(net.network_address), int(net.broadcast_address)
            return _range(text, _ip4)
        if dtype == "ipv6_addr":
            if "/" in text:
                net6 = ipaddress.IPv6Network(text, strict=True)
                return int(net6.network_address), int(net6.broadcast_address)
            return _range(text, lambda s: int(ipaddress.IPv6Address(s)))
        if dtype in ("inet_service", "integer", "mark"):
            lo, hi = _range(text, _int)
            top = (1 << TYPE_BITS[dtype]) - 1
            if not 0 <= lo <= hi <= top:
                raise TypeError_(f"value {text} out of range")
            return lo, hi
        if dtype == "inet_proto":
            t = text.lower()
            if t in PROTOCOLS:
                return t
            num = int(t)
            if not 0 <= num <= 255:
                raise TypeError_(f"protocol {text} out of range")
            return PROTO_NAMES.get(num, str(num))
        if dtype == "ifname":
            if len(text) > 15:
                raise TypeError_(f"interface name {text} too long")
            return text
        if dtype in ("ct_state", "ct_status", "tcp_flag"):
            table = {"ct_state": CT_STATE_BITS, "ct_status": CT_STATUS_BITS,
                     "tcp_flag": TCP_FLAGS}[dtype]
            bits = 0
            for part in text.split(","):
                if part not in table:
                    raise TypeError_(f"'{part}' is not a valid {dtype} value")
                bits |= table[part]
            return bits
        if dtype == "fib_addrtype":
            if text not in FIB_TYPES:
                raise TypeError_(f"'{text}' is not a valid fib address type")
            return text
        if dtype == "icmp_type":
            if text in ICMP_TYPES:
                return ICMP_TYPES[text]
            return _int(text)
        if dtype == "nf_proto":
            return NF_PROTOS[text]
        if dtype == "ct_dir":
            return CT_DIRS[text]
    except (ValueError, KeyError) as exc:
        if isinstance(exc, TypeError_):
            raise
        raise TypeError_(f"'{text}' is not a valid {dtype} value") from None
    raise TypeError_(f"data type {dtype} is not supported")


def _dotted(v: int) -> str:
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def _prefix(lo: int, hi: int, bits: int) -> int | None:
    size = hi - lo + 1
    if size & (size - 1) or lo % size:
        return None
    return bits - (size.bit_length() - 1)


def render_value(dtype: str, v: object) -> str:
    """A value as ``nft list`` prints it.

    >>> render_value("ipv4_addr", (167772160, 184549375)), render_value("mark", (16384, 16384))
    ('10.0.0.0/8', '0x00004000')
    """
    if dtype in ("ipv4_addr", "ipv6_addr"):
        lo, hi = v  # type: ignore[misc]
        fmt = _dotted if dtype == "ipv4_addr" else (lambda x: str(ipaddress.IPv6Address(x)))
        if lo == hi:
            return fmt(lo)
        plen = _prefix(lo, hi, 32 if dtype == "ipv4_addr" else 128)
        return f"{fmt(lo)}/{plen}" if plen is not None else f"{fmt(lo)}-{fmt(hi)}"
    if dtype in ("inet_service", "integer"):
        lo, hi = v  # type: ignore[misc]
        return str(lo) if lo == hi else f"{lo}-{hi}"
    if dtype == "mark":
        lo, hi = v  # type: ignore[misc]
        return f"0x{lo:08x}" if lo == hi else f"0x{lo:08x}-0x{hi:08x}"
    if dtype in ("ct_state", "ct_status", "tcp_flag"):
        table = {"ct_state": CT_STATE_BITS, "ct_status": CT_STATUS_BITS,
                 "tcp_flag": TCP_FLAGS}[dtype]
        return ",".join(n for n, b in table.items() if v & b)  # type: ignore[operator]
    if dtype == "ifname":
        return f'"{v}"'
    if dtype == "icmp_type":
        names = {n: k for k, n in ICMP_TYPES.items()}
        return names.get(v, str(v))  # type: ignore[arg-type]
    if dtype == "nf_proto":
        return {n: k for k, n in NF_PROTOS.items()}[v]  # type: ignore[index]
    if dtype == "ct_dir":
        return {n: k for k, n in CT_DIRS.items()}[v]  # type: ignore[index]
    return str(v)


def render_verdict(v: tuple[str, str | None]) -> str:
    kind, chain = v
    return f"{kind} {chain}" if chain else kind


def parse_duration(text: str) -> float:
    """``10800s``, ``3h``, ``2h59m59s980ms``, ``1d`` or plain seconds -> seconds.

    >>> parse_duration("2h59m59s980ms")
    10799.98
    """
    if text.isdigit():
        return float(text)
    total = 0.0
    num = ""
    i = 0
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    seen = False
    while i < len(text):
        ch = text[i]
        if ch.isdigit():
            num += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if not num or unit not in units:
            raise TypeError_(f"'{text}' is not a valid time")
        total += int(num) * units[unit]
        num = ""
        seen = True
        i += len(unit)
    if num or not seen:
        raise TypeError_(f"'{text}' is not a valid time")
    return round(total, 3)


def render_duration(seconds: float) -> str:
    """Seconds as ``nft`` prints a time (``3h``, ``2h59m59s980ms``).

    >>> render_duration(10800), render_duration(10799.98)
    ('3h', '2h59m59s980ms')
    """
    ms = int(round(seconds * 1000))
    out = []
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000),
                       ("ms", 1)):
        q, ms = divmod(ms, size)
        if q:
            out.append(f"{q}{unit}")
    return "".join(out) or "0s"
