"""kube-proxy's compilers: cluster state -> the rules kube-proxy writes on one node.

Model
    :func:`~sim.kubeproxy.iptables.compile_rules` reproduces the iptables proxier of current
    upstream (``pkg/proxy/iptables/proxier.go`` ``syncProxyRules``): the filter + nat
    ``iptables-restore`` payload of a full sync, with chain names hashed as upstream hashes
    them (:mod:`sim.kubeproxy.hashing`), endpoints selected by ``CategorizeEndpoints``
    (:mod:`sim.kubeproxy.endpoints`) and every feature of the proxier (ClusterIP, NodePort,
    externalIPs, LoadBalancer VIPs and source ranges, both traffic policies, ClientIP affinity,
    masquerade mark / cluster CIDR / masquerade-all, terminating fallback, large-cluster mode,
    stale-chain deletion). Pure: no clock, RNG or I/O; services are visited in canonical order
    so equal input gives byte-identical text.
    :func:`~sim.kubeproxy.ipvs.compile_ipvs` reproduces the IPVS proxier
    (``pkg/proxy/ipvs/proxier.go``): its iptables payload, ipsets, ``kube-ipvs0`` addresses
    and IPVS virtual/real servers, from the same endpoint categorisation.
    :func:`~sim.kubeproxy.nftables.compile_nft` / :func:`~sim.kubeproxy.nftables.sync_nft`
    reproduce the nftables proxier (``pkg/proxy/nftables/proxier.go``, table layout of the
    newest ``proxier_test.go``): the ``nft -f`` transaction of a full or partial sync, over the
    same ``CategorizeEndpoints``.
    :func:`~sim.kubeproxy.userspace.compile_rules` gives the nat portal rules of Kubernetes
    1.0's userspace proxier (``pkg/proxy/proxier.go`` of that release) for proxy ports it is
    handed (:func:`~sim.kubeproxy.userspace.allocate_proxy_ports` draws them from a stream
    the caller owns); the proxy process itself lives in ``sim.world.userspace``.
Scope and limitations
    One sync's *full* payload: partial syncs (unchanged services omitted) are the sync loop's
    business (``sim.world``). Topology hints are not modelled. Local-traffic detection supports
    ``ClusterCIDR`` and ``NodeCIDR``. Whether nfacct counters exist is a parameter
    (``nfacct``), not detected. The IPVS compiler's own limits are in its module. nftables
    mode: partial syncs are modelled (only changed
    services' chains, element deltas, stale chains flushed then deleted a second later);
    ``--masquerade-all``'s rule text is inferred (see :mod:`sim.kubeproxy.nftables`).
Validation
    ``tests/kubeproxy/test_upstream_fixture.py`` compares our output, after upstream's own
    ``sortIPTablesRules``, with upstream's expected dumps; property tests check structural
    invariants and exact 1/n probabilities on generated clusters; the kernel test loads the
    payload with the real ``iptables-restore`` in a network namespace and compares
    ``iptables-save`` with our save rendering. IPVS mode: upstream's ``proxier_test.go`` cases
    (``tests/kubeproxy/test_ipvs_upstream.py``) and the kernel tests of ``tests/ipset``.
    nftables: ``tests/kubeproxy/test_nft_*``
    compare with upstream's ``TestOverallNFTablesRules`` and ``TestSyncProxyRulesRepeated``
    dumps through a knftables-Fake-like table and upstream's sort, check structural properties
    on generated clusters, and load every transaction with the real ``nft -f`` in a network
    namespace (the listing must equal the kernel's listing of our predicted table).
    userspace: ``tests/kubeproxy/test_userspace.py`` pins the rule text and order;
    ``tests/kernel/test_userspace_kernel.py`` loads the rules next to a real proxy socket.
"""

from sim.kubeproxy.hashing import (
    endpoint_chain_name,
    external_chain_name,
    firewall_chain_name,
    is_service_chain_name,
    local_chain_name,
    service_chain_name,
)
from sim.kubeproxy.iptables import TableStats, bootstrap_payload, compile_rules, rule_stats
from sim.kubeproxy.nftables import NFTProxierState, NFTSync, compile_nft, sync_nft

__all__ = [
    "NFTProxierState", "NFTSync", "compile_nft", "sync_nft",
    "TableStats", "bootstrap_payload", "compile_rules", "endpoint_chain_name",
    "external_chain_name", "firewall_chain_name", "is_service_chain_name", "local_chain_name",
    "rule_stats", "service_chain_name",
]
