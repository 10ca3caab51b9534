"""Scale: a 10,000-Service manifest list loads and snapshots correctly.

How long it takes is measured by ``benchmarks/load_bench.py``, never asserted here (house rule:
speed is a benchmark figure, not a test limit).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from load_bench import write_scenario  # noqa: E402

from sim.scenario.spec import load_scenario  # noqa: E402


def test_ten_thousand_services_load_and_snapshot(tmp_path):
    """10,000 Services (1,000 of them NodePort) all load; every ClusterIP is distinct, every
    NodePort is distinct and inside the default range."""
    state = load_scenario(write_scenario(tmp_path, 10_000)).state()
    assert len(state.services) == 10_000
    assert len({s.cluster_ip for s in state.services}) == 10_000
    node_ports = [p.node_port for s in state.services for p in s.ports if p.node_port]
    assert len(node_ports) == 2_000 and len(set(node_ports)) == 2_000
    assert all(30000 <= p <= 32767 for p in node_ports)
