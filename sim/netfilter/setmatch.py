"""The engine side of ``-m set`` and ``-m ipvs``: a node's ipsets and the predicates the
compiled rules call.

``-m set --match-set NAME dir[,dir...]`` (``xt_set.c`` / ``ip_set_core.c`` ``ip_set_test``):
the packet's key is built from the directions, one per dimension of the set (source or
destination address, source or destination port with the packet's protocol), and looked up
in the set; fewer directions than the set has dimensions, or a set of another family, never
match (``!`` then matches). Sets are held per node (:class:`NodeIPSets`), loaded from
``ipset restore`` text or from the IPVS compiler's :class:`~sim.ipset.IPSet` list; a rule
naming a set the node does not have is reported by :func:`missing_sets` /
:func:`check_sets` (the kernel refuses such a rule at ``iptables-restore``; for a dump whose
sets were not given it evaluates as "not a member" and is listed in
:attr:`NodeIPSets.missing`).

``-m ipvs`` (``xt_ipvs.c``): asks the node's IPVS stage (``NodeNetfilter.ipvs_info``, set by
the IPVS engine; ``None`` without IPVS) for the packet's IPVS connection: ``(virtual address,
virtual port, forwarding method, is_original_direction, control port)`` or ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from sim.iptables.extensions import proto_number
from sim.iptables.ruleset import Option, Ruleset
from sim.iptables.setmatch import ipvs_vaddr, set_directions
from sim.ipset import SET_TYPES, IPSet, SetIndex
from sim.ipset.sets import BITMAP_PORT_PROTOCOLS
from sim.model.errors import SimError

if TYPE_CHECKING:
    from sim.netfilter.context import PacketContext

MODULES = frozenset({"set", "ipvs"})


class NodeIPSets:
    """The ipsets of one node, by name, with their membership indexes.

    :meth:`match` is what compiled rules call: per (set, directions) it builds once a function
    specialised to the set's type (a tuple of packet fields looked up in a frozenset), so a
    member test costs about one dictionary lookup; loading sets drops those functions.
    """

    def __init__(self, sets: Iterable[IPSet] = ()) -> None:
        self._sets: dict[str, IPSet] = {}
        self._fns: dict[tuple[str, tuple[bool, ...]], Callable[["PacketContext"], bool]] = {}
        self.missing: set[str] = set()
        self.load(sets)

    def load(self, sets: Iterable[IPSet]) -> None:
        """Replace every set (a node after ``ipset destroy`` + ``ipset restore``). Indexes
        are built when a rule first looks a set up, and shared between equal sets."""
        self._sets = {s.name: s for s in sets}
        self._fns = {}

    def update(self, sets: Iterable[IPSet]) -> None:
        """Create or replace the named sets, keeping the others (``ipset restore -exist``
        with a flush of each named set)."""
        changed = set()
        for s in sets:
            self._sets[s.name] = s
            changed.add(s.name)
        self._fns = {k: fn for k, fn in self._fns.items() if k[0] not in changed}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._sets)

    def get(self, name: str) -> IPSet | None:
        return self._sets.get(name)

    def match(self, key: tuple[str, tuple[bool, ...]], c: "PacketContext") -> bool:
        """``ip_set_test`` of set ``key[0]`` with directions ``key[1]`` (True: ``src``)."""
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = self._matcher(*key)
        return fn(c)

    def test(self, name: str, dirs: tuple[bool, ...], c: "PacketContext") -> bool:
        """:meth:`match` with the set name and directions apart."""
        return self.match((name, dirs), c)

    def _matcher(self, name: str, dirs: tuple[bool, ...]) -> Callable[["PacketContext"], bool]:
        ipset = self._sets.get(name)
        if ipset is None:
            missing = self.missing

            def absent(c: "PacketContext") -> bool:
                missing.add(name)
                return False
            return absent
        idx = SetIndex.of(ipset)
        kinds = SET_TYPES[idx.set.type]
        if len(dirs) < len(kinds) or idx.set.family != "inet":
            return _never
        keys = idx.keys
        addr = [("c.src" if src else "c.dst") for src in dirs]
        port = [("c.sport" if src else "c.dport") for src in dirs]
        if idx.set.type == "bitmap:port":
            return _compiled(name, f"c.proto in __bp and ({port[0]},) in __k", keys)
        parts = []
        for i, kind in enumerate(kinds):
            parts += ([addr[i]] if kind == "ip" else ["__a & __m", "__p"] if kind == "net"
                      else ["c.proto", port[i]])
        key = "(" + ", ".join(parts) + ",) in __k"
        if "net" not in kinds:
            return _compiled(name, key, keys)
        # hash:net and friends: try each stored prefix length, most specific first.
        net_addr = addr[kinds.index("net")]
        masks = tuple((((1 << 32) - 1) ^ ((1 << (32 - plen)) - 1), plen) for plen in idx.prefixes)
        body = (f"    __a = {net_addr}\n    for __m, __p in __ms:\n        if {key}:\n"
                "            return True\n    return False\n")
        env = {"__k": keys, "__ms": masks}
        exec(compile(f"def f(c, __k=__k, __ms=__ms):\n{body}", f"<ipset {name}>", "exec"), env)  # noqa: S102
        return env["f"]


def _compiled(name: str, expr: str, keys: frozenset) -> Callable[["PacketContext"], bool]:
    code = compile(f"lambda c, __k=__k, __bp=__bp: {expr}", f"<ipset {name}>", "eval")
    return eval(code, {"__k": keys, "__bp": BITMAP_PORT_PROTOCOLS})  # noqa: S307


def _never(c: "PacketContext") -> bool:
    return False


def referenced_sets(ruleset: Ruleset) -> dict[str, list[tuple[str, str, int]]]:
    """Every set a ``-m set`` match names: set -> [(table, chain, line)]."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    for table in ruleset.tables.values():
        for chain in table.chains.values():
            for rule in chain.rules:
                for m in rule.matches:
                    if m.module != "set":
                        continue
                    opt = m.option("--match-set")
                    if opt is not None:
                        out.setdefault(opt.values[0], []).append((table.name, chain.name, rule.line))
    return out


def missing_sets(ruleset: Ruleset, sets: Iterable[str]) -> dict[str, list[tuple[str, str, int]]]:
    """The sets ``ruleset`` matches on that are not among ``sets``, with where they are used."""
    have = set(sets)
    return {k: v for k, v in sorted(referenced_sets(ruleset).items()) if k not in have}


def check_sets(ruleset: Ruleset, sets: Iterable[str], source: str = "<rules>") -> None:
    """Refuse ``ruleset`` if a rule names a set that was not given, as ``iptables-restore``
    does (``Set NAME doesn't exist``); the error names the set and the first rule using it."""
    missing = missing_sets(ruleset, sets)
    if missing:
        name, uses = next(iter(missing.items()))
        table, chain, line = uses[0]
        more = f" (and {len(missing) - 1} more: {', '.join(list(missing)[1:])})" if len(missing) > 1 else ""
        raise SimError(f"{source}:{line}: -m set --match-set {name}: Set {name} doesn't exist: "
                       f"it is used in {table} {chain} but not in the given ipset save text{more}")


def _neg(expr: str, neg: bool) -> str:
    return f"not ({expr})" if neg else expr


def preds(module: str, o: dict[str, Option]) -> list[tuple[str, dict[str, object]]]:
    """The compiled conditions of one ``set``/``ipvs`` match (the expression
    form of :mod:`sim.netfilter.compiled`: code over ``c`` and named constants)."""
    out: list[tuple[str, dict[str, object]]] = []
    if module == "set":
        ms = o["--match-set"]
        out.append((_neg("c.eng.ipsets.match(__k, c)", ms.negated),
                    {"__k": (ms.values[0], set_directions(ms.values[1]))}))
    elif module == "ipvs":
        out.append(("__f(c)", {"__f": _ipvs_pred(o)}))
    else:  # pragma: no cover - the parser refuses unknown modules
        raise AssertionError(module)
    return out


def _ipvs_pred(o: dict[str, Option]) -> Callable[["PacketContext"], bool]:
    prop = o.get("--ipvs")
    checks: list[Callable[["PacketContext", tuple], bool]] = []
    if "--vproto" in o:
        num, neg = proto_number(o["--vproto"].values[0]), o["--vproto"].negated
        checks.append(lambda c, info: (proto_number(c.proto) == num) != neg)
    if "--vaddr" in o:
        (addr, mask), neg = ipvs_vaddr(o["--vaddr"].values[0]), o["--vaddr"].negated
        checks.append(lambda c, info: ((info[0] & mask) == addr) != neg)
    if "--vport" in o:
        port, neg = int(o["--vport"].values[0]), o["--vport"].negated
        checks.append(lambda c, info: (info[1] == port) != neg)
    if "--vmethod" in o:
        method, neg = o["--vmethod"].values[0], o["--vmethod"].negated
        checks.append(lambda c, info: (info[2] == method) != neg)
    if "--vdir" in o:
        original = o["--vdir"].values[0] == "ORIGINAL"
        checks.append(lambda c, info: info[3] == original)
    if "--vportctl" in o:
        port, neg = int(o["--vportctl"].values[0]), o["--vportctl"].negated
        checks.append(lambda c, info: (info[4] == port) != neg)

    def pred(c: "PacketContext") -> bool:
        lookup = c.eng.ipvs_info
        info = lookup(c) if lookup is not None else None
        if not checks:  # "--ipvs" alone: the packet belongs to an IPVS connection
            return (info is not None) != (prop is not None and prop.negated)
        if info is None:
            return False
        if prop is not None and prop.negated:
            return False
        return all(check(c, info) for check in checks)
    return pred


__all__ = ["MODULES", "NodeIPSets", "check_sets", "missing_sets", "preds",
           "referenced_sets"]
