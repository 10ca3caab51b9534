"""The sweep runner: resumable after SIGKILL, executors agree, failures recorded."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.experiments import modemetrics
from sim.experiments.point import TIMING_METRICS
from sim.experiments.runner import run_sweep
from sim.experiments.sweepfile import load_sweep

ROOT = Path(__file__).resolve().parents[2]


def deterministic(path: Path) -> pd.DataFrame:
    """A sweep table without the machine's timings, in a canonical order."""
    df = pd.read_csv(path / "metrics.csv", keep_default_na=False, dtype=str)
    df = df[~df["metric"].isin(TIMING_METRICS)]
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_sigkill_mid_sweep_then_rerun_equals_an_uninterrupted_run(small_sweep, tmp_path):
    """Kill the sweep process group with SIGKILL after its first point, rerun: the finished
    points are kept (not recomputed), no file is half-written, and the table equals an
    uninterrupted run's."""
    f = small_sweep("killed", (10, 20, 30, 40, 60, 80))
    out = tmp_path / "killed-out"
    cmd = [sys.executable, "-m", "sim.cli", "sweep", str(f), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sweep = load_sweep(f)
    points = out / "killed" / sweep.sweep_id / "points"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if points.is_dir() and any((p / "manifest.json").is_file() for p in points.iterdir()):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = [p for p in points.iterdir() if not p.name.startswith(".")]
    assert 1 <= len(done) < 6, "the kill should land mid-sweep"
    for p in done:  # complete files only
        json.loads((p / "manifest.json").read_text())
        with open(p / "metrics.csv") as fh:
            assert list(csv.reader(fh))[-1][0] == "point_wall_seconds"
    stamps = {p.name: (p / "metrics.csv").stat().st_mtime_ns for p in done}
    resumed = run_sweep(sweep, out, progress=False)
    assert resumed.skipped == len(done) and resumed.done == 6 - len(done)
    assert all((points / k / "metrics.csv").stat().st_mtime_ns == v for k, v in stamps.items())
    assert not [p for p in points.iterdir() if p.name.startswith(".")]
    clean = run_sweep(sweep, tmp_path / "clean", progress=False)
    pd.testing.assert_frame_equal(deterministic(resumed.path), deterministic(clean.path))


def test_local_and_dask_localcluster_tables_are_equal(small_sweep, tmp_path):
    """The same sweep on local processes and on a distributed.LocalCluster gives the same
    table, timing columns aside."""
    pytest.importorskip("distributed")
    sweep = load_sweep(small_sweep("execs", (10, 20)))
    local = run_sweep(sweep, tmp_path / "local", "local", 2, progress=False)
    dask = run_sweep(sweep, tmp_path / "dask", "dask", 2, progress=False)
    assert not local.failed and not dask.failed
    pd.testing.assert_frame_equal(deterministic(local.path), deterministic(dask.path))


def test_a_failing_point_is_recorded_and_the_rest_go_on(small_sweep, tmp_path, monkeypatch):
    """A point whose measurement raises is written with its error (failures.csv, its
    manifest, the sweep manifest); the other points are in the table."""
    real = modemetrics.MODE_METRICS["iptables"]

    def counts(payload):
        if len(payload.table("nat").chains) > 60:  # the 20-Service point
            raise RuntimeError("deliberate failure")
        return real.counts(payload)
    monkeypatch.setitem(modemetrics.MODE_METRICS, "iptables",
                        modemetrics.ModeMetrics(real.compile, counts, real.control_plane))
    sweep = load_sweep(small_sweep("fails", (10, 20)))
    run = run_sweep(sweep, tmp_path, progress=False)
    assert run.done == 1 and len(run.failed) == 1
    assert "deliberate failure" in next(iter(run.failed.values()))
    failures = pd.read_csv(run.path / "failures.csv")
    assert list(failures["services"]) == [20] and "deliberate failure" in failures["error"][0]
    table = pd.read_csv(run.path / "metrics.csv")
    assert set(table["services"]) == {10}
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["points"]["ok"] == 1 and len(manifest["points"]["failed"]) == 1


def test_a_grown_grid_reuses_the_points_it_shares(small_sweep, tmp_path):
    """Adding a size to the grid keeps the sweep's directory and computes only the new point;
    the table then holds every point of the new grid."""
    first = run_sweep(load_sweep(small_sweep("grow", (10,))), tmp_path, progress=False)
    grown = run_sweep(load_sweep(small_sweep("grow", (10, 20))), tmp_path, progress=False)
    assert grown.path == first.path and grown.skipped == 1 and grown.done == 1
    assert set(pd.read_csv(grown.path / "metrics.csv")["services"]) == {10, 20}


@pytest.mark.slow
def test_a_worker_writes_its_point_after_the_sweep_process_is_killed(small_sweep, tmp_path):
    """SIGKILL to the sweep process alone (not its workers): the point a worker was measuring
    still lands, complete, in the results."""
    f = small_sweep("orphan", (10, 200))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(f), "--out", str(out),
                             "--no-progress"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    points = out / "orphan" / load_sweep(f).sweep_id / "points"

    def done() -> list[Path]:
        return [p for p in points.iterdir() if (p / "manifest.json").is_file()] if points.is_dir() else []
    deadline = time.monotonic() + 60
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert len(done()) == 1, "the kill should land while the second point is measured"
    deadline = time.monotonic() + 60
    while len(done()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(done()) == 2
    for p in done():
        assert json.loads((p / "manifest.json").read_text())["status"] == "ok"
