"""knftables' ``Fake`` for tests: apply ``nft -f`` transaction text to a table and ``Dump`` it.

The upstream unit tests compare ``nft.Dump()`` (the fake's table after every transaction ran,
one ``add`` line per object, rule and element) after ``sortNFTablesTransaction``
(``pkg/proxy/nftables/helpers_test.go``). :func:`apply` runs our transactions on the same kind
of table, refusing what the fake (and ``nft``) refuse: a rule or element in a missing chain,
set or map, deleting a missing object, an element that already exists. :func:`sort_nftables_transaction`
is upstream's sort, written here again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.nftables import Transaction

# objectOrder: higher sorts earlier; anything else 0.
OBJECT_ORDER = {"table": 10, "chain": 9, "rule": 8, "set": 7, "map": 6, "element": 5}


@dataclass
class FakeTable:
    """One table: declarations (the ``add`` line of each object) and contents in order."""

    header: str = ""
    chains: dict[str, str] = field(default_factory=dict)
    rules: dict[str, list[str]] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)
    elements: dict[str, dict[str, str]] = field(default_factory=dict)


def _element_key(body: str) -> str:
    """The key of ``{ KEY [comment "..."] [: VALUE] }``."""
    inner = body.strip()[1:-1].strip()
    inner = inner.split(" comment ", 1)[0]
    return inner.split(" : ", 1)[0].strip()


def apply(tx: Transaction, table: FakeTable | None = None) -> FakeTable:
    """Run ``tx`` on ``table`` (a new empty one by default), as knftables' Fake does."""
    t = table if table is not None else FakeTable()
    for line in tx.commands:
        words = line.split(" ")
        verb, kind = words[0], words[1]
        if kind == "table":
            if verb == "add":
                t.header = t.header or line
            continue
        name = words[4]
        decl_prefix = " ".join(words[:5])
        if kind == "chain":
            if verb == "add":
                if name not in t.chains:
                    t.chains[name] = line
                    t.rules[name] = []
            elif verb == "flush":
                assert name in t.chains, f"flush of a missing chain: {line}"
                t.rules[name] = []
            elif verb == "delete":
                assert name in t.chains, f"delete of a missing chain: {line}"
                del t.chains[name], t.rules[name]
        elif kind == "rule":
            assert verb == "add" and name in t.chains, f"rule in a missing chain: {line}"
            t.rules[name].append(line)
        elif kind in ("set", "map"):
            if verb == "add":
                # re-adding updates the declaration (the kernel applies a new timeout)
                t.sets[name] = line
                t.elements.setdefault(name, {})
            elif verb == "flush":
                assert name in t.sets, f"flush of a missing {kind}: {line}"
                t.elements[name] = {}
            elif verb == "delete":
                assert name in t.sets, f"delete of a missing {kind}: {line}"
                del t.sets[name], t.elements[name]
        elif kind == "element":
            assert name in t.sets, f"element of a missing set/map: {line}"
            key = _element_key(line[len(decl_prefix):])
            if verb == "add":
                assert key not in t.elements[name], f"element exists: {line}"
                t.elements[name][key] = line
            else:
                assert key in t.elements[name], f"delete of a missing element: {line}"
                del t.elements[name][key]
        else:
            raise AssertionError(f"unknown command: {line}")
        del decl_prefix
    return t


def dump(t: FakeTable) -> str:
    """``Fake.Dump()``: every object as its ``add`` line, in an order ``nft -f`` can load
    (sets and maps, chains, rules, elements; the upstream sort ignores the order)."""
    lines = [t.header]
    lines += t.sets.values()
    lines += t.chains.values()
    lines += [r for rules in t.rules.values() for r in rules]
    lines += [e for elems in t.elements.values() for e in elems.values()]
    return "\n".join(lines) + "\n"


def sort_nftables_transaction(text: str) -> str:
    """``sortNFTablesTransaction``: drop blank and ``#`` lines, order by object type, then
    object name; rules keep their order, other lines of one object sort as strings."""
    lines = [ln for ln in text.split("\n") if ln and not ln.startswith("#")]

    def key(item):
        index, line = item
        w = line.split(" ")
        assert len(w) >= 5, f"short line: {line}"
        return (-OBJECT_ORDER.get(w[1], 0), w[4], "" if w[1] == "rule" else line, index)

    return "\n".join(line for _, line in sorted(enumerate(lines), key=key))
