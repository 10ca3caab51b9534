"""Timed events: what happens to the cluster during a run.

Each event runs at its time through :meth:`sim.world.world.World.change` (apiserver changes,
delivered to kube-proxies after the control-plane delay) or acts on the data plane directly
(a process dies, a node stops, rules or conntrack are flushed). Actions:

``scale``             Deployment/ReplicaSet to ``replicas`` (the apiserver makes/deletes pods).
``deletePod``         ``kubectl delete pod``: the pod turns terminating at once (its endpoint
                      becomes ``ready: false, terminating: true``); its process exits
                      ``exitAfterSeconds`` later (0: on SIGTERM, the usual case without a
                      preStop hook) but no later than ``gracePeriodSeconds`` (default 30), and
                      then the pod is gone. Traffic still routed to it meanwhile is lost.
``crashPod``          the process dies (SYNs get RST), the readiness probe marks the pod not
                      ready ``notReadyAfterSeconds`` later (default 1), the container restarts
                      and is ready again ``restartAfterSeconds`` after the crash (default 10).
``setPodReady``       the pod's Ready condition.
``apply`` / ``delete``  add or update / remove any object (Service, Endpoints, Pod, ...).
``nodeDown``          the node stops at once (drops everything, its kube-proxy stops); the node
                      lifecycle controller marks it NotReady, and so its pods not ready,
                      only ``notReadyAfterSeconds`` later (default 40: kube-controller-manager
                      ``--node-monitor-grace-period``, 40 s before v1.32, 50 s since).
``nodeUp``            the node is back and Ready.
``restartKubeProxy``  kube-proxy exits (``flush``: its rules are removed, default true) and
                      starts again ``downSeconds`` later (default 1) with a full sync.
``flushConntrack``    ``conntrack -F`` on the node (``"*"``: every node).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.model.errors import SimError


@dataclass(frozen=True)
class EventSpec:
    """One timed event: ``action`` at ``at_s`` with its checked parameters."""

    at_s: float
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def _split(key: str) -> tuple[str, str]:
    ns, _, name = key.partition("/")
    return ns, name


def schedule_events(world, events: tuple[EventSpec, ...]) -> None:
    """Start one process that fires ``events`` (sorted by time) on ``world``."""
    world.env.process(_run(world, events))


def _run(world, events):
    env = world.env
    for ev in events:
        if ev.at_s > env.now:
            yield env.timeout(ev.at_s - env.now)
        _guarded(world, ev, lambda ev=ev: _fire(world, ev))


def _guarded(world, ev: EventSpec, fn) -> None:
    """Run ``fn``; a refusal (for example a pod that does not exist) names the event."""
    try:
        fn()
    except SimError as exc:
        raise SimError(f"{ev.path} ({ev.action} at {world.env.now:g} s): {exc}") from None


def _later(world, delay: float, fn, ev: EventSpec) -> None:
    t = world.env.timeout(delay)
    t.callbacks.append(lambda _e: _guarded(world, ev, fn))


def _nodes(world, name: str) -> list[str]:
    return sorted(world.net.nodes) if name == "*" else [name]


def _fire(world, ev: EventSpec) -> None:
    p = ev.params
    a = ev.action
    if a == "scale":
        ns, name = _split(p["name"])
        world.change(f"scale {p['kind']} {p['name']} to {p['replicas']}",
                     lambda api: api.scale(p["kind"], ns, name, p["replicas"]))
    elif a == "deletePod":
        ns, name = _split(p["pod"])
        exit_after = min(p.get("exitAfterSeconds", 0.0), p.get("gracePeriodSeconds", 30.0))
        world.change(f"delete pod {p['pod']} (terminating)",
                     lambda api: api.set_pod_terminating(ns, name))

        def gone() -> None:
            world.change(f"pod {p['pod']} gone", lambda api: api.delete_pod(ns, name))
        _later(world, exit_after, gone, ev)
    elif a == "crashPod":
        ns, name = _split(p["pod"])
        world.crash_pod(p["pod"])
        world.recorder.notes.append(f"{world.env.now:.3f}s crash {p['pod']}")
        _later(world, p.get("notReadyAfterSeconds", 1.0), lambda: world.change(
            f"pod {p['pod']} not ready", lambda api: api.set_pod_ready(ns, name, False)), ev)

        def restart() -> None:
            world.restart_pod(p["pod"])
            world.change(f"pod {p['pod']} ready", lambda api: api.set_pod_ready(ns, name, True))
        _later(world, p.get("restartAfterSeconds", 10.0), restart, ev)
    elif a == "setPodReady":
        ns, name = _split(p["pod"])
        world.change(f"pod {p['pod']} ready={p['ready']}",
                     lambda api: api.set_pod_ready(ns, name, p["ready"]))
    elif a == "apply":
        man = p["manifest"]
        meta = man.get("metadata") or {}
        what = f"{man.get('kind', '?')} {meta.get('namespace', 'default')}/{meta.get('name', '?')}"
        world.change(f"apply {what}", lambda api: api.apply(man, (f"{ev.path}.manifest", None)))
    elif a == "delete":
        ns, name = _split(p["name"])
        world.change(f"delete {p['kind']} {p['name']}", lambda api: api.delete(p["kind"], ns, name))
    elif a == "nodeDown":
        world.node_down(p["node"])
        world.recorder.notes.append(f"{world.env.now:.3f}s node {p['node']} down")
        _later(world, p.get("notReadyAfterSeconds", 40.0), lambda: world.change(
            f"node {p['node']} NotReady", lambda api: api.set_node_ready(p["node"], False)), ev)
    elif a == "nodeUp":
        world.node_up(p["node"])
        world.change(f"node {p['node']} Ready", lambda api: api.set_node_ready(p["node"], True))
    elif a == "restartKubeProxy":
        down = p.get("downSeconds", 1.0)
        for n in _nodes(world, p.get("node", "*")):
            world.kube_proxy_stop(n, p.get("flush", True))
            world.recorder.notes.append(f"{world.env.now:.3f}s kube-proxy stopped on {n}")
            _later(world, down, lambda n=n: world.kube_proxy_start(n), ev)
    elif a == "flushConntrack":
        for n in _nodes(world, p.get("node", "*")):
            world.flush_conntrack(n)
    else:  # parse_events only lets known actions through
        raise ValueError(f"unknown event action {a!r}")
