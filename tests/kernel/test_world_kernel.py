"""Live: the kernel-oracle topology agrees with the simulated world (root only).

For the NodePort, affinity and no-endpoint scenarios of issue 5 (and the externalIPs /
LoadBalancer and manual-Endpoints ones), the world runs the scenario
(``sim.scenario.runner.run``) and the kernel oracle builds the same cluster with the same
compiled rules; every flow is then replayed on the kernel from the same client to the same
address, and the two are compared per flow: the set of ``(outcome, pod, source seen)`` they
produced, and for ClientIP affinity the pinning. The world's run is fixed by its seed (at
least 20 connections per flow); the kernel opens 100 per flow, so with at most six equally
likely outcomes it misses one with probability below 1e-7.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.oracle import KernelCluster, counter_diff
from sim.scenario.runner import run
from sim.scenario.spec import load_scenario
from tests.kernel.capture import ROOT
from tests.kernel.probing import CLIENT, compiled_rules, load_rules, scenario_cluster

pytestmark = pytest.mark.kernel

KERNEL_TIMEOUT_S = 0.5  # per connection; the scenarios' own timeouts are 0.5-1 s


def _world(path: str):
    result = run(load_scenario(path))
    by_flow: dict[str, list] = {}
    for rec in result.recorder.connections:
        by_flow.setdefault(rec.flow, []).append(rec)
    return result, by_flow


def _world_key(rec) -> tuple:
    pod = rec.server.split("/", 1)[1] if rec.server else ""
    return (rec.outcome, pod, rec.source_seen)


def _kernel_source(flow, result) -> tuple[str, str | None]:
    """The oracle host of a flow's client, and the source address to bind (an external
    host is one of the oracle client's addresses)."""
    if flow.client_kind == "external":
        hosts = {h["name"]: h["ip"] for h in result.scenario.network["externalHosts"]}
        return CLIENT, hosts[flow.client]
    if flow.client_kind == "pod":
        return flow.client.split("/", 1)[1], None
    return flow.client, None


def _kernel_keys(kc, flow, result, state, count: int) -> Counter:
    dst, port = flow.target.resolve(state)
    source, src_ip = _kernel_source(flow, result)
    results = kc.probe(source, dst, port, proto=flow.proto, src_ip=src_ip, count=count,
                       timeout_s=min(flow.connect_timeout_s, KERNEL_TIMEOUT_S))
    return Counter((r.status, r.pod or "", r.peer_ip or "") for r in results)


def _agreement(path: str) -> list[str]:
    result, by_flow = _world(path)
    state, spec = scenario_cluster(path, lb_spread=True)
    rules = compiled_rules(state, bootstrap_payload(), compile_rules)
    problems = []
    with KernelCluster(spec) as kc:
        load_rules(kc, rules)
        for flow in result.plan.flows:
            world = Counter(_world_key(r) for r in by_flow[flow.name])
            assert sum(world.values()) >= 20, flow.name
            timeouts = all(k[0] == "timeout" for k in world)
            kernel = _kernel_keys(kc, flow, result, state, 3 if timeouts else 100)
            if set(world) != set(kernel):
                problems.append(f"{flow.name}: world {dict(world)} kernel {dict(kernel)}")
    return problems


def test_nodeport_policies_agree():
    """NodePort under Cluster policy answers on every node with the entry node's address as
    source, under Local policy only where a pod runs with the client's address, and drops
    on the node without one: the world's outcomes, pods and sources per node are the
    kernel's."""
    problems = _agreement(str(ROOT / "scenarios/world/nodeport-policies.yaml"))
    assert problems == [], "\n".join(problems)


def test_no_endpoints_agree():
    """A Service without endpoints is refused from a pod and on its NodePort, and a Local
    NodePort without a local pod times out, in the world and in the kernel."""
    problems = _agreement(str(ROOT / "scenarios/world/no-endpoints.yaml"))
    assert problems == [], "\n".join(problems)


def test_external_ips_and_load_balancer_agree():
    """externalIPs routed to node-1 and a LoadBalancer in front of every node with source
    ranges: the office (inside the ranges) reaches the same pods with the same sources in the
    world and the kernel (entering at every node), the cafe (outside) is dropped in both."""
    problems = _agreement(str(ROOT / "scenarios/world/externalips-loadbalancer.yaml"))
    assert problems == [], "\n".join(problems)


def test_manual_endpoints_agree():
    """A Service without selector routed to manual Endpoints answers from the same pod with
    the same source in the world and the kernel."""
    problems = _agreement(str(ROOT / "scenarios/world/manual-endpoints.yaml"))
    assert problems == [], "\n".join(problems)


def test_affinity_pins_like_the_kernel():
    """The affinity scenario's sticky client gets one pod for all its 100 connections in the
    world and in the kernel, and both see the client's own pod IP as source."""
    path = str(ROOT / "scenarios/world/affinity.yaml")
    result, by_flow = _world(path)
    state, spec = scenario_cluster(path)
    [flow] = [f for f in result.plan.flows if f.name == "sticky"]
    world = Counter(_world_key(r) for r in by_flow["sticky"])
    with KernelCluster(spec) as kc:
        load_rules(kc, compiled_rules(state, bootstrap_payload(), compile_rules))
        kernel = _kernel_keys(kc, flow, result, state, len(by_flow["sticky"]))
    client_ip = state.pods_by_key[flow.client].pod_ip
    assert len(world) == 1 and len(kernel) == 1, (world, kernel)
    [(w_outcome, _, w_seen)] = world
    [(k_outcome, _, k_seen)] = kernel
    assert (w_outcome, w_seen) == ("ok", client_ip)
    assert (k_outcome, k_seen) == ("ok", client_ip)


def test_affinity_choice_is_fresh_after_the_timeout_like_the_kernel():
    """After an idle gap longer than timeoutSeconds (10 s) the kernel's next connection no
    longer matches an affinity (recent --rcheck) rule while one right after does; the world's
    returning client, 15 s between connections, gets a fresh choice each time (its 8
    connections are not all on one pod and its affinity expectations pass)."""
    path = str(ROOT / "scenarios/world/affinity.yaml")
    result, by_flow = _world(path)
    assert len({r.server for r in by_flow["returning"]}) > 1
    assert all(e.passed for e in result.expectations), result.expectations
    state, spec = scenario_cluster(path)
    [flow] = [f for f in result.plan.flows if f.name == "returning"]
    dst, port = flow.target.resolve(state)
    source = flow.client.split("/", 1)[1]
    node = state.pods_by_key[flow.client].node_name
    timeout_s = next(s.affinity_timeout_s for s in state.services if s.name == "web")

    def affinity_hits() -> int:
        before = kc.counters(node)
        [r] = kc.probe(source, dst, port, timeout_s=1.0)
        assert r.status == "ok"
        return sum(c.packets for c in counter_diff(before, kc.counters(node))
                   if "--rcheck" in c.text)

    with KernelCluster(spec) as kc:
        load_rules(kc, compiled_rules(state, bootstrap_payload(), compile_rules))
        assert affinity_hits() == 0
        assert affinity_hits() == 1
        time.sleep(timeout_s + 0.6)
        assert affinity_hits() == 0
