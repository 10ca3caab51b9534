"""Topology, routing and hop-by-hop delivery (nodes without rules: routing only)."""

from __future__ import annotations

import pytest

from sim.world.engine import netfilter_datapaths
from sim.world.network import EPHEMERAL_PORTS
from sim.world.params import ExternalHost, NetworkParams, Route
from sim.world.rng import component_rng
from sim.world.workload import AddressTarget, Client, FlowSpec, ServiceTarget
from sim.world.world import World

from worldkit import pod_manifest, recording_datapath, small_cluster


def _run(api, flows, params=None, until=3.0, before=None):
    world = World(api, params or NetworkParams(), 1, recording_datapath)
    world.start()
    if before:
        before(world)
    for f in flows:
        Client(world, f, component_rng(1, f.name)).start(world.env)
    world.run(until)
    return world


def _flow(name, target, kind="pod", client="default/client", **kw):
    kw.setdefault("count", 1)
    return FlowSpec(name, kind, client, target, **kw)


def test_pod_to_pod_on_another_node_takes_three_hops_each_way(small_api):
    """pod -> its node -> the pod's node -> pod, and the same back: 4 packets x 3 hops."""
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80))])
    (c,) = world.recorder.connections
    assert (c.outcome, c.server, c.source_seen) == ("ok", "default/web-a", "10.244.1.10")
    assert world.net.hops == 12


def test_time_to_first_byte_is_two_round_trips_of_link_latency(small_api):
    """SYN/SYN-ACK then request/response: 2 RTTs over veth + fabric + veth (defaults)."""
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80))])
    p = NetworkParams()
    one_way_small = 2 * p.pod_link.transit_s(60) + 2 * p.node_link.transit_s(60)
    one_way_big = 2 * p.pod_link.transit_s(200) + 2 * p.node_link.transit_s(200)
    (c,) = world.recorder.connections
    assert c.elapsed_s == pytest.approx(2 * one_way_small + 2 * one_way_big)


def test_closed_port_is_refused_with_rst(small_api):
    """A SYN to a port nothing listens on gets RST: the connection is refused."""
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 81))])
    assert world.recorder.connections[0].outcome == "refused"


def test_cluster_ip_without_rules_is_never_routed_off_the_node(small_api):
    """Without kube-proxy rules a cluster IP has no route: the SYN is lost, the client times out."""
    api = small_api()
    vip = api.snapshot().service("default", "web").cluster_ip
    world = _run(api, [_flow("f", AddressTarget(vip, 80), connect_timeout_s=0.5)])
    assert world.recorder.connections[0].outcome == "timeout"
    assert world.net.drops == {"no-route": 1}


def test_pod_reaching_itself_is_delivered_inside_its_namespace(small_api):
    """A pod's own address is local to its namespace: no hop to the node."""
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80), client="default/web-a")])
    assert world.recorder.connections[0].outcome == "ok"
    assert world.net.hops == 0


def test_outside_host_cannot_reach_pod_cidrs(small_api):
    """Pod CIDRs are not routable from outside the cluster."""
    params = NetworkParams(external_hosts=(ExternalHost("ext", "203.0.113.9"),))
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80), kind="external",
                                     client="ext", connect_timeout_s=0.5)], params)
    assert world.recorder.connections[0].outcome == "timeout"


def test_outside_routes_send_an_address_to_the_named_node(small_api):
    """``spec.network.routes`` delivers outside traffic for a CIDR to a node (here its host
    answers RST because nothing listens on the node itself)."""
    params = NetworkParams(external_hosts=(ExternalHost("ext", "203.0.113.9"),),
                           routes=(Route("198.51.100.0/24", "n2"),))
    world = World(small_api(), params, 1, recording_datapath)
    assert world.net.route_from_outside("198.51.100.7") is world.net.nodes["n2"]
    assert world.net.route_from_outside("198.51.101.7") is None


def test_node_down_drops_everything_through_it(small_api):
    """A stopped node forwards nothing: traffic to its pods times out."""
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80), connect_timeout_s=0.5)],
                 before=lambda w: w.node_down("n2"))
    assert world.recorder.connections[0].outcome == "timeout"
    assert world.net.drops == {"node-down": 1}


def test_deleted_pod_address_is_lost_on_its_node(small_api):
    """After a pod is gone its node has no route to its address: the SYN is dropped there."""
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80), connect_timeout_s=0.5,
                                     start_s=0.5)],
                 before=lambda w: w.change("delete web-a", lambda api: api.delete_pod("default", "web-a")))
    assert world.recorder.connections[0].outcome == "timeout"
    assert world.net.drops == {"no-route": 1}


def test_crashed_pod_refuses_until_restarted(small_api):
    """A crashed process closes its ports (RST); after the restart it answers again."""
    def crash(w):
        w.crash_pod("default/web-a")
        t = w.env.timeout(1.0)
        t.callbacks.append(lambda _e: w.restart_pod("default/web-a"))
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80), count=2, rate_per_s=0.5)],
                 before=crash)
    assert [c.outcome for c in world.recorder.connections] == ["refused", "ok"]


def test_poisson_arrivals_come_from_the_clients_stream(small_api):
    """Poisson gaps differ from constant ones and repeat exactly with the same seed."""
    flow = _flow("f", AddressTarget("10.244.2.20", 80), count=5, arrival="poisson", rate_per_s=10)
    starts = [[c.start_s for c in _run(small_api(), [flow]).recorder.connections] for _ in range(2)]
    assert starts[0] == starts[1]
    gaps = {round(b - a, 9) for a, b in zip(starts[0], starts[0][1:])}
    assert len(gaps) > 1


def test_ephemeral_ports_are_not_reused_while_bound(small_api):
    """Concurrent connections from one host get distinct source ports."""
    world = World(small_api(), NetworkParams(), 1, recording_datapath)
    host = world.pod_hosts["default/client"]
    ports = {host.bind_ephemeral("tcp", lambda *a: None)[1] for _ in range(100)}
    assert len(ports) == 100


def test_pod_recreated_with_a_new_address_moves_its_namespace(small_api):
    """Re-applying a pod with another podIP tears down the old address and serves the new."""
    world = World(small_api(), NetworkParams(), 1, recording_datapath)
    world.change("move", lambda api: api.apply(pod_manifest("web-a", 2, 99, {"app": "web"})))
    assert world.pod_hosts["default/web-a"].ip == "10.244.2.99"
    assert world.net.route_from_node(world.net.nodes["n2"], "10.244.2.20") is None


def test_a_nodes_cached_routes_follow_a_pod_moving_address(small_api):
    """Routing decisions a node cached before a pod moved (a route to the old address, none
    to the new) are forgotten: afterwards the old address has no route, the new one does."""
    world = World(small_api(), NetworkParams(), 1, recording_datapath)
    node = world.net.nodes["n2"]
    old_host = world.net.route_from_node(node, "10.244.2.20")
    assert old_host is world.pod_hosts["default/web-a"]
    assert world.net.route_from_node(node, "10.244.2.99") is None
    world.change("move", lambda api: api.apply(pod_manifest("web-a", 2, 99, {"app": "web"})))
    assert world.net.route_from_node(node, "10.244.2.20") is None
    assert world.net.route_from_node(node, "10.244.2.99") is world.pod_hosts["default/web-a"]


def test_connect_without_a_free_ephemeral_port_fails_with_eaddrnotavail(small_api):
    """When every ephemeral port of the client's address is held, connect() fails at once:
    the connection is recorded as an ``error`` with ``EADDRNOTAVAIL``, the run carries on, and
    once a port is free again the next connection is answered."""
    lo, hi = EPHEMERAL_PORTS

    def fill(w):
        host = w.pod_hosts["default/client"]
        for _ in range(hi - lo + 1):
            host.bind_ephemeral("tcp", lambda *a: None)
        t = w.env.timeout(0.5)
        t.callbacks.append(lambda _e: host.unbind("tcp", host.ip, lo))
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80), count=2, rate_per_s=1)],
                 before=fill)
    first, second = world.recorder.connections
    assert (first.outcome, first.error, first.elapsed_s) == ("error", "EADDRNOTAVAIL", 0.0)
    assert (second.outcome, second.error) == ("ok", "")


def test_tcp_to_a_closed_port_is_refused_by_rst(small_api):
    """A SYN to a port nothing listens on gets RST back: refused after one round trip."""
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 81))])
    (c,) = world.recorder.connections
    assert c.outcome == "refused"
    assert 0 < c.elapsed_s < 0.001


def test_udp_to_a_closed_port_is_refused_by_icmp_port_unreachable(small_api):
    """A datagram to a closed UDP port (the pod listens on TCP 80 only) is answered with ICMP
    port unreachable, which the connected UDP socket sees as ECONNREFUSED: refused, not a
    timeout, and nothing is dropped."""
    world = _run(small_api(), [_flow("f", AddressTarget("10.244.2.20", 80), proto="udp")])
    (c,) = world.recorder.connections
    assert c.outcome == "refused"
    assert 0 < c.elapsed_s < 0.001
    assert world.net.drops == {}


def test_udp_port_unreachable_comes_back_through_a_services_nat(small_api):
    """Through a UDP Service (DNAT on the client's node, pod on another node) the ICMP error
    is RELATED to the flow's conntrack entries and un-NATed by them, outer source and quoted
    header alike, and reaches the client's socket: refused."""
    api = small_api(extra=[{"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": "dns-ish", "namespace": "default"},
                            "spec": {"selector": {"app": "web"},
                                     "ports": [{"port": 53, "targetPort": 80, "protocol": "UDP"}]}}])
    world = World(api, NetworkParams(), 1, netfilter_datapaths())
    world.start()
    errors = []
    deliver = world.net.deliver

    def spy(host, packet, data):
        if packet.inner is not None and host.name == "default/client":
            errors.append((packet.proto, packet.icmp_type, packet.src, packet.inner[3:]))
        deliver(host, packet, data)
    world.net.deliver = spy
    target = ServiceTarget("default", "dns-ish", 53)
    Client(world, _flow("f", target, proto="udp", count=4), component_rng(1, "f")).start(world.env)
    world.run(3.0)
    assert [c.outcome for c in world.recorder.connections] == ["refused"] * 4
    cluster_ip = world.state.service("default", "dns-ish").cluster_ip
    assert errors == [("icmp", 3, cluster_ip, (cluster_ip, 53))] * 4


def test_a_flood_past_port_exhaustion_records_errors_and_carries_on(small_api):
    """28,232 connections held open (to an address nobody answers) take every ephemeral port:
    the rest of the burst fails with EADDRNOTAVAIL at once, and connections after the first
    ones time out (ports freed) succeed again."""
    lo, hi = EPHEMERAL_PORTS
    flood = _flow("flood", AddressTarget("10.244.2.99", 80), count=hi - lo + 1 + 50,
                  rate_per_s=1e6)
    later = _flow("later", AddressTarget("10.244.2.20", 80), start_s=1.5)
    world = _run(small_api(), [flood, later])
    outcomes = {}
    for c in world.recorder.connections:
        outcomes[(c.flow, c.outcome, c.error)] = outcomes.get((c.flow, c.outcome, c.error), 0) + 1
    assert outcomes == {("flood", "timeout", ""): hi - lo + 1,
                        ("flood", "error", "EADDRNOTAVAIL"): 50, ("later", "ok", ""): 1}


def test_a_reused_pod_address_reaches_the_new_pod():
    """web-a is deleted and web-c gets its address on the same node: connections to that
    address after the change reach web-c (the nodes' forwarding caches are dropped on every
    topology change, not kept pointing at the deleted pod's host)."""
    world = World(small_cluster(), NetworkParams(), 1, None)
    world.start()
    spec = FlowSpec("f", "pod", "default/client", AddressTarget("10.244.2.20", 80),
                    rate_per_s=10.0, connect_timeout_s=0.5)
    Client(world, spec, component_rng(1, "f")).start(world.env)
    world.run(1.0)
    world.change("delete web-a", lambda api: api.delete_pod("default", "web-a"))
    world.change("web-c", lambda api: api.apply(pod_manifest("web-c", 2, 20, {"app": "web"})))
    world.run(3.0)
    early = {(r.outcome, r.server) for r in world.recorder.connections if r.start_s < 0.95}
    late = {(r.outcome, r.server) for r in world.recorder.connections if r.start_s > 1.5}
    assert early == {("ok", "default/web-a")}
    assert late == {("ok", "default/web-c")}
