"""Cluster DNS in the simulated world: queries as packets through kube-proxy, the informer
delay, client caches, retransmission, and the round-robin-DNS scenario."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sim.scenario.sections import parse_events, parse_network
from sim.scenario.spec import load_scenario
from sim.world.dns import DNSClient, DNSTarget, install_cluster_dns
from sim.world.engine import netfilter_datapath
from sim.world.events import schedule_events
from sim.world.rng import component_rng
from sim.world.workload import Client, FlowSpec, ServiceTarget
from sim.world.world import World

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "dns" / "round-robin-dns.yaml"
SEED = 7


def build(dns_spec=None, events=True):
    """The scenario's cluster on the netfilter engine, DNS installed, no flows yet."""
    sc = load_scenario(SCENARIO)
    world = World(sc.api(SEED), parse_network(sc.network), SEED, netfilter_datapath)
    world.start()
    dns = install_cluster_dns(world, sc.dns if dns_spec is None else dns_spec, SEED)
    if events:
        schedule_events(world, parse_events(sc.events))
    return world, dns


def flow(world, dns, name, target, rate=5.0, stop=60.0, count=None):
    spec = FlowSpec(name, "pod", "default/client", target, rate_per_s=rate, stop_s=stop,
                    count=count)
    rng = component_rng(SEED, f"client/{name}")
    client = DNSClient(world, dns, spec, rng) if isinstance(target, DNSTarget) \
        else Client(world, spec, rng)
    client.start(world.env)


def outcomes(world, name):
    return Counter(c.outcome for c in world.recorder.connections if c.flow == name)


def test_short_name_costs_two_queries_on_the_wire():
    """Resolving `web` from a pod sends A+AAAA for web.default.svc.cluster.local: the DNS
    pods receive exactly 2 queries per lookup, and every connection is answered."""
    world, dns = build(events=False)
    flow(world, dns, "f", DNSTarget("web", 80), count=10)
    world.run(until=5)
    assert sum(dns.stats.queries_by_server.values()) == 20
    assert [lk.queries for lk in dns.stats.lookups] == [2] * 10
    assert outcomes(world, "f") == Counter({"ok": 10})


def test_queries_spread_over_dns_pods_through_kube_proxy():
    """Queries reach the DNS pods through the Service's DNAT: both CoreDNS pods answer."""
    world, dns = build(events=False)
    flow(world, dns, "f", DNSTarget("web", 80), rate=20, count=200)
    world.run(until=15)
    assert set(dns.stats.queries_by_server) == {"kube-system/coredns-a", "kube-system/coredns-b"}
    assert min(dns.stats.queries_by_server.values()) > 100


def test_unknown_name_walks_the_search_list():
    """A name that exists nowhere costs 2 x (3 search domains + as is) = 8 queries and the
    connection is recorded as unresolved."""
    world, dns = build(events=False)
    flow(world, dns, "f", DNSTarget("nosuch", 80), count=1)
    world.run(until=5)
    lk = dns.stats.lookups[0]
    assert (lk.queries, lk.error) == (8, "HOST_NOT_FOUND")
    assert outcomes(world, "f") == Counter({"unresolved": 1})


def test_musl_client_same_cost_for_short_name():
    """A musl client resolving `web` also costs 2 queries."""
    world, dns = build(events=False)
    flow(world, dns, "f", DNSTarget("web", 80, flavour="musl"), count=3)
    world.run(until=5)
    assert [lk.queries for lk in dns.stats.lookups] == [2, 2, 2]


def test_dns_sees_changes_after_the_informer_delay():
    """CoreDNS answers from the state it has seen: a new Service resolves only after the
    EndpointSlice + watch delay."""
    world, dns = build(events=False)
    world.run(until=1.0)
    world.change("add svc", lambda api: api.apply({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "late", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.90", "ports": [{"port": 80}]}}))
    world.run(until=1.03)
    assert dns.answer("late.default.svc.cluster.local.", "A", world.env.now).rcode == "NXDOMAIN"
    world.run(until=1.0 + dns.informer_delay_s + 2 * dns.poll_s)
    assert dns.answer("late.default.svc.cluster.local.", "A", world.env.now).addresses() == \
        ("10.96.0.90",)


def test_client_cache_modes_query_counts():
    """none resolves every time; ttl re-resolves after the TTL (30 s); forever once."""
    world, dns = build(events=False)
    flow(world, dns, "none", DNSTarget("web-headless", 8080, cache="none"), rate=1, stop=61)
    flow(world, dns, "ttl", DNSTarget("web-headless", 8080, cache="ttl"), rate=1, stop=61)
    flow(world, dns, "forever", DNSTarget("web-headless", 8080, cache="forever"), rate=1, stop=61)
    world.run(until=63)
    summary = dns.stats.summary()["flows"]
    assert summary["none"]["queries"] == 2 * 61
    # The answer at t=0 arrives a fraction of a millisecond later, so the t=30 connection still
    # uses it; the t=31 one re-resolves, and that answer covers the rest of the run.
    assert summary["ttl"]["queries"] == 2 * 2
    assert summary["forever"]["queries"] == 2


def test_server_cache_counts_down_per_dns_pod():
    """With spec.dns.cache each CoreDNS pod's reply TTL counts down from when *it* cached
    the answer; the other pod, with its own cache, still answers with the full TTL."""
    world, dns = build(dns_spec={"ttl": 30, "cache": 30}, events=False)
    name = "web.default.svc.cluster.local."
    world.run(until=10)
    first = dns.answer(name, "A", world.env.now, "kube-system/coredns-a")
    world.run(until=22)
    second = dns.answer(name, "A", world.env.now, "kube-system/coredns-a")
    other = dns.answer(name, "A", world.env.now, "kube-system/coredns-b")
    assert (first.answer[0].ttl, second.answer[0].ttl, other.answer[0].ttl) == (30, 18, 30)


def test_dns_down_retransmits_then_fails():
    """With both CoreDNS pods unreachable (their namespaces gone, so queries are lost in
    silence; a crashed process in a live namespace would answer ICMP port unreachable
    instead), glibc sends each query attempts (2) times, waits timeout (5 s) each time, gives
    up the search after the first candidate, tries the name as is, and fails after 20 s with
    TRY_AGAIN."""
    world, dns = build(events=False)
    for key in ("kube-system/coredns-a", "kube-system/coredns-b"):
        world.net.remove_pod(world.pod_hosts[key])
    flow(world, dns, "f", DNSTarget("web", 80), count=1)
    world.run(until=30)
    lk = dns.stats.lookups[0]
    assert (lk.error, lk.queries, lk.packets) == ("TRY_AGAIN", 4, 8)
    assert lk.end_s - lk.start_s == pytest.approx(20.0)


def test_round_robin_dns_scenario_outcomes():
    """The seed's question, with the scenario's churn: ClusterIP clients (by IP or by the
    Service name) never fail; headless-name clients fail while their cached pod is gone:
    until the TTL expires (ttl) or for the rest of the run (forever)."""
    world, dns = build()
    flow(world, dns, "cluster-ip", ServiceTarget("default", "web", 80))
    flow(world, dns, "dns-service-name", DNSTarget("web", 80, cache="none"))
    flow(world, dns, "dns-headless-every-time", DNSTarget("web-headless", 8080, cache="none"))
    flow(world, dns, "dns-headless-ttl", DNSTarget("web-headless", 8080, cache="ttl"))
    flow(world, dns, "dns-headless-forever", DNSTarget("web-headless", 8080, cache="forever"))
    world.run(until=62)
    assert outcomes(world, "cluster-ip") == Counter({"ok": 300})
    assert outcomes(world, "dns-service-name") == Counter({"ok": 300})
    assert outcomes(world, "dns-headless-every-time") == Counter({"ok": 300})
    # The price of following the churn by re-resolving: 600 queries instead of 2 or 4.
    queries = {f: s["queries"] for f, s in dns.stats.summary()["flows"].items()}
    assert queries == {"dns-headless-every-time": 600, "dns-headless-forever": 2,
                       "dns-headless-ttl": 4, "dns-service-name": 600}
    ttl, forever = outcomes(world, "dns-headless-ttl"), outcomes(world, "dns-headless-forever")
    assert set(ttl) == set(forever) == {"ok", "timeout"}
    # web-1 (the first address) dies at 11.5 s: forever fails from then on (~48.5 s x 5/s);
    # ttl re-resolves at 30 s, then its pod web-3 dies at 41.5 s: ~(18.5 + 18.5) s x 5/s.
    assert forever["timeout"] == pytest.approx(242, abs=5)
    assert ttl["timeout"] == pytest.approx(185, abs=5)


def test_round_robin_dns_scenario_passes_through_the_runner():
    """`kube-netsim run scenarios/dns/round-robin-dns.yaml`: every expectation passes."""
    from sim.scenario.runner import run

    result = run(load_scenario(SCENARIO))
    assert [(e.passed, e.name) for e in result.expectations] == [
        (True, "reachable cluster-ip"), (True, "reachable dns-service-name"),
        (True, "reachable dns-headless-every-time"),
        (True, "failures dns-headless-ttl"), (True, "dropped dns-headless-ttl"),
        (True, "dropped dns-headless-forever")]


def test_dns_flow_fields_are_checked():
    """A bad DNS flow target is refused with its field path."""
    from sim.model.errors import SimError
    from sim.scenario.sections import parse_traffic

    bad = {"durationSeconds": 1, "flows": [{"name": "f", "from": {"pod": "default/client"},
                                            "to": {"dns": "web", "port": 80, "cache": "always"}}]}
    with pytest.raises(SimError, match=r"spec\.traffic\.flows\[0\]\.to\.cache: Invalid value"):
        parse_traffic(bad, ("node-1",), "s.yaml")


def test_loadbalance_shuffles_addresses_per_reply():
    """With spec.dns.loadbalance the DNS pods shuffle the A records of each reply (from the
    run's dns/loadbalance stream), so the first address varies; without it, it never does."""
    firsts = {}
    for lb in (False, True):
        world, dns = build(dns_spec={"ttl": 30, "loadbalance": lb}, events=False)
        host = world.pod_hosts["kube-system/coredns-a"]
        replies = [dns.handle(host, None, ("web-headless.default.svc.cluster.local.", "A"))
                   for _ in range(40)]
        firsts[lb] = {r[2].answer[0].rdata for r in replies}
        assert all(sorted(r[2].addresses()) == ["10.244.1.11", "10.244.1.13", "10.244.2.12"]
                   for r in replies)
    assert firsts[False] == {"10.244.1.11"}
    assert len(firsts[True]) == 3


@pytest.mark.parametrize("flavour,error,elapsed", [("glibc", "TRY_AGAIN", 0.0),
                                                   ("musl", "EAI_AGAIN", 5.0)])
def test_dns_service_without_endpoints(flavour, error, elapsed):
    """kube-dns with no ready pod: kube-proxy REJECTs the query with ICMP port unreachable;
    glibc fails at once; musl never sees the ICMP error and gives up after its timeout (5 s,
    the two attempts spread over it)."""
    world, dns = build(events=False)
    world.run(until=0.5)
    for pod in ("coredns-a", "coredns-b"):
        world.change("dns pod not ready", lambda api, p=pod: api.set_pod_ready("kube-system", p, False))
    world.run(until=5)  # kube-proxy has synced the empty Service
    flow(world, dns, "f", DNSTarget("web", 80, flavour=flavour), count=1, stop=60)
    world.run(until=40)
    lk = dns.stats.lookups[0]
    assert lk.error == error
    assert lk.end_s - lk.start_s == pytest.approx(elapsed, abs=0.01)


def test_replacement_dns_pod_serves():
    """CoreDNS pods are replaced: the old ones are deleted and a new one is created; after
    kube-proxy follows, queries reach the new pod and still get answers."""
    world, dns = build(events=False)
    world.run(until=0.5)
    world.change("new coredns", lambda api: api.apply({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "coredns-c", "namespace": "kube-system",
                     "labels": {"k8s-app": "kube-dns"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "coredns", "ports": [
            {"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": "10.244.1.3",
                   "conditions": [{"type": "Ready", "status": "True"}]}}))
    for pod in ("coredns-a", "coredns-b"):
        world.change("gone", lambda api, p=pod: api.delete_pod("kube-system", p))
    world.run(until=3)
    flow(world, dns, "f", DNSTarget("web", 80), count=5)
    world.run(until=6)
    assert outcomes(world, "f") == Counter({"ok": 5})
    assert dns.stats.queries_by_server == {"kube-system/coredns-c": 10}


def test_crashed_dns_pod_serves_again_after_restart():
    """A crashed CoreDNS container does not answer; after the restart it serves again."""
    world, dns = build(events=False)
    for pod in ("coredns-a", "coredns-b"):
        world.crash_pod(f"kube-system/{pod}")
    world.run(until=1)
    for pod in ("coredns-a", "coredns-b"):
        world.restart_pod(f"kube-system/{pod}")
        world.change("ready", lambda api, p=pod: api.set_pod_ready("kube-system", p, True))
    world.run(until=2)
    flow(world, dns, "f", DNSTarget("web", 80), count=5)
    world.run(until=5)
    assert outcomes(world, "f") == Counter({"ok": 5})


def test_pod_without_cluster_dns_is_a_user_error():
    """A client pod whose resolv.conf does not name the cluster DNS (dnsPolicy Default: the
    node's upstream servers, outside the simulated network) is refused with a message, not a
    silent failure."""
    from sim.model.errors import SimError

    world, dns = build(events=False)
    world.change("default policy", lambda api: api.apply({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "hostdns", "namespace": "default"},
        "spec": {"nodeName": "node-1", "dnsPolicy": "Default", "containers": [{"name": "c"}]},
        "status": {"phase": "Running", "podIP": "10.244.1.60",
                   "conditions": [{"type": "Ready", "status": "True"}]}}))
    spec = FlowSpec("f", "pod", "default/hostdns", DNSTarget("web", 80), count=1)
    with pytest.raises(SimError, match="does not use the cluster DNS"):
        DNSClient(world, dns, spec, component_rng(SEED, "client/f"))


def test_node_search_domains_cost_queries_in_the_world():
    """With spec.dns.nodeResolvConf search domains, a ClusterFirst pod's unresolvable name
    walks the three cluster domains, each node domain, then the bare name: 2 queries (A and
    AAAA) per candidate reach the DNS pods, as glibc sends them."""
    base = load_scenario(SCENARIO).dns or {}
    plain_world, plain_dns = build(events=False)
    flow(plain_world, plain_dns, "f", DNSTarget("nosuch", 80), count=1)
    plain_world.run(until=5)
    with_node = dict(base, nodeResolvConf={"searches": ["corp.example", "lab.example"]})
    world, dns = build(dns_spec=with_node, events=False)
    flow(world, dns, "f", DNSTarget("nosuch", 80), count=1)
    world.run(until=5)
    assert sum(plain_dns.stats.queries_by_server.values()) == 2 * 4
    assert sum(dns.stats.queries_by_server.values()) == 2 * 6


def test_single_request_pod_takes_two_round_trips():
    """A pod with dnsConfig `single-request` sends A, waits, then AAAA: the lookup takes twice
    as long as with parallel queries, and costs the same 2 queries."""
    world, dns = build(events=False)
    # One DNS pod only, so both lookups cross the same path.
    world.change("one dns pod", lambda api: api.delete_pod("kube-system", "coredns-b"))
    world.change("sr pod", lambda api: api.apply({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sr", "namespace": "default"},
        "spec": {"nodeName": "node-2", "dnsConfig": {"options": [{"name": "single-request"}]},
                 "containers": [{"name": "c"}]},
        "status": {"phase": "Running", "podIP": "10.244.2.61",
                   "conditions": [{"type": "Ready", "status": "True"}]}}))
    world.run(until=3)
    for client in ("default/client", "default/sr"):
        spec = FlowSpec(client, "pod", client, DNSTarget("web", 80), count=1)
        DNSClient(world, dns, spec, component_rng(SEED, client)).start(world.env)
    world.run(until=5)
    par, seq = dns.stats.lookups
    assert (par.queries, seq.queries) == (2, 2)
    assert seq.end_s - seq.start_s == pytest.approx(2 * (par.end_s - par.start_s), rel=0.05)


def test_lookup_without_a_free_ephemeral_port_fails_with_eaddrnotavail():
    """When every UDP ephemeral port of the client pod is held, the resolver cannot open its
    query socket: the lookup ends at once with EADDRNOTAVAIL (no query sent) and the flow's
    connection is recorded as unresolved; the run carries on."""
    from sim.world.network import EPHEMERAL_PORTS

    world, dns = build(events=False)
    host = world.pod_hosts["default/client"]
    lo, hi = EPHEMERAL_PORTS
    for _ in range(hi - lo + 1):
        host.bind_ephemeral("udp", lambda *a: None)
    flow(world, dns, "f", DNSTarget("web", 80), count=1)
    world.run(until=5)
    assert sum(dns.stats.queries_by_server.values()) == 0
    (lookup,) = [r for r in dns.stats.lookups if r.flow == "f"]
    assert (lookup.error, lookup.queries) == ("EADDRNOTAVAIL", 0)
    assert outcomes(world, "f") == Counter({"unresolved": 1})
