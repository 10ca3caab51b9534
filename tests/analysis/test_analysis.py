"""sim.analysis reads what a run wrote; the notebooks run on a small run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import matplotlib
import pytest

from sim.analysis.results import latest_run, load_run, outcome_timeline, programming_latencies
from sim.scenario.results import write_results
from sim.scenario.runner import run
from sim.scenario.spec import load_scenario

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rolling(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    result = run(load_scenario(ROOT / "scenarios" / "world" / "rolling-replacement.yaml"))
    write_results(result, out)
    return out, result


def test_loaded_rows_match_the_run(rolling):
    """Every connection and programming-latency record comes back from the files."""
    out, result = rolling
    data = load_run(latest_run(out, "rolling-replacement"))
    assert len(data.connections) == len(result.recorder.connections)
    assert programming_latencies(data) == pytest.approx(
        sorted(r.latency_s for r in result.recorder.programming))


def test_outcome_timeline_counts_every_connection_once(rolling):
    """Binned outcome counts add up to the run's outcome counts."""
    out, result = rolling
    data = load_run(latest_run(out, "rolling-replacement"))
    total: Counter = Counter()
    for _, counts in outcome_timeline(data, 0.5):
        total.update(counts)
    assert total == Counter(c.outcome for c in result.recorder.connections)


def test_notebooks_run_on_a_small_run(rolling):
    """Each notebook's code cells execute in order with RESULTS pointed at the test run."""
    out, _ = rolling
    for nb_path in sorted((ROOT / "notebooks").glob("01-*.ipynb")):  # 02: test_sweeps.py
        nb = json.loads(nb_path.read_text())
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
        scope: dict = {}
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        exec("".join(code[0]["source"]), scope)
        scope["RESULTS"] = str(out)
        for cell in code[1:]:
            exec("".join(cell["source"]), scope)
