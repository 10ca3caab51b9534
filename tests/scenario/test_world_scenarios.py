"""Every shipped world scenario runs and meets its own expectations; runs are reproducible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sim.scenario.results import git_commit, write_results
from sim.scenario import runner
from sim.scenario.runner import run
from sim.scenario.spec import load_scenario

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "scenarios" / "world"
SCENARIOS = sorted(WORLD.glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_meets_its_expectations(path):
    """The scenario's own spec.expect all pass with its seed."""
    result = run(load_scenario(path))
    failed = [f"{e.name}: {e.detail}" for e in result.expectations if not e.passed]
    assert result.expectations and not failed, "\n".join(failed)


def test_same_scenario_and_seed_give_byte_identical_result_files(tmp_path):
    """Two runs with one seed write identical manifest, metrics and connections files
    (wall-clock figures live apart, in timing.json)."""
    sc = load_scenario(WORLD / "rolling-replacement.yaml")
    dirs = [write_results(run(sc, seed=4), tmp_path / str(i)) for i in range(2)]
    for name in ("manifest.json", "metrics.csv", "connections.csv"):
        assert (dirs[0] / name).read_bytes() == (dirs[1] / name).read_bytes(), name


def test_another_seed_changes_the_random_choices(tmp_path):
    """The seed reaches the engine's statistic draws: another seed, other backends."""
    sc = load_scenario(WORLD / "rolling-replacement.yaml")
    a = [c.server for c in run(sc, seed=4).recorder.connections]
    b = [c.server for c in run(sc, seed=5).recorder.connections]
    assert a != b


def test_results_directory_layout(tmp_path):
    """results/<scenario>/seed<N>-<hash12>/ holds the four files; metrics are long format."""
    sc = load_scenario(WORLD / "no-endpoints.yaml")
    d = write_results(run(sc), tmp_path)
    assert d == tmp_path / "no-endpoints" / f"seed{sc.seed}-{sc.sha256[:12]}"
    assert sorted(p.name for p in d.iterdir()) == ["connections.csv", "manifest.json",
                                                   "metrics.csv", "timing.json"]
    header = (d / "metrics.csv").read_text().splitlines()[0]
    assert header == "metric,node,change_id,time_s,value"


def test_manifest_records_what_reproduces_the_run(tmp_path):
    """manifest.json: scenario hash, seed, resolved parameters, git commit, versions, machine."""
    sc = load_scenario(WORLD / "nodeport-policies.yaml")
    d = write_results(run(sc), tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    assert m["scenario"]["sha256"] == sc.sha256 and m["seed"] == sc.seed
    assert [f["name"] for f in m["parameters"]["flows"]][:3] == ["cluster-np@node-1", "cluster-np@node-2", "cluster-np@node-3"]
    assert m["parameters"]["network"]["node_link"]["latency_s"] == 50e-6
    assert m["parameters"]["restoreModel"].startswith("calibration")
    assert m["versions"]["simpy"] and m["machine"]["python"]
    if (ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", m["git_commit"])
    else:  # an installed or exported copy: no checkout to name
        assert m["git_commit"] == "unknown"


def test_git_commit_is_unknown_outside_a_checkout(tmp_path):
    """A directory that is not in a git work tree has no commit: ``unknown``, no error."""
    assert git_commit(tmp_path) == "unknown"


def test_where_the_clock_stops_does_not_change_results(monkeypatch):
    """A run advanced in 1000 equal stretches records exactly what a run advanced in a few
    doubling stretches records (the stretch length follows wall time, so it must not matter)."""
    sc = load_scenario(WORLD / "rolling-replacement.yaml")
    records = []
    for bounds in ((0.0, float("inf")), (float("inf"), float("inf"))):
        monkeypatch.setattr(runner, "CHUNK_WALL_S", bounds)
        calls = []
        result = run(sc, seed=4, progress=lambda now, end, n: calls.append(now))
        records.append((result.recorder.connections, result.recorder.syncs))
        assert calls[-1] == result.stats["simulated_s"]
    assert len(records[0][0]) > 0 and records[0] == records[1]


def test_progress_comes_by_wall_time_not_simulated_fraction(monkeypatch):
    """When every stretch takes long in wall time the stretches shrink, so progress keeps
    coming: each report advances the simulated clock less than the one before, down to a
    ten-thousandth of the run."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(runner.time, "perf_counter", lambda: next(ticks) * 0.5)  # 0.5 s a stretch
    calls = []
    run(load_scenario(WORLD / "no-endpoints.yaml"), progress=lambda now, end, n: calls.append(now))
    gaps = [b - a for a, b in zip([0.0] + calls, calls)]
    assert all(b < a for a, b in zip(gaps[:4], gaps[1:4]))
    assert min(gaps[:-1]) == pytest.approx(calls[-1] / 1e4)
