"""Golden IPVS-mode output for a fixed set of shipped scenarios: per node the restore payload,
``ipset save`` and ``ipvsadm-save -n`` text, compared as whole dumps.

Regenerate only explicitly: ``KUBE_NETSIM_REGEN=1 .venv/bin/python -m pytest
tests/kubeproxy/test_ipvs_goldens.py`` (then review ``git diff tests/kubeproxy/golden_ipvs``).
The list is fixed (not every shipped scenario) so that scenarios added later do not need IPVS
goldens to pass.
"""

from __future__ import annotations

import pytest

from sim.ipset import render_save as render_sets
from sim.ipvs import render_save as render_ipvsadm
from sim.kubeproxy.ipvs import compile_ipvs
from sim.scenario.spec import load_scenario

from tests.kubeproxy import test_goldens
from tests.kubeproxy.test_goldens import SCENARIOS

GOLDEN = test_goldens.GOLDEN.parent / "golden_ipvs"
CASES = ("seed/externalips.yaml", "seed/loadbalancer.yaml", "seed/nodeport.yaml",
         "seed/multiport.yaml", "world/affinity.yaml", "world/externalips-loadbalancer.yaml")


@pytest.mark.parametrize("case", CASES)
def test_ipvs_output_matches_golden(case: str, monkeypatch) -> None:
    """Every node's payload, sets and IPVS table equal the reviewed goldens."""
    monkeypatch.setattr(test_goldens, "GOLDEN", GOLDEN)
    scenario = SCENARIOS / case
    state = load_scenario(scenario).state()
    for node in state.nodes:
        rules = compile_ipvs(state, node.name)
        for fmt, text in (("restore", rules.payload.render()), ("ipset", render_sets(rules.ipsets)),
                          ("ipvsadm", render_ipvsadm(rules.ipvs))):
            test_goldens._compare(test_goldens._golden_name(scenario, node.name, fmt), text)
