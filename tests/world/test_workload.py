"""Client arrival processes: callbacks scheduled exactly as the generator process they replace."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import simpy

from sim.world.network import Network
from sim.world.params import NetworkParams
from sim.world.rng import component_rng
from sim.world.workload import AddressTarget, Arrivals, FlowSpec, constant_arrivals


def _process_arrivals(env, spec, rng, open_one):
    """The arrival process as a SimPy generator (the straightforward form of the model)."""
    if spec.start_s > env.now:
        yield env.timeout(spec.start_s - env.now)
    mean_gap = 1.0 / spec.rate_per_s
    opened = 0
    limit = float("inf") if spec.count is None else spec.count
    if spec.arrival != "poisson":
        limit = min(limit, constant_arrivals(spec.rate_per_s, spec.start_s, spec.stop_s))
    while opened < limit and (spec.arrival != "poisson" or env.now < spec.stop_s):
        opened += 1
        open_one(env)
        yield env.timeout(rng.exponential(mean_gap) if spec.arrival == "poisson" else mean_gap)


def _log(spec: FlowSpec, callbacks: bool) -> list[tuple[str, float]]:
    """What happens when, with a competing process ticking at the flow's own instants, and
    a plain event scheduled for t=0 before the flow starts: each opening also schedules
    events now and one constant gap later, so any change in event order shows."""
    env = simpy.Environment()
    log: list[tuple[str, float]] = []
    env.timeout(0).callbacks.append(lambda _ev: log.append(("scheduled-first", env.now)))

    def open_one(e):
        log.append(("open", e.now))
        e.timeout(0).callbacks.append(lambda _ev: log.append(("after-open", e.now)))
        e.timeout(0.25).callbacks.append(lambda _ev: log.append(("gap-later", e.now)))

    def other():
        while env.now < 3.0:
            log.append(("other", env.now))
            yield env.timeout(0.25)

    env.process(other())
    rng = component_rng(5, "flow")
    if callbacks:
        world = SimpleNamespace(env=env, net=Network(env, NetworkParams(), rng))
        Arrivals(world, spec, rng, open_one).start()
    else:
        env.process(_process_arrivals(env, spec, rng, open_one))
    env.run(until=4.0)
    return log


@pytest.mark.parametrize("kwargs", [
    {"rate_per_s": 4.0, "start_s": 0.5, "stop_s": 2.0},
    {"rate_per_s": 4.0, "count": 5},
    {"rate_per_s": 8.0, "arrival": "poisson", "count": 12},
], ids=["start-stop", "count", "poisson"])
def test_arrivals_open_at_the_same_instants_and_in_the_same_order_as_a_process(kwargs):
    """Arrivals (callbacks) and the generator process give the same openings, at the same
    times, interleaved identically with another process's events at equal times."""
    spec = FlowSpec("f", "pod", "default/c", AddressTarget("10.1.0.5", 80), **kwargs)
    expected = _log(spec, callbacks=False)
    assert sum(1 for kind, _ in expected if kind == "open") > 3
    assert _log(spec, callbacks=True) == expected


def _opened(rate: float, start: float, stop: float) -> list[float]:
    env = simpy.Environment()
    times: list[float] = []
    rng = component_rng(5, "flow")
    world = SimpleNamespace(env=env, net=Network(env, NetworkParams(), rng))
    spec = FlowSpec("f", "pod", "default/c", AddressTarget("10.0.0.1", 80), rate_per_s=rate,
                    start_s=start, stop_s=stop)
    Arrivals(world, spec, rng, lambda e: times.append(e.now)).start()
    env.run(until=stop + 10)
    return times


@pytest.mark.parametrize("rate,seconds,expected", [(10, 5, 50), (20, 5, 100), (7, 5, 35),
                                                   (3, 1.5, 5), (0.5, 10, 5)])
def test_constant_rate_times_duration_gives_the_expected_count(rate, seconds, expected):
    """rate x duration connections from a constant flow over [start, stop): 10/s for 5 s
    opens 50 (the float sum of the gaps must not let a 51st in just before stop)."""
    times = _opened(rate, 2.0, 2.0 + seconds)
    assert len(times) == expected
    assert times[0] == 2.0 and times[-1] < 2.0 + seconds
