"""``kube-netsim trace --rules FILE --ipsets FILE``: dumps whose rules match ipsets."""

from __future__ import annotations

from sim.cli import main

RULES = """*filter
:INPUT ACCEPT [0:0]
-A INPUT -m set --match-set ALLOWED src -j ACCEPT
-A INPUT -m set --match-set BLOCKED src -j DROP
-A INPUT -j REJECT
COMMIT
"""
SETS = """create ALLOWED hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
add ALLOWED 10.244.0.0/16
"""


def _trace(tmp_path, capsys, src: str, *extra: str) -> tuple[int, str, str]:
    rules = tmp_path / "node.save"
    rules.write_text(RULES)
    code = main(["trace", "--rules", str(rules), "--local-ip", "192.168.0.2", "--src", src,
                 "--dst", "192.168.0.2", "--dport", "22", *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_members_of_a_given_set_match(tmp_path, capsys) -> None:
    """A source in the ALLOWED set of --ipsets is accepted by the set rule."""
    sets = tmp_path / "node.ipset"
    sets.write_text(SETS)
    code, out, _ = _trace(tmp_path, capsys, "10.244.3.4", "--ipsets", str(sets))
    assert code == 0
    assert "filter:INPUT:rule:1  -A INPUT -m set --match-set ALLOWED src -j ACCEPT" in out


def test_a_set_not_given_is_warned_about_and_traced_empty(tmp_path, capsys) -> None:
    """BLOCKED is not in --ipsets: the trace warns naming it and its line, and its rule
    never matches (the packet goes on to REJECT)."""
    sets = tmp_path / "node.ipset"
    sets.write_text(SETS)
    code, out, _ = _trace(tmp_path, capsys, "172.16.0.9", "--ipsets", str(sets))
    assert code == 0
    assert "warning: the rules match ipsets that were not given, traced as empty: BLOCKED (line 4)" in out
    assert "=> REJECT" in out


def test_json_output_warns_on_stderr(tmp_path, capsys) -> None:
    """Without --ipsets, --json keeps stdout JSON and prints the warning on stderr."""
    code, out, err = _trace(tmp_path, capsys, "10.244.3.4", "--json")
    assert code == 0 and out.startswith("{")
    assert "ALLOWED (line 3), BLOCKED (line 4); give the node's `ipset save` output" in err


def test_bad_ipsets_file_names_its_line(tmp_path, capsys) -> None:
    """A malformed --ipsets file is an error naming file and line."""
    sets = tmp_path / "bad.ipset"
    sets.write_text("create A hash:ip\nadd A 1.2.3\n")
    code, _, err = _trace(tmp_path, capsys, "10.0.0.1", "--ipsets", str(sets))
    assert code == 1 and f"{sets}:2: Syntax error: invalid address" in err
