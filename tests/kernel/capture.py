"""Capture kernel outcomes of the shipped scenarios as JSON fixtures (needs root).

``PYTHONPATH=. .venv/bin/python -m tests.kernel.capture [SCENARIO ...]`` writes
``tests/fixtures/kernel/scenarios/<dir>-<name>.json`` for each scenario (default: every
scenario under ``scenarios/seed``, ``scenarios/world`` and ``scenarios/dns``), and, when no
scenario is named, ``tests/fixtures/kernel/spread.json``: the endpoint counts of 1,500 kernel
connections to the 3-endpoint Service of :mod:`tests.kernel.stat_cluster`. Review the diff before committing:
the replay tests (``tests/kernel/test_replay.py``) hold the engine to these outcomes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.oracle import KernelCluster, skip_reason
from tests.kernel.probing import (
    capture_fixture,
    cluster_spec,
    compiled_rules,
    load_rules,
    scenario_cluster,
    spec_json,
)
from tests.kernel.stat_cluster import CLIENT_IPS, CONNECTIONS, probe_to, stat_state

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "kernel" / "scenarios"
SHIPPED = ("scenarios/seed", "scenarios/world", "scenarios/dns")


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


def capture_spread() -> dict:
    """Endpoint counts of :data:`CONNECTIONS` kernel connections to ``default/web``."""
    state = stat_state()
    spec = cluster_spec(state, CLIENT_IPS)
    rules = compiled_rules(state, bootstrap_payload(), compile_rules)
    probe = probe_to(CLIENT_IPS[0], "10.96.0.10")
    with KernelCluster(spec) as kc:
        load_rules(kc, rules)
        results = kc.probe(probe.source, probe.dst, probe.port, src_ip=probe.src_ip,
                           count=CONNECTIONS, timeout_s=1.0)
    counts: dict[str, int] = {}
    for r in results:
        key = r.pod if r.status == "ok" else r.status
        counts[key] = counts.get(key, 0) + 1
    return {"spec": spec_json(spec), "rules": rules, "probe": asdict(probe),
            "counts": dict(sorted(counts.items()))}


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
    if not argv:
        spread = capture_spread()
        (OUT.parent / "spread.json").write_text(json.dumps(spread, indent=1, sort_keys=True)
                                                + "\n")
        print(f"spread: {spread['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
