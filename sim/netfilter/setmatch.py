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
from sim.model.errors import SimError

if TYPE_CHECKING:
    from sim.netfilter.engine import PacketContext

MODULES = frozenset({"set", "ipvs"})


class NodeIPSets:
    """The ipsets of one node, by name, with their membership indexes."""

    def __init__(self, sets: Iterable[IPSet] = ()) -> None:
        self._index: dict[str, SetIndex] = {}
        self.missing: set[str] = set()
        self.load(sets)

    def load(self, sets: Iterable[IPSet]) -> None:
        """Replace every set (a node after ``ipset destroy`` + ``ipset restore``)."""
        self._index = {s.name: SetIndex.build(s) for s in sets}

    def update(self, sets: Iterable[IPSet]) -> None:
        """Create or replace the named sets, keeping the others (``ipset restore -exist``
        with a flush of each named set)."""
        for s in sets:
            self._index[s.name] = SetIndex.build(s)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._index)

    def get(self, name: str) -> IPSet | None:
        idx = self._index.get(name)
        return idx.set if idx is not None else None

    def test(self, name: str, dirs: tuple[bool, ...], c: "PacketContext") -> bool:
        """``ip_set_test`` for the packet in ``c`` (``dirs``: True for ``src``)."""
        idx = self._index.get(name)
        if idx is None:
            self.missing.add(name)
            return False
        kinds = SET_TYPES[idx.set.type]
        if len(dirs) < len(kinds) or idx.set.family != "inet":
            return False
        values = []
        for kind, src in zip(kinds, dirs):
            if kind == "port":
                values.append((c.proto, c.sport if src else c.dport))
            else:
                values.append(c.src if src else c.dst)
        return idx.test(tuple(values))


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
        out.append((_neg("c.eng.ipsets.test(__n, __d, c)", ms.negated),
                    {"__n": ms.values[0], "__d": set_directions(ms.values[1])}))
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
