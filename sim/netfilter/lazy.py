"""Compiling a ruleset chain by chain, when a packet first enters each chain.

:func:`~sim.netfilter.compiled.compile_ruleset` compiles every rule before the first packet;
for a real node's dump of a million rules that is most of the time and memory of tracing one
packet, which enters a few dozen chains (the built-in chains, ``KUBE-SERVICES``, one Service's
``KUBE-SVC-``/``KUBE-SEP-`` chains). :func:`compile_lazy` gives every chain an empty compiled
shell whose ``run`` compiles the chain's rules the first time it is called, then replaces
itself with the chain's real fast-path runner (generated function or index walk, chosen
exactly as ``compile_ruleset`` chooses them) and runs it. Jumps point at the shells, so a
chain nobody enters is never compiled.

The result of every packet is the same as with the eager compilation: the same generated
code runs, rules are compiled with the same functions, chains get the same index. What
differs is internal: rule ids (counter slots) are given in the order chains are first
entered, so the engine's counter lists and ``statistic --mode nth`` initial values grow with
them (:class:`LazyCompiledRuleset` keeps ``nth_initial``); the rule counters of chains not
compiled yet are not in the lists. It is therefore for one engine that runs packets and
resets its counters (the tracer), not for sharing (``shareable`` is false) nor for
``NodeNetfilter.counters()``.

On the fast path a jump is a Python call. ``compile_ruleset`` measures the deepest jump
nesting first (walking every rule) and takes the reference walk beyond
``MAX_FAST_NESTING``; ``compile_lazy`` does not (that walk alone was a tenth of tracing a
million-rule dump): a ruleset nested deeper than Python's stack raises ``RecursionError``
when a packet goes that deep, and :func:`~sim.netfilter.tracer.trace_packet` then traces it
again with the eager compilation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sim.iptables.gcpause import gc_paused
from sim.iptables.ruleset import Chain, Ruleset
from sim.netfilter.compiled import (
    HOOK_TABLES,
    INDEX_MIN_RULES,
    INDEX_MIN_SHARE,
    T_GOTO,
    T_JUMP,
    CChain,
    CompiledRuleset,
    CTable,
    _build_index,
    _Hooks,
    compile_rules_into,
    empty_chain,
    make_runner,
)

if TYPE_CHECKING:
    from sim.netfilter.context import PacketContext


@dataclass(slots=True)
class LazyCompiledRuleset(CompiledRuleset):
    """A :class:`CompiledRuleset` whose chains compile on first entry; ``rules`` holds the
    compiled ones, ``nth_initial`` the initial ``statistic --mode nth`` counters so far."""

    nth_initial: list[int] = field(default_factory=list)

    @property
    def shareable(self) -> bool:
        """Never: compiling a chain grows one engine's counter lists."""
        return False


@gc_paused()
def compile_lazy(ruleset: Ruleset, hooks: _Hooks | None = None, *,
                 index_min_rules: int = INDEX_MIN_RULES,
                 index_min_share: float = INDEX_MIN_SHARE) -> LazyCompiledRuleset:
    """The fast path of :func:`~sim.netfilter.compiled.compile_ruleset`, each chain compiled
    when a packet first enters it (without the nesting check: see the module docstring)."""
    hooks = hooks or _Hooks()
    compiled = LazyCompiledRuleset(ruleset, {}, [], hooks, (), True, True)
    for tname, table in ruleset.tables.items():
        chains = {name: empty_chain(tname, chain) for name, chain in table.chains.items()}
        for name, cc in chains.items():
            cc.run = _deferred(compiled, cc, table.chains[name], chains, index_min_rules,
                               index_min_share)
        compiled.tables[tname] = CTable(tname, chains)
    compiled.starts = tuple(compiled.tables[t].chains.get(h) if t in compiled.tables else None
                            for h, t in HOOK_TABLES)
    return compiled


def _deferred(compiled: LazyCompiledRuleset, cc: CChain, chain: Chain,
              chains: dict[str, CChain], index_min_rules: int,
              index_min_share: float) -> Callable[["PacketContext"], int]:
    """``cc.run`` until the chain is compiled: compile, then run the real runner."""

    def run(c: "PacketContext") -> int:
        _compile_chain(compiled, cc, chain, chains, index_min_rules, index_min_share)
        # The engine's counter lists cover the rules compiled so far: add this chain's.
        assert not cc.rules or len(c.pk) == cc.rules[0].rid
        c.pk.extend(r.packets for r in chain.rules)
        c.by.extend(r.bytes for r in chain.rules)
        return cc.run(c)  # type: ignore[misc]

    return run


@gc_paused()
def _compile_chain(compiled: LazyCompiledRuleset, cc: CChain, chain: Chain,
                   chains: dict[str, CChain], index_min_rules: int,
                   index_min_share: float) -> None:
    hooks = compiled.hooks
    assert hooks is not None
    nth_before = len(compiled.nth_initial)
    exprs = compile_rules_into(cc, chain, hooks, compiled.rules)
    compiled.nth_initial.extend(hooks.nth_counters[nth_before:])
    for cr in cc.rules:
        if cr.kind == T_JUMP or cr.kind == T_GOTO:
            cr.dest = chains[cr.arg]
    if len(cc.rules) >= index_min_rules:
        _build_index(cc, index_min_share)
    cc.run = cc.run_index if cc.dst_index is not None else make_runner(cc, exprs)
