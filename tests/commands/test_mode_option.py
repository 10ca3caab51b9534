"""``--mode`` on rules, trace, run and show: one scenario answers for every proxy mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli import main
from sim.commands.options import with_mode
from sim.model.config import PROXY_MODES
from sim.scenario.spec import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "world" / "affinity.yaml"


def test_with_mode_replaces_only_the_mode():
    """``with_mode`` changes ``kube_proxy.mode`` and nothing else; ``None`` keeps the scenario."""
    sc = load_scenario(SCENARIO)
    assert with_mode(sc, None) is sc
    other = with_mode(sc, "nftables")
    assert other.kube_proxy.mode == "nftables"
    assert other.kube_proxy.masquerade_all == sc.kube_proxy.masquerade_all
    assert other.manifests == sc.manifests


@pytest.mark.parametrize("command", ["rules", "trace", "run", "show"])
def test_every_rule_compiling_command_takes_mode(command, capsys):
    """``--help`` of each command lists ``--mode`` with every mode a scenario may name."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "--mode {" + ",".join(PROXY_MODES) + "}" in out


def test_rules_refuses_a_mode_with_no_compiler(capsys, monkeypatch):
    """A mode whose compiler is not built is refused with exit 1, naming the option (every
    mode has a compiler today, so the list of built modes is narrowed for the test)."""
    monkeypatch.setattr("sim.commands.options.BUILT_MODES", ("iptables",))
    monkeypatch.setattr("sim.kubeproxy.modes.BUILT_MODES", ("iptables",))
    assert main(["rules", str(SCENARIO), "--mode", "ipvs"]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: --mode: kubeProxy.mode: Unsupported value: "ipvs": '
                          'supported values: "iptables"')
