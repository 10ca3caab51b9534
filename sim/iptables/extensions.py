"""The registry of supported match modules and targets: their options, validation and the
exact form a real ``iptables-save`` (iptables 1.8.9, nf_tables backend) prints them in.

Each extension is an :class:`Extension`: the options it accepts (canonical long name, aliases,
number of arguments, whether ``!`` may precede it), a ``check`` that validates a complete
match or target the way the extension's ``final_check`` does in ``libxt_<name>.c``, and a
``save`` that renders the options in the extension's own print order (the ``save`` callbacks
of ``libxt_<name>.c`` decide that order, not the order written).

The normalisations were measured with ``iptables-restore`` / ``iptables-save`` on a real
kernel and are pinned by ``tests/iptables/test_kernel_save.py`` and its fixtures.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from sim.iptables.ruleset import Option

U32 = 0xFFFFFFFF

# iptables' own protocol names (xtables_chain_protos), printed in preference to
# /etc/protocols; then Debian's /etc/protocols (the names -p accepts and iptables-save prints
# for other numbers; embedded so the output does not depend on the host).
_XT_PROTOS = {"tcp": 6, "sctp": 132, "udp": 17, "udplite": 136, "icmp": 1, "esp": 50,
              "ah": 51, "all": 0}
_ETC_PROTOCOLS = (
    "hopopt 0;icmp 1;igmp 2;ggp 3;ipencap 4;st 5;tcp 6;egp 8;igp 9;pup 12;udp 17;hmp 20;"
    "xns-idp 22;rdp 27;iso-tp4 29;dccp 33;xtp 36;ddp 37;idpr-cmtp 38;ipv6 41;ipv6-route 43;"
    "ipv6-frag 44;idrp 45;rsvp 46;gre 47;esp 50;ah 51;skip 57;ipv6-icmp 58;ipv6-nonxt 59;"
    "ipv6-opts 60;rspf 73;vmtp 81;eigrp 88;ospf 89;ax.25 93;ipip 94;etherip 97;encap 98;"
    "pim 103;ipcomp 108;vrrp 112;l2tp 115;isis 124;sctp 132;fc 133;mobility-header 135;"
    "udplite 136;mpls-in-ip 137;manet 138;hip 139;shim6 140;wesp 141;rohc 142;ethernet 143")
PROTOCOLS: dict[str, int] = {n: int(v) for n, v in (e.split() for e in _ETC_PROTOCOLS.split(";"))}
PROTOCOLS.update(_XT_PROTOS)
PROTOCOL_NAMES: dict[int, str] = {}
for _name, _num in list(PROTOCOLS.items())[::-1]:
    PROTOCOL_NAMES[_num] = _name  # the first /etc/protocols name of a number wins ...
PROTOCOL_NAMES.update({v: k for k, v in _XT_PROTOS.items()})  # ... after iptables' own

# ip_conntrack state bits in the print order of libxt_conntrack's conntrack_dump_states.
CT_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")
# ctstatus bits in the print order of libxt_conntrack's conntrack_dump_status.
CT_STATUSES = ("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")
# RTN_* route types in bit order (libxt_addrtype rtn_names).
ADDR_TYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
              "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")
TCP_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG")
# REJECT --reject-with: canonical name -> accepted spellings (libipt_REJECT reject_table).
REJECT_TYPES: dict[str, tuple[str, ...]] = {
    "icmp-net-unreachable": ("net-unreach",),
    "icmp-host-unreachable": ("host-unreach",),
    "icmp-port-unreachable": ("port-unreach",),
    "icmp-proto-unreachable": ("proto-unreach",),
    "icmp-net-prohibited": ("net-prohib",),
    "icmp-host-prohibited": ("host-prohib",),
    "tcp-reset": ("tcp-rst",),
    "icmp-admin-prohibited": ("admin-prohib",),
}
ICMP_TYPES: dict[str, str] = {
    "any": "any", "echo-reply": "0", "pong": "0", "destination-unreachable": "3",
    "network-unreachable": "3/0", "host-unreachable": "3/1", "protocol-unreachable": "3/2",
    "port-unreachable": "3/3", "source-quench": "4", "redirect": "5", "echo-request": "8",
    "ping": "8", "time-exceeded": "11", "ttl-exceeded": "11", "parameter-problem": "12",
    "timestamp-request": "13", "timestamp-reply": "14",
}
LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4, "warn": 4,
              "notice": 5, "info": 6, "debug": 7, "panic": 0}


class ExtensionError(ValueError):
    """A bad option value; the parser turns it into a SimError naming the line."""


@dataclass(frozen=True)
class OptSpec:
    """One option of an extension."""

    name: str
    aliases: tuple[str, ...] = ()
    nargs: int = 1
    negatable: bool = False
    check: Callable[[tuple[str, ...]], None] | None = None


@dataclass(frozen=True)
class Extension:
    """A match module or a target: options, whole-extension check and save renderer."""

    name: str
    kind: str  # "match" or "target"
    options: tuple[OptSpec, ...] = ()
    check: Callable[[dict[str, Option], "RuleContext"], None] | None = None
    save: Callable[[dict[str, Option]], list[str]] | None = None
    tables: tuple[str, ...] = ()  # tables a target is allowed in (empty: any)
    hooks: tuple[str, ...] = ()  # built-in chains a target is allowed in (empty: any)
    by_name: dict[str, OptSpec] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for o in self.options:
            self.by_name[o.name] = o
            for a in o.aliases:
                self.by_name[a] = o


@dataclass(frozen=True)
class RuleContext:
    """What an extension check may look at besides its own options."""

    table: str
    chain: str
    proto: str  # the rule's -p value ("" when absent), lower case
    proto_negated: bool = False


# ---------------------------------------------------------------------------- value checks

def strtoul(text: str) -> int:
    """C ``strtoul(text, NULL, 0)`` over the whole string, as xtables_strtoui parses numbers:
    ``0x`` prefix is hex, a leading ``0`` is octal (``0443`` is 291, ``080`` is invalid).

    >>> strtoul("0443"), strtoul("0x50"), strtoul("80")
    (291, 80, 80)
    """
    t = text.lower()
    if t.startswith("0x") and len(t) > 2:
        return int(t[2:], 16)
    if t.startswith("0") and len(t) > 1:
        return int(t[1:], 8)
    if not t.isdigit():
        raise ValueError(text)
    return int(t)


def parse_port(text: str) -> int:
    """A port number 0..65535 (service names are not supported: they depend on /etc/services)."""
    try:
        value = strtoul(text)
    except ValueError:
        raise ExtensionError(f'invalid port/service `{text}\' specified') from None
    if value > 65535:
        raise ExtensionError(f'invalid port/service `{text}\' specified')
    return value


def parse_port_range(text: str) -> tuple[int, int]:
    """``80`` or ``80:90`` (an omitted bound is 0 / 65535, as in xtables_parse_port)."""
    if ":" in text:
        lo, hi = text.split(":", 1)
        a = parse_port(lo) if lo else 0
        b = parse_port(hi) if hi else 65535
        if a > b:
            raise ExtensionError(f"invalid portrange ({text}) specified")
        return a, b
    p = parse_port(text)
    return p, p


def render_port_range(rng: tuple[int, int]) -> str:
    return str(rng[0]) if rng[0] == rng[1] else f"{rng[0]}:{rng[1]}"


def parse_multiport(text: str) -> list[tuple[int, int]]:
    """The comma list of ``-m multiport`` (at most 15 ports, a range counts as two)."""
    parts = text.split(",")
    out = [parse_port_range(p) for p in parts]
    if sum(2 if a != b else 1 for a, b in out) > 15:
        raise ExtensionError("too many ports specified")
    return out


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_QUAD_PORT = re.compile(rf"({_OCTET}(?:\.{_OCTET}){{3}}):([1-9][0-9]{{0,4}})")
_QUAD_NET = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}(?:/(?:[0-2]?[0-9]|3[0-2]))?")


def is_dotted_quad(text: str) -> bool:
    """Whether ``text`` is the strict dotted-quad form ``ipaddress.IPv4Address`` accepts (four
    ASCII decimal octets, no leading zeros, each at most 255), without building an address.
    A fast path for validating millions of rules: ``False`` only means "ask ipaddress"."""
    return _QUAD.fullmatch(text) is not None


def check_network(text: str) -> None:
    """Raise as :func:`parse_network` would, without building the network for the usual
    ``a.b.c.d`` and ``a.b.c.d/len`` forms (validating a million rules; rendering and the
    engine call :func:`parse_network` when they need the value)."""
    if _QUAD_NET.fullmatch(text) is None:
        parse_network(text)


@lru_cache(maxsize=1 << 17)
def parse_network(text: str) -> ipaddress.IPv4Network:
    """``a.b.c.d``, ``a.b.c.d/len`` or ``a.b.c.d/mask`` with host bits cleared (iptables masks
    the address: ``-d 10.1.2.3/24`` is saved as ``10.1.2.0/24``)."""
    try:
        if "/" in text:
            addr, mask = text.split("/", 1)
            if "." in mask:
                net = ipaddress.IPv4Network(f"0.0.0.0/{mask}")
                plen = net.prefixlen
            else:
                plen = int(mask)
                if not 0 <= plen <= 32:
                    raise ValueError(text)
            return ipaddress.IPv4Network(f"{ipaddress.IPv4Address(addr)}/{plen}", strict=False)
        return ipaddress.IPv4Network(f"{ipaddress.IPv4Address(text)}/32")
    except ValueError:
        raise ExtensionError(f"host/network `{text}' not found") from None


def parse_u32(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise ExtensionError(f'Bad value "{text}"') from None
    if not 0 <= value <= U32:
        raise ExtensionError(f'Bad value "{text}"')
    return value


def parse_value_mask(text: str) -> tuple[int, int]:
    """``value[/mask]`` (mask defaults to 0xffffffff)."""
    if "/" in text:
        v, m = text.split("/", 1)
        return parse_u32(v), parse_u32(m)
    return parse_u32(text), U32


def parse_probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise ExtensionError(f'Bad value for option "--probability", "{text}"') from None
    if not 0.0 <= p <= 1.0:
        raise ExtensionError(f'Bad value for option "--probability", "{text}"')
    return p


def kernel_probability(p: float) -> int:
    """The 31-bit fraction the kernel stores (libxt_statistic: ``lround(0x80000000 * p)``)."""
    return int(p * 0x80000000 + 0.5)


def parse_flag_list(text: str, names: tuple[str, ...], what: str) -> tuple[str, ...]:
    items = text.split(",")
    for i in items:
        if i.upper() not in names:
            raise ExtensionError(f'Bad {what} "{i}"')
    return tuple(i.upper() for i in items)


def parse_tcp_flags(text: str) -> int:
    value = 0
    for f in text.split(","):
        f = f.upper()
        if f == "ALL":
            value |= 0x3F
        elif f == "NONE":
            continue
        elif f in TCP_FLAGS:
            value |= 1 << TCP_FLAGS.index(f)
        else:
            raise ExtensionError(f'Unknown TCP flag `{f}\'')
    return value


def render_tcp_flags(value: int) -> str:
    if value == 0:
        return "NONE"
    return ",".join(f for i, f in enumerate(TCP_FLAGS) if value & (1 << i))


@lru_cache(maxsize=1 << 17)
def parse_nat_range(text: str, *, need_ip: bool) -> tuple[str, str, int, int]:
    """``ip[-ip][:port[-port]]`` of DNAT/SNAT -> (ip_lo, ip_hi, port_lo, port_hi); ports 0 = any."""
    m = _QUAD_PORT.fullmatch(text)
    if m is not None and int(m[2]) <= 65535:  # kube-proxy's ip:port, already canonical
        port = int(m[2])
        return m[1], m[1], port, port
    ip_part, port_lo, port_hi = text, 0, 0
    if ":" in text:
        ip_part, ports = text.rsplit(":", 1)
        lo, _, hi = ports.partition("-")
        port_lo = parse_port(lo)
        port_hi = parse_port(hi) if hi else port_lo
        if port_lo > port_hi:
            raise ExtensionError(f'Port range "{ports}" is invalid')
    if not ip_part:
        if need_ip:
            raise ExtensionError(f'Bad IP address "{text}"')
        return "", "", port_lo, port_hi
    lo_ip, _, hi_ip = ip_part.partition("-")
    if is_dotted_quad(lo_ip) and (not hi_ip or is_dotted_quad(hi_ip)):
        return lo_ip, hi_ip or lo_ip, port_lo, port_hi  # already the canonical form
    try:
        a = ipaddress.IPv4Address(lo_ip)
        b = ipaddress.IPv4Address(hi_ip) if hi_ip else a
    except ValueError:
        raise ExtensionError(f'Bad IP address "{ip_part}"') from None
    return str(a), str(b), port_lo, port_hi


def parse_ports_dash(text: str) -> tuple[int, int]:
    """``--to-ports 8080`` or ``1000-2000`` (REDIRECT / MASQUERADE)."""
    lo, _, hi = text.partition("-")
    a = parse_port(lo)
    b = parse_port(hi) if hi else a
    if a > b:
        raise ExtensionError(f'Port range "{text}" is invalid')
    return a, b


def save_string(value: str) -> str:
    """xtables_save_string: bare when only ``[A-Za-z0-9_-]``, else double-quoted with ``"``,
    ``\\`` and ``'`` backslash-escaped."""
    ok = value and all(c.isascii() and (c.isalnum() or c in "_-") for c in value)
    if ok:
        return value
    out = []
    for c in value:
        if c in "\"\\'":
            out.append("\\")
        out.append(c)
    return '"' + "".join(out) + '"'


def _neg(o: Option) -> list[str]:
    return ["!"] if o.negated else []


def _want(cond: bool, msg: str) -> None:
    if not cond:
        raise ExtensionError(msg)


# ---------------------------------------------------------------------------- matches

def _check_ports(values: tuple[str, ...]) -> None:
    parse_port_range(values[0])


def _save_l4(o: dict[str, Option]) -> list[str]:
    out: list[str] = []
    for name in ("--sport", "--dport"):
        if name in o:
            out += _neg(o[name]) + [name, render_port_range(parse_port_range(o[name].values[0]))]
    if "--tcp-option" in o:
        out += _neg(o["--tcp-option"]) + ["--tcp-option", str(int(o["--tcp-option"].values[0]))]
    if "--syn" in o:
        out += _neg(o["--syn"]) + ["--tcp-flags", "FIN,SYN,RST,ACK", "SYN"]
    elif "--tcp-flags" in o:
        m, c = o["--tcp-flags"].values
        out += _neg(o["--tcp-flags"]) + ["--tcp-flags", render_tcp_flags(parse_tcp_flags(m)),
                                          render_tcp_flags(parse_tcp_flags(c))]
    return out


def _check_tcp(o: dict[str, Option], ctx: RuleContext) -> None:
    for name in ("--tcp-flags",):
        if name in o:
            parse_tcp_flags(o[name].values[0])
            parse_tcp_flags(o[name].values[1])
    _want(not ("--syn" in o and "--tcp-flags" in o), "Only one of `--syn' or `--tcp-flags' allowed")
    if "--tcp-option" in o:
        _want(o["--tcp-option"].values[0].isdigit(), "Bad TCP option")


def _l4_match(name: str, extra: tuple[OptSpec, ...] = ()) -> Extension:
    return Extension(
        name, "match",
        (OptSpec("--sport", ("--source-port",), 1, True, _check_ports),
         OptSpec("--dport", ("--destination-port",), 1, True, _check_ports)) + extra,
        check=_check_tcp if name == "tcp" else None, save=_save_l4)


def _check_icmp_type(values: tuple[str, ...]) -> None:
    icmp_type_number(values[0])


def icmp_type_number(text: str) -> str:
    """Name or ``type[/code]`` -> numeric ``type[/code]`` text (nf_tables saves numbers,
    ``port-unreachable`` as ``3/3``; ``any`` stays)."""
    if text in ICMP_TYPES:
        return ICMP_TYPES[text]
    t, _, c = text.partition("/")
    if not t.isdigit() or int(t) > 255 or (c and (not c.isdigit() or int(c) > 255)):
        raise ExtensionError(f"Invalid ICMP type `{text}'")
    return text


def _save_icmp(o: dict[str, Option]) -> list[str]:
    t = o["--icmp-type"]
    return _neg(t) + ["--icmp-type", icmp_type_number(t.values[0])]


def _check_multiport(o: dict[str, Option], ctx: RuleContext) -> None:
    _want(len(o) == 1, "multiport can only have one option")
    _want(len(o) == 1 and ctx.proto in ("tcp", "udp", "sctp", "udplite", "dccp")
          and not ctx.proto_negated,
          "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
    for opt in o.values():
        parse_multiport(opt.values[0])


def _save_multiport(o: dict[str, Option]) -> list[str]:
    (opt,) = o.values()
    ports = ",".join(render_port_range(r) for r in parse_multiport(opt.values[0]))
    return _neg(opt) + [opt.name, ports]


def _save_comment(o: dict[str, Option]) -> list[str]:
    return ["--comment", save_string(o["--comment"].values[0])]


def _check_comment(o: dict[str, Option], ctx: RuleContext) -> None:
    _want("--comment" in o, "comment: option \"--comment\" must be specified")
    _want(len(o["--comment"].values[0]) <= 255, "comment may not exceed 255 characters")


def _check_addrtype_list(values: tuple[str, ...]) -> None:
    parse_flag_list(values[0], ADDR_TYPES, "address type")


def _ordered(values: tuple[str, ...], order: tuple[str, ...]) -> str:
    present = {v.upper() for v in values}
    return ",".join(n for n in order if n in present)


def _save_addrtype(o: dict[str, Option]) -> list[str]:
    out: list[str] = []
    for name in ("--src-type", "--dst-type"):
        if name in o:
            out += _neg(o[name]) + [name, _ordered(tuple(o[name].values[0].split(",")), ADDR_TYPES)]
    for name in ("--limit-iface-in", "--limit-iface-out"):
        if name in o:
            out.append(name)
    return out


def _check_addrtype(o: dict[str, Option], ctx: RuleContext) -> None:
    _want("--src-type" in o or "--dst-type" in o,
          "addrtype: you must specify --src-type or --dst-type")
    _want(not ("--limit-iface-in" in o and "--limit-iface-out" in o),
          "addrtype: you can't specify both --limit-iface-in and --limit-iface-out")


def render_mark(value: int, mask: int) -> str:
    return f"{value:#x}" if mask == U32 else f"{value:#x}/{mask:#x}"


def _check_value_mask(values: tuple[str, ...]) -> None:
    parse_value_mask(values[0])


def _save_mark(o: dict[str, Option]) -> list[str]:
    return _neg(o["--mark"]) + ["--mark", render_mark(*parse_value_mask(o["--mark"].values[0]))]


def _check_ctstates(values: tuple[str, ...]) -> None:
    parse_flag_list(values[0], CT_STATES, "ctstate")


def _check_states(values: tuple[str, ...]) -> None:
    parse_flag_list(values[0], CT_STATES[:5], "state")


def _check_ctstatus(values: tuple[str, ...]) -> None:
    for v in values[0].split(","):
        if v.upper() not in CT_STATUSES:
            raise ExtensionError(f'Bad ctstatus "{v}"')


def _check_ctproto(values: tuple[str, ...]) -> None:
    proto_number(values[0])


def proto_number(text: str) -> int:
    t = text.lower()
    if t in PROTOCOLS:
        return PROTOCOLS[t]
    if t.isdigit() and int(t) <= 255:
        return int(t)
    raise ExtensionError(f"unknown protocol \"{text}\" specified")


def _check_network(values: tuple[str, ...]) -> None:
    check_network(values[0])


def _check_ctdir(values: tuple[str, ...]) -> None:
    _want(values[0].upper() in ("ORIGINAL", "REPLY"), f'Unknown --ctdir "{values[0]}"')


def _check_ctexpire(values: tuple[str, ...]) -> None:
    lo, _, hi = values[0].partition(":")
    _want(lo.isdigit() and (not hi or hi.isdigit()), f'Bad ctexpire "{values[0]}"')


def _ct_addr(text: str) -> str:
    net = parse_network(text)
    return str(net.network_address) if net.prefixlen == 32 else str(net)


CT_ORDER = ("--ctstate", "--ctproto", "--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst",
            "--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport",
            "--ctstatus", "--ctexpire", "--ctdir")


def _save_conntrack(o: dict[str, Option]) -> list[str]:
    out: list[str] = []
    for name in CT_ORDER:
        if name not in o:
            continue
        opt = o[name]
        v = opt.values[0]
        if name == "--ctstate":
            text = _ordered(tuple(v.split(",")), CT_STATES)
        elif name == "--ctstatus":
            # NONE is the zero bit pattern: printed only when nothing else is set.
            text = _ordered(tuple(v.split(",")), CT_STATUSES[1:]) or "NONE"
        elif name == "--ctproto":
            text = str(proto_number(v))
        elif name.endswith("port"):
            text = render_port_range(parse_port_range(v))
        elif name == "--ctdir":
            text = v.upper()
        elif name == "--ctexpire":
            lo, _, hi = v.partition(":")
            text = lo if not hi or hi == lo else f"{lo}:{hi}"
        else:
            text = _ct_addr(v)
        out += _neg(opt) + [name, text]
    return out


def _check_conntrack(o: dict[str, Option], ctx: RuleContext) -> None:
    _want(bool(o), "conntrack: At least one option is required")


def _save_state(o: dict[str, Option]) -> list[str]:
    opt = o["--state"]
    return _neg(opt) + ["--state", _ordered(tuple(opt.values[0].split(",")), CT_STATES)]


def _check_state(o: dict[str, Option], ctx: RuleContext) -> None:
    _want("--state" in o, "state: option \"--state\" must be specified")


def _check_mode(values: tuple[str, ...]) -> None:
    _want(values[0] in ("random", "nth"), f'Bad mode "{values[0]}"')


def _check_every(values: tuple[str, ...]) -> None:
    _want(values[0].isdigit() and int(values[0]) >= 1, f'Bad value for option "--every", "{values[0]}"')


def _check_packet(values: tuple[str, ...]) -> None:
    _want(values[0].isdigit(), f'Bad value for option "--packet", "{values[0]}"')


def _check_statistic(o: dict[str, Option], ctx: RuleContext) -> None:
    mode = o.get("--mode")
    _want(mode is not None, "statistic: option \"--mode\" must be specified")
    assert mode is not None
    if mode.values[0] == "random":
        _want("--probability" in o, "--probability must be specified when using random mode")
        _want("--every" not in o and "--packet" not in o,
              "--every and --packet can only be specified in nth mode")
        parse_probability(o["--probability"].values[0])
    else:
        _want("--every" in o, "--every must be specified when using nth mode")
        _want("--packet" in o, 'statistic: option "--every" also requires "--packet".')
        _want("--probability" not in o, "--probability can only be specified in random mode")
        _want(int(o["--packet"].values[0]) < int(o["--every"].values[0]),
              "--packet must be smaller than --every")


def render_probability(text: str) -> str:
    """What iptables-save prints: the kernel's 31-bit fraction with 11 decimals."""
    return f"{kernel_probability(parse_probability(text)) / 0x80000000:.11f}"


def _save_statistic(o: dict[str, Option]) -> list[str]:
    if o["--mode"].values[0] == "random":
        p = o["--probability"]
        return ["--mode", "random"] + _neg(p) + ["--probability", render_probability(p.values[0])]
    ev = o["--every"]
    return (["--mode", "nth"] + _neg(ev) + ["--every", str(int(ev.values[0])),
                                            "--packet", str(int(o["--packet"].values[0]))])


RECENT_CMDS = ("--set", "--rcheck", "--update", "--remove")


def _check_uint(values: tuple[str, ...]) -> None:
    _want(values[0].isdigit(), f'Bad value "{values[0]}"')


def _check_mask(values: tuple[str, ...]) -> None:
    try:
        ipaddress.IPv4Address(values[0])
    except ValueError:
        raise ExtensionError(f"host/network `{values[0]}' not found") from None


def _check_recent(o: dict[str, Option], ctx: RuleContext) -> None:
    cmds = [c for c in RECENT_CMDS if c in o]
    _want(len(cmds) == 1, "recent: you must specify one of `--set', `--rcheck' "
          "`--update' or `--remove'")
    _want(not (("--seconds" in o or "--hitcount" in o or "--reap" in o) and cmds[0] in ("--set", "--remove")),
          "recent: --seconds, --hitcount and --reap only work with --rcheck or --update")
    _want(not ("--rsource" in o and "--rdest" in o), "recent: --rsource and --rdest are exclusive")
    _want("--reap" not in o or "--seconds" in o, "recent: --reap requires --seconds")
    name = o["--name"].values[0] if "--name" in o else "DEFAULT"
    _want(0 < len(name) < 200, "recent: name too long")


def _save_recent(o: dict[str, Option]) -> list[str]:
    cmd = next(o[c] for c in RECENT_CMDS if c in o)
    out = _neg(cmd) + [cmd.name]
    if "--seconds" in o:
        out += ["--seconds", str(int(o["--seconds"].values[0]))]
    if "--reap" in o:
        out.append("--reap")
    if "--hitcount" in o:
        out += ["--hitcount", str(int(o["--hitcount"].values[0]))]
    if "--rttl" in o:
        out.append("--rttl")
    out += ["--name", o["--name"].values[0] if "--name" in o else "DEFAULT"]
    out += ["--mask", o["--mask"].values[0] if "--mask" in o else "255.255.255.255"]
    out.append("--rdest" if "--rdest" in o else "--rsource")
    return out


def _save_nfacct(o: dict[str, Option]) -> list[str]:
    # libxt_nfacct prints "--nfacct-name " followed by xtables_save_string's own leading
    # space: two spaces in real dumps (kube-proxy-facts §2.20).
    return ["--nfacct-name", "", save_string(o["--nfacct-name"].values[0])]


def _check_nfacct(o: dict[str, Option], ctx: RuleContext) -> None:
    _want("--nfacct-name" in o, "nfacct: option \"--nfacct-name\" must be specified")


LIMIT_SCALE = 10000  # XT_LIMIT_SCALE: periods are in 1/10000 s
# libxt_limit's units, largest first, and the spellings parse_rate accepts.
LIMIT_UNITS = (("day", LIMIT_SCALE * 24 * 60 * 60), ("hour", LIMIT_SCALE * 60 * 60),
               ("min", LIMIT_SCALE * 60), ("sec", LIMIT_SCALE))
_LIMIT_SPELLINGS = {"d": "day", "day": "day", "h": "hour", "hour": "hour", "m": "min",
                    "min": "min", "minute": "min", "s": "sec", "sec": "sec", "second": "sec"}


def limit_period(o: dict[str, Option]) -> int:
    """``--limit N/unit`` as the kernel's period between packets in 1/10000 s (libxt_limit
    parse_rate: default 3/hour, unit second when omitted)."""
    text = o["--limit"].values[0] if "--limit" in o else "3/hour"
    num, _, unit = text.partition("/")
    unit = _LIMIT_SPELLINGS.get(unit.lower() if unit else "sec")
    if not num.isdigit() or int(num) == 0 or unit is None:
        raise ExtensionError(f"bad rate \"{text}\"'")
    mult = dict(LIMIT_UNITS)[unit]
    period = mult // int(num)
    if period == 0:
        raise ExtensionError(f"Rate too fast \"{text}\"")
    return period


def limit_burst(o: dict[str, Option]) -> int:
    return int(o["--limit-burst"].values[0]) if "--limit-burst" in o else 5


def _check_limit(o: dict[str, Option], ctx: RuleContext) -> None:
    limit_period(o)
    if "--limit-burst" in o:
        b = o["--limit-burst"].values[0]
        _want(b.isdigit() and 0 < int(b) <= 10000, f"bad --limit-burst `{b}'")


def _save_limit(o: dict[str, Option]) -> list[str]:
    period = limit_period(o)
    # print_rate: the largest unit whose count is exact enough.
    i = 1
    while i < len(LIMIT_UNITS):
        mult = LIMIT_UNITS[i][1]
        if period > mult or mult // period < mult % period:
            break
        i += 1
    name, mult = LIMIT_UNITS[i - 1]
    out = ["--limit", f"{mult // period}/{name}"]
    if limit_burst(o) != 5:
        out += ["--limit-burst", str(limit_burst(o))]
    return out


def ip_range(text: str) -> tuple[int, int]:
    """``a.b.c.d[-e.f.g.h]`` of ``-m iprange`` as integers."""
    lo, _, hi = text.partition("-")
    try:
        a = int(ipaddress.IPv4Address(lo))
        b = int(ipaddress.IPv4Address(hi)) if hi else a
    except ValueError:
        raise ExtensionError(f"iprange: bad range \"{text}\"") from None
    return a, b


def _check_iprange(o: dict[str, Option], ctx: RuleContext) -> None:
    _want(bool(o), "iprange match: You must specify `--src-range' or `--dst-range'")
    for opt in o.values():
        ip_range(opt.values[0])


def _save_iprange(o: dict[str, Option]) -> list[str]:
    out: list[str] = []
    for name in ("--src-range", "--dst-range"):
        if name in o:
            a, b = ip_range(o[name].values[0])
            out += _neg(o[name]) + [name, f"{ipaddress.IPv4Address(a)}-{ipaddress.IPv4Address(b)}"]
    return out


def _save_connmark(o: dict[str, Option]) -> list[str]:
    return _neg(o["--mark"]) + ["--mark", render_mark(*parse_value_mask(o["--mark"].values[0]))]


def _check_connmark(o: dict[str, Option], ctx: RuleContext) -> None:
    _want("--mark" in o, "connmark match: option \"--mark\" must be specified")


PHYSDEV_NAMES = ("--physdev-in", "--physdev-out")
PHYSDEV_FLAGS = ("--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged")


def _check_physdev(o: dict[str, Option], ctx: RuleContext) -> None:
    _want(bool(o), "PHYSDEV: no physdev option specified")
    for name in PHYSDEV_NAMES:
        if name in o:
            v = o[name].values[0]
            _want(0 < len(v) < 16, f"interface name `{v}' must be shorter than IFNAMSIZ (16)")


def _save_physdev(o: dict[str, Option]) -> list[str]:
    # libxt_physdev physdev_save: the two port names, then the three flags, in this order.
    out: list[str] = []
    for name in PHYSDEV_NAMES:
        if name in o:
            out += _neg(o[name]) + [name, o[name].values[0]]
    for name in PHYSDEV_FLAGS:
        if name in o:
            out += _neg(o[name]) + [name]
    return out


MATCHES: dict[str, Extension] = {
    e.name: e for e in (
        _l4_match("tcp", (OptSpec("--tcp-flags", (), 2, True), OptSpec("--syn", (), 0, True),
                          OptSpec("--tcp-option", (), 1, True))),
        _l4_match("udp"),
        _l4_match("sctp"),
        Extension("icmp", "match", (OptSpec("--icmp-type", (), 1, True, _check_icmp_type),),
                  save=_save_icmp),
        Extension("multiport", "match", (
            OptSpec("--sports", ("--source-ports",), 1, True),
            OptSpec("--dports", ("--destination-ports",), 1, True),
            OptSpec("--ports", (), 1, True)), check=_check_multiport, save=_save_multiport),
        Extension("comment", "match", (OptSpec("--comment"),), check=_check_comment,
                  save=_save_comment),
        Extension("addrtype", "match", (
            OptSpec("--src-type", (), 1, True, _check_addrtype_list),
            OptSpec("--dst-type", (), 1, True, _check_addrtype_list),
            OptSpec("--limit-iface-in", (), 0), OptSpec("--limit-iface-out", (), 0)),
            check=_check_addrtype, save=_save_addrtype),
        Extension("mark", "match", (OptSpec("--mark", (), 1, True, _check_value_mask),),
                  save=_save_mark),
        Extension("conntrack", "match", (
            OptSpec("--ctstate", (), 1, True, _check_ctstates),
            OptSpec("--ctproto", (), 1, True, _check_ctproto),
            *(OptSpec(n, (), 1, True, _check_network) for n in
              ("--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst")),
            *(OptSpec(n, (), 1, True, _check_ports) for n in
              ("--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport")),
            OptSpec("--ctstatus", (), 1, True, _check_ctstatus),
            OptSpec("--ctexpire", (), 1, True, _check_ctexpire),
            OptSpec("--ctdir", (), 1, False, _check_ctdir)),
            check=_check_conntrack, save=_save_conntrack),
        Extension("state", "match", (OptSpec("--state", (), 1, True, _check_states),),
                  check=_check_state, save=_save_state),
        Extension("statistic", "match", (
            OptSpec("--mode", (), 1, False, _check_mode),
            OptSpec("--probability", (), 1, True, lambda v: (parse_probability(v[0]), None)[1]),
            OptSpec("--every", (), 1, True, _check_every),
            OptSpec("--packet", (), 1, False, _check_packet)),
            check=_check_statistic, save=_save_statistic),
        Extension("recent", "match", (
            *(OptSpec(c, (), 0, True) for c in RECENT_CMDS),
            OptSpec("--seconds", (), 1, False, _check_uint), OptSpec("--reap", (), 0),
            OptSpec("--hitcount", (), 1, False, _check_uint), OptSpec("--rttl", (), 0),
            OptSpec("--name"), OptSpec("--mask", (), 1, False, _check_mask),
            OptSpec("--rsource", (), 0), OptSpec("--rdest", (), 0)),
            check=_check_recent, save=_save_recent),
        Extension("nfacct", "match", (OptSpec("--nfacct-name"),), check=_check_nfacct,
                  save=_save_nfacct),
        Extension("limit", "match", (OptSpec("--limit"), OptSpec("--limit-burst")),
                  check=_check_limit, save=_save_limit),
        Extension("iprange", "match", (OptSpec("--src-range", (), 1, True),
                                       OptSpec("--dst-range", (), 1, True)),
                  check=_check_iprange, save=_save_iprange),
        Extension("connmark", "match", (OptSpec("--mark", (), 1, True, _check_value_mask),),
                  check=_check_connmark, save=_save_connmark),
        Extension("physdev", "match", (
            *(OptSpec(n, (), 1, True) for n in PHYSDEV_NAMES),
            *(OptSpec(n, (), 0, True) for n in PHYSDEV_FLAGS)),
            check=_check_physdev, save=_save_physdev),
    )
}

# Protocol matches loaded implicitly by "-p tcp --dport 80" (iptables' load_proto).
IMPLICIT_PROTO_MATCHES = ("tcp", "udp", "sctp", "icmp")


# ---------------------------------------------------------------------------- targets

def _save_reject(o: dict[str, Option]) -> list[str]:
    return ["--reject-with", reject_type(o)]


def reject_type(o: dict[str, Option]) -> str:
    """The canonical ``--reject-with`` type (default ``icmp-port-unreachable``)."""
    if "--reject-with" not in o:
        return "icmp-port-unreachable"
    v = o["--reject-with"].values[0]
    for canon, aliases in REJECT_TYPES.items():
        if v == canon or v in aliases:
            return canon
    raise ExtensionError(f"unknown reject type \"{v}\"")


def _check_reject(o: dict[str, Option], ctx: RuleContext) -> None:
    t = reject_type(o)
    _want(t != "tcp-reset" or (ctx.proto == "tcp" and not ctx.proto_negated),
          "REJECT: tcp-reset is only valid with -p tcp")


MARK_OPS = ("--set-xmark", "--set-mark", "--and-mark", "--or-mark", "--xor-mark")


def mark_xset(o: dict[str, Option]) -> tuple[int, int]:
    """Every MARK operation as the kernel's (value, mask) of ``mark = (mark & ~mask) ^ value``
    (libxt_MARK mark_tg_parse)."""
    (op,) = [o[n] for n in MARK_OPS if n in o]
    text = op.values[0]
    if op.name == "--set-xmark":
        return parse_value_mask(text)
    if op.name == "--set-mark":
        v, m = parse_value_mask(text)
        return v, (m | v) & U32
    v = parse_u32(text)
    if op.name == "--and-mark":
        return 0, (~v) & U32
    if op.name == "--or-mark":
        return v, v
    return v, 0


def _check_mark_target(o: dict[str, Option], ctx: RuleContext) -> None:
    ops = [n for n in MARK_OPS if n in o]
    _want(len(ops) == 1, "MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required")
    mark_xset(o)


def _save_mark_target(o: dict[str, Option]) -> list[str]:
    v, m = mark_xset(o)
    return ["--set-xmark", f"{v:#x}/{m:#x}"]


def _check_nat_range(o: dict[str, Option], ctx: RuleContext, opt: str) -> None:
    _want(opt in o, f"You must specify {opt}")
    _, _, plo, _ = parse_nat_range(o[opt].values[0], need_ip=False)
    _want(plo == 0 or (ctx.proto in ("tcp", "udp", "sctp", "dccp") and not ctx.proto_negated),
          "Need TCP, UDP, SCTP or DCCP with port specification")


def _nat_addr_text(text: str) -> str:
    lo, hi, plo, phi = parse_nat_range(text, need_ip=False)
    out = lo if lo == hi else f"{lo}-{hi}"
    if plo:
        out += f":{plo}" if plo == phi else f":{plo}-{phi}"
    return out


def _save_nat(opt: str) -> Callable[[dict[str, Option]], list[str]]:
    def save(o: dict[str, Option]) -> list[str]:
        out = [opt, _nat_addr_text(o[opt].values[0])]
        for flag in ("--random", "--random-fully", "--persistent"):
            if flag in o:
                out.append(flag)
        return out
    return save


def _check_to_ports(o: dict[str, Option], ctx: RuleContext) -> None:
    if "--to-ports" in o:
        parse_ports_dash(o["--to-ports"].values[0])
        _want(ctx.proto in ("tcp", "udp", "sctp", "dccp") and not ctx.proto_negated,
              "Need TCP, UDP, SCTP or DCCP with port specification")


def _save_ports_target(o: dict[str, Option]) -> list[str]:
    out: list[str] = []
    if "--to-ports" in o:
        a, b = parse_ports_dash(o["--to-ports"].values[0])
        out += ["--to-ports", str(a) if a == b else f"{a}-{b}"]
    for flag in ("--random", "--random-fully"):
        if flag in o:
            out.append(flag)
    return out


def log_level(o: dict[str, Option]) -> int:
    if "--log-level" not in o:
        return 4
    v = o["--log-level"].values[0].lower()
    if v in LOG_LEVELS:
        return LOG_LEVELS[v]
    if v.isdigit() and int(v) <= 7:
        return int(v)
    raise ExtensionError(f"log-level `{v}' unknown")


def _check_log(o: dict[str, Option], ctx: RuleContext) -> None:
    log_level(o)
    if "--log-prefix" in o:
        _want(len(o["--log-prefix"].values[0]) <= 29,
              "Maximum prefix length 29 for --log-prefix")


def _save_log(o: dict[str, Option]) -> list[str]:
    out: list[str] = []
    if "--log-prefix" in o:
        out += ["--log-prefix", save_string(o["--log-prefix"].values[0])]
    level = log_level(o)
    if level != 4:
        out += ["--log-level", str(level)]
    for flag in ("--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid"):
        if flag in o:
            out.append(flag)
    return out


def _nflog_u32(o: dict[str, Option], name: str, limit: int) -> int | None:
    if name not in o:
        return None
    v = o[name].values[0]
    _want(v.isdigit() and int(v) <= limit, f"NFLOG: bad value for option \"{name}\": \"{v}\"")
    return int(v)


def nflog_group(o: dict[str, Option]) -> int:
    """``--nflog-group`` (netlink group 0-65535, default 0)."""
    return _nflog_u32(o, "--nflog-group", 0xFFFF) or 0


def _check_nflog(o: dict[str, Option], ctx: RuleContext) -> None:
    nflog_group(o)
    for name in ("--nflog-range", "--nflog-size"):
        _nflog_u32(o, name, U32)
    _nflog_u32(o, "--nflog-threshold", 0xFFFF)
    _want(not ("--nflog-range" in o and "--nflog-size" in o),
          "NFLOG: --nflog-range and --nflog-size are exclusive")
    if "--nflog-prefix" in o:
        _want(len(o["--nflog-prefix"].values[0]) <= 63,
              "Maximum prefix length 63 for --nflog-prefix")


def _save_nflog(o: dict[str, Option]) -> list[str]:
    # libxt_NFLOG nflog_print: prefix, group (when not 0), size, threshold (when not 0),
    # measured with iptables-nft-save 1.8.9 (tests/iptables/fixtures/cni-extensions.save).
    # The deprecated --nflog-range is dropped by the nft backend, as here (iptables-legacy
    # keeps it: the one difference between the two backends' saves of NFLOG).
    out: list[str] = []
    if o.get("--nflog-prefix") is not None and o["--nflog-prefix"].values[0]:
        out += ["--nflog-prefix", save_string(o["--nflog-prefix"].values[0])]
    if nflog_group(o):
        out += ["--nflog-group", str(nflog_group(o))]
    if "--nflog-size" in o:
        out += ["--nflog-size", str(_nflog_u32(o, "--nflog-size", U32))]
    threshold = _nflog_u32(o, "--nflog-threshold", 0xFFFF)
    if threshold:
        out += ["--nflog-threshold", str(threshold)]
    return out


def _check_checksum(o: dict[str, Option], ctx: RuleContext) -> None:
    _want("--checksum-fill" in o, "CHECKSUM target: Parameter --checksum-fill is required")


CONNMARK_OPS = MARK_OPS + ("--save-mark", "--restore-mark")


def connmark_op(o: dict[str, Option]) -> tuple[str, int, int]:
    """A CONNMARK target as ``("set", value, mask)`` (ct mark = (ct mark & ~mask) ^ value),
    ``("save", nfmask, ctmask)`` or ``("restore", nfmask, ctmask)`` (libxt_CONNMARK)."""
    ops = [n for n in CONNMARK_OPS if n in o]
    _want(len(ops) == 1, "CONNMARK target: No operation specified")
    op = ops[0]
    if op in MARK_OPS:
        v, m = mark_xset({op: o[op]})
        return "set", v, m
    mask = parse_u32(o["--mask"].values[0]) if "--mask" in o else U32
    nfmask = parse_u32(o["--nfmask"].values[0]) if "--nfmask" in o else mask
    ctmask = parse_u32(o["--ctmask"].values[0]) if "--ctmask" in o else mask
    return ("save" if op == "--save-mark" else "restore"), nfmask, ctmask


def _check_connmark_target(o: dict[str, Option], ctx: RuleContext) -> None:
    kind = connmark_op(o)[0]
    _want(kind != "set" or not ({"--mask", "--nfmask", "--ctmask"} & set(o)),
          "CONNMARK target: --mask/--nfmask/--ctmask only go with --save-mark/--restore-mark")


def _save_connmark_target(o: dict[str, Option]) -> list[str]:
    kind, a, b = connmark_op(o)
    if kind == "set":
        return ["--set-xmark", f"{a:#x}/{b:#x}"]
    return [f"--{kind}-mark", "--nfmask", f"{a:#x}", "--ctmask", f"{b:#x}"]


def _check_ct_target(o: dict[str, Option], ctx: RuleContext) -> None:
    _want("--notrack" in o, "CT target: only --notrack is supported by kube-netsim")


TARGETS: dict[str, Extension] = {
    e.name: e for e in (
        Extension("ACCEPT", "target"),
        Extension("DROP", "target"),
        Extension("RETURN", "target"),
        Extension("REJECT", "target", (OptSpec("--reject-with"),), check=_check_reject,
                  save=_save_reject, tables=("filter",), hooks=("INPUT", "FORWARD", "OUTPUT")),
        Extension("MARK", "target", tuple(OptSpec(n) for n in MARK_OPS),
                  check=_check_mark_target, save=_save_mark_target),
        Extension("DNAT", "target", (OptSpec("--to-destination"), OptSpec("--random", (), 0),
                                     OptSpec("--persistent", (), 0)),
                  check=lambda o, c: _check_nat_range(o, c, "--to-destination"),
                  save=_save_nat("--to-destination"), tables=("nat",),
                  hooks=("PREROUTING", "OUTPUT")),
        Extension("SNAT", "target", (OptSpec("--to-source"), OptSpec("--random", (), 0),
                                     OptSpec("--random-fully", (), 0),
                                     OptSpec("--persistent", (), 0)),
                  check=lambda o, c: _check_nat_range(o, c, "--to-source"),
                  save=_save_nat("--to-source"), tables=("nat",),
                  hooks=("POSTROUTING", "INPUT")),
        Extension("MASQUERADE", "target", (OptSpec("--to-ports", (), 1), OptSpec("--random", (), 0),
                                           OptSpec("--random-fully", (), 0)),
                  check=_check_to_ports, save=_save_ports_target, tables=("nat",),
                  hooks=("POSTROUTING",)),
        Extension("REDIRECT", "target", (OptSpec("--to-ports", (), 1), OptSpec("--random", (), 0)),
                  check=_check_to_ports, save=_save_ports_target, tables=("nat",),
                  hooks=("PREROUTING", "OUTPUT")),
        Extension("LOG", "target", (
            OptSpec("--log-level"), OptSpec("--log-prefix"),
            OptSpec("--log-tcp-sequence", (), 0), OptSpec("--log-tcp-options", (), 0),
            OptSpec("--log-ip-options", (), 0), OptSpec("--log-uid", (), 0)),
            check=_check_log, save=_save_log),
        Extension("NFLOG", "target", (
            OptSpec("--nflog-group"), OptSpec("--nflog-prefix"), OptSpec("--nflog-range"),
            OptSpec("--nflog-size"), OptSpec("--nflog-threshold")),
            check=_check_nflog, save=_save_nflog),
        Extension("CHECKSUM", "target", (OptSpec("--checksum-fill", (), 0),),
                  check=_check_checksum, save=lambda o: ["--checksum-fill"], tables=("mangle",)),
        Extension("NOTRACK", "target", tables=("raw",)),
        Extension("CT", "target", (OptSpec("--notrack", (), 0),), check=_check_ct_target,
                  save=lambda o: ["--notrack"], tables=("raw",)),
        Extension("CONNMARK", "target", (
            *(OptSpec(n) for n in MARK_OPS), OptSpec("--save-mark", (), 0),
            OptSpec("--restore-mark", (), 0), OptSpec("--mask"), OptSpec("--nfmask"),
            OptSpec("--ctmask")), check=_check_connmark_target, save=_save_connmark_target),
    )
}

# Names iptables reserves for standard verdicts; never a user chain.
STANDARD_TARGETS = ("ACCEPT", "DROP", "RETURN", "QUEUE")


# The set, physdev and ipvs matches live in their own module (imported last: it builds on
# the helpers above).
from sim.iptables.setmatch import SET_MATCHES  # noqa: E402

MATCHES.update(SET_MATCHES)
