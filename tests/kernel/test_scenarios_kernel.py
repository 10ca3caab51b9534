"""Live: the real kernel and the engine agree on every shipped scenario (root only).

Each scenario is compiled (``sim.kubeproxy.iptables``) for every node, loaded into a fresh
namespace cluster (bootstrap jumps, then the payload with ``--noflush``, as kube-proxy does),
and probed as :func:`tests.kernel.probing.probes_for` describes; the same texts run on the
engine (``sim.netfilter``) and :mod:`tests.kernel.compare` judges the agreement.
"""

from __future__ import annotations

import pytest

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.oracle import KernelCluster
from tests.kernel.capture import ROOT, shipped_scenarios
from tests.kernel.compare import outcome_problems, trail_problems
from tests.kernel.engine_side import EngineCluster
from tests.kernel.probing import (
    capture,
    compiled_rules,
    load_rules,
    probes_for,
    scenario_cluster,
)

pytestmark = pytest.mark.kernel


def _params() -> list:
    # The seed scenarios are replayed from fixtures in every run (test_replay.py); live they
    # only run with the slow set, which keeps this file near 40 s.
    return [pytest.param(s, marks=(pytest.mark.slow,) if "/seed/" in s else ())
            for s in shipped_scenarios()]


def _agree(scenario: str, backend: str) -> list[str]:
    state, spec = scenario_cluster(str(ROOT / scenario))
    probes = probes_for(state, spec)
    if not probes:
        pytest.skip(f"{scenario}: kube-proxy programs nothing for it (headless/ExternalName)")
    rules = compiled_rules(state, bootstrap_payload(), compile_rules)
    with KernelCluster(spec, backend=backend) as kc:
        load_rules(kc, rules)
        records = capture(kc, probes, count=8)
    ec = EngineCluster(spec, rules)
    return [p for r in records for p in outcome_problems(ec, r) + trail_problems(ec, r)]


@pytest.mark.parametrize("scenario", _params())
def test_kernel_and_engine_agree_on_scenario(scenario):
    """Which pod answered, refused, timed out and the source seen agree for every probe; the
    nat rules hit, filter rules hit and conntrack entries of traced connections agree."""
    problems = _agree(scenario, "nft")
    assert problems == [], "\n".join(problems)


def test_legacy_backend_agrees_on_nodeport_policies():
    """The same agreement holds with iptables-legacy loading the rules."""
    problems = _agree("scenarios/world/nodeport-policies.yaml", "legacy")
    assert problems == [], "\n".join(problems)
