"""Property tests of the nftables compiler over generated clusters (``strategies.clusters``).

Each test states one invariant. The transaction is loaded into the fake table
(``nft_fake.apply``, which itself refuses rules in undeclared chains, elements of undeclared
sets and duplicate elements); expected endpoint sets are re-derived from the generated objects
(``test_properties._expected``), not by the compiler's own categorisation.
"""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.kubeproxy.nftables import compile_nft, is_service_chain_name, sync_nft, transaction_stats
from sim.model import ClusterState, ServiceType, SessionAffinity, TrafficPolicy
from tests.kubeproxy import fixtures as fx
from tests.kubeproxy import nft_fake
from tests.kubeproxy.nft_fixtures import changed_services, nft_state
from tests.kubeproxy.strategies import CONDITIONS, NODE, clusters
from tests.kubeproxy.test_properties import _expected

TARGET = re.compile(r"\b(?:jump|goto) (\S+)")
SET_REF = re.compile(r"@(\S+)")
NUMGEN = re.compile(r"numgen random mod (\d+) vmap \{ (.*) \}$")


class View:
    """The fake table of one transaction: rule texts per chain, elements per set/map."""

    def __init__(self, table: nft_fake.FakeTable) -> None:
        self.table = table
        self.rules = {c: [r.split(" ", 5)[5] for r in rs] for c, rs in table.rules.items()}
        self.elements: dict[str, dict[str, str]] = {}
        for name, elems in table.elements.items():
            self.elements[name] = {}
            for key, line in elems.items():
                body = line.split("{", 1)[1].rsplit("}", 1)[0]
                self.elements[name][key] = body.split(" : ", 1)[1].strip() if " : " in body else ""
        self.base = {c for c, decl in table.chains.items() if " hook " in decl}

    def edges(self, chain: str) -> set[str]:
        out = set()
        for text in self.rules[chain]:
            out.update(TARGET.findall(text))
            m = re.search(r"vmap @(\S+)", text)
            if m:
                out.update(t for v in self.elements[m.group(1)].values() for t in TARGET.findall(v))
        return out


def _view(state: ClusterState, **kw) -> View:
    return View(nft_fake.apply(compile_nft(state, NODE, **kw)))


@given(clusters())
def test_every_target_and_set_reference_is_declared(state):
    """Every jump/goto (in rules, numgen maps and verdict-map elements) names a declared chain,
    and every ``@name`` a declared set or map."""
    v = _view(state)
    for chain, texts in v.rules.items():
        for text in texts:
            assert set(TARGET.findall(text)) <= set(v.rules), (chain, text)
            assert set(SET_REF.findall(text)) <= set(v.elements), (chain, text)
    for name, elems in v.elements.items():
        for value in elems.values():
            assert set(TARGET.findall(value)) <= set(v.rules), (name, value)


@given(clusters())
def test_every_service_chain_is_reachable_and_nonempty(state):
    """Each per-service chain is reached from a base chain through rules and verdict maps, and
    has at least one rule (a chain with only stale content would be a leak)."""
    v = _view(state)
    seen, todo = set(), list(v.base)
    while todo:
        c = todo.pop()
        if c not in seen:
            seen.add(c)
            todo.extend(v.edges(c))
    owned = {c for c in v.rules if is_service_chain_name(c)}
    assert owned <= seen, owned - seen
    assert all(v.rules[c] for c in owned)


def _endpoint_of(v: View, chain: str) -> str:
    dnat = [t for t in v.rules[chain] if " dnat to " in t]
    assert len(dnat) == 1
    return dnat[0].rsplit(" ", 1)[1]


def _dispatch(v: View, chain: str) -> list[str]:
    """The endpoints of the numgen rule ending ``chain``: index i of a mod-N map maps to one
    endpoint each, so each is chosen with probability exactly 1/N."""
    m = NUMGEN.search(v.rules[chain][-1])
    assert m, v.rules[chain]
    n = int(m.group(1))
    entries = [e.split(" : goto ") for e in m.group(2).split(" , ")]
    assert [int(i) for i, _ in entries] == list(range(n))
    return [_endpoint_of(v, target) for _, target in entries]


@given(clusters())
def test_numgen_gives_every_usable_endpoint_one_nth(state):
    """The cluster IP's verdict sends traffic to a chain whose numgen map has one entry per
    usable endpoint (ready, else serving+terminating; node-local ones for iTP Local): each
    endpoint exactly once of N, probability exactly 1/N."""
    v = _view(state)
    for svc, sp, usable, local, _has_any in _expected(state):
        want = local if svc.internal_traffic_policy == TrafficPolicy.LOCAL else usable
        key = f"{svc.cluster_ip} . {sp.protocol.lower} . {sp.port}"
        verdict = v.elements["service-ips"].get(key)
        if not want:
            assert verdict is None
            continue
        chain = verdict.removeprefix("goto ")
        assert sorted(_dispatch(v, chain)) == sorted(want)


@given(clusters())
def test_no_endpoint_verdict_exactly_when_no_usable_endpoint(state):
    """The cluster IP's key is in exactly one of ``service-ips`` and ``no-endpoint-services``;
    in the latter it rejects (goto reject-chain) iff the port has no usable endpoint anywhere,
    and drops iff it has some but none local under iTP Local."""
    v = _view(state)
    for svc, sp, _usable, local, has_any in _expected(state):
        key = f"{svc.cluster_ip} . {sp.protocol.lower} . {sp.port}"
        in_services = key in v.elements["service-ips"]
        no_ep = v.elements["no-endpoint-services"].get(key)
        assert in_services != (no_ep is not None)
        if not has_any:
            assert no_ep == "goto reject-chain"
        elif svc.internal_traffic_policy == TrafficPolicy.LOCAL and not local:
            assert no_ep == "drop"
        else:
            assert in_services


@given(clusters(), st.data())
def test_output_invariant_under_input_order(state, data):
    """Permuting nodes, services, ports, slices, endpoints and slice ports (with duplicated
    endpoints in a second slice) leaves the transaction byte-identical."""
    def perm(xs):
        return tuple(data.draw(st.permutations(xs)))

    def second_slice(sl):
        dups = data.draw(st.lists(st.sampled_from(sl.endpoints), min_size=1, unique=True)) if sl.endpoints else []
        eps = tuple(replace(ep, **dict(zip(("ready", "serving", "terminating"), data.draw(CONDITIONS))))
                    for ep in dups)
        return replace(sl, name=f"{sl.name}-b", endpoints=eps)

    state = replace(state, endpoint_slices=state.endpoint_slices
                    + tuple(second_slice(sl) for sl in state.endpoint_slices))
    other = replace(
        state, nodes=perm(state.nodes),
        services=perm([replace(s, ports=perm(s.ports)) for s in state.services]),
        endpoint_slices=perm([replace(sl, endpoints=perm(sl.endpoints), ports=perm(sl.ports))
                              for sl in state.endpoint_slices]))
    assert compile_nft(other, NODE).render() == compile_nft(state, NODE).render()


@settings(max_examples=30)
@given(st.integers(0, 12), st.integers(1, 12), st.integers(0, 5), st.booleans(), st.booleans())
def test_count_law_for_clusterip_services(s, e, s0, with_cidr, affinity):
    """Closed form for S ClusterIP services of E ready endpoints plus S0 without endpoints
    (one service CIDR, nodeport-addresses ``primary``):

    rules    = 23 + S * (m + 1 + (2 + 2a) * E)
    chains   = 16 + S * (1 + E)
    sets     = 2 + a * S * E,  maps = 5
    elements = 1 + 2 * (S + S0)

    23 fixed rules (11 base-chain jumps, mark-for-masquerade 1, masquerading 3,
    cluster-ips-check 2, reject-chain 1, the two endpoints-check and firewall-check lookups 3,
    services 2); per service a masquerade rule (m = 1 with a cluster CIDR), a ClientIP lookup
    per endpoint (a = 1 with affinity) and the numgen rule; per endpoint chain the hairpin
    mark, an affinity update (a) and the DNAT. 16 fixed chains (8 base); one service chain per
    service and one per endpoint. Elements: the node IP in nodeport-ips, each cluster IP in
    cluster-ips, and one service-ips (with endpoints) or no-endpoint-services (without) entry.
    The table's counts equal ``transaction_stats`` of the transaction. Adding services adds
    no rule to any fixed chain: the per-packet path is a map lookup.
    """
    services, slices = [], []
    for i in range(s + s0):
        kw = {"session_affinity": SessionAffinity.CLIENT_IP, "affinity_timeout_s": 10800} if affinity else {}
        services.append(fx.svc("ns", f"s{i:02d}", f"172.30.{i}.1", fx.port(80), type=ServiceType.CLUSTER_IP, **kw))
        if i < s:
            slices.append(fx.eps("ns", f"s{i:02d}", [fx.ep(f"10.{i}.0.{j + 1}") for j in range(e)]))
    state = nft_state(fx.state(services, slices))
    cfg = replace(state.kube_proxy, cluster_cidr="10.0.0.0/8" if with_cidr else "", node_port_addresses=())
    tx = compile_nft(state, fx.TEST_NODE, cfg)
    table = nft_fake.apply(tx)
    m, a = int(with_cidr), int(affinity)
    rules = sum(len(r) for r in table.rules.values())
    n_sets = sum(1 for d in table.sets.values() if d.startswith("add set"))
    elements = sum(len(x) for x in table.elements.values())
    assert rules == 23 + s * (m + 1 + (2 + 2 * a) * e)
    assert len(table.chains) == 16 + s * (1 + e)
    assert n_sets == 2 + a * s * e
    assert len(table.sets) - n_sets == 5
    assert elements == 1 + 2 * (s + s0)
    stats = transaction_stats(tx)
    assert (stats.rules, stats.chains, stats.sets, stats.maps, stats.elements) == (
        rules, len(table.chains), n_sets, 5, elements)
    assert sum(len(table.rules[c]) for c in table.rules if not is_service_chain_name(c)) == 23


@settings(max_examples=40)
@given(clusters(), clusters())
def test_partial_sync_converges_to_the_full_sync_table(first, second):
    """sync(A) then a partial sync(B) with B's changed services leaves the table a fresh
    sync(B) writes, plus only emptied stale chains; a sync more than a second later deletes
    those, and the tables are then equal. Element comments are left out of the comparison:
    upstream's ``ensureElem`` keeps an element whose verdict did not change, even when its
    comment (the port's name) did."""
    second = replace(second, kube_proxy=first.kube_proxy)
    one = sync_nft(first, NODE, now_s=0.0)
    table = nft_fake.apply(one.transaction)
    two = sync_nft(second, NODE, previous=one.state, changed_services=changed_services(first, second), now_s=1.0)
    nft_fake.apply(two.cleanup, table)
    nft_fake.apply(two.transaction, table)
    fresh = nft_fake.apply(compile_nft(second, NODE))
    extra = set(table.chains) - set(fresh.chains)
    assert extra == set(two.state.stale_chains)
    assert all(not table.rules[c] for c in extra)
    three = sync_nft(second, NODE, previous=two.state, changed_services=frozenset(), now_s=3.0)
    nft_fake.apply(three.cleanup, table)
    nft_fake.apply(three.transaction, table)
    assert _uncommented(table) == _uncommented(fresh)


def _uncommented(table: nft_fake.FakeTable) -> list[str]:
    return sorted(re.sub(r' comment "[^"]*"', "", ln) if ln.startswith("add element") else ln
                  for ln in nft_fake.dump(table).splitlines())
