"""``kube-netsim rules`` in nftables mode (``sim.commands.rules_nft``), and the commands that
cannot run a compiled mode yet refusing it cleanly (an empty parameter set once they can)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli import main
from sim.kubeproxy.modes import BUILT_MODES
from sim.world.proxymodes import BACKENDS
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


def test_trace_refuses_a_mode_the_engine_cannot_run(capsys, monkeypatch):
    """``trace --mode M`` for a mode whose rules compile but which the packet engine cannot
    execute exits 1 with a message pointing at ``rules``, no traceback (every built mode runs
    today, so the engine's list is narrowed for the test)."""
    monkeypatch.setattr("sim.commands.options.ENGINE_MODES", ("iptables",))
    assert main(["trace", str(SCENARIO), "--mode", "nftables", "--dst", "10.0.0.1",
                 "--dport", "80"]) == 1
    err = capsys.readouterr().err
    assert "packet engine executes" in err and "Traceback" not in err


def test_run_refuses_a_mode_without_a_world_backend(capsys, tmp_path, monkeypatch):
    """``run --mode M`` for a mode with no world backend exits 1 with the world's
    unsupported-mode message, no traceback (the registry is narrowed for the test)."""
    monkeypatch.setattr("sim.world.proxymodes.BACKENDS", {"iptables": BACKENDS["iptables"]})
    monkeypatch.setattr("sim.scenario.sections.BUILT_MODES", BUILT_MODES)
    assert main(["run", str(SCENARIO), "--mode", "nftables", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'Unsupported value: "nftables"' in err and "Traceback" not in err
