"""The command-line dispatcher: exit codes and messages, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim import cli
from sim.model.errors import SimError


def test_every_listed_command_is_registered():
    """Each name in COMMANDS has a module with HELP, add_arguments and run."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(cli.COMMANDS)


def test_usage_error_exits_1_with_a_message(capsys):
    """An unknown option is bad input: exit code 1, a usage line, no traceback."""
    with pytest.raises(SystemExit) as exc:
        cli.main(["rules", "x.yaml", "--no-such-option"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "unrecognized arguments: --no-such-option" in err
    assert "Traceback" not in err


def test_sim_error_is_printed_and_exits_1(monkeypatch, capsys):
    """A SimError raised by a command becomes 'error: <message>' and exit 1."""
    def boom(args):
        raise SimError("scenario.yaml:3: spec.seed: Invalid value: -1: must be >= 0")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = parser.parse_args(["validate", "x.yaml"])
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    args._run = boom
    assert cli.main([]) == 1
    assert capsys.readouterr().err == "error: scenario.yaml:3: spec.seed: Invalid value: -1: must be >= 0\n"


def test_interrupt_exits_130_without_traceback(monkeypatch, capsys):
    """Ctrl-C during a command prints 'interrupted' and exits 130."""
    parser = cli.build_parser()
    args = parser.parse_args(["validate", "x.yaml"])

    def interrupted(a):
        raise KeyboardInterrupt

    args._run = interrupted
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    assert cli.main([]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_console_entry_point_runs_as_a_module():
    """`python -m sim.cli --help` works (the console script calls the same main)."""
    out = subprocess.run([sys.executable, "-m", "sim.cli", "--help"], capture_output=True,
                         text=True, check=True)
    assert "validate" in out.stdout and "run" in out.stdout
