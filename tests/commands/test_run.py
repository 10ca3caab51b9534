"""``kube-netsim run`` and ``kube-netsim demo``: report, results, exit codes, user errors."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.commands import run as run_cmd

WORLD = Path(__file__).resolve().parents[2] / "scenarios" / "world"


def _copy(tmp_path: Path, name: str) -> Path:
    shutil.copytree(WORLD / "manifests", tmp_path / "manifests")
    dst = tmp_path / name
    shutil.copy(WORLD / name, dst)
    return dst


def test_run_prints_report_writes_results_and_exits_0(tmp_path, capsys):
    """A passing scenario: tables, PASS lines, results path; exit 0."""
    code = main(["run", str(WORLD / "no-endpoints.yaml"), "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "EXPECTATIONS" in out and "FLOWS" in out and "3 passed, 0 failed" in out
    assert (tmp_path / "no-endpoints").is_dir()


def test_run_exits_1_when_an_expectation_fails(tmp_path, capsys):
    """Flip an expectation so it cannot hold: the run reports FAIL and exits 1."""
    path = _copy(tmp_path, "no-endpoints.yaml")
    path.write_text(path.read_text().replace("  - type: dropped\n", "  - type: reachable\n"))
    code = main(["run", str(path), "--out", str(tmp_path / "r"), "--no-progress"])
    assert code == 1
    assert "FAIL" in capsys.readouterr().out


def test_run_reports_bad_traffic_as_a_message_with_file_line_and_field(tmp_path, capsys):
    """A wrong field in spec.traffic is a one-line error naming file, line and path, exit 1."""
    path = _copy(tmp_path, "no-endpoints.yaml")
    text = path.read_text().replace("rate: 10\n", "rate: fast\n", 1)
    path.write_text(text)
    line = text.splitlines().index("      rate: fast") + 1
    code = main(["run", str(path), "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{path}:{line}: spec.traffic.flows[0].rate: Invalid value: \"fast\": must be a number" in err
    assert "Traceback" not in err


def test_seed_option_overrides_spec_seed(tmp_path):
    """--seed N names the run directory seed<N>-..."""
    main(["run", str(WORLD / "no-endpoints.yaml"), "--seed", "99", "--out", str(tmp_path), "--no-progress"])
    assert [p.name.split("-")[0] for p in (tmp_path / "no-endpoints").iterdir()] == ["seed99"]


def test_demo_runs_every_scenario_with_traffic(tmp_path, capsys):
    """demo runs each runnable scenario of a directory and summarises."""
    _copy(tmp_path, "no-endpoints.yaml")
    shutil.copy(WORLD / "manual-endpoints.yaml", tmp_path)
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    assert "2/2 scenarios passed" in capsys.readouterr().out


def test_scenario_without_traffic_runs_and_says_so(tmp_path, capsys):
    """A scenario with objects only (no spec.traffic) runs without error and says nothing
    was sent; no expectations means exit 0."""
    seed = Path(__file__).resolve().parents[2] / "scenarios" / "seed" / "nodeport.yaml"
    assert main(["run", str(seed), "--out", str(tmp_path), "--no-progress"]) == 0
    assert "no spec.traffic" in capsys.readouterr().out


def test_results_do_not_depend_on_python_hash_randomisation(tmp_path):
    """Two processes with different PYTHONHASHSEED write byte-identical result files: no
    set or dict order leaks into outputs (run as a user would, through the CLI)."""
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        subprocess.run([sys.executable, "-m", "sim.cli", "run", str(WORLD / "nodeport-policies.yaml"),
                        "--out", str(out), "--no-progress"], env=env, check=True,
                       capture_output=True)
        (run_dir,) = (out / "nodeport-policies").iterdir()
        outs.append(run_dir)
    for name in ("manifest.json", "metrics.csv", "connections.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_report_shows_the_node_by_service_nodeport_matrix(tmp_path, capsys):
    """The NodePort matrix table has one column per node and one row per matrix expectation."""
    main(["run", str(WORLD / "nodeport-policies.yaml"), "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    table = out.split("NODEPORT MATRIX")[1].split("\n\n")[0].splitlines()
    assert table[1].split()[-3:] == ["node-1", "node-2", "node-3"]
    assert table[3].startswith("Local policy answers only where a pod runs")
    assert table[3].split()[-3:] == ["reachable", "reachable", "dropped"]


def test_progress_is_printed_once_a_second_of_wall_time(monkeypatch):
    """Long runs report progress on stderr, at most once per wall-clock second."""
    clock = iter([0.0, 0.5, 1.2, 1.4, 2.5])
    monkeypatch.setattr(run_cmd.time, "perf_counter", lambda: next(clock))
    stream = io.StringIO()
    show = run_cmd.progress_printer(stream)
    for now in (1.0, 2.0, 3.0, 4.0):
        show(now, 4.0, int(now * 10))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].strip().startswith("[ 50.0%] simulated 2.00/4.00 s, 20 connections")


def test_out_that_is_a_file_is_refused_before_the_run(tmp_path, capsys):
    """--out naming an existing file: a one-line error naming it, exit 1, no report, no
    traceback (the run does not start)."""
    out = tmp_path / "file"
    out.write_text("x")
    code = main(["run", str(WORLD / "no-endpoints.yaml"), "--out", str(out), "--no-progress"])
    cap = capsys.readouterr()
    assert code == 1
    assert f"--out {out}: {out} is not a directory" in cap.err
    assert "EXPECTATIONS" not in cap.out and "Traceback" not in cap.err


def test_results_that_cannot_be_written_are_a_message_and_leave_nothing(tmp_path, capsys):
    """A write failure after the run (the scenario's directory is a file) is a message naming
    the path, exit 1, and no temporary directory is left behind."""
    (tmp_path / "no-endpoints").write_text("in the way")
    code = main(["run", str(WORLD / "no-endpoints.yaml"), "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot write results to {tmp_path / 'no-endpoints'}" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-endpoints"]


def test_interrupted_write_leaves_the_previous_results_and_no_temporary(tmp_path, monkeypatch):
    """An interrupt while the files are written (Ctrl-C) removes the temporary directory and
    leaves the earlier complete run in place."""
    from sim.scenario import results, runner
    from sim.scenario.spec import load_scenario

    result = runner.run(load_scenario(WORLD / "no-endpoints.yaml"))
    d = results.write_results(result, tmp_path)
    before = {p.name: p.read_bytes() for p in d.iterdir()}

    def interrupted(_result, where):
        (where / "manifest.json").write_text("{half")
        raise KeyboardInterrupt
    monkeypatch.setattr(results, "_write_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results.write_results(result, tmp_path)
    assert [p.name for p in d.parent.iterdir()] == [d.name]
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_seed_outside_range_is_a_message(tmp_path, capsys, seed):
    """--seed must be in [0, 2**63): anything else is a one-line error, exit 1."""
    code = main(["run", str(WORLD / "no-endpoints.yaml"), "--seed", seed, "--out", str(tmp_path),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"--seed: Invalid value: {seed}: must be an integer in [0, 2^63)" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_flow_to_a_missing_service_is_refused_before_the_run(tmp_path, capsys):
    """A flow to a Service nothing creates is a load-time error naming file, line and field,
    not a run that records 'unresolved'."""
    path = _copy(tmp_path, "no-endpoints.yaml")
    path.write_text(path.read_text().replace("service: default/empty, port: 80}",
                                             "service: default/nope, port: 80}", 1))
    code = main(["run", str(path), "--out", str(tmp_path / "r"), "--no-progress"])
    cap = capsys.readouterr()
    assert code == 1
    assert 'spec.traffic.flows[0].to.service: Not found: "default/nope"' in cap.err
    assert "FLOWS" not in cap.out and not (tmp_path / "r").exists()


def test_event_the_cluster_refuses_names_file_and_event(tmp_path, capsys):
    """deletePod of a pod that does not exist fails when it fires: the message names the
    scenario file, the event's field path and time; exit 1, no results written."""
    path = _copy(tmp_path, "no-endpoints.yaml")
    path.write_text(path.read_text().replace(
        "  expect:\n", "  events:\n  - {at: 1, action: deletePod, pod: default/ghost}\n  expect:\n"))
    code = main(["run", str(path), "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f'error: {path}: spec.events[0] (deletePod at 1 s): pods "ghost" not found' in err
    assert not (tmp_path / "r").exists()
