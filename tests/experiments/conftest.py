"""Small sweep files written into a test's temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL = """\
apiVersion: kube-netsim/v1
kind: Sweep
metadata: {{name: {name}}}
spec:
  cluster: {{nodes: 2, endpointsPerService: 3}}
  grid:
    services: {services}
    seed: [1]
  measure: {{connections: 100, churnEvents: 1, compileRepeats: 1}}
"""


@pytest.fixture
def small_sweep(tmp_path):
    """``small_sweep(name, services)``: the path of a small generated-cluster sweep file."""
    def make(name: str = "small", services=(10, 20)) -> Path:
        p = tmp_path / f"{name}.yaml"
        p.write_text(SMALL.format(name=name, services=list(services)))
        return p
    return make
