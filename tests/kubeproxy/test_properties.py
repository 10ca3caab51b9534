"""Property tests of the iptables compiler over generated clusters (``strategies.clusters``).

Each test states one invariant; the expected endpoint sets are re-derived here from the
generated objects, not by calling the compiler's own ``categorize_endpoints``.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.iptables import MAX_CHAIN_NAME, apply_payload
from sim.kubeproxy.hashing import is_service_chain_name
from sim.kubeproxy.iptables import compile_rules
from sim.model import ClusterState, ServiceType, SessionAffinity, TrafficPolicy
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy import rulecheck as rc
from tests.kubeproxy.strategies import CONDITIONS, NODE, clusters

ROOTS = {
    "filter": {"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS",
               "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"},
    "nat": {"KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"},
}


def _views(state: ClusterState):
    return rc.read(compile_rules(state, NODE))


@given(clusters())
def test_every_jump_and_append_targets_a_declared_chain(state):
    """No rule jumps to, or is appended to, a chain the payload does not declare."""
    for name, view in _views(state).items():
        declared = set(view.chains) - view.deleted
        for chain, toks in view.rules:
            assert chain in declared, (name, chain)
            t = rc.target(toks)
            assert t is None or t in rc.STANDARD_TARGETS or t in declared, (name, chain, t)


@given(clusters())
def test_every_declared_chain_is_reachable_and_nonempty(state):
    """Each per-service chain is reached from a fixed kube-proxy chain, and every jumped-to
    chain has rules (upstream's checkIPTablesRuleJumps; KUBE-NODEPORTS may be empty)."""
    for name, view in _views(state).items():
        edges: dict[str, set[str]] = {}
        for chain, toks in view.rules:
            edges.setdefault(chain, set()).add(rc.target(toks))
        seen, todo = set(), list(ROOTS[name])
        while todo:
            c = todo.pop()
            if c in seen:
                continue
            seen.add(c)
            todo.extend(t for t in edges.get(c, ()) if t)
        live = set(view.chains) - view.deleted
        assert live - seen == set(), (name, live - seen)
        jumped = {t for ts in edges.values() for t in ts if t in live}
        assert {c for c in jumped if c not in edges} <= {"KUBE-NODEPORTS"}


@given(clusters())
def test_chain_names_unique_and_short(state):
    """Chain lines are unique per table and no name exceeds iptables' 28 characters."""
    for view in _views(state).values():
        assert len(view.chains) == len(set(view.chains))
        assert all(len(c) <= MAX_CHAIN_NAME for c in view.chains)


def _ready(e):
    return e.ready is None or e.ready


def _serving(e):
    return e.serving is None or e.serving


def _expected(state: ClusterState):
    """Per service port: (service, port, usable cluster eps, usable local eps, has any)."""
    slices = {(s.namespace, s.service_name): s for s in state.endpoint_slices}
    for svc in state.services:
        sl = slices.get((svc.namespace, svc.name))
        for sp in svc.ports:
            eps = []
            if sl is not None:
                for p in sl.ports:
                    if p.name == sp.name and p.protocol == sp.protocol:
                        eps = [(e, f"{e.addresses[0]}:{p.port}") for e in sl.endpoints]
            usable = [s for e, s in eps if _ready(e)] or [s for e, s in eps if _serving(e) and e.terminating]
            local = ([s for e, s in eps if _ready(e) and e.node_name == NODE]
                     or [s for e, s in eps if _serving(e) and e.terminating and e.node_name == NODE])
            has_any = any(_ready(e) or (_serving(e) and e.terminating) for e, _ in eps)
            yield svc, sp, usable, local, has_any


def _chain_for(view, svc, sp, kind: str) -> str | None:
    """Which KUBE-SVC/KUBE-SVL chain the KUBE-SERVICES clusterIP rule or EXT chain uses."""
    for toks in view.chain_rules("KUBE-SERVICES"):
        if rc.opt(toks, "-d") == svc.cluster_ip and rc.opt(toks, "--dport") == str(sp.port) \
                and rc.opt(toks, "-p") == sp.protocol.lower:
            t = rc.target(toks)
            return t if t.startswith(kind) else None
    return None


@given(clusters())
def test_probabilities_give_each_usable_endpoint_one_nth(state):
    """The statistic cascade of the clusterIP's chain reaches exactly the usable endpoints
    (ready, else serving+terminating; local ones for internalTrafficPolicy Local), each with
    probability 1/n up to the 10-decimal rounding of the emitted probabilities."""
    nat = _views(state)["nat"]
    for svc, sp, usable, local, has_any in _expected(state):
        itp_local = svc.internal_traffic_policy == TrafficPolicy.LOCAL
        want = local if itp_local else usable
        chain = _chain_for(nat, svc, sp, "KUBE-SVL-" if itp_local else "KUBE-SVC-")
        if not want:
            assert chain is None
            continue
        _assert_uniform(nat, chain, want)


def _assert_uniform(nat, chain: str, want: list[str]) -> None:
    dist = rc.dispatch_distribution(nat, chain)
    got = {rc.sep_destination(nat, sep): p for sep, p in dist.items()}
    assert sorted(got) == sorted(want)
    n = len(want)
    for p in got.values():
        assert abs(p - Fraction(1, n)) <= Fraction(n, 10**10)


@given(clusters())
def test_external_traffic_reaches_policy_endpoints_uniformly(state):
    """Traffic entering KUBE-EXT from outside ends in the external-policy chain: all usable
    endpoints (Cluster) or the node's usable local ones (Local), each with probability 1/n;
    with Local policy and none local, the EXT chain has no final jump."""
    nat = _views(state)["nat"]
    for svc, sp, usable, local, has_any in _expected(state):
        ext_chain = None
        for toks in nat.chain_rules("KUBE-SERVICES") + nat.chain_rules("KUBE-NODEPORTS"):
            t = rc.target(toks)
            if t and t.startswith("KUBE-EXT-") and rc.opt(toks, "-p") == sp.protocol.lower and (
                    rc.opt(toks, "--dport") in (str(sp.port), str(sp.node_port))) and (
                    rc.opt(toks, "-d") in svc.external_ips or rc.opt(toks, "-d") is None):
                ext_chain = t
        accessible = svc.type != ServiceType.CLUSTER_IP or bool(svc.external_ips)
        assert (ext_chain is not None) == (has_any and accessible)
        if ext_chain is None:
            continue
        last = rc.target(nat.chain_rules(ext_chain)[-1])
        want = local if svc.external_traffic_policy == TrafficPolicy.LOCAL else usable
        if not want:
            assert not last.startswith(("KUBE-SVC-", "KUBE-SVL-")) or "--src-type" in nat.chain_rules(ext_chain)[-1]
            continue
        _assert_uniform(nat, last, want)


@given(clusters())
def test_reject_exactly_when_no_usable_endpoint(state):
    """A filter REJECT for the cluster IP exists iff the service port has no ready and no
    serving-terminating endpoint anywhere; then it has no nat rules either."""
    views = _views(state)
    for svc, sp, _usable, _local, has_any in _expected(state):
        rejects = [t for t in views["filter"].chain_rules("KUBE-SERVICES")
                   if rc.opt(t, "-d") == svc.cluster_ip and rc.opt(t, "--dport") == str(sp.port)
                   and rc.target(t) == "REJECT"]
        assert bool(rejects) == (not has_any)
        if not has_any:
            assert all(rc.opt(t, "-d") != svc.cluster_ip for t in views["nat"].chain_rules("KUBE-SERVICES"))


@given(clusters(), st.data())
def test_output_invariant_under_input_order(state, data):
    """Permuting nodes, services, each service's ports, slices, and each slice's endpoints and
    ports leaves the text byte-identical (upstream iterates Go maps; we must sort). Each
    service gets a second slice repeating some of its endpoints with other conditions, so that
    which copy wins must not depend on slice order either."""
    def perm(xs):
        return tuple(data.draw(st.permutations(xs)))

    def second_slice(sl):
        dups = data.draw(st.lists(st.sampled_from(sl.endpoints), min_size=1, unique=True)) if sl.endpoints else []
        eps = tuple(replace(ep, **dict(zip(("ready", "serving", "terminating"), data.draw(CONDITIONS))))
                    for ep in dups)
        return replace(sl, name=f"{sl.name}-b", endpoints=eps)

    extra = tuple(second_slice(sl) for sl in state.endpoint_slices)
    state = replace(state, endpoint_slices=state.endpoint_slices + extra)
    other = replace(
        state,
        nodes=perm(state.nodes),
        services=perm([replace(s, ports=perm(s.ports)) for s in state.services]),
        endpoint_slices=perm([replace(sl, endpoints=perm(sl.endpoints), ports=perm(sl.ports))
                              for sl in state.endpoint_slices]),
    )
    assert compile_rules(other, NODE).render() == compile_rules(state, NODE).render()


@settings(max_examples=30)
@given(st.integers(0, 12), st.integers(1, 12), st.integers(0, 5), st.booleans(), st.booleans())
def test_rule_count_law_for_clusterip_services(s, e, s0, with_cidr, affinity):
    """Closed form for S ClusterIP services of E ready endpoints plus S0 without endpoints:

    nat = 5 + S * (1 + m + (3 + a) * E), where the 5 fixed rules are KUBE-POSTROUTING
    (3), KUBE-MARK-MASQ (1) and the final KUBE-SERVICES -> KUBE-NODEPORTS rule; per service one
    KUBE-SERVICES rule, m = 1 masquerade rule when a cluster CIDR is set, E dispatch rules, E
    more (a = 1) with ClientIP affinity, and 2 rules per KUBE-SEP. With a CIDR and no affinity this is
    upstream's pinned 5 + S * (2 + 3E). filter = 4 + S0 (KUBE-FIREWALL, three KUBE-FORWARD,
    one REJECT per service without endpoints).
    """
    services, slices = [], []
    for i in range(s + s0):
        kw = {"session_affinity": SessionAffinity.CLIENT_IP, "affinity_timeout_s": 10800} if affinity else {}
        services.append(fx.svc("ns", f"s{i:02d}", f"172.30.{i}.1", fx.port(80), type=ServiceType.CLUSTER_IP, **kw))
        if i < s:
            slices.append(fx.eps("ns", f"s{i:02d}", [fx.ep(f"10.{i}.0.{j + 1}") for j in range(e)]))
    cfg = replace(fx.FAKE_PROXY_CONFIG, cluster_cidr="10.0.0.0/8" if with_cidr else "")
    payload = compile_rules(fx.state(services, slices, cfg), fx.TEST_NODE)
    m = 1 if with_cidr else 0
    a = 1 if affinity else 0
    nat = [ln for ln in payload.table("nat").lines if ln.startswith("-A ")]
    filt = [ln for ln in payload.table("filter").lines if ln.startswith("-A ")]
    assert len(nat) == 5 + s * (1 + m + (3 + a) * e)
    if with_cidr and not affinity:
        assert len(nat) == 5 + s * (2 + 3 * e)
    assert len(filt) == 4 + s0


@settings(max_examples=30)
@given(clusters(), clusters())
def test_successive_syncs_leave_no_stale_chains(first, second):
    """Applying sync(A) then sync(B, existing_nat_chains = nat chains after A) with --noflush
    semantics leaves exactly B's per-service chains in the nat table, with B's rules."""
    p1 = compile_rules(first, NODE)
    node = apply_payload(p1, None, noflush=True)
    existing = frozenset(node.tables["nat"].chains)
    p2 = compile_rules(second, NODE, existing_nat_chains=existing)
    node = apply_payload(p2, node, noflush=True)
    fresh = apply_payload(compile_rules(second, NODE), None, noflush=True)
    owned = {c for c in node.tables["nat"].chains if is_service_chain_name(c)}
    assert owned == {c for c in fresh.tables["nat"].chains if is_service_chain_name(c)}
    for table in ("nat", "filter"):
        for name, chain in fresh.tables[table].chains.items():
            assert [r.text for r in node.tables[table].chains[name].rules] == [r.text for r in chain.rules]


@settings(max_examples=40)
@given(clusters(), clusters())
def test_partial_sync_converges_to_full_sync(first, second_raw):
    """Full sync of A, then a partial sync to B naming only the services whose Service or
    EndpointSlices differ, leaves the node exactly as a full sync of B (with stale cleanup)."""
    second = replace(second_raw, kube_proxy=first.kube_proxy, nodes=first.nodes)

    def view(state):
        slices = {}
        for sl in state.endpoint_slices:
            slices.setdefault(f"{sl.namespace}/{sl.service_name}", []).append(sl)
        return {s.key: (s, tuple(slices.get(s.key, ()))) for s in state.services} | {
            k: (None, tuple(v)) for k, v in slices.items() if k not in {s.key for s in state.services}}

    a, b = view(first), view(second)
    changed = frozenset(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    node = apply_payload(compile_rules(first, NODE), None, noflush=True)
    existing = frozenset(node.tables["nat"].chains)
    partial = apply_payload(compile_rules(second, NODE, existing_nat_chains=existing,
                                          changed_services=changed), node, noflush=True)
    full = apply_payload(compile_rules(second, NODE, existing_nat_chains=existing), node, noflush=True)
    for table in ("nat", "filter"):
        assert list(partial.tables[table].chains) == list(full.tables[table].chains)
        for name, chain in full.tables[table].chains.items():
            assert [r.text for r in partial.tables[table].chains[name].rules] == [r.text for r in chain.rules]


# Rows of upstream's TestNumberIptablesRules (number_generated_rules_test.go, ClusterIP cases):
# (services, endpoints per service, filter rules, nat rules). That version predates kube-proxy's
# own KUBE-FIREWALL rule, so localhost NodePorts (which add it) are off here.
NUMBER_IPTABLES_RULES = [(0, 0, 3, 5), (1, 0, 4, 5), (1, 1, 3, 10), (1, 2, 3, 13), (1, 10, 3, 37),
                         (10, 0, 13, 5), (10, 1, 3, 55), (10, 2, 3, 85), (10, 10, 3, 325)]


def test_upstream_number_of_generated_rules():
    """Our rule counts equal upstream's pinned TestNumberIptablesRules counts (ClusterIP)."""
    cfg = replace(fx.FAKE_PROXY_CONFIG, localhost_node_ports=False)
    for services, eps, want_filter, want_nat in NUMBER_IPTABLES_RULES:
        svcs = [fx.svc("namespace", f"svc{i}", f"10.0.0.{i + 1}", fx.port(80 + i, name="8080"))
                for i in range(services)]
        slices = [fx.eps("namespace", f"svc{i}", [fx.ep(f"172.16.0.{j + 1}") for j in range(eps)],
                         port_number=8080, port_name="8080") for i in range(services)]
        payload = compile_rules(fx.state(svcs, slices, cfg), fx.TEST_NODE)
        got = (sum(ln.startswith("-A ") for ln in payload.table("filter").lines),
               sum(ln.startswith("-A ") for ln in payload.table("nat").lines))
        assert got == (want_filter, want_nat), (services, eps)
