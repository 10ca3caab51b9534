"""Test-side reading of a payload: rules as token lists, chains per table (independent of
``sim.iptables`` so compiler tests do not depend on the engine's parser)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from fractions import Fraction

from sim.iptables import Payload

STANDARD_TARGETS = {"ACCEPT", "DROP", "REJECT", "RETURN", "MARK", "DNAT", "SNAT", "MASQUERADE"}


@dataclass
class TableView:
    chains: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    rules: list[tuple[str, list[str]]] = field(default_factory=list)

    def chain_rules(self, chain: str) -> list[list[str]]:
        return [toks for c, toks in self.rules if c == chain]


def read(payload: Payload) -> dict[str, TableView]:
    out = {}
    for t in payload.tables:
        view = TableView(chains=[c.name for c in t.chains])
        for line in t.lines:
            toks = shlex.split(line)
            if toks[0] == "-X":
                view.deleted.add(toks[1])
            else:
                assert toks[0] == "-A", line
                view.rules.append((toks[1], toks[2:]))
        out[t.name] = view
    return out


def opt(toks: list[str], name: str) -> str | None:
    """Value following ``name`` in a rule, or None."""
    for i, t in enumerate(toks[:-1]):
        if t == name:
            return toks[i + 1]
    return None


def target(toks: list[str]) -> str | None:
    return opt(toks, "-j")


def dispatch_distribution(view: TableView, chain: str) -> dict[str, Fraction]:
    """Probability of reaching each KUBE-SEP from ``chain``'s statistic cascade, computed exactly
    from the emitted decimals (affinity ``--rcheck`` rules are skipped: they match only
    remembered clients)."""
    remaining = Fraction(1)
    dist: dict[str, Fraction] = {}
    for toks in view.chain_rules(chain):
        if "--rcheck" in toks or "KUBE-MARK-MASQ" == target(toks):
            continue
        p = opt(toks, "--probability")
        share = remaining * (Fraction(p) if p is not None else 1)
        dist[target(toks)] = dist.get(target(toks), Fraction(0)) + share
        remaining -= share
    assert remaining == 0, f"{chain}: the cascade leaves {remaining} unmatched"
    return dist


def sep_destination(view: TableView, sep: str) -> str:
    for toks in view.chain_rules(sep):
        if target(toks) == "DNAT":
            return opt(toks, "--to-destination")
    raise AssertionError(f"{sep} has no DNAT rule")
