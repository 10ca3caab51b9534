"""Live: the 1.0 portal rules in the real kernel, with a real proxy socket (root only).

Each node of ``scenarios/userspace/source-address.yaml`` gets the userspace compiler's nat
rules (the proxy ports a run with the scenario's seed draws) and, on the proxy port, a real
relay (:mod:`sim.oracle.relay`) that dials the backend the simulated world chose for the flow.
Connections to the cluster IP from a pod and from a node must reach the relay (REDIRECT from
the pod, DNAT to the InternalIP from the node), and the backend must see the address the
world predicts: the proxy node's InternalIP for a backend on another node, the pod bridge's
address for one on the same node.
"""

from __future__ import annotations

import pytest

from sim.commands.options import with_mode
from sim.kubeproxy.userspace import compile_rules
from sim.oracle import KernelCluster
from sim.oracle.relay import Relay
from sim.scenario.runner import run
from sim.scenario.spec import load_scenario
from sim.world.userspace import proxy_ports_for
from tests.kernel.capture import ROOT
from tests.kernel.probing import cluster_spec

pytestmark = pytest.mark.kernel

SCENARIO = ROOT / "scenarios" / "userspace" / "source-address.yaml"


@pytest.fixture(scope="module")
def setup():
    scenario = with_mode(load_scenario(SCENARIO), "userspace")
    state = scenario.state()
    result = run(scenario)
    ports = {n.name: proxy_ports_for(state, n.name, state.kube_proxy, scenario.seed)
             for n in state.nodes}
    with KernelCluster(cluster_spec(state)) as kc:
        for n in state.nodes:
            kc.restore(n.name, compile_rules(state, n.name, ports[n.name]).render(), noflush=True)
        yield scenario, state, result, ports, kc


def _pairs(result, state):
    """(flow, client host, client node, server pod, source the world says it saw)."""
    out = set()
    for rec in result.recorder.connections:
        flow = next(f for f in result.plan.flows if f.name == rec.flow)
        if flow.client_kind == "pod":
            host = flow.client.split("/", 1)[1]
            node = state.pods_by_key[flow.client].node_name
        else:
            host = node = flow.client
        out.add((rec.flow, host, node, rec.server, rec.source_seen))
    return sorted(out)


def test_portal_rules_load_in_the_kernel(setup):
    """iptables-save shows the four chains and every portal rule the compiler wrote."""
    _sc, state, _res, ports, kc = setup
    for n in state.nodes:
        saved = kc.save(n.name)
        for chain in ("KUBE-PORTALS-CONTAINER", "KUBE-PORTALS-HOST", "KUBE-NODEPORT-CONTAINER",
                      "KUBE-NODEPORT-HOST"):
            assert f":{chain} - [0:0]" in saved
        (port,) = ports[n.name].values()
        assert f"--to-ports {port}" in saved
        assert f"--to-destination {n.internal_ip}:{port}" in saved


def test_relay_reaches_the_backend_with_the_source_the_world_predicts(setup):
    """From a pod (REDIRECT) and from a node (DNAT to its InternalIP), each connection to the
    cluster IP reaches the relay on the client's node at the address the world's engine
    redirects to; the backend sees the source the world recorded for that client and backend."""
    _sc, state, result, ports, kc = setup
    svc = state.service("default", "web")
    pairs = _pairs(result, state)
    assert {p[0] for p in pairs} == {"from-pod", "from-node"}
    for flow, host, node, server, seen in pairs:
        pod = state.pods_by_key[server]
        backend = f"{pod.pod_ip}:8080"
        (port,) = ports[node].values()
        with Relay(kc.netns(node), port, [backend]) as relay:
            results = kc.probe(host, svc.cluster_ip, 80, count=3, timeout_s=2.0)
            records = relay.stop()
        assert [r.status for r in results] == ["ok"] * 3, (flow, server, results)
        assert {r.pod for r in results} == {pod.name}
        assert {r.peer_ip for r in results} == {seen}, (flow, server)
        assert len(records) == 3 and all("error" not in r for r in records)
        client_ip = (state.pods_by_key[f"default/{host}"].pod_ip if flow == "from-pod"
                     else state.node(node).internal_ip)
        assert {r["client"].rsplit(":", 1)[0] for r in records} == {client_ip}
        # REDIRECT from a pod reaches the pod bridge's address, the host DNAT the InternalIP
        # (what the world's engine does: sim.world.engine._PodInterfaces).
        bridge = f"10.244.{state.node(node).pod_cidr.split('.')[2]}.1"
        local = bridge if flow == "from-pod" else state.node(node).internal_ip
        assert {r["local"] for r in records} == {f"{local}:{port}"}
        assert {r["source"].rsplit(":", 1)[0] for r in records} == {seen}


def test_nobody_listening_on_the_proxy_port_is_a_refusal(setup):
    """With the rules in place and no socket on the proxy port (kube-proxy gone, rules not
    flushed) the kernel answers the redirected SYN with RST: refused, as the world says."""
    _sc, state, _res, _ports, kc = setup
    svc = state.service("default", "web")
    (result,) = kc.probe("client", svc.cluster_ip, 80, count=1, timeout_s=1.0)
    assert result.status == "refused"
