"""Expectations evaluated on hand-built records."""

from __future__ import annotations

from sim.scenario.expect import Observed, evaluate
from sim.scenario.sections import parse_expect
from sim.world.recorder import ConnectionRecord, ProgrammingRecord, Recorder

LABELS = {"default/a": {"app": "web"}, "default/b": {"app": "web"}, "default/x": {"app": "other"}}


def _obs(conns, programming=()):
    rec = Recorder()
    for i, (flow, t, outcome, server, seen) in enumerate(conns):
        rec.connections.append(ConnectionRecord(i, flow, "default/c", "10.244.1.10", "tcp", "t",
                                                t, outcome, server, "n2", seen, 0.001))
    rec.programming.extend(programming)
    return Observed(rec, LABELS, frozenset({"192.168.0.1", "192.168.0.2"}), ("n1", "n2"))


def _eval(spec, obs, flows=("f",)):
    (e,) = parse_expect([spec], flows)
    return evaluate(e, obs)


def test_reachable_counts_only_pods_matching_the_selector():
    """Answers from a pod outside the selector do not count as reachable."""
    obs = _obs([("f", 0, "ok", "default/a", ""), ("f", 1, "ok", "default/x", "")])
    assert _eval({"type": "reachable", "flow": "f", "atLeast": 0.5, "selector": {"app": "web"}}, obs).passed
    assert not _eval({"type": "reachable", "flow": "f", "selector": {"app": "web"}}, obs).passed


def test_window_restricts_to_connections_started_inside_it():
    """window: [start, end] filters on connection start time."""
    obs = _obs([("f", 0, "timeout", "", ""), ("f", 5, "ok", "default/a", "")])
    assert _eval({"type": "reachable", "flow": "f", "window": [4, 6]}, obs).passed
    assert not _eval({"type": "reachable", "flow": "f"}, obs).passed


def test_rejected_within_seconds_bounds_the_slowest_refusal():
    """rejected at once: every refusal within the bound."""
    obs = _obs([("f", 0, "refused", "", "")])
    assert _eval({"type": "rejected", "flow": "f", "withinSeconds": 0.01}, obs).passed
    assert not _eval({"type": "rejected", "flow": "f", "withinSeconds": 0.0001}, obs).passed


def test_failures_between_bounds():
    """failures counts non-answered connections against atLeast/atMost."""
    obs = _obs([("f", 0, "timeout", "", ""), ("f", 1, "refused", "", ""), ("f", 2, "ok", "default/a", "")])
    assert _eval({"type": "failures", "flow": "f", "atLeast": 1, "atMost": 2}, obs).passed
    assert not _eval({"type": "failures", "flow": "f", "atMost": 1}, obs).passed


def test_spread_fails_on_a_skewed_split_and_passes_an_even_one():
    """Chi-square at significance 0.01: 50/50 passes, 95/5 fails."""
    even = _obs([("f", i, "ok", "default/a" if i % 2 else "default/b", "") for i in range(100)])
    skew = _obs([("f", i, "ok", "default/a" if i % 20 else "default/b", "") for i in range(100)])
    spec = {"type": "spread", "flow": "f", "selector": {"app": "web"}, "significance": 0.01}
    assert _eval(spec, even).passed
    assert not _eval(spec, skew).passed


def test_affinity_sessions_split_on_idle_gaps_longer_than_the_timeout():
    """Within a session one pod; after a gap > timeout a new pod may be chosen."""
    conns = [("f", t, "ok", "default/a", "") for t in (0, 1, 2)]
    conns += [("f", t, "ok", "default/b", "") for t in (20, 21)]
    obs = _obs(conns)
    spec = {"type": "affinity", "flow": "f", "timeoutSeconds": 10, "switchAfterTimeout": True}
    assert _eval(spec, obs).passed
    broken = _obs([("f", 0, "ok", "default/a", ""), ("f", 1, "ok", "default/b", "")])
    assert not _eval(spec | {"switchAfterTimeout": False}, broken).passed


def test_source_seen_client_versus_node():
    """client: the server saw the client's address; node: one of the node addresses."""
    obs = _obs([("f", 0, "ok", "default/a", "192.168.0.2")])
    assert _eval({"type": "sourceSeen", "flow": "f", "seen": "node"}, obs).passed
    assert not _eval({"type": "sourceSeen", "flow": "f", "seen": "client"}, obs).passed


def test_programming_latency_percentiles_against_bounds():
    """p50/p99 over every node's records."""
    obs = _obs([], [ProgrammingRecord("n1", 0, 0.1), ProgrammingRecord("n2", 0, 0.3)])
    assert _eval({"type": "programmingLatency", "p50": 0.25, "p99": 0.3}, obs).passed
    assert not _eval({"type": "programmingLatency", "p99": 0.2}, obs).passed


def test_node_port_matrix_compares_each_nodes_dominant_outcome():
    """Each node's majority outcome must equal the expected one."""
    obs = _obs([("np@n1", 0, "ok", "default/a", ""), ("np@n2", 0, "timeout", "", "")])
    flows = ("np@n1", "np@n2")
    good = _eval({"type": "nodePortMatrix", "flow": "np", "expect": {"n1": "reachable", "n2": "dropped"}}, obs, flows)
    bad = _eval({"type": "nodePortMatrix", "flow": "np", "expect": {"*": "reachable"}}, obs, flows)
    assert good.passed and not bad.passed
    assert bad.matrix == {"n1": ("reachable", "reachable"), "n2": ("reachable", "dropped")}
