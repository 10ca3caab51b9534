"""Endpoint choice against upstream's flow expectations (``TestTerminatingEndpointsTrafficPolicyLocal``
and ``...Cluster`` of ``proxier_test.go``): which endpoints a pod reaches through the cluster IP
and an external client reaches through the LB IP, read off our rules (the clusterIP jump, the
EXT chain's final policy jump and the probability cascade), or the filter verdict.
"""

from __future__ import annotations

import pytest

from sim.kubeproxy.iptables import compile_rules
from sim.model import LoadBalancerIngress, ServiceType, TrafficPolicy
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy import rulecheck as rc

T, F = True, False
LOCAL, REMOTE = fx.TEST_NODE, "node-1"


def _state(policy: TrafficPolicy, endpoints):
    service = fx.svc("ns1", "svc1", "172.30.1.1", fx.port(80, name=""), type=ServiceType.LOAD_BALANCER,
                     external_traffic_policy=policy, health_check_node_port=30000,
                     load_balancer_ingress=(LoadBalancerIngress(ip="1.2.3.4"),))
    eps = [fx.ep(ip, node=node, ready=r, serving=s, terminating=term) for ip, r, s, term, node in endpoints]
    return fx.state([service], [fx.eps("ns1", "svc1", eps, port_name="")])


def _reached(views, dest: str) -> str:
    """Endpoints reached for a new connection to dest:80, or REJECT / DROP."""
    nat, filt = views["nat"], views["filter"]
    for chain in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"):
        for toks in filt.chain_rules(chain):
            if rc.opt(toks, "-d") == dest:
                return rc.target(toks)
    chain = next(rc.target(t) for t in nat.chain_rules("KUBE-SERVICES") if rc.opt(t, "-d") == dest)
    if chain.startswith("KUBE-EXT-"):
        chain = rc.target(nat.chain_rules(chain)[-1])  # external clients fall through to the policy chain
    dist = rc.dispatch_distribution(nat, chain)
    return ", ".join(sorted(rc.sep_destination(nat, sep) for sep in dist))


CASES = [
    ("local: ready endpoints exist", TrafficPolicy.LOCAL,
     [("10.0.1.1", T, T, F, LOCAL), ("10.0.1.2", T, T, F, LOCAL), ("10.0.1.3", F, T, T, LOCAL),
      ("10.0.1.4", F, F, T, LOCAL), ("10.0.1.5", T, T, F, REMOTE)],
     "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", "10.0.1.1:80, 10.0.1.2:80"),
    ("local: only terminating endpoints exist", TrafficPolicy.LOCAL,
     [("10.0.1.2", F, T, T, LOCAL), ("10.0.1.3", F, T, T, LOCAL), ("10.0.1.4", F, F, T, LOCAL),
      ("10.0.1.5", T, T, F, REMOTE)],
     "10.0.1.5:80", "10.0.1.2:80, 10.0.1.3:80"),
    ("local: terminating endpoints on remote node", TrafficPolicy.LOCAL,
     [("10.0.1.5", F, T, T, REMOTE)], "10.0.1.5:80", "DROP"),
    ("local: no usable endpoints on any node", TrafficPolicy.LOCAL,
     [("10.0.1.5", F, F, T, LOCAL), ("10.0.1.5", F, F, T, REMOTE)], "REJECT", "REJECT"),
    ("cluster: ready endpoints exist", TrafficPolicy.CLUSTER,
     [("10.0.1.1", T, T, F, LOCAL), ("10.0.1.2", T, T, F, LOCAL), ("10.0.1.3", F, T, T, "another-node"),
      ("10.0.1.4", F, F, T, "another-node"), ("10.0.1.5", T, T, F, "another-node")],
     "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80"),
    ("cluster: only terminating endpoints exist", TrafficPolicy.CLUSTER,
     [("10.0.1.2", F, T, T, LOCAL), ("10.0.1.3", F, T, T, LOCAL), ("10.0.1.4", F, F, T, "another-node"),
      ("10.0.1.5", F, T, T, "another-node")],
     "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80"),
    ("cluster: terminating endpoints on remote node", TrafficPolicy.CLUSTER,
     [("10.0.1.5", F, T, T, REMOTE)], "10.0.1.5:80", "10.0.1.5:80"),
]


@pytest.mark.parametrize("name,policy,endpoints,to_cluster_ip,to_lb", CASES, ids=[c[0] for c in CASES])
def test_terminating_endpoint_flows(name, policy, endpoints, to_cluster_ip, to_lb):
    """Pod -> clusterIP and external -> LB reach the endpoints upstream's flow test expects."""
    views = rc.read(compile_rules(_state(policy, endpoints), fx.TEST_NODE))
    assert _reached(views, "172.30.1.1") == to_cluster_ip
    assert _reached(views, "1.2.3.4") == to_lb
