"""Live: spread over endpoints and ClientIP affinity, kernel and engine side by side (root only).

One cluster: node-1 runs web-0, node-2 runs web-1 and web-2; ``default/web`` (10.96.0.10:80)
spreads over the three, ``default/sticky`` (10.96.0.11:80) has ClientIP affinity with a
one-second timeout. The outside client has twelve addresses and routes via node-1.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.model import (
    ClusterState,
    ContainerPort,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    KubeProxyConfig,
    Node,
    NodeAddress,
    Pod,
    Service,
    ServicePort,
    SessionAffinity,
)
from sim.oracle import KernelCluster
from tests.kernel.engine_side import EngineCluster
from tests.kernel.probing import Probe, cluster_spec, compiled_rules, load_rules

pytestmark = pytest.mark.kernel

ALPHA = 0.001  # fixed significance of every chi-square test here
CONNECTIONS = 1500
CLIENT_IPS = tuple(f"198.51.100.{10 + i}" for i in range(12))
AFFINITY_S = 1
PODS = ("web-0", "web-1", "web-2")


def _state() -> ClusterState:
    nodes = (Node("node-1", addresses=(NodeAddress("InternalIP", "192.168.0.2"),),
                  pod_cidr="10.244.1.0/24"),
             Node("node-2", addresses=(NodeAddress("InternalIP", "192.168.0.3"),),
                  pod_cidr="10.244.2.0/24"))
    placed = (("web-0", "node-1", "10.244.1.10"), ("web-1", "node-2", "10.244.2.10"),
              ("web-2", "node-2", "10.244.2.11"))
    pods = tuple(Pod("default", n, node_name=node, pod_ip=ip, pod_ips=(ip,),
                     container_ports=(ContainerPort(8080),)) for n, node, ip in placed)
    eps = tuple(Endpoint((ip,), node_name=node) for _, node, ip in placed)
    services, slices = [], []
    for name, vip, affinity in (("web", "10.96.0.10", False), ("sticky", "10.96.0.11", True)):
        services.append(Service(
            "default", name, ports=(ServicePort(80, name="http", target_port=8080),),
            cluster_ip=vip, cluster_ips=(vip,),
            session_affinity=SessionAffinity.CLIENT_IP if affinity else SessionAffinity.NONE,
            affinity_timeout_s=AFFINITY_S if affinity else 0))
        slices.append(EndpointSlice("default", f"{name}-x", name, endpoints=eps,
                                    ports=(EndpointPort(8080, name="http"),)))
    return ClusterState(kube_proxy=KubeProxyConfig(cluster_cidr="10.244.0.0/16"), nodes=nodes,
                        pods=pods, services=tuple(services), endpoint_slices=tuple(slices))


@pytest.fixture(scope="module")
def world():
    """The kernel cluster (rules loaded) and the engine cluster with the same rules."""
    state = _state()
    spec = cluster_spec(state, CLIENT_IPS)
    rules = compiled_rules(state, bootstrap_payload(), compile_rules)
    with KernelCluster(spec) as kc:
        load_rules(kc, rules)
        yield kc, EngineCluster(spec, rules)


def _probe(src_ip: str, vip: str) -> Probe:
    return Probe(f"{src_ip} -> {vip}", "ext", src_ip, "external", "node-1", "tcp", vip, 80)


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
    dist = ec.distribution(_probe(CLIENT_IPS[0], "10.96.0.10"), CONNECTIONS, seed=7)
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
    probe = _probe(src_ip, "10.96.0.11")
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
