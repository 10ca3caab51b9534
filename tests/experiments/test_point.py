"""One sweep point's measurements against the laws they must follow."""

from __future__ import annotations

from sim.experiments.point import measure_point
from sim.experiments.sweepfile import load_sweep


def _rows(small_sweep, services):
    pts = load_sweep(small_sweep("pt", services)).points()
    out = []
    for p in pts:
        o = measure_point(p)
        assert o.error is None
        out.append({(m, t, lab): v for m, t, lab, v in o.rows})
    return out


def test_nat_rules_follow_kube_proxys_law_and_walks_grow_with_position(small_sweep):
    """nat rules = 5 + S(2 + 3E) (upstream's pinned law, with a cluster CIDR); the first
    packet to the last Service walks past every earlier Service's rule."""
    r10, r20 = _rows(small_sweep, (10, 20))
    for r, s in ((r10, 10), (r20, 20)):
        assert r[("sync_proxy_rules_iptables_total", "nat", "")] == 5 + s * (2 + 3 * 3)
    walk = lambda r, lab: r[("first_packet_walk_length", "", lab)]
    assert walk(r10, "first") == walk(r20, "first")
    assert walk(r20, "last") - walk(r10, "last") == 10  # one KUBE-SERVICES rule per Service
    assert r20[("network_programming_samples", "", "")] > 0
    assert r20[("sync_proxy_rules_duration_seconds", "", "partial")] < \
        r20[("sync_proxy_rules_duration_seconds", "", "full")]


def test_a_mode_without_sweep_metrics_is_measured_through_its_world_backend(small_sweep, monkeypatch):
    """A built mode with no ModeMetrics entry still gets rules_total (from the program its
    world backend installed), equal to what the mode's own counts say."""
    from sim.experiments import modemetrics
    own = {k: v for k, v in _rows(small_sweep, (10,))[0].items() if k[0] == "rules_total"}
    monkeypatch.setattr(modemetrics, "MODE_METRICS", {})
    generic = _rows(small_sweep, (10,))[0]
    assert generic[("rules_total", "all", "")] == own[("rules_total", "all", "")]
    assert ("sync_proxy_rules_iptables_total", "nat", "") not in generic


def test_base_scenario_point_churns_its_pods(tmp_path):
    """A sweep over a shipped world scenario measures it, churning pod readiness."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    f = tmp_path / "base.yaml"
    f.write_text("apiVersion: kube-netsim/v1\nkind: Sweep\nmetadata: {name: base}\nspec:\n"
                 f"  scenario: {root / 'scenarios/world/affinity.yaml'}\n"
                 "  grid: {kubeProxy: {iptables.minSyncPeriod: [0s]}}\n"
                 "  measure: {connections: 50, churnEvents: 1}\n")
    [point] = load_sweep(f).points()
    outcome = measure_point(point)
    assert outcome.error is None
    rows = {(m, t, lab): v for m, t, lab, v in outcome.rows}
    assert rows[("network_programming_samples", "", "")] > 0


def test_a_mode_without_a_world_backend_gets_its_compiler_measurements(small_sweep, monkeypatch):
    """A built mode the world cannot run yet is measured by its compiler alone: sizes and
    compile time, no walks, and the point's facts say why."""
    from sim.experiments import point as point_module
    monkeypatch.setattr(point_module, "BACKENDS", {})
    [p] = load_sweep(small_sweep("nw", (10,))).points()
    outcome = measure_point(p)
    assert outcome.error is None and "no world backend" in outcome.facts["world"]
    names = {m for m, *_ in outcome.rows}
    assert {"rules_total", "compile_seconds"} <= names
    assert "first_packet_walk_length" not in names


def test_every_mode_hook_reports_its_size(small_sweep):
    """Each mode's sweep metrics compile a generated cluster and report rules_total, which
    grows with the number of Services."""
    from sim.experiments import modemetrics
    from sim.experiments.cluster import GeneratedCluster, build_api
    from sim.model.config import KubeProxyConfig
    for mode, hook in sorted(modemetrics.MODE_METRICS.items()):
        sizes = []
        for services in (5, 10):
            state = build_api(GeneratedCluster(2, services, 2), KubeProxyConfig(mode=mode), 1).snapshot()
            rows = {(m, t): v for m, t, _, v in hook.counts(hook.compile(state, "node-0", state.kube_proxy))}
            sizes.append(rows[("rules_total", "all")])
        assert sizes[1] > sizes[0] > 0, mode


def test_generated_affinity_share_follows_the_affinity_rule_law():
    """With ClientIP affinity on a share of the Services, nat rules = 5 + S(2 + 3E) + A*E
    (one more rule per endpoint of an affinity Service: the ``recent --rcheck`` jump)."""
    from sim.experiments.cluster import GeneratedCluster, build_api
    from sim.experiments.modemetrics import MODE_METRICS
    from sim.model.config import KubeProxyConfig
    hook = MODE_METRICS["iptables"]
    for share, with_affinity in ((0.0, 0), (0.5, 10), (1.0, 20)):
        state = build_api(GeneratedCluster(2, 20, 3, affinity_share=share), KubeProxyConfig(), 1).snapshot()
        rows = {(m, t): v for m, t, _, v in hook.counts(hook.compile(state, "node-0", state.kube_proxy))}
        assert rows[("sync_proxy_rules_iptables_total", "nat")] == 5 + 20 * (2 + 3 * 3) + with_affinity * 3


def test_control_plane_backends_change_no_measurement(small_sweep, monkeypatch):
    """The churn run's kernel-free backends (iptables, nftables) give exactly the sync
    times and programming latencies of the world's own backends."""
    from sim.experiments import modemetrics
    from sim.experiments.point import TIMING_METRICS
    f = small_sweep("cp", (20,))
    f.write_text(f.read_text().replace("seed: [1]", "seed: [1]\n    mode: built"))
    for p in load_sweep(f).points():
        hook = modemetrics.MODE_METRICS.get(p.params["mode"])
        if hook is None or hook.control_plane is None:
            continue
        fast = measure_point(p)
        monkeypatch.setitem(modemetrics.MODE_METRICS, p.params["mode"],
                            modemetrics.ModeMetrics(hook.compile, hook.counts, None))
        full = measure_point(p)
        keep = lambda o: [r for r in o.rows if r[0] not in TIMING_METRICS]  # noqa: E731
        assert fast.error is None and keep(fast) == keep(full), p.params["mode"]
