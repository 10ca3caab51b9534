"""What a run observed: connections, control-plane changes, syncs, programming latency.

Model code reports here and never prints or opens files (``sim.scenario`` writes results).
Rows hold simulated times only, so two runs with the same seed record identical rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ConnectionRecord:
    """One connection attempt (TCP) or datagram exchange (UDP) and its outcome.

    ``outcome`` is ``ok`` (a server answered), ``refused`` (RST or ICMP port unreachable),
    ``reset`` (a RST after the handshake completed: the 1.0 userspace proxy closing a connection
    it accepted but could not forward),
    ``timeout`` (nothing came back in time), ``unresolved`` (the target did not exist when
    the client tried) or ``error`` (the client's own ``connect()`` failed; ``error`` holds the
    errno name, ``EADDRNOTAVAIL`` when no ephemeral port was free). ``elapsed_s`` is the time to the first byte of the answer for ``ok``,
    to the error for ``refused`` and the timeout for ``timeout``. ``source_seen`` is the
    address the server saw as the peer; ``entry_node`` the node the first packet entered.
    """

    id: int
    flow: str
    client: str
    client_ip: str
    proto: str
    target: str
    start_s: float
    outcome: str = ""
    server: str = ""
    server_node: str = ""
    source_seen: str = ""
    elapsed_s: float = 0.0
    error: str = ""


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """An apiserver change (the upstream SLI's trigger time is ``time_s``)."""

    change_id: int
    time_s: float
    description: str


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """One kube-proxy ``syncProxyRules`` run on a node: ``rules`` in the resulting tables
    (``sync_proxy_rules_iptables_total``), ``written`` rule lines in the restore payload (all
    of them in a full sync, fewer in a partial one)."""

    node: str
    start_s: float
    duration_s: float
    rules: int
    full: bool
    written: int = 0


@dataclass(frozen=True, slots=True)
class ProgrammingRecord:
    """Network programming latency of one change on one node: change -> rules in effect."""

    node: str
    change_id: int
    latency_s: float


@dataclass
class Recorder:
    """Append-only store of everything a run observed."""

    connections: list[ConnectionRecord] = field(default_factory=list)
    changes: list[ChangeRecord] = field(default_factory=list)
    syncs: list[SyncRecord] = field(default_factory=list)
    programming: list[ProgrammingRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def new_connection(self, flow: str, client: str, client_ip: str, proto: str, target: str,
                       start_s: float) -> ConnectionRecord:
        rec = ConnectionRecord(len(self.connections), flow, client, client_ip, proto, target,
                               start_s)
        self.connections.append(rec)
        return rec

    def change(self, time_s: float, description: str) -> int:
        cid = len(self.changes)
        self.changes.append(ChangeRecord(cid, time_s, description))
        return cid
