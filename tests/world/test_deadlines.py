"""Connect-timeout deadlines: same firing times and event order as plain SimPy timeouts."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from sim.world.network import Network
from sim.world.params import NetworkParams
from sim.world.rng import component_rng


class _Owner:
    def __init__(self, i: int, env: simpy.Environment, log: list) -> None:
        self.i, self.env, self.log, self.done = i, env, log, False

    def timed_out(self) -> None:
        self.log.append(("timeout", self.i, self.env.now))


def _log(seed: int, deadlines: bool) -> list[tuple]:
    """A driver sets deadlines of two durations at instants on a 0.1 s grid (so deadlines
    tie with each other and with plain timeouts), marks random owners done, and schedules
    plain timeouts of the same durations; the log shows every firing and its time."""
    env = simpy.Environment()
    net = Network(env, NetworkParams(), component_rng(1, "lb"))
    rng = np.random.default_rng(seed)
    log: list[tuple] = []
    owners: list[_Owner] = []

    def driver():
        for step in range(60):
            for _ in range(int(rng.integers(0, 4))):
                owner = _Owner(len(owners), env, log)
                owners.append(owner)
                delay = (0.2, 0.5)[int(rng.integers(2))]
                if deadlines:
                    net.set_deadline(delay, owner, owner.timed_out)
                else:
                    env.timeout(delay).callbacks.append(
                        lambda _e, o=owner: None if o.done else o.timed_out())
            if owners and rng.random() < 0.5:
                owners[int(rng.integers(len(owners)))].done = True
            tick = (0.2, 0.5)[int(rng.integers(2))]
            env.timeout(tick).callbacks.append(lambda _e, s=step: log.append(("plain", s, env.now)))
            yield env.timeout(0.1)

    env.process(driver())
    env.run(until=3.0)
    env.run(until=10.0)  # resuming a run keeps the order too
    return log


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_deadlines_fire_like_timeouts_and_skip_done_owners(seed):
    """set_deadline fires each pending owner at the time and in the event order that
    ``env.timeout`` would, and never calls an owner that is done."""
    expected = _log(seed, deadlines=False)
    assert sum(1 for e in expected if e[0] == "timeout") > 20
    assert _log(seed, deadlines=True) == expected
