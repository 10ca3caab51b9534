"""``kube-netsim sweep`` and ``kube-netsim plot`` on the command line."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.cli import main

SWEEP = """\
apiVersion: kube-netsim/v1
kind: Sweep
metadata: {name: cli}
spec:
  cluster: {nodes: 2, endpointsPerService: 2}
  grid: {services: [5, 15], seed: [1]}
  measure: {connections: 50, churnEvents: 1, compileRepeats: 1}
"""


@pytest.fixture
def sweep_file(tmp_path):
    p = tmp_path / "cli.yaml"
    p.write_text(SWEEP)
    return p


def test_invalid_sweep_exits_1_with_file_line_and_field(tmp_path, capsys):
    """A bad sweep file is a one-line error per problem, exit 1, no traceback."""
    p = tmp_path / "bad.yaml"
    p.write_text(SWEEP.replace("seed: [1]", "seed: [1], sevices: [3]"))
    assert main(["sweep", str(p), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{p}:6: spec.grid.sevices: Unsupported value" in err or \
        f"{p}:6: spec.grid.sevices" in err
    assert "Traceback" not in err


def test_sweep_writes_csv_and_parquet_and_resumes(sweep_file, tmp_path, capsys):
    """--parquet writes the same table as metrics.csv; a second run computes nothing."""
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--parquet", "--no-progress"]) == 0
    d = next((out / "cli").iterdir())
    csv_df = pd.read_csv(d / "metrics.csv", dtype={"table": str, "label": str})
    pq = pd.read_parquet(d / "metrics.parquet")
    assert len(pq) == len(csv_df) and list(pq.columns) == list(csv_df.columns)
    assert (pq["value"].fillna(-1).values == csv_df["value"].fillna(-1).values).all()
    capsys.readouterr()
    assert main(["sweep", str(sweep_file), "--out", str(out), "--no-progress"]) == 0
    assert "0 computed, 2 already done" in capsys.readouterr().out


@pytest.mark.slow
def test_sweep_on_a_dask_scheduler_address(sweep_file, tmp_path, capsys):
    """--executor dask --scheduler tcp://... runs the points on that cluster."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        code = main(["sweep", str(sweep_file), "--out", str(tmp_path), "--executor", "dask",
                     "--scheduler", cluster.scheduler_address, "--no-progress"])
    assert code == 0 and "2 computed" in capsys.readouterr().out


def test_plot_writes_figures_and_refuses_a_missing_sweep(sweep_file, tmp_path, capsys):
    """plot writes PNG+SVG per standard figure and prints the growth laws; a directory
    without a sweep table is an error, exit 1."""
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--no-progress"]) == 0
    assert main(["plot", str(out / "cli"), "--out", str(tmp_path / "fig")]) == 0
    assert len(list((tmp_path / "fig").glob("*.svg"))) == 5
    assert "rules-vs-services" in capsys.readouterr().out
    assert main(["plot", str(tmp_path / "nothing")]) == 1
    assert "no sweep results" in capsys.readouterr().err
