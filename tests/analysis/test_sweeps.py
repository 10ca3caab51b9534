"""sim.analysis on a sweep's table: curves, growth laws, figures, and 02-scaling.ipynb under
a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.analysis.scaling import plot_standard
from sim.analysis.sweeps import (
    curve,
    fit_growth,
    growth_laws,
    load_sweep_table,
    metric,
    rule_law,
    wide,
)
from sim.experiments.runner import run_sweep
from sim.experiments.sweepfile import load_sweep

ROOT = Path(__file__).resolve().parents[2]
SWEEP = """\
apiVersion: kube-netsim/v1
kind: Sweep
metadata: {name: nbsweep}
spec:
  cluster: {nodes: 2, endpointsPerService: 3}
  grid: {services: [10, 30, 100], seed: [1]}
  measure: {connections: 200, churnEvents: 1, compileRepeats: 1}
"""


@pytest.fixture(scope="module")
def sweep_results(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    (d / "s.yaml").write_text(SWEEP)
    run = run_sweep(load_sweep(d / "s.yaml"), d / "results", progress=False)
    assert not run.failed
    return run.path


def test_table_has_every_parameter_on_every_row(sweep_results):
    """Every row carries the point's parameters; one row per point in the wide view."""
    df = load_sweep_table(sweep_results)
    assert df[["services", "mode", "seed", "endpointsPerService"]].notna().all().all()
    assert len(wide(df)) == 3


def test_rules_follow_the_law_and_grow_linearly(sweep_results):
    """nat rules equal 5 + S(2 + 3E) at every point, and the rules curve fits as linear."""
    df = load_sweep_table(sweep_results)
    nat = metric(df, "sync_proxy_rules_iptables_total", table="nat")
    assert (nat["value"] == rule_law(nat["services"], nat["endpointsPerService"])).all()
    c = curve(df, "services", "rules_total")
    assert fit_growth(c["services"], c["rules_total"]).law == "linear"
    laws = growth_laws(df)
    assert set(laws["curve"]) >= {"rules-vs-services", "walk-vs-services", "sync-vs-rules"}


def test_plot_writes_png_and_svg_per_standard_figure(sweep_results, tmp_path):
    """Five standard figures, each as PNG and SVG."""
    paths = plot_standard(load_sweep_table(sweep_results), tmp_path)
    assert len(paths) == 10 and all(p.stat().st_size > 1000 for p in paths)
    assert {p.suffix for p in paths} == {".png", ".svg"}


def test_scaling_notebook_executes_in_a_jupyter_kernel(sweep_results, tmp_path):
    """notebooks/02-scaling.ipynb is stored without outputs, its first code cell is tagged
    ``parameters``, and every cell runs without error in a real kernel on a small sweep."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "notebooks" / "02-scaling.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    code[0].source = (f"RESULTS = {str(sweep_results)!r}\n"
                      f"CALIBRATION = {str(ROOT / 'sim/world/calibration/restore_times.csv')!r}\n"
                      "ENDPOINTS = 3\n")
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any cell error
    assert any(o.get("output_type") == "display_data" for c in code for o in c.outputs)
