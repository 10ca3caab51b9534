"""``kube-netsim rules --node``: the node argument is checked."""

from __future__ import annotations

from pathlib import Path

from sim.cli import main

NODEPORT = str(Path(__file__).resolve().parents[2] / "scenarios" / "seed" / "nodeport.yaml")


def test_empty_node_name_refused(capsys) -> None:
    """--node "" is refused instead of silently compiling the first node's rules."""
    assert main(["rules", NODEPORT, "--node", ""]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--node: Required value: an empty node name" in captured.err
