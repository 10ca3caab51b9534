"""The hostile-input corpus: every file in ``tests/hostile/corpus`` ends within seconds with
exit 0 or 1, one clear line per problem and never a traceback.

Each corpus file states what it expects in ``# expect:`` header lines::

    # expect: validate exit 1: <text the output must contain>
    # expect: trace --dst 10.96.0.1 --dport 443 exit 1: <text>

The command is run on the file (``validate FILE``, ``show FILE``, ``trace --rules FILE ...``
for ``.rules`` files). A binary file keeps its lines in ``<file>.expect`` beside it. Add a file to grow the corpus; special files that cannot be committed
(a FIFO, ``/dev/zero``, a directory, a symbolic link loop) are made by the tests below.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path

import pytest

from sim.cli import main

CORPUS = Path(__file__).with_name("corpus")
_EXPECT = re.compile(r"#\s*expect:\s*(.*?)\s+exit\s+([01])(?::\s*(.*))?$")
SECONDS = 10.0


def _cases() -> list[tuple[Path, str, int, str]]:
    out = []
    for path in sorted(CORPUS.glob("*")):
        if not path.is_file() or path.suffix == ".expect":
            continue
        sidecar = path.with_name(path.name + ".expect")
        source = sidecar if sidecar.exists() else path
        head = source.read_bytes()[:4096].decode("utf-8", "replace").splitlines()
        for line in head:
            m = _EXPECT.match(line)
            if m:
                out.append((path, m.group(1), int(m.group(2)), m.group(3) or ""))
    return out


def _run(argv: list[str], capsys) -> tuple[int, str, float]:
    start = time.perf_counter()
    code = main(argv)
    took = time.perf_counter() - start
    captured = capsys.readouterr()
    return code, captured.out + captured.err, took


def _argv(path: Path, command: str) -> list[str]:
    words = shlex.split(command)
    if words[0] == "trace":
        return ["trace", "--rules", str(path), *words[1:]]
    return [words[0], *words[1:], str(path)]


def test_corpus_is_not_empty():
    """The corpus has cases (a glob that finds nothing would make every test vacuous)."""
    assert len(_cases()) >= 10


@pytest.mark.parametrize("path,command,code,text", _cases(),
                         ids=lambda v: v.name if isinstance(v, Path) else None)
def test_corpus_case(path, command, code, text, capsys):
    """The command ends in seconds with the stated exit code and message, no traceback."""
    got, output, took = _run(_argv(path, command), capsys)
    assert "Traceback" not in output
    assert got == code, output
    assert text in output, output
    assert took < SECONDS


def _scenario_naming(tmp_path: Path, target: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text("apiVersion: kube-netsim/v1\nkind: Scenario\nmetadata: {name: s}\n"
                 f"spec:\n  manifests: [{target}]\n")
    return p


def _special(tmp_path: Path, kind: str) -> tuple[Path, str]:
    if kind == "dev-zero":
        return Path("/dev/zero"), "is a character device, not a regular file"
    if kind == "directory":
        d = tmp_path / "dir.yaml"
        d.mkdir()
        return d, "is a directory, not a file"
    if kind == "fifo":
        f = tmp_path / "fifo.yaml"
        os.mkfifo(f)
        return f, "is a FIFO (named pipe), not a regular file"
    a, b = tmp_path / "loop-a.yaml", tmp_path / "loop-b.yaml"
    a.symlink_to(b)
    b.symlink_to(a)
    return a, "a symbolic link loop"


SPECIAL = ("dev-zero", "directory", "fifo", "symlink-loop")


@pytest.mark.parametrize("kind", SPECIAL)
def test_special_file_as_scenario(tmp_path, kind, capsys):
    """A special file given as the scenario gets one clear line, exit 1, at once."""
    path, words = _special(tmp_path, kind)
    code, output, took = _run(["validate", str(path)], capsys)
    assert code == 1 and words in output and took < SECONDS


@pytest.mark.parametrize("kind", SPECIAL)
def test_special_file_as_manifest(tmp_path, kind, capsys):
    """A special file named in spec.manifests: one line naming the field and the file."""
    path, words = _special(tmp_path, kind)
    code, output, took = _run(["validate", str(_scenario_naming(tmp_path, str(path)))], capsys)
    assert code == 1 and words in output and "spec.manifests[0]" in output and took < SECONDS


@pytest.mark.parametrize("kind", SPECIAL)
def test_special_file_as_rules(tmp_path, kind, capsys):
    """A special file given to trace --rules: one clear line, exit 1."""
    path, words = _special(tmp_path, kind)
    code, output, took = _run(["trace", "--rules", str(path), "--src", "10.0.0.1",
                               "--dst", "10.96.0.1", "--dport", "443"], capsys)
    assert code == 1 and words in output and took < SECONDS
    assert output.count("error:") == 1


def test_oversized_scenario_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    """A file over the input limit is refused by its size, naming the limit."""
    import sim.scenario.inputfile as inputfile

    monkeypatch.setattr(inputfile, "MAX_YAML_BYTES", 1024)
    import sim.scenario.spec as spec

    monkeypatch.setattr(spec, "MAX_YAML_BYTES", 1024)
    p = tmp_path / "big.yaml"
    p.write_text("# " + "x" * 2000 + "\n")
    code, output, _ = _run(["validate", str(p)], capsys)
    assert code == 1 and "larger than the 1 KiB input limit" in output


def test_sparse_huge_rules_file_is_refused(tmp_path, capsys):
    """A 2 GiB sparse --rules file is refused by its size without being read."""
    p = tmp_path / "huge.rules"
    with open(p, "wb") as fh:
        fh.truncate(2 * 2**30)
    code, output, took = _run(["trace", "--rules", str(p), "--src", "10.0.0.1",
                               "--dst", "10.96.0.1", "--dport", "443"], capsys)
    assert code == 1 and "larger than the 1 GiB input limit" in output and took < SECONDS


@pytest.mark.parametrize("kind", SPECIAL)
def test_streamed_input_refuses_special_files(tmp_path, kind):
    """open_input (streaming a big dump line by line) refuses the same files read_input does."""
    from sim.model.errors import SimError
    from sim.scenario.inputfile import open_input

    path, words = _special(tmp_path, kind)
    with pytest.raises(SimError, match=re.escape(words)):
        open_input(path)


def test_streamed_input_stops_at_the_limit(tmp_path):
    """A file that grows past the limit while streamed (a /proc file reports size 0) stops."""
    from sim.model.errors import SimError
    from sim.scenario.inputfile import open_input

    p = tmp_path / "r.rules"
    p.write_bytes(b"x\n" * 1000)
    with pytest.raises(SimError, match="larger than the 1 KiB input limit"):
        with open_input(p, limit=1024) as f:
            for _ in f:
                pass
    with open_input(p, limit=4096) as f:
        assert sum(1 for _ in f) == 1000
