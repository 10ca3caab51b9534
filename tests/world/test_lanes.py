"""Hop lanes: hops wait outside SimPy's heap behind the hop ahead of them, yet every event
runs in the order one heap of all of them would give."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import simpy

from sim.model.packet import Packet
from sim.world import network
from sim.world.engine import netfilter_datapaths
from sim.world.params import NetworkParams
from sim.world.recorder import ConnectionRecord
from sim.world.rng import component_rng
from sim.world.workload import Client, FlowSpec, ServiceTarget
from sim.world.world import World

from worldkit import pod_manifest, small_cluster


class _HeapOnlyLane:
    """A lane that never holds a hop back: every hop goes straight into SimPy's heap."""

    __slots__ = ()
    waiting = ()

    @property
    def armed(self) -> bool:
        return False

    @armed.setter
    def armed(self, _value: bool) -> None:
        pass

    def advance(self, _queue: list) -> None:
        """Nothing waits behind a hop."""


def _outcome(arrival: str) -> tuple:
    """Eight clients on three nodes hit one Service through the engine: constant flows
    started together (ties at every instant) or Poisson ones; every record and counter."""
    clients = [pod_manifest(f"c{i}", 1 + i % 3, 50 + i, ports=()) for i in range(8)]
    world = World(small_cluster(extra=clients), NetworkParams(), 1, netfilter_datapaths())
    world.start()
    for i in range(8):
        spec = FlowSpec(f"f{i}", "pod", f"default/c{i}", ServiceTarget("default", "web", 80),
                        rate_per_s=200.0, arrival=arrival, count=60)
        Client(world, spec, component_rng(1, spec.name)).start(world.env)
    world.run(3.0)
    return ([dataclasses.astuple(r) for r in world.recorder.connections], world.net.hops,
            sorted(world.net.drops.items()))


@pytest.mark.parametrize("arrival", ["constant", "poisson"])
def test_lanes_give_the_same_run_as_one_heap(arrival, monkeypatch):
    """A run with hop lanes equals, record for record, the run where every hop is pushed
    straight into the heap."""
    with_lanes = _outcome(arrival)
    monkeypatch.setattr(network, "_Lane", _HeapOnlyLane)
    server = [f.name for f in dataclasses.fields(ConnectionRecord)].index("server")
    assert {r[server] for r in with_lanes[0]} == {"default/web-a", "default/web-b"}
    assert _outcome(arrival) == with_lanes


def _delivery_log(seed: int) -> list[tuple]:
    """Hops of three delays (exact binary fractions, sent on a grid of the same step, so
    hops of different lanes and plain timeouts fall due at equal times) between two outside
    hosts; every delivery may send a follow-up hop. The log is (time, what) per event."""
    env = simpy.Environment()
    net = network.Network(env, NetworkParams(), component_rng(1, "lb"))
    a, b = net.add_external("a", "192.0.2.1"), net.add_external("b", "192.0.2.2")
    rng = np.random.default_rng(seed)
    log: list[tuple] = []
    sent = [0]

    def send(tag: int) -> None:
        sent[0] += 1
        net.push_hop(a, b, Packet("udp", "192.0.2.1", "192.0.2.2", tag, 9),
                     None, (0.25, 0.5, 0.75)[int(rng.integers(3))])

    def received(packet, _data, _error) -> None:
        log.append(("hop", packet.sport, env.now))
        if rng.random() < 0.4 and sent[0] < 400:
            send(1000 + sent[0])

    b.sockets[("udp", "192.0.2.2", 9)] = received

    def driver():
        for step in range(80):
            for _ in range(int(rng.integers(0, 4))):
                send(step)
            env.timeout(0.25).callbacks.append(lambda _e, s=step: log.append(("tick", s, env.now)))
            yield env.timeout(0.25)

    env.process(driver())
    env.run(until=40.0)
    return log


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hops_of_different_lanes_due_together_run_in_send_order(seed, monkeypatch):
    """Hops due at the same time run in the order they were sent, across lanes and with
    plain timeouts, exactly as with every hop in the heap."""
    with_lanes = _delivery_log(seed)
    monkeypatch.setattr(network, "_Lane", _HeapOnlyLane)
    assert len(with_lanes) > 200
    assert _delivery_log(seed) == with_lanes
