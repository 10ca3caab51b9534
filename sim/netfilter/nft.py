"""Executing an nftables ruleset (:mod:`sim.nftables`) on a packet context.

Each rule is a tuple of *ops*, one per statement, evaluated left to right as
``nft_do_chain`` does: a match that fails ends the rule (``NFT_BREAK``), a verdict ends it
with that verdict, other statements act and go on. An op returns 0 (go on), -1 (break) or a
verdict code. The linear reference walk interprets each statement from its data on every
packet (:func:`_interpret`); the fast path runs ops compiled once per ruleset (field
getters, constants and set objects resolved, verdict maps as dict lookups). Both share the
chain walk (:func:`run_chain`), the set contents and every action, and the hypothesis test
in ``tests/netfilter/test_nft_fast_path.py`` holds them equal.

Walk length: each rule evaluated counts 1, each set or map lookup (named or anonymous,
membership, ``vmap``, ``map``) one more: what the kernel evaluated.

Semantics from the kernel (``net/netfilter/nf_tables_core.c``, ``nft_*.c``): ``accept``
ends the base chain (the hook goes on with the next chain by priority), ``drop`` and
``reject`` end the packet, ``jump`` pushes a return point, ``goto`` does not, ``return`` (and
the end of a regular chain) pops it, the end of a base chain applies its policy; NAT
statements (``dnat``, ``snat``, ``masquerade``, ``redirect``) accept. ``numgen random mod N``
is ``reciprocal_scale(prandom_u32(), N)``: value ``v`` has probability
``(ceil((v+1)*2^32/N) - ceil(v*2^32/N)) / 2^32`` (:func:`numgen_probability`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from typing import Any, Callable

from sim.model.errors import SimError
from sim.netfilter.addresses import ip_str
from sim.netfilter.context import STATE_BITS, PacketContext
from sim.netfilter.types import TraceStep
from sim.nftables.ruleset import (
    Binop,
    Cmp,
    Concat,
    Const,
    Counter,
    Fib,
    Field,
    Log,
    MapLookup,
    Nat,
    NftChain,
    NftRule,
    NftRuleset,
    NftSet,
    NftTable,
    Notrack,
    Numgen,
    Reject,
    SetRef,
    SetStmt,
    SetUpdate,
    Verdict as NVerdict,
    Vmap,
)

# Op results besides 0 (go on) and -1 (break): the chain walk's verdict codes.
ACCEPT, DROP, REJECT, JUMP, GOTO, RETURN, CONTINUE = 1, 2, 3, 4, 5, 6, 8
_VERDICT_CODES = {"accept": ACCEPT, "drop": DROP, "jump": JUMP, "goto": GOTO,
                  "return": RETURN, "continue": CONTINUE}
_PORT_PROTOS = frozenset({"tcp", "udp", "sctp", "udplite", "dccp"})
# --ctstate bits (sim.netfilter.context) -> nft ct state bits
_CT_STATE = {STATE_BITS["INVALID"]: 1, STATE_BITS["ESTABLISHED"]: 2, STATE_BITS["RELATED"]: 4,
             STATE_BITS["NEW"]: 8, STATE_BITS["UNTRACKED"]: 64}
_LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warn": 4, "notice": 5, "info": 6,
               "debug": 7, "audit": 8}
_REJECT_NAMES = {"port-unreachable": "icmp-port-unreachable",
                 "host-unreachable": "icmp-host-unreachable",
                 "net-unreachable": "icmp-net-unreachable",
                 "prot-unreachable": "icmp-proto-unreachable",
                 "admin-prohibited": "icmp-admin-prohibited",
                 "net-prohibited": "icmp-net-prohibited",
                 "host-prohibited": "icmp-host-prohibited", "no-route": "icmp-net-unreachable"}
_TWO32 = 1 << 32
HOOK_NAMES = {"prerouting": "PREROUTING", "input": "INPUT", "forward": "FORWARD",
              "output": "OUTPUT", "postrouting": "POSTROUTING"}


def numgen_probability(value: int, mod: int) -> Fraction:
    """The kernel's exact probability that ``numgen random mod N`` gives ``value``
    (``reciprocal_scale`` of a uniform 32-bit number).

    >>> numgen_probability(0, 2), numgen_probability(0, 3)
    (Fraction(1, 2), Fraction(715827883, 2147483648))
    """
    lo = -(-value * _TWO32 // mod)
    hi = -(-(value + 1) * _TWO32 // mod)
    return Fraction(hi - lo, _TWO32)


def numgen_value(u: float, mod: int) -> int:
    """``reciprocal_scale(r, N)`` for the 32-bit ``r = floor(u * 2^32)``."""
    return (int(u * _TWO32) * mod) >> 32


def reject_name(stmt: Reject) -> str:
    """The iptables name of the reply a ``reject`` statement sends."""
    if stmt.kind == "tcp reset":
        return "tcp-reset"
    return _REJECT_NAMES[stmt.code or "port-unreachable"]


@dataclass(slots=True)
class NRule:
    """A compiled nft rule: its ops (fast or interpreting) and its trace line."""

    rid: int
    table: str
    chain: str
    number: int
    rule: NftRule
    ops: tuple = ()
    _step: TraceStep | None = None

    @property
    def step(self) -> TraceStep:
        if self._step is None:
            self._step = TraceStep(self.table, self.chain, self.number, self.rule.render())
        return self._step


@dataclass(slots=True, eq=False)
class NChain:
    """A compiled nft chain; base chains carry their hook, type, priority and policy
    (``ACCEPT``/``DROP``, as the pipeline's policy step expects)."""

    name: str
    table: str
    base: bool
    policy: str
    hook: str | None
    type: str | None
    priority: int
    rules: list
    end_step: TraceStep
    run: Callable | None = None  # the fast path's generated chain function

    @property
    def builtin(self) -> bool:
        return self.base


@dataclass(slots=True)
class _LogSpec:
    """What :meth:`PacketContext.log` reads from a LOG rule."""

    arg: tuple
    table: str
    chain: str
    number: int


@dataclass(slots=True)
class NftCompiled:
    """An nft ruleset ready to run: its chains, rules (ids after ``rid_base``) and base
    chains (only those an IPv4 packet traverses: ``ip`` and ``inet`` tables)."""

    ruleset: NftRuleset
    chains: dict = field(default_factory=dict)  # (family, table, chain) -> NChain
    rules: list = field(default_factory=list)
    base: list = field(default_factory=list)
    fast: bool = True
    inc_counters: list = field(default_factory=list)  # numgen inc state (per engine)


# ------------------------------------------------------------------------------ values


def _getter(expr: Any) -> Callable[[PacketContext], Any]:
    """A function giving ``expr``'s value for a packet (None: the expression breaks)."""
    if isinstance(expr, Field):
        return _FIELD_GETTERS[(expr.kw, expr.name)]
    if isinstance(expr, Concat):
        fast = _concat_source(expr)
        if fast is not None:
            return fast
        parts = tuple(_getter(p) for p in expr.parts)

        def concat(c: PacketContext) -> Any:
            out = []
            for g in parts:
                v = g(c)
                if v is None:
                    return None
                out.append(v)
            return tuple(out)
        return concat
    if isinstance(expr, Binop):
        inner = _getter(expr.left)
        k = expr.value
        if expr.op == "&":
            return lambda c: None if (v := inner(c)) is None else v & k
        if expr.op == "|":
            return lambda c: None if (v := inner(c)) is None else (v | k) & 0xFFFFFFFF
        return lambda c: None if (v := inner(c)) is None else v ^ k
    if isinstance(expr, Fib):
        if expr.keys == ("saddr",):
            return lambda c: c.eng.addr_type(c.src).lower()
        return lambda c: c.eng.addr_type(c.dst).lower()
    if isinstance(expr, Numgen):
        raise AssertionError("numgen is compiled by its rule")  # pragma: no cover
    if isinstance(expr, Const):
        v = expr.value
        scalar = v[0] if isinstance(v, tuple) else v
        return lambda c: scalar
    raise SimError(f"nft: cannot evaluate {expr!r}")  # pragma: no cover


def _ct_status(c: PacketContext) -> int | None:
    ct = c.ct
    if ct is None:
        return None
    bits = 8 if c.confirmed else 0
    if ct.seen_reply:
        bits |= 2
    if ct.assured:
        bits |= 4
    if ct.snat:
        bits |= 16
    if ct.dnat:
        bits |= 32
    return bits


def _th(attr: str, proto: str | None) -> Callable[[PacketContext], Any]:
    if proto is None:
        if attr == "sport":
            return lambda c: c.sport if c.proto in _PORT_PROTOS else None
        return lambda c: c.dport if c.proto in _PORT_PROTOS else None
    if attr == "sport":
        return lambda c: c.sport if c.proto == proto else None
    return lambda c: c.dport if c.proto == proto else None


_FIELD_GETTERS: dict[tuple[str, str], Callable[[PacketContext], Any]] = {
    ("ip", "saddr"): lambda c: c.src,
    ("ip", "daddr"): lambda c: c.dst,
    ("ip", "protocol"): lambda c: c.proto,
    ("ip6", "saddr"): lambda c: None,  # IPv4 packets only
    ("ip6", "daddr"): lambda c: None,
    ("ip6", "nexthdr"): lambda c: None,
    ("meta", "l4proto"): lambda c: c.proto,
    ("meta", "mark"): lambda c: c.mark,
    ("meta", "iifname"): lambda c: c.in_iface or None,
    ("meta", "oifname"): lambda c: c.out_iface or None,
    ("meta", "nfproto"): lambda c: 2,
    ("th", "sport"): _th("sport", None), ("th", "dport"): _th("dport", None),
    ("tcp", "sport"): _th("sport", "tcp"), ("tcp", "dport"): _th("dport", "tcp"),
    ("udp", "sport"): _th("sport", "udp"), ("udp", "dport"): _th("dport", "udp"),
    ("sctp", "sport"): _th("sport", "sctp"), ("sctp", "dport"): _th("dport", "sctp"),
    ("tcp", "flags"): lambda c: c.flags if c.proto == "tcp" else None,
    ("icmp", "type"): lambda c: c.pkt.icmp_type if c.proto == "icmp" else None,
    ("ct", "state"): lambda c: _CT_STATE[c.sbits],
    ("ct", "status"): _ct_status,
    ("ct", "mark"): lambda c: c.ct.mark if c.ct is not None else None,
    ("ct", "direction"): lambda c: (1 if c.is_reply else 0) if c.ct is not None else None,
}


# Fields the generated chain functions read inline: (expression, guard that must hold for
# the field to exist, or "").
_FIELD_SOURCE: dict[tuple[str, str], tuple[str, str]] = {
    ("ip", "saddr"): ("c.src", ""), ("ip", "daddr"): ("c.dst", ""),
    ("ip", "protocol"): ("c.proto", ""), ("meta", "l4proto"): ("c.proto", ""),
    ("meta", "mark"): ("c.mark", ""), ("ct", "state"): ("__cts[c.sbits]", ""),
    ("th", "sport"): ("c.sport", "c.proto in __pp"), ("th", "dport"): ("c.dport", "c.proto in __pp"),
    ("tcp", "sport"): ("c.sport", "c.proto == 'tcp'"),
    ("tcp", "dport"): ("c.dport", "c.proto == 'tcp'"),
    ("udp", "sport"): ("c.sport", "c.proto == 'udp'"),
    ("udp", "dport"): ("c.dport", "c.proto == 'udp'"),
    ("sctp", "sport"): ("c.sport", "c.proto == 'sctp'"),
    ("sctp", "dport"): ("c.dport", "c.proto == 'sctp'"),
}
_FIELD_ENV = {"__cts": _CT_STATE, "__pp": _PORT_PROTOS}


def _inline_test(dtype: str, op: str, value: Any, expr: str, env: dict) -> str | None:
    """``expr OP value`` as Python source (constants into ``env``), or None."""
    if dtype in ("ct_state", "ct_status", "tcp_flag"):
        env["__b"] = value
        return f"not ({expr} & __b)" if op == "!=" else f"({expr} & __b) != 0"
    if isinstance(value, tuple):
        lo, hi = value
        env["__lo"], env["__hi"] = lo, hi
        if op == "==":
            return f"{expr} == __lo" if lo == hi else f"__lo <= {expr} <= __hi"
        if op == "!=":
            return f"{expr} != __lo" if lo == hi else f"not (__lo <= {expr} <= __hi)"
        return {"<": f"{expr} < __lo", "<=": f"{expr} <= __hi", ">": f"{expr} > __hi",
                ">=": f"{expr} >= __lo"}[op]
    if dtype == "ifname":
        return None
    env["__v"] = value
    return f"{expr} != __v" if op == "!=" else f"{expr} == __v"


def _concat_source(expr: Concat) -> Callable[[PacketContext], Any] | None:
    """A generated getter for a concatenation of inline-readable fields (kube-proxy's
    ``ip daddr . meta l4proto . th dport``)."""
    parts, guards = [], []
    for p in expr.parts:
        if not isinstance(p, Field) or (p.kw, p.name) not in _FIELD_SOURCE:
            return None
        src, guard = _FIELD_SOURCE[p.kw, p.name]
        parts.append(src)
        if guard and guard not in guards:
            guards.append(guard)
    body = "(" + ", ".join(parts) + ",)"
    if guards:
        body = f"{body} if {' and '.join(guards)} else None"
    return _function("c", f"    return {body}\n", dict(_FIELD_ENV), "_concat")


_CODE: dict[str, Any] = {}


def _function(head: str, body: str, env: dict[str, object], name: str) -> Callable:
    """``def name(head, <constants>): body`` with the constants as keyword defaults; one
    code object per source shape."""
    from types import CodeType, FunctionType

    params = sorted(env)
    src = f"def {name}({head}" + "".join(f", {p}" for p in params) + "):\n" + body
    code = _CODE.get(src)
    if code is None:
        module = compile(src, f"<nft {name}>", "exec")
        code = next(k for k in module.co_consts if isinstance(k, CodeType))
        _CODE[src] = code
    return FunctionType(code, {"__builtins__": __builtins__}, name,
                        tuple(env[p] for p in params))


def make_runner(ch: NChain, inline: list[list]) -> Callable[[PacketContext], int]:
    """The chain as one generated function (the fast path): :func:`run_chain`'s contract,
    with each rule's field-against-constant matches inlined and its other statements called
    as ops."""
    env: dict[str, object] = {}
    lines = ["    pk = c.pk\n    by = c.by\n    tr = c.trail\n"]
    for i, (r, conds) in enumerate(zip(ch.rules, inline)):
        env[f"__r{i}"] = r
        lines.append("    c.walk += 1\n    while True:\n")
        for j, (op, cond) in enumerate(zip(r.ops, conds)):
            if cond is not None:
                expr, cenv = cond
                tag = f"_{i}_{j}"
                for k2, val in cenv.items():
                    env[f"{k2}{tag}"] = val
                expr = re.sub(r"\b(__[a-z]+)\b", lambda m: m.group(1) + tag, expr)
                lines.append(f"        if not ({expr}):\n            v = -1\n            break\n")
            else:
                env[f"__o{i}_{j}"] = op
                lines.append(f"        v = __o{i}_{j}(c)\n        if v:\n            break\n")
        lines.append("        v = 0\n        break\n")
        lines.append(f"    if v >= 0:\n        rid = __r{i}.rid\n        pk[rid] += 1\n"
                     f"        by[rid] += c.length\n"
                     f"        if tr is not None:\n            tr.append(__r{i}.step)\n"
                     "        if v == 4:\n            w = c.nft_dest.run(c)\n"
                     "            if w:\n                return w\n"
                     "        elif v == 5:\n            return c.nft_dest.run(c)\n"
                     "        elif v == 6:\n            return 0\n"
                     "        elif v and v != 8:\n            return v\n")
    if not ch.base:
        env["__end"] = ch.end_step
        lines.append("    if tr is not None:\n        tr.append(__end)\n")
    lines.append("    return 0\n")
    return _function("c", "".join(lines), env, "_chain")


def _mark_op(expr: Any) -> Callable[[PacketContext], int]:
    """``meta mark set CONST`` / ``meta mark set meta mark OP CONST``."""
    if isinstance(expr, Const):
        value = expr.value[0] & 0xFFFFFFFF  # type: ignore[index]

        def set_mark(c: PacketContext) -> int:
            c.mark = value
            return 0
        return set_mark
    k = expr.value
    if expr.op == "|":
        def or_mark(c: PacketContext) -> int:
            c.mark = (c.mark | k) & 0xFFFFFFFF
            return 0
        return or_mark
    if expr.op == "^":
        def xor_mark(c: PacketContext) -> int:
            c.mark = (c.mark ^ k) & 0xFFFFFFFF
            return 0
        return xor_mark

    def and_mark(c: PacketContext) -> int:
        c.mark = c.mark & k & 0xFFFFFFFF
        return 0
    return and_mark


def _nat_op(stmt: Nat) -> Callable[[PacketContext], int]:
    """A NAT statement with its argument built once (see :func:`_nat`)."""
    plo, phi = stmt.port if stmt.port is not None else (0, 0)
    if stmt.kind == "masquerade":
        marg = ((plo, phi), "fully-random" in stmt.flags)

        def masq(c: PacketContext) -> int:
            if c.new_entry is not None:
                c.masquerade(marg)
            return ACCEPT
        return masq
    if stmt.kind == "redirect":
        rarg = (plo, phi)

        def redirect(c: PacketContext) -> int:
            if c.new_entry is not None:
                c.redirect(rarg)
            return ACCEPT
        return redirect
    addr = stmt.addr.value[0] if isinstance(stmt.addr, Const) else None  # type: ignore[index]
    flags = frozenset({"random": "--random", "fully-random": "--random-fully",
                       "persistent": "--persistent"}[f] for f in stmt.flags)
    arg = (None if addr is None else ip_str(addr), addr, plo, phi, flags)
    act = PacketContext.dnat if stmt.kind == "dnat" else PacketContext.snat

    def nat(c: PacketContext) -> int:
        if c.new_entry is not None:
            act(c, arg)
        return ACCEPT
    return nat


def _const_test(dtype: str, op: str, value: Any) -> Callable[[Any], bool]:
    """``v OP value`` for a packet value ``v`` of ``dtype``."""
    if dtype in ("ct_state", "ct_status", "tcp_flag"):
        if op == "!=":
            return lambda v: not v & value
        return lambda v: bool(v & value)
    if isinstance(value, tuple):
        lo, hi = value
        if op == "==":
            return (lambda v: v == lo) if lo == hi else (lambda v: lo <= v <= hi)
        if op == "!=":
            return (lambda v: v != lo) if lo == hi else (lambda v: not lo <= v <= hi)
        if op == "<":
            return lambda v: v < lo
        if op == "<=":
            return lambda v: v <= hi
        if op == ">":
            return lambda v: v > hi
        return lambda v: v >= lo
    if dtype == "ifname" and isinstance(value, str) and value.endswith("*"):
        prefix = value[:-1]
        if op == "!=":
            return lambda v: not v.startswith(prefix)
        return lambda v: v.startswith(prefix)
    if op == "!=":
        return lambda v: v != value
    return lambda v: v == value


def _part_in(part: Any, v: Any) -> bool:
    if isinstance(part, tuple):
        return part[0] <= v <= part[1]
    return part == v


def find_element(s: NftSet, key: Any, now: float) -> Any:
    """The live element of ``s`` for ``key`` (a scalar, or a tuple for a concatenation),
    or None."""
    if s.interval:
        parts = key if isinstance(key, tuple) else (key,)
        for e in s.elements.values():
            if all(_part_in(p, v) for p, v in zip(e.key, parts)) and (
                    e.expires is None or e.expires > now):
                return e
        return None
    e = s.elements.get(key)
    if e is not None and e.expires is not None and e.expires <= now:
        return None
    return e


def update_set(s: NftSet, key: Any, op: str, timeout: float | None, now: float) -> None:
    """``update @s { key }`` (add or refresh the timeout) / ``add @s { key }`` (add only)."""
    from sim.nftables.ruleset import Element

    life = timeout if timeout is not None else s.timeout
    e = s.elements.get(key)
    live = e is not None and (e.expires is None or e.expires > now)
    if live and op == "add":
        return
    parts = key if isinstance(key, tuple) else (key,)
    stored = tuple((p, p) if isinstance(p, int) else p for p in parts)
    s.elements[key] = Element(stored, None, None, timeout,
                              None if life is None else now + life)


# ------------------------------------------------------------------------------ compile


class _Compiler:
    def __init__(self, compiled: NftCompiled, rid_base: int, fast: bool) -> None:
        self.out = compiled
        self.rid = rid_base
        self.fast = fast

    def compile(self) -> None:
        out = self.out
        for (fam, tname), table in out.ruleset.tables.items():
            label = f"{fam} {tname}"
            for chain in table.chains.values():
                out.chains[fam, tname, chain.name] = self.chain(label, chain)
        for (fam, tname), table in out.ruleset.tables.items():
            for chain in table.chains.values():
                nc = out.chains[fam, tname, chain.name]
                for k, rule in enumerate(chain.rules):
                    nr = NRule(self.rid, nc.table, chain.name, k + 1, rule)
                    self.rid += 1
                    nr.ops = tuple(self.op(table, nr, s) for s in rule.stmts)
                    nc.rules.append(nr)
                    out.rules.append(nr)
                if nc.base and fam in ("ip", "inet") and nc.hook in HOOK_NAMES:
                    out.base.append(nc)
        if self.fast:
            for (fam, tname), table in out.ruleset.tables.items():
                for chain in table.chains.values():
                    nc = out.chains[fam, tname, chain.name]
                    nc.run = make_runner(nc, [[self.inline(table, st) for st in r.rule.stmts]
                                              for r in nc.rules])

    def chain(self, label: str, chain: NftChain) -> NChain:
        n = len(chain.rules)
        end = TraceStep(label, chain.name, n + 1, "", "policy" if chain.base else "return")
        return NChain(chain.name, label, chain.base, chain.policy.upper(), chain.hook,
                      chain.type, chain.priority, [], end)

    def dest(self, table: NftTable, name: str) -> NChain:
        return self.out.chains[table.family, table.name, name]

    def set_of(self, table: NftTable, ref: Any) -> NftSet:
        return table.sets[ref.name] if isinstance(ref, SetRef) else ref

    # ---------------------------------------------------------------- one statement

    def op(self, table: NftTable, nr: NRule, stmt: Any) -> Callable[[PacketContext], int]:
        if not self.fast:
            return partial(_interpret, self, table, nr, stmt)
        kind = type(stmt)
        if kind is Cmp:
            return self.cmp(table, stmt)
        if kind is NVerdict:
            code = _VERDICT_CODES[stmt.kind]
            if stmt.chain:
                dest = self.dest(table, stmt.chain)

                def verdict(c: PacketContext) -> int:
                    c.nft_dest = dest
                    return code
                return verdict
            return lambda c: code
        if kind is Vmap:
            return self.vmap(table, stmt)
        if kind is Nat and not isinstance(stmt.addr, MapLookup):
            return _nat_op(stmt)
        if kind is SetStmt and stmt.target.kw == "meta" and isinstance(stmt.expr, (Binop, Const)) \
                and (not isinstance(stmt.expr, Binop) or stmt.expr.left == stmt.target):
            return _mark_op(stmt.expr)
        return partial(_interpret, self, table, nr, stmt)

    def inline(self, table: NftTable, stmt: Any) -> tuple[str, dict] | None:
        """A statement as an inline condition of the generated chain function (a match of a
        field against a constant), or None (the rule calls its op)."""
        if type(stmt) is not Cmp or not isinstance(stmt.right, Const):
            return None
        left = stmt.left
        if isinstance(left, Binop):
            src = _FIELD_SOURCE.get((left.left.kw, left.left.name)) \
                if isinstance(left.left, Field) else None
            if src is None or src[1]:
                return None
            sym = {"&": "&", "|": "|", "^": "^"}[left.op]
            expr = f"(({src[0]} {sym} __k) & 0xFFFFFFFF)"
            env: dict[str, object] = {"__k": left.value}
        elif isinstance(left, Field):
            src = _FIELD_SOURCE.get((left.kw, left.name))
            if src is None:
                return None
            expr, env = src[0], {}
            guard = src[1]
        else:
            return None
        right = stmt.right
        test = _inline_test(right.dtype, stmt.op, right.value, expr, env)
        if test is None:
            return None
        if isinstance(left, Field) and guard:
            test = f"({guard} and {test})"
        env.update(_FIELD_ENV)
        return test, env

    def cmp(self, table: NftTable, stmt: Cmp) -> Callable[[PacketContext], int]:
        left = stmt.left
        if isinstance(left, Numgen):
            return partial(_interpret, self, table, None, stmt)
        get = _getter(left)
        right = stmt.right
        if isinstance(right, Const):
            test = _const_test(right.dtype, stmt.op, right.value)

            def cmp_const(c: PacketContext) -> int:
                v = get(c)
                return 0 if v is not None and test(v) else -1
            return cmp_const
        s = self.set_of(table, right)
        want = stmt.op == "=="
        if s.dynamic:
            def member_dynamic(c: PacketContext) -> int:
                v = get(c)
                if v is None:
                    return -1
                c.walk += 1
                return 0 if c.eng.nft_member(s, v, c) == want else -1
            return member_dynamic
        if s.interval:
            def member_interval(c: PacketContext) -> int:
                v = get(c)
                if v is None:
                    return -1
                c.walk += 1
                return 0 if (find_element(s, v, c.now) is not None) == want else -1
            return member_interval

        def member(c: PacketContext) -> int:
            v = get(c)
            if v is None:
                return -1
            c.walk += 1
            return 0 if (v in s.elements) == want else -1
        return member

    def vmap(self, table: NftTable, stmt: Vmap) -> Callable[[PacketContext], int]:
        s = self.set_of(table, stmt.map)
        chains = {e.data[1]: self.dest(table, e.data[1]) for e in s.elements.values()
                  if e.data[1]}
        if isinstance(stmt.key, Numgen):
            if stmt.key.mode != "random" or s.interval or s.dynamic:
                return partial(_interpret, self, table, None, stmt)
            mod, off = stmt.key.mod, stmt.key.offset
            by_value = {e.key[0][0]: (_VERDICT_CODES[e.data[0]],
                                      self.dest(table, e.data[1]) if e.data[1] else None)
                        for e in s.elements.values()}

            def numgen_vmap(c: PacketContext) -> int:
                v = c.eng.numgen(mod, c.rng) + off
                c.walk += 1
                hit = by_value.get(v)
                if hit is None:
                    return -1
                if hit[1] is not None:
                    c.nft_dest = hit[1]
                return hit[0]
            return numgen_vmap
        get = _getter(stmt.key)
        exact = not s.interval and not any(e.expires is not None
                                           for e in s.elements.values())

        def vmap(c: PacketContext) -> int:
            v = get(c)
            if v is None:
                return -1
            c.walk += 1
            e = s.elements.get(v) if exact else find_element(s, v, c.now)
            if e is None:
                return -1
            kind, chain = e.data
            if chain:
                c.nft_dest = chains.get(chain) or self.dest(table, chain)
            return _VERDICT_CODES[kind]
        return vmap


# ------------------------------------------------------------------------------ reference


def _eval(comp: _Compiler, table: NftTable, expr: Any, c: PacketContext) -> Any:
    """The value of ``expr`` for the packet, interpreted from its data."""
    if isinstance(expr, Numgen):
        if expr.mode == "random":
            return c.eng.numgen(expr.mod, c.rng) + expr.offset
        return _numgen_inc(comp, expr, c)
    if isinstance(expr, Concat):
        vals = [_eval(comp, table, p, c) for p in expr.parts]
        return None if any(v is None for v in vals) else tuple(vals)
    if isinstance(expr, Binop):
        v = _eval(comp, table, expr.left, c)
        if v is None:
            return None
        return {"&": v & expr.value, "|": (v | expr.value) & 0xFFFFFFFF,
                "^": v ^ expr.value}[expr.op]
    return _getter(expr)(c)


def _numgen_inc(comp: _Compiler, expr: Numgen, c: PacketContext) -> int:
    # nft_ng_inc: the counter starts at mod - 1, each evaluation moves it on and returns it.
    state = c.eng.nft_inc_state(expr)
    state[0] = state[0] + 1 if state[0] + 1 < expr.mod else 0
    return state[0] + expr.offset


def _lookup(comp: _Compiler, table: NftTable, ref: Any, v: Any, c: PacketContext) -> Any:
    s = comp.set_of(table, ref)
    c.walk += 1
    if s.dynamic and not s.is_map:
        return s if c.eng.nft_member(s, v, c) else None
    return find_element(s, v, c.now)


def _interpret(comp: _Compiler, table: NftTable, nr: NRule | None, stmt: Any,
               c: PacketContext) -> int:
    """One statement, from its data (the reference walk; also the fast path's ops for
    statements that act rather than match)."""
    kind = type(stmt)
    if kind is Cmp:
        v = _eval(comp, table, stmt.left, c)
        if v is None:
            return -1
        right = stmt.right
        if isinstance(right, Const):
            ok = _const_test(right.dtype, stmt.op, right.value)(v)
        else:
            ok = (_lookup(comp, table, right, v, c) is not None) == (stmt.op == "==")
        return 0 if ok else -1
    if kind is NVerdict:
        if stmt.chain:
            c.nft_dest = comp.dest(table, stmt.chain)
        return _VERDICT_CODES[stmt.kind]
    if kind is Vmap:
        v = _eval(comp, table, stmt.key, c)
        if v is None:
            return -1
        e = _lookup(comp, table, stmt.map, v, c)
        if e is None:
            return -1
        vkind, chain = e.data
        if chain:
            c.nft_dest = comp.dest(table, chain)
        return _VERDICT_CODES[vkind]
    if kind is Counter:
        return 0
    if kind is SetStmt:
        v = _eval(comp, table, stmt.expr, c)
        if v is None:
            return -1
        if stmt.target.kw == "meta":
            c.mark = v & 0xFFFFFFFF
        elif c.ct is not None:
            c.ct.mark = v & 0xFFFFFFFF
        return 0
    if kind is SetUpdate:
        v = _eval(comp, table, stmt.key, c)
        if v is None:
            return -1
        update_set(table.sets[stmt.name], v, stmt.op, stmt.timeout, c.now)
        return 0
    if kind is Log:
        assert nr is not None
        level = _LOG_LEVELS[stmt.level or "warn"]
        c.log(_LogSpec((stmt.prefix or "", level), nr.table, nr.chain, nr.number))
        return 0
    if kind is Reject:
        c.reject = reject_name(stmt)
        return REJECT
    if kind is Notrack:
        c.notrack = True
        c.sbits = STATE_BITS["UNTRACKED"]
        return 0
    if kind is Nat:
        return _nat(comp, table, stmt, c)
    raise SimError(f"nft: statement {stmt.render()} cannot run")  # pragma: no cover


def _nat(comp: _Compiler, table: NftTable, stmt: Nat, c: PacketContext) -> int:
    if c.new_entry is None:
        return ACCEPT  # only a new connection's first packet sets up NAT
    plo, phi = stmt.port if stmt.port is not None else (0, 0)
    if stmt.kind == "masquerade":
        c.masquerade(((plo, phi), "fully-random" in stmt.flags))
        return ACCEPT
    if stmt.kind == "redirect":
        c.redirect((plo, phi))
        return ACCEPT
    addr = None
    if isinstance(stmt.addr, MapLookup):
        v = _eval(comp, table, stmt.addr.key, c)
        if v is None:
            return -1
        e = _lookup(comp, table, stmt.addr.map, v, c)
        if e is None:
            return -1
        addr = e.data[0][0]
    elif isinstance(stmt.addr, Const):
        addr = stmt.addr.value[0]  # type: ignore[index]
    flags = frozenset({"random": "--random", "fully-random": "--random-fully",
                       "persistent": "--persistent"}[f] for f in stmt.flags)
    arg = (None if addr is None else ip_str(addr), addr, plo, phi, flags)
    if stmt.kind == "dnat":
        c.dnat(arg)
    else:
        c.snat(arg)
    return ACCEPT


# ------------------------------------------------------------------------------ running


def run_chain(c: PacketContext, ch: NChain) -> int:
    """Evaluate ``ch`` (and the chains it jumps to): 0 when it returns or ends, else the
    verdict (1 accept, 2 drop, 3 reject with ``c.reject``). The fast path runs the chain's
    generated function; the reference walk goes rule by rule, op by op."""
    if ch.run is not None:
        return ch.run(c)
    pk = c.pk
    by = c.by
    tr = c.trail
    for r in ch.rules:
        c.walk += 1
        v = 0
        for op in r.ops:
            v = op(c)
            if v:
                break
        if v < 0:
            continue
        pk[r.rid] += 1
        by[r.rid] += c.length
        if tr is not None:
            tr.append(r.step)
        if v == 0 or v == CONTINUE:
            continue
        if v == JUMP:
            w = run_chain(c, c.nft_dest)
            if w:
                return w
            continue
        if v == GOTO:
            return run_chain(c, c.nft_dest)
        if v == RETURN:
            return 0
        return v
    if tr is not None and not ch.base:
        tr.append(ch.end_step)
    return 0


def run_base(c: PacketContext, hook: Any, ch: NChain) -> None:
    """A base chain at its hook: its verdict, or its policy when it ends."""
    c.cur_hook = hook
    v = run_chain(c, ch)
    if v == 0:
        c.policy(ch)
    elif v != ACCEPT:
        c.stop(v)


def run_route(c: PacketContext, hook: Any, ch: NChain) -> None:
    """A ``type route`` chain at OUTPUT: re-route when it changed the mark or the
    destination (``nf_route_table_hook`` / ``ip_route_me_harder``)."""
    before = (c.dst, c.mark)
    run_base(c, hook, ch)
    if (c.dst, c.mark) != before:
        c.route()


def compile_nft(ruleset: NftRuleset, rid_base: int = 0, *, fast: bool = True) -> NftCompiled:
    """Compile ``ruleset`` (the engine owns it from now on: dynamic sets change in place).
    Rule ids start at ``rid_base`` (after the iptables rules' ids)."""
    out = NftCompiled(ruleset, fast=fast)
    _Compiler(out, rid_base, fast).compile()
    _check_loops(out)
    return out


def _check_loops(out: NftCompiled) -> None:
    """nft refuses a jump loop (``ELOOP``); the walk would never end."""
    edges: dict[Any, set] = {}
    for key, ch in out.chains.items():
        fam, tname, _ = key
        table = out.ruleset.tables[fam, tname]
        targets = set()
        for r in ch.rules:
            for s in r.rule.stmts:
                if isinstance(s, NVerdict) and s.chain:
                    targets.add((fam, tname, s.chain))
                elif isinstance(s, Vmap):
                    m = table.sets[s.map.name] if isinstance(s.map, SetRef) else s.map
                    targets.update((fam, tname, e.data[1]) for e in m.elements.values()
                                   if e.data[1])
        edges[key] = targets
    state: dict[Any, int] = {}
    for root in edges:
        if root in state:
            continue
        stack = [(root, iter(edges[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                raise SimError(f"nft: Could not process rule: Too many levels of symbolic "
                               f"links: chain {nxt[2]} jumps back to itself")
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(edges[nxt])))


__all__ = ["NChain", "NRule", "NftCompiled", "compile_nft", "find_element",
           "numgen_probability", "numgen_value", "run_base", "run_chain", "run_route",
           "update_set"]
