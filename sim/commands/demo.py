"""``kube-netsim demo``: run every built-in scenario that has traffic, with a short report each."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.scenario.report import render
from sim.scenario.runner import run as run_scenario
from sim.scenario.spec import load_scenario

HELP = "run the built-in scenarios (scenarios/**) and print a short report for each"

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default=str(SCENARIOS), help="scenario directory to run")


def runnable(root: Path) -> list[Path]:
    """Scenario files under ``root`` that define traffic (the others only hold objects), sorted;
    files whose name starts with ``invalid`` are examples of refused input and skipped."""
    out = []
    for p in sorted(root.rglob("*.yaml")):
        if p.name.startswith("invalid"):
            continue
        text = p.read_text(errors="replace")
        if "kind: Scenario" in text and "traffic:" in text:
            out.append(p)
    return out


def run(args: argparse.Namespace) -> int:
    failed = []
    paths = runnable(Path(args.dir))
    for p in paths:
        scenario = load_scenario(p)
        result = run_scenario(scenario)
        print(f"=== {p}")
        print(render(result, brief=True))
        print()
        if not result.passed:
            failed.append(str(p))
    print(f"{len(paths) - len(failed)}/{len(paths)} scenarios passed")
    for p in failed:
        print(f"FAILED: {p}")
    return 1 if failed else 0
