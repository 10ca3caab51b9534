"""The ``set`` and ``ipvs`` match modules (kube-proxy's IPVS mode and the CNIs that match
ipsets write them), registered into :data:`sim.iptables.extensions.MATCHES`.

Save forms follow ``libxt_set.c`` (revision 4: ``[!] --match-set NAME dir[,dir...]`` then
``--return-nomatch``, ``! --update-counters``, ``! --update-subcounters``) and ``libxt_ipvs.c`` (``--ipvs``, ``--vproto``
as a number, ``--vaddr`` with its mask unless /32, ``--vport``, ``--vdir``, ``--vmethod``,
``--vportctl``). The set form is checked against a real ``iptables-save``
(``tests/ipset/test_kernel_ipset.py``); the ipvs form is not (this kernel has no IPVS, so
``xt_ipvs`` does not load).
"""

from __future__ import annotations

import ipaddress

from sim.iptables.extensions import (
    Extension,
    ExtensionError,
    OptSpec,
    RuleContext,
    _neg,
    _want,
    proto_number,
)
from sim.iptables.ruleset import Option

MAX_SET_DIMENSION = 6  # IPSET_DIM_MAX
SET_NAME_MAX = 31


def set_directions(flags: str) -> tuple[bool, ...]:
    """``src,dst,...`` as one bool per dimension (True: source).

    >>> set_directions("dst,dst,src")
    (False, False, True)
    """
    dirs = flags.split(",")
    if not 0 < len(dirs) <= MAX_SET_DIMENSION or any(d not in ("src", "dst") for d in dirs):
        raise ExtensionError(f"You must specify (the comma separated list of) 'src' or 'dst' "
                             f"(up to {MAX_SET_DIMENSION}): {flags!r}")
    return tuple(d == "src" for d in dirs)


def _check_match_set(values: tuple[str, ...]) -> None:
    name, flags = values
    _want(0 < len(name) <= SET_NAME_MAX, f"setname `{name}' too long, max {SET_NAME_MAX} characters")
    set_directions(flags)


def _check_set(o: dict[str, Option], ctx: RuleContext) -> None:
    _want("--match-set" in o, "set match: You must specify `--match-set' with proper arguments")


def _save_set(o: dict[str, Option]) -> list[str]:
    ms = o["--match-set"]
    out = _neg(ms) + ["--match-set", ms.values[0], ms.values[1]]
    if "--return-nomatch" in o:
        out.append("--return-nomatch")
    for flag in ("--update-counters", "--update-subcounters"):
        if flag in o:
            out += ["!", flag]
    return out


def _check_set_flags(o: dict[str, Option], ctx: RuleContext) -> None:
    _check_set(o, ctx)
    for flag in ("--update-counters", "--update-subcounters"):
        _want(flag not in o or o[flag].negated, f"set match: {flag} is only accepted negated")


IPVS_METHODS = ("GATE", "IPIP", "MASQ")
IPVS_SAVE_ORDER = ("--ipvs", "--vproto", "--vaddr", "--vport", "--vdir", "--vmethod", "--vportctl")


def ipvs_vaddr(text: str) -> tuple[int, int]:
    """``--vaddr ADDR[/MASK]`` as (address, mask) integers."""
    try:
        net = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        raise ExtensionError(f"Bad --vaddr {text!r}") from None
    return int(ipaddress.IPv4Address(text.partition("/")[0])) & int(net.netmask), int(net.netmask)


def _check_ipvs(o: dict[str, Option], ctx: RuleContext) -> None:
    _want(bool(o), "ipvs: no option specified")
    if "--vaddr" in o:
        ipvs_vaddr(o["--vaddr"].values[0])
    if "--vproto" in o:
        try:
            proto_number(o["--vproto"].values[0])
        except (ValueError, KeyError):
            raise ExtensionError(f"unknown protocol `{o['--vproto'].values[0]}' specified") from None
    for name in ("--vport", "--vportctl"):
        if name in o:
            v = o[name].values[0]
            _want(v.isdigit() and int(v) <= 65535, f"ipvs: bad port {v!r}")
    if "--vdir" in o:
        _want(o["--vdir"].values[0] in ("ORIGINAL", "REPLY"), "ipvs: --vdir is ORIGINAL or REPLY")
    if "--vmethod" in o:
        _want(o["--vmethod"].values[0] in IPVS_METHODS, "ipvs: --vmethod is GATE, IPIP or MASQ")


def _save_ipvs(o: dict[str, Option]) -> list[str]:
    out: list[str] = []
    for name in IPVS_SAVE_ORDER:
        if name not in o:
            continue
        opt = o[name]
        if name == "--ipvs":
            out += _neg(opt) + ["--ipvs"]
        elif name == "--vproto":
            out += _neg(opt) + ["--vproto", str(proto_number(opt.values[0]))]
        elif name == "--vaddr":
            addr, mask = ipvs_vaddr(opt.values[0])
            plen = bin(mask).count("1")
            # xtables_ipmask_to_numeric prints nothing for a /32 ("we don't want to see /32")
            suffix = "" if plen == 32 else f"/{plen}"
            out += _neg(opt) + ["--vaddr", f"{ipaddress.IPv4Address(addr)}{suffix}"]
        elif name == "--vdir":
            out += ["--vdir", opt.values[0]]
        else:
            out += _neg(opt) + [name, str(int(opt.values[0])) if opt.values[0].isdigit() else opt.values[0]]
    return out


SET_MATCHES: dict[str, Extension] = {
    e.name: e for e in (
        Extension("set", "match", (
            OptSpec("--match-set", ("--set",), 2, True, _check_match_set),
            OptSpec("--return-nomatch", (), 0),
            OptSpec("--update-counters", (), 0, True),
            OptSpec("--update-subcounters", (), 0, True)),
            check=_check_set_flags, save=_save_set),
        Extension("ipvs", "match", (
            OptSpec("--ipvs", (), 0, True), OptSpec("--vproto", (), 1, True),
            OptSpec("--vaddr", (), 1, True), OptSpec("--vport", (), 1, True),
            OptSpec("--vdir", (), 1, False), OptSpec("--vmethod", (), 1, True),
            OptSpec("--vportctl", (), 1, True)),
            check=_check_ipvs, save=_save_ipvs),
    )
}

__all__ = ["IPVS_METHODS", "SET_MATCHES", "ipvs_vaddr", "set_directions"]
