"""The IPVS mode's proxy backend: what kube-proxy's IPVS proxier does on a sync.

Model
    A sync compiles the node's :class:`~sim.kubeproxy.ipvs.IPVSRules`
    (``sim.kubeproxy.ipvs.compile_ipvs``: iptables payload, ipsets, kube-ipvs0 addresses,
    virtual and real servers) and installs them on the node's engine: the payload as the
    iptables ruleset (over the IPVS proxier's bootstrap jumps), the ipsets for ``-m set``, the
    IPVS table into the node's :class:`~sim.netfilter.ipvs.IPVSStage` and the virtual
    addresses as the node's own (kube-ipvs0).

    **Sync duration.** Unlike iptables mode, the IPVS proxier does not rewrite Services as
    rules: per sync (``pkg/proxy/ipvs/proxier.go`` ``syncProxyRules``) it

    * restores its small, fixed iptables payload (``RestoreAll`` of every line): the kernel
      calibration's restore time for that many rules (``sim/world/restore.py``);
    * brings each ipset up to date with one ``ipset add``/``ipset del`` *process* per changed
      member (``syncIPSetEntries`` -> ``utilipset`` ``AddEntry``/``DelEntry`` exec the
      ``ipset`` binary): :data:`IPSET_EXEC_S` each, measured on this machine (below);
    * adds, updates or deletes virtual servers and real servers and binds or unbinds
      kube-ipvs0 addresses with one netlink request each (``moby/ipvs``, ``netlink``):
      :data:`NETLINK_OP_S` each, an assumption (no IPVS in this kernel to time it; a
      generic-netlink round trip is tens of microseconds).

    So the duration is ``restore(payload rules) + IPSET_EXEC_S * member changes +
    NETLINK_OP_S * (virtual/real server and address changes)``; the first sync after a
    start counts every member and server as a change. The sync record's ``written`` is the
    number of changes.

    **Graceful termination** (``pkg/proxy/ipvs/graceful_termination.go``): a TCP real
    server that leaves the desired set while it has connections stays at weight 0 (the
    stage does ``GracefulDeleteRS``; later syncs pass it to the compiler as ``draining``, so
    it stays at weight 0, or returns to weight 1 if it is an endpoint again), and a process
    per node runs ``tryDeleteRs`` every :data:`RS_CHECK_DELETE_INTERVAL_S` (1 minute),
    deleting the real servers whose connections have all expired.
Scope and limitations
    The ipset exec cost was measured once (``ipset add T IP,tcp:80 -exist`` in a loop of 500
    inside a network namespace, 3 runs: 2.3-3.6 ms per process on the shared 2-core
    machine; median 2.8 ms); IPVS netlink costs are not measured. kube-proxy's
    ``--ipvs-min-sync-period`` / ``--ipvs-sync-period`` are the sync loop's periods (the
    config's effective periods in ipvs mode).
Validation
    ``tests/world/test_ipvs_backend.py``: every shipped world scenario runs in IPVS mode
    with its expectations; the IPVS-mode scenario's round-robin evenness and graceful
    termination; the duration model's arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.iptables import apply_payload, parse_restore
from sim.iptables.ruleset import Ruleset
from sim.ipset import IPSet
from sim.ipvs import IPVSTable
from sim.kubeproxy.ipvs import bootstrap_payload, compile_ipvs
from sim.model.cluster import ClusterState
from sim.model.config import KubeProxyConfig
from sim.netfilter.engine import ip_str
from sim.netfilter.ipvs import apply, attach
from sim.world.restore import RestoreModel

IPSET_EXEC_S = 0.0028  # one `ipset add/del` process (measured, see the module docstring)
NETLINK_OP_S = 50e-6  # one IPVS / address netlink request (assumed)
RS_CHECK_DELETE_INTERVAL_S = 60.0  # graceful_termination.go rsCheckDeleteInterval


@dataclass(frozen=True, slots=True)
class IPVSProgram:
    """What one IPVS sync produces for a node."""

    ruleset: Ruleset
    rules: int
    nat_chains: frozenset[str]
    ipsets: tuple[IPSet, ...]
    members: frozenset[tuple[str, str]]
    table: IPVSTable
    servers: frozenset[tuple]
    bound: tuple[str, ...]
    deletions: int = 0


def _servers(table: IPVSTable) -> frozenset[tuple]:
    """Every virtual server (with scheduler and persistence) and real server (with weight):
    one netlink request per element that differs between two syncs."""
    out: set[tuple] = set()
    for vs in table.virtual_servers:
        key = (vs.protocol, vs.address, vs.port)
        out.add(key + (vs.scheduler, vs.persistence_s))
        out.update(key + (rs.address, rs.port, rs.weight) for rs in vs.real_servers)
    return frozenset(out)


class IPVSBackend:
    """The IPVS proxier's sync for every node of a world (see
    :class:`sim.world.kubeproxy.RulesCache` for the four methods a backend has)."""

    def __init__(self, config: KubeProxyConfig) -> None:
        self.config = config
        self.base: Ruleset = apply_payload(parse_restore(bootstrap_payload().render()),
                                           Ruleset())
        self._applied: dict[str, tuple[Ruleset, int, frozenset[str]]] = {}
        self._nodes: dict[str, object] = {}  # node name -> its engine (once installed)
        self._pending = (0, 0, 0)
        self.env = None
        self.compiles = 0  # compile_ipvs calls (run statistics, as RulesCache counts them)
        self.applies = 0  # distinct payloads parsed and applied

    def bind(self, env) -> None:
        """The world's clock (for connection expiry and the graceful-deletion loop)."""
        self.env = env

    def _now(self) -> float:
        return self.env.now if self.env is not None else 0.0

    def _draining(self, node_name: str) -> frozenset[tuple]:
        nf = self._nodes.get(node_name)
        if nf is None or nf.ipvs is None:
            return frozenset()
        return frozenset((k[0][0], ip_str(k[0][1]), k[0][2], k[1], k[2])
                         for k in nf.ipvs.terminating)

    def program(self, state: ClusterState, node_name: str,
                existing_nat_chains: frozenset[str]) -> IPVSProgram:
        """Compile ``node_name``'s IPVS rules for ``state``."""
        rules = compile_ipvs(state, node_name, self.config, draining=self._draining(node_name))
        self.compiles += 1
        text = rules.payload.render()
        hit = self._applied.get(text)
        if hit is None:
            ruleset = apply_payload(parse_restore(text), self.base, noflush=True)
            count = sum(1 for t in rules.payload.tables for line in t.lines
                        if line.startswith("-A "))
            nat = rules.payload.table("nat")
            chains = frozenset(c.name for c in nat.chains) if nat else frozenset()
            hit = self._applied[text] = (ruleset, count, chains)
            self.applies += 1
        members = frozenset((s.name, m) for s in rules.ipsets for m in s.members)
        return IPVSProgram(hit[0], hit[1], hit[2], rules.ipsets, members, rules.ipvs,
                           _servers(rules.ipvs), rules.bound_addresses)

    def written(self, prev: IPVSProgram | None, prog: IPVSProgram, full: bool) -> int:
        """Changes this sync makes: ipset members, servers and addresses that differ from the
        previous sync (all of them on the first)."""
        if prev is None:
            members, servers = len(prog.members), len(prog.servers) + len(prog.bound)
        else:
            members = len(prog.members ^ prev.members)
            servers = (len(prog.servers ^ prev.servers)
                       + len(set(prog.bound) ^ set(prev.bound)))
        self._pending = (prog.rules, members, servers)
        return members + servers

    def duration_s(self, restore: RestoreModel, written: int) -> float:
        """The sync's time: the payload's restore, one ``ipset`` process per member change,
        one netlink request per server or address change (see the module docstring)."""
        rules, members, servers = self._pending
        return restore.duration_s(rules) + IPSET_EXEC_S * members + NETLINK_OP_S * servers

    def install(self, node, prog: IPVSProgram) -> None:
        """The payload, sets, IPVS table and kube-ipvs0 addresses take effect on ``node``."""
        dp = node.datapath
        dp.load(prog.ruleset)
        nf = getattr(dp, "nf", None)
        if nf is None:
            return
        if nf.ipvs is None:
            attach(nf, config=self.config.ipvs)
            self._nodes[node.name] = nf
            if self.env is not None:
                self.env.process(self._try_delete_rs(nf))
        nf.ipsets.load(prog.ipsets)
        apply(nf, prog.table, graceful=True, now=self._now(), addresses=prog.bound)

    def cleanup(self, node) -> None:
        """``kube-proxy --cleanup`` in IPVS mode (``CleanupLeftovers``): virtual servers
        flushed, kube-ipvs0's addresses gone, ipsets destroyed (the ruleset is emptied by the
        caller)."""
        nf = getattr(node.datapath, "nf", None)
        if nf is None or nf.ipvs is None:
            return
        nf.ipsets.load(())
        apply(nf, IPVSTable(), graceful=False, now=self._now(), addresses=())

    def _try_delete_rs(self, nf):
        """graceful_termination.go ``tryDeleteRs``, every minute."""
        env = self.env
        while True:
            yield env.timeout(RS_CHECK_DELETE_INTERVAL_S)
            nf.ipvs.delete_drained(env.now)


__all__ = ["IPSET_EXEC_S", "IPVSBackend", "IPVSProgram", "NETLINK_OP_S",
           "RS_CHECK_DELETE_INTERVAL_S"]
