"""The world agrees with the real kernel (network namespaces running the same rules) on the
NodePort, no-endpoint and affinity scenarios.

For each flow, the kernel cluster of :mod:`sim.oracle` runs the same rule text on every node
(kube-proxy's bootstrap jumps plus ``compile_rules``) and the same client opens connections
to the same address; the set of (outcome, answering pod, source address the pod saw) must be
the same in the kernel and in the world.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from sim.kubeproxy.iptables import bootstrap_payload, compile_rules
from sim.oracle import ClientSpec, KernelCluster, skip_reason, spec_from_state
from sim.scenario.runner import run
from sim.scenario.spec import load_scenario

pytestmark = pytest.mark.kernel

WORLD = Path(__file__).resolve().parents[2] / "scenarios" / "world"
PROBES = 20


def _kernel_outcomes(path: Path, flows: tuple[str, ...]) -> tuple[dict, dict]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    sc = load_scenario(path)
    result = run(sc)
    state = sc.state()
    plan = result.plan
    clients = tuple(ClientSpec(h.name, (h.ip,), state.nodes[0].name)
                    for h in plan.network.external_hosts)
    world: dict[str, set] = {}
    kernel: dict[str, set] = {}
    with KernelCluster(spec_from_state(state, clients)) as kc:
        for n in state.nodes:
            kc.restore(n.name, bootstrap_payload(state.kube_proxy).render(), noflush=True)
            kc.restore(n.name, compile_rules(state, n.name, state.kube_proxy).render(), noflush=True)
        for f in plan.flows:
            if f.name not in flows and f.name.split("@")[0] not in flows:
                continue
            ip, port = f.target.resolve(state)
            source = f.client.split("/")[-1]
            rs = kc.probe(source, ip, port, proto=f.proto, count=PROBES,
                          timeout_s=f.connect_timeout_s)
            kernel[f.name] = {(r.status, f"default/{r.pod}" if r.pod else "", r.peer_ip or "")
                              for r in rs}
            world[f.name] = {(c.outcome, c.server, c.source_seen)
                             for c in result.recorder.connections if c.flow == f.name}
    return world, kernel


def test_nodeport_policies_agree_with_the_kernel():
    """Every node's NodePort under Cluster and Local policy: same pods, same sources seen
    (bridge address for a local pod, the entry node's address for a remote one, the client's
    own address under Local policy), same timeouts where no local pod runs."""
    world, kernel = _kernel_outcomes(WORLD / "nodeport-policies.yaml", ("cluster-np", "local-np"))
    assert world == kernel


def test_no_endpoints_agree_with_the_kernel():
    """Refused for a Service without endpoints (cluster IP and NodePort), timed out for a
    Local-policy NodePort on a node without a local pod."""
    world, kernel = _kernel_outcomes(WORLD / "no-endpoints.yaml",
                                     ("to-empty", "empty-nodeport", "local-without-pod"))
    assert world == kernel


def test_affinity_pins_one_pod_in_both():
    """ClientIP affinity: many connections from one pod land on a single pod in the kernel as
    in the world (which pod is a random draw on each side)."""
    world, kernel = _kernel_outcomes(WORLD / "affinity.yaml", ("sticky",))
    assert len(world["sticky"]) == len(kernel["sticky"]) == 1
    (w,), (k,) = world["sticky"], kernel["sticky"]
    assert (w[0], w[2]) == (k[0], k[2])


def test_manual_endpoints_and_external_ip_agree_with_the_kernel():
    """A selector-less Service to its manual Endpoints (pod source kept), and an externalIP
    routed to node-1 from outside (masqueraded to node-1 or its bridge)."""
    world, kernel = _kernel_outcomes(WORLD / "manual-endpoints.yaml", ("to-my-service",))
    assert world == kernel
    world, kernel = _kernel_outcomes(WORLD / "externalips-loadbalancer.yaml", ("office-externalip",))
    assert world == kernel


def test_load_balancer_source_ranges_agree_with_the_kernel():
    """loadBalancerSourceRanges: the allowed source is answered, the other dropped, in both.
    (The kernel client reaches the ingress address through its gateway node; the world's
    cloud balancer picks a node per flow, so only the outcomes are compared.)"""
    world, kernel = _kernel_outcomes(WORLD / "externalips-loadbalancer.yaml", ("office-lb", "cafe-lb"))
    for flow in ("office-lb", "cafe-lb"):
        assert {o for o, _, _ in world[flow]} == {o for o, _, _ in kernel[flow]}, flow
    assert {o for o, _, _ in world["cafe-lb"]} == {"timeout"}


def test_affinity_expiry_agrees_with_the_kernel(tmp_path):
    """With timeoutSeconds 1, a client coming back every 1.5 s gets a fresh random pod each
    time in the kernel (``recent --rcheck --seconds 1`` forgets it) as in the world, while
    quick successive connections stay on one pod in both."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    shutil.copytree(WORLD / "manifests", tmp_path / "manifests")
    text = (WORLD / "affinity.yaml").read_text()
    text = text.replace("timeoutSeconds: 10", "timeoutSeconds: 1").replace(
        "rate: 0.0666666667", "rate: 0.6666666667")
    path = tmp_path / "affinity.yaml"
    path.write_text(text)
    sc = load_scenario(path)
    result = run(sc)
    assert result.passed, [e.detail for e in result.expectations if not e.passed]
    state = sc.state()
    vip = state.service("default", "web").cluster_ip
    with KernelCluster(spec_from_state(state)) as kc:
        for n in state.nodes:
            kc.restore(n.name, bootstrap_payload(state.kube_proxy).render(), noflush=True)
            kc.restore(n.name, compile_rules(state, n.name, state.kube_proxy).render(), noflush=True)
        quick = {r.pod for r in kc.probe("client", vip, 80, count=20)}
        spaced = []
        for _ in range(8):
            spaced.extend(r.pod for r in kc.probe("client-2", vip, 80))
            time.sleep(1.5)
    assert len(quick) == 1
    assert len(set(spaced)) > 1
