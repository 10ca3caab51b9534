"""The real kernel accepts our payloads and shows them as our ``--format save`` rendering.

Each case restores :func:`bootstrap_payload` (the built-in chain jumps) and then the compiled
payload with ``iptables-restore --noflush`` (as kube-proxy runs it) into a fresh network
namespace, reads ``iptables-save`` back and requires it to equal, byte for byte after dropping
the ``#`` lines, what ``sim.iptables.render_save`` predicts for the same restore sequence.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from sim.commands.rules import render
from sim.iptables import apply_payload, canonicalise, render_save
from sim.iptables.save import strip_save_noise
from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.model import SessionAffinity
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy.kernel import Namespace
from sim.scenario.spec import load_scenario
from tests.kubeproxy.strategies import NODE, clusters
from tests.kubeproxy.test_goldens import SCENARIOS, shipped_scenarios

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def netns():
    ns = Namespace()
    try:
        yield ns
    finally:
        ns.delete()


def predicted_save(payload) -> str:
    """Our rendering of the node after bootstrap + payload (what ``rules --format save`` prints)."""
    state = apply_payload(bootstrap_payload(canary=True), noflush=True)
    return render_save(apply_payload(payload, state, noflush=True))


def kernel_save(ns: Namespace, payload) -> str:
    # A restore without --noflush empties the tables first, so every case starts clean.
    ns.restore(bootstrap_payload(canary=True).render(), noflush=False)
    ns.restore(payload.render(), noflush=True)
    return strip_save_noise(ns.save())


def test_upstream_fixture_roundtrip(netns):
    """The TestOverallIPTablesRules cluster (with the default 0x00004000 mark and
    --random-fully) loads and reads back as predicted."""
    state = fx.overall_rules_state()
    state = replace(state, kube_proxy=replace(state.kube_proxy, mark_format="%#08x",
                                              masquerade_random_fully=True))
    payload = compile_rules(state, fx.TEST_NODE)
    assert kernel_save(netns, payload) == predicted_save(payload)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(clusters())
def test_generated_clusters_roundtrip(netns, state):
    """Generated clusters (every service type and policy, affinity, source ranges, terminating
    endpoints, nodePortAddresses) are accepted and read back as predicted."""
    payload = compile_rules(state, NODE)
    assert kernel_save(netns, payload) == predicted_save(payload)


def test_stale_chain_deletion_roundtrip(netns):
    """A second sync with ``existing_nat_chains`` deletes the chains of a removed endpoint in
    the kernel (the chain line flushes it, ``-X`` removes it)."""
    first = fx.overall_rules_state()
    p1 = compile_rules(first, fx.TEST_NODE)
    kernel_save(netns, p1)
    second = fx.state(list(first.services), [s for s in first.endpoint_slices if s.service_name != "svc4"])
    p2 = compile_rules(second, fx.TEST_NODE,
                       existing_nat_chains=frozenset(c.name for c in p1.table("nat").chains))
    netns.restore(p2.render(), noflush=True)
    got = strip_save_noise(netns.save())
    node = apply_payload(bootstrap_payload(canary=True), noflush=True)
    node = apply_payload(p1, node, noflush=True)
    assert got == render_save(apply_payload(p2, node, noflush=True))
    assert "KUBE-SEP-C6EBXVWJJZMIWKLZ" not in got and "KUBE-SVC-4SW47YFZTEDKD3PK" not in got


def _scenarios():
    return [(p, str(p.relative_to(SCENARIOS))) for p in shipped_scenarios()]


@pytest.mark.parametrize("scenario", [p for p, _ in _scenarios()], ids=[i for _, i in _scenarios()])
def test_shipped_scenarios_roundtrip(netns, scenario):
    """Every node of every shipped scenario: the kernel accepts the payload and iptables-save
    equals ``kube-netsim rules --format save``."""
    state = load_scenario(scenario).state()
    for node in state.nodes:
        payload = compile_rules(state, node.name)
        assert kernel_save(netns, payload) == render(payload, "save"), node.name


def test_large_cluster_mode_roundtrip(netns):
    """Over 1000 endpoints (comment-less SEP and dispatch rules, with ClientIP affinity) the
    payload still loads and reads back as predicted."""
    services, slices = [], []
    for i in range(170):
        services.append(fx.svc("ns", f"s{i:03d}", f"172.30.{i}.1", fx.port(80),
                               session_affinity=SessionAffinity.CLIENT_IP, affinity_timeout_s=10800))
        slices.append(fx.eps("ns", f"s{i:03d}", [fx.ep(f"10.{i}.0.{j + 1}") for j in range(6)]))
    payload = compile_rules(fx.state(services, slices), fx.TEST_NODE)
    assert not any("-> " in ln for ln in payload.table("nat").lines)
    assert kernel_save(netns, payload) == predicted_save(payload)


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(clusters())
def test_legacy_backend_accepts_and_agrees_canonically(netns, state):
    """iptables-legacy-restore accepts the same payloads, and its iptables-legacy-save output
    (different table order and spellings) is canonically equal to our save rendering."""
    payload = compile_rules(state, NODE)
    netns.restore(bootstrap_payload(canary=True).render(), noflush=False, tool="iptables-legacy-restore")
    netns.restore(payload.render(), noflush=True, tool="iptables-legacy-restore")
    got = strip_save_noise(netns.save("iptables-legacy-save"))
    assert canonicalise(got) == canonicalise(predicted_save(payload))
