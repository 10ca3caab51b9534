"""``kube-netsim rules``: formats, stats and user errors (through the command module)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sim.commands import rules
from sim.model.errors import SimError

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "seed" / "loadbalancer.yaml"


def _run(capsys, *argv: str) -> str:
    parser = argparse.ArgumentParser()
    rules.add_arguments(parser)
    assert rules.run(parser.parse_args([str(SCENARIO), *argv])) == 0
    return capsys.readouterr().out


def test_restore_format_is_the_payload(capsys):
    """Default output is kube-proxy's restore text: unquoted /32-free addresses, 10 decimals."""
    out = _run(capsys, "--node", "node-1")
    assert out.startswith("*filter\n:KUBE-SERVICES - [0:0]\n")
    assert "-d 146.148.47.155 --dport 80" in out and "--probability 0.3333333333 " in out


def test_save_format_is_the_kernel_form(capsys):
    """--format save prints the iptables-save form: built-in chains, /32, 11 decimals, and the
    canary chains kube-proxy keeps in mangle, filter and nat."""
    out = _run(capsys, "--node", "node-1", "--format", "save")
    assert ":PREROUTING ACCEPT [0:0]" in out
    assert "-d 146.148.47.155/32 -p tcp" in out and "--probability 0.33333333349 " in out
    assert "-j MARK --set-xmark 0x4000/0x4000" in out
    assert out.startswith("*mangle\n") and out.count(":KUBE-PROXY-CANARY - [0:0]") == 3


def test_stats_counts_rules_and_chains(capsys):
    """--stats prints per-table counts matching the payload."""
    out = _run(capsys, "--stats")
    nat = next(line for line in out.splitlines() if line.startswith("nat"))
    assert nat.split()[1:4] == ["9", "19", "0"]


def test_unknown_node_is_a_user_error():
    """An unknown --node is a SimError naming the cluster's nodes, not a traceback."""
    parser = argparse.ArgumentParser()
    rules.add_arguments(parser)
    with pytest.raises(SimError, match="node-1, node-2"):
        rules.run(parser.parse_args([str(SCENARIO), "--node", "nope"]))


def test_nfacct_flag_adds_counter_matches(capsys):
    """--nfacct writes the localhost NodePort rule and the counted INVALID drop."""
    out = _run(capsys, "--nfacct")
    assert "-d 127.0.0.0/8 --dport 30061 -m nfacct --nfacct-name localhost_nps_accepted_pkts" in out
    assert "--ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP" in out


def test_cli_dispatch_prints_error_and_exits_1(capsys):
    """Through ``kube-netsim`` itself: a bad --node prints one error line and exits 1."""
    from sim.cli import main
    assert main(["rules", str(SCENARIO), "--node", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --node: Not found: \"nope\"") and "Traceback" not in err
