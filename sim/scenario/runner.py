"""``run(scenario, seed) -> RunResult``: build the world, run it, evaluate expectations.

The run seed is ``--seed`` or ``spec.seed``; every random choice in the world comes from a
stream spawned from it by component name (:mod:`sim.world.rng`), so a scenario and a seed give
the same result every time.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Callable

from sim.model.errors import SimError, ValidationError, quote
from sim.scenario.expect import ExpectResult, Observed, evaluate
from sim.scenario.sections import RunPlan, check_runnable, parse_plan, seed_error
from sim.scenario.spec import read_documents
from sim.world.dns import DNSClient, DNSTarget, install_cluster_dns
from sim.world.engine import netfilter_datapaths
from sim.world.events import schedule_events
from sim.world.recorder import Recorder
from sim.world.rng import component_rng
from sim.world.workload import Client
from sim.world.world import World

EVENT_SETTLE_S = 2.0  # time simulated after the last event when it is later than the traffic
CHUNK_WALL_S = (0.05, 0.2)  # wall time one stretch of simulation aims for (progress cadence)
ProgressFn = Callable[[float, float, int], None]  # (simulated now, end, connections so far)


@dataclass
class RunResult:
    """Everything a run produced (simulated quantities only, plus ``wall_s``)."""

    scenario: object
    seed: int
    plan: RunPlan
    recorder: Recorder
    expectations: list[ExpectResult]
    node_names: tuple[str, ...]
    stats: dict[str, object] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every expectation passed."""
        return all(e.passed for e in self.expectations)


def plan_for(scenario, node_names: tuple[str, ...]) -> RunPlan:
    """Check the run sections of ``scenario`` (errors carry file, line and field path)."""
    root = read_documents(Path(scenario.path))[0][1]
    return parse_plan(scenario.network, scenario.traffic, scenario.events, scenario.expect,
                      node_names, str(scenario.path), root)


def build_world(scenario, seed: int, plan: RunPlan | None = None) -> tuple[World, RunPlan]:
    """The world for ``scenario`` with its clients and events scheduled (not yet run)."""
    api = scenario.api(seed)
    state = api.snapshot()
    errors = check_runnable(scenario, state)
    if errors:
        raise ValidationError(errors)
    node_names = tuple(n.name for n in state.nodes)
    plan = plan or plan_for(scenario, node_names)
    world = World(api, plan.network, seed, netfilter_datapaths())
    world.start()
    dns = None
    if any(isinstance(f.target, DNSTarget) for f in plan.flows):
        dns = install_cluster_dns(world, scenario.dns, seed, str(scenario.path))
    for flow in plan.flows:
        if flow.client_kind == "pod" and flow.client not in world.pod_hosts:
            raise SimError(f"{scenario.path}: spec.traffic.flows: Not found: {quote(flow.client)}: "
                           f"flow {flow.name}: no running pod of that name (needs nodeName and podIP)")
        spec = replace(flow, stop_s=min(flow.stop_s, plan.duration_s))
        rng = component_rng(seed, f"client/{flow.name}")
        if isinstance(spec.target, DNSTarget):
            DNSClient(world, dns, spec, rng).start(world.env)
        else:
            Client(world, spec, rng).start(world.env)
    schedule_events(world, plan.events)
    return world, plan


def run(scenario, seed: int | None = None, progress: ProgressFn | None = None,
        freeze_gc: bool = False) -> RunResult:
    """Run ``scenario`` with ``seed`` (default: the scenario's) and evaluate its expectations.

    The clock advances in stretches sized to take about a tenth of a second of wall time
    each (doubling while quicker, halving while slower), and ``progress`` is called after
    each one, so a long run reports steadily whatever its simulated length. Where the
    stretches end does not change the results: stopping and resuming SimPy's clock keeps the
    order of every event.

    ``freeze_gc`` moves everything built so far (rulesets, the cluster) out of the cyclic
    garbage collector's reach before the run (``gc.freeze``): large worlds hold millions of
    long-lived objects the collector would otherwise rescan. For one-run processes (the CLI).
    """
    bad = seed_error(seed, "--seed") if seed is not None else None  # spec.seed: check_runnable
    if bad is not None:
        raise SimError(str(bad))
    seed = int(scenario.seed if seed is None else seed)
    t0 = time.perf_counter()
    world, plan = build_world(scenario, seed)
    if freeze_gc:
        gc.collect()
        gc.freeze()
    drain = max((f.connect_timeout_s for f in plan.flows), default=0.0)
    # Run past the last connection's timeout, and past the last event long enough for
    # kube-proxy to program it (a scenario may have events and no traffic).
    end = plan.duration_s + drain
    if plan.events:
        end = max(end, plan.events[-1].at_s + EVENT_SETTLE_S)
    span = end / 1000.0
    lo, hi = CHUNK_WALL_S
    while world.env.now < end:
        target = min(end, world.env.now + span)
        started = time.perf_counter()
        try:
            world.run(until=target)
        except SimError as exc:  # an event the cluster refused when it fired (names the event)
            raise SimError(f"{scenario.path}: {exc}") from None
        took = time.perf_counter() - started
        if progress is not None:
            progress(world.env.now, end, len(world.recorder.connections))
        if took < lo:
            span *= 2.0
        elif took > hi:
            span = max(span / 2.0, end / 1e4)
    obs = Observed(world.recorder, dict(world.pod_labels), world.node_ips(),
                   tuple(sorted(world.net.nodes)))
    mode = scenario.kube_proxy.mode
    results = [evaluate(e, obs) for e in plan.expectations if e.params.get("mode", mode) == mode]
    stats = {
        "hops": world.net.hops,
        "drops": dict(sorted(world.net.drops.items())),
        "compiles": world.rules.compiles,
        "distinct_rulesets": world.rules.applies,
        "restore_model": getattr(getattr(world.rules, "model", None), "source", None)
        or world.restore_model.source,
        "simulated_s": world.env.now,
    }
    return RunResult(scenario, seed, plan, world.recorder, results,
                     tuple(sorted(world.net.nodes)), stats, time.perf_counter() - t0)
