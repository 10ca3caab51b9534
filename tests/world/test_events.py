"""Timed events on a world running the netfilter engine (small three-node cluster)."""

from __future__ import annotations

from collections import Counter

import pytest

from sim.model.errors import SimError
from sim.world.engine import netfilter_datapaths
from sim.world.events import EventSpec, schedule_events
from sim.world.params import NetworkParams
from sim.world.rng import component_rng
from sim.world.workload import Client, FlowSpec, ServiceTarget
from sim.world.world import World

from worldkit import pod_manifest, small_cluster

WEB = ServiceTarget("default", "web", 80)


def _run(events, until=6.0, api=None, **flow):
    world = World(api or small_cluster(), NetworkParams(), 3, netfilter_datapaths())
    world.start()
    schedule_events(world, tuple(events))
    spec = FlowSpec("f", flow.pop("kind", "pod"), flow.pop("client", "default/client"),
                    flow.pop("target", WEB), rate_per_s=flow.pop("rate", 20.0),
                    stop_s=until - 1.0, connect_timeout_s=0.3, **flow)
    Client(world, spec, component_rng(3, "f")).start(world.env)
    world.run(until)
    return world


def _between(world, t0, t1):
    return Counter((c.outcome, c.server) for c in world.recorder.connections if t0 <= c.start_s < t1)


def test_not_ready_pod_leaves_the_rotation_after_kube_proxy_syncs():
    """setPodReady false at 1 s: after the watch delay and a sync only web-b answers."""
    world = _run([EventSpec(1.0, "setPodReady", {"pod": "default/web-a", "ready": False})])
    before, after = _between(world, 0, 1), _between(world, 1.2, 5)
    assert {s for _, s in before} == {"default/web-a", "default/web-b"}
    assert set(after) == {("ok", "default/web-b")}


def test_restart_kube_proxy_with_flush_loses_cluster_ip_traffic_until_resync():
    """Rules flushed at 1 s, kube-proxy back at 2 s: new connections time out in between
    (the cluster IP is not DNATed, so it is never routed off the node), then work again."""
    world = _run([EventSpec(1.0, "restartKubeProxy", {"node": "n1", "downSeconds": 1.0})])
    assert {o for o, _ in _between(world, 1.0, 2.0)} == {"timeout"}
    assert {o for o, _ in _between(world, 2.1, 5.0)} == {"ok"}


def test_delete_service_rejects_then_nothing():
    """Deleting the Service: the cluster IP stops resolving for new connections."""
    world = _run([EventSpec(1.0, "delete", {"kind": "Service", "name": "default/web"})])
    assert {o for o, _ in _between(world, 1.0, 5.0)} == {"unresolved"}


def test_node_down_drops_the_pods_on_it_until_the_node_is_marked_not_ready():
    """n2 down at 1 s, NotReady 2 s later: meanwhile connections kube-proxy still sends to
    web-a (on n2) time out; after the mark and a sync they all go to web-b."""
    world = _run([EventSpec(1.0, "nodeDown", {"node": "n2", "notReadyAfterSeconds": 2.0})])
    during, after = _between(world, 1.0, 3.0), _between(world, 3.2, 5.0)
    assert set(during) == {("timeout", ""), ("ok", "default/web-b")}
    assert set(after) == {("ok", "default/web-b")}


def test_host_network_client_is_masqueraded_to_its_node_address():
    """A client on a node (host network) reaching a cluster IP: the pod sees the node."""
    world = _run([], kind="node", client="n1")
    seen = {c.source_seen for c in world.recorder.connections if c.outcome == "ok"}
    assert seen == {"192.168.0.1"}


def test_udp_through_a_cluster_ip():
    """UDP datagrams to a UDP Service port reach a pod and come back un-NATed."""
    udp_pod = pod_manifest("dns-a", 2, 40, {"app": "dns"})
    udp_pod["spec"]["containers"][0]["ports"] = [{"containerPort": 5353, "protocol": "UDP"}]
    api = small_cluster(extra=[udp_pod])
    api.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns", "namespace": "default"},
               "spec": {"selector": {"app": "dns"}, "ports": [{"port": 53, "protocol": "UDP",
                                                                 "targetPort": 5353}]}})
    world = _run([], api=api, target=ServiceTarget("default", "dns", 53), proto="udp")
    assert {c.outcome for c in world.recorder.connections} == {"ok"}


def test_flush_conntrack_event_empties_the_nodes_tables():
    """flushConntrack on every node leaves no entries behind."""
    world = _run([EventSpec(5.5, "flushConntrack", {"node": "*"})])
    assert all(n.datapath.nf.conntrack_entries(world.env.now) == [] for n in world.net.nodes.values())


def test_event_on_a_missing_pod_is_an_error_naming_the_event():
    """An event the apiserver refuses stops the run with a message naming the event."""
    with pytest.raises(SimError, match=r"spec.events\[0\] \(setPodReady at 1 s\): .*nope"):
        _run([EventSpec(1.0, "setPodReady", {"pod": "default/nope", "ready": False},
                        "spec.events[0]")])


def test_crashed_pod_refuses_until_it_leaves_the_rules_then_returns_after_restart():
    """crashPod at 1 s: web-a's closed port answers RST (refused) until the readiness probe
    marks it not ready (0.5 s) and kube-proxy syncs; it serves again after the restart (3 s)."""
    world = _run([EventSpec(1.0, "crashPod", {"pod": "default/web-a", "notReadyAfterSeconds": 0.5,
                                               "restartAfterSeconds": 3.0})], until=7.0)
    assert ("refused", "") in _between(world, 1.0, 1.5)
    assert set(_between(world, 1.7, 4.0)) == {("ok", "default/web-b")}
    assert ("ok", "default/web-a") in _between(world, 4.2, 6.0)
