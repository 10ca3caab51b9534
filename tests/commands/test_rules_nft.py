"""``kube-netsim rules`` in nftables mode (``sim.commands.rules_nft``), and the commands that
cannot run nftables mode yet refusing it cleanly."""

from __future__ import annotations

from pathlib import Path

from sim.cli import main
from sim.commands.options import with_mode
from sim.kubeproxy.nftables import compile_nft, transaction_stats
from sim.scenario.spec import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "seed" / "loadbalancer.yaml"


def test_mode_nftables_prints_the_transaction(capsys):
    """``rules --mode nftables`` prints exactly the first sync's ``nft -f`` transaction."""
    assert main(["rules", str(SCENARIO), "--mode", "nftables", "--node", "node-1"]) == 0
    state = with_mode(load_scenario(SCENARIO), "nftables").state()
    assert capsys.readouterr().out == compile_nft(state, "node-1").render()


def test_stats_give_chains_rules_sets_maps_elements(capsys):
    """``--stats`` prints one row with the table's counts after the transaction."""
    assert main(["rules", str(SCENARIO), "--mode", "nftables", "--node", "node-1", "--stats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:7] == ["table", "chains", "base", "rules", "sets", "maps", "elements"]
    s = transaction_stats(compile_nft(with_mode(load_scenario(SCENARIO), "nftables").state(), "node-1"))
    assert lines[1].split()[2:8] == [str(x) for x in (s.chains, s.base_chains, s.rules, s.sets, s.maps, s.elements)]


def test_iptables_format_in_nftables_mode_is_refused(capsys):
    """``--format save`` names the formats of the mode and exits 1."""
    assert main(["rules", str(SCENARIO), "--mode", "nftables", "--format", "save"]) == 1
    assert 'supported values in nftables mode: "nft"' in capsys.readouterr().err


def test_nft_format_in_iptables_mode_is_refused(capsys):
    """``--format nft`` in iptables mode exits 1 naming the iptables formats."""
    assert main(["rules", str(SCENARIO), "--format", "nft"]) == 1
    assert 'supported values in iptables mode: "restore", "save"' in capsys.readouterr().err
