"""``kube-netsim sweep FILE [--executor local|dask] [-j N] [--scheduler ADDR] [--parquet]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.experiments.runner import EXECUTORS, run_sweep
from sim.experiments.sweepfile import load_sweep
from sim.model.errors import SimError
from sim.scenario.results import check_writable

HELP = ("run every point of a sweep file (resumable), write results/<sweep>/<sweep_id>/; "
        "exit 1 if a point failed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", help="sweep YAML file (kind: Sweep)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local worker processes (default) or a Dask cluster")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="worker processes (local; dask: LocalCluster workers) (default 1)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address tcp://HOST:PORT (default: a LocalCluster)")
    parser.add_argument("--parquet", action="store_true", help="write metrics.parquet too")
    parser.add_argument("--out", default="results", help="results directory (default: results)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise SimError(f"-j: Invalid value: {args.jobs}: must be at least 1")
    if args.scheduler and args.executor != "dask":
        raise SimError("--scheduler: Forbidden: only with --executor dask")
    sweep = load_sweep(args.sweep)
    check_writable(Path(args.out))
    result = run_sweep(sweep, args.out, args.executor, args.jobs, args.scheduler, args.parquet,
                       progress=not args.no_progress)
    print(f"{sweep.name}: {result.total} points: {result.done} computed, {result.skipped} "
          f"already done, {len(result.failed)} failed ({result.wall_s:.1f} s)")
    for pid, err in sorted(result.failed.items()):
        print(f"  failed {pid}: {err}", file=sys.stderr)
    print(f"results: {result.path}")
    return 1 if result.failed else 0
