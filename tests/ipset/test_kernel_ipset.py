"""The kernel as oracle for the ipsets and the IPVS-mode iptables payload (root only).

This kernel has ipset but no IPVS (CONFIG_IP_VS is off): what is checked here is that the
IPVS compiler's sets and iptables payload are accepted and read back equal, and that the
``-m set`` rules count the same packets in the kernel as in the engine. The ``kube-ipvs0``
dummy interface is replaced by the bound addresses on ``lo`` (no dummy interfaces here).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import numpy as np
import pytest

from sim.iptables import apply_payload, parse_restore, render_save, strip_save_noise
from sim.ipset import canonicalise as canonicalise_sets
from sim.ipset import parse_restore as parse_sets
from sim.ipset import render_restore, render_save as render_sets
from sim.kubeproxy.ipvs import bootstrap_payload, compile_ipvs
from sim.model import LoadBalancerIngress, Protocol, ServiceType, TrafficPolicy
from sim.model.packet import Packet
from sim.netfilter import NodeNetfilter
from sim.scenario.spec import load_scenario

from tests.kubeproxy.fixtures import FAKE_PROXY_CONFIG, TEST_NODE, ep, eps, port, state, svc
from tests.kubeproxy.test_goldens import SCENARIOS
from tests.kubeproxy.test_ipvs_goldens import CASES

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(shutil.which("ipset") is None,
                                 reason="ipset is not installed (apt-get install ipset)")]

_counter = itertools.count()
NODE_IP = "192.168.0.2"
CLIENT_IP = "192.168.0.1"
OUTSIDER = "203.0.113.5"   # outside the LB source range
ALLOWED = "198.51.100.7"   # inside it


def _cluster():
    services = [
        svc("ns1", "web", "10.96.0.10", port(80, node_port=30080), type=ServiceType.LOAD_BALANCER,
            load_balancer_ingress=(LoadBalancerIngress(ip="192.0.2.127"),),
            load_balancer_source_ranges=("198.51.100.0/24", "192.168.0.0/24")),
        svc("ns1", "dns", "10.96.0.53", port(53, "dns", protocol=Protocol.UDP)),
        svc("ns1", "ext", "10.96.0.20", port(8080, "http", node_port=30081),
            type=ServiceType.NODE_PORT, external_ips=("198.51.100.200",),
            external_traffic_policy=TrafficPolicy.LOCAL),
    ]
    slices = [eps("ns1", "web", [ep("10.180.0.1", TEST_NODE), ep("10.180.1.1", "other")]),
              eps("ns1", "ext", [ep("10.180.0.2", TEST_NODE)], port_number=8080, port_name="http")]
    return state(services, slices, FAKE_PROXY_CONFIG)


def _ns(*argv: str, name: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", name, *argv], input=stdin, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """A node namespace and a client namespace joined by a veth pair; both deleted after."""
    n = next(_counter)
    node, client = f"kns-ipvs-{os.getpid()}-{n}n", f"kns-ipvs-{os.getpid()}-{n}c"
    for name in (node, client):
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=30)
    try:
        subprocess.run(["ip", "link", "add", "n0", "netns", node, "type", "veth", "peer", "c0",
                        "netns", client], check=True, capture_output=True, timeout=30)
        yield node, client
    finally:
        for name in (node, client):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


# Sends each probe (proto, src, sport, dst, dport) once: a TCP SYN (connect, short timeout) or
# a UDP datagram; one process for all of them.
PROBE_SCRIPT = """\
import json, socket, sys
for proto, src, sport, dst, dport in json.loads(sys.argv[1]):
    udp = proto == "udp"
    s = socket.socket(type=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(0.2)
    s.bind((src, sport))
    try:
        s.sendto(b"x", (dst, dport)) if udp else s.connect((dst, dport))
    except OSError:
        pass
    s.close()
"""


def _send(client: str, probes: list[tuple[str, str, int, str, int]]) -> None:
    res = _ns("python3", "-c", PROBE_SCRIPT, json.dumps(probes), name=client)
    assert res.returncode == 0, res.stderr


def _load(node: str, rules) -> None:
    res = _ns("ipset", "restore", name=node, stdin=render_restore(rules.ipsets))
    assert res.returncode == 0, res.stderr
    for payload in (bootstrap_payload(), rules.payload):
        res = _ns("iptables-restore", "--noflush", name=node, stdin=payload.render())
        assert res.returncode == 0, res.stderr


def test_ipvs_payload_and_sets_read_back_equal(namespaces) -> None:
    """``ipset restore`` of our sets and ``iptables-restore`` of our payload are accepted;
    ``ipset save`` and ``iptables-save`` read back what we render."""
    node, _ = namespaces
    rules = compile_ipvs(_cluster(), TEST_NODE, addresses=(NODE_IP,))
    _load(node, rules)
    saved = _ns("ipset", "save", name=node).stdout
    assert canonicalise_sets(saved) == canonicalise_sets(render_sets(rules.ipsets))
    ours = render_save(apply_payload(rules.payload, apply_payload(bootstrap_payload(), noflush=True),
                                     noflush=True))
    kernel = strip_save_noise(_ns("iptables-save", name=node).stdout)
    assert kernel == ours


def _counts(ruleset) -> dict[tuple[str, str, int], int]:
    out = {}
    for table in ruleset.tables.values():
        for chain in table.chains.values():
            if chain.name in ("OUTPUT", "POSTROUTING", "KUBE-POSTROUTING", "KUBE-IPVS-OUT-FILTER"):
                continue  # the node's own replies (RST, ICMP) pass there
            for i, rule in enumerate(chain.rules):
                out[(table.name, chain.name, i + 1)] = rule.packets
    return out


def test_set_matches_count_the_same_packets_as_the_engine(namespaces) -> None:
    """TCP SYNs to ClusterIP, LB (from inside and outside the source range), NodePort and
    externalIP addresses: every rule's packet counter in the kernel equals the engine's, so
    the kernel accepts, marks for masquerade and drops by source range as the engine does."""
    node, client = namespaces
    rules = compile_ipvs(_cluster(), TEST_NODE, addresses=(NODE_IP,))
    setup = [
        (node, "ip addr add 192.168.0.2/24 dev n0"), (node, "ip link set n0 up"),
        (node, "ip link set lo up"), (client, "ip link set lo up"),
        (client, "ip addr add 192.168.0.1/24 dev c0"), (client, "ip link set c0 up"),
        (client, f"ip addr add {OUTSIDER}/32 dev c0"), (client, f"ip addr add {ALLOWED}/32 dev c0"),
        (client, "ip route add 10.96.0.0/16 via 192.168.0.2"),
        (client, "ip route add 192.0.2.0/24 via 192.168.0.2"),
        (client, "ip route add 198.51.100.200/32 via 192.168.0.2"),
        (node, f"ip route add {OUTSIDER}/32 via 192.168.0.1"),
        (node, f"ip route add {ALLOWED}/32 via 192.168.0.1"),
        (node, "sysctl -qw net.ipv4.conf.all.rp_filter=0"),
    ]
    setup += [(node, f"ip addr add {a}/32 dev lo") for a in rules.bound_addresses]
    for name, cmd in setup:
        res = _ns(*cmd.split(), name=name)
        assert res.returncode == 0, (cmd, res.stderr)
    _load(node, rules)
    probes = [(CLIENT_IP, "10.96.0.10", 80), (CLIENT_IP, "10.96.0.10", 81),
              (OUTSIDER, "192.0.2.127", 80), (ALLOWED, "192.0.2.127", 80),
              (CLIENT_IP, NODE_IP, 30080), (CLIENT_IP, NODE_IP, 30081),
              (OUTSIDER, "198.51.100.200", 8080)]
    _send(client, [("tcp", src, 40000 + k, dst, dport) for k, (src, dst, dport) in enumerate(probes)])
    kernel = apply_payload(parse_restore(strip_save_noise(_ns("iptables-save", "-c", name=node).stdout)),
                           counters=True)
    base = apply_payload(bootstrap_payload(), noflush=True)
    nf = NodeNetfilter(apply_payload(rules.payload, base, noflush=True),
                       [NODE_IP, *rules.bound_addresses], ipsets=rules.ipsets)
    rng = np.random.default_rng(0)
    for k, (src, dst, dport) in enumerate(probes):
        nf.prerouting(Packet("tcp", src, dst, 40000 + k, dport), float(k), rng, in_iface="n0")
    ours = _counts(nf.counters())
    theirs = _counts(kernel)
    assert {k: v for k, v in theirs.items() if k in ours} == ours
    # the probes reached the set rules: source-range drop, masquerade marks, REJECT
    assert ours[("filter", "KUBE-SOURCE-RANGES-FIREWALL", 3)] == 1
    assert ours[("nat", "KUBE-MARK-MASQ", 1)] >= 3
    assert ours[("filter", "KUBE-IPVS-FILTER", 6)] == 1


GENERIC_SETS = """\
create NETS hash:net family inet hashsize 1024 maxelem 65536
add NETS 192.168.0.0/30
add NETS 203.0.113.5
create SVC hash:ip,port family inet hashsize 1024 maxelem 65536
add SVC 192.168.0.2,tcp:80
add SVC 192.168.0.2,udp:53
create SRCPORT hash:ip,port,net family inet hashsize 1024 maxelem 65536
add SRCPORT 192.168.0.2,tcp:443,198.51.100.0/24
create PORTS bitmap:port range 1-1024
add PORTS 53
add PORTS 443
create LOOP hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add LOOP 192.168.0.2,tcp:80,203.0.113.5
create HOSTS hash:ip family inet hashsize 1024 maxelem 65536
add HOSTS 198.51.100.7
create NETPORT hash:net,port family inet hashsize 1024 maxelem 65536
add NETPORT 192.168.0.0/24,tcp:80
add NETPORT 203.0.113.0/24,udp:53
"""
GENERIC_RULES = """*filter
:INPUT ACCEPT [0:0]
-A INPUT -m set --match-set NETS src
-A INPUT -m set ! --match-set NETS src
-A INPUT -m set --match-set SVC dst,dst
-A INPUT -m set --match-set SVC dst
-A INPUT -m set ! --match-set SVC dst
-A INPUT -m set --match-set SRCPORT dst,dst,src
-A INPUT -m set --match-set PORTS dst
-A INPUT -m set --match-set PORTS src
-A INPUT -m set --match-set LOOP dst,dst,src
-A INPUT -m set --match-set HOSTS src
-A INPUT -m set --match-set HOSTS dst,src
-A INPUT -m set --match-set NETPORT src,dst
-A INPUT -m set ! --match-set NETPORT src,src
COMMIT
"""


def test_generic_set_matches_agree_with_the_engine(namespaces) -> None:
    """Every modelled set type, with ``!``, too few directions and extra directions: the
    kernel's counters equal the engine's for TCP and UDP probes from three sources."""
    node, client = namespaces
    for name, cmd in [
        (node, "ip addr add 192.168.0.2/24 dev n0"), (node, "ip link set n0 up"),
        (node, "ip link set lo up"), (client, "ip link set lo up"),
        (client, "ip addr add 192.168.0.1/24 dev c0"), (client, "ip link set c0 up"),
        (client, f"ip addr add {OUTSIDER}/32 dev c0"), (client, f"ip addr add {ALLOWED}/32 dev c0"),
        (node, f"ip route add {OUTSIDER}/32 via 192.168.0.1"),
        (node, f"ip route add {ALLOWED}/32 via 192.168.0.1"),
        (node, "sysctl -qw net.ipv4.conf.all.rp_filter=0"),
    ]:
        res = _ns(*cmd.split(), name=name)
        assert res.returncode == 0, (cmd, res.stderr)
    assert _ns("ipset", "restore", name=node, stdin=GENERIC_SETS).returncode == 0
    res = _ns("iptables-restore", name=node, stdin=GENERIC_RULES)
    assert res.returncode == 0, res.stderr
    # the save form of every set match (negated, 1 to 3 directions) is ours
    assert strip_save_noise(_ns("iptables-save", name=node).stdout) == render_save(
        apply_payload(parse_restore(GENERIC_RULES)))
    probes = [(proto, src, dport) for proto in ("tcp", "udp") for src in (CLIENT_IP, OUTSIDER, ALLOWED)
              for dport in (53, 80, 443)]
    nf = NodeNetfilter(apply_payload(parse_restore(GENERIC_RULES)), [NODE_IP],
                       ipsets=parse_sets(GENERIC_SETS))
    rng = np.random.default_rng(0)
    sent = [(proto, src, 40000 + k, NODE_IP, dport) for k, (proto, src, dport) in enumerate(probes)]
    _send(client, sent)
    for k, (proto, src, sport, dst, dport) in enumerate(sent):
        nf.prerouting(Packet(proto, src, dst, sport, dport), float(k), rng, in_iface="n0")
    kernel = apply_payload(parse_restore(strip_save_noise(_ns("iptables-save", "-c", name=node).stdout)),
                           counters=True)
    ours = _counts(nf.counters())
    theirs = _counts(kernel)
    assert theirs == ours
    assert 0 < ours[("filter", "INPUT", 1)] < len(probes)  # the probes hit both sides of NETS


@pytest.mark.parametrize("case", CASES)
def test_shipped_scenarios_ipvs_output_loads_and_reads_back(case: str, namespaces) -> None:
    """For the scenarios with IPVS goldens, every node's sets restore and read back equal, and
    its iptables payload too, except where it carries ``-m ipvs`` (KUBE-IPVS-OUT-FILTER):
    xt_ipvs needs IPVS in the kernel, which this one lacks, so that payload is refused here."""
    node_ns, _ = namespaces
    state = load_scenario(SCENARIOS / case).state()
    for node in state.nodes:
        rules = compile_ipvs(state, node.name)
        # the previous node's rules go first: a set cannot be destroyed while a rule uses it
        for cmd in (("iptables", "-F"), ("iptables", "-X"), ("iptables", "-t", "nat", "-F"),
                    ("iptables", "-t", "nat", "-X"), ("ipset", "destroy")):
            res = _ns(*cmd, name=node_ns)
            assert res.returncode == 0, (cmd, res.stderr)
        res = _ns("ipset", "restore", name=node_ns, stdin=render_restore(rules.ipsets))
        assert res.returncode == 0, res.stderr
        saved = _ns("ipset", "save", name=node_ns).stdout
        assert canonicalise_sets(saved) == canonicalise_sets(render_sets(rules.ipsets))
        if "-m ipvs" in rules.payload.render():
            continue
        for payload in (bootstrap_payload(), rules.payload):
            res = _ns("iptables-restore", "--noflush", name=node_ns, stdin=payload.render())
            assert res.returncode == 0, res.stderr
        ours = render_save(apply_payload(rules.payload, apply_payload(bootstrap_payload(), noflush=True),
                                         noflush=True))
        assert strip_save_noise(_ns("iptables-save", name=node_ns).stdout) == ours


def test_ipv6_sets_load_and_read_back(namespaces) -> None:
    """The IPv6 proxier's sets (``KUBE-6-`` names, ``family inet6``, IPv6 members) restore and
    read back equal (the IPv6 iptables payload is not checked: no ip6tables save renderer)."""
    node_ns, _ = namespaces
    services = [svc("ns1", "web", "2020::1", port(80, node_port=30080), type=ServiceType.LOAD_BALANCER,
                    load_balancer_ingress=(LoadBalancerIngress(ip="2001:db8:ff::1"),),
                    load_balancer_source_ranges=("2001:db8:1::/48",),
                    external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=31000),
                svc("ns1", "sctp", "2020::2", port(9000, "s", node_port=30090, protocol=Protocol.SCTP),
                    type=ServiceType.NODE_PORT)]
    slices = [dataclasses.replace(eps("ns1", "web", [ep("fd00::10", TEST_NODE)]), address_type="IPv6")]
    rules = compile_ipvs(state(services, slices, FAKE_PROXY_CONFIG), TEST_NODE, ip_family="IPv6",
                         addresses=("2001:db8::1:1", "192.168.0.2"))
    text = render_restore(rules.ipsets)
    assert "create KUBE-6-LOOP-BACK hash:ip,port,ip family inet6" in text
    res = _ns("ipset", "restore", name=node_ns, stdin=text)
    assert res.returncode == 0, res.stderr
    saved = _ns("ipset", "save", name=node_ns).stdout
    assert canonicalise_sets(saved) == canonicalise_sets(render_sets(rules.ipsets))
