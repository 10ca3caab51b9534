"""kube-proxy on each node: watch, rate-limited syncs, modelled restore time.

Model
    The control plane hands each node's kube-proxy a new :class:`~sim.model.ClusterState` after
    the watch delay (``notify``). kube-proxy's sync loop is upstream's ``BoundedFrequencyRunner``
    (``pkg/util/async/bounded_frequency_runner.go``) as the iptables proxier builds it
    (``NewProxier``: ``minInterval = minSyncPeriod``, ``burstSyncs = 2``): a change requests a
    sync, a token bucket of two tokens refilled once per ``minSyncPeriod`` lets it run at once
    or defers it, and a sync also runs ``syncPeriod`` after the previous one.
    Each sync compiles the rules for the newest state it has seen
    (:func:`sim.kubeproxy.iptables.compile_rules`), charges the restore time of the payload's
    rule count (:mod:`sim.world.restore`) and then swaps the node's ruleset in. Every change
    the sync covered gets its *network programming latency* on this node (change time to the
    rules in effect: the upstream ``network_programming_duration_seconds`` SLI), and every sync
    its duration (``sync_proxy_rules_duration_seconds``).

    Nodes share work: :class:`RulesCache` compiles once per distinct *node view* of a state
    (what the compiler reads of the node: local endpoints of Local-policy services, its pod
    CIDR for ``detectLocalMode: NodeCIDR``, its addresses for ``nodePortAddresses``) and parses
    and applies each distinct payload text once; nodes then hold the same immutable ruleset.

Scope and limitations
    Syncs are full (the whole payload is written) after kube-proxy starts and when the last
    full sync is older than upstream's ``proxyutil.FullSyncPeriod`` (one hour); otherwise they
    are partial, as upstream's ``syncProxyRules`` does since ``MinimizeIPTablesRestore``: the
    top-level chains (KUBE-SERVICES, KUBE-NODEPORTS, the filter chains, ...) are written whole,
    all chains of a service port when any of them changed (upstream decides from the
    Service and endpoint change trackers; a chain-content change is the same event here).
    Restore time follows the written lines. Compilation itself costs no simulated time.
    The watch delay is the same for every node.
Validation
    The sync timing (burst, deferral, periodic resync, programming latency) is unit-tested
    in ``tests/world/test_kubeproxy.py`` against hand-computed schedules.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from sim.iptables.restore import apply_payload, parse_restore
from sim.iptables.ruleset import Ruleset
from sim.kubeproxy.hashing import is_service_chain_name
from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.model.cluster import ClusterState
from sim.model.config import ConntrackConfig, KubeProxyConfig
from sim.model.objects import ServiceType, TrafficPolicy
from sim.world.recorder import ProgrammingRecord, Recorder, SyncRecord
from sim.world.restore import RestoreModel

BURST_SYNCS = 2  # NewProxier: burstSyncs := 2
FULL_SYNC_PERIOD_S = 3600.0  # pkg/proxy/util: FullSyncPeriod = 1 * time.Hour


def conntrack_max(conntrack: ConntrackConfig, cpus: int) -> int | None:
    """The ``nf_conntrack_max`` kube-proxy writes at start, or ``None`` when it leaves the
    kernel's value alone.

    Upstream ``getConntrackMax`` (``cmd/kube-proxy/app/server_linux.go``): with ``maxPerCore``
    > 0 the limit is ``maxPerCore * numCPU``, raised to ``min`` when that is smaller;
    ``maxPerCore: 0`` skips the sysctl.

    >>> conntrack_max(ConntrackConfig(max_per_core=32768, min=131072), 8)
    262144
    >>> conntrack_max(ConntrackConfig(max_per_core=32768, min=131072), 2)
    131072
    >>> conntrack_max(ConntrackConfig(max_per_core=0), 8) is None
    True
    """
    if conntrack.max_per_core <= 0:
        return None
    return max(conntrack.max_per_core * cpus, conntrack.min)


@dataclass(frozen=True, slots=True)
class Program:
    """What one sync produces for a node: the applied ruleset, its size, and its rule lines
    per ``(table, chain)`` (to count what a partial sync writes)."""

    ruleset: Ruleset | None
    rules: int
    nat_chains: frozenset[str]
    chains: dict
    deletions: int
    groups: tuple = ()  # per service port: the (table, chain) keys of its chains


def service_groups(chains: dict) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The per-service chains of a payload grouped by service port: KUBE-SVC/SVL/EXT/FW
    chains sharing a hash suffix, plus the KUBE-SEP chains they jump to. Service chains in
    no group (none in kube-proxy's output) form groups of their own."""
    by_suffix: dict[str, set[tuple[str, str]]] = {}
    for key in chains:
        name = key[1]
        for prefix in ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-"):
            if name.startswith(prefix):
                by_suffix.setdefault(name[len(prefix):], set()).add(key)
    grouped: set[tuple[str, str]] = set()
    out = []
    for suffix in sorted(by_suffix):
        members = set(by_suffix[suffix])
        for table, name in list(members):
            for line in chains[(table, name)]:
                target = line.rsplit(" -j ", 1)[-1]
                if target.startswith("KUBE-SEP-"):
                    members.add((table, target))
        grouped |= members
        out.append(tuple(sorted(members)))
    out.extend((k,) for k in sorted(chains) if is_service_chain_name(k[1]) and k not in grouped)
    return tuple(out)


def partial_written(prev: Program | None, new: Program) -> int:
    """Rule lines a partial sync from ``prev`` to ``new`` writes.

    Upstream's ``syncProxyRules`` with ``tryPartialSync`` writes every top-level chain whole,
    skips the chains of service ports whose Service and endpoints did not change, and writes
    *all* chains of a changed service port; stale chains cost one ``-X`` line each.
    """
    if prev is None:
        return new.rules + new.deletions
    old = prev.chains
    total = new.deletions
    for (table, chain), lines in new.chains.items():
        if not is_service_chain_name(chain):
            total += len(lines)
    for group in new.groups:
        if any(old.get(k) != new.chains[k] for k in group):
            total += sum(len(new.chains[k]) for k in group)
    return total


def node_view(state: ClusterState, node_name: str, config: KubeProxyConfig) -> tuple:
    """Everything of ``node_name`` that ``compile_rules`` reads; equal views give equal payloads.

    For Services with a Local traffic policy, the node's own endpoints (kube-proxy's
    ``isLocal``); the pod CIDRs under ``detectLocalMode: NodeCIDR``; the node's addresses when
    ``nodePortAddresses`` is set (per-address KUBE-NODEPORTS rules).
    """
    local: list[tuple[str, tuple[str, ...]]] = []
    for svc in _local_policy_services(state):
        mine = tuple(sorted(a for sl in state.slices_for(svc) for ep in sl.endpoints
                            if ep.node_name == node_name for a in ep.addresses))
        if mine:
            local.append((svc.key, mine))
    node = state.node(node_name)
    cidrs = (node.pod_cidrs or (node.pod_cidr,)) if node and config.detect_local_mode == "NodeCIDR" else ()
    ips = node.ips if node and config.node_port_addresses else ()
    return tuple(local), tuple(cidrs), tuple(ips)


_LOCAL_CACHE: dict[int, tuple[ClusterState, tuple]] = {}


def _local_policy_services(state: ClusterState) -> tuple:
    """Services with a Local traffic policy kube-proxy honours (computed once per state)."""
    hit = _LOCAL_CACHE.get(id(state))
    if hit is not None and hit[0] is state:
        return hit[1]
    out = []
    for svc in state.services:
        external_local = (svc.external_traffic_policy == TrafficPolicy.LOCAL
                          and (svc.type in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)
                               or bool(svc.external_ips)))
        if external_local or svc.internal_traffic_policy == TrafficPolicy.LOCAL:
            out.append(svc)
    _LOCAL_CACHE.clear()
    _LOCAL_CACHE[id(state)] = (state, tuple(out))
    return tuple(out)


class RulesCache:
    """Compile and apply rules once per distinct node view and payload (shared by all nodes).

    This is the iptables mode's *proxy backend*: what :class:`KubeProxy` calls on a sync.
    Every mode's backend (:mod:`sim.world.proxymodes`) has the same four methods:
    ``program(state, node_name, existing_nat_chains) -> Program``-like (with ``rules``,
    ``deletions`` and ``nat_chains``), ``written(prev, prog, full) -> int`` (what the sync
    writes), ``duration_s(restore, written) -> float`` (the sync's modelled time) and
    ``install(node, prog)`` (the program takes effect on the node); optionally
    ``attach(world)`` when the world is built and ``stopped(node)`` when a node's kube-proxy
    exits. Its ``config`` is the configuration the sync loop runs with.
    """

    def __init__(self, config: KubeProxyConfig, apply: bool = True) -> None:
        self.config = config
        # apply=False: a control-plane-only backend (sweeps' churn runs, no traffic): the
        # payload is compiled and measured but never parsed into a Ruleset nor installed.
        self.apply = apply
        self.base: Ruleset = apply_payload(parse_restore(bootstrap_payload(config).render()),
                                           Ruleset())
        self._by_key: dict[tuple, Program] = {}
        self._applied: dict[str, Program] = {}
        self._state: ClusterState | None = None
        self._partial: dict[tuple[int, int], tuple] = {}
        self.compiles = 0
        self.applies = 0

    def program(self, state: ClusterState, node_name: str,
                existing_nat_chains: frozenset[str]) -> Program:
        """The ruleset ``node_name`` gets for ``state`` (after kube-proxy's bootstrap jumps)."""
        if self._state is not state:
            # A new state: forget the previous state's views (applied programs are kept, a
            # later state often yields a payload seen before, e.g. after a pod comes back).
            self._by_key.clear()
            self._state = state
        key = (node_view(state, node_name, self.config), existing_nat_chains)
        prog = self._by_key.get(key)
        if prog is not None:
            return prog
        payload = compile_rules(state, node_name, self.config,
                                existing_nat_chains=existing_nat_chains)
        self.compiles += 1
        text = payload.render()
        prog = self._applied.get(text)
        if prog is None:
            ruleset = (apply_payload(parse_restore(text), self.base, noflush=True) if self.apply
                       else None)
            nat = payload.table("nat")
            deleted = {line[3:] for line in nat.lines if line.startswith("-X ")} if nat else set()
            chains = frozenset(c.name for c in nat.chains if c.name not in deleted) if nat else frozenset()
            by_chain: dict[tuple[str, str], list[str]] = {}
            for t in payload.tables:
                for line in t.lines:
                    if line.startswith("-A "):
                        by_chain.setdefault((t.name, line[3:line.index(" ", 3)]), []).append(line)
            rules = sum(len(v) for v in by_chain.values())
            chain_lines = {k: tuple(v) for k, v in by_chain.items()}
            prog = Program(ruleset, rules, chains, chain_lines, len(deleted),
                           service_groups(chain_lines))
            self._applied[text] = prog
            self.applies += 1
        self._by_key[key] = prog
        return prog

    def written(self, prev: Program | None, prog: Program, full: bool) -> int:
        """Rule lines this sync writes (all of them on a full sync). Nodes that go from the
        same program to the same program write the same lines: computed once per pair."""
        if full:
            return prog.rules + prog.deletions
        hit = self._partial.get((id(prev), id(prog)))
        if hit is not None and hit[0] is prev and hit[1] is prog:
            return hit[2]
        n = partial_written(prev, prog)
        if len(self._partial) > 64:
            self._partial.clear()
        self._partial[(id(prev), id(prog))] = (prev, prog, n)
        return n

    def duration_s(self, restore: RestoreModel, written: int) -> float:
        """``iptables-restore`` time of ``written`` lines (the kernel calibration)."""
        return restore.duration_s(written)

    def install(self, node, prog: Program) -> None:
        """Swap the node's ruleset for ``prog``'s (nothing for a control-plane-only cache)."""
        if self.apply:
            node.datapath.load(prog.ruleset)


class KubeProxy:
    """One node's kube-proxy. Constructed idle; :meth:`start` runs its sync loop."""

    def __init__(self, env: simpy.Environment, node, config: KubeProxyConfig, rules: RulesCache,
                 restore: RestoreModel, recorder: Recorder) -> None:
        self.env = env
        self.node = node
        self.config = config
        self.rules = rules
        self.restore = restore
        self.recorder = recorder
        self.state: ClusterState | None = None
        self.pending: list[tuple[int, float]] = []  # (change id, change time) not yet synced
        self.running = False
        self.epoch = 0
        self.tokens = float(BURST_SYNCS)
        self.tokens_at = 0.0
        self.last_sync_end = -float("inf")
        self.last_full_sync = -float("inf")
        self.need_full = True
        self.loaded: Program | None = None
        self.nat_chains: frozenset[str] = frozenset()
        self._wake = env.event()

    def start(self, programmed: bool = False) -> None:
        """Start (or restart) the sync loop; the first sync runs at once.

        With ``programmed`` the node is in steady state: the rules for the current state are
        in effect already (kube-proxy has been running before the simulation starts), so they
        are loaded now without restore time and the loop waits for changes.
        """
        self.running = True
        self.epoch += 1
        self.tokens = float(BURST_SYNCS)
        self.tokens_at = self.env.now
        self.nat_chains = frozenset()
        self.need_full = True  # a (re)started kube-proxy's first sync is full
        self.loaded = None
        if programmed and self.state is not None:
            prog = self.rules.program(self.state, self.node.name, self.nat_chains)
            self.rules.install(self.node, prog)
            self.nat_chains = prog.nat_chains
            self.loaded = prog
            self.last_sync_end = self.last_full_sync = self.env.now
            self.need_full = False
        self.env.process(self._loop(self.epoch, first=not programmed))

    def stop(self) -> None:
        """Stop the loop (node down, or the kube-proxy process killed)."""
        self.running = False
        self.epoch += 1
        stopped = getattr(self.rules, "stopped", None)
        if stopped is not None:  # a backend with processes of its own (userspace)
            stopped(self.node)
        self._poke()

    def notify(self, state: ClusterState, change_id: int, change_time: float) -> None:
        """The informer delivered ``state`` (caused by change ``change_id`` at ``change_time``)."""
        self.state = state
        self.pending.append((change_id, change_time))
        self._poke()

    def _poke(self) -> None:
        if not self._wake.triggered:
            self._wake.succeed()

    def _take_token(self) -> float:
        """Refill the bucket and return how long until a token is available (0: now)."""
        rate = 1.0 / self.config.min_sync_period_s if self.config.min_sync_period_s > 0 else float("inf")
        now = self.env.now
        self.tokens = min(float(BURST_SYNCS), self.tokens + (now - self.tokens_at) * rate)
        self.tokens_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate

    def _loop(self, epoch: int, first: bool):
        env = self.env
        while self.running and self.epoch == epoch:
            if not first and not self.pending:
                period_left = self.last_sync_end + self.config.sync_period_s - env.now
                if period_left > 0:
                    self._wake = env.event()
                    yield self._wake | env.timeout(period_left)
                    if not (self.running and self.epoch == epoch):
                        return
                    if not self.pending and env.now < self.last_sync_end + self.config.sync_period_s:
                        continue
            first = False
            wait = self._take_token()
            while wait > 0:
                yield env.timeout(wait)
                if not (self.running and self.epoch == epoch):
                    return
                wait = self._take_token()
            if self.state is None:
                continue
            yield from self._sync(epoch)

    def _sync(self, epoch: int):
        env = self.env
        start = env.now
        state, covered, self.pending = self.state, self.pending, []
        prog = self.rules.program(state, self.node.name, self.nat_chains)
        # proxier.go syncProxyRules: doFullSync := needFullSync || time since the last full
        # sync > FullSyncPeriod.
        full = self.need_full or start - self.last_full_sync > FULL_SYNC_PERIOD_S
        written = self.rules.written(self.loaded, prog, full)
        duration = self.rules.duration_s(self.restore, written)
        yield env.timeout(duration)
        if not (self.running and self.epoch == epoch):
            self.pending = covered + self.pending
            return
        self.rules.install(self.node, prog)
        self.nat_chains = prog.nat_chains
        self.loaded = prog
        self.last_sync_end = env.now
        if full:
            self.last_full_sync = start
            self.need_full = False
        self.recorder.syncs.append(SyncRecord(self.node.name, start, duration, prog.rules, full,
                                              written))
        for change_id, t in covered:
            self.recorder.programming.append(ProgrammingRecord(self.node.name, change_id, env.now - t))
