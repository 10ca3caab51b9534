"""Sweep benchmark (a measurement, not a test): the standard sweep's wall time, its speed-up
on a Dask LocalCluster of 1 and 2 workers, and the share of building the 10,000-Service
ruleset into the engine.

Runs ``scenarios/sweeps/standard.yaml`` (or ``--sweep FILE``) from scratch three times into
temporary directories: local executor with one process, then Dask ``LocalCluster`` with 1 and
with 2 worker processes. Prints wall times, the speed-up of 2 workers over 1, and from the
first run's table, per point (CPU seconds of the worker), the build steps (cluster, compile, ruleset build = compile +
render + parse + apply of the restore text, engine load) and the ruleset build + engine load
share of the point's and of the whole sweep's CPU time.

Usage::

    .venv/bin/python benchmarks/sweep_bench.py [--sweep FILE] [--skip-dask]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.analysis.sweeps import load_sweep_table, wide  # noqa: E402
from sim.experiments.runner import run_sweep  # noqa: E402
from sim.experiments.sweepfile import load_sweep  # noqa: E402


def timed(sweep, executor: str, jobs: int) -> tuple[float, Path]:
    out = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    t = time.perf_counter()
    run = run_sweep(sweep, out, executor, jobs, progress=False)
    wall = time.perf_counter() - t
    if run.failed:
        raise SystemExit(f"failed points: {run.failed}")
    return wall, run.path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweep", default=str(ROOT / "scenarios" / "sweeps" / "standard.yaml"))
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args(argv)
    sweep = load_sweep(args.sweep)
    print(f"machine: {platform.machine()} cpus={os.cpu_count()} python={platform.python_version()} "
          f"load average={os.getloadavg()[0]:.2f}")
    wall, path = timed(sweep, "local", 1)
    print(f"{sweep.name}: {len(sweep.points())} points, local -j 1: {wall:.1f} s wall")
    w = wide(load_sweep_table(path)).sort_values(["mode", "services"])
    cpu = w["point_cpu_seconds"].sum()
    print(f"  CPU seconds of the points: {cpu:.1f} s")
    for r in w.to_dict("records"):
        build = r["ruleset_build_seconds"] + r["engine_load_seconds"]
        if build != build:  # NaN: a mode measured by its compiler alone (no world backend)
            print(f"  {r['mode']:>9} {int(r['services']):>6} Services: point {r['point_wall_seconds']:.1f} s wall, "
                  f"{r['point_cpu_seconds']:.1f} s CPU; compiler only: cluster {r['cluster_build_seconds']:.2f} s, "
                  f"compile {r['compile_seconds']:.3f} s; peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB")
            continue
        print(f"  {r['mode']:>9} {int(r['services']):>6} Services: point {r['point_wall_seconds']:.1f} s wall, "
              f"{r['point_cpu_seconds']:.1f} s CPU; cluster {r['cluster_build_seconds']:.2f} s, "
              f"compile {r['compile_seconds']:.3f} s, ruleset build {r['ruleset_build_seconds']:.2f} s, "
              f"engine load {r['engine_load_seconds']:.2f} s ({100 * build / r['point_cpu_seconds']:.0f} % "
              f"of the point's CPU); peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB")
    big = w[(w["services"] == w["services"].max()) & w["engine_load_seconds"].notna()]
    for r in big.to_dict("records"):
        build = r["ruleset_build_seconds"] + r["engine_load_seconds"]
        print(f"  {r['mode']} {int(r['services'])}-Service ruleset into the engine (render + parse + "
              f"apply, engine load): {build:.1f} s CPU = {100 * build / cpu:.0f} % of the sweep's CPU")
    print(f"  results of this run: {path}")
    if not args.skip_dask:
        w1, p1 = timed(sweep, "dask", 1)
        w2, p2 = timed(sweep, "dask", 2)
        for p in (p1, p2):
            shutil.rmtree(p.parents[1])
        print(f"dask LocalCluster: 1 worker {w1:.1f} s, 2 workers {w2:.1f} s, speed-up x{w1 / w2:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
