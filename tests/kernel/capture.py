"""Capture kernel outcomes of the shipped scenarios as JSON fixtures (needs root).

``PYTHONPATH=. .venv/bin/python -m tests.kernel.capture [SCENARIO ...]`` writes
``tests/fixtures/kernel/scenarios/<dir>-<name>.json`` for each scenario (default: every
scenario under ``scenarios/seed`` and ``scenarios/world``). Review the diff before committing:
the replay tests (``tests/kernel/test_replay.py``) hold the engine to these outcomes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.oracle import skip_reason
from tests.kernel.probing import capture_fixture, compiled_rules, scenario_cluster

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "kernel" / "scenarios"
SHIPPED = ("scenarios/seed", "scenarios/world")


def shipped_scenarios() -> list[str]:
    """Every shipped scenario that kube-proxy programs (relative paths, sorted)."""
    out = []
    for folder in SHIPPED:
        out += sorted(str(p.relative_to(ROOT)) for p in (ROOT / folder).glob("*.yaml"))
    return out


def fixture_path(scenario: str) -> Path:
    """Where the capture of ``scenario`` lives."""
    p = Path(scenario)
    return OUT / f"{p.parent.name}-{p.stem}.json"


def main(argv: list[str]) -> int:
    reason = skip_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for scenario in argv or shipped_scenarios():
        state, spec = scenario_cluster(str(ROOT / scenario))
        rules = compiled_rules(state, bootstrap_payload(), compile_rules)
        fixture = capture_fixture(scenario, state, spec, rules)
        if not fixture["probes"]:
            continue
        fixture_path(scenario).write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
        print(f"{scenario}: {len(fixture['probes'])} probes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
