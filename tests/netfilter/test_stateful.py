"""A stateful machine over one node: new connections, later packets, rule reloads that
remove or rescale a Service, and time passing. Invariant: a connection's later packets keep
the endpoint its first packet got, while its conntrack entry lives, whatever the rules say."""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sim.model.packet import Packet

from tests.netfilter.conftest import engine, ruleset


def _rules(endpoints: list[str]) -> str:
    lines = ["*nat", ":KUBE-SERVICES - [0:0]", ":SVC - [0:0]",
             "-A PREROUTING -j KUBE-SERVICES"]
    if endpoints:
        lines.append("-A KUBE-SERVICES -d 10.96.0.1/32 -p udp -m udp --dport 53 -j SVC")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        chain = f"SEP{i}"
        lines.insert(2, f":{chain} - [0:0]")
        stat = (f" -m statistic --mode random --probability {1 / (n - i):.10f}"
                if i < n - 1 else "")
        lines.append(f"-A SVC{stat} -j {chain}")
        lines.append(f"-A {chain} -p udp -j DNAT --to-destination {ep}:53")
    return "\n".join(lines + ["COMMIT", ""])


POOL = ["10.244.1.1", "10.244.1.2", "10.244.2.1", "10.244.2.2"]


class NodeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.endpoints = POOL[:2]
        self.nf = engine(_rules(self.endpoints))
        self.rng = np.random.default_rng(0)
        self.now = 0.0
        self.flows: dict[int, tuple[str, float]] = {}  # sport -> (endpoint, last packet time)

    def _send(self, sport: int):
        return self.nf.prerouting(Packet("udp", "10.1.0.1", "10.96.0.1", sport, 53, ""),
                                  self.now, self.rng)

    @rule(sport=st.integers(1000, 1010))
    def packet(self, sport: int) -> None:
        res = self._send(sport)
        flow = self.flows.get(sport)
        if flow is not None and self.now - flow[1] < 30.0:
            assert res.packet.dst == flow[0], "an established flow changed endpoint"
        if res.dnat:
            self.flows[sport] = (res.packet.dst, self.now)
        else:
            self.flows.pop(sport, None)

    @rule(k=st.integers(0, 4), offset=st.integers(0, 3))
    def reload(self, k: int, offset: int) -> None:
        self.endpoints = (POOL[offset:] + POOL[:offset])[:k]
        self.nf.load(ruleset(_rules(self.endpoints)))

    @rule(dt=st.sampled_from([0.5, 5.0, 29.0, 31.0]))
    def wait(self, dt: float) -> None:
        self.now += dt

    @invariant()
    def entries_are_live(self) -> None:
        assert all(e.expires_at > self.now for e in self.nf.conntrack_entries(self.now))


NodeMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25,
                                         deadline=None)
TestNodeMachine = NodeMachine.TestCase
