"""The userspace-vs-iptables scenarios (scenarios/userspace/) meet their expectations in both
modes, and each mode's own expectations are the ones checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.commands.options import with_mode
from sim.scenario.runner import run
from sim.scenario.spec import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios" / "userspace").glob("*.yaml"))
CASES = [(p, m) for p in SCENARIOS for m in ("userspace", "iptables")]


@pytest.mark.parametrize("path,mode", CASES, ids=[f"{p.stem}-{m}" for p, m in CASES])
def test_scenario_meets_its_expectations_in_both_modes(path, mode):
    """Every expectation for this mode (untagged or tagged with it) passes."""
    result = run(with_mode(load_scenario(path), mode))
    failed = [f"{e.name}: {e.detail}" for e in result.expectations if not e.passed]
    assert result.expectations and not failed, "\n".join(failed)


def test_mode_tagged_expectations_are_only_checked_in_their_mode():
    """An expectation with ``mode: userspace`` is not evaluated in an iptables run."""
    sc = load_scenario(ROOT / "scenarios" / "userspace" / "source-address.yaml")
    names = {m: {e.name for e in run(with_mode(sc, m)).expectations} for m in ("userspace", "iptables")}
    assert any(n.startswith("userspace") for n in names["userspace"])
    assert not any(n.startswith("userspace") for n in names["iptables"])
    assert not any(n.startswith("iptables") for n in names["userspace"])
