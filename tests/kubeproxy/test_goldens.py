"""Golden rules for every shipped scenario: the restore payload and the ``iptables-save`` form
of every node, compared as whole dumps.

On a mismatch the test prints a unified diff and the full output. Goldens change only when
regenerated explicitly: ``KUBE_NETSIM_REGEN=1 .venv/bin/python -m pytest tests/kubeproxy/test_goldens.py``
(then review ``git diff tests/kubeproxy/golden``).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
import yaml

from sim.commands.rules import render
from sim.kubeproxy.iptables import compile_rules
from sim.scenario.spec import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("KUBE_NETSIM_REGEN") == "1"


def _is_scenario(path: Path) -> bool:
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError:
        return False
    return len(docs) == 1 and isinstance(docs[0], dict) and docs[0].get("kind") == "Scenario"


def shipped_scenarios() -> list[Path]:
    """Scenario files under scenarios/ (manifest files and the deliberately invalid examples
    under scenarios/invalid are not scenarios to compile)."""
    return sorted(p for p in SCENARIOS.rglob("*.yaml")
                  if "invalid" not in p.relative_to(SCENARIOS).parts and _is_scenario(p))


def _golden_name(scenario: Path, node: str, fmt: str) -> Path:
    rel = scenario.relative_to(SCENARIOS).with_suffix("")
    return GOLDEN / f"{'__'.join(rel.parts)}__{node}.{fmt}"


def _compare(path: Path, actual: str) -> None:
    if REGEN:
        path.write_text(actual)
        return
    if not path.exists():
        raise AssertionError(f"missing golden {path.relative_to(ROOT)}; regenerate with "
                             f"KUBE_NETSIM_REGEN=1 and review the diff.\nfull output:\n{actual}")
    expected = path.read_text()
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            str(path.relative_to(ROOT)), "actual"))
        raise AssertionError(f"{path.name} differs:\n{diff}\nfull output:\n{actual}")


@pytest.mark.parametrize("scenario", shipped_scenarios(), ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_rules_match_golden(scenario: Path):
    """Every node's restore payload and save rendering equal the reviewed goldens."""
    state = load_scenario(scenario).state()
    assert state.nodes, f"{scenario} has no nodes"
    for node in state.nodes:
        payload = compile_rules(state, node.name)
        _compare(_golden_name(scenario, node.name, "restore"), payload.render())
        _compare(_golden_name(scenario, node.name, "save"), render(payload, "save"))


def test_every_golden_belongs_to_a_scenario():
    """No golden file is left over from a renamed or deleted scenario or node."""
    expected = set()
    for scenario in shipped_scenarios():
        for node in load_scenario(scenario).state().nodes:
            expected |= {_golden_name(scenario, node.name, f) for f in ("restore", "save")}
    stale = sorted(p.name for p in GOLDEN.iterdir() if p.is_file() and p not in expected)
    if REGEN:
        for name in stale:
            (GOLDEN / name).unlink()
        return
    assert not stale, f"stale goldens (delete them or regenerate): {stale}"
