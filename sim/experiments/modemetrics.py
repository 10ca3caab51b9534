"""Per-mode measurements of a sweep point: what only the mode's compiler output can tell.

Everything else a point measures (sync time, walk lengths, new connections, programming
latency, memory) goes through mode-independent interfaces: the world's proxy backend
(:mod:`sim.world.proxymodes`) and the node's datapath. What differs per mode is the compiler
and what its output holds: rules and chains per table in iptables mode; tables, chains, rules,
sets and elements in nftables mode; virtual and real servers, ipsets and their entries in
IPVS mode. A mode joins the sweeps by adding its :class:`ModeMetrics` to :data:`MODE_METRICS`
(and its name to ``sim.kubeproxy.modes.BUILT_MODES``).

Every mode also reports ``rules_total`` (``table="all"``): the number of entries its kernel
program holds, the quantity plotted against Services for every mode. A built mode without an
entry is measured through its world backend alone (:func:`metrics_for`): ``rules_total`` from
the program its backend installed in the world, without ``compile_seconds`` and per-table
counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sim.kubeproxy.iptables import compile_rules
from sim.kubeproxy.ipvs import compile_ipvs, ipvs_stats
from sim.kubeproxy.nftables import compile_nft, transaction_stats
from sim.model.cluster import ClusterState
from sim.model.config import KubeProxyConfig
from sim.world.kubeproxy import RulesCache, node_view
from sim.world.nftables_backend import NftBackend, NftProgram

Row = tuple[str, str, str, float]  # (metric, table, label, value)


@dataclass(frozen=True)
class ModeMetrics:
    """``compile(state, node, config)`` returns the mode's compiler output for one node (a
    full sync); ``counts(output)`` the rows describing its size; ``control_plane(config)``,
    when given, a proxy backend (:mod:`sim.world.proxymodes`) that computes what a sync writes
    and how long it takes without building the kernel program, for the churn run (no traffic
    follows it); without one the churn run keeps the world's own backend."""

    compile: Callable[[ClusterState, str, KubeProxyConfig], object]
    counts: Callable[[object], list[Row]]
    control_plane: Callable[[KubeProxyConfig], object] | None = None


def _iptables_compile(state: ClusterState, node: str, config: KubeProxyConfig):
    return compile_rules(state, node, config)


def iptables_counts(payload) -> list[Row]:
    """Rules (``-A`` lines) and chains per table of an iptables-restore payload, named after
    kube-proxy's gauge ``sync_proxy_rules_iptables_total{table}``
    (``pkg/proxy/metrics/metrics.go``, ``IPTablesRulesTotal``)."""
    rows: list[Row] = []
    total = 0
    for t in payload.tables:
        rules = sum(1 for line in t.lines if line.startswith("-A "))
        total += rules
        rows.append(("sync_proxy_rules_iptables_total", t.name, "", float(rules)))
        rows.append(("chains_total", t.name, "", float(len(t.chains))))
    rows.append(("rules_total", "all", "", float(total)))
    return rows


def _nftables_compile(state: ClusterState, node: str, config: KubeProxyConfig):
    return compile_nft(state, node, config)


def nftables_counts(tx) -> list[Row]:
    """What the nftables proxier's full-sync transaction leaves in table ``ip kube-proxy``
    (``sim.kubeproxy.nftables.transaction_stats``): rules, chains (base chains among them),
    sets, maps and their elements. kube-proxy has no size gauge in nftables mode; the names
    follow the iptables one's."""
    s = transaction_stats(tx)
    table = "ip kube-proxy"
    return [("nftables_rules_total", table, "", float(s.rules)),
            ("chains_total", table, "", float(s.chains)),
            ("nftables_base_chains_total", table, "", float(s.base_chains)),
            ("nftables_sets_total", table, "", float(s.sets)),
            ("nftables_maps_total", table, "", float(s.maps)),
            ("nftables_elements_total", table, "", float(s.elements)),
            ("rules_total", "all", "", float(s.rules))]


def _ipvs_compile(state: ClusterState, node: str, config: KubeProxyConfig):
    return compile_ipvs(state, node, config)


def ipvs_counts(rules) -> list[Row]:
    """What the IPVS proxier programs (``sim.kubeproxy.ipvs.ipvs_stats``): its iptables rules
    and chains per table (kube-proxy's ``sync_proxy_rules_iptables_total`` gauge), the ipsets
    and their entries, the virtual and real servers and the addresses bound to
    ``kube-ipvs0``. ``rules_total`` counts every entry: iptables rules, ipset entries,
    virtual and real servers."""
    s = ipvs_stats(rules)
    rows: list[Row] = []
    for t in rules.payload.tables:
        rows.append(("sync_proxy_rules_iptables_total", t.name, "", float(dict(s.rules)[t.name])))
        rows.append(("chains_total", t.name, "", float(len(t.chains))))
    entries = sum(n for _, n in s.members)
    rows += [("ipset_sets_total", "", "", float(s.sets)),
             ("ipset_entries_total", "", "", float(entries)),
             ("ipvs_virtual_servers_total", "", "", float(s.virtual_servers)),
             ("ipvs_real_servers_total", "", "", float(s.real_servers)),
             ("ipvs_bound_addresses_total", "", "", float(s.bound_addresses)),
             ("rules_total", "all", "", float(sum(n for _, n in s.rules) + entries
                                             + s.virtual_servers + s.real_servers))]
    return rows


class NftControlPlane(NftBackend):
    """The nftables world backend without a kernel: each sync's transaction is compiled and
    sized (``transaction_stats``: what ``apply_nft`` of the full transaction on an empty
    table holds) but never parsed into a ruleset nor installed. What a sync writes and how
    long it takes are the backend's own (``written``, ``duration_s``)."""

    def program(self, state: ClusterState, node_name: str,
                existing_nat_chains: frozenset[str]) -> NftProgram:
        if self._state is not state:
            self._by_key.clear()
            self._state = state
        node = state.node(node_name)
        key = (node_view(state, node_name, self.config), node.ips if node else ())
        prog = self._by_key.get(key)
        if prog is None:
            tx = compile_nft(state, node_name, self.config)
            self.compiles += 1
            s = transaction_stats(tx)
            prog = NftProgram(tx.render(), None, s.rules, s.rules + s.elements, frozenset(tx.commands))
            self._by_key[key] = prog
        return prog

    def install(self, node, prog: NftProgram) -> None:
        """Nothing: no traffic follows the churn run."""


MODE_METRICS: dict[str, ModeMetrics] = {
    "iptables": ModeMetrics(_iptables_compile, iptables_counts,
                            lambda config: RulesCache(config, apply=False)),
    "nftables": ModeMetrics(_nftables_compile, nftables_counts, NftControlPlane),
    "ipvs": ModeMetrics(_ipvs_compile, ipvs_counts),
}



def metrics_for(mode: str) -> ModeMetrics | None:
    """The mode's :class:`ModeMetrics`, or None: the point then reads ``rules_total`` from
    the program the mode's world backend installed (``Program.rules``), and has no
    ``compile_seconds``."""
    return MODE_METRICS.get(mode)
