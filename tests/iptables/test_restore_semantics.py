"""Restore commands and modes (-I/-D/-X/-F/-P, --noflush, counters) as the kernel applies them.

Each case is a sequence of restores into one namespace; the kernel's final ``iptables-save``
is captured in ``fixtures/semantics.json`` and compared with ``apply_payload`` chained the
same way. Index commands run with iptables-legacy-restore, which (like us) counts the rules
as they are at that line; iptables-nft-restore counts only committed rules.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sim.iptables import apply_payload, parse_restore, render_save, strip_save_noise

FIXTURE = Path(__file__).parent / "fixtures" / "semantics.json"
CAPTURE = os.environ.get("KNS_CAPTURE") == "1"

BASE = ("*filter\n:INPUT DROP [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n"
        "-A A -s 10.0.0.1 -j ACCEPT\n-A A -s 10.0.0.2 -j ACCEPT\n-A B -j DROP\nCOMMIT\n")

# name -> (backend, [(restore text, flags)])
CASES: dict[str, tuple[str, list[tuple[str, tuple[str, ...]]]]] = {
    "insert-at-index": ("legacy", [("*filter\n:A - [0:0]\n-A A -j ACCEPT\n-I A -j DROP\n"
                                    "-I A 2 -j RETURN\nCOMMIT\n", ())]),
    "delete-by-number-and-spec": ("legacy", [(BASE, ()), (
        "*filter\n-D A 1\n-D A -s 10.0.0.2/32 -j ACCEPT\nCOMMIT\n", ("--noflush",))]),
    "full-restore-replaces-table": ("nft", [(BASE, ()), ("*filter\n-A OUTPUT -j ACCEPT\n"
                                                          "COMMIT\n", ())]),
    "noflush-chain-line-flushes-only-that-chain": ("nft", [(BASE, ()), (
        "*filter\n:A - [0:0]\n-A A -j RETURN\nCOMMIT\n", ("--noflush",))]),
    "noflush-new-chain-and-policy": ("nft", [(BASE, ()), (
        "*filter\n:C - [0:0]\n-P FORWARD DROP\n-A C -j ACCEPT\nCOMMIT\n", ("--noflush",))]),
    "flush-and-delete-all-user-chains": ("nft", [(BASE, ()), (
        "*filter\n-F\n-X\nCOMMIT\n", ("--noflush",))]),
    "flush-one-chain-then-delete-it": ("nft", [(BASE, ()), (
        "*filter\n-F B\n-X B\nCOMMIT\n", ("--noflush",))]),
    "counters-restored-with-c": ("nft", [(
        "*filter\n:INPUT ACCEPT [10:20]\n[3:4] -A INPUT -j ACCEPT\nCOMMIT\n", ("-c",))]),
    "counters-ignored-without-c": ("nft", [(
        "*filter\n:INPUT ACCEPT [10:20]\n[3:4] -A INPUT -j ACCEPT\nCOMMIT\n", ())]),
    "empty-block-deletes-the-table": ("nft", [(BASE, ()), ("*filter\nCOMMIT\n", ())]),
    "empty-block-with-noflush-changes-nothing": ("nft", [(BASE, ()), ("*filter\nCOMMIT\n",
                                                                       ("--noflush",))]),
    "late-chain-line-creates-chain": ("nft", [(
        "*filter\n-A INPUT -j ACCEPT\n:LATE - [0:0]\n-A LATE -j DROP\nCOMMIT\n", ())]),
}


def _ours(steps: list[tuple[str, tuple[str, ...]]]) -> str:
    rs = None
    for text, flags in steps:
        rs = apply_payload(parse_restore(text), rs, noflush="--noflush" in flags,
                           counters="-c" in flags)
    assert rs is not None
    return render_save(rs, counters=True)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_restore_sequence_equals_kernel(name: str, netns) -> None:
    """The kernel's final state after the restores equals ours."""
    backend, steps = CASES[name]
    restore = "iptables-legacy-restore" if backend == "legacy" else "iptables-restore"
    save = "iptables-legacy-save" if backend == "legacy" else "iptables-save"
    for text, flags in steps:
        res = netns.run(restore, *flags, stdin=text)
        assert res.returncode == 0, res.stderr
    out = netns.run(save, "-c")
    kernel = strip_save_noise(out.stdout)
    if backend == "legacy":
        # Legacy lists every loaded table; keep the filter table our cases touch.
        kernel = kernel[kernel.index("*filter"):]
        kernel = kernel[:kernel.index("COMMIT\n") + 7]
    if CAPTURE:
        data = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {}
        data[name] = kernel
        FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    assert _ours(steps) == kernel


@pytest.mark.parametrize("name", sorted(CASES))
def test_restore_sequence_matches_captured_kernel_state(name: str) -> None:
    """Replay: our final state equals the captured kernel state."""
    assert _ours(CASES[name][1]) == json.loads(FIXTURE.read_text())[name]
