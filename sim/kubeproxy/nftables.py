"""The nftables-mode compiler: the ``nft -f`` transaction kube-proxy's nftables proxier sends.

Models ``pkg/proxy/nftables/proxier.go`` (``setupNFTables``, ``syncProxyRules``,
``writeServiceToEndpointRules``, ``nftElementStorage``) with the table layout of the newest
upstream ``proxier_test.go`` (``TestOverallNFTablesRules``, ``baseRules``): one table
``ip kube-proxy`` (``ip6`` for IPv6), filter base chains ``filter-prerouting-pre-dnat`` and
``filter-output-pre-dnat`` at priority -110 and ``filter-input``/``filter-forward``/
``filter-output`` at 0, nat base chains at -100 (prerouting, output) and 100 (postrouting);
service dispatch through the verdict maps ``service-ips`` and ``service-nodeports``; no-endpoint
handling through ``no-endpoint-services`` / ``no-endpoint-nodeports``; source ranges through
``firewall-ips``; ``cluster-ips-check`` rejecting a known ClusterIP's unknown port and dropping
the unallocated addresses of the service CIDRs; per-service chains named with
``hashAndTruncate`` (``service-ULMVA6XW-ns1/svc1/tcp/p80``,
``endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80``, ``external-``, ``local-``,
``firewall-``, and ``affinity-`` sets); endpoint choice by one ``numgen random mod N vmap``.

The text is knftables' (``sigs.k8s.io/knftables`` ``Transaction``): one command per line,
objects written as ``add chain ip kube-proxy NAME { type filter hook input priority 0 ; }``,
elements as ``add element ip kube-proxy MAP { KEY comment "C" : VERDICT }``, rule words
joined as knftables ``Concat`` joins them.

Canonical order: upstream walks ``svcPortMap`` (a Go map); we walk service ports in
:attr:`~sim.kubeproxy.endpoints.ServicePortInfo.sort_key` order, and sort the leftover elements
and stale chains/sets that upstream takes from maps and sets, so equal input gives
byte-identical text.

Syncs
    :func:`compile_nft` is one sync; :func:`sync_nft` also returns what the proxier remembers
    (:class:`NFTProxierState`) and the separate stale-chain cleanup transaction upstream runs
    first. A *full* sync (``previous=None``, or ``changed_services=None``) runs
    ``setupNFTables`` (table, base chains, jump rules, fixed chains, sets and maps) and writes
    every service's chains, except endpoint chains the kernel already holds (their content is
    fixed by their name; upstream ``TestSyncProxyRulesStartup``). With a previous state and
    ``changed_services`` the sync is *partial*, as upstream's ``tryPartialSync``: only the
    changed services' chains are (re)written. In both, map/set elements are added, replaced
    (delete + add when the verdict changed) or deleted as a delta against the elements the
    kernel holds (``nftElementStorage``, read from the kernel on a full sync rather than
    flushed), service chains no longer used are flushed and remembered as stale, and a later
    sync deletes them (``staleChains``; upstream waits one second for kernels before 6.2) in
    its cleanup transaction. Affinity sets no longer used are deleted at once, as upstream does.
    :meth:`NFTProxierState.after_restart` models a kube-proxy restart on a node whose table
    survives.

Inferred, not read (the newest ``proxier.go`` was not available, only its tests): the first
sync of a process recreates the base chains (the older ``proxier.go``'s ``flushed``
add+delete); element storages start from the kernel's elements without flushing, and a full
sync keeps existing endpoint chains (both from ``TestSyncProxyRulesStartup``'s operation
count); ``--masquerade-all`` writes ``ip daddr <clusterIP> jump mark-for-masquerade`` (the
newest upstream dropped the ``proto dport`` words from the local-detector form and we assume
the same for this form).
"""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from sim.kubeproxy.endpoints import categorize_endpoints, endpoints_by_port, service_ports
from sim.kubeproxy.hashing import hash_and_truncate, hash_and_truncate_many
from sim.kubeproxy.iptables import _nodeport_addresses
from sim.model import ClusterState, KubeProxyConfig
from sim.model.errors import SimError
from sim.model.ip import parse_cidr, parse_ip
from sim.nftables.transaction import Transaction

TABLE = "kube-proxy"
TABLE_COMMENT = "rules for kube-proxy"

# fixed chains
SERVICES = "services"
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NODEPORT_IPS = "nodeport-ips"
CLUSTER_IPS = "cluster-ips"
SERVICE_ENDPOINTS_CHECK = "service-endpoints-check"
NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
REJECT_CHAIN = "reject-chain"
CLUSTER_IPS_CHECK = "cluster-ips-check"
FIREWALL_IPS = "firewall-ips"
FIREWALL_CHECK = "firewall-check"
MARK_MASQ = "mark-for-masquerade"
MASQUERADING = "masquerading"

# nftablesBaseChains: (name, type, hook, numeric priority). knftables writes the priority as a
# number (dstnat = -100, srcnat = 100, filter = 0).
BASE_CHAINS: tuple[tuple[str, str, str, int], ...] = (
    ("filter-prerouting-pre-dnat", "filter", "prerouting", -110),
    ("filter-output-pre-dnat", "filter", "output", -110),
    ("filter-input", "filter", "input", 0),
    ("filter-forward", "filter", "forward", 0),
    ("filter-output", "filter", "output", 0),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
)

# nftablesJumpChains: (destination, source base chain, extra words).
JUMP_CHAINS: tuple[tuple[str, str, str], ...] = (
    (NODEPORT_ENDPOINTS_CHECK, "filter-input", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-input", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-forward", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-output", "ct state new"),
    (FIREWALL_CHECK, "filter-prerouting-pre-dnat", "ct state new"),
    (FIREWALL_CHECK, "filter-output-pre-dnat", "ct state new"),
    (SERVICES, "nat-output", ""),
    (SERVICES, "nat-prerouting", ""),
    (MASQUERADING, "nat-postrouting", ""),
    (CLUSTER_IPS_CHECK, "filter-forward", "ct state new"),
    (CLUSTER_IPS_CHECK, "filter-output", "ct state new"),
)

# The element containers (nftElementStorage), in the order setupNFTables resets them.
CONTAINERS: tuple[tuple[str, str], ...] = (
    ("set", CLUSTER_IPS), ("map", SERVICE_IPS), ("map", FIREWALL_IPS),
    ("map", NO_ENDPOINT_SERVICES), ("map", NO_ENDPOINT_NODEPORTS), ("map", SERVICE_NODEPORTS),
)

SERVICE_PREFIX = "service-"
LOCAL_PREFIX = "local-"
EXTERNAL_PREFIX = "external-"
FIREWALL_PREFIX = "firewall-"
ENDPOINT_PREFIX = "endpoint-"
AFFINITY_PREFIX = "affinity-"


def is_service_chain_name(chain: str) -> bool:
    """``isServiceChainName``: per-service chains are the ones with a ``/`` in their name.

    >>> is_service_chain_name("service-ULMVA6XW-ns1/svc1/tcp/p80"), is_service_chain_name("services")
    (True, False)
    """
    return "/" in chain


def service_chain_base(namespace: str, name: str, protocol: str, port_name: str) -> str:
    """``servicePortChainNameBase``: ``HASH-ns/name/proto/portName``.

    >>> service_chain_base("ns1", "svc1", "tcp", "p80")
    'ULMVA6XW-ns1/svc1/tcp/p80'
    """
    return hash_and_truncate(f"{namespace}/{name}/{protocol}/{port_name}")


def _endpoint_base_input(svc_part: str, endpoint: str) -> str:
    # servicePortEndpointChainNameBase: SplitHostPort, IPv6 colons become dots.
    host, _, port = endpoint.rpartition(":")
    if host.startswith("["):
        host = host[1:-1].replace(":", ".")
    return f"{svc_part}__{host}/{port}"


def endpoint_chain_base(namespace: str, name: str, protocol: str, port_name: str, endpoint: str) -> str:
    """``servicePortEndpointChainNameBase``: ``HASH-ns/name/proto/portName__ip/port``.

    >>> endpoint_chain_base("ns1", "svc1", "tcp", "p80", "10.180.0.1:80")
    '5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80'
    >>> endpoint_chain_base("ns1", "svc1", "tcp", "p80", "[fd00:10:180::1]:80").split("-", 1)[1]
    'ns1/svc1/tcp/p80__fd00.10.180..1/80'
    """
    return hash_and_truncate(_endpoint_base_input(f"{namespace}/{name}/{protocol}/{port_name}", endpoint))


@dataclass(frozen=True, slots=True)
class NFTProxierState:
    """What the nftables proxier remembers from one sync to the next.

    ``elements``: per container (``cluster-ips``, ``service-ips``, ...) the key -> value of the
    elements in the kernel (``nftElementStorage``; keys and values joined with `` . ``, ""
    for set elements). ``chains``: the per-service chains that exist in the kernel table after
    the sync. ``stale_chains``: chains flushed because no service uses them, with the sync time
    that made them stale. ``affinity_sets``: the ``affinity-`` sets in the table.
    """

    elements: Mapping[str, Mapping[str, str]]
    chains: frozenset[str]
    stale_chains: Mapping[str, float]
    affinity_sets: frozenset[str]
    new_process: bool = False

    def after_restart(self) -> "NFTProxierState":
        """The state a restarted kube-proxy starts from: what the kernel still holds (elements,
        chains, affinity sets, and which chains are emptied stale ones), with the base chains to
        recreate once. Its next sync is a full sync whatever ``changed_services`` says.
        """
        return NFTProxierState(self.elements, self.chains, self.stale_chains, self.affinity_sets,
                               new_process=True)


@dataclass(frozen=True, slots=True)
class NFTSync:
    """One sync: the stale-chain cleanup transaction (run first, may be empty), the main
    transaction, the proxier's memory after it, and whether it was a full sync."""

    cleanup: Transaction
    transaction: Transaction
    state: NFTProxierState
    full: bool


def compile_nft(
    state: ClusterState,
    node_name: str,
    config: KubeProxyConfig | None = None,
    *,
    previous: NFTProxierState | None = None,
    changed_services: frozenset[str] | None = None,
    now_s: float | None = None,
    ip_family: str = "IPv4",
) -> Transaction:
    """The main ``nft -f`` transaction kube-proxy (nftables mode) sends on ``node_name``.

    ``compile_nft(state, node)`` is the first, full sync. For later syncs pass the previous
    sync's :attr:`NFTSync.state` as ``previous`` (see :func:`sync_nft`, which also returns the
    new state and the stale-chain cleanup transaction a caller must run first).

    Parameters
    ----------
    state
        The cluster snapshot.
    node_name
        The node kube-proxy runs on (decides which endpoints are local, the node IPs).
    config
        kube-proxy configuration; defaults to ``state.kube_proxy``.
    previous
        ``None``: a full sync on a fresh proxier. Otherwise the proxier's memory from the
        previous sync.
    changed_services
        With ``previous``: ``None`` for a full sync (upstream ``needFullSync``), else the
        ``namespace/name`` of the services whose Service or EndpointSlices changed since the
        previous sync (a partial sync).
    now_s
        Simulation time of this sync, for the one-second age upstream requires before deleting
        stale chains; ``None`` treats every stale chain as old enough.
    ip_family
        ``IPv4`` (table ``ip kube-proxy``) or ``IPv6`` (``ip6 kube-proxy``).

    Examples
    --------
    >>> from sim.model import ClusterState
    >>> tx = compile_nft(ClusterState(), "")
    >>> tx.commands[0]
    'add table ip kube-proxy { comment "rules for kube-proxy" ; }'
    """
    return sync_nft(state, node_name, config, previous=previous, changed_services=changed_services,
                    now_s=now_s, ip_family=ip_family).transaction


def sync_nft(
    state: ClusterState,
    node_name: str,
    config: KubeProxyConfig | None = None,
    *,
    previous: NFTProxierState | None = None,
    changed_services: frozenset[str] | None = None,
    now_s: float | None = None,
    ip_family: str = "IPv4",
) -> NFTSync:
    """One ``syncProxyRules`` of the nftables proxier (arguments as :func:`compile_nft`)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as in the iptables compiler: the build's objects all survive until return
    try:
        return _Sync(state, node_name, config, previous, changed_services, now_s, ip_family).run()
    finally:
        if gc_was_enabled:
            gc.enable()


def _quote(text: str) -> str:
    # knftables writes comments with %q; ours never hold quotes or backslashes
    return '"' + text + '"'


@dataclass(slots=True)
class _Storage:
    """``nftElementStorage`` of one set or map."""

    kind: str
    name: str
    elements: dict[str, str] = field(default_factory=dict)
    leftover: set[str] = field(default_factory=set)


class _Sync:
    """One sync's working state (upstream keeps it on the Proxier)."""

    def __init__(self, state: ClusterState, node_name: str, config: KubeProxyConfig | None,
                 previous: NFTProxierState | None, changed: frozenset[str] | None,
                 now_s: float | None, ip_family: str) -> None:
        if ip_family not in ("IPv4", "IPv6"):
            raise SimError(f"ip_family: Unsupported value: {ip_family!r}: supported values: "
                           '"IPv4", "IPv6"')
        self.state = state
        self.node_name = node_name
        self.cfg = config if config is not None else state.kube_proxy
        self.previous = previous
        # a new process always starts with a full sync (upstream needFullSync)
        self.partial = previous is not None and changed is not None and not previous.new_process
        self.changed = changed or frozenset()
        self.now_s = now_s
        self.family = ip_family
        self.v6 = ip_family == "IPv6"
        self.ipx = "ip6" if self.v6 else "ip"
        self.addr_type = "ipv6_addr" if self.v6 else "ipv4_addr"
        self.prefix = f"{self.ipx} {TABLE}"
        self.out: list[str] = []
        self.active_chains: set[str] = set()
        self.active_affinity: set[str] = set()
        self.storages = {name: _Storage(kind, name) for kind, name in CONTAINERS}
        # endpoint chains a full sync leaves as they are: in the kernel and not flushed as stale
        self.kept_chains: frozenset[str] = frozenset()
        if previous is not None and not self.partial:
            self.kept_chains = frozenset(c for c in previous.chains
                                         if c.startswith(ENDPOINT_PREFIX) and c not in previous.stale_chains)
        if previous is not None:
            for name, st in self.storages.items():
                st.elements = dict(previous.elements.get(name, {}))
                st.leftover = set(st.elements)

    # --- knftables object writers -------------------------------------------------------------
    def add_chain(self, name: str, spec: str = "") -> None:
        self.out.append(f"add chain {self.prefix} {name}" + (f" {{ {spec} ; }}" if spec else ""))

    def ensure_chain(self, name: str, skip_creation: bool = False) -> None:
        """``ensureChain``: add and flush a chain once per sync; note it as active."""
        if name in self.active_chains:
            return
        self.active_chains.add(name)
        if skip_creation:
            return
        self.out.append(f"add chain {self.prefix} {name}")
        self.out.append(f"flush chain {self.prefix} {name}")

    def rule(self, chain: str, text: str, comment: str = "") -> None:
        self.out.append(f"add rule {self.prefix} {chain} {text}"
                        + (f" comment {_quote(comment)}" if comment else ""))

    def ensure_elem(self, container: str, key: str, value: str = "", comment: str = "") -> None:
        """``nftElementStorage.ensureElem``: add, replace (delete + add) or keep an element."""
        st = self.storages[container]
        line = (f"{container} {{ {key}" + (f" comment {_quote(comment)}" if comment else "")
                + (f" : {value}" if value else "") + " }")
        existing = st.elements.get(key)
        if existing is None:
            self.out.append(f"add element {self.prefix} {line}")
            st.elements[key] = value
            return
        if existing != value:
            self.out.append(f"delete element {self.prefix} {container} {{ {key} }}")
            self.out.append(f"add element {self.prefix} {line}")
            st.elements[key] = value
        st.leftover.discard(key)

    # --- the sync -----------------------------------------------------------------------------
    def run(self) -> NFTSync:
        cleanup = self._stale_chain_cleanup()
        if not self.partial:
            self._setup()
        self._services()
        existing = self._existing_chains(cleanup)
        stale = dict(self.previous.stale_chains) if self.previous else {}
        for name in cleanup:
            stale.pop(name, None)
        stamp = self.now_s if self.now_s is not None else 0.0
        for chain in sorted(existing):
            if chain in self.active_chains:
                stale.pop(chain, None)
            else:
                self.out.append(f"flush chain {self.prefix} {chain}")
                stale[chain] = stamp
        old_sets = self.previous.affinity_sets if self.previous else frozenset()
        for name in sorted(old_sets - self.active_affinity):
            self.out.append(f"delete set {self.prefix} {name}")
        for st in self.storages.values():
            for key in sorted(st.leftover):
                self.out.append(f"delete element {self.prefix} {st.name} {{ {key} }}")
                del st.elements[key]
            st.leftover = set(st.elements)
        new_state = NFTProxierState(
            elements=MappingProxyType({n: MappingProxyType(dict(st.elements))
                                       for n, st in self.storages.items()}),
            chains=frozenset(existing | self.active_chains),
            stale_chains=MappingProxyType(dict(sorted(stale.items()))),
            affinity_sets=frozenset(self.active_affinity),
        )
        cleanup_tx = Transaction(tuple(f"delete chain {self.prefix} {c}" for c in cleanup))
        return NFTSync(cleanup_tx, Transaction(tuple(self.out)), new_state, not self.partial)

    def _stale_chain_cleanup(self) -> list[str]:
        """The stale chains old enough (one second) to delete before this sync."""
        if self.previous is None:
            return []
        limit = None if self.now_s is None else self.now_s - 1.0
        return sorted(c for c, t in self.previous.stale_chains.items() if limit is None or t < limit)

    def _existing_chains(self, deleted: list[str]) -> set[str]:
        """The per-service chains in the kernel table when this transaction runs."""
        if self.previous is None:
            return set()
        return set(self.previous.chains) - set(deleted)

    def _setup(self) -> None:
        """``setupNFTables``: table, base chains, jump rules, fixed chains, sets and maps."""
        ipx, p = self.ipx, self.prefix
        no_localhost = "ip6 daddr != ::1" if self.v6 else "ip daddr != 127.0.0.0/8"
        out = self.out
        out.append(f"add table {p} {{ comment {_quote(TABLE_COMMENT)} ; }}")
        if self.previous is None or self.previous.new_process:
            # recreate the base chains once so a changed type/hook/priority can be applied
            for name, _, _, _ in BASE_CHAINS:
                out.append(f"add chain {p} {name}")
                out.append(f"delete chain {p} {name}")
        for name, ctype, hook, prio in BASE_CHAINS:
            self.add_chain(name, f"type {ctype} hook {hook} priority {prio}")
            out.append(f"flush chain {p} {name}")
        created: set[str] = set()
        for dst, src, extra in JUMP_CHAINS:
            if dst not in created:
                created.add(dst)
                out.append(f"add chain {p} {dst}")
                out.append(f"flush chain {p} {dst}")
            self.rule(src, (extra + " " if extra else "") + f"jump {dst}")
        for name in (SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_MASQ):
            if name not in created:
                created.add(name)
                out.append(f"add chain {p} {name}")
                out.append(f"flush chain {p} {name}")
        mark = self.cfg.masquerade_mark
        self.rule(MARK_MASQ, f"mark set mark or {mark}")
        self.rule(MASQUERADING, f"mark and {mark} == 0 return")
        self.rule(MASQUERADING, f"mark set mark xor {mark}")
        self.rule(MASQUERADING, "masquerade fully-random")

        out.append(f'add set {p} {CLUSTER_IPS} {{ type {self.addr_type} ; comment "Active ClusterIPs" ; }}')
        self.rule(CLUSTER_IPS_CHECK, f"{ipx} daddr @{CLUSTER_IPS} reject",
                  "Reject traffic to invalid ports of ClusterIPs")
        service_cidrs = self._service_cidrs()
        if service_cidrs:
            self.rule(CLUSTER_IPS_CHECK, f"{ipx} daddr {{ {service_cidrs} }} drop",
                      "Drop traffic to unallocated ClusterIPs")

        match_all, node_ips = self._nodeport_ips()
        out.append(f'add set {p} {NODEPORT_IPS} {{ type {self.addr_type} ; '
                   'comment "IPs that accept NodePort traffic" ; }')
        if match_all:
            out.append(f"delete set {p} {NODEPORT_IPS}")
        else:
            out.append(f"flush set {p} {NODEPORT_IPS}")
            for ip in node_ips:
                out.append(f"add element {p} {NODEPORT_IPS} {{ {ip} }}")

        dest_key = f"{self.addr_type} . inet_proto . inet_service : verdict"
        out.append(f'add map {p} {NO_ENDPOINT_SERVICES} {{ type {dest_key} ; '
                   'comment "vmap to drop or reject packets to services with no endpoints" ; }')
        out.append(f'add map {p} {NO_ENDPOINT_NODEPORTS} {{ type inet_proto . inet_service : verdict ; '
                   'comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }')
        out.append(f'add chain {p} {REJECT_CHAIN} {{ comment '
                   '"helper for @no-endpoint-services / @no-endpoint-nodeports" ; }')
        out.append(f"flush chain {p} {REJECT_CHAIN}")
        self.rule(REJECT_CHAIN, "reject")
        self.rule(SERVICE_ENDPOINTS_CHECK,
                  f"{ipx} daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}")
        if match_all:
            self.rule(NODEPORT_ENDPOINTS_CHECK,
                      f"{no_localhost} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}")
        else:
            self.rule(NODEPORT_ENDPOINTS_CHECK,
                      f"{ipx} daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}")

        out.append(f'add map {p} {FIREWALL_IPS} {{ type {dest_key} ; '
                   'comment "destinations that are subject to LoadBalancerSourceRanges" ; }')
        if FIREWALL_CHECK not in created:
            out.append(f"add chain {p} {FIREWALL_CHECK}")
            out.append(f"flush chain {p} {FIREWALL_CHECK}")
        self.rule(FIREWALL_CHECK, f"{ipx} daddr . meta l4proto . th dport vmap @{FIREWALL_IPS}")

        out.append(f'add map {p} {SERVICE_IPS} {{ type {dest_key} ; '
                   'comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }')
        out.append(f'add map {p} {SERVICE_NODEPORTS} {{ type inet_proto . inet_service : verdict ; '
                   'comment "NodePort traffic" ; }')
        self.rule(SERVICES, f"{ipx} daddr . meta l4proto . th dport vmap @{SERVICE_IPS}")
        if match_all:
            self.rule(SERVICES, f"fib daddr type local {no_localhost} meta l4proto . th dport "
                                f"vmap @{SERVICE_NODEPORTS}")
        else:
            self.rule(SERVICES, f"{ipx} daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}")
        # The element storages were read from the kernel (``previous``; empty on a new table):
        # elements are added, replaced and deleted as deltas, the containers are not flushed.

    def _service_cidrs(self) -> str:
        """``serviceCIDRs``: the service CIDRs of our family, comma-joined."""
        out = []
        for c in self.state.config.service_cidrs:
            try:
                net = parse_cidr(c.strip())
            except ValueError:
                raise SimError(f"cluster.serviceCIDR: Invalid value: {c!r}") from None
            if (net.version == 6) == self.v6:
                out.append(str(net))
        return ",".join(out)

    def _nodeport_ips(self) -> tuple[bool, list[str]]:
        """``NodePortAddresses``: (MatchAll, the non-loopback node IPs that accept NodePorts).

        In nftables mode an empty ``nodePortAddresses`` means ``primary``
        (cmd/kube-proxy/app/server_linux.go ``platformApplyDefaults``); localhost NodePorts are
        never supported, so loopback addresses are skipped.
        """
        cfg = self.cfg
        if not cfg.node_port_addresses:
            cfg = dataclasses.replace(cfg, node_port_addresses=("primary",))
        match_all, _, ips = _nodeport_addresses(cfg, self.state, self.node_name, self.family)
        return match_all, [ip for ip in ips if not parse_ip(ip).is_loopback]

    def _local_detector(self) -> tuple[str, str]:
        """``LocalTrafficDetector`` ``IfLocalNFT`` / ``IfNotLocalNFT`` words, or ("", "")."""
        cfg, ipx = self.cfg, self.ipx
        mode = cfg.detect_local_mode or "ClusterCIDR"
        if mode == "ClusterCIDR":
            cidrs = [c.strip() for c in cfg.cluster_cidr.split(",") if c.strip()]
        elif mode == "NodeCIDR":
            node = self.state.node(self.node_name)
            cidrs = list(node.pod_cidrs or ((node.pod_cidr,) if node.pod_cidr else ())) if node else []
        else:
            raise SimError(f"kubeProxy.detectLocalMode: Unsupported value: {mode!r}: the simulator "
                           "models ClusterCIDR and NodeCIDR")
        for cidr in cidrs:
            try:
                net = parse_cidr(cidr)
            except ValueError as exc:
                raise SimError(f"kubeProxy.clusterCIDR: Invalid value: {cidr!r}: {exc}") from None
            if (net.version == 6) == self.v6:
                return f"{ipx} saddr {cidr}", f"{ipx} saddr != {cidr}"
        return "", ""

    def _services(self) -> None:
        ports = service_ports(self.state, self.family)
        eps_map = endpoints_by_port(self.state, self.node_name, self.family)
        cats = [categorize_endpoints(eps_map.get(svc.key, []), svc) for svc in ports]
        svc_parts = [f"{s.namespace}/{s.name}/{s.protocol}/{s.port_name}" for s in ports]
        bases = hash_and_truncate_many(svc_parts)
        # every endpoint base name of the sync in one batch (hashing dominates a first sync)
        ep_inputs = [_endpoint_base_input(part, e.endpoint)
                     for part, cat in zip(svc_parts, cats) for e in cat.all_reachable]
        ep_bases = _endpoint_bases(ep_inputs)
        if_local, if_not_local = self._local_detector()
        masq_all = self.cfg.masquerade_all
        node = self.state.node(self.node_name)
        node_ip = node.internal_ip if node else ""
        ipx = self.ipx
        rule = self.rule
        ensure_chain = self.ensure_chain
        ensure_elem = self.ensure_elem
        offset = 0
        for svc, cat, base in zip(ports, cats, bases):
            reachable = cat.all_reachable
            ep_names = {e.endpoint: ep_bases[offset + i] for i, e in enumerate(reachable)}
            offset += len(reachable)
            proto = svc.protocol
            spn = svc.spn
            skip = self.partial and f"{svc.namespace}/{svc.name}" not in self.changed
            affinity = svc.affinity_timeout_s > 0
            kept = self.kept_chains
            for e in reachable:
                ep_chain = ENDPOINT_PREFIX + ep_names[e.endpoint]
                ensure_chain(ep_chain, skip or ep_chain in kept)
                if affinity:
                    self.active_affinity.add(AFFINITY_PREFIX + ep_names[e.endpoint])
            cluster_chain = SERVICE_PREFIX + base
            uses_cluster = bool(cat.cluster) and svc.uses_cluster_endpoints
            if uses_cluster:
                ensure_chain(cluster_chain, skip)
            local_chain = LOCAL_PREFIX + base
            uses_local = bool(cat.local) and svc.uses_local_endpoints
            if uses_local:
                ensure_chain(local_chain, skip)
            has_any = cat.has_any
            internal_chain, has_internal = cluster_chain, has_any
            if svc.internal_policy_local:
                internal_chain = local_chain
                has_internal = has_internal and bool(cat.local)
            external_policy_chain, has_external = cluster_chain, has_any
            if svc.external_policy_local:
                external_policy_chain = local_chain
                has_external = has_external and bool(cat.local)
            external_chain = EXTERNAL_PREFIX + base
            uses_external = has_any and svc.externally_accessible
            if uses_external:
                ensure_chain(external_chain, skip)
            if not has_any:
                int_verdict = ext_verdict = f"goto {REJECT_CHAIN}"
            else:
                int_verdict = "" if has_internal else "drop"
                ext_verdict = "" if has_external else "drop"

            port = svc.port
            ensure_elem(CLUSTER_IPS, svc.cluster_ip)
            cluster_key = f"{svc.cluster_ip} . {proto} . {port}"
            if has_internal:
                ensure_elem(SERVICE_IPS, cluster_key, f"goto {internal_chain}")
            else:
                ensure_elem(NO_ENDPOINT_SERVICES, cluster_key, int_verdict, spn)
            for ext_ip in svc.external_ips:
                key = f"{ext_ip} . {proto} . {port}"
                if has_any:
                    ensure_elem(SERVICE_IPS, key, f"goto {external_chain}")
                if not has_external:
                    ensure_elem(NO_ENDPOINT_SERVICES, key, ext_verdict, spn)
            vips = svc.load_balancer_vips
            uses_fw = bool(vips) and bool(svc.source_ranges)
            fw_chain = FIREWALL_PREFIX + base
            if uses_fw:
                ensure_chain(fw_chain, skip)
            for vip in vips:
                key = f"{vip} . {proto} . {port}"
                if has_any:
                    ensure_elem(SERVICE_IPS, key, f"goto {external_chain}")
                if uses_fw:
                    ensure_elem(FIREWALL_IPS, key, f"goto {fw_chain}")
            if not has_external:
                for vip in vips:
                    ensure_elem(NO_ENDPOINT_SERVICES, f"{vip} . {proto} . {port}", ext_verdict, spn)
            if svc.node_port:
                key = f"{proto} . {svc.node_port}"
                if has_any:
                    ensure_elem(SERVICE_NODEPORTS, key, f"goto {external_chain}")
                if not has_external:
                    ensure_elem(NO_ENDPOINT_NODEPORTS, key, ext_verdict, spn)
            if skip:
                continue

            if has_internal:
                if masq_all:
                    rule(internal_chain, f"{ipx} daddr {svc.cluster_ip} jump {MARK_MASQ}")
                elif if_not_local:
                    rule(internal_chain, f"{ipx} daddr {svc.cluster_ip} {if_not_local} jump {MARK_MASQ}")
            if uses_external:
                if not svc.external_policy_local:
                    rule(external_chain, f"jump {MARK_MASQ}")
                else:
                    if if_local:
                        rule(external_chain, f"{if_local} goto {cluster_chain}", "short-circuit pod traffic")
                    rule(external_chain, f"fib saddr type local jump {MARK_MASQ}", "masquerade local traffic")
                    rule(external_chain, f"fib saddr type local goto {cluster_chain}",
                         "short-circuit local traffic")
                if has_external:
                    rule(external_chain, f"goto {external_policy_chain}")
            if uses_fw:
                sources = list(svc.source_ranges)
                allow_from_node = bool(node_ip) and any(
                    _cidr_contains(c, node_ip) for c in svc.source_ranges)
                if allow_from_node:
                    sources.extend(vips)
                rule(fw_chain, f"{ipx} saddr != {{ {' , '.join(sources)} }} drop")
            if affinity:
                for e in reachable:
                    self.out.append(f"add set {self.prefix} {AFFINITY_PREFIX}{ep_names[e.endpoint]} "
                                    f"{{ type {self.addr_type} ; flags dynamic,timeout ; "
                                    f"timeout {svc.affinity_timeout_s}s ; }}")
            if uses_cluster:
                self._endpoint_dispatch(cluster_chain, cat.cluster, ep_names, affinity)
            if uses_local:
                self._endpoint_dispatch(local_chain, cat.local, ep_names, affinity)
            for e in reachable:
                name = ep_names[e.endpoint]
                chain = ENDPOINT_PREFIX + name
                if chain in kept:
                    continue
                rule(chain, f"{ipx} saddr {e.ip} jump {MARK_MASQ}")
                if affinity:
                    rule(chain, f"update @{AFFINITY_PREFIX}{name} {{ {ipx} saddr }}")
                rule(chain, f"meta l4proto {proto} dnat to {e.endpoint}")

    def _endpoint_dispatch(self, chain: str, endpoints, ep_names: dict[str, str], affinity: bool) -> None:
        """``writeServiceToEndpointRules``: affinity lookups, then one numgen verdict map."""
        if affinity:
            for e in endpoints:
                name = ep_names[e.endpoint]
                self.rule(chain, f"{self.ipx} saddr @{AFFINITY_PREFIX}{name} goto {ENDPOINT_PREFIX}{name}")
        entries = " , ".join(f"{i} : goto {ENDPOINT_PREFIX}{ep_names[e.endpoint]}"
                             for i, e in enumerate(endpoints))
        self.rule(chain, f"numgen random mod {len(endpoints)} vmap {{ {entries} }}")


def _cidr_contains(cidr: str, ip: str) -> bool:
    net = parse_cidr(cidr)
    addr = parse_ip(ip)
    return net.version == addr.version and addr in net


# endpoint base names by hash input; emptied when it outgrows the bound (as hashing._SEP_NAMES)
_EP_BASES: dict[str, str] = {}
_EP_CACHE_SIZE = 1 << 18


def _endpoint_bases(inputs: list[str]) -> list[str]:
    cache = _EP_BASES
    missing = [t for t in dict.fromkeys(inputs) if t not in cache]
    if missing:
        if len(cache) + len(missing) > _EP_CACHE_SIZE:
            cache.clear()
            missing = list(dict.fromkeys(inputs))
        cache.update(zip(missing, hash_and_truncate_many(missing)))
    return [cache[t] for t in inputs]


def clear_caches() -> None:
    """Forget cached endpoint names (benchmarks measure a first sync with this)."""
    _EP_BASES.clear()


@dataclass(frozen=True, slots=True)
class NFTStats:
    """Object counts of the table a transaction leaves behind when loaded into an empty one."""

    chains: int
    base_chains: int
    rules: int
    sets: int
    maps: int
    elements: int
    chains_by_prefix: tuple[tuple[str, int], ...]


def transaction_stats(tx: Transaction) -> NFTStats:
    """Count chains, rules, sets, maps and elements after ``tx`` runs on an empty table.

    >>> s = transaction_stats(Transaction(("add chain ip t a", "add rule ip t a accept",
    ...                                    "add chain ip t b", "delete chain ip t b")))
    >>> (s.chains, s.rules)
    (1, 1)
    """
    chains: dict[str, int] = {}
    base: set[str] = set()
    sets: dict[str, int] = {}
    maps: dict[str, int] = {}
    for line in tx.commands:
        words = line.split(" ", 5)
        verb, kind = words[0], words[1]
        name = words[4] if len(words) > 4 else ""
        if kind == "chain":
            if verb == "add":
                chains.setdefault(name, 0)
                if "hook" in line:
                    base.add(name)
            elif verb == "flush":
                chains[name] = 0
            elif verb == "delete":
                chains.pop(name, None)
                base.discard(name)
        elif kind == "rule" and verb == "add":
            chains[name] += 1
        elif kind in ("set", "map"):
            objs = sets if kind == "set" else maps
            if verb == "add":
                objs.setdefault(name, 0)
            elif verb == "flush":
                objs[name] = 0
            elif verb == "delete":
                objs.pop(name, None)
        elif kind == "element":
            objs = sets if name in sets else maps
            objs[name] += 1 if verb == "add" else -1
    kinds: dict[str, int] = {}
    for name in chains:
        if is_service_chain_name(name):
            prefix = name.split("-", 1)[0]
            kinds[prefix] = kinds.get(prefix, 0) + 1
    return NFTStats(len(chains), len(base), sum(chains.values()), len(sets), len(maps),
                    sum(sets.values()) + sum(maps.values()), tuple(sorted(kinds.items())))
