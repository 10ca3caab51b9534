"""nftables partial syncs against upstream ``TestSyncProxyRulesRepeated`` (nftables proxier).

Each step changes the cluster, runs one sync with the changed services, applies the cleanup and
main transactions to the fake table and compares its dump with upstream's expected dump (after
upstream's sort), and checks the number of operations upstream counts
(``nft.LastTransaction.NumOperations()``).
"""

from __future__ import annotations

import copy
import textwrap

from sim.kubeproxy.nftables import sync_nft
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy import nft_fake
from tests.kubeproxy.nft_fixtures import nft_state
from tests.kubeproxy.test_nft_upstream_fixture import BASE_RULES, assert_dump_equal


def svc_rules(ns: str, ip: str, port: int, svc_hash: str, ep_hash: str, ep_ip: str) -> str:
    """The service and endpoint chains of one single-endpoint ClusterIP service."""
    name = f"{ns}/svc{ns[-1]}/tcp/p{port}"
    svc = f"service-{svc_hash}-{name}"
    ep = f"endpoint-{ep_hash}-{name}__{ep_ip}/{port}"
    return f"""
        add chain ip kube-proxy {svc}
        add rule ip kube-proxy {svc} ip daddr {ip} ip saddr != 10.0.0.0/8 jump mark-for-masquerade
        add rule ip kube-proxy {svc} numgen random mod 1 vmap {{ 0 : goto {ep} }}
        add chain ip kube-proxy {ep}
        add rule ip kube-proxy {ep} ip saddr {ep_ip} jump mark-for-masquerade
        add rule ip kube-proxy {ep} meta l4proto tcp dnat to {ep_ip}:{port}
    """


def elements(*items: tuple[str, int, str]) -> str:
    """cluster-ips and service-ips elements of (ip, port, service chain) triples."""
    out = [f"add element ip kube-proxy cluster-ips {{ {ip} }}" for ip, _, _ in items]
    out += [f"add element ip kube-proxy service-ips {{ {ip} . tcp . {port} : goto {chain} }}"
            for ip, port, chain in items if chain]
    return "\n".join(out) + "\n"


SVC1 = ("172.30.0.41", 80, "service-ULMVA6XW-ns1/svc1/tcp/p80")
SVC2 = ("172.30.0.42", 8080, "service-MHHHYRWA-ns2/svc2/tcp/p8080")
SVC3 = ("172.30.0.43", 80, "service-4AT6LBPK-ns3/svc3/tcp/p80")
SVC4 = ("172.30.0.44", 80, "service-LAUZTJTB-ns4/svc4/tcp/p80")
R1 = svc_rules("ns1", "172.30.0.41", 80, "ULMVA6XW", "5TPGNJF2", "10.0.1.1")
R2 = svc_rules("ns2", "172.30.0.42", 8080, "MHHHYRWA", "7RVP4LUQ", "10.0.2.1")
R3 = svc_rules("ns3", "172.30.0.43", 80, "4AT6LBPK", "2OCDJSZQ", "10.0.3.1")
R4 = svc_rules("ns4", "172.30.0.44", 80, "LAUZTJTB", "WAHRBT2B", "10.0.4.1")


class Cluster:
    """The test's proxier: services and slices by name, one fake kernel table, sync memory."""

    def __init__(self) -> None:
        self.services: dict[str, object] = {}
        self.slices: dict[str, object] = {}
        self.memory = None
        self.table = nft_fake.FakeTable()
        self.last = None

    def add(self, ns: str, ip: str, port: int, endpoint: str | None) -> None:
        name = f"svc{ns[-1]}"
        self.services[ns] = fx.svc(ns, name, ip, fx.port(port, name=f"p{port}"))
        if endpoint:
            self.slices[ns] = fx.eps(ns, name, [fx.ep(endpoint)], port_number=port, port_name=f"p{port}")

    def sync(self, changed: set[str], now_s: float) -> None:
        state = nft_state(fx.state(list(self.services.values()), list(self.slices.values())))
        result = sync_nft(state, fx.TEST_NODE, previous=self.memory,
                          changed_services=None if self.memory is None else frozenset(changed),
                          now_s=now_s)
        nft_fake.apply(result.cleanup, self.table)
        nft_fake.apply(result.transaction, self.table)
        self.memory, self.last = result.state, result

    def assert_table(self, *parts: str) -> None:
        assert_dump_equal(textwrap.dedent(BASE_RULES) + "".join(textwrap.dedent(p) for p in parts),
                          self.table)


def test_sync_proxy_rules_repeated():
    """TestSyncProxyRulesRepeated: add, delete (flush now, delete chains a second later), add
    without endpoints, add endpoints, change an endpoint; dumps and operation counts as upstream."""
    c = Cluster()
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.add("ns2", "172.30.0.42", 8080, "10.0.2.1")
    c.sync(set(), 0.0)
    assert c.last.full
    c.assert_table(elements(SVC1, SVC2), R1, R2)

    c.add("ns3", "172.30.0.43", 80, "10.0.3.1")
    c.sync({"ns3/svc3"}, 1.0)
    c.assert_table(elements(SVC1, SVC2, SVC3), R1, R2, R3)
    # 1 element each to cluster-ips and service-ips; add+flush 2 chains; 2 rules in each
    assert len(c.last.transaction.commands) == 10

    del c.services["ns2"], c.slices["ns2"]
    c.sync({"ns2/svc2"}, 2.0)
    c.assert_table(elements(SVC1, SVC3), R1, R3, """
        add chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080
        add chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080
    """)
    # delete 2 elements, flush 2 chains
    assert len(c.last.transaction.commands) == 4
    assert not c.last.cleanup.commands

    c.sync(set(), 4.0)  # more than a second later: the stale chains go, in their own transaction
    c.assert_table(elements(SVC1, SVC3), R1, R3)
    assert len(c.last.transaction.commands) == 0
    assert len(c.last.cleanup.commands) == 2

    c.add("ns4", "172.30.0.44", 80, None)
    c.sync({"ns4/svc4"}, 5.0)
    c.assert_table(elements(SVC1, SVC3, ("172.30.0.44", 80, "")), R1, R3, """
        add element ip kube-proxy no-endpoint-services { 172.30.0.44 . tcp . 80 comment "ns4/svc4:p80" : goto reject-chain }
    """)
    assert len(c.last.transaction.commands) == 2

    c.add("ns4", "172.30.0.44", 80, "10.0.4.1")
    c.sync({"ns4/svc4"}, 6.0)
    c.assert_table(elements(SVC1, SVC3, SVC4), R1, R3, R4)
    # add 1 service-ips element, delete 1 no-endpoint-services element, 4 chain ops, 4 rules
    assert len(c.last.transaction.commands) == 10

    c.add("ns3", "172.30.0.43", 80, "10.0.3.2")
    c.sync({"ns3/svc3"}, 7.0)
    r3_new = svc_rules("ns3", "172.30.0.43", 80, "4AT6LBPK", "SWWHDC7X", "10.0.3.2")
    c.assert_table(elements(SVC1, SVC3, SVC4), R1, r3_new, R4, """
        add chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80
    """)
    # add+flush 2 chains, 2 rules in each, flush the old endpoint chain
    assert len(c.last.transaction.commands) == 9


def test_stale_chain_younger_than_a_second_is_kept_and_reflushed():
    """A stale chain is deleted only by a sync more than one second after it went stale; a sync
    before that flushes it again and keeps it (upstream restamps it)."""
    c = Cluster()
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.sync(set(), 0.0)
    del c.services["ns1"], c.slices["ns1"]
    c.sync({"ns1/svc1"}, 10.0)
    c.sync(set(), 10.5)
    assert not c.last.cleanup.commands
    assert "flush chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80" in c.last.transaction.commands
    c.sync(set(), 12.0)
    assert set(c.last.cleanup.commands) == {
        "delete chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80",
        "delete chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80"}
    assert not c.memory.chains


def test_unchanged_service_is_not_rewritten_in_a_partial_sync():
    """A partial sync writes no chain or rule of a service outside ``changed_services``, even
    when its endpoints changed (the caller said they did not)."""
    c = Cluster()
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.sync(set(), 0.0)
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.sync(set(), 1.0)
    assert c.last.transaction.commands == ()


def test_periodic_full_sync_keeps_elements_and_endpoint_chains():
    """``changed_services=None`` with a previous state is a full sync: setup and every service
    chain are written again, but no map or set is flushed (the storages hold the kernel's
    elements) and existing endpoint chains are left alone; the table is unchanged."""
    c = Cluster()
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.sync(set(), 0.0)
    state = nft_state(fx.state(list(c.services.values()), list(c.slices.values())))
    again = sync_nft(state, fx.TEST_NODE, previous=c.memory, changed_services=None, now_s=1.0)
    assert again.full
    cmds = again.transaction.commands
    assert not [x for x in cmds if x.startswith(("flush map", "add element ip kube-proxy service-ips"))]
    assert f"add chain ip kube-proxy {SVC1[2]}" in cmds
    assert not [x for x in cmds if x.split(" ")[4].startswith("endpoint-")]
    table = nft_fake.apply(again.transaction, copy.deepcopy(c.table))
    assert sorted(nft_fake.dump(table).splitlines()) == sorted(nft_fake.dump(c.table).splitlines())


def test_sync_proxy_rules_repeated_endpoint_churn():
    """TestSyncProxyRulesRepeated, later steps: add an endpoint (12 operations), empty the
    service (5: two elements, three flushed chains, which become stale), restore at once (14,
    nothing stale), empty and restore after the stale chains aged (deleted, then recreated:
    same table), and a sync with no change (0)."""
    c = Cluster()
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.add("ns3", "172.30.0.43", 80, "10.0.3.2")
    c.sync(set(), 0.0)
    two = [fx.ep("10.0.3.2"), fx.ep("10.0.3.3")]
    c.slices["ns3"] = fx.eps("ns3", "svc3", two)
    c.sync({"ns3/svc3"}, 1.0)
    assert len(c.last.transaction.commands) == 12
    full = textwrap.dedent(f"""
        add chain ip kube-proxy {SVC3[2]}
        add rule ip kube-proxy {SVC3[2]} ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
        add rule ip kube-proxy {SVC3[2]} numgen random mod 2 vmap {{ 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 , 1 : goto endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 }}
        add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
        add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade
        add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80
        add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80
        add rule ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 ip saddr 10.0.3.3 jump mark-for-masquerade
        add rule ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80 meta l4proto tcp dnat to 10.0.3.3:80
    """)
    c.assert_table(elements(SVC1, SVC3), R1, full)

    c.slices["ns3"] = fx.eps("ns3", "svc3", [])
    c.sync({"ns3/svc3"}, 2.0)
    assert len(c.last.transaction.commands) == 5
    assert set(c.memory.stale_chains) == {
        SVC3[2], "endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80",
        "endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80"}
    c.assert_table(elements(SVC1, ("172.30.0.43", 80, "")), R1, f"""
        add element ip kube-proxy no-endpoint-services {{ 172.30.0.43 . tcp . 80 comment "ns3/svc3:p80" : goto reject-chain }}
        add chain ip kube-proxy {SVC3[2]}
        add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80
        add chain ip kube-proxy endpoint-TQ2QKHCZ-ns3/svc3/tcp/p80__10.0.3.3/80
    """)

    c.slices["ns3"] = fx.eps("ns3", "svc3", two)
    c.sync({"ns3/svc3"}, 2.5)
    assert len(c.last.transaction.commands) == 14
    assert not c.memory.stale_chains
    c.assert_table(elements(SVC1, SVC3), R1, full)

    c.slices["ns3"] = fx.eps("ns3", "svc3", [])
    c.sync({"ns3/svc3"}, 3.0)
    c.slices["ns3"] = fx.eps("ns3", "svc3", two)
    c.sync({"ns3/svc3"}, 5.0)
    assert len(c.last.cleanup.commands) == 3
    c.assert_table(elements(SVC1, SVC3), R1, full)

    c.sync(set(), 6.0)
    assert c.last.transaction.commands == () and c.last.cleanup.commands == ()


def test_sync_proxy_rules_startup():
    """TestSyncProxyRulesStartup: a restarted kube-proxy finds svc1 (one endpoint) and svc2 in
    the table; its first, full sync for svc1 with a second endpoint, svc2 and a new svc3
    without endpoints costs the setup operations plus 14: svc3's two elements, both service
    chains rewritten (8), and only the new endpoint's chain (4)."""
    setup_ops = len(sync_nft(nft_state(fx.state([], [])), fx.TEST_NODE).transaction.commands)
    c = Cluster()
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.add("ns2", "172.30.0.42", 8080, "10.0.2.1")
    c.sync(set(), 0.0)
    c.memory = c.memory.after_restart()
    c.slices["ns1"] = fx.eps("ns1", "svc1", [fx.ep("10.0.1.1"), fx.ep("10.0.1.2")])
    c.add("ns3", "172.30.0.43", 80, None)
    state = nft_state(fx.state(list(c.services.values()), list(c.slices.values())))
    result = sync_nft(state, fx.TEST_NODE, previous=c.memory, changed_services=None, now_s=100.0)
    nft_fake.apply(result.transaction, c.table)
    assert len(result.transaction.commands) == setup_ops + 14
    c.assert_table(elements(SVC1, SVC2, ("172.30.0.43", 80, "")), R2, """
        add element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 comment "ns3/svc3:p80" : goto reject-chain }
        add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
        add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
        add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 , 1 : goto endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 }
        add chain ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80
        add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 ip saddr 10.0.1.1 jump mark-for-masquerade
        add rule ip kube-proxy endpoint-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80 meta l4proto tcp dnat to 10.0.1.1:80
        add chain ip kube-proxy endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80
        add rule ip kube-proxy endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 ip saddr 10.0.1.2 jump mark-for-masquerade
        add rule ip kube-proxy endpoint-ZCZBVNAZ-ns1/svc1/tcp/p80__10.0.1.2/80 meta l4proto tcp dnat to 10.0.1.2:80
    """)


def test_restart_rewrites_an_emptied_stale_endpoint_chain():
    """After a restart the first sync is full even if changed services are given, and an
    endpoint chain that was emptied as stale and is used again is written, not kept empty."""
    c = Cluster()
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.sync(set(), 0.0)
    del c.services["ns1"], c.slices["ns1"]
    c.sync({"ns1/svc1"}, 0.2)
    c.memory = c.memory.after_restart()
    c.add("ns1", "172.30.0.41", 80, "10.0.1.1")
    c.sync({"ns1/svc1"}, 0.4)
    assert c.last.full
    c.assert_table(elements(SVC1), R1)
