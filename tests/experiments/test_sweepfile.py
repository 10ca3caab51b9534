"""Sweep files: schema and semantic errors with file, line and field; grid expansion."""

from __future__ import annotations

import pytest

from sim.experiments.sweepfile import load_sweep
from sim.model.errors import SimError

HEAD = "apiVersion: kube-netsim/v1\nkind: Sweep\nmetadata: {name: t}\nspec:\n"


def _errors(tmp_path, body: str) -> str:
    p = tmp_path / "s.yaml"
    p.write_text(HEAD + body)
    with pytest.raises(SimError) as exc:
        load_sweep(p)
    return str(exc.value)


def test_unknown_field_names_file_line_and_path(tmp_path):
    """A misspelt grid axis is refused with its file, line and field path."""
    msg = _errors(tmp_path, "  grid:\n    service: [10]\n")
    assert f"{tmp_path / 's.yaml'}:6" in msg and "spec.grid.service" in msg


def test_wrong_type_is_refused(tmp_path):
    """A grid axis that is not a list is refused at its line."""
    msg = _errors(tmp_path, "  grid:\n    services: 10\n")
    assert ":6" in msg and "spec.grid.services" in msg


def test_mode_without_a_compiler_is_unsupported(tmp_path, monkeypatch):
    """A proxy mode not in BUILT_MODES is an Unsupported value naming the built modes."""
    monkeypatch.setattr("sim.experiments.sweepfile.BUILT_MODES", ("iptables",))
    msg = _errors(tmp_path, "  grid:\n    mode: [iptables, userspace]\n")
    assert "spec.grid.mode[1]" in msg and "Unsupported value" in msg and '"iptables"' in msg


def test_kube_proxy_grid_key_must_be_a_field(tmp_path):
    """A grid kubeProxy key that is not a KubeProxyConfiguration field is refused."""
    msg = _errors(tmp_path, "  grid:\n    kubeProxy:\n      iptables.minSyncPerod: [1s]\n")
    assert "spec.grid.kubeProxy.iptables.minSyncPerod" in msg and ":7" in msg


def test_kube_proxy_grid_values_are_checked(tmp_path):
    """Each grid value is checked against the field's schema (index in the path)."""
    msg = _errors(tmp_path, "  grid:\n    kubeProxy:\n      iptables.minSyncPeriod: [1s, soon]\n")
    assert "spec.grid.kubeProxy.iptables.minSyncPeriod[1]" in msg


def test_base_scenario_fixes_the_cluster_axes(tmp_path):
    """With a base scenario, varying the number of Services is refused."""
    msg = _errors(tmp_path, "  scenario: missing.yaml\n  grid:\n    services: [10]\n")
    assert "spec.grid.services" in msg and "spec.scenario" in msg


def test_points_are_the_cartesian_product_with_every_parameter(tmp_path):
    """services x kube-proxy setting x seeds points, each with the same parameter keys."""
    p = tmp_path / "s.yaml"
    p.write_text(HEAD + "  grid:\n    services: [10, 20]\n    seed: [1, 2, 3]\n"
                 "    kubeProxy:\n      iptables.masqueradeAll: [false, true]\n")
    pts = load_sweep(p).points()
    assert len(pts) == 12
    assert len({pt.point_id for pt in pts}) == 12
    assert {tuple(pt.params) for pt in pts} == {tuple(pts[0].params)}
    assert {pt.kube_proxy["iptables"]["masqueradeAll"] for pt in pts} == {False, True}


def test_shipped_sweeps_load(tmp_path):
    """The shipped sweep files and the regression baseline are valid."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    for f in [*sorted((root / "scenarios" / "sweeps").glob("*.yaml")),
              root / "results" / "baseline" / "sweep.yaml"]:
        assert load_sweep(f).points()


def test_base_scenario_kube_proxy_settings_are_kept_under_the_sweeps(tmp_path):
    """A base scenario's spec.kubeProxy is the starting point; the sweep's own settings and
    the grid go on top of it."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    p = tmp_path / "s.yaml"
    p.write_text(HEAD + f"  scenario: {root / 'scenarios/world/affinity.yaml'}\n"
                 "  kubeProxy: {iptables: {masqueradeAll: true}}\n"
                 "  grid: {kubeProxy: {iptables.minSyncPeriod: [0s]}}\n")
    [pt] = load_sweep(p).points()
    assert pt.kube_proxy["clusterCIDR"] == "10.244.0.0/16"  # from the scenario
    assert pt.kube_proxy["iptables"] == {"masqueradeAll": True, "minSyncPeriod": "0s"}
