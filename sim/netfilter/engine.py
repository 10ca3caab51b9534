"""One node's netfilter: the hook pipeline with its iptables tables and nft ruleset,
conntrack, ``recent`` lists, counters (:class:`NodeNetfilter`, the engine's entry point).

Modules, each importing only those before it (an import-linter contract checks it):
:mod:`~sim.netfilter.types` (enums, results), :mod:`~sim.netfilter.addresses`,
:mod:`~sim.netfilter.conntrack` and :mod:`~sim.netfilter.recent` (state),
:mod:`~sim.netfilter.context` (one packet's trip and the actions every language shares),
:mod:`~sim.netfilter.compiled` (iptables rules) and :mod:`~sim.netfilter.nft` (nft rules),
:mod:`~sim.netfilter.pipeline` (hooks in priority order, the packet paths), this module,
then :mod:`~sim.netfilter.tracer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from sim.ipset import IPSet
from sim.iptables.ruleset import Chain, Ruleset, Table
from sim.model.config import ConntrackConfig, KubeProxyConfig
from sim.model.packet import Packet
from sim.netfilter.addresses import ip_int, ip_str
from sim.netfilter.compiled import (
    INDEX_MIN_RULES,
    INDEX_MIN_SHARE,
    CompiledRuleset,
    _Hooks,
    compile_ruleset,
)
from sim.netfilter.conntrack import ConntrackTable
from sim.netfilter.context import (
    _B_INVALID,
    LOOP_MASK,
    LOOP_NET,
    PacketContext,
    Stop,
)
from sim.netfilter.nft import NftCompiled, compile_nft, find_element, numgen_value
from sim.netfilter.pipeline import HookEntry, Pipeline, arriving, build_pipeline, local_out
from sim.netfilter.recent import RecentTables
from sim.netfilter.setmatch import NodeIPSets
from sim.netfilter.types import Hook, Result, Route, Verdict
from sim.nftables.ruleset import NftRuleset, NftSet, Numgen

__all__ = ["NodeNetfilter", "PacketContext", "ip_int", "ip_str"]

_P31 = float(1 << 31)
_DRAW_BLOCK = 256  # random values drawn from a generator at a time (NodeNetfilter.draw)
_PRE = Hook.PREROUTING
_ACCEPT = Verdict.NF_ACCEPT
_Stop = Stop


class NodeNetfilter:
    """The netfilter state of one node: tables, conntrack, recent lists, counters.

    Parameters
    ----------
    ruleset
        The applied tables (``sim.iptables.apply_payload``); ``None`` for empty tables.
    local_addresses
        The node's own addresses (``addrtype LOCAL``; 127.0.0.0/8 is always local). The
        first one given (or the smallest, for an unordered set) is the primary address.
    conntrack_max
        ``nf_conntrack_max``.
    config
        A ``KubeProxyConfig`` or ``ConntrackConfig`` for the conntrack timeouts.
    route
        ``route(dst) -> Route(out_iface, source)`` for non-local destinations; MASQUERADE
        uses ``source``. Default: ``eth0`` with the primary address.
    iface_addresses
        Primary address per interface, for REDIRECT on arriving packets (default: the
        primary address).
    fast
        Use the fast path: each chain one generated function, long chains over their index
        (``False``: the linear reference walk). Both give identical results; the hypothesis
        test in ``tests/netfilter`` holds them to it.
    index
        ``(min_rules, min_share)``: which chains the fast path runs over an index (see
        :func:`~sim.netfilter.compiled.compile_ruleset`).
    trace
        Record the rule trail in each result.
    ipsets
        The node's ipsets for ``-m set`` (:attr:`ipsets`; reload with ``ipsets.load``).
    nft
        An nft ruleset (:func:`sim.nftables.apply_nft`) whose base chains join the hooks
        beside the iptables tables (see :meth:`load_nft`).
    """

    def __init__(self, ruleset: Ruleset | None, local_addresses: Iterable[str], *,
                 conntrack_max: int = 262144,
                 config: KubeProxyConfig | ConntrackConfig | None = None,
                 route: Callable[[str], Route] | None = None,
                 iface_addresses: dict[str, str] | None = None,
                 fast: bool = True, trace: bool = True,
                 index: tuple[int, float] = (INDEX_MIN_RULES, INDEX_MIN_SHARE),
                 ipsets: Iterable[IPSet] = (), nft: NftRuleset | None = None) -> None:
        addrs = list(local_addresses)
        if not isinstance(local_addresses, (list, tuple)):
            addrs = sorted(addrs, key=ip_int)
        self.primary = addrs[0] if addrs else "127.0.0.1"
        self.local = frozenset(ip_int(a) for a in addrs)
        if isinstance(config, KubeProxyConfig):
            config = config.conntrack
        self.conntrack = ConntrackTable(conntrack_max, config)
        self.recent = RecentTables()
        self.nfacct: dict[str, list[int]] = {}
        self.route_fn = route or (lambda dst: Route("eth0", self.primary))
        self.iface_addresses = dict(iface_addresses or {})
        self.fast = fast
        self.index = index
        # -m set / -m ipvs state (sim.netfilter.setmatch): the node's ipsets, and the IPVS
        # stage's connection lookup (None: no IPVS on this node).
        self.ipsets = NodeIPSets(ipsets)
        self.ipvs_info: Callable[[PacketContext], tuple | None] | None = None
        # The node's IPVS stage (sim.netfilter.ipvs.IPVSStage) in IPVS proxy mode: setting
        # it registers its hooks in the pipeline (see the ipvs property)
        self._ipvs = None
        self.trace = trace
        self.counters_packets: list[int] = []
        self.counters_bytes: list[int] = []
        self.policy_counters: dict[tuple[str, str], list[int]] = {}
        self._draws: list[float] = []
        self._draws_rng: np.random.Generator | None = None
        self._compiled: CompiledRuleset
        self._hooks: _Hooks
        self._nft: NftCompiled | None = None
        self._pipeline: Pipeline
        self._nft_inc: dict[int, list[int]] = {}
        self.load(ruleset or Ruleset())
        if nft is not None:
            self.load_nft(nft)

    # ------------------------------------------------------------------ management

    def load(self, ruleset: Ruleset) -> None:
        """Swap in a new ruleset atomically (``iptables-restore``). Conntrack entries and
        recent lists survive; rule counters and ``statistic --mode nth`` counters start from
        the ruleset's own values, as for freshly created kernel rules."""
        self._hooks = _Hooks()
        self._compiled = compile_ruleset(ruleset, self._hooks, fast=self.fast,
                                         index_min_rules=self.index[0],
                                         index_min_share=self.index[1])
        self._nth_initial = list(self._hooks.nth_counters)
        self._relink()

    def load_nft(self, ruleset: NftRuleset | None) -> None:
        """Swap in an nft ruleset (what ``nft -f`` committed; ``None``: no nft tables).
        The engine owns it from now on: ``update @set`` adds to its sets, and the next
        transaction is applied onto :attr:`nft_ruleset` (``apply_nft(tx, nf.nft_ruleset)``)
        so dynamic set contents survive as they do in the kernel. Conntrack survives;
        counters restart."""
        self._nft = None if ruleset is None else compile_nft(
            ruleset, len(self._compiled.rules), fast=self.fast)
        self._nft_inc = {}
        self._relink()

    @property
    def ipvs(self):
        """The node's IPVS stage (``sim.netfilter.ipvs.attach`` sets it), or None."""
        return self._ipvs

    @ipvs.setter
    def ipvs(self, stage) -> None:
        self._ipvs = stage
        self._pipeline = build_pipeline(self._compiled, self._nft, stage)

    @property
    def nft_ruleset(self) -> NftRuleset | None:
        """The loaded nft ruleset with its live set contents (``nft list ruleset``)."""
        return None if self._nft is None else self._nft.ruleset

    @property
    def nft_compiled(self) -> NftCompiled | None:
        return self._nft

    def hook_entries(self) -> tuple[HookEntry, ...]:
        """What is registered at each hook, in the order packets meet it."""
        return self._pipeline.entries

    def _relink(self) -> None:
        """Rebuild the hook pipeline (and the nft rule ids after the iptables ones)."""
        if self._nft is not None and self._nft.rules and \
                self._nft.rules[0].rid != len(self._compiled.rules):
            self._nft = compile_nft(self._nft.ruleset, len(self._compiled.rules),
                                    fast=self.fast)
        self._pipeline = build_pipeline(self._compiled, self._nft, self._ipvs)
        self.reset_counters()

    @property
    def compiled(self) -> CompiledRuleset:
        """The compiled form of the loaded ruleset (see :meth:`adopt`)."""
        return self._compiled

    def adopt(self, compiled: CompiledRuleset) -> None:
        """Load a ruleset another engine already compiled (``compiled.shareable`` must hold,
        and it must be compiled with this engine's ``fast`` setting): same effect as
        ``load(compiled.ruleset)`` without compiling again; the index settings are the
        compiling engine's."""
        if not compiled.shareable:
            raise ValueError("a compiled ruleset with statistic nth counters is per engine")
        if compiled.requested_fast != self.fast:
            raise ValueError("a compiled ruleset must match the adopting engine's fast setting")
        assert compiled.hooks is not None
        self._hooks = compiled.hooks
        self._compiled = compiled
        self._nth_initial = []
        self._relink()

    def reset_counters(self) -> None:
        """Rule, policy, nfacct and ``statistic --mode nth`` counters back to their loaded
        values (``iptables -Z`` plus fresh nth state)."""
        ruleset = self._compiled.ruleset
        self._hooks.nth_counters[:] = self._nth_initial
        self.counters_packets = [r.rule.packets for r in self._compiled.rules]
        self.counters_bytes = [r.rule.bytes for r in self._compiled.rules]
        nft_rules = self._nft.rules if self._nft is not None else []
        self.counters_packets += [0] * len(nft_rules)
        self.counters_bytes += [0] * len(nft_rules)
        self.policy_counters = {
            (t, c.name): [ruleset.tables[t].chains[c.name].packets,
                          ruleset.tables[t].chains[c.name].bytes]
            for t, tab in self._compiled.tables.items() for c in tab.chains.values() if c.builtin}
        # The same counters by compiled chain (identity-hashed: no string hashing per packet).
        self._policy_by_chain = {c: self.policy_counters[t, c.name]
                                 for t, tab in self._compiled.tables.items()
                                 for c in tab.chains.values() if c.builtin}
        for ch in (self._nft.base if self._nft is not None else ()):
            pc = self.policy_counters[ch.table, ch.name] = [0, 0]
            self._policy_by_chain[ch] = pc

    @property
    def ruleset(self) -> Ruleset:
        return self._compiled.ruleset

    def counters(self) -> Ruleset:
        """The ruleset with the current per-rule and policy counters (``iptables -L -v`` /
        ``iptables-save -c``)."""
        tables = {}
        k = 0
        for tname, table in self._compiled.ruleset.tables.items():
            chains = {}
            for cname, chain in table.chains.items():
                rules = []
                for r in chain.rules:
                    rules.append(replace(r, packets=self.counters_packets[k],
                                         bytes=self.counters_bytes[k]))
                    k += 1
                pc = self.policy_counters.get((tname, cname), [chain.packets, chain.bytes])
                chains[cname] = Chain(cname, tuple(rules), chain.policy, pc[0], pc[1])
            tables[tname] = Table(tname, chains)
        return Ruleset(tables)

    def flush_conntrack(self) -> None:
        """``conntrack -F``."""
        self.conntrack.flush()

    def conntrack_entries(self, now: float | None = None) -> list:
        """Snapshots of the live conntrack entries (``conntrack -L``)."""
        return [e.snapshot() for e in self.conntrack.entries(now)]

    def addr_type(self, addr: int) -> str:
        if addr in self.local or (addr & LOOP_MASK) == LOOP_NET:
            return "LOCAL"
        if addr == 0xFFFFFFFF:
            return "BROADCAST"
        if (addr & 0xF0000000) == 0xE0000000:
            return "MULTICAST"
        if addr == 0:
            return "UNSPEC"
        return "UNICAST"

    def is_local(self, addr: int) -> bool:
        return addr in self.local or (addr & LOOP_MASK) == LOOP_NET

    def chance(self, p31: int, rng: np.random.Generator) -> bool:
        """``statistic --mode random``: ``(prandom_u32() & 0x7FFFFFFF) < p31``."""
        draws = self._draws
        if draws and self._draws_rng is rng:  # draw(), inlined for the commonest case
            return draws.pop() * _P31 < p31
        return self.draw(rng) * _P31 < p31

    def numgen(self, mod: int, rng: np.random.Generator) -> int:
        """``numgen random mod N``: ``reciprocal_scale`` of the next 32-bit random value."""
        return numgen_value(self.draw(rng), mod)

    def nft_member(self, s: NftSet, key: object, c: PacketContext) -> bool:
        """Whether ``key`` is a live element of the dynamic set ``s`` (the tracer branches
        here: affinity sets)."""
        return find_element(s, key, c.now) is not None

    def nft_inc_state(self, expr: Numgen) -> list[int]:
        """The counter of a ``numgen inc`` expression (starts at ``mod - 1``)."""
        state = self._nft_inc.get(id(expr))
        if state is None:
            state = self._nft_inc[id(expr)] = [expr.mod - 1]
        return state

    def nft_counters(self) -> dict[tuple[str, str, int], tuple[int, int]]:
        """Packets and bytes per nft rule, keyed by (``family table``, chain, position)."""
        if self._nft is None:
            return {}
        return {(r.table, r.chain, r.number): (self.counters_packets[r.rid],
                                               self.counters_bytes[r.rid])
                for r in self._nft.rules}

    def draw(self, rng: np.random.Generator) -> float:
        """The next ``rng.random()``. Drawn in blocks (one call per block instead of one per
        value): the values and their order are those of one ``rng.random()`` call each, as
        long as nothing else draws from ``rng`` (each node's engine has its own stream);
        handing the engine another generator drops what is left of the block."""
        draws = self._draws
        if self._draws_rng is not rng or not draws:
            self._draws_rng = rng
            draws = self._draws = rng.random(_DRAW_BLOCK).tolist()
            draws.reverse()
        return draws.pop()

    # ------------------------------------------------------------------ packet paths

    def prerouting(self, packet: Packet, now: float, rng: np.random.Generator,
                   in_iface: str | None = None) -> Result:
        """A packet arriving on ``in_iface`` (default ``packet.in_iface`` or ``eth0``)."""
        c, stop = self._arriving(packet, now, rng, in_iface or packet.in_iface or "eth0")
        if stop is not None:
            return c.result(stop.verdict, stop.reason, stop.reject_with)
        return c.result(_ACCEPT, "")

    def output(self, packet: Packet, now: float, rng: np.random.Generator) -> Result:
        """A packet generated by a local process."""
        c, stop = self._generated(packet, now, rng)
        if stop is not None:
            return c.result(stop.verdict, stop.reason, stop.reject_with)
        return c.result(_ACCEPT, "")

    def prerouting_verdict(self, packet: Packet, now: float, rng: np.random.Generator,
                           in_iface: str) -> tuple[str, Packet, bool, int]:
        """:meth:`prerouting` reduced to what a simulated network needs, without building a
        :class:`Result`: the verdict's name (``ACCEPT``, ``DROP``, ``REJECT``), the packet
        as it leaves (the one given when not accepted), whether it is delivered to the node
        itself, and the walk length."""
        c, stop = self._arriving(packet, now, rng, in_iface)
        if stop is not None:
            return stop.verdict.value, packet, False, c.walk
        return "ACCEPT", c.packet(), c.local, c.walk

    def output_verdict(self, packet: Packet, now: float,
                       rng: np.random.Generator) -> tuple[str, Packet, bool, int]:
        """:meth:`output` reduced like :meth:`prerouting_verdict`."""
        c, stop = self._generated(packet, now, rng)
        if stop is not None:
            return stop.verdict.value, packet, False, c.walk
        return "ACCEPT", c.packet(), c.local, c.walk

    def _arriving(self, packet: Packet, now: float, rng: np.random.Generator,
                  in_iface: str) -> tuple[PacketContext, _Stop | None]:
        """Run an arriving packet's path; the context and what stopped it (None: accepted)."""
        c = self._context(packet, now, rng, in_iface)
        try:
            arriving(c, self._pipeline)
        except _Stop as stop:
            return c, stop
        return c, None

    def _generated(self, packet: Packet, now: float,
                   rng: np.random.Generator) -> tuple[PacketContext, _Stop | None]:
        """Run a locally generated packet's path, like :meth:`_arriving`."""
        c = self._context(packet, now, rng, "")
        try:
            local_out(c, self._pipeline)
        except _Stop as stop:
            return c, stop
        return c, None

    def _context(self, p: Packet, now: float, rng: np.random.Generator,
                 in_iface: str) -> PacketContext:
        c = PacketContext()
        c.pkt = p
        proto = c.proto = p.proto.lower()
        c.src = ip_int(p.src)
        c.dst = ip_int(p.dst)
        c.sport = p.sport
        c.dport = p.dport
        c.tflags = p.tcp_flags if proto == "tcp" else ""
        c.mark = p.mark
        c.in_iface = in_iface
        c.length = p.length
        c.now = now
        c.rng = rng
        c.eng = self
        c.hooks = []
        c.pk = self.counters_packets
        c.by = self.counters_bytes
        c.trail = [] if self.trace else None
        c.walk = 0
        # No conntrack entry yet (raw runs before conntrack): xt_conntrack says INVALID for a
        # packet without one unless NOTRACK marked it untracked.
        c.sbits = _B_INVALID
        c.out_iface = ""
        c.ct = c.new_entry = c.reject = None
        c.is_reply = c.confirmed = c.invalid = c.notrack = False
        c.local = c.masq = c.random_fully = False
        c.logs = ()
        c.cur_hook = _PRE
        c.inner = p.inner
        c.related = False
        c.nat_bound = False
        c.ipvs = False
        return c

