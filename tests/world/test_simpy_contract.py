"""What the world relies on in SimPy's internals (``sim.world.network``: hops, lanes and
deadlines are pushed onto ``Environment._queue`` with keys from ``Environment._eid``, as
bare objects carrying only ``callbacks`` and ``_ok``). SimPy is pinned below 4.2; these tests
say what a newer SimPy would have to keep."""

from __future__ import annotations

from heapq import heappush

import simpy
from simpy.core import NORMAL


class _Bare:
    """An event as the world's hops are: callbacks and a class-level ``_ok``, nothing else."""

    __slots__ = ("callbacks",)
    _ok = True

    def __init__(self, fn) -> None:
        self.callbacks = (fn,)


def test_a_bare_object_on_the_queue_runs_like_a_timeout_at_its_time() -> None:
    """A bare object pushed with ``(time, NORMAL, next(_eid))`` has its callback called
    once, at that time, in key order with ordinary timeouts scheduled around it."""
    env = simpy.Environment()
    seen = []
    env.timeout(2.0).callbacks.append(lambda e: seen.append(("timeout-a", env.now)))
    heappush(env._queue, (env.now + 2.0, NORMAL, next(env._eid),
                          _Bare(lambda e: seen.append(("bare", env.now)))))
    env.timeout(2.0).callbacks.append(lambda e: seen.append(("timeout-b", env.now)))
    heappush(env._queue, (env.now + 1.0, NORMAL, next(env._eid),
                          _Bare(lambda e: seen.append(("early", env.now)))))
    env.run()
    assert seen == [("early", 1.0), ("timeout-a", 2.0), ("bare", 2.0), ("timeout-b", 2.0)]


def test_step_clears_callbacks_and_run_until_stops_before_later_entries() -> None:
    """``step`` sets a processed event's ``callbacks`` to None (how the world knows a hop
    object is free to reuse), and ``run(until=t)`` leaves entries after ``t`` queued."""
    env = simpy.Environment()
    first = _Bare(lambda e: None)
    heappush(env._queue, (0.5, NORMAL, next(env._eid), first))
    later = _Bare(lambda e: None)
    heappush(env._queue, (5.0, NORMAL, next(env._eid), later))
    env.run(until=1.0)
    assert first.callbacks is None
    assert later.callbacks is not None and env.now == 1.0
    assert [entry[3] for entry in env._queue if isinstance(entry[3], _Bare)] == [later]
