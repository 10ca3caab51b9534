"""kube-proxy's sync loop: watch delay, BoundedFrequencyRunner limits, programming latency,
shared compilation across nodes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sim.api.apiserver import ApiServer
from sim.kubeproxy.iptables import compile_rules
from sim.model.config import ClusterConfig, ConntrackConfig, KubeProxyConfig
from sim.world.engine import netfilter_datapaths
from sim.world.kubeproxy import node_view
from sim.world.params import NetworkParams
from sim.world.rng import component_rng
from sim.world.workload import Client, FlowSpec, ServiceTarget
from sim.world.world import World

from worldkit import node_manifest, pod_manifest, recording_datapath, service_manifest, small_cluster

DELAY = 0.07  # default endpointslice (0.02) + watch (0.05) delay


def _world(api):
    world = World(api, NetworkParams(), 1, recording_datapath)
    world.start()
    return world


def _at(world, t, fn):
    ev = world.env.timeout(t)
    ev.callbacks.append(lambda _e: fn())


def _toggle(world, ready):
    world.change("ready", lambda api: api.set_pod_ready("default", "web-b", ready))


def _starts(world, node="n1"):
    return [s.start_s for s in world.recorder.syncs if s.node == node]


def test_initial_state_is_programmed_at_time_zero_without_a_sync():
    """Steady state at t=0: every node holds the initial rules before any event; that is
    neither a sync nor a change."""
    world = _world(small_cluster())
    assert all(len(n.datapath.loaded) == 1 for n in world.net.nodes.values())
    world.run(1.0)
    assert world.recorder.syncs == []
    assert world.recorder.programming == []


def test_programming_latency_is_watch_delay_plus_restore_time():
    """A change at t=5 is in effect on each node after the delays and one modelled restore."""
    world = _world(small_cluster())
    _at(world, 5.0, lambda: _toggle(world, False))
    world.run(10.0)
    sync = [s for s in world.recorder.syncs if s.node == "n1"][-1]
    assert sync.start_s == pytest.approx(5.0 + DELAY)
    assert sync.duration_s == pytest.approx(world.restore_model.duration_s(sync.written))
    lat = {r.node: r.latency_s for r in world.recorder.programming}
    assert lat == pytest.approx({n: DELAY + sync.duration_s for n in ("n1", "n2", "n3")})


def test_two_syncs_burst_then_one_per_min_sync_period():
    """Token bucket of 2 refilled every minSyncPeriod (1 s): the third quick change waits."""
    world = _world(small_cluster(min_sync=1.0))
    for i, t in enumerate((5.0, 5.2, 5.4)):
        _at(world, t, lambda i=i: _toggle(world, i % 2 == 1))
    world.run(10.0)
    assert _starts(world) == pytest.approx([5.07, 5.27, 6.07])


def test_periodic_resync_every_sync_period_without_changes():
    """With nothing changing kube-proxy still syncs every syncPeriod after the last sync."""
    world = _world(small_cluster(sync_period=2.0))
    world.run(5.0)
    starts = _starts(world)
    d = world.recorder.syncs[0].duration_s
    assert starts == pytest.approx([2.0, 4.0 + d])


def test_changes_while_kube_proxy_is_down_count_the_downtime():
    """A change made while kube-proxy is stopped is programmed by the first sync after it starts."""
    world = _world(small_cluster())
    _at(world, 1.0, lambda: world.kube_proxy_stop("n1", flush=True))
    _at(world, 2.0, lambda: _toggle(world, False))
    _at(world, 4.0, lambda: world.kube_proxy_start("n1"))
    world.run(6.0)
    (lat,) = [r.latency_s for r in world.recorder.programming if r.node == "n1"]
    d = [s for s in world.recorder.syncs if s.node == "n1"][-1].duration_s
    assert lat == pytest.approx(2.0 + d)
    assert world.net.nodes["n1"].datapath.loaded[1] is None  # the flush


def test_changes_are_partial_syncs_writing_top_level_and_the_changed_service():
    """web-b not ready: the sync is partial; it writes every top-level rule, every chain of
    Service web (its KUBE-SVC chain and web-a's unchanged KUBE-SEP chain) and deletes
    web-b's KUBE-SEP chain; nothing else."""
    world = _world(small_cluster())
    _at(world, 5.0, lambda: _toggle(world, False))
    world.run(6.0)
    (sync,) = [s for s in world.recorder.syncs if s.node == "n1"]
    after = world.kube_proxies["n1"].loaded
    top = sum(len(v) for (t, c), v in after.chains.items() if not c.startswith(("KUBE-SVC-", "KUBE-SEP-")))
    service = sum(len(v) for (t, c), v in after.chains.items() if c.startswith(("KUBE-SVC-", "KUBE-SEP-")))
    assert not sync.full
    assert [len(g) for g in after.groups] == [2]  # KUBE-SVC + the remaining KUBE-SEP
    assert after.deletions == 1
    assert sync.written == top + service + 1


def test_unchanged_services_are_not_rewritten_by_a_partial_sync():
    """A Service whose endpoints did not change costs nothing in a partial sync."""
    world = _world(small_cluster(extra=[pod_manifest("solo", 2, 50, {"app": "solo"}),
                                        service_manifest("other", {"app": "solo"}, port=81)]))
    _at(world, 5.0, lambda: _toggle(world, False))
    world.run(6.0)
    (sync,) = [s for s in world.recorder.syncs if s.node == "n1"]
    after = world.kube_proxies["n1"].loaded
    top = sum(len(v) for (t, c), v in after.chains.items() if not c.startswith(("KUBE-SVC-", "KUBE-SEP-")))
    web = next(g for g in after.groups if any("10.244.2.20" in line for k in g for line in after.chains[k]))
    assert len(after.groups) == 2
    assert sync.written == top + sum(len(after.chains[k]) for k in web) + after.deletions
    assert sync.written < sync.rules


def test_first_sync_after_a_restart_is_full():
    """needFullSync after kube-proxy starts: the whole payload is written."""
    world = _world(small_cluster())
    _at(world, 1.0, lambda: world.kube_proxy_stop("n1", flush=True))
    _at(world, 2.0, lambda: world.kube_proxy_start("n1"))
    world.run(3.0)
    (sync,) = [s for s in world.recorder.syncs if s.node == "n1"]
    assert sync.full and sync.written == sync.rules


def test_a_full_sync_comes_back_after_full_sync_period():
    """Periodic syncs are partial until an hour has passed since the last full one."""
    world = _world(small_cluster(sync_period=600.0))
    world.run(4000.0)
    fulls = [s.start_s for s in world.recorder.syncs if s.node == "n1" and s.full]
    assert len(fulls) == 1 and 3600.0 < fulls[0] < 4000.0


def test_nodes_with_the_same_view_share_one_compilation():
    """Cluster-policy services only: one compile and one applied ruleset serve all nodes."""
    world = _world(small_cluster())
    world.run(0.5)
    assert world.rules.compiles == 1
    loaded = [n.datapath.loaded[0] for n in world.net.nodes.values()]
    assert loaded[0] is loaded[1] is loaded[2]


def test_local_policy_gives_nodes_with_local_endpoints_their_own_rules():
    """externalTrafficPolicy Local: n2 and n3 each hold a local endpoint, n1 none -> 3 views."""
    api = small_cluster(extra=[service_manifest("web-local", {"app": "web"}, type="NodePort",
                                                externalTrafficPolicy="Local")])
    world = _world(api)
    world.run(0.5)
    assert world.rules.compiles == 3


CONFIGS = {
    "cluster": (dict(), []),
    "etp-local": (dict(), [service_manifest("l", {"app": "web"}, type="NodePort",
                                            externalTrafficPolicy="Local")]),
    "itp-local": (dict(), [service_manifest("l", {"app": "web"}, internalTrafficPolicy="Local")]),
    "nodeport-addresses": (dict(node_port_addresses=("192.168.0.0/24",)),
                           [service_manifest("np", {"app": "web"}, type="NodePort")]),
    "node-cidr": (dict(detect_local_mode="NodeCIDR"), []),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_equal_node_views_mean_equal_payloads(name):
    """The sharing key is sound: nodes with equal views get byte-identical payloads, and
    nodes whose payloads differ have different views."""
    cfg_changes, extra = CONFIGS[name]
    api = small_cluster(extra=[pod_manifest("web-c", 2, 21, {"app": "web"})] + extra)
    state = api.snapshot()
    cfg = replace(state.kube_proxy, **cfg_changes)
    texts = {n.name: compile_rules(state, n.name, cfg).render() for n in state.nodes}
    views = {n.name: node_view(state, n.name, cfg) for n in state.nodes}
    for a in texts:
        for b in texts:
            if views[a] == views[b]:
                assert texts[a] == texts[b]
            if texts[a] != texts[b]:
                assert views[a] != views[b]


def _conntrack_world(cpus, **conntrack):
    api = ApiServer(ClusterConfig(), KubeProxyConfig(cluster_cidr="10.244.0.0/16",
                                                     conntrack=ConntrackConfig(**conntrack)), 1)
    for i in (1, 2):
        api.apply(node_manifest(i))
    api.apply(pod_manifest("client", 1, 10, ports=()))
    api.apply(pod_manifest("web-a", 2, 20, {"app": "web"}))
    api.apply(service_manifest("web", {"app": "web"}))
    world = World(api, NetworkParams(node_cpus=cpus), 1, netfilter_datapaths())
    world.start()
    return world


@pytest.mark.parametrize("cpus,conntrack,expected", [
    (4, {}, 131072),  # defaults: 32768 x 4 equals the minimum
    (16, {}, 524288),  # scaled by the CPU count
    (2, {"max_per_core": 1000, "min": 5000}, 5000),  # raised to the minimum
    (8, {"max_per_core": 0}, 262144),  # 0: kube-proxy leaves the kernel's value
])
def test_nf_conntrack_max_follows_kube_proxys_rule(cpus, conntrack, expected):
    """Every node's conntrack limit is max(maxPerCore x CPUs, min), or the kernel's when
    maxPerCore is 0."""
    world = _conntrack_world(cpus, **conntrack)
    assert {n.datapath.nf.conntrack.max_entries for n in world.net.nodes.values()} == {expected}


def test_a_full_conntrack_table_of_assured_flows_drops_new_connections():
    """With nf_conntrack_max 2 (maxPerCore 1 x 1 CPU, min 2), two answered connections fill
    the client node's table with ASSURED entries and the next SYNs are dropped: timeouts."""
    world = _conntrack_world(1, max_per_core=1, min=2)
    flow = FlowSpec("f", "pod", "default/client", ServiceTarget("default", "web", 80), count=4,
                    rate_per_s=2)
    Client(world, flow, component_rng(1, "f")).start(world.env)
    world.run(4.0)
    assert [c.outcome for c in world.recorder.connections] == ["ok", "ok", "timeout", "timeout"]
