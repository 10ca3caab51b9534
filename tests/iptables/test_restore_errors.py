"""Restores that iptables-restore refuses are refused by ``apply_payload`` at the same line.

Each case is checked against the real kernel (``-m kernel``): both backends must refuse it,
and our line must be the one ``iptables-legacy-restore`` names (it executes line by line like
we do), except for checks the kernel only makes when the table is committed (a target outside
its table or hook): there the kernel names the ``COMMIT`` line and we name the offending rule.
``iptables-nft-restore`` reports more errors (a jump to a missing chain) at ``COMMIT``. ``fixtures/errors.json`` keeps the kernel's answers for replay.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from sim.iptables import RestoreError, apply_payload, parse_restore, render_save

FIXTURE = Path(__file__).parent / "fixtures" / "errors.json"
CAPTURE = os.environ.get("KNS_CAPTURE") == "1"

CASES: dict[str, str] = {
    "chain-name-29-chars": "*filter\n:ABCDEFGHIJKLMNOPQRSTUVWXYZ012 - [0:0]\nCOMMIT\n",
    "append-to-missing-chain": "*filter\n-A NOPE -j ACCEPT\nCOMMIT\n",
    "jump-to-missing-chain": "*nat\n:A - [0:0]\n-A A -j KUBE-NODEPORTS\n-N KUBE-NODEPORTS\nCOMMIT\n",
    "jump-before-late-chain-line": "*filter\n-A INPUT -j FOO\n:FOO - [0:0]\nCOMMIT\n",
    "delete-referenced-chain": "*filter\n:A - [0:0]\n-A INPUT -j A\n-X A\nCOMMIT\n",
    "delete-non-empty-chain": "*filter\n:A - [0:0]\n-A A -j ACCEPT\n-X A\nCOMMIT\n",
    "new-existing-chain": "*filter\n:A - [0:0]\n-N A\nCOMMIT\n",
    "unknown-match": "*filter\n-A INPUT -m foo -j ACCEPT\nCOMMIT\n",
    "unknown-option": "*filter\n-A INPUT -m comment --bogus 1 -j ACCEPT\nCOMMIT\n",
    "duplicate-option": "*filter\n-A INPUT -p tcp --dport 80 --dport 90 -j ACCEPT\nCOMMIT\n",
    "dnat-in-filter": "*filter\n-A INPUT -j DNAT --to-destination 1.2.3.4\nCOMMIT\n",
    "masquerade-in-nat-input": "*nat\n-A INPUT -j MASQUERADE\nCOMMIT\n",
    "unknown-table": "*bogus\nCOMMIT\n",
    "missing-commit": "*filter\n-A INPUT -j ACCEPT\n",
    "out-iface-in-prerouting": "*mangle\n-A PREROUTING -o eth1 -j ACCEPT\nCOMMIT\n",
    "bad-ctstatus": "*filter\n-A INPUT -m conntrack --ctstatus DNAT -j ACCEPT\nCOMMIT\n",
    "nth-without-packet": "*filter\n-A INPUT -m statistic --mode nth --every 2 -j ACCEPT\nCOMMIT\n",
    "single-quotes-are-not-quotes":
        "*filter\n-A INPUT -m comment --comment 'a b' -j ACCEPT\nCOMMIT\n",
    "octal-port-080": "*filter\n-A INPUT -p tcp --dport 080 -j ACCEPT\nCOMMIT\n",
    "to-ports-without-proto": "*nat\n-A POSTROUTING -j MASQUERADE --to-ports 1000\nCOMMIT\n",
    "second-table-fails": "*nat\n-A OUTPUT -j ACCEPT\nCOMMIT\n*filter\n-A B -j ACCEPT\nCOMMIT\n",
    "tcp-match-without-proto": "*filter\n-A INPUT -m tcp --dport 80 -j ACCEPT\nCOMMIT\n",
    "probability-above-one":
        "*filter\n-A INPUT -m statistic --mode random --probability 1.5 -j ACCEPT\nCOMMIT\n",
    "goto-loop": "*filter\n:A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j B\n-A B -g A\n"
                 "COMMIT\n",
    "jump-to-itself": "*nat\n:KUBE-X - [0:0]\n-A PREROUTING -j KUBE-X\n"
                      "-A KUBE-X -p tcp -j KUBE-X\nCOMMIT\n",
}


def _kernel_line(stderr: str) -> int | None:
    m = re.search(r"line:? (\d+)", stderr)
    return int(m.group(1)) if m else None


def _same_line(ours: int, kernel: int | None, text: str) -> bool:
    """Ours equals the kernel's, or the kernel named the block's COMMIT line."""
    assert kernel is not None
    return ours == kernel or text.splitlines()[kernel - 1] == "COMMIT"


def _our_error(text: str) -> RestoreError:
    with pytest.raises(RestoreError) as info:
        apply_payload(parse_restore(text, "case.rules"))
    return info.value


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_refuses_at_the_same_line(name: str, netns) -> None:
    """The kernel refuses the case (both backends) and legacy names the line we name."""
    text = CASES[name]
    nft = netns.restore(text)
    legacy = netns.run("iptables-legacy-restore", stdin=text)
    assert nft.returncode != 0, nft.stdout
    assert legacy.returncode != 0, legacy.stdout
    line = _kernel_line(legacy.stderr)
    if CAPTURE:
        data = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}
        data[name] = {"legacy_line": line, "legacy_stderr": legacy.stderr.strip(),
                      "nft_stderr": nft.stderr.strip()}
        FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    assert _same_line(_our_error(text).line, line, text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_at_the_line_the_kernel_named(name: str) -> None:
    """Replay: apply_payload raises RestoreError at the line captured from the kernel."""
    expected = json.loads(FIXTURE.read_text())[name]["legacy_line"]
    err = _our_error(CASES[name])
    assert _same_line(err.line, expected, CASES[name])
    assert str(err).startswith(f"case.rules:{err.line}: ")


def test_error_leaves_the_current_ruleset_unchanged() -> None:
    """A failing restore returns nothing and the ruleset passed in is untouched."""
    base = apply_payload(parse_restore("*filter\n:A - [0:0]\n-A A -j ACCEPT\nCOMMIT\n"))
    before = render_save(base)
    with pytest.raises(RestoreError):
        apply_payload(parse_restore("*filter\n:B - [0:0]\n-A NOPE -j DROP\nCOMMIT\n"), base)
    assert render_save(base) == before


def test_error_reports_tables_committed_before_the_failing_block() -> None:
    """Like the kernel, blocks before the failing COMMIT are available as ``committed``."""
    err = _our_error(CASES["second-table-fails"])
    assert err.committed is not None
    assert render_save(err.committed) == (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n-A OUTPUT -j ACCEPT\nCOMMIT\n")


def test_unsupported_match_error_names_the_line_and_module() -> None:
    """An unsupported module such as ``string`` is an error naming line and module."""
    err = _our_error("*filter\n\n# c\n-A INPUT -m string --string x --algo bm -j ACCEPT\nCOMMIT\n")
    assert err.line == 4
    assert "`string'" in str(err)


UNREACHABLE_LOOP = "*nat\n:KUBE-X - [0:0]\n-A KUBE-X -p tcp -j KUBE-X\nCOMMIT\n"


def test_a_loop_no_built_in_chain_reaches_is_accepted() -> None:
    """The kernel checks loops from the hook entry points only: a self-jump in a chain that
    nothing reaches is restored (checked against both backends in the kernel test below)."""
    rs = apply_payload(parse_restore(UNREACHABLE_LOOP))
    assert [r.target.name for r in rs.tables["nat"].chains["KUBE-X"].rules] == ["KUBE-X"]


@pytest.mark.kernel
def test_kernel_accepts_a_loop_no_built_in_chain_reaches(netns) -> None:
    """Both backends restore the unreachable self-jump."""
    assert netns.restore(UNREACHABLE_LOOP).returncode == 0
    assert netns.run("iptables-legacy-restore", stdin=UNREACHABLE_LOOP).returncode == 0
