"""Compiling a :class:`~sim.iptables.ruleset.Ruleset` into match closures and target actions.

Each rule becomes one generated match function testing its conditions in the kernel's order
(``ipt_do_table``: the IP header part ``-s -d -i -o -p -f`` first, then the matches in the
rule's order, stopping at the first that fails; only matches that are evaluated have side
effects) and a target kind.

Long chains also get an index for the fast path: rules with an exact, non-negated ``-d a/32``
are listed under that address, rules with an exact ``-p`` and ``--dport`` (and nothing with a
side effect before the port match) under (protocol, port); every other rule is a wildcard.
A rule that is in neither the packet's lists nor the wildcards cannot match (its header part
fails before any match with a side effect runs), so skipping it changes nothing but time;
the walk length still counts it because the kernel evaluated it.

On the fast path every chain has a ``run(c)``: for a chain without a useful index one
generated function with all its rules' conditions and targets inlined (:func:`make_runner`;
chains of the same shape share one code object), for an indexed chain a walk over the
candidates (:meth:`CChain.run_index`). The linear reference walk ignores both and calls each
rule's match function.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from heapq import merge
from types import CodeType, FunctionType
from typing import Any

from sim.iptables.extensions import (
    LIMIT_SCALE,
    PROTOCOL_NAMES,
    connmark_op,
    ip_range,
    limit_burst,
    limit_period,
    log_level,
    mark_xset,
    nflog_group,
    parse_multiport,
    parse_nat_range,
    parse_network,
    parse_port_range,
    parse_ports_dash,
    parse_probability,
    parse_tcp_flags,
    parse_value_mask,
    proto_number,
    reject_type,
    icmp_type_number,
    kernel_probability,
)
from sim.iptables.gcpause import gc_paused
from sim.iptables.ruleset import BUILTIN_CHAINS, Chain, Match, Rule, Ruleset, Table
from sim.netfilter.physdev import physdev_preds
from sim.netfilter import setmatch
from sim.iptables.save import render_rule
from sim.netfilter.context import (  # TCP_BITS, tcp_flag_bits: re-exported (older import path)
    TCP_BITS,  # noqa: F401
    PacketContext,
    Stop,
    STATE_BITS,
    tcp_flag_bits,  # noqa: F401
)
from sim.netfilter.types import Hook, TraceStep, Verdict

Pred = Callable[["PacketContext"], bool]

# Target kinds.
T_NONE, T_ACCEPT, T_DROP, T_RETURN, T_JUMP, T_GOTO, T_REJECT, T_MARK, T_DNAT, T_SNAT, \
    T_MASQ, T_REDIRECT, T_LOG, T_NOTRACK, T_CONNMARK = range(15)

# PacketContext's method for each NAT target kind (generated code calls it by name).
_NAT_METHOD = {T_DNAT: "dnat", T_SNAT: "snat", T_MASQ: "masquerade", T_REDIRECT: "redirect"}
INDEX_MIN_RULES = 16
# Deepest chain nesting (jumps and gotos from a built-in chain) the fast path takes; deeper
# rulesets run on the reference walk, whose jump stack is a list, not Python's call stack.
MAX_FAST_NESTING = 200
INDEX_MIN_SHARE = 0.5
# The (hook, table) pairs a packet path visits, in CompiledRuleset.starts order.
HOOK_TABLES = (("PREROUTING", "raw"), ("PREROUTING", "mangle"), ("PREROUTING", "nat"),
               ("INPUT", "mangle"), ("INPUT", "filter"), ("INPUT", "nat"),
               ("FORWARD", "mangle"), ("FORWARD", "filter"),
               ("OUTPUT", "raw"), ("OUTPUT", "mangle"), ("OUTPUT", "nat"), ("OUTPUT", "filter"),
               ("POSTROUTING", "mangle"), ("POSTROUTING", "nat"))
(PRE_RAW, PRE_MANGLE, PRE_NAT, IN_MANGLE, IN_FILTER, IN_NAT, FWD_MANGLE, FWD_FILTER, OUT_RAW,
 OUT_MANGLE, OUT_NAT, OUT_FILTER, POST_MANGLE, POST_NAT) = range(len(HOOK_TABLES))
# Matches with no side effect: rules whose port match comes only after these may be indexed.
_PURE_MODULES = frozenset({"comment", "tcp", "udp", "sctp", "icmp", "multiport", "addrtype",
                           "mark", "conntrack", "state", "set", "ipvs"})


@dataclass(slots=True)
class CRule:
    """A compiled rule."""

    rid: int
    table: str
    chain: str
    number: int
    rule: Rule
    match: Pred | None  # None: the rule matches every packet
    kind: int
    arg: Any = None
    _step: TraceStep | None = None
    dest: "CChain | None" = None  # the chain a jump or goto enters (resolved once)

    @property
    def step(self) -> TraceStep:
        """The trail line for this rule (rendered once)."""
        if self._step is None:
            self._step = TraceStep(self.table, self.chain, self.number, render_rule(self.rule))
        return self._step


@dataclass(slots=True, eq=False)  # compiled objects: identity (hashable, as dict keys)
class CChain:
    """A compiled chain; long chains carry the fast-path index (see the module docstring)."""

    name: str
    table: str
    builtin: bool
    policy: str | None
    rules: list[CRule]
    end_step: TraceStep
    dst_index: dict[int, list[int]] | None = None
    pd_index: dict[tuple[str, int], list[int]] | None = None
    wild: list[int] = field(default_factory=list)
    _cache: dict[tuple[int, str, int], list[int]] = field(default_factory=dict)
    # The fast path's run(c) (see make_runner); indexed chains run their candidates.
    run: Callable[..., int] | None = None

    def run_index(self, c: "PacketContext") -> int:
        """:func:`make_runner`'s contract over the index candidates (indexed chains): the
        rules outside the packet's candidates cannot match and are only counted in the
        walk length."""
        cands = self.dst_index.get(c.dst)  # type: ignore[union-attr]
        if cands is None or self.pd_index:  # candidates(), short-cut for dst-only indexes
            cands = self.candidates(c.dst, c.proto, c.dport)
        rules = self.rules
        pk = c.pk
        by = c.by
        tr = c.trail
        for i in cands:
            cr = rules[i]
            m = cr.match
            if m is not None and not m(c):
                continue
            rid = cr.rid
            pk[rid] += 1
            by[rid] += c.length
            if tr is not None:
                tr.append(cr.step)
            kind = cr.kind
            if kind == T_JUMP:  # the most common matched kind in kube-proxy's rules
                v = cr.dest.run(c)
                if v:
                    c.walk += i + 1
                    return v
                continue
            if kind == T_NONE:
                continue
            if kind == T_MARK:
                value, mask = cr.arg
                c.mark = ((c.mark & ~mask) ^ value) & 0xFFFFFFFF
                continue
            if kind == T_LOG:
                c.log(cr)
                continue
            if kind == T_NOTRACK:
                c.notrack = True
                c.sbits = _STATE_BITS["UNTRACKED"]
                continue
            if kind == T_CONNMARK:
                c.connmark(cr.arg)
                continue
            c.walk += i + 1
            if kind == T_GOTO:
                return cr.dest.run(c)
            if kind == T_RETURN:
                return 0
            if kind == T_ACCEPT:
                return 1
            if kind == T_DROP:
                return 2
            if kind == T_REJECT:
                c.reject = cr.arg
                return 3
            _NAT_CALL[kind](c, cr.arg)
            return 1
        c.walk += len(rules)
        if tr is not None and not self.builtin:
            tr.append(self.end_step)
        return 0

    def candidates(self, dst: int, proto: str, dport: int) -> list[int]:
        """Sorted indices of the rules that may match (an indexed chain's)."""
        assert self.dst_index is not None
        a = self.dst_index.get(dst)
        b = self.pd_index.get((proto, dport)) if self.pd_index else None
        if b is None:
            return a if a is not None else self.wild
        if a is None:
            return b
        key = (dst, proto, dport)
        c = self._cache.get(key)
        if c is None:
            c = sorted(set(a) | set(b))
            if len(self._cache) > 65536:
                self._cache.clear()
            self._cache[key] = c
        return c


@dataclass(slots=True)
class CTable:
    """A compiled table."""

    name: str
    chains: dict[str, CChain]


@dataclass(slots=True)
class CompiledRuleset:
    """A ruleset ready to execute; ``rules`` lists every compiled rule by id."""

    ruleset: Ruleset
    tables: dict[str, CTable]
    rules: list[CRule]
    hooks: "_Hooks | None" = None
    # starts[k]: the built-in chain of HOOK_TABLES[k], None where the table has none
    starts: tuple["CChain | None", ...] = ()
    fast: bool = False  # every chain has its run (compiled with the fast path)
    requested_fast: bool = False  # the fast path was asked for (too deep a ruleset: not built)

    @property
    def shareable(self) -> bool:
        """Whether several engines may execute this compiled form at once: it holds no
        per-engine state (``statistic --mode nth`` counters and ``limit`` buckets are)."""
        return self.hooks is None or not (self.hooks.nth_counters or self.hooks.limits)


# ------------------------------------------------------------------------------ predicates
#
# A predicate is an ``Expr``: Python source over the packet context ``c`` plus the objects it
# names. The conditions of one rule are joined with ``and`` into a single generated function
# (one call per rule instead of one per match); stateful matches are calls to closures.

Expr = tuple[str, dict[str, object]]


def _call(f: Pred) -> Expr:
    return "__f(c)", {"__f": f}


def _neg(expr: str, neg: bool) -> str:
    return f"not ({expr})" if neg else expr


def _net(text: str) -> tuple[int, int]:
    n = parse_network(text)
    return int(n.network_address), int(n.netmask)


def _addr_pred(field_name: str, text: str, neg: bool) -> Expr:
    net, mask = _net(text)
    attr = "c.src" if field_name == "src" else "c.dst"
    return f"({attr} & __m) {'!=' if neg else '=='} __n", {"__m": mask, "__n": net}


def _iface_pred(field_name: str, name: str, neg: bool) -> Expr:
    attr = "c.in_iface" if field_name == "in" else "c.out_iface"
    if name.endswith("+"):
        return _neg(f"{attr}.startswith(__s)", neg), {"__s": name[:-1]}
    return f"{attr} {'!=' if neg else '=='} __s", {"__s": name}


def _proto_pred(text: str, neg: bool) -> Expr | None:
    num = proto_number(text)
    if num == 0:
        return ("False", {}) if neg else None
    name = PROTOCOL_NAMES.get(num, str(num))
    return f"c.proto {'!=' if neg else '=='} __s", {"__s": name}


def _range_pred(attr: str, text: str, neg: bool) -> Expr:
    lo, hi = parse_port_range(text)
    expr = f"c.{attr} == __a" if lo == hi else f"__a <= c.{attr} <= __b"
    return _neg(expr, neg), {"__a": lo, "__b": hi}


def _module_preds(m: Match, eng_hooks: "_Hooks") -> list[Expr]:
    o = {opt.name: opt for opt in m.options}
    mod = m.module
    out: list[Expr] = []
    if mod in ("tcp", "udp", "sctp"):
        for name, attr in (("--sport", "sport"), ("--dport", "dport")):
            if name in o:
                out.append(_range_pred(attr, o[name].values[0], o[name].negated))
        if "--syn" in o or "--tcp-flags" in o:
            if "--syn" in o:
                mask, comp, neg = 0x17, 0x02, o["--syn"].negated
            else:
                f = o["--tcp-flags"]
                mask, comp = parse_tcp_flags(f.values[0]), parse_tcp_flags(f.values[1])
                neg = f.negated
            out.append((f"(c.flags & __m) {'!=' if neg else '=='} __v",
                        {"__m": mask, "__v": comp}))
        if "--tcp-option" in o:
            # Simulated packets carry no TCP options.
            out.append((repr(o["--tcp-option"].negated), {}))
    elif mod == "icmp":
        t = o["--icmp-type"]
        text = icmp_type_number(t.values[0])
        if text == "any":
            out.append((_neg("c.icmp_type is not None", t.negated), {}))
        else:
            out.append((_neg("c.icmp_type == __v", t.negated),
                        {"__v": int(text.split("/")[0])}))
    elif mod == "multiport":
        (opt,) = o.values()
        ranges = tuple(parse_multiport(opt.values[0]))

        def inr(p: int) -> bool:
            return any(a <= p <= b for a, b in ranges)
        env = {"__in": inr}
        if opt.name == "--sports":
            out.append((_neg("__in(c.sport)", opt.negated), env))
        elif opt.name == "--dports":
            out.append((_neg("__in(c.dport)", opt.negated), env))
        else:
            out.append((_neg("__in(c.sport) or __in(c.dport)", opt.negated), env))
    elif mod == "comment":
        pass
    elif mod == "addrtype":
        for name, attr in (("--src-type", "src"), ("--dst-type", "dst")):
            if name in o:
                types = frozenset(v.upper() for v in o[name].values[0].split(","))
                out.append((_neg(f"c.eng.addr_type(c.{attr}) in __t", o[name].negated),
                            {"__t": types}))
    elif mod == "mark":
        v, mask = parse_value_mask(o["--mark"].values[0])
        out.append((f"(c.mark & __m) {'!=' if o['--mark'].negated else '=='} __v",
                    {"__m": mask, "__v": v}))
    elif mod in ("conntrack", "state"):
        out.extend(_conntrack_preds(o))
    elif mod == "statistic":
        if o["--mode"].values[0] == "random":
            p = o["--probability"]
            p31 = kernel_probability(parse_probability(p.values[0]))
            out.append((_neg("c.eng.chance(__v, c.rng)", p.negated), {"__v": p31}))
        else:
            every = int(o["--every"].values[0])
            start = int(o["--packet"].values[0])
            out.append(_call(eng_hooks.nth(every, start, o["--every"].negated)))
    elif mod == "recent":
        out.append(_call(_recent_pred(o)))
    elif mod == "limit":
        out.append(_call(eng_hooks.limit(limit_period(o) / LIMIT_SCALE, limit_burst(o))))
    elif mod == "iprange":
        for name, attr in (("--src-range", "src"), ("--dst-range", "dst")):
            if name in o:
                lo, hi = ip_range(o[name].values[0])
                out.append((_neg(f"__a <= c.{attr} <= __b", o[name].negated),
                            {"__a": lo, "__b": hi}))
    elif mod == "connmark":
        v, mask = parse_value_mask(o["--mark"].values[0])
        # connmark_mt: no conntrack entry, no match (whatever the "!").
        op = "!=" if o["--mark"].negated else "=="
        out.append((f"c.ct is not None and (c.ct.mark & __m) {op} __v", {"__m": mask, "__v": v}))
    elif mod == "nfacct":
        out.append(("c.nfacct(__s)", {"__s": o["--nfacct-name"].values[0]}))
    elif mod == "physdev":
        out.extend(physdev_preds(o))
    elif mod in setmatch.MODULES:
        out.extend(setmatch.preds(mod, o))
    else:  # pragma: no cover - the parser refuses unknown modules
        raise AssertionError(mod)
    return out


_NAME = re.compile(r"\b__[a-z]+\b")
_CODE: dict[str, CodeType] = {}
_GLOBALS: dict[str, object] = {"__builtins__": __builtins__}


@lru_cache(maxsize=4096)
def _numbered(expr: str, suffix: str) -> str:
    """``expr`` with its constant names suffixed by ``suffix`` (the condition's position)."""
    return "(" + _NAME.sub(lambda m: f"{m.group(0)}{suffix}", expr) + ")"


def _conditions(exprs: list[Expr], tag: str, env: dict[str, object]) -> str:
    """The conditions of one rule joined with ``and``; their constants go into ``env``
    under names suffixed by the condition's position and ``tag``."""
    parts = []
    for k, (expr, names) in enumerate(exprs):
        suffix = f"{k}{tag}"
        for name, value in names.items():
            env[f"{name}{suffix}"] = value
        parts.append(_numbered(expr, suffix))
    return " and ".join(parts)


def _function(head: str, body: str, env: dict[str, object], name: str) -> Callable:
    """``def <name>(<head>, <constants of env>): <body>``, the constants being keyword
    defaults (fast local loads, no per-rule globals for the shared code's inline caches to
    miss on), so functions of the same shape share one code object (compiled once per
    shape, not once per rule or chain)."""
    params = sorted(env)
    src = (f"def {name}({head}" + "".join(f", {p}" for p in params) + "):\n" + body)
    code = _CODE.get(src)
    if code is None:
        module = compile(src, f"<{name}>", "exec")
        code = next(c for c in module.co_consts if isinstance(c, CodeType))
        _CODE[src] = code
    return FunctionType(code, _GLOBALS, name, tuple(env[p] for p in params))


def make_matcher(exprs: list[Expr]) -> Pred | None:
    """One function testing every condition of a rule in order (None: matches everything)."""
    if not exprs:
        return None
    env: dict[str, object] = {}
    return _function("c", f"    return {_conditions(exprs, '', env)}\n", env, "_match")


def _target_code(i: int, cr: "CRule", env: dict[str, object]) -> str:
    """The statements for rule ``i``'s target once it matched (see :func:`make_runner`)."""
    kind = cr.kind
    if kind == T_JUMP:
        env[f"__d_{i}"] = cr.dest
        return (f"        v = __d_{i}.run(c)\n"
                f"        if v:\n            c.walk += {i + 1}\n            return v\n")
    if kind == T_NONE:
        return ""
    if kind == T_MARK:
        value, mask = cr.arg
        env[f"__mk_{i}"] = ~mask
        env[f"__mv_{i}"] = value
        return f"        c.mark = ((c.mark & __mk_{i}) ^ __mv_{i}) & 0xFFFFFFFF\n"
    if kind == T_LOG:
        env[f"__q_{i}"] = cr
        return f"        c.log(__q_{i})\n"
    if kind == T_NOTRACK:
        env[f"__u_{i}"] = _STATE_BITS["UNTRACKED"]
        return f"        c.notrack = True\n        c.sbits = __u_{i}\n"
    if kind == T_CONNMARK:
        env[f"__a_{i}"] = cr.arg
        return f"        c.connmark(__a_{i})\n"
    head = f"        c.walk += {i + 1}\n"
    if kind == T_GOTO:
        env[f"__d_{i}"] = cr.dest
        return head + f"        return __d_{i}.run(c)\n"
    if kind == T_RETURN:
        return head + "        return 0\n"
    if kind == T_ACCEPT:
        return head + "        return 1\n"
    if kind == T_DROP:
        return head + "        return 2\n"
    if kind == T_REJECT:
        env[f"__a_{i}"] = cr.arg
        return head + f"        c.reject = __a_{i}\n        return 3\n"
    env[f"__a_{i}"] = cr.arg  # DNAT, SNAT, MASQUERADE, REDIRECT: the connection's NAT is set
    return head + f"        c.{_NAT_METHOD[kind]}(__a_{i})\n        return 1\n"


def make_runner(cc: "CChain", rule_exprs: list[list[Expr]]) -> Callable[..., int]:
    """``run(c)``: the whole chain as one generated function (the fast path).

    Each rule is an ``if`` over its conditions, in the kernel's order (``and`` stops at the
    first false condition, so stateful matches are evaluated exactly as in the rule-by-rule
    walk); a matched rule counts, adds its trail step when tracing, and runs its target
    inline. A jump calls the destination chain's ``run`` and a goto tail-calls it, so the
    Python stack is the kernel's jump stack. The return value is the verdict so far: 0 the
    chain returned (RETURN or fell off its end: the caller continues, a built-in chain's
    policy decides), 1 ACCEPT (also after a NAT target), 2 DROP, 3 REJECT (``c.reject``).
    ``c.walk`` gets every rule the kernel evaluated: a chain invocation left at rule ``i``
    (0-based) evaluated ``i + 1`` rules, one that fell off the end all of them.
    """
    env: dict[str, object] = {}
    lines = ["    pk = c.pk\n    by = c.by\n    tr = c.trail\n"]
    for i, (cr, exprs) in enumerate(zip(cc.rules, rule_exprs)):
        env[f"__r_{i}"] = cr.rid
        env[f"__q_{i}"] = cr
        cond = _conditions(exprs, f"_{i}", env) if exprs else "True"
        lines.append(f"    if {cond}:\n"
                     f"        pk[__r_{i}] += 1\n        by[__r_{i}] += c.length\n"
                     f"        if tr is not None:\n            tr.append(__q_{i}.step)\n"
                     + _target_code(i, cr, env))
    lines.append(f"    c.walk += {len(cc.rules)}\n")
    if not cc.builtin:
        env["__end"] = cc.end_step
        lines.append("    if tr is not None:\n        tr.append(__end)\n")
    lines.append("    return 0\n")
    return _function("c", "".join(lines), env, "_run")


_STATE_BITS = STATE_BITS


_NAT_STATE_BITS = _STATE_BITS["SNAT"] | _STATE_BITS["DNAT"]


def _conntrack_preds(o: dict) -> list[Expr]:
    preds: list[Pred] = []
    out: list[Expr] = []
    for name, opt in o.items():
        v = opt.values[0] if opt.values else ""
        neg = opt.negated
        if name in ("--ctstate", "--state"):
            bits = 0
            for s in v.split(","):
                bits |= _STATE_BITS[s.upper()]
            # Inline (no call per match); the SNAT/DNAT bits are computed only when tested.
            get = "c.state_bits()" if bits & _NAT_STATE_BITS else "c.sbits"
            out.append((f"({get} & __b) {'==' if neg else '!='} 0", {"__b": bits}))
            continue
        elif name == "--ctproto":
            num = proto_number(v)
            pname = PROTOCOL_NAMES.get(num, str(num))
            preds.append(lambda c, p=pname, n=neg: (c.ct is not None and c.ct.proto == p) != n)
        elif name in ("--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst"):
            net, mask = _net(v)
            idx = {"--ctorigsrc": (0, 1), "--ctorigdst": (0, 3), "--ctreplsrc": (1, 1),
                   "--ctrepldst": (1, 3)}[name]
            preds.append(lambda c, i=idx, nt=net, mk=mask, n=neg:
                       (c.ct is not None and (c.ct_addr(i) & mk) == nt) != n)
        elif name in ("--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport"):
            lo, hi = parse_port_range(v)
            idx = {"--ctorigsrcport": (0, 2), "--ctorigdstport": (0, 4),
                   "--ctreplsrcport": (1, 2), "--ctrepldstport": (1, 4)}[name]
            preds.append(lambda c, i=idx, a=lo, b=hi, n=neg:
                       (c.ct is not None and a <= c.ct_port(i) <= b) != n)
        elif name == "--ctstatus":
            want = frozenset(s.upper() for s in v.split(","))
            preds.append(lambda c, w=want, n=neg: bool(c.ct_status() & w) != n)
        elif name == "--ctexpire":
            lo_s, _, hi_s = v.partition(":")
            lo, hi = int(lo_s), int(hi_s or lo_s)
            preds.append(lambda c, a=lo, b=hi, n=neg:
                       (c.ct is not None and a <= c.ct_expire() <= b) != n)
        elif name == "--ctdir":
            want_reply = v.upper() == "REPLY"
            preds.append(lambda c, r=want_reply: c.is_reply == r)
    return out + [_call(p) for p in preds]


def _recent_pred(o: dict) -> Pred:
    cmd_opt = next(o[c] for c in ("--set", "--rcheck", "--update", "--remove") if c in o)
    cmd = cmd_opt.name
    invert = cmd_opt.negated
    name = o["--name"].values[0] if "--name" in o else "DEFAULT"
    mask = int(ipaddress.IPv4Address(o["--mask"].values[0])) if "--mask" in o else 0xFFFFFFFF
    seconds = int(o["--seconds"].values[0]) if "--seconds" in o else 0
    hitcount = int(o["--hitcount"].values[0]) if "--hitcount" in o else 0
    reap = "--reap" in o
    use_dst = "--rdest" in o

    def pred(c: "PacketContext") -> bool:
        addr = (c.dst if use_dst else c.src) & mask
        return c.recent.match(name, addr, cmd, seconds, hitcount, reap, invert, c.now)
    return pred


class _Hooks:
    """Per-engine state the compiled predicates close over (nth counters)."""

    def __init__(self) -> None:
        self.nth_counters: list[int] = []
        self.limits: list[list[float]] = []  # per limit rule: [credit_s, last time or -1]

    def limit(self, period_s: float, burst: int) -> Pred:
        # xt_limit's token bucket in seconds: the credit grows with elapsed time up to
        # period * burst; a packet that finds one period of credit matches and spends it.
        # The bucket starts full at the rule's first evaluation.
        cap = period_s * burst
        state = [cap, -1.0]
        self.limits.append(state)

        def pred(c: "PacketContext") -> bool:
            if state[1] >= 0:
                state[0] = min(cap, state[0] + (c.now - state[1]))
            state[1] = c.now
            if state[0] >= period_s:
                state[0] -= period_s
                return True
            return False
        return pred

    def nth(self, every: int, packet: int, neg: bool) -> Pred:
        # xt_statistic nth mode: libxt_statistic stores every-1 and starts the counter at
        # (every-1) - packet; an evaluation matches when the counter is at every-1 (it then
        # wraps to 0), otherwise the counter advances. "--every 3 --packet 0" thus matches
        # the 1st, 4th, 7th... evaluation (checked against the kernel).
        slot = len(self.nth_counters)
        self.nth_counters.append(every - 1 - packet)
        counters = self.nth_counters
        last = every - 1

        def pred(c: "PacketContext") -> bool:
            if counters[slot] == last:
                counters[slot] = 0
                return not neg
            counters[slot] += 1
            return neg
        return pred


# ------------------------------------------------------------------------------ targets

def _target(rule: Rule) -> tuple[int, Any]:
    t = rule.target
    if t is None:
        return T_NONE, None
    o = {opt.name: opt for opt in t.options}
    name = t.name
    if name == "ACCEPT":
        return T_ACCEPT, None
    if name == "DROP":
        return T_DROP, None
    if name == "RETURN":
        return T_RETURN, None
    if name == "REJECT":
        return T_REJECT, reject_type(o)
    if name == "MARK":
        return T_MARK, mark_xset(o)
    if name in ("DNAT", "SNAT"):
        key = "--to-destination" if name == "DNAT" else "--to-source"
        lo, _hi, plo, phi = parse_nat_range(o[key].values[0], need_ip=False)
        flags = frozenset(f for f in ("--random", "--random-fully", "--persistent") if f in o)
        addr = int(ipaddress.IPv4Address(lo)) if lo else None
        return (T_DNAT if name == "DNAT" else T_SNAT), (lo, addr, plo, phi, flags)
    if name == "MASQUERADE":
        ports = parse_ports_dash(o["--to-ports"].values[0]) if "--to-ports" in o else (0, 0)
        return T_MASQ, (ports, "--random-fully" in o)
    if name == "REDIRECT":
        ports = parse_ports_dash(o["--to-ports"].values[0]) if "--to-ports" in o else (0, 0)
        return T_REDIRECT, ports
    if name in ("NOTRACK", "CT"):
        return T_NOTRACK, None
    if name == "CONNMARK":
        return T_CONNMARK, connmark_op(o)
    if name == "LOG":
        prefix = o["--log-prefix"].values[0] if "--log-prefix" in o else ""
        return T_LOG, (prefix, log_level(o))
    if name == "NFLOG":
        # Recorded like LOG (no syslog level: None), with its netlink group.
        prefix = o["--nflog-prefix"].values[0] if "--nflog-prefix" in o else ""
        return T_LOG, (prefix, None, nflog_group(o))
    if name == "CHECKSUM":
        return T_NONE, None  # fills in a checksum: no effect on the verdict or the path
    return (T_GOTO if t.goto else T_JUMP), name


# ------------------------------------------------------------------------------ compile

def _index_keys(rule: Rule) -> tuple[int | None, tuple[str, int] | None]:
    """(exact destination, (protocol, exact dport)) usable as index keys, or None."""
    dst = None
    proto = None
    for m in rule.matches:
        if m.module:
            continue
        opt = m.options[0]
        if opt.negated:
            continue
        if opt.name == "-d":
            n = parse_network(opt.values[0])
            if n.prefixlen == 32:
                dst = int(n.network_address)
        elif opt.name == "-p":
            num = proto_number(opt.values[0])
            proto = PROTOCOL_NAMES.get(num) if num else None
    pd = None
    if proto in ("tcp", "udp", "sctp"):
        for m in rule.matches:
            if not m.module:
                continue
            if m.module == proto:
                d = m.option("--dport")
                if d is not None and not d.negated:
                    lo, hi = parse_port_range(d.values[0])
                    if lo == hi:
                        pd = (proto, lo)
                break
            if m.module not in _PURE_MODULES:
                break
    return dst, pd


@gc_paused()
def compile_ruleset(ruleset: Ruleset, hooks: _Hooks | None = None, *, fast: bool = True,
                    index_min_rules: int = INDEX_MIN_RULES,
                    index_min_share: float = INDEX_MIN_SHARE) -> CompiledRuleset:
    """Compile every table of ``ruleset``.

    ``fast``: build the fast path (each chain's ``run``); without it only the per-rule
    matchers of the linear reference walk exist. A chain with at least ``index_min_rules``
    rules of which at least ``index_min_share`` have an index key (an exact destination or
    protocol and port) runs over its index; every other chain is one generated function.
    """
    hooks = hooks or _Hooks()
    requested = fast
    if fast and max((_nesting(t) for t in ruleset.tables.values()), default=0) > MAX_FAST_NESTING:
        fast = False  # a jump is a Python call on the fast path: keep its stack shallow
    tables: dict[str, CTable] = {}
    all_rules: list[CRule] = []
    for tname, table in ruleset.tables.items():
        chains: dict[str, CChain] = {}
        exprs_by_chain: dict[str, list[list[Expr]]] = {}
        for cname, chain in table.chains.items():
            cc = empty_chain(tname, chain)
            exprs_by_chain[cname] = compile_rules_into(cc, chain, hooks, all_rules)
            if fast and len(cc.rules) >= index_min_rules:
                _build_index(cc, index_min_share)
            chains[cname] = cc
        for cc in chains.values():
            for cr in cc.rules:
                if cr.kind == T_JUMP or cr.kind == T_GOTO:
                    cr.dest = chains[cr.arg]
        if fast:
            for cname, cc in chains.items():
                cc.run = (cc.run_index if cc.dst_index is not None
                          else make_runner(cc, exprs_by_chain[cname]))
        tables[tname] = CTable(tname, chains)
    starts = tuple(tables[t].chains.get(h) if t in tables else None for h, t in HOOK_TABLES)
    return CompiledRuleset(ruleset, tables, all_rules, hooks, starts, fast, requested)


def empty_chain(tname: str, chain: Chain) -> CChain:
    """The compiled shell of ``chain``: no rules yet (see :func:`compile_rules_into`)."""
    builtin_chain = chain.name in BUILTIN_CHAINS.get(tname, ())
    end = TraceStep(tname, chain.name, len(chain.rules) + 1, "",
                    "policy" if builtin_chain else "return")
    return CChain(chain.name, tname, builtin_chain, chain.policy, [], end)


def compile_rules_into(cc: CChain, chain: Chain, hooks: _Hooks,
                       all_rules: list[CRule]) -> list[list[Expr]]:
    """Compile ``chain``'s rules into ``cc.rules`` (ids continue ``all_rules``, which gets
    them too); returns each rule's conditions, for :func:`make_runner`."""
    tname, cname = cc.table, cc.name
    chain_exprs = []
    for i, rule in enumerate(chain.rules):
        builtin: list[Expr] = []
        modules: list[Expr] = []
        for m in rule.matches:
            if m.module == "":
                p = _builtin_pred(m)
                if p is not None:
                    builtin.append(p)
            else:
                modules.extend(_module_preds(m, hooks))
        kind, arg = _target(rule)
        chain_exprs.append(builtin + modules)
        cr = CRule(len(all_rules), tname, cname, i + 1, rule, make_matcher(chain_exprs[-1]),
                   kind, arg)
        all_rules.append(cr)
        cc.rules.append(cr)
    return chain_exprs


def _nesting(table: Table) -> int:
    """The longest chain of jumps/gotos in a table (a loop counts as endless)."""
    edges = {name: [r.target.name for r in chain.rules
                    if r.target is not None and r.target.name in table.chains]
             for name, chain in table.chains.items()}
    depth: dict[str, int] = {}
    for root in edges:
        if root in depth:
            continue
        stack, on_path = [(root, iter(edges[root]))], {root}
        while stack:  # depth-first, iteratively (chains may nest deeper than Python's stack)
            name, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                on_path.discard(name)
                depth[name] = 1 + max((depth[d] for d in edges[name]), default=0)
            elif nxt in on_path:
                return 1 << 30
            elif nxt not in depth:
                on_path.add(nxt)
                stack.append((nxt, iter(edges[nxt])))
    return max(depth.values(), default=0)


def _builtin_pred(m: Match) -> Expr | None:
    opt = m.options[0]
    if opt.name in ("-s", "-d"):
        return _addr_pred("src" if opt.name == "-s" else "dst", opt.values[0], opt.negated)
    if opt.name == "-p":
        return _proto_pred(opt.values[0], opt.negated)
    if opt.name in ("-i", "-o"):
        return _iface_pred("in" if opt.name == "-i" else "out", opt.values[0], opt.negated)
    if opt.name == "-f":
        return repr(opt.negated), {}  # simulated packets are never non-first fragments
    raise AssertionError(opt.name)  # pragma: no cover


def _build_index(cc: CChain, min_share: float) -> None:
    """Index lists already merged with the wildcards, so a lookup is one dict access; no
    index when fewer than ``min_share`` of the rules have a key (a long probability cascade:
    the generated function tests its rules faster than a loop over all of them)."""
    dst_index: dict[int, list[int]] = {}
    pd_index: dict[tuple[str, int], list[int]] = {}
    wild: list[int] = []
    for i, cr in enumerate(cc.rules):
        dst, pd = _index_keys(cr.rule)
        if dst is not None:
            dst_index.setdefault(dst, []).append(i)
        elif pd is not None:
            pd_index.setdefault(pd, []).append(i)
        else:
            wild.append(i)
    if len(cc.rules) - len(wild) < min_share * len(cc.rules):
        return
    cc.dst_index = {k: list(merge(v, wild)) for k, v in dst_index.items()}
    cc.pd_index = {k: list(merge(v, wild)) for k, v in pd_index.items()}
    cc.wild = wild


# ------------------------------------------------------------------------------ execution

_DROP, _REJECT = Verdict.NF_DROP, Verdict.REJECT
# PacketContext's action for each NAT target kind.
_NAT_CALL = {T_DNAT: PacketContext.dnat, T_SNAT: PacketContext.snat,
             T_MASQ: PacketContext.masquerade, T_REDIRECT: PacketContext.redirect}


def run_table(self: PacketContext, hook: Hook, start: CChain | None) -> None:
    """Run the table whose built-in chain at ``hook`` is ``start`` (None: the table
    has no chain there); the path has recorded the hook already."""
    if start is None:
        return
    self.cur_hook = hook
    run = start.run
    if run is None:
        walk_chain(self, start)
        return
    v = run(self)
    if v:
        if v != 1:
            self.stop(v)
    else:
        self.policy(start)



def walk_chain(self: PacketContext, start: CChain) -> None:
    """First-match walk from a built-in chain (``ipt_do_table``), with the jump stack:
    the linear reference walk, rule by rule."""
    c = self
    trail = self.trail
    pk = self.eng.counters_packets
    by = self.eng.counters_bytes
    stack: list[tuple[CChain, int]] = []
    chain = start
    pos = 0
    walk = 0
    while True:
        rules = chain.rules
        n = len(rules)
        for i in range(pos, n):
            r = rules[i]
            m = r.match
            if m is not None and not m(c):
                continue
            pk[r.rid] += 1
            by[r.rid] += c.length
            if trail is not None:
                trail.append(r.step)
            kind = r.kind
            if kind == T_JUMP:  # the most common matched kind in kube-proxy's rules
                walk += i + 1 - pos
                stack.append((chain, i + 1))
                chain = r.dest
                pos = 0
                break
            if kind == T_NONE:
                continue
            if kind == T_MARK:
                v, mk = r.arg
                c.mark = ((c.mark & ~mk) ^ v) & 0xFFFFFFFF
                continue
            if kind == T_LOG:
                self.log(r)
                continue
            if kind == T_NOTRACK:
                c.notrack = True  # raw table: conntrack will leave this packet alone
                c.sbits = _STATE_BITS["UNTRACKED"]
                continue
            if kind == T_CONNMARK:
                self.connmark(r.arg)
                continue
            walk += i + 1 - pos
            if kind == T_GOTO:
                chain = r.dest
                pos = 0
                break
            if kind == T_RETURN:
                if stack:
                    chain, pos = stack.pop()
                    break
                # RETURN with an empty jump stack (in the built-in chain, or in a chain
                # it reached by -g): the hook's policy decides (ipt_do_table underflow).
                self.walk += walk
                self.policy(start)
                return
            self.walk += walk
            if kind == T_ACCEPT:
                return
            if kind == T_DROP:
                raise Stop(_DROP, "rule")
            if kind == T_REJECT:
                raise Stop(_REJECT, "rule", r.arg)
            _NAT_CALL[kind](self, r.arg)
            return
        else:
            walk += n - pos
            if chain.builtin:
                self.walk += walk
                self.policy(chain)
                return
            if trail is not None:
                trail.append(chain.end_step)
            if not stack:
                # The end of a chain reached by -g from the built-in chain: the hook's
                # policy decides (ipt_do_table pops to the underflow entry).
                self.walk += walk
                self.policy(start)
                return
            chain, pos = stack.pop()

