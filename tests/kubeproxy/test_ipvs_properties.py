"""Properties of the IPVS compiler on random clusters (hypothesis)."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.iptables import apply_payload, parse_restore
from sim.kubeproxy.endpoints import categorize_endpoints, endpoints_by_port, service_ports
from sim.kubeproxy.ipvs import bootstrap_payload, compile_ipvs

from tests.kubeproxy.strategies import NODE, clusters


@given(state=clusters())
def test_every_cluster_ip_has_a_virtual_server_and_a_set_member(state) -> None:
    """Each service port's ClusterIP:port is a virtual server, a KUBE-CLUSTER-IP member and
    bound to kube-ipvs0."""
    r = compile_ipvs(state, NODE)
    vss = {(v.protocol, v.address, v.port) for v in r.ipvs.virtual_servers}
    members = set(r.ipset("KUBE-CLUSTER-IP").members)
    for svc in service_ports(state):
        assert (svc.protocol, svc.cluster_ip, svc.port) in vss
        assert f"{svc.cluster_ip},{svc.protocol}:{svc.port}" in members
        assert svc.cluster_ip in r.bound_addresses


@given(state=clusters())
def test_cluster_ip_real_servers_are_the_usable_endpoints(state) -> None:
    """The ClusterIP virtual server's real servers are the Cluster-policy endpoints (or the
    local ones for internalTrafficPolicy Local when there are some), all with weight 1."""
    r = compile_ipvs(state, NODE)
    by_vs = {(v.protocol, v.address, v.port): v for v in r.ipvs.virtual_servers}
    eps = endpoints_by_port(state, NODE)
    for svc in service_ports(state):
        cat = categorize_endpoints(eps.get(svc.key, []), svc)
        want = cat.local if svc.internal_policy_local and cat.local else cat.cluster
        got = by_vs[(svc.protocol, svc.cluster_ip, svc.port)].real_servers
        assert sorted((x.address, x.port) for x in got) == sorted((e.ip, e.port) for e in want)
        assert all(x.weight == 1 and x.forward == "m" for x in got)


@given(state=clusters(), data=st.data())
def test_output_is_invariant_under_input_order(state, data) -> None:
    """Shuffling services and EndpointSlices changes nothing in the output."""
    shuffled = dataclasses.replace(
        state, services=tuple(data.draw(st.permutations(state.services))),
        endpoint_slices=tuple(data.draw(st.permutations(state.endpoint_slices))))
    assert compile_ipvs(shuffled, NODE) == compile_ipvs(state, NODE)


@given(state=clusters())
def test_count_law(state) -> None:
    """Virtual servers = service ports x (1 + externalIPs + LB IPs) + NodePort ports x node
    addresses; the iptables rule count does not grow with the number of services (at most
    the fixed rules, whatever the cluster)."""
    r = compile_ipvs(state, NODE)
    ports = service_ports(state)
    node_ips = 2 if state.node(NODE).pod_cidr else 1  # InternalIP (+ the pod bridge)
    want = sum(1 + len(p.external_ips) + len(p.load_balancer_vips)
               + (node_ips if p.node_port and not state.kube_proxy.node_port_addresses else 0)
               for p in ports)
    if not state.kube_proxy.node_port_addresses:
        assert len(r.ipvs.virtual_servers) == want
    rules = sum(1 for t in r.payload.tables for line in t.lines if line.startswith("-A "))
    no_access = sum(1 for t in r.payload.tables for line in t.lines if "KUBE-IPVS-OUT-FILTER -s" in line)
    # nat: 24 rules at most (each ipset rule present), filter: 13, whatever the cluster.
    assert rules - no_access <= 37


@settings(max_examples=30)
@given(state=clusters())
def test_payload_applies_after_the_bootstrap(state) -> None:
    """The payload restores (``--noflush``) on top of the bootstrap jumps like
    iptables-restore would: no dangling jump, every chain declared."""
    base = apply_payload(bootstrap_payload(), noflush=True)
    text = compile_ipvs(state, NODE).payload.render()
    apply_payload(parse_restore(text, source="ipvs"), base, noflush=True)


@settings(max_examples=30)
@given(state=clusters())
def test_engine_lets_service_ports_in_and_rejects_other_ports_on_vips(state) -> None:
    """Through the engine with the compiled payload and sets: a new connection from outside to
    a ClusterIP:port reaches the node (where IPVS takes it), marked for masquerade; one to a
    port of that VIP that no Service uses is rejected by KUBE-IPVS-FILTER (issue 72236)."""
    import numpy as np

    from sim.model.packet import Packet
    from sim.netfilter import NodeNetfilter

    r = compile_ipvs(state, NODE)
    node_addrs = [a for a in (state.node(NODE).internal_ip,) if a]
    ruleset = apply_payload(r.payload, apply_payload(bootstrap_payload(), noflush=True), noflush=True)
    nf = NodeNetfilter(ruleset, node_addrs + list(r.bound_addresses), ipsets=r.ipsets)
    rng = np.random.default_rng(0)
    used = {(p.cluster_ip, p.protocol, p.port) for p in service_ports(state)}
    mark = 1 << state.kube_proxy.masquerade_bit
    node_ports = {(p.protocol, p.node_port) for p in service_ports(state) if p.node_port}
    for k, (vip, proto, port) in enumerate(sorted(used)):
        if proto == "sctp":
            continue
        res = nf.prerouting(Packet(proto, "203.0.113.9", vip, 20000 + k, port), float(k), rng,
                            in_iface="eth0")
        assert res.verdict.value == "ACCEPT" and res.local
        # KUBE-MARK-MASQ: masqueradeAll, or off-cluster sources with a cluster CIDR (the
        # "src,dst" form without one never matches an outside source), or a NodePort of the
        # same number (KUBE-NODE-PORT sees every local destination).
        cfg = state.kube_proxy
        marked = cfg.masquerade_all or bool(cfg.cluster_cidr) or (proto, port) in node_ports
        assert bool(res.packet.mark & mark) == marked
        other = next(q for q in range(1, 65536) if (vip, proto, q) not in used)
        res = nf.prerouting(Packet(proto, "203.0.113.9", vip, 30000 + k, other), float(k), rng,
                            in_iface="eth0")
        assert res.verdict.value == "REJECT"
