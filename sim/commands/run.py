"""``kube-netsim run SCENARIO [--seed N] [--out DIR]``: simulate, report, check expectations."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sim.scenario.report import render, to_json
from sim.scenario.results import check_writable, write_results
from sim.scenario.runner import run as run_scenario
from sim.commands.options import add_mode_argument, with_mode
from sim.scenario.spec import load_scenario

HELP = "run a scenario under the simulated clock, print a report, exit 1 if an expectation fails"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default: spec.seed)")
    add_mode_argument(parser)
    parser.add_argument("--out", default="results", help="results directory (default: results)")
    parser.add_argument("--no-progress", action="store_true", help="do not print progress")
    parser.add_argument("--json", action="store_true",
                        help="print the report as one JSON object (results are written as usual)")


def progress_printer(stream=sys.stderr):
    """Progress on stderr for runs that take a while (only once a second of wall time)."""
    start = time.perf_counter()
    last = [start]

    def show(now: float, end: float, conns: int) -> None:
        t = time.perf_counter()
        if t - last[0] >= 1.0 or (now >= end and t - start >= 1.0):
            last[0] = t
            pct = 100.0 * now / end if end else 100.0
            print(f"  [{pct:5.1f}%] simulated {now:.2f}/{end:.2f} s, {conns} connections, "
                  f"{t - start:.1f} s elapsed", file=stream, flush=True)
    return show


def run(args: argparse.Namespace) -> int:
    scenario = with_mode(load_scenario(args.scenario), args.mode)
    check_writable(Path(args.out))
    result = run_scenario(scenario, args.seed,
                          progress=None if args.no_progress else progress_printer(), freeze_gc=True)
    out = write_results(result, Path(args.out))
    if args.json:
        print(json.dumps({**to_json(result), "results": str(out)}, indent=2))
    else:
        print(render(result))
        print(f"results: {out}")
    return 0 if result.passed else 1
