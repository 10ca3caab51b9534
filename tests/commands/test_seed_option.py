"""``--seed`` on rules and trace allocates the same ClusterIPs as show (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

from sim.cli import main

AFFINITY = str(Path(__file__).resolve().parents[2] / "scenarios" / "world" / "affinity.yaml")


def _cluster_ip(seed: int, capsys) -> str:
    assert main(["show", AFFINITY, "--seed", str(seed)]) == 0
    return re.search(r"service/web\s+ClusterIP\s+(\S+)", capsys.readouterr().out).group(1)


def test_rules_and_trace_take_seed_like_show(capsys):
    """With --seed N, rules and trace use the ClusterIP show prints for seed N."""
    ip7, ip8 = _cluster_ip(7, capsys), _cluster_ip(8, capsys)
    assert ip7 != ip8
    assert main(["rules", AFFINITY, "--seed", "7"]) == 0
    assert f"-d {ip7} --dport 80" in capsys.readouterr().out
    assert main(["trace", AFFINITY, "--seed", "7", "--from-pod", "client", "--dst", ip7,
                 "--dport", "80"]) == 0
    assert "DNAT" in capsys.readouterr().out


def test_seed_with_rules_file_is_refused(capsys):
    """--seed has no meaning for a real node's dump."""
    dump = str(Path(AFFINITY).parents[1] / "dumps" / "affinity-node-1.iptables-save")
    assert main(["trace", "--rules", dump, "--seed", "3", "--src", "10.0.0.1", "--dst",
                 "10.0.0.2", "--dport", "80"]) == 1
    assert "--seed" in capsys.readouterr().err
