"""Live, nftables mode: the real kernel (``nft -f`` of kube-proxy's nftables transaction) and
the engine agree on the world scenarios: which pod answered, refused, timed out, the source
seen, NodePorts on every node, and the conntrack entries of traced connections (root only).
The slow variant adds ClientIP affinity pinning and expiry against the kernel."""

from __future__ import annotations

import shutil
import time

import pytest

from sim.oracle import KernelCluster
from tests.kernel.capture import ROOT
from tests.kernel.compare import outcome_problems, trail_problems
from tests.kernel.nft_side import NftEngineCluster, load_nft, nft_rules
from tests.kernel.probing import capture, probes_for, scenario_cluster
from tests.world.test_nftables_world import mode_neutral_world_scenarios

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(shutil.which("nft") is None,
                                 reason="needs nft (apt-get install nftables)")]

WORLD = [str(p.relative_to(ROOT)) for p in mode_neutral_world_scenarios()]
FAST = ("scenarios/world/nodeport-policies.yaml", "scenarios/world/no-endpoints.yaml",
        "scenarios/world/nftables-differences.yaml")


def _agree(scenario: str) -> list[str]:
    state, spec = scenario_cluster(str(ROOT / scenario))
    probes = probes_for(state, spec)
    rules = nft_rules(state)
    with KernelCluster(spec) as kc:
        load_nft(kc, rules)
        records = capture(kc, probes, count=8)
    ec = NftEngineCluster(spec, rules)
    return [p for r in records for p in outcome_problems(ec, r) + trail_problems(ec, r)]


@pytest.mark.parametrize("scenario", [pytest.param(s, marks=() if s in FAST else
                                                   (pytest.mark.slow,)) for s in WORLD])
def test_kernel_and_engine_agree_in_nftables_mode(scenario):
    """Every probe's outcomes agree; traced connections leave the same conntrack entries."""
    problems = _agree(scenario)
    assert problems == [], "\n".join(problems)


@pytest.mark.slow
def test_affinity_pins_and_expires_like_the_kernel():
    """ClientIP affinity (10 s): ten connections stay on one pod in kernel and engine, the
    client is in that pod's affinity set, and 11 s later it is in no set any more."""
    import numpy as np

    from sim.oracle.netns import run

    state, spec = scenario_cluster(str(ROOT / "scenarios" / "world" / "affinity.yaml"))
    probe = next(p for p in probes_for(state, spec) if p.from_kind == "pod")
    rules = nft_rules(state)

    def members(kc) -> str:
        return run(["nft", "list", "table", "ip", "kube-proxy"],
                   netns=kc.netns(probe.ingress)).stdout

    with KernelCluster(spec) as kc:
        load_nft(kc, rules)
        kc.clear_recent(probe.ingress)
        pinned = kc.probe(probe.source, probe.dst, probe.port, src_ip=probe.src_ip, count=10,
                          timeout_s=1.0)
        before = members(kc)
        time.sleep(11)
        after = members(kc)
    assert len({r.pod for r in pinned}) == 1
    assert before.count(f"{probe.src_ip} expires") == 1
    assert f"{probe.src_ip} expires" not in after
    ec = NftEngineCluster(spec, rules)
    rng = np.random.default_rng(0)
    runs = [ec.connect(probe, 30000 + k, 1.0 + 0.1 * k, rng).outcome for k in range(10)]
    assert len(set(runs)) == 1
    listing = ec.engines[probe.ingress].nft_ruleset.render(now=2.0)
    assert listing.count(f"{probe.src_ip} expires") == 1
    assert f"{probe.src_ip} expires" not in ec.engines[probe.ingress].nft_ruleset.render(
        now=13.0)


@pytest.mark.slow
def test_numgen_spread_is_uniform_in_kernel_and_engine():
    """1,500 connections to a 3-endpoint Service through kube-proxy's nftables table: the
    kernel's and the engine's endpoint counts are each consistent with 1/3 per endpoint
    (numgen random mod 3), and with each other (chi-square, alpha 0.001)."""
    import numpy as np
    from scipy.stats import chi2_contingency, chisquare

    from tests.kernel.probing import cluster_spec
    from tests.kernel.stat_cluster import ALPHA, CLIENT_IPS, CONNECTIONS, PODS, probe_to, stat_state

    state = stat_state()
    spec = cluster_spec(state, CLIENT_IPS)
    rules = nft_rules(state)
    with KernelCluster(spec) as kc:
        load_nft(kc, rules)
        pods = [r.pod for r in kc.probe("ext", "10.96.0.10", 80, src_ip=CLIENT_IPS[0],
                                        count=CONNECTIONS, timeout_s=1.0)]
    kernel = np.array([sum(1 for p in pods if p == name) for name in PODS])
    dist = NftEngineCluster(spec, rules).distribution(probe_to(CLIENT_IPS[0], "10.96.0.10"),
                                                      CONNECTIONS, seed=7)
    engine = np.array([sum(n for k, n in dist.items() if k.split("|")[1] == name)
                       for name in PODS])
    assert kernel.sum() == engine.sum() == CONNECTIONS
    assert chisquare(kernel).pvalue > ALPHA, kernel
    assert chisquare(engine).pvalue > ALPHA, engine
    assert chi2_contingency(np.stack([kernel, engine])).pvalue > ALPHA
