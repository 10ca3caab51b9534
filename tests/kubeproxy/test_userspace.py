"""The 1.0 portal rules: text, order, ports (sim.kubeproxy.userspace)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.api.apiserver import ApiServer
from sim.commands.options import with_mode
from sim.commands.rules_userspace import userspace_rules
from sim.iptables import apply_payload, parse_restore, render_save
from sim.kubeproxy.userspace import (
    allocate_proxy_ports,
    compile_rules,
    iptables_commands,
    parse_port_range,
    proxy_services,
)
from sim.model.config import ClusterConfig, KubeProxyConfig
from sim.model.errors import SimError
from sim.scenario.spec import load_scenario
from tests.kubeproxy.test_goldens import _compare


def _state(*services):
    api = ApiServer(ClusterConfig(), KubeProxyConfig(mode="userspace"), 1)
    api.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
               "spec": {"podCIDR": "10.244.1.0/24"},
               "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}]}})
    for s in services:
        api.apply(s)
    return api.snapshot()


def _svc(name, ports, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": name}, "ports": ports, **spec}}


def _lines(state, ports):
    return compile_rules(state, "n1", ports).tables[0].lines


def test_cluster_ip_portal_rules_are_written_as_1_0_wrote_them():
    """Comment, protocol, --dport, then -d; REDIRECT from containers, DNAT to the host IP
    from the host; an unnamed port keeps 1.0's trailing colon."""
    st = _state(_svc("a", [{"port": 80}], clusterIP="10.96.0.10"))
    lines = _lines(st, {("default/a:", "tcp"): 40001})
    assert lines[4:] == (
        '-A KUBE-PORTALS-CONTAINER -m comment --comment "default/a:" -p tcp -m tcp --dport 80 '
        '-d 10.96.0.10/32 -j REDIRECT --to-ports 40001',
        '-A KUBE-PORTALS-HOST -m comment --comment "default/a:" -p tcp -m tcp --dport 80 '
        '-d 10.96.0.10/32 -j DNAT --to-destination 192.168.0.1:40001',
    )


def test_init_jumps_portals_before_nodeports():
    """PREROUTING and OUTPUT jump to the portal chains first, then (addrtype LOCAL) to the
    NodePort chains, with upstream's comments."""
    lines = _lines(_state(), {})
    assert lines == (
        '-A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the '
        'NodePort rules" -j KUBE-PORTALS-CONTAINER',
        '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "handle service '
        'NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-CONTAINER',
        '-A OUTPUT -m comment --comment "handle ClusterIPs; NOTE: this must be before the '
        'NodePort rules" -j KUBE-PORTALS-HOST',
        '-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "handle service '
        'NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-HOST',
    )


def test_portal_order_cluster_ip_external_ips_load_balancer_then_nodeport():
    """openPortal: cluster IP, each public IP, each load-balancer ingress, then the NodePort
    (without -d); one socket (one proxy port) serves them all; the host side always DNATs."""
    st = _state(_svc("lb", [{"name": "http", "port": 80, "nodePort": 30080}], type="LoadBalancer",
                     clusterIP="10.96.0.20", externalIPs=["198.51.100.7"]))
    lines = _lines(st, {("default/lb:http", "tcp"): 45000})[4:]
    lb_ip = proxy_services(st)[0].portals[2][0]
    for chain in ("KUBE-PORTALS-CONTAINER", "KUBE-PORTALS-HOST"):
        dests = [line.split(" -d ")[1].split(" ")[0] for line in lines if line.startswith(f"-A {chain} ")]
        assert dests == ["10.96.0.20/32", "198.51.100.7/32", f"{lb_ip}/32"]
    nodeport = [line for line in lines if "NODEPORT" in line]
    assert len(nodeport) == 2 and not any(" -d " in line for line in nodeport)
    assert all(line.endswith(("--to-ports 45000", "192.168.0.1:45000")) for line in lines)
    host = [line for line in lines if "-HOST " in line]
    assert host and all("-j DNAT" in line for line in host)
    assert '--dport 30080 -j REDIRECT' in nodeport[0]


def test_headless_and_externalname_services_get_no_socket():
    """OnUpdate skips services whose cluster IP is None or unset."""
    st = _state(_svc("h", [{"port": 80}], clusterIP="None"),
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e", "namespace": "default"},
                 "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert proxy_services(st) == []


def test_udp_and_tcp_ports_of_one_service_get_two_sockets():
    """Each port of a Service has its own socket, keyed by name and protocol."""
    st = _state(_svc("dns", [{"name": "dns", "port": 53, "protocol": "UDP"},
                             {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]))
    assert [s.key for s in proxy_services(st)] == [("default/dns:dns", "udp"), ("default/dns:dns-tcp", "tcp")]


def test_payload_restores_and_saves():
    """The payload is valid iptables-restore input and iptables-save moves -d first."""
    st = _state(_svc("a", [{"port": 80}], clusterIP="10.96.0.10"))
    payload = compile_rules(st, "n1", {("default/a:", "tcp"): 40001})
    saved = render_save(apply_payload(parse_restore(payload.render()), noflush=True))
    assert ('-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m comment --comment "default/a:" '
            '-m tcp --dport 80 -j REDIRECT --to-ports 40001') in saved


def test_commands_add_rules_one_at_a_time():
    """1.0 ran one iptables process per rule: -C then -I for the portal jumps, -C then -A
    for the rest."""
    st = _state(_svc("a", [{"port": 80}], clusterIP="10.96.0.10"))
    cmds = iptables_commands(compile_rules(st, "n1", {("default/a:", "tcp"): 40001}))
    assert cmds[:4] == tuple(f"iptables -t nat -N {c}" for c in (
        "KUBE-NODEPORT-CONTAINER", "KUBE-NODEPORT-HOST", "KUBE-PORTALS-CONTAINER", "KUBE-PORTALS-HOST"))
    assert cmds[5].startswith("iptables -t nat -I PREROUTING")
    assert cmds[7].startswith("iptables -t nat -A PREROUTING -m addrtype")
    assert len(cmds) == 4 + 2 * 6


def test_port_range_forms():
    """base-max and base+size; bad text names the field."""
    assert parse_port_range(" 30000-30009 ") == (30000, 30009)
    assert parse_port_range("30000+10") == (30000, 30009)
    with pytest.raises(SimError, match="kubeProxy.portRange"):
        parse_port_range("a-b")
    with pytest.raises(SimError, match="not a valid port range"):
        parse_port_range("40000-30000")


def test_allocation_is_deterministic_unique_and_in_range():
    """Same stream, same ports; every port distinct and inside the range."""
    keys = [(f"default/s{i}:", "tcp") for i in range(20)]
    a = allocate_proxy_ports(keys, (40000, 40029), np.random.default_rng(4))
    b = allocate_proxy_ports(keys, (40000, 40029), np.random.default_rng(4))
    assert a == b and len(set(a.values())) == 20
    assert all(40000 <= p <= 40029 for p in a.values())


def test_allocation_without_range_uses_the_ephemeral_range():
    """bind(0): a free port of net.ipv4.ip_local_port_range."""
    ports = allocate_proxy_ports([("default/a:", "tcp")], None, np.random.default_rng(1))
    assert 32768 <= ports[("default/a:", "tcp")] <= 60999


def test_allocation_keeps_taken_ports():
    """A service port whose configuration did not change keeps its port."""
    keys = [("default/a:", "tcp"), ("default/b:", "tcp")]
    ports = allocate_proxy_ports(keys, (40000, 40001), np.random.default_rng(1),
                                 taken={("default/a:", "tcp"): 40001})
    assert ports == {("default/a:", "tcp"): 40001, ("default/b:", "tcp"): 40000}


def test_full_range_is_an_error():
    """More service ports than the range holds: refused with the field named."""
    keys = [(f"default/s{i}:", "tcp") for i in range(3)]
    with pytest.raises(SimError, match=r'"40000-40001": no free proxy port .* \(3 service ports'):
        allocate_proxy_ports(keys, (40000, 40001), np.random.default_rng(1))



@given(n=st.integers(1, 40), lo=st.integers(1024, 60000), extra=st.integers(0, 20),
       seed=st.integers(0, 2**32 - 1))
def test_allocated_ports_are_distinct_and_in_range(n, lo, extra, seed):
    """Any number of service ports that fits the range gets distinct ports inside it."""
    hi = lo + n - 1 + extra
    keys = [(f"default/s{i}:", "tcp") for i in range(n)]
    ports = allocate_proxy_ports(keys, (lo, hi), np.random.default_rng(seed))
    assert len(set(ports.values())) == n and all(lo <= p <= hi for p in ports.values())


USERSPACE_SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios" / "userspace")
                             .glob("*.yaml"))
GOLDEN_USERSPACE = Path(__file__).resolve().parent / "golden_userspace"


@pytest.mark.parametrize("path", USERSPACE_SCENARIOS, ids=[p.stem for p in USERSPACE_SCENARIOS])
def test_userspace_mode_rules_match_golden(path):
    """Every node's portal rules in userspace mode (iptables-save form, proxy ports of the
    scenario's seed) equal the reviewed golden (regenerate with KUBE_NETSIM_REGEN=1)."""
    sc = with_mode(load_scenario(path), "userspace")
    state = sc.state()
    for node in state.nodes:
        text = userspace_rules(state, node.name, sc.seed, "save", False)
        _compare(GOLDEN_USERSPACE / f"{path.stem}__{node.name}.save", text)


def test_every_userspace_golden_belongs_to_a_scenario():
    """No userspace-mode golden is left over from a renamed scenario or node."""
    expected = {f"{p.stem}__{n.name}.save" for p in USERSPACE_SCENARIOS
                for n in load_scenario(p).state().nodes}
    assert sorted(p.name for p in GOLDEN_USERSPACE.iterdir()) == sorted(expected)
