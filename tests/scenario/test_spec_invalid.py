"""The refused scenario variants under scenarios/invalid/ give exactly the messages recorded in
their ``# expected-error:`` / ``# expected-warning:`` comments."""

from __future__ import annotations

import pytest

from sim.kubeproxy.modes import BUILT_MODES
from sim.scenario.spec import check_scenario
from tests.conftest import SCENARIOS

INVALID = sorted(SCENARIOS.glob("invalid/*.yaml"))


def recorded(path, tag):
    prefix = f"# {tag}: "
    # {BUILT_MODES} stands for the modes that have a compiler (the list grows as modes land).
    built = ", ".join(f'"{m}"' for m in BUILT_MODES)
    return [line[len(prefix):].replace("{BUILT_MODES}", built)
            for line in path.read_text().splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_scenario_refused_with_recorded_messages(path):
    """Each invalid variant is refused with the recorded file line, object and message (all of
    them: strict decoding, schema and apiserver errors together, as ``validate`` prints)."""
    result = check_scenario(path)
    errors, warnings = result.errors, result.warnings
    got = [f"{e.line}: {e.object_ref}: {e.message()}" for e in errors]
    assert got == recorded(path, "expected-error")
    assert all(e.file == str(path) for e in errors)
    assert [w.split(": ", 1)[1] for w in warnings] == recorded(path, "expected-warning")


def test_required_variants_present():
    """The issue's five refused variants are shipped."""
    names = {p.stem for p in INVALID}
    assert {"nodeport-80", "clusterip-out-of-range", "endpoints-loopback", "duplicate-nodeport",
            "sctp-without-gate"} <= names


def test_each_invalid_variant_records_an_error():
    """No invalid variant is vacuous: each records at least one expected error."""
    assert all(recorded(p, "expected-error") for p in INVALID)
