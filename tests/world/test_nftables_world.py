"""nftables mode in the world: every shipped world scenario meets its own expectations when
kube-proxy runs in nftables mode, and the mode shows its real differences from iptables mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.commands.options import with_mode
from sim.scenario.runner import run
from sim.scenario.spec import load_scenario
from sim.world.nftables_backend import load_nft_model

ROOT = Path(__file__).resolve().parents[2]


def mode_neutral_world_scenarios() -> list[Path]:
    """The world scenarios not written for another proxy mode (``ipvs-round-robin`` expects
    IPVS's exact round robin)."""
    return [p for p in sorted((ROOT / "scenarios" / "world").glob("*.yaml"))
            if load_scenario(p).state().kube_proxy.mode in ("iptables", "nftables")]


WORLD = mode_neutral_world_scenarios()


@pytest.mark.parametrize("path", WORLD, ids=[p.stem for p in WORLD])
def test_world_scenario_meets_its_expectations_in_nftables_mode(path):
    """The scenario's spec.expect all pass with kube-proxy in nftables mode (every world
    scenario not written for another mode)."""
    result = run(with_mode(load_scenario(path), "nftables"))
    failed = [f"{e.name}: {e.detail}" for e in result.expectations if not e.passed]
    assert result.expectations and not failed, "\n".join(failed)


def test_nft_time_model_grows_with_size():
    """The calibrated ``nft -f`` time grows with the lines sent and, for a partial sync,
    with the table already loaded."""
    m = load_nft_model()
    assert m.duration_s(1000, True, 0) < m.duration_s(100_000, True, 0)
    assert m.duration_s(20, False, 1000) < m.duration_s(20, False, 100_000)


def test_mode_differences_scenario_differs_exactly_where_the_modes_do():
    """Run in iptables mode, the differences scenario's two nftables-only expectations fail
    (localhost NodePort answered, unknown ClusterIP port not rejected) and the rest pass."""
    scenario = load_scenario(ROOT / "scenarios" / "world" / "nftables-differences.yaml")
    outcome = {e.name: e.passed for e in run(with_mode(scenario, "iptables")).expectations}
    assert outcome == {"the node's own address serves the NodePort": True,
                       "localhost does not serve the NodePort in nftables mode": False,
                       "a ClusterIP's unknown port is rejected in nftables mode": False}
