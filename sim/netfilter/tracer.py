"""Tracing one packet through a node with every branch ``statistic`` and ``recent`` create.

:func:`trace_packet` runs the engine on a fresh node (empty conntrack and ``recent`` lists)
once per branch: at each ``statistic --mode random`` match it explores both outcomes, with the
kernel's exact probabilities ``P31 / 2**31`` and ``1 - P31 / 2**31`` (P31 =
``round(p * 2**31)``, what the kernel stores; the decimals written in the rule are *not* used),
so the probabilities of all branches sum to exactly 1. A ``recent --rcheck/--update`` match is
a second kind of branch: "the client is already in list NAME" versus not. A fresh client is
in no list, so its outcomes carry the statistic probabilities; each outcome where the client
is assumed to be in a list (at most one list per outcome: kube-proxy's affinity lists of one
service are exclusive) has probability ``None`` and names that condition.
``statistic --mode nth`` is deterministic on a fresh node (first evaluation of each rule).

In an nft ruleset, ``numgen random mod N`` branches into its N values, each with the
kernel's exact probability (:func:`~sim.netfilter.nft.numgen_probability`: 1/N when N
divides 2^32, within 2^-32 of it otherwise), and a lookup in a dynamic set (kube-proxy's
``affinity-…`` sets) is the nft form of the ``recent`` branch: "the client is already in set
NAME", probability ``None``. A fresh node's dynamic sets are empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from sim.ipset import IPSet
from sim.iptables.ruleset import Ruleset
from sim.model.packet import Packet
from sim.netfilter.compiled import _Hooks
from sim.netfilter.context import PacketContext
from sim.netfilter.engine import NodeNetfilter, ip_str
from sim.netfilter.lazy import compile_lazy
from sim.netfilter.nft import numgen_probability
from sim.netfilter.recent import RecentTables
from sim.netfilter.types import Result, Route, TraceStep, Verdict
from sim.nftables.ruleset import NftRuleset, NftSet

P31_ONE = 1 << 31


@dataclass(frozen=True)
class Outcome:
    """One branch of a trace."""

    verdict: Verdict
    reject_with: str | None
    destination: str | None  # "ip:port" after DNAT, None when not DNATed
    masquerade: bool
    probability: Fraction | None  # None: depends on earlier connections (recent lists)
    conditions: tuple[str, ...]
    trail: tuple[TraceStep, ...]
    packet: Packet
    local: bool
    walk_length: int
    result: Result  # the engine's full result for this branch

    def to_json(self) -> dict:
        """The JSON form used by ``kube-netsim trace --json``."""
        p = self.probability
        return {
            "verdict": self.verdict.value,
            "reject_with": self.reject_with,
            "destination": self.destination,
            "masquerade": self.masquerade,
            "probability": None if p is None else float(p),
            "probability_exact": None if p is None else f"{p.numerator}/{p.denominator}",
            "conditions": list(self.conditions),
            "source": f"{self.packet.src}:{self.packet.sport}",
            "local": self.local,
            "walk_length": self.walk_length,
            "trail": [{"table": s.table, "chain": s.chain, "rule_number": s.rule_number,
                       "kind": s.kind, "rule": s.text} for s in self.trail],
        }


class _Script:
    """Forced branch decisions and the decisions taken during one run."""

    def __init__(self, forced: list[bool]) -> None:
        self.forced = forced
        self.taken: list[tuple[bool, object]] = []  # (choice, p31 or recent label)
        self.pinned = False

    def decide(self, default: bool, key: object) -> bool:
        i = len(self.taken)
        choice = self.forced[i] if i < len(self.forced) else default
        self.taken.append((choice, key))
        return choice


class _ScriptedRecent(RecentTables):
    def __init__(self, script: _Script) -> None:
        super().__init__()
        self.script = script

    def match(self, name: str, addr: int, cmd: str, seconds: int, hitcount: int, reap: bool,
              invert: bool, now: float) -> bool:
        if cmd in ("--set", "--remove") or self.script.pinned:
            return super().match(name, addr, cmd, seconds, hitcount, reap, invert, now)
        hit = self.script.decide(False, ("recent", name, ip_str(addr), seconds))
        if hit:
            self.script.pinned = True
        return hit != invert


class _ScriptedNode(NodeNetfilter):
    script: _Script

    def __init__(self, ruleset: Ruleset, local_addresses: list[str],
                 route: Callable[[str], Route] | None, lazy: bool, **engine: Any) -> None:
        self.lazy = lazy  # read by load(), which NodeNetfilter.__init__ calls
        super().__init__(ruleset, local_addresses, route=route, **engine)

    def load(self, ruleset: Ruleset) -> None:
        if not self.lazy:
            super().load(ruleset)
            return
        # One packet enters a few chains of a possibly huge ruleset: compile those only.
        self._hooks = _Hooks()
        compiled = compile_lazy(ruleset, self._hooks, index_min_rules=self.index[0],
                                index_min_share=self.index[1])
        self._compiled = compiled
        # Grows as chains compile (reset_counters restores every nth counter compiled so far).
        self._nth_initial = compiled.nth_initial
        self._relink()

    def chance(self, p31: int, rng: np.random.Generator) -> bool:  # type: ignore[override]
        if p31 <= 0:
            return False
        if p31 >= P31_ONE:
            return True
        return self.script.decide(True, p31)

    def numgen(self, mod: int, rng: np.random.Generator) -> int:  # type: ignore[override]
        """Value k is taken with P(k) / (1 - P(0) - ... - P(k-1)) once 0..k-1 were not."""
        rest = Fraction(1)
        for k in range(mod - 1):
            p = numgen_probability(k, mod)
            if self.script.decide(True, p / rest):
                return k
            rest -= p
        return mod - 1

    def nft_member(self, s: NftSet, key: object, c: PacketContext) -> bool:  # type: ignore[override]
        if self.script.pinned:
            return super().nft_member(s, key, c)
        who = ip_str(key) if isinstance(key, int) else " . ".join(map(str, key))  # type: ignore[arg-type]
        hit = self.script.decide(False, ("set", s.name, who, s.timeout or 0))
        if hit:
            self.script.pinned = True
        return hit


def trace_packet(ruleset: Ruleset, local_addresses: Iterable[str], packet: Packet, *,
                 local_out: bool, in_iface: str = "eth0",
                 route: Callable[[str], Route] | None = None, now: float = 0.0,
                 max_branches: int = 4096, ipsets: Iterable[IPSet] = (),
                 nft: NftRuleset | None = None, lazy: bool = True,
                 iface_addresses: dict[str, str] | None = None) -> list[Outcome]:
    """Every outcome of ``packet`` on a fresh node, with its probability.

    ``iface_addresses``: each interface's primary address (REDIRECT of an arriving packet
    goes there; default the node's primary address).

    ``local_out``: the packet is generated by a process on the node (OUTPUT path); otherwise
    it arrives on ``in_iface``. ``nft``: an nft ruleset beside the iptables ``ruleset``
    (which may be empty). Outcomes are in exploration order (the first branch takes every
    ``statistic`` match and numgen's first value), fresh-client outcomes before "already in
    a recent list / dynamic set" ones. ``ipsets`` are the node's sets for ``-m set`` (a set
    the rules name but not given here holds nothing).
    ``lazy``: compile each iptables chain when the packet first enters it
    (:func:`~sim.netfilter.lazy.compile_lazy`; same outcomes, far less work on a large
    ruleset) instead of the whole ruleset first; a packet that goes deeper into nested chains
    than the lazy fast path can follow is traced again with the eager compilation. With an
    ``nft`` ruleset the compilation is eager: nft rules take the counter slots after the
    iptables ones, which a lazily growing iptables compilation would overlap.
    """
    ipsets = tuple(ipsets)  # read again if the lazy attempt is retried
    if lazy and nft is None:
        try:
            return _trace(ruleset, local_addresses, packet, local_out, in_iface, route, now,
                          max_branches, ipsets, nft, True, iface_addresses)
        except RecursionError:
            pass  # every branch is re-run from a fresh node: nothing of this attempt is kept
    return _trace(ruleset, local_addresses, packet, local_out, in_iface, route, now,
                  max_branches, ipsets, nft, False, iface_addresses)


def _trace(ruleset: Ruleset, local_addresses: Iterable[str], packet: Packet, local_out: bool,
           in_iface: str, route: Callable[[str], Route] | None, now: float, max_branches: int,
           ipsets: Iterable[IPSet], nft: NftRuleset | None, lazy: bool,
           iface_addresses: dict[str, str] | None = None) -> list[Outcome]:
    node = _ScriptedNode(ruleset, list(local_addresses), route, lazy, ipsets=ipsets,
                         iface_addresses=iface_addresses)
    dynamic: list[NftSet] = []
    if nft is not None:
        nft = nft.copy()
        node.load_nft(nft)
        dynamic = [st for t in nft.tables.values() for st in t.sets.values() if st.dynamic]
    outcomes: list[Outcome] = []
    pending: list[list[bool]] = [[]]
    rng = np.random.default_rng(0)
    while pending:
        if len(outcomes) >= max_branches:
            raise ValueError(f"more than {max_branches} branches")
        forced = pending.pop()
        script = _Script(forced)
        node.script = script
        node.recent = _ScriptedRecent(script)
        node.flush_conntrack()
        node.reset_counters()
        node.nfacct = {}
        node._nft_inc = {}
        for st in dynamic:
            st.elements.clear()
        res = node.output(packet, now, rng) if local_out else node.prerouting(packet, now, rng,
                                                                               in_iface)
        outcomes.append(_outcome(res, script))
        for i in range(len(script.taken) - 1, len(forced) - 1, -1):
            choice, key = script.taken[i]
            if isinstance(key, tuple) and choice:
                continue  # at most one recent list is assumed per branch
            pending.append([c for c, _ in script.taken[:i]] + [not choice])
    outcomes.sort(key=lambda o: o.probability is None)
    return outcomes


def _outcome(res: Result, script: _Script) -> Outcome:
    prob: Fraction | None = Fraction(1)
    conditions = []
    for choice, key in script.taken:
        if isinstance(key, tuple):
            kind, name, addr, seconds = key
            if choice:
                prob = None
                if kind == "set":
                    conditions.append(f"{addr} is in set {name}")
                else:
                    window = f" within {seconds}s" if seconds else ""
                    conditions.append(f"{addr} is in recent list {name}{window}")
        elif prob is not None:
            p = key if isinstance(key, Fraction) else Fraction(int(key), P31_ONE)
            prob *= p if choice else 1 - p
    pkt = res.packet
    dest = f"{pkt.dst}:{pkt.dport}" if res.dnat else None
    return Outcome(res.verdict, res.reject_with, dest, res.masqueraded, prob, tuple(conditions),
                   res.trail, pkt, res.local, res.walk_length, res)
