"""The real kernel accepts our nftables transactions and ends in the table we predict.

Each case loads our transaction(s) with the real ``nft -f`` into a throw-away network
namespace and reads the table back with ``nft list ruleset``. The expectation is our fake
table (``nft_fake``: what the transaction sequence leaves, as ``add`` commands), loaded with
``nft -f`` into a second, empty namespace; canonicalisation is the kernel's own listing of
that predicted state, so the two listings must be equal byte for byte. ``KUBE_NETSIM_REGEN=1``
rewrites the small capture the replay test (``test_nft_kernel_replay``) reads without root.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from sim.commands.options import with_mode
from sim.kubeproxy.nftables import compile_nft, sync_nft
from sim.nftables import Transaction
from sim.scenario.spec import load_scenario
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy import nft_fake
from tests.kubeproxy.kernel import Namespace
from tests.kubeproxy.nft_fixtures import changed_services, nft_state, overall_state
from tests.kubeproxy.strategies import NODE, clusters
from tests.kubeproxy.test_goldens import SCENARIOS, shipped_scenarios

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(shutil.which("nft") is None,
                                 reason="kernel nft tests need nft (apt-get install nftables)")]

CAPTURE = Path(__file__).resolve().parent.parent / "fixtures" / "kernel" / "nft_capture.json"
REGEN = os.environ.get("KUBE_NETSIM_REGEN") == "1"


@pytest.fixture(scope="module")
def pair():
    a, b = Namespace(), Namespace()
    try:
        yield a, b
    finally:
        a.delete()
        b.delete()


def nft_load(ns: Namespace, text: str) -> None:
    r = ns.run(["nft", "-f", "-"], text)
    if r.returncode != 0:
        raise AssertionError(f"nft -f refused the transaction: {r.stderr}\n{text[:4000]}")


def nft_list(ns: Namespace) -> str:
    r = ns.run(["nft", "list", "ruleset"])
    assert r.returncode == 0, r.stderr
    return r.stdout


def run_and_predict(pair, txs: list[Transaction]) -> tuple[str, str]:
    """(kernel listing after ``txs``, kernel listing of our predicted table)."""
    got_ns, want_ns = pair
    for ns in pair:
        r = ns.run(["nft", "flush", "ruleset"])
        assert r.returncode == 0, r.stderr
    table = nft_fake.FakeTable()
    for tx in txs:
        if tx.commands:
            nft_load(got_ns, tx.render())
        nft_fake.apply(tx, table)
    nft_load(want_ns, nft_fake.dump(table))
    return nft_list(got_ns), nft_list(want_ns)


def test_upstream_fixture_in_kernel(pair):
    """The TestOverallNFTablesRules cluster loads, and the kernel's table is the predicted one."""
    got, want = run_and_predict(pair, [compile_nft(overall_state(), fx.TEST_NODE)])
    assert got == want
    assert "numgen random mod 2 vmap" in got


def _scenarios():
    return [p for p in shipped_scenarios() if p.relative_to(SCENARIOS).parts[0] in ("world", "seed")]


@pytest.mark.parametrize("scenario", _scenarios(), ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_shipped_scenarios_in_kernel(pair, scenario):
    """Every node of every world and seed scenario under ``--mode nftables``: the kernel
    accepts the transaction and holds exactly the predicted table."""
    state = with_mode(load_scenario(scenario), "nftables").state()
    for node in state.nodes:
        got, want = run_and_predict(pair, [compile_nft(state, node.name)])
        assert got == want, node.name


def _syncs_in_kernel(pair, first, second):
    second = dataclasses.replace(second, kube_proxy=first.kube_proxy)
    one = sync_nft(first, NODE, now_s=0.0)
    two = sync_nft(second, NODE, previous=one.state, changed_services=changed_services(first, second), now_s=1.0)
    three = sync_nft(second, NODE, previous=two.state, changed_services=frozenset(), now_s=3.0)
    got, want = run_and_predict(pair, [one.transaction, two.cleanup, two.transaction,
                                       three.cleanup, three.transaction])
    assert got == want


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(clusters(), clusters())
def test_generated_syncs_in_kernel(pair, first, second):
    """Generated clusters, and a partial sync to a second cluster followed by the stale-chain
    cleanup, load in the kernel and leave the predicted table after every step."""
    _syncs_in_kernel(pair, first, second)


@pytest.mark.slow
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(clusters(max_services=10), clusters(max_services=10))
def test_generated_syncs_in_kernel_long(pair, first, second):
    """The same with 200 pairs of clusters of up to 10 services (``make test-slow``)."""
    _syncs_in_kernel(pair, first, second)


def test_ipv6_table_in_kernel(pair):
    """The IPv6 proxier's table (``ip6 kube-proxy``, ``ip6 daddr``, bracketed DNAT targets)
    loads and holds the predicted table."""
    from sim.model import Endpoint, EndpointPort, EndpointSlice, Node, NodeAddress, ServicePort
    from sim.model import ClusterConfig, ClusterState, Service, ServiceType, SessionAffinity

    svc = Service(namespace="ns1", name="svc1", cluster_ip="fd00:10:96::41",
                  cluster_ips=("fd00:10:96::41",), type=ServiceType.NODE_PORT,
                  ports=(ServicePort(port=80, name="p80", node_port=3001, target_port=80),),
                  session_affinity=SessionAffinity.CLIENT_IP, affinity_timeout_s=60)
    sl = EndpointSlice(namespace="ns1", name="svc1-1", service_name="svc1", address_type="IPv6",
                       endpoints=(Endpoint(addresses=("fd00:10:180::1",)),
                                  Endpoint(addresses=("fd00:10:180::2:1",), node_name=fx.TEST_NODE)),
                       ports=(EndpointPort(port=80, name="p80"),))
    node = Node(name=fx.TEST_NODE, addresses=(NodeAddress("InternalIP", "2001:db8::1"),))
    state = ClusterState(config=ClusterConfig(service_cidrs=("fd00:10:96::/112",)),
                         kube_proxy=nft_state(fx.state([], [])).kube_proxy.__class__(
                             mode="nftables", cluster_cidr="fd00:10::/64"),
                         nodes=(node,), services=(svc,), endpoint_slices=(sl,))
    tx = compile_nft(state, fx.TEST_NODE, ip_family="IPv6")
    assert tx.commands[0].startswith("add table ip6 kube-proxy")
    got, want = run_and_predict(pair, [tx])
    assert got == want
    assert "dnat to [fd00:10:180::1]:80" in got


def test_capture_for_replay(pair):
    """Record (or check) the capture the replay test reads: for the upstream fixture and the
    affinity and load-balancer world scenarios, our transaction and the kernel's listing."""
    cases = {"upstream-overall": compile_nft(overall_state(), fx.TEST_NODE)}
    for rel in ("world/affinity.yaml", "world/externalips-loadbalancer.yaml"):
        state = with_mode(load_scenario(SCENARIOS / rel), "nftables").state()
        cases[rel] = compile_nft(state, state.nodes[0].name)
    capture = {}
    for name, tx in cases.items():
        got, want = run_and_predict(pair, [tx])
        assert got == want, name
        capture[name] = {"transaction": tx.render(), "nft_list_ruleset": got}
    text = json.dumps(capture, indent=1, sort_keys=True) + "\n"
    if REGEN or not CAPTURE.exists():
        CAPTURE.write_text(text)
    assert json.loads(CAPTURE.read_text()) == capture
