"""Live: the kernel and the engine agree on hypothesis-generated small clusters (root only).

The clusters (:mod:`tests.kernel.strategies`) mix ClusterIP and NodePort Services, TCP and
UDP, Cluster and Local traffic policies, ClientIP affinity, endpoints local, remote or none,
and clusterCIDR set or not. Each example builds its own namespace cluster (about 2-4 s), so the
default run tries a few; the slow variant tries more.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.model import ClusterState
from sim.oracle import KernelCluster
from tests.kernel.compare import outcome_problems, trail_problems
from tests.kernel.engine_side import EngineCluster
from tests.kernel.probing import capture, cluster_spec, compiled_rules, load_rules, probes_for
from tests.kernel.strategies import clusters

pytestmark = pytest.mark.kernel


def _agree(state: ClusterState) -> None:
    spec = cluster_spec(state)
    rules = compiled_rules(state, bootstrap_payload(), compile_rules)
    with KernelCluster(spec) as kc:
        load_rules(kc, rules)
        records = capture(kc, probes_for(state, spec), count=6, trails=1, timeout_s=0.3)
    ec = EngineCluster(spec, rules)
    problems = [p for r in records for p in outcome_problems(ec, r) + trail_problems(ec, r)]
    assert problems == [], "\n".join(problems)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_kernel_and_engine_agree_on_generated_clusters(state):
    """For a few generated clusters, every probe's outcomes and traced rules agree."""
    _agree(state)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_kernel_and_engine_agree_on_many_generated_clusters(state):
    """The same agreement over thirty generated clusters."""
    _agree(state)
