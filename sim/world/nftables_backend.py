"""The nftables mode's proxy backend: what kube-proxy (``--proxy-mode=nftables``) does on a sync.

Model
    A sync sends the ``nft -f`` transaction of ``sim.kubeproxy.nftables.compile_nft`` (a full
    sync's text; compiled once per distinct node view and state, shared by the nodes that
    have it). The table it leaves on a node is that transaction applied to an empty ruleset
    (parsed once per distinct text), with the node's live dynamic-set contents (ClientIP
    affinity entries) carried over for every set that survives, as the kernel keeps a set's
    elements when a transaction neither flushes nor deletes it. Each node then runs its own
    copy (the engine adds affinity entries to it).

    Duration: the kernel calibration of ``nft -f`` (``benchmarks/calibrate_nft.py``,
    ``sim/world/calibration/nft_model.json``): a full sync costs
    ``a + b*lines + c*lines**2`` for the transaction's command lines; a partial one
    ``a + b*lines + d*table + e*table**2`` for the lines it writes and the rules and elements
    already in the table (``nft`` reads the table into its cache before applying, which
    dominates partial syncs of large tables). What a partial sync writes is the transaction's
    lines that differ from the previous sync's, plus one delete per element or chain that
    went away: upstream's partial sync writes only the changed services' chains and the map
    element deltas. Programming latency and sync records are :class:`KubeProxy`'s, as in
    iptables mode.
Scope and limitations
    Stale chains disappear at the sync that stops using them (upstream flushes them and
    deletes them a sync later: no packet can reach them in between, so the datapath is the
    same). The cleanup transaction's time is not charged separately.
Validation
    Every shipped world scenario runs in nftables mode and meets its expectations
    (``tests/world/test_nftables_world.py``); the calibration's points and fit errors are in
    ``nft_model.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sim.kubeproxy.nftables import compile_nft
from sim.model.cluster import ClusterState
from sim.model.config import KubeProxyConfig
from sim.nftables import NftRuleset, apply_nft
from sim.world.kubeproxy import node_view

CALIBRATION = Path(__file__).resolve().parent / "calibration" / "nft_model.json"
# Without the calibration file: the N = 1,000 and 10,000 full-sync points of the notes'
# kind of measurement (nft 1.0.6, 2 cores): about 0.8 s for 18,000 lines.
_FALLBACK = {"full": {"a": 0.02, "b": 4.4e-5, "c": 0.0},
             "partial": {"a": 0.02, "b": 4.4e-5, "d": 7e-7, "e": 0.0}}


@dataclass(frozen=True, slots=True)
class NftProgram:
    """One sync's result for a node view: the transaction, the table it leaves (shared, never
    run directly), its size, and its command lines (to count what a partial sync writes)."""

    text: str
    table: NftRuleset
    rules: int
    size: int  # rules + elements in the table afterwards
    lines: frozenset
    nat_chains: frozenset = frozenset()  # the KubeProxy loop's slot for iptables chain names


@dataclass(frozen=True, slots=True)
class NftTimeModel:
    """The ``nft -f`` duration fits (see the module docstring)."""

    full: dict
    partial: dict
    source: str

    def duration_s(self, lines: int, full: bool, table: int) -> float:
        if full:
            f = self.full
            return f["a"] + f["b"] * lines + f["c"] * lines * lines
        p = self.partial
        return p["a"] + p["b"] * lines + p["d"] * table + p["e"] * table * table


def load_nft_model(path: Path = CALIBRATION) -> NftTimeModel:
    """The calibration's fits, or the fallback when the file is absent."""
    if path.exists():
        data = json.loads(path.read_text())
        return NftTimeModel(data["full"], data["partial"],
                            f"nft -f calibration {path.name} ({data['full']['points']} "
                            f"points up to {data['full']['lines_max']} lines)")
    return NftTimeModel(_FALLBACK["full"], _FALLBACK["partial"], "fallback")


class NftBackend:
    """kube-proxy's nftables mode for the world's sync loop (see
    :class:`sim.world.kubeproxy.RulesCache` for the four methods)."""

    def __init__(self, config: KubeProxyConfig) -> None:
        self.config = config
        self.model = load_nft_model()
        self._by_key: dict[tuple, NftProgram] = {}
        self._by_text: dict[str, NftProgram] = {}
        self._state: ClusterState | None = None
        self._pending: tuple[bool, int] = (True, 0)
        self.compiles = 0
        self.applies = 0

    def program(self, state: ClusterState, node_name: str,
                existing_nat_chains: frozenset[str]) -> NftProgram:
        """The transaction ``node_name`` gets for ``state``."""
        if self._state is not state:
            self._by_key.clear()
            self._state = state
        node = state.node(node_name)
        # nftables mode's nodePortAddresses default is the node's primary addresses: the
        # node's own addresses belong in the key whatever the configuration says.
        key = (node_view(state, node_name, self.config), node.ips if node else ())
        prog = self._by_key.get(key)
        if prog is not None:
            return prog
        tx = compile_nft(state, node_name, self.config)
        self.compiles += 1
        text = tx.render()
        prog = self._by_text.get(text)
        if prog is None:
            table = apply_nft(text, source=f"kube-proxy nftables sync ({node_name})")
            stats = table.stats()
            prog = NftProgram(text, table, stats["rules"], stats["rules"] + stats["elements"],
                              frozenset(tx.commands))
            self._by_text[text] = prog
            self.applies += 1
        self._by_key[key] = prog
        return prog

    def written(self, prev: NftProgram | None, prog: NftProgram, full: bool) -> int:
        """Command lines this sync sends (all of them on a full sync)."""
        table = prev.size if prev is not None else 0
        if full or prev is None:
            n = len(prog.lines)
            full = True
        else:
            gone = sum(1 for line in prev.lines - prog.lines
                       if line.startswith(("add element", "add chain")))
            n = len(prog.lines - prev.lines) + gone
        # KubeProxy calls duration_s right after written (same sync, no yield in between).
        self._pending = (full, table)
        return n

    def duration_s(self, restore, written: int) -> float:
        """``nft -f`` time of ``written`` lines (the kernel calibration of ``nft -f``)."""
        full, table = self._pending
        return self.model.duration_s(written, full, table)

    def install(self, node, prog: NftProgram) -> None:
        """The node's table becomes ``prog``'s, keeping its live dynamic-set elements."""
        datapath = node.datapath
        old = datapath.nft_ruleset()
        new = prog.table.copy()
        if old is not None:
            for key, table in new.tables.items():
                before = old.tables.get(key)
                if before is None:
                    continue
                for name, s in table.sets.items():
                    prior = before.sets.get(name)
                    if s.dynamic and prior is not None and prior.key_types == s.key_types:
                        s.elements = {k: e for k, e in prior.elements.items()}
        datapath.load_nft(new)
