"""``kube-netsim regress [--update]``: rerun the committed baseline sweep and compare.

``results/baseline/`` holds a small-grid sweep (``sweep.yaml``) and its committed results
(``metrics.csv``, ``manifest.json``). ``regress`` runs the sweep again (into a temporary
directory) and compares with :func:`sim.analysis.sweeps.compare`: counts, walk lengths and
modelled/simulated times identical; timings as ratios to the reference micro-benchmark
measured in the same run, within ``--tolerance``; the growth law of every standard curve
unchanged. It prints what moved and exits 1 if anything failed. ``--update`` writes the new
results over the baseline instead (review its diff before committing).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from sim.analysis.sweeps import compare, load_sweep_manifest, load_sweep_table
from sim.experiments.runner import run_sweep
from sim.experiments.sweepfile import load_sweep
from sim.model.errors import SimError

HELP = "rerun the committed baseline sweep (results/baseline/) and compare; --update rewrites it"
BASELINE = Path("results") / "baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", default=str(BASELINE),
                        help="baseline directory with sweep.yaml, metrics.csv, manifest.json "
                             "(default: results/baseline)")
    parser.add_argument("--update", action="store_true",
                        help="write this run's results as the new baseline")
    parser.add_argument("--tolerance", type=float, default=3.0,
                        help="allowed factor on timings relative to the reference benchmark "
                             "(default 3: the machine is shared)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    base = Path(args.baseline)
    sweep = load_sweep(base / "sweep.yaml")
    if args.tolerance <= 1.0:
        raise SimError(f"--tolerance: Invalid value: {args.tolerance}: must be greater than 1")
    with tempfile.TemporaryDirectory(prefix="kube-netsim-regress-") as tmp:
        result = run_sweep(sweep, tmp, "local", args.jobs, progress=not args.no_progress)
        if result.failed:
            for pid, err in sorted(result.failed.items()):
                print(f"point {pid} failed: {err}")
            return 1
        if args.update:
            for name in ("metrics.csv", "manifest.json"):
                shutil.copyfile(result.path / name, base / name)
            print(f"baseline updated: {base} (review the diff before committing)")
            return 0
        if not (base / "metrics.csv").is_file():
            raise SimError(f"{base}/metrics.csv: no baseline yet (kube-netsim regress --update)")
        timing = set(load_sweep_manifest(result.path).get("timingMetrics", []))
        findings = compare(load_sweep_table(base), load_sweep_table(result.path), timing,
                           args.tolerance)
    return report(findings, base, args.tolerance)


def report(findings: pd.DataFrame, base: Path, tolerance: float) -> int:
    """Print the comparison: what failed first, then a summary; 1 if anything failed."""
    bad = findings[~findings["ok"]]
    with pd.option_context("display.width", 200, "display.max_colwidth", 80,
                           "display.max_rows", 200):
        if not bad.empty:
            print(f"REGRESSION against {base}: {len(bad)} finding(s)")
            print(bad[["check", "where", "metric", "baseline", "now", "detail"]].to_string(index=False))
        timings = findings[(findings["check"] == "timing") & findings["ok"]]
        growth = findings[(findings["check"] == "growth") & findings["ok"]]
        print(f"checked: exact values identical except as listed; {len(timings)} timings within "
              f"x{tolerance:g} of the reference-normalised baseline; {len(growth)} growth laws unchanged")
        if not growth.empty:
            print(growth[["where", "metric", "detail"]].to_string(index=False))
    if bad.empty:
        print("regress: OK")
        return 0
    return 1
