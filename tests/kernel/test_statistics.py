"""Live: spread over endpoints and ClientIP affinity, kernel and engine side by side (root only).

The cluster is :mod:`tests.kernel.stat_cluster`.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.oracle import KernelCluster
from tests.kernel.engine_side import EngineCluster
from tests.kernel.probing import cluster_spec, compiled_rules, load_rules
from tests.kernel.stat_cluster import (
    AFFINITY_S,
    ALPHA,
    CLIENT_IPS,
    CONNECTIONS,
    PODS,
    probe_to,
    stat_state,
)

pytestmark = pytest.mark.kernel

@pytest.fixture(scope="module")
def world():
    """The kernel cluster (rules loaded) and the engine cluster with the same rules."""
    state = stat_state()
    spec = cluster_spec(state, CLIENT_IPS)
    rules = compiled_rules(state, bootstrap_payload(), compile_rules)
    with KernelCluster(spec) as kc:
        load_rules(kc, rules)
        yield kc, EngineCluster(spec, rules)


def _kernel_pods(kc, src_ip: str, vip: str, count: int) -> list[str | None]:
    return [r.pod for r in kc.probe("ext", vip, 80, src_ip=src_ip, count=count, timeout_s=1.0)]


def _counts(pods) -> np.ndarray:
    return np.array([sum(1 for p in pods if p == name) for name in PODS])


def test_spread_is_uniform_in_kernel_and_engine(world):
    """1,500 connections to a 3-endpoint Service: the kernel's and the engine's endpoint
    counts are each consistent with 1/3 per endpoint, and with each other (chi-square,
    alpha 0.001)."""
    kc, ec = world
    kernel = _counts(_kernel_pods(kc, CLIENT_IPS[0], "10.96.0.10", CONNECTIONS))
    dist = ec.distribution(probe_to(CLIENT_IPS[0], "10.96.0.10"), CONNECTIONS, seed=7)
    engine = np.array([sum(n for k, n in dist.items() if k.split("|")[1] == name)
                       for name in PODS])
    assert kernel.sum() == engine.sum() == CONNECTIONS
    assert chisquare(kernel).pvalue > ALPHA, kernel
    assert chisquare(engine).pvalue > ALPHA, engine
    assert chi2_contingency(np.stack([kernel, engine])).pvalue > ALPHA, (kernel, engine)


def test_spread_test_detects_a_wrong_cascade(world):
    """The same kernel counts are far from what a wrong cascade (each rule 1/3 instead of
    1/3, 1/2, 1) would give, 1/3, 2/9, 4/9: the spread test has the power to notice."""
    kc, _ = world
    kernel = _counts(_kernel_pods(kc, CLIENT_IPS[1], "10.96.0.10", CONNECTIONS))
    wrong = np.array([1 / 3, 2 / 9, 4 / 9]) * kernel.sum()
    assert chisquare(kernel, wrong).pvalue < 1e-9, kernel


_SPORTS = itertools.count(30000)


def _engine_pods(ec: EngineCluster, src_ip: str, times: list[float], rng) -> list[str]:
    # Every connection from a new source port, as the kernel's sockets do (a reused tuple
    # would be the same conntrack entry, keeping its endpoint whatever the pins say).
    probe = probe_to(src_ip, "10.96.0.11")
    return [ec.connect(probe, next(_SPORTS), t, rng).outcome.split("|")[1] for t in times]


def test_affinity_pins_each_client_to_one_pod(world):
    """ClientIP affinity: each of twelve client addresses gets one pod for all of its 20
    connections, in the kernel and in the engine; the kernel's recent list holds the client
    addresses (before SNAT); the pins are per client, not one pod for everybody."""
    kc, ec = world
    for node in ("node-1", "node-2"):
        kc.clear_recent(node)
    kernel = {ip: set(_kernel_pods(kc, ip, "10.96.0.11", 20)) for ip in CLIENT_IPS}
    rng = np.random.default_rng(3)
    t0 = ec.fresh_time()
    engine = {ip: set(_engine_pods(ec, ip, [t0 + 0.01 * k for k in range(20)], rng))
              for ip in CLIENT_IPS}
    assert all(len(p) == 1 for p in kernel.values()), kernel
    assert all(len(p) == 1 for p in engine.values()), engine
    assert len(set().union(*kernel.values())) > 1
    assert len(set().union(*engine.values())) > 1
    listed = {e["src"] for name in ("node-1",) for sep in _sep_lists(kc, name)
              for e in kc.recent(name, sep)}
    assert listed == set(CLIENT_IPS)


def _sep_lists(kc, node: str) -> list[str]:
    from sim.oracle.netns import run

    out = run(["ls", "/proc/net/xt_recent"], netns=kc.netns(node), timeout_s=10).stdout
    return out.split()


def test_affinity_expires_after_timeout(world):
    """A pin holds within timeoutSeconds and expires after it: 0.3 s after pinning every
    client keeps its pod; 1.6 s after, some of twelve clients move (each moves with
    probability 2/3; none moving has probability 3**-12), in the kernel and in the engine."""
    kc, ec = world
    for node in ("node-1", "node-2"):
        kc.clear_recent(node)
    first = {ip: _kernel_pods(kc, ip, "10.96.0.11", 1)[0] for ip in CLIENT_IPS}
    time.sleep(0.3)
    soon = {ip: _kernel_pods(kc, ip, "10.96.0.11", 1)[0] for ip in CLIENT_IPS}
    time.sleep(AFFINITY_S + 0.6)
    late = {ip: _kernel_pods(kc, ip, "10.96.0.11", 1)[0] for ip in CLIENT_IPS}
    assert soon == first
    assert any(late[ip] != first[ip] for ip in CLIENT_IPS), (first, late)

    rng = np.random.default_rng(5)
    t0 = ec.fresh_time()
    e_first = {ip: _engine_pods(ec, ip, [t0], rng)[0] for ip in CLIENT_IPS}
    e_soon = {ip: _engine_pods(ec, ip, [t0 + 0.3], rng)[0] for ip in CLIENT_IPS}
    e_late = {ip: _engine_pods(ec, ip, [t0 + 0.3 + AFFINITY_S + 0.6], rng)[0]
              for ip in CLIENT_IPS}
    assert e_soon == e_first
    assert any(e_late[ip] != e_first[ip] for ip in CLIENT_IPS), (e_first, e_late)
