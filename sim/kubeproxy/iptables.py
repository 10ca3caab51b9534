"""The iptables-mode compiler: what kube-proxy's ``syncProxyRules`` writes on one node.

Models ``pkg/proxy/iptables/proxier.go`` (``syncProxyRules``, ``writeServiceToEndpointRules``)
of current upstream: the filter and nat restore payload of a *full* sync, written line by line
in upstream's write order, with service ports visited in canonical order
(:attr:`~sim.kubeproxy.endpoints.ServicePortInfo.sort_key`) instead of Go map order so the same
input always gives byte-identical text. Upstream's unit tests canonicalise with
``sortIPTablesRules``; our output sorted that way equals upstream's expected dumps
(``tests/kubeproxy/test_upstream_fixture.py``).

The jump rules from the built-in chains (PREROUTING -> KUBE-SERVICES, ...) are not part of the
restore payload upstream (``EnsureRule`` on full syncs); :func:`bootstrap_payload` gives them.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from functools import lru_cache

from sim.iptables import ChainDecl, Payload, TablePayload
from sim.kubeproxy.endpoints import (
    EndpointInfo,
    ServicePortInfo,
    categorize_endpoints,
    endpoints_by_port,
    service_ports,
)
from sim.kubeproxy.hashing import (
    endpoint_chain_names,
    is_service_chain_name,
    port_proto_hash,
)
from sim.model import ClusterState, KubeProxyConfig
from sim.model.errors import SimError, quote
from sim.model.ip import ip_in_cidr, parse_cidr, parse_ip

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_FIREWALL = "KUBE-FIREWALL"
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"

# largeClusterEndpointsThreshold: above this many endpoints the SEP and SVC/SVL endpoint rules
# lose their comments.
LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000

# Counter names kube-proxy creates with nfacct (pkg/proxy/metrics).
NFACCT_LOCALHOST_NODEPORTS = "localhost_nps_accepted_pkts"
NFACCT_CT_INVALID = "ct_state_invalid_dropped_pkts"

_FILTER_FIXED = (KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL)
_NAT_FIXED = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)
_NODEPORTS_COMMENT = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"'

# iptablesJumpChains + iptablesKubeletJumpChains: (table, built-in chain, extra args, comment,
# target). EnsureRule(Prepend, ...) on a clean host leaves each built-in chain in the reverse
# of this order.
JUMP_CHAINS: tuple[tuple[str, str, str, str, str], ...] = (
    ("filter", "INPUT", "-m conntrack --ctstate NEW", "kubernetes externally-visible service portals", KUBE_EXTERNAL_SERVICES),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes externally-visible service portals", KUBE_EXTERNAL_SERVICES),
    ("filter", "INPUT", "", "kubernetes health check service ports", KUBE_NODEPORTS),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes service portals", KUBE_SERVICES),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes service portals", KUBE_SERVICES),
    ("filter", "FORWARD", "", "kubernetes forwarding rules", KUBE_FORWARD),
    ("filter", "INPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    ("nat", "OUTPUT", "", "kubernetes service portals", KUBE_SERVICES),
    ("nat", "PREROUTING", "", "kubernetes service portals", KUBE_SERVICES),
    ("nat", "POSTROUTING", "", "kubernetes postrouting rules", KUBE_POSTROUTING),
    ("filter", "INPUT", "", "", KUBE_FIREWALL),
    ("filter", "OUTPUT", "", "", KUBE_FIREWALL),
)


@lru_cache(maxsize=4096)
def probability(n: int) -> str:
    """``computeProbability``: ``1/n`` with 10 decimals (``fmt.Sprintf("%0.10f")``).

    >>> probability(3), probability(100001)
    ('0.3333333333', '0.0000099999')
    """
    return "%0.10f" % (1.0 / n)


def _quote(comment: str) -> str:
    # kube-proxy writes comments with spaces in literal double quotes and space-free ones bare.
    return f'"{comment}"' if " " in comment else comment


@dataclass(frozen=True, slots=True)
class _Detector:
    """``LocalTrafficDetector``: ``if_local`` / ``if_not_local`` argument strings or "" (no-op)."""

    if_local: str = ""
    if_not_local: str = ""

    @property
    def implemented(self) -> bool:
        return bool(self.if_local)


def _family_of_cidr(text: str) -> str:
    return "IPv6" if parse_cidr(text).version == 6 else "IPv4"


def _local_detector(cfg: KubeProxyConfig, state: ClusterState, node_name: str, family: str) -> _Detector:
    # cmd/kube-proxy/app/server_linux.go getLocalDetectors: the CIDR(s) of the proxier's family.
    mode = cfg.detect_local_mode or "ClusterCIDR"
    if mode == "ClusterCIDR":
        cidrs = [c.strip() for c in cfg.cluster_cidr.split(",") if c.strip()]
    elif mode == "NodeCIDR":
        node = state.node(node_name)
        cidrs = list(node.pod_cidrs or ((node.pod_cidr,) if node.pod_cidr else ())) if node else []
    else:
        raise SimError(f"kubeProxy.detectLocalMode: Unsupported value: {quote(mode)}: the simulator "
                       "models ClusterCIDR and NodeCIDR")
    for cidr in cidrs:
        try:
            fam = _family_of_cidr(cidr)
        except ValueError as exc:
            raise SimError(f"kubeProxy.clusterCIDR: Invalid value: {quote(cidr)}: {exc}") from None
        if fam == family:
            return _Detector(f"-s {cidr}", f"! -s {cidr}")
    return _Detector()


def _node_ips(state: ClusterState, node_name: str, family: str) -> list[str]:
    """The node's interface addresses: its status addresses plus loopback."""
    node = state.node(node_name)
    ips = list(node.ips) if node else []
    ips.append("127.0.0.1" if family == "IPv4" else "::1")
    return [ip for ip in ips if (parse_ip(ip).version == 6) == (family == "IPv6")]


def _nodeport_addresses(cfg: KubeProxyConfig, state: ClusterState, node_name: str, family: str):
    """``NodePortAddresses``: (match_all, contains_ipv4_loopback, matched node IPs).

    ``primary`` stands for the node's primary IP (``--nodeport-addresses primary``).
    """
    node = state.node(node_name)
    cidrs: list[str] = []
    for raw in cfg.node_port_addresses:
        if raw == "primary":
            if node and node.internal_ip:
                ip = parse_ip(node.internal_ip)
                cidrs.append(f"{ip}/{ip.max_prefixlen}")
            continue
        try:
            if _family_of_cidr(raw) == family:
                cidrs.append(raw.strip())
        except ValueError:
            raise SimError(f"kubeProxy.nodePortAddresses: Invalid value: {quote(raw)}") from None
    if not cidrs:
        cidrs = ["0.0.0.0/0" if family == "IPv4" else "::/0"]
    contains_loopback = False
    for c in cidrs:
        net = parse_cidr(c)
        if net.version == 4 and (net.network_address.is_loopback or parse_ip("127.0.0.1") in net):
            contains_loopback = True
        if net.prefixlen == 0:
            return True, contains_loopback, []
    matched = sorted(
        {ip for ip in _node_ips(state, node_name, family) for c in cidrs if ip_in_cidr(ip, c)},
        key=lambda ip: int(parse_ip(ip)),
    )
    return False, contains_loopback, matched


def compile_rules(
    state: ClusterState,
    node_name: str,
    config: KubeProxyConfig | None = None,
    *,
    existing_nat_chains: frozenset[str] = frozenset(),
    ip_family: str = "IPv4",
    nfacct: bool = False,
    changed_services: frozenset[str] | None = None,
) -> Payload:
    """The restore payload kube-proxy (iptables mode) writes on ``node_name`` in a full sync.

    Parameters
    ----------
    state
        The cluster snapshot.
    node_name
        The node kube-proxy runs on (decides which endpoints are local).
    config
        kube-proxy configuration; defaults to ``state.kube_proxy``.
    existing_nat_chains
        Names of the chains currently in the node's nat table. Every one that kube-proxy owns
        (``KUBE-SVC-``/``SVL-``/``EXT-``/``FW-``/``SEP-``) and does not use any more gets a chain
        line and ``-X`` (stale-chain deletion). The sync loop passes the previous payload's chains.
    ip_family
        ``IPv4`` or ``IPv6``: the single-stack proxier's family.
    nfacct
        Whether the nfacct counters kube-proxy creates exist on the node; then the localhost
        NodePort and INVALID-drop rules carry ``-m nfacct`` as upstream writes them.
    changed_services
        ``None`` for a full sync. Otherwise a partial sync: the ``namespace/name`` of the
        services whose Service or EndpointSlices changed since the last sync; the
        KUBE-SVC/SVL/EXT/FW/SEP chains of every other service are left out of the payload
        (they stay as they are in the kernel and are not treated as stale). The filter table,
        KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING and KUBE-MARK-MASQ are always written.

    Returns
    -------
    Payload
        ``*filter`` then ``*nat``, exactly as ``iptables-restore --noflush`` reads them.
    """
    # The build allocates ~10 objects per endpoint that all survive until the payload is
    # returned; generational GC passes over them cost ~20% of the run and reclaim nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(state, node_name, config, existing_nat_chains, ip_family, nfacct,
                        changed_services)
    finally:
        if gc_was_enabled:
            gc.enable()


def _compile(state: ClusterState, node_name: str, config: KubeProxyConfig | None,
             existing_nat_chains: frozenset[str], ip_family: str, nfacct: bool,
             changed_services: frozenset[str] | None) -> Payload:
    cfg = config if config is not None else state.kube_proxy
    is_v6 = ip_family == "IPv6"
    mark = cfg.masquerade_mark
    detector = _local_detector(cfg, state, node_name, ip_family)
    match_all, contains_loopback, np_ips = _nodeport_addresses(cfg, state, node_name, ip_family)
    # NewProxier: localhost NodePorts are disabled unless nodePortAddresses contains 127.0.0.1.
    localhost_nodeports = cfg.localhost_node_ports and contains_loopback and not is_v6
    node = state.node(node_name)
    node_ip = node.internal_ip if node else ""

    ports = service_ports(state, ip_family)
    eps_map = endpoints_by_port(state, node_name, ip_family)
    total_endpoints = sum(len(eps_map.get(p.key, ())) for p in ports)
    cats = [categorize_endpoints(eps_map.get(svc.key, []), svc) for svc in ports]
    # Every KUBE-SEP name of the sync in one call, so that the uncached ones (all of them on a
    # first sync) are hashed in one batch; sep_names[offsets[i]:offsets[i + 1]] belong to ports[i].
    sep_names = endpoint_chain_names(
        [svc.spn + svc.protocol + ep.endpoint for svc, cat in zip(ports, cats) for ep in cat.all_reachable])
    offsets = [0]
    for cat in cats:
        offsets.append(offsets[-1] + len(cat.all_reachable))
    large = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD

    filter_chains = list(_FILTER_FIXED)
    filter_rules: list[str] = []
    nat_chains = list(_NAT_FIXED)
    nat_rules: list[str] = [
        f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN",
        f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}",
        f'-A {KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE'
        + (" --random-fully" if cfg.masquerade_random_fully else ""),
        f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}",
    ]
    if not is_v6 and localhost_nodeports:
        filter_chains.append(KUBE_FIREWALL)
        filter_rules.append(
            f'-A {KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" '
            "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
        )

    active: set[str] = set()
    nat_append = nat_rules.append
    chain_append = nat_chains.append
    filter_append = filter_rules.append
    nodeport_nfacct = localhost_nodeports and nfacct

    for index, (svc, cat) in enumerate(zip(ports, cats)):
        spn = svc.spn
        proto = svc.protocol
        h = port_proto_hash(spn, proto)
        svc_chain = "KUBE-SVC-" + h
        svl_chain = "KUBE-SVL-" + h
        ext_chain = "KUBE-EXT-" + h
        fw_chain = "KUBE-FW-" + h
        has_any = cat.has_any
        uses_cluster_chain = bool(cat.cluster) and svc.uses_cluster_endpoints
        uses_local_chain = bool(cat.local) and svc.uses_local_endpoints

        internal_chain = svc_chain
        has_internal = has_any
        if svc.internal_policy_local:
            internal_chain = svl_chain
            has_internal = has_any and bool(cat.local)
        external_policy_chain = svc_chain
        has_external = has_any
        if svc.external_policy_local:
            external_policy_chain = svl_chain
            has_external = has_any and bool(cat.local)
        uses_ext = has_any and svc.externally_accessible
        vips = svc.load_balancer_vips
        uses_fw = has_any and bool(vips) and bool(svc.source_ranges)
        lb_target = fw_chain if uses_fw else ext_chain

        if not has_any:
            int_target = ext_target = "REJECT"
            int_comment = ext_comment = f'"{spn} has no endpoints"'
        else:
            int_target = ext_target = ""
            int_comment = ext_comment = ""
            if not has_internal:
                int_target, int_comment = "DROP", f'"{spn} has no local endpoints"'
            if not has_external:
                ext_target, ext_comment = "DROP", f'"{spn} has no local endpoints"'

        pp = f"-m {proto} -p {proto}"
        dport = f"--dport {svc.port}"
        cluster_match = f"{pp} -d {svc.cluster_ip} {dport}"
        if has_internal:
            nat_append(f'-A {KUBE_SERVICES} -m comment --comment "{spn} cluster IP" {cluster_match} -j {internal_chain}')
        else:
            filter_append(f"-A {KUBE_SERVICES} -m comment --comment {int_comment} {cluster_match} -j {int_target}")

        for ext_ip in svc.external_ips:
            if has_any:
                nat_append(f'-A {KUBE_SERVICES} -m comment --comment "{spn} external IP" {pp} -d {ext_ip} {dport} -j {ext_chain}')
            if not has_external:
                filter_append(f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {ext_comment} {pp} -d {ext_ip} {dport} -j {ext_target}")

        for vip in vips:
            if has_any:
                nat_append(f'-A {KUBE_SERVICES} -m comment --comment "{spn} loadbalancer IP" {pp} -d {vip} {dport} -j {lb_target}')
            if uses_fw:
                filter_append(
                    f'-A {KUBE_PROXY_FIREWALL} -m comment --comment "{spn} traffic not accepted by {fw_chain}" '
                    f"{pp} -d {vip} {dport} -j DROP"
                )
        if not has_external:
            for vip in vips:
                filter_append(f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {ext_comment} {pp} -d {vip} {dport} -j {ext_target}")

        if svc.node_port:
            if has_any:
                if nodeport_nfacct:
                    nat_append(
                        f"-A {KUBE_NODEPORTS} -m comment --comment {spn} {pp} -d 127.0.0.0/8 --dport {svc.node_port} "
                        f"-m nfacct --nfacct-name {NFACCT_LOCALHOST_NODEPORTS} -j {ext_chain}"
                    )
                nat_append(f"-A {KUBE_NODEPORTS} -m comment --comment {spn} {pp} --dport {svc.node_port} -j {ext_chain}")
            if not has_external:
                filter_append(
                    f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {ext_comment} -m addrtype --dst-type LOCAL "
                    f"{pp} --dport {svc.node_port} -j {ext_target}"
                )

        if svc.health_check_node_port:
            filter_append(
                f'-A {KUBE_NODEPORTS} -m comment --comment "{spn} health check node port" '
                f"-m tcp -p tcp --dport {svc.health_check_node_port} -j ACCEPT"
            )

        # Partial sync (upstream: unchanged services' chains go to skippedNatChains/Rules): the
        # per-service chains are computed, and count as active, but are not written.
        if changed_services is None or f"{svc.namespace}/{svc.name}" in changed_services:
            rule, decl = nat_append, chain_append
        else:
            rule, decl = _discard, _discard

        if has_internal:
            if cfg.masquerade_all:
                rule(f'-A {internal_chain} -m comment --comment "{spn} cluster IP" {cluster_match} -j {KUBE_MARK_MASQ}')
            elif detector.implemented:
                rule(
                    f'-A {internal_chain} -m comment --comment "{spn} cluster IP" {cluster_match} '
                    f"{detector.if_not_local} -j {KUBE_MARK_MASQ}"
                )

        if uses_ext:
            decl(ext_chain)
            active.add(ext_chain)
            if not svc.external_policy_local:
                rule(f'-A {ext_chain} -m comment --comment "masquerade traffic for {spn} external destinations" -j {KUBE_MARK_MASQ}')
            else:
                if detector.implemented:
                    rule(
                        f'-A {ext_chain} -m comment --comment "pod traffic for {spn} external destinations" '
                        f"{detector.if_local} -j {svc_chain}"
                    )
                rule(
                    f'-A {ext_chain} -m comment --comment "masquerade LOCAL traffic for {spn} external destinations" '
                    f"-m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}"
                )
                rule(
                    f'-A {ext_chain} -m comment --comment "route LOCAL traffic for {spn} external destinations" '
                    f"-m addrtype --src-type LOCAL -j {svc_chain}"
                )
            if has_external:
                rule(f"-A {ext_chain} -j {external_policy_chain}")

        if uses_fw:
            decl(fw_chain)
            active.add(fw_chain)
            head = f'-A {fw_chain} -m comment --comment "{spn} loadbalancer IP"'
            allow_from_node = False
            for cidr in svc.source_ranges:
                rule(f"{head} -s {cidr} -j {ext_chain}")
                if node_ip and ip_in_cidr(node_ip, cidr):
                    allow_from_node = True
            if allow_from_node:
                for vip in vips:
                    rule(f"{head} -s {vip} -j {ext_chain}")
            rule(f'-A {fw_chain} -m comment --comment "other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL"')

        # The KUBE-SEP names are shared by the dispatch rules and the endpoint chains;
        # all_reachable is the union of the cluster and local sets (CategorizeEndpoints'
        # allReachableEndpoints).
        reachable = cat.all_reachable
        seps = sep_names[offsets[index]:offsets[index + 1]]
        if uses_cluster_chain:
            decl(svc_chain)
            active.add(svc_chain)
            _write_dispatch(rule, spn, svc, svc_chain, cat.cluster, _names_of(cat.cluster, reachable, seps), large)
        if uses_local_chain:
            decl(svl_chain)
            active.add(svl_chain)
            _write_dispatch(rule, spn, svc, svl_chain, cat.local, _names_of(cat.local, reachable, seps), large)

        if decl is chain_append:
            nat_chains.extend(seps)
        active.update(seps)
        sep_comment = "" if large else f" -m comment --comment {spn}"
        if svc.affinity_timeout_s:
            for ep, sep in zip(reachable, seps):
                rule(f"-A {sep}{sep_comment} -s {ep.ip} -j {KUBE_MARK_MASQ}")
                rule(f"-A {sep}{sep_comment} -m recent --name {sep} --set {pp} -j DNAT --to-destination {ep.endpoint}")
        else:
            dnat_tail = f"{sep_comment} {pp} -j DNAT --to-destination "
            for ep, sep in zip(reachable, seps):
                rule(f"-A {sep}{sep_comment} -s {ep.ip} -j {KUBE_MARK_MASQ}")
                rule(f"-A {sep}{dnat_tail}{ep.endpoint}")

    for chain in sorted(c for c in existing_nat_chains if is_service_chain_name(c) and c not in active):
        chain_append(chain)
        nat_append(f"-X {chain}")

    if match_all:
        dest = "-m addrtype --dst-type LOCAL"
        if is_v6:
            dest += " ! -d ::1/128"
        elif not localhost_nodeports:
            dest += " ! -d 127.0.0.0/8"
        nat_append(f"-A {KUBE_SERVICES} -m comment --comment {_NODEPORTS_COMMENT} {dest} -j {KUBE_NODEPORTS}")
    else:
        for ip in np_ips:
            if parse_ip(ip).is_loopback and (is_v6 or not localhost_nodeports):
                continue  # upstream logs an error and skips it
            nat_append(f"-A {KUBE_SERVICES} -m comment --comment {_NODEPORTS_COMMENT} -d {ip} -j {KUBE_NODEPORTS}")

    if not cfg.conntrack.tcp_be_liberal:
        acct = f" -m nfacct --nfacct-name {NFACCT_CT_INVALID}" if nfacct else ""
        filter_rules.append(f"-A {KUBE_FORWARD} -m conntrack --ctstate INVALID{acct} -j DROP")
    filter_rules.append(
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark {mark}/{mark} -j ACCEPT'
    )
    filter_rules.append(
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    )

    return Payload((
        TablePayload("filter", tuple(map(_decl, filter_chains)), tuple(filter_rules)),
        TablePayload("nat", tuple(map(_decl, nat_chains)), tuple(nat_rules)),
    ))


def _discard(_line: str) -> None:
    """Sink for the lines of services a partial sync does not rewrite."""


@lru_cache(maxsize=1 << 18)
def _decl(name: str) -> ChainDecl:
    return ChainDecl(name)


def _names_of(endpoints: tuple[EndpointInfo, ...], reachable: tuple[EndpointInfo, ...],
              seps: list[str]) -> list[str]:
    """The KUBE-SEP names of ``endpoints``, a subset of ``reachable`` whose names are ``seps``."""
    if endpoints is reachable:
        return seps
    by_endpoint = dict(zip([ep.endpoint for ep in reachable], seps))
    return [by_endpoint[ep.endpoint] for ep in endpoints]


def _write_dispatch(nat_append, spn: str, svc: ServicePortInfo, chain: str,
                    endpoints: tuple[EndpointInfo, ...], seps: list[str], large: bool) -> None:
    """``writeServiceToEndpointRules``: affinity checks first, then the probability cascade.

    ``seps`` are the KUBE-SEP names of ``endpoints``, in the same order.
    """
    head = f"-A {chain}"
    if large:
        comments = [head] * len(endpoints)
    else:
        comments = [f'{head} -m comment --comment "{spn} -> {ep.endpoint}"' for ep in endpoints]
    if svc.affinity_timeout_s:
        check = f" --rcheck --seconds {svc.affinity_timeout_s} --reap -j "
        for comment, sep in zip(comments, seps):
            nat_append(f"{comment} -m recent --name {sep}{check}{sep}")
    n = len(endpoints)
    for i in range(n - 1):
        nat_append(f"{comments[i]} -m statistic --mode random --probability {probability(n - i)} -j {seps[i]}")
    if n:
        nat_append(f"{comments[-1]} -j {seps[-1]}")


def bootstrap_payload(config: KubeProxyConfig | None = None, *, canary: bool = False) -> Payload:
    """The jump rules kube-proxy ensures in the built-in chains, as they stand on a clean host.

    Upstream runs ``EnsureChain`` + ``EnsureRule(Prepend, ...)`` for each entry of
    ``iptablesJumpChains`` and ``iptablesKubeletJumpChains`` on every full sync; prepending
    leaves each built-in chain in the reverse of the list order. Load this (with ``--noflush``)
    before the first :func:`compile_rules` payload. ``config`` is accepted so callers can pass
    the proxier's configuration; in current upstream the jumps do not depend on it (the
    KUBE-FIREWALL jumps are ensured even when that chain stays empty). ``canary`` adds the empty
    ``KUBE-PROXY-CANARY`` chains that ``ipt.Monitor`` creates in mangle, nat and filter (they
    show in a real node's ``iptables-save``; no rule jumps to them).
    """
    del config
    tables: dict[str, tuple[list[str], list[str]]] = {"filter": ([], []), "nat": ([], [])}
    for table, builtin, extra, comment, target in reversed(JUMP_CHAINS):
        chains, lines = tables[table]
        if target not in chains:
            chains.append(target)
        args = " ".join(a for a in (extra, f'-m comment --comment "{comment}"' if comment else "") if a)
        lines.append(f"-A {builtin} {args} -j {target}" if args else f"-A {builtin} -j {target}")
    out = []
    if canary:
        out.append(TablePayload("mangle", (ChainDecl(KUBE_PROXY_CANARY),), ()))
    for name in ("filter", "nat"):
        chains, lines = tables[name]
        if canary:
            chains.append(KUBE_PROXY_CANARY)
        # Group by built-in chain, keeping each chain's (reversed) order.
        ordered = sorted(lines, key=lambda line: line.split(" ", 2)[1])
        out.append(TablePayload(name, tuple(ChainDecl(c) for c in sorted(chains)), tuple(ordered)))
    return Payload(tuple(out))


@dataclass(frozen=True, slots=True)
class TableStats:
    """Counts for one table of a payload."""

    table: str
    chains: int
    rules: int
    deleted_chains: int
    chains_by_prefix: tuple[tuple[str, int], ...]


def rule_stats(payload: Payload) -> tuple[TableStats, ...]:
    """Chain and rule counts per table (``kube-netsim rules --stats``).

    ``chains`` counts the chain lines of chains that are not deleted; ``rules`` the ``-A``
    lines, which is what kube-proxy's ``sync_proxy_rules_iptables_total`` metric reports for a
    full sync (rule-buffer lines minus the ``-X`` lines); ``chains_by_prefix`` the per-service
    chains by kind.
    """
    out = []
    for t in payload.tables:
        deleted = sum(1 for line in t.lines if line.startswith("-X "))
        rules = sum(1 for line in t.lines if line.startswith("-A "))
        kinds: dict[str, int] = {}
        deleted_names = {line[3:] for line in t.lines if line.startswith("-X ")}
        for c in t.chains:
            if c.name in deleted_names:
                continue
            if is_service_chain_name(c.name):
                prefix = c.name[: c.name.index("-", 5) + 1]
                kinds[prefix] = kinds.get(prefix, 0) + 1
        out.append(TableStats(t.name, len(t.chains) - deleted, rules, deleted, tuple(sorted(kinds.items()))))
    return tuple(out)
