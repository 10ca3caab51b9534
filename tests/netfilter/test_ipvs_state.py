"""Invariants of the IPVS connection table under random traffic, table changes and time.

A hypothesis state machine sends new connections, client packets, replies and FINs,
re-programs the virtual server (real servers leaving and coming back, weights, graceful or
not), runs kube-proxy's drained-server deletion and lets time pass; after every step:

* each destination's active + inactive counters equal its live connections, split by
  whether they are ESTABLISHED TCP (``set_tcp_state``), and its persistent counter equals
  its live templates;
* a live connection keeps the real server it was scheduled to until it expires or its real
  server is deleted (then its next packet is dropped);
* no new connection is scheduled to a weight-0 or deleted real server.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sim.ipvs import IPVSTable, RealServer, VirtualServer
from sim.netfilter.ipvs import S_ESTABLISHED, ip_int, stage_for

VIP = "10.96.0.10"
SERVERS = ("10.244.1.5", "10.244.2.5", "10.244.3.5", "10.244.4.5")
CLIENTS = tuple(ip_int(f"10.0.0.{i}") for i in range(1, 4))


def table(present: tuple[bool, ...], weights: tuple[int, ...], scheduler: str,
          persistence: int) -> IPVSTable:
    rss = tuple(RealServer(a, 8080, w) for a, p, w in zip(SERVERS, present, weights) if p)
    return IPVSTable((VirtualServer("tcp", VIP, 80, scheduler, persistence, rss),))


class IPVSMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.stage = None
        self.bound: dict[tuple[int, int], tuple[str, int]] = {}  # (client, port) -> server

    @rule(scheduler=st.sampled_from(["rr", "wrr", "lc", "wlc", "sh", "dh"]),
          persistence=st.sampled_from([0, 30]))
    def start(self, scheduler, persistence) -> None:
        if self.stage is None:
            self.scheduler, self.persistence = scheduler, persistence
            self.stage = stage_for(table((True,) * 4, (1, 2, 1, 3), scheduler, persistence))

    @rule(present=st.tuples(*[st.booleans()] * 4), weights=st.tuples(*[st.integers(0, 3)] * 4),
          graceful=st.booleans())
    def reprogram(self, present, weights, graceful) -> None:
        if self.stage is not None:
            self.stage.apply(table(present, weights, self.scheduler, self.persistence),
                             graceful=graceful, now=self.now)

    @rule(client=st.sampled_from(CLIENTS), port=st.integers(1000, 1005),
          flags=st.sampled_from(["S", "A", "FA", "R"]))
    def client_packet(self, client, port, flags) -> None:
        if self.stage is None:
            return
        svc = self.stage.services[("tcp", ip_int(VIP), 80)]
        before = self.stage.conns_in.get(("tcp", client, port, ip_int(VIP), 80))
        action, cp = self.stage.request("tcp", client, port, ip_int(VIP), 80, flags,
                                        self.now, False)
        if action == "nat":
            if cp is before:
                assert (cp.dest.address, cp.dest.port) == self.bound[(client, port)]
            else:
                assert cp.dest in svc.dests and cp.dest.weight > 0 or cp.control is not None
            self.bound[(client, port)] = (cp.dest.address, cp.dest.port)
        if action == "drop":
            assert not cp.alive

    @rule(client=st.sampled_from(CLIENTS), port=st.integers(1000, 1005),
          flags=st.sampled_from(["SA", "A", "FA", "R"]))
    def server_reply(self, client, port, flags) -> None:
        if self.stage is None:
            return
        cp = self.stage.conns_in.get(("tcp", client, port, ip_int(VIP), 80))
        if cp is not None and cp.alive:
            assert self.stage.reply("tcp", cp.daddr, cp.dport, client, port, flags,
                                    self.now) is cp

    @rule(seconds=st.sampled_from([0.5, 5.0, 30.0, 65.0, 130.0, 1000.0]))
    def wait(self, seconds) -> None:
        self.now += seconds

    @rule()
    def delete_drained(self) -> None:
        if self.stage is not None:
            self.stage.delete_drained(self.now)

    @invariant()
    def counters_match_connections(self) -> None:
        if self.stage is None:
            return
        self.stage.expire(self.now)
        dests = {id(d): d for svc in self.stage.services.values() for d in svc.dests}
        for cp in self.stage.conns_in.values():
            dests.setdefault(id(cp.dest), cp.dest)
        for d in dests.values():
            mine = [c for c in self.stage.conns_in.values() if c.dest is d and c.alive]
            active = sum(1 for c in mine if c.state == S_ESTABLISHED)
            assert (d.activeconns, d.inactconns) == (active, len(mine) - active)
            temps = [t for t in self.stage.templates.values() if t.dest is d and t.alive]
            assert d.persistconns >= len(temps)

    @invariant()
    def terminating_servers_have_weight_zero(self) -> None:
        if self.stage is not None:
            assert all(d.weight == 0 for d in self.stage.terminating.values())


TestIPVSMachine = IPVSMachine.TestCase
