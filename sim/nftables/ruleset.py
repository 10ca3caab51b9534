"""nftables rulesets as data: tables, chains, sets and maps, rules as statement lists.

Everything prints back as ``nft list ruleset`` does (nftables 1.0.6, checked against the
kernel): :meth:`NftRuleset.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.nftables.types import (
    UNQUALIFIED_PRINT,
    render_duration,
    render_value,
    render_verdict,
)

# ------------------------------------------------------------------------------ expressions


@dataclass(frozen=True, slots=True)
class Field:
    """A packet or state field: ``ip daddr``, ``meta l4proto``, ``th dport``, ``ct state``."""

    kw: str
    name: str
    dtype: str

    def render(self) -> str:
        if self.kw == "meta" and self.name in UNQUALIFIED_PRINT:
            return self.name
        return f"{self.kw} {self.name}"


@dataclass(frozen=True, slots=True)
class Fib:
    """``fib saddr type`` / ``fib daddr type``: the address type of the packet's address."""

    keys: tuple[str, ...]
    result: str = "type"
    dtype: str = "fib_addrtype"

    def render(self) -> str:
        return f"fib {' . '.join(self.keys)} {self.result}"


@dataclass(frozen=True, slots=True)
class Numgen:
    """``numgen random mod N [offset K]``: a value in ``offset .. offset + N - 1``."""

    mode: str
    mod: int
    offset: int = 0
    dtype: str = "integer"

    def render(self) -> str:
        text = f"numgen {self.mode} mod {self.mod}"
        return text + (f" offset {self.offset}" if self.offset else "")


@dataclass(frozen=True, slots=True)
class Concat:
    """``a . b . c``: a concatenated key."""

    parts: tuple
    dtype: str = "concat"

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(p.dtype for p in self.parts)

    def render(self) -> str:
        return " . ".join(p.render() for p in self.parts)


@dataclass(frozen=True, slots=True)
class Binop:
    """``meta mark & 0x4000``, ``meta mark | 0x4000``, ``meta mark ^ 0x4000``."""

    left: object
    op: str  # "&", "|", "^"
    value: int

    @property
    def dtype(self) -> str:
        return self.left.dtype  # type: ignore[attr-defined]

    def render(self) -> str:
        return f"{self.left.render()} {self.op} {render_value(self.dtype, (self.value, self.value))}"  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Const:
    """A constant of a data type (see :mod:`sim.nftables.types` for the forms)."""

    dtype: str
    value: object

    def render(self) -> str:
        return render_value(self.dtype, self.value)


@dataclass(frozen=True, slots=True)
class SetRef:
    """``@name``: a named set or map of the rule's table."""

    name: str

    def render(self) -> str:
        return f"@{self.name}"


@dataclass(frozen=True, slots=True)
class MapLookup:
    """``KEY map @m`` / ``KEY map { ... }``: the data a map holds for KEY."""

    key: object
    map: object  # SetRef or NftSet (anonymous)

    @property
    def dtype(self) -> str:
        return "map-data"

    def render(self) -> str:
        m = self.map
        return f"{self.key.render()} map {m.render() if isinstance(m, SetRef) else m.render_anonymous()}"  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ statements


@dataclass(frozen=True, slots=True)
class Cmp:
    """A match: ``left [op] right``; ``right`` is a Const, a SetRef or an anonymous set.
    ``op`` is ``==`` (also the implicit operator), ``!=``, ``<``, ``>``, ``<=``, ``>=``."""

    left: object
    op: str
    right: object
    explicit: bool = False  # the operator was written (kept for printing "==")

    def render(self) -> str:
        r = self.right
        rt = r.render_anonymous() if isinstance(r, NftSet) else r.render()  # type: ignore[attr-defined]
        op = "" if self.op == "==" and not self.explicit else f"{self.op} "
        return f"{self.left.render()} {op}{rt}"  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``accept``, ``drop``, ``continue``, ``return``, ``jump CHAIN``, ``goto CHAIN``."""

    kind: str
    chain: str | None = None

    def render(self) -> str:
        return render_verdict((self.kind, self.chain))


@dataclass(frozen=True, slots=True)
class Vmap:
    """``KEY vmap @m`` / ``KEY vmap { k : verdict, ... }``: the verdict the map holds for
    KEY (none: the rule does not match and evaluation goes on)."""

    key: object
    map: object  # SetRef or anonymous NftSet

    def render(self) -> str:
        m = self.map
        mt = m.render() if isinstance(m, SetRef) else m.render_anonymous()  # type: ignore[attr-defined]
        return f"{self.key.render()} vmap {mt}"  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Reject:
    """``reject`` [``with icmp type X`` | ``with tcp reset`` | ``with icmpx type X``]."""

    kind: str = ""  # "" (icmp port-unreachable), "icmp", "icmpx", "tcp reset"
    code: str = ""

    def render(self) -> str:
        if not self.kind:
            return "reject"
        if self.kind == "tcp reset":
            return "reject with tcp reset"
        return f"reject with {self.kind} {self.code}"

    @property
    def reject_with(self) -> str:
        """The iptables name of the reply (what the engine's Result reports)."""
        if self.kind == "tcp reset":
            return "tcp-reset"
        code = self.code or "port-unreachable"
        return "icmp-" + code.replace("admin-prohibited", "admin-prohibited")


@dataclass(frozen=True, slots=True)
class Nat:
    """``dnat to A[:P]``, ``snat to A[:P]``, ``masquerade``, ``redirect to :P``; ``addr`` is a
    Const or a MapLookup, ``port`` an inclusive range, ``flags`` ``random``,
    ``fully-random``, ``persistent``."""

    kind: str
    addr: object | None = None
    port: tuple[int, int] | None = None
    flags: tuple[str, ...] = ()
    family: str = ""  # "ip" / "ip6" in inet tables

    def render(self) -> str:
        text = self.kind + (f" {self.family}" if self.family else "")
        to = ""
        if self.addr is not None:
            to = self.addr.render()  # type: ignore[attr-defined]
        if self.port is not None:
            lo, hi = self.port
            to += f":{lo}" if lo == hi else f":{lo}-{hi}"
        if to:
            text += f" to {to}"
        if self.flags:
            text += " " + ",".join(self.flags)
        return text


@dataclass(frozen=True, slots=True)
class SetStmt:
    """``meta mark set EXPR`` / ``ct mark set EXPR``."""

    target: Field
    expr: object

    def render(self) -> str:
        return f"{self.target.render()} set {self.expr.render()}"  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SetUpdate:
    """``update @set { KEY [timeout T] }`` / ``add @set { KEY }``: add the packet's key to a
    dynamic set, refreshing its timeout (``update``)."""

    op: str
    name: str
    key: object
    timeout: float | None = None

    def render(self) -> str:
        t = f" timeout {render_duration(self.timeout)}" if self.timeout is not None else ""
        return f"{self.op} @{self.name} {{ {self.key.render()}{t} }}"  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Counter:
    """``counter`` (``packets N bytes M`` when listed)."""

    packets: int = 0
    bytes: int = 0

    def render(self) -> str:
        return f"counter packets {self.packets} bytes {self.bytes}"


@dataclass(frozen=True, slots=True)
class Log:
    """``log [prefix "P"] [level L]``."""

    prefix: str | None = None
    level: str | None = None

    def render(self) -> str:
        text = "log"
        if self.prefix is not None:
            text += f' prefix "{self.prefix}"'
        if self.level is not None:
            text += f" level {self.level}"
        return text


@dataclass(frozen=True, slots=True)
class Notrack:
    """``notrack``."""

    def render(self) -> str:
        return "notrack"


@dataclass(frozen=True, slots=True)
class NftRule:
    """One rule: statements in order, its comment, handle and the source line it came from."""

    stmts: tuple
    comment: str | None = None
    handle: int = 0
    line: int = 0

    def render(self) -> str:
        text = " ".join(s.render() for s in self.stmts)
        if self.comment is not None:
            text += f' comment "{self.comment}"'
        return text


# ------------------------------------------------------------------------------ objects


@dataclass(slots=True)
class Element:
    """A set or map element: its data (maps), comment, own timeout and expiry time
    (absolute, in the engine's clock; ``None``: never expires)."""

    key: object
    data: object = None
    comment: str | None = None
    timeout: float | None = None
    expires: float | None = None


def lookup_key(parts: tuple) -> object:
    """The dict key of an element given its parts (scalars for exact values; a 1-part key
    is its part)."""
    out = tuple(p[0] if isinstance(p, tuple) else p for p in parts)
    return out[0] if len(out) == 1 else out


@dataclass(slots=True)
class NftSet:
    """A named set or map (or an anonymous one, ``name == ""``).

    ``key_types`` is the key's data type (several for a concatenation), ``data_type`` the
    map's data type (``verdict`` for verdict maps; ``None`` for sets). ``elements`` maps the
    lookup key (see :func:`lookup_key`; for interval sets the tuple of ``(lo, hi)`` parts)
    to its :class:`Element`.
    """

    name: str
    key_types: tuple[str, ...]
    data_type: str | None = None
    flags: tuple[str, ...] = ()
    timeout: float | None = None
    size: int | None = None
    comment: str | None = None
    elements: dict = field(default_factory=dict)
    interval: bool = False
    handle: int = 0

    @property
    def is_map(self) -> bool:
        return self.data_type is not None

    @property
    def dynamic(self) -> bool:
        return "dynamic" in self.flags or "timeout" in self.flags

    def copy(self) -> "NftSet":
        s = NftSet(self.name, self.key_types, self.data_type, self.flags, self.timeout,
                   self.size, self.comment, {}, self.interval, self.handle)
        s.elements = {k: Element(e.key, e.data, e.comment, e.timeout, e.expires)
                      for k, e in self.elements.items()}
        return s

    # ---------------------------------------------------------------- printing

    def _render_key(self, parts: tuple) -> str:
        return " . ".join(render_value(t, p) for t, p in zip(self.key_types, parts))

    def _render_element(self, e: Element, now: float | None) -> str:
        text = self._render_key(e.key)  # type: ignore[arg-type]
        if e.timeout is not None and e.timeout != self.timeout:
            text += f" timeout {render_duration(e.timeout)}"
        if e.expires is not None and now is not None:
            text += f" expires {render_duration(max(0.0, e.expires - now))}"
        if e.comment is not None:
            text += f' comment "{e.comment}"'
        if self.data_type is not None:
            data = (render_verdict(e.data) if self.data_type == "verdict"  # type: ignore[arg-type]
                    else " . ".join(render_value(t, d) for t, d in
                                    zip(self.data_type.split(" . "), e.data)))  # type: ignore[arg-type]
            text += f" : {data}"
        return text

    def render_anonymous(self) -> str:
        """An anonymous set as a rule prints it (a single element without data is printed
        bare, as nft simplifies ``{ x }`` to ``x``)."""
        items = [self._render_element(e, None) for e in self.elements.values()]
        if self.data_type is None and len(items) == 1:
            return items[0]
        return "{ " + ", ".join(items) + " }"

    def _delim(self, count: int) -> tuple[str, int]:
        """nft's ``calculate_delim``: short types several per line, others one per line."""
        newline = ",\n\t\t\t     "
        t = self.key_types[0] if len(self.key_types) == 1 else ""
        per_line = 5 if t in ("integer", "inet_proto", "inet_service", "mark", "nf_proto",
                              "ct_dir", "tcp_flag") else (
            2 if t in ("ipv4_addr", "ipv6_addr", "ct_state", "ct_status") else 0)
        if per_line and count < per_line:
            return ", ", count
        return newline, 0

    def render(self, now: float | None = 0.0, sort: bool = False) -> str:
        kind = "map" if self.is_map else "set"
        key = " . ".join(self.key_types)
        lines = [f"\t{kind} {self.name} {{"]
        tline = f"\t\ttype {key}"
        if self.data_type is not None:
            tline += f" : {self.data_type}"
        lines.append(tline)
        if self.size is not None:
            lines.append(f"\t\tsize {self.size}")
        if self.flags:
            lines.append(f"\t\tflags {','.join(self.flags)}")
        if self.timeout is not None:
            lines.append(f"\t\ttimeout {render_duration(self.timeout)}")
        if self.comment is not None:
            lines.append(f'\t\tcomment "{self.comment}"')
        live = [e for e in self.elements.values()
                if e.expires is None or now is None or e.expires > now]
        if sort:
            live.sort(key=lambda e: e.key)
        if live:
            text = "{ "
            count = 0
            for i, e in enumerate(live):
                if i:
                    delim, count = self._delim(count)
                    text += delim
                text += self._render_element(e, now)
                count += 1
            lines.append(f"\t\telements = {text} }}")
        lines.append("\t}")
        return "\n".join(lines)


# Standard priority names (nft's std_prios) and where each may be used.
PRIORITY_NAMES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50,
                  "srcnat": 100}
HOOKS = ("prerouting", "input", "forward", "output", "postrouting", "ingress")
CHAIN_TYPES = ("filter", "nat", "route")


def priority_names_for(hook: str) -> dict[str, int]:
    """The priority names nft accepts and prints at ``hook`` (``dstnat`` only at
    prerouting, ``srcnat`` only at postrouting, as ``std_prio_family_hook_compat``)."""
    names = {k: v for k, v in PRIORITY_NAMES.items() if k not in ("dstnat", "srcnat")}
    if hook == "prerouting":
        names["dstnat"] = -100
    if hook == "postrouting":
        names["srcnat"] = 100
    return names


def render_priority(hook: str, prio: int) -> str:
    """``dstnat - 10``, ``filter``, ``-110``: nft's ``prio2str``."""
    for name, base in priority_names_for(hook).items():
        off = prio - base
        if off == 0:
            return name
        if 0 < abs(off) <= 10:
            return f"{name} {'+' if off > 0 else '-'} {abs(off)}"
    return str(prio)


@dataclass(slots=True)
class NftChain:
    """A chain; a base chain has ``type``, ``hook``, ``priority`` and ``policy``."""

    name: str
    type: str | None = None
    hook: str | None = None
    priority: int = 0
    policy: str = "accept"
    comment: str | None = None
    rules: list = field(default_factory=list)
    handle: int = 0

    @property
    def base(self) -> bool:
        return self.hook is not None

    def copy(self) -> "NftChain":
        return NftChain(self.name, self.type, self.hook, self.priority, self.policy,
                        self.comment, list(self.rules), self.handle)

    def render(self) -> str:
        lines = [f"\tchain {self.name} {{"]
        if self.comment is not None:
            lines.append(f'\t\tcomment "{self.comment}"')
        if self.base:
            lines.append(f"\t\ttype {self.type} hook {self.hook} priority "
                         f"{render_priority(self.hook or '', self.priority)}; "
                         f"policy {self.policy};")
        lines.extend(f"\t\t{r.render()}" for r in self.rules)
        lines.append("\t}")
        return "\n".join(lines)


@dataclass(slots=True)
class NftTable:
    """A table: its chains and sets/maps in creation order."""

    family: str
    name: str
    comment: str | None = None
    flags: tuple[str, ...] = ()
    chains: dict = field(default_factory=dict)
    sets: dict = field(default_factory=dict)
    next_handle: int = 1

    def copy(self) -> "NftTable":
        return NftTable(self.family, self.name, self.comment, self.flags,
                        {k: c.copy() for k, c in self.chains.items()},
                        {k: s.copy() for k, s in self.sets.items()}, self.next_handle)

    def handle(self) -> int:
        h = self.next_handle
        self.next_handle += 1
        return h

    def render(self, now: float | None = 0.0, sort: bool = False) -> str:
        head = [f"table {self.family} {self.name} {{"]
        if self.comment is not None:
            head.append(f'\tcomment "{self.comment}"')
        if self.flags:
            head.append(f"\tflags {','.join(self.flags)}")
        blocks = [s.render(now, sort) for s in self.sets.values()]
        blocks += [c.render() for c in self.chains.values()]
        return "\n".join(head) + ("\n" + "\n\n".join(blocks) if blocks else "") + "\n}"


@dataclass(slots=True)
class NftRuleset:
    """Every table of one network namespace, keyed by ``(family, name)``."""

    tables: dict = field(default_factory=dict)

    def copy(self) -> "NftRuleset":
        return NftRuleset({k: t.copy() for k, t in self.tables.items()})

    def render(self, now: float | None = 0.0, sort: bool = False) -> str:
        """What ``nft list ruleset`` prints (element ``expires`` relative to ``now``;
        ``now=None``: without ``expires``). The kernel lists a set's elements in its hash
        order; ``sort=True`` lists them by key instead (the canonical form)."""
        return "".join(t.render(now, sort) + "\n" for t in self.tables.values())

    def stats(self) -> dict[str, int]:
        """Counts: tables, chains, base chains, rules, sets, maps, elements."""
        out = dict.fromkeys(("tables", "chains", "base_chains", "rules", "sets", "maps",
                             "elements"), 0)
        for t in self.tables.values():
            out["tables"] += 1
            for c in t.chains.values():
                out["chains"] += 1
                out["base_chains"] += c.base
                out["rules"] += len(c.rules)
            for s in t.sets.values():
                out["maps" if s.is_map else "sets"] += 1
                out["elements"] += len(s.elements)
        return out
