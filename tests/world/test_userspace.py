"""The 1.0 userspace proxy in the world: load balancer, dial retries, UDP mappings, resets."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.kubeproxy.userspace import ProxyService
from sim.world.engine import netfilter_datapaths
from sim.world.params import NetworkParams
from sim.world.rng import component_rng
from sim.world.params import UserspaceParams
from sim.world.userspace import LoadBalancerRR
from sim.world.workload import Client, FlowSpec, ServiceTarget
from sim.world.world import World

from worldkit import pod_manifest, small_cluster

KEY = ("default/web:", "tcp")
EPS = ("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")


def _svc(affinity: str = "None", max_age: float = 10800.0) -> ProxyService:
    return ProxyService("default/web:", "default", "web", "", "tcp", "10.96.0.10", 80,
                        (("10.96.0.10", 80),), 0, affinity, max_age)


def _lb(affinity: str = "None", max_age: float = 10800.0, eps=EPS, seed: int = 1) -> LoadBalancerRR:
    lb = LoadBalancerRR(component_rng(seed, "lb"))
    lb.on_update({KEY: _svc(affinity, max_age)}, {KEY: tuple(sorted(eps))})
    return lb


# ---------------------------------------------------------------------------- round robin
def test_round_robin_walks_the_shuffled_list_in_order():
    """Successive new connections take the shuffled list's entries in order, cycling."""
    lb = _lb()
    cycle = list(lb.endpoints[KEY])
    assert sorted(cycle) == sorted(EPS)
    picks = [lb.next_endpoint(KEY, f"10.1.0.{i}", 0.0) for i in range(7)]
    assert picks == cycle + cycle + cycle[:1]


def test_shuffle_comes_from_the_node_stream():
    """Different streams give different orders for the same endpoints (the list is shuffled,
    not sorted)."""
    orders = {tuple(_lb(eps=tuple(f"10.0.0.{i}:80" for i in range(8)), seed=s).endpoints[KEY])
              for s in range(6)}
    assert len(orders) > 1


def test_same_endpoints_keep_the_cursor():
    """An update with the same endpoint set changes nothing: the cycle continues."""
    lb = _lb()
    first = lb.next_endpoint(KEY, "c", 0.0)
    lb.on_update({KEY: _svc()}, {KEY: tuple(sorted(EPS))})
    assert lb.index[KEY] == 1
    assert lb.next_endpoint(KEY, "c", 0.0) != first


def test_changed_endpoints_reshuffle_and_reset_the_cursor():
    """A new endpoint set is shuffled again and the cursor starts at 0."""
    lb = _lb()
    lb.next_endpoint(KEY, "c", 0.0)
    new = EPS[:2] + ("10.0.0.9:80",)
    lb.on_update({KEY: _svc()}, {KEY: tuple(sorted(new))})
    assert lb.index[KEY] == 0 and sorted(lb.endpoints[KEY]) == sorted(new)


def test_no_endpoints_gives_none():
    """NextEndpoint fails (ErrMissingEndpoints) for a service without endpoints."""
    assert _lb(eps=()).next_endpoint(KEY, "c", 0.0) is None


# ---------------------------------------------------------------------------- affinity
def test_affinity_pins_a_client_to_its_first_endpoint():
    """ClientIP: the same source address keeps its endpoint; another client takes the cycle."""
    lb = _lb("ClientIP")
    a = lb.next_endpoint(KEY, "10.1.0.1", 0.0)
    assert all(lb.next_endpoint(KEY, "10.1.0.1", t) == a for t in (1.0, 2.0, 3.0))
    assert lb.next_endpoint(KEY, "10.1.0.2", 4.0) == lb.endpoints[KEY][1]


def test_affinity_expires_after_max_age_since_last_use():
    """An entry used ``stickyMaxAge`` ago or more is forgotten; each use refreshes it."""
    lb = _lb("ClientIP", max_age=10.0)
    a = lb.next_endpoint(KEY, "10.1.0.1", 0.0)
    assert lb.next_endpoint(KEY, "10.1.0.1", 9.9) == a  # refreshed at 9.9
    assert lb.next_endpoint(KEY, "10.1.0.1", 19.8) == a
    assert lb.next_endpoint(KEY, "10.1.0.1", 29.8) != a  # 10 s idle: the cycle's next


def test_affinity_entries_of_removed_endpoints_are_purged():
    """When the pinned endpoint leaves, the client's entry goes with it."""
    lb = _lb("ClientIP")
    a = lb.next_endpoint(KEY, "10.1.0.1", 0.0)
    rest = tuple(sorted(e for e in EPS if e != a))
    lb.on_update({KEY: _svc("ClientIP")}, {KEY: rest})
    assert lb.pinned(KEY, "10.1.0.1", 1.0) is None
    assert lb.next_endpoint(KEY, "10.1.0.1", 1.0) in rest


# ---------------------------------------------------------------------------- world
def _world(extra=(), svc_spec=None, params: UserspaceParams | None = None, **cfg):
    api = small_cluster(extra=extra)
    api.kube_proxy = dataclasses.replace(api.kube_proxy, mode="userspace", **cfg)
    if svc_spec is not None:
        api.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "web", "namespace": "default"}, "spec": svc_spec})
    world = World(api, NetworkParams(userspace=params or UserspaceParams()), 1,
                  netfilter_datapaths())
    world.start()
    return world


def _flow(world, name="f", proto="tcp", count=1, rate=10.0, timeout=1.0, client="default/client",
          kind="pod", start=0.0):
    spec = FlowSpec(name, kind, client, ServiceTarget("default", "web", 80), proto=proto,
                    count=count, rate_per_s=rate, connect_timeout_s=timeout, start_s=start)
    Client(world, spec, component_rng(1, name)).start(world.env)


def _conns(world, flow="f"):
    return [c for c in world.recorder.connections if c.flow == flow]


def test_kube_proxy_config_runs_upstream_sync_cadence():
    """1.0 had no rate limit and re-ensured the rules every 5 s."""
    world = _world()
    kp = world.kube_proxies["n1"]
    assert (kp.config.min_sync_period_s, kp.config.sync_period_s) == (0.0, 5.0)


def test_backend_sees_the_node_address():
    """The proxy dials from the client's node: a remote backend sees its InternalIP."""
    world = _world()
    _flow(world, count=4)
    world.run(2.0)
    conns = _conns(world)
    assert [c.outcome for c in conns] == ["ok"] * 4
    assert {c.source_seen for c in conns} == {"192.168.0.1"}


def test_backend_on_the_same_node_sees_the_bridge_address():
    """For a backend on the proxy's own node the route's source is the pod bridge (cni0)."""
    world = _world(extra=[pod_manifest("web-c", 1, 40, {"app": "web"})])
    _flow(world, count=6)
    world.run(2.0)
    seen = {c.server: c.source_seen for c in _conns(world)}
    assert seen["default/web-c"] == "10.244.1.1"
    assert seen["default/web-a"] == "192.168.0.1"


def test_connections_follow_the_cycle():
    """Consecutive connections from one client alternate over the two pods."""
    world = _world()
    _flow(world, count=6)
    world.run(2.0)
    servers = [c.server for c in _conns(world)]
    assert servers[:2] == servers[2:4] == servers[4:6] and len(set(servers[:2])) == 2


def test_no_endpoints_accepts_then_resets_at_once():
    """Without endpoints the handshake completes and the proxy closes at once: ``reset``,
    in about a round trip plus the set-up cost, not a refusal or a timeout."""
    world = _world(svc_spec={"selector": {"app": "none"}, "ports": [{"port": 80}]})
    _flow(world, count=3)
    world.run(2.0)
    conns = _conns(world)
    assert [c.outcome for c in conns] == ["reset"] * 3
    assert max(c.elapsed_s for c in conns) < 0.001


def test_udp_to_service_without_endpoints_is_dropped_silently():
    """A datagram to a service with no endpoints gets no answer and no ICMP: a timeout."""
    world = _world(svc_spec={"selector": {"app": "none"},
                             "ports": [{"port": 80, "protocol": "UDP"}]})
    _flow(world, proto="udp", count=2)
    world.run(3.0)
    assert [c.outcome for c in _conns(world)] == ["timeout"] * 2
    assert world.net.drops.get("userspace-no-endpoints") == 2


def test_dial_retries_with_next_endpoint_after_the_first_timeout():
    """web-a's node is down but listed: the dial times out after 1 s and the next endpoint
    answers. With two endpoints each connection takes two picks, so every connection meets
    web-a first and is late by exactly the first dial timeout."""
    world = _world()
    world.node_down("n2")  # web-a's node; nothing marks it NotReady within the test
    _flow(world, count=2, rate=0.1, timeout=20.0)
    world.run(30.0)
    conns = _conns(world)
    assert [c.outcome for c in conns] == ["ok", "ok"]
    assert {c.server for c in conns} == {"default/web-b"}
    assert all(1.0 <= c.elapsed_s < 1.01 for c in conns)
    assert world.rules.proxiers["n1"].stats["dial_retries"] == 2


def test_four_failed_dials_take_1_2_4_8_seconds_then_reset():
    """Both backends dead but listed: four dials (1+2+4+8 s), then the client is reset."""
    world = _world()
    world.node_down("n2")
    world.node_down("n3")
    _flow(world, count=1, timeout=30.0)
    world.run(40.0)
    (conn,) = _conns(world)
    assert conn.outcome == "reset"
    assert 15.0 <= conn.elapsed_s < 15.01


def test_refused_dial_retries_at_once():
    """A backend whose process died answers the dial with RST: the retry is immediate."""
    world = _world()
    world.crash_pod("default/web-a")
    _flow(world, count=2, timeout=5.0)
    world.run(3.0)
    conns = _conns(world)
    assert [c.outcome for c in conns] == ["ok", "ok"]
    assert {c.server for c in conns} == {"default/web-b"}
    assert max(c.elapsed_s for c in conns) < 0.01


def test_accept_loop_waits_for_a_dial():
    """1.0 dialled inside the accept loop: a connection behind a dial to a dead endpoint
    waits for it, although its own endpoint is alive."""
    world = _world()
    world.node_down("n2")
    # Two connections 10 ms apart: one of them dials the dead web-a first.
    _flow(world, count=2, rate=100.0, timeout=5.0)
    world.run(5.0)
    conns = _conns(world)
    assert all(c.outcome == "ok" for c in conns)
    assert min(c.elapsed_s for c in conns) >= 0.99


UDP_PODS = [pod_manifest("dns-a", 2, 25, {"app": "dns"}, ports=()),
            pod_manifest("dns-b", 3, 35, {"app": "dns"}, ports=())]
UDP_SVC = {"selector": {"app": "dns"}, "ports": [{"port": 80, "protocol": "UDP"}]}


def test_udp_mapping_expires_after_idle_timeout():
    """A client's UDP mapping lives udpIdleTimeout after its last packet: a datagram within
    it goes to the same backend, one after it takes the cycle's next."""
    world = _world(UDP_PODS, UDP_SVC, udp_idle_timeout_s=2.0)
    # One client socket cannot be reused across connections here (each datagram is a new
    # source port), so observe the proxy's client table directly.
    _flow(world, proto="udp", count=1)
    world.run(0.5)
    (sock,) = world.rules.proxiers["n1"].sockets.values()
    assert len(sock.clients) == 1
    world.run(1.9)
    assert len(sock.clients) == 1  # the last packet (the reply) came at ~0.4 ms
    world.run(2.1)
    assert not sock.clients
    assert world.rules.proxiers["n1"].stats["udp_idle_expired"] == 1


def test_udp_default_idle_timeout_is_ten_seconds():
    """Without ``udpIdleTimeout`` the mapping lasts 1.0's 10 s."""
    world = _world(UDP_PODS, UDP_SVC)
    _flow(world, proto="udp", count=1)
    world.run(9.9)
    (sock,) = world.rules.proxiers["n1"].sockets.values()
    assert len(sock.clients) == 1
    world.run(10.1)
    assert not sock.clients


def test_udp_answers_come_back_from_the_service_address():
    """The proxy's reply is un-NATed by the REDIRECT's conntrack entry: the client's
    connected socket accepts it (outcome ok), and the backend saw the node."""
    world = _world(UDP_PODS, UDP_SVC)
    _flow(world, proto="udp", count=3)
    world.run(2.0)
    conns = _conns(world)
    assert [c.outcome for c in conns] == ["ok"] * 3
    assert {c.source_seen for c in conns} == {"192.168.0.1"}


def test_network_section_sets_the_proxy_costs():
    """``spec.network.userspaceProxy`` gives the costs; unset keys keep the defaults."""
    from sim.scenario.sections import parse_network

    params = parse_network({"userspaceProxy": {"setupSeconds": 0.001}}).userspace
    assert params.setup_s == 0.001 and params.per_packet_s == UserspaceParams().per_packet_s


def test_proxy_costs_add_to_the_time_to_answer():
    """The set-up cost and two per-packet costs (request and answer) add up in the latency."""
    base = _world(params=UserspaceParams(setup_s=0.0, per_packet_s=0.0))
    slow = _world(params=UserspaceParams(setup_s=0.010, per_packet_s=0.005))
    for w in (base, slow):
        _flow(w, count=1)
        w.run(1.0)
    (a,), (b,) = _conns(base), _conns(slow)
    assert b.elapsed_s - a.elapsed_s == pytest.approx(0.020, abs=1e-9)


def test_endpoint_change_runs_no_iptables_command_and_programs_at_once():
    """Scaling changes the load balancer only: the sync runs no command (0 s)."""
    world = _world()
    world.change("new pod", lambda api: api.apply(pod_manifest("web-c", 2, 21, {"app": "web"})))
    world.run(1.0)
    syncs = [s for s in world.recorder.syncs if s.node == "n1"]
    assert syncs and syncs[-1].written == 0 and syncs[-1].duration_s == 0.0
    assert max(p.latency_s for p in world.recorder.programming) == pytest.approx(0.07)


def test_new_service_adds_its_rules_one_command_each():
    """A new ClusterIP service: -C and -A for each of its two portal rules, 4 commands."""
    world = _world()
    world.change("svc", lambda api: api.apply({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "two", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 81}]}}))
    world.run(1.0)
    sync = [s for s in world.recorder.syncs if s.node == "n1"][-1]
    assert sync.written == 4
    assert sync.duration_s == pytest.approx(4 * UserspaceParams().iptables_call_s)


def test_periodic_resync_every_five_seconds_checks_every_rule():
    """SyncLoop: every 5 s, iptablesInit (8 commands) and a -C per portal rule (2 here)."""
    world = _world()
    world.run(11.0)
    syncs = [s for s in world.recorder.syncs if s.node == "n1"]
    assert len(syncs) == 2 and all(s.written == 10 for s in syncs)
    assert syncs[1].start_s - syncs[0].start_s == pytest.approx(5.0 + syncs[0].duration_s)


def test_stopped_kube_proxy_closes_its_sockets():
    """kube-proxy exits without flushing: the rules still REDIRECT, nobody listens: RST at
    the SYN (refused)."""
    world = _world()
    world.kube_proxy_stop("n1", flush=False)
    _flow(world, count=1)
    world.run(1.0)
    assert [c.outcome for c in _conns(world)] == ["refused"]


def test_same_seed_same_ports_and_choices():
    """Two worlds of one seed allocate the same ports and route the same way."""
    runs = []
    for _ in range(2):
        world = _world()
        _flow(world, count=5)
        world.run(2.0)
        ports = {n: dict(p.sockets) and {k: s.port for k, s in p.sockets.items()}
                 for n, p in world.rules.proxiers.items()}
        runs.append((ports, [c.server for c in _conns(world)]))
    assert runs[0] == runs[1]


def test_udp_datagrams_of_one_client_share_a_mapping():
    """A second datagram from the same client address and port reuses its backend socket."""
    from sim.model.packet import make_packet

    world = _world(UDP_PODS, UDP_SVC)
    (sock,) = world.rules.proxiers["n1"].sockets.values()
    node = world.net.nodes["n1"]
    pkt = make_packet("udp", "10.244.1.10", node.ip, 5000, sock.port, "", 0, 200, "", "", None)
    sock.handler(node, pkt, 1)
    (first,) = sock.clients.values()
    world.run(0.5)
    sock.handler(node, pkt, 2)
    assert list(sock.clients.values()) == [first]
    assert world.rules.proxiers["n1"].lb.index[sock.key] == 1  # one pick for both datagrams


def test_udp_icmp_error_from_the_backend_drops_the_mapping():
    """A backend with no UDP socket answers ICMP port unreachable: proxyClient's read fails
    and the mapping goes (the client hears nothing: timeout)."""
    world = _world(svc_spec={"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "UDP"}]})
    _flow(world, proto="udp", count=1)
    world.run(0.5)
    (sock,) = world.rules.proxiers["n1"].sockets.values()
    assert not sock.clients
    world.run(2.0)
    assert [c.outcome for c in _conns(world)] == ["timeout"]



@given(n_eps=st.integers(1, 12), n_conns=st.integers(0, 60), seed=st.integers(0, 2**32 - 1))
def test_round_robin_counts_never_differ_by_more_than_one(n_eps, n_conns, seed):
    """Without affinity, after any number of connections the busiest endpoint has served at
    most one more than the idlest (a cycle never repeats an endpoint)."""
    eps = tuple(f"10.0.{i // 250}.{i % 250 + 1}:80" for i in range(n_eps))
    lb = _lb(eps=eps, seed=seed)
    counts = dict.fromkeys(eps, 0)
    for i in range(n_conns):
        counts[lb.next_endpoint(KEY, f"10.1.0.{i % 200}", float(i))] += 1
    assert max(counts.values()) - min(counts.values()) <= 1
