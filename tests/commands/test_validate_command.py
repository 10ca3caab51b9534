"""``kube-netsim validate``: every error with file, line and field path; exit codes."""

from __future__ import annotations

from pathlib import Path

from sim.cli import main

ROOT = Path(__file__).resolve().parents[2] / "scenarios"


def test_valid_scenarios_exit_0(capsys):
    """All seed scenarios validate: exit 0, one 'valid' line each."""
    seeds = sorted(str(p) for p in (ROOT / "seed").glob("*.yaml"))
    assert main(["validate", *seeds]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(seeds) and all(": valid (" in line for line in out)


def test_invalid_scenario_prints_error_with_file_line_and_path(capsys):
    """A refused object prints file:line, the object and the apiserver message; exit 1."""
    path = ROOT / "invalid" / "duplicate-nodeport.yaml"
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == (f"{path}:33: Service default/second: spec.ports[0].nodePort: Invalid value: "
                            "30036: provided port is already allocated\n")
    assert f"{path}: 1 error" in captured.err


def test_every_error_is_printed(capsys):
    """All errors of a scenario are printed, not only the first."""
    path = ROOT / "invalid" / "endpoints-link-local.yaml"
    assert main(["validate", str(path)]) == 1
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_warning_goes_to_stderr(capsys):
    """A skipped unknown kind is a warning on stderr."""
    main(["validate", str(ROOT / "invalid" / "unknown-field.yaml")])
    assert 'warning: ' in capsys.readouterr().err


def test_malformed_yaml_is_reported_without_traceback(tmp_path, capsys):
    """Malformed YAML: one line with file:line:column, exit 1."""
    p = tmp_path / "bad.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: [Scenario\n")
    assert main(["validate", str(p)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{p}:3:1: malformed YAML") and "Traceback" not in out


def test_missing_file_exit_1(tmp_path, capsys):
    """A missing scenario file is an error line and exit 1."""
    assert main(["validate", str(tmp_path / "none.yaml")]) == 1
    assert "none.yaml: no such file" in capsys.readouterr().out


def test_schema_errors_printed_with_lines(tmp_path, capsys):
    """Scenario-format errors are printed one per line with their line numbers."""
    p = tmp_path / "s.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: s}\nspec:\n  seed: -1\n  foo: 1\n")
    assert main(["validate", str(p)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f'{p}:6: spec.foo: Unknown field: strict decoding error: unknown field "spec.foo"',
                   f"{p}:5: spec.seed: Invalid value: -1 is less than the minimum of 0"]


def test_mixed_valid_and_invalid_exit_1(capsys):
    """One bad scenario among good ones makes the exit code 1."""
    assert main(["validate", str(ROOT / "seed" / "headless.yaml"), str(ROOT / "invalid" / "nodeport-80.yaml")]) == 1
