"""``kube-netsim regress``: passes on an unchanged tree, fails readably when a curve moves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim.cli import main
from sim.experiments import modemetrics

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def baseline(tmp_path):
    """A copy of the committed baseline (so --update in a test never touches the tree)."""
    d = tmp_path / "baseline"
    shutil.copytree(ROOT / "results" / "baseline", d)
    return d


def _patch_counts(monkeypatch, change):
    real = modemetrics.MODE_METRICS["iptables"]

    def counts(payload):
        return [(m, t, lab, change(m, v, payload)) for m, t, lab, v in real.counts(payload)]
    monkeypatch.setitem(modemetrics.MODE_METRICS, "iptables",
                        modemetrics.ModeMetrics(real.compile, counts, real.control_plane))


def test_regress_passes_on_an_unchanged_tree(baseline, capsys):
    """Rerunning the committed baseline sweep matches it: exit 0, 'regress: OK'."""
    assert main(["regress", "--baseline", str(baseline), "--no-progress"]) == 0
    assert "regress: OK" in capsys.readouterr().out


def test_regress_fails_when_the_rule_count_doubles(baseline, capsys, monkeypatch):
    """Doubling every rule count fails the exact check and names the metric and the factor."""
    _patch_counts(monkeypatch, lambda m, v, p: 2 * v if m == "rules_total" else v)
    assert main(["regress", "--baseline", str(baseline), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "rules_total" in out and "changed x2" in out


def test_regress_fails_when_a_linear_curve_turns_quadratic(baseline, capsys, monkeypatch):
    """Rules growing with the square of the Services fail the growth-law check, which says
    which curve changed class and how."""
    def square(m, v, payload):
        services = sum(1 for c in payload.table("nat").chains if c.name.startswith("KUBE-SVC-"))
        return v * services if m == "rules_total" else v
    _patch_counts(monkeypatch, square)
    assert main(["regress", "--baseline", str(baseline), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "rules-vs-services" in out and "linear -> quadratic" in out
