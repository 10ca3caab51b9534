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
