"""The IPVS-mode compiler: what kube-proxy's IPVS proxier programs on one node in a sync.

Models ``pkg/proxy/ipvs/proxier.go`` of current upstream (``syncProxyRules``,
``writeIptablesRules``, ``acceptIPVSTraffic``, ``syncEndpoint``), ``ipset.go`` (set names,
types and comments) and ``netlink_linux.go`` (``GetAllLocalAddressesExcept``: the node
addresses NodePorts listen on exclude loopback and ``kube-ipvs0``). From the cluster state and
the shared :mod:`sim.kubeproxy.endpoints` categorisation it returns :class:`IPVSRules`:

* ``payload``: the iptables-restore payload (``*nat`` then ``*filter``, as upstream
  concatenates its buffers), a fixed set of chains whose rules match ipsets;
* ``ipsets``: the 17 sets of ``ipsetInfo`` in that order, with their members (each set's
  members in byte-wise string order, the order ``syncIPSetEntries`` adds them);
* ``bound_addresses``: the addresses bound to the dummy interface ``kube-ipvs0`` (every
  ClusterIP, and each externalIP / LB ingress IP that is not already a node address);
* ``ipvs``: one virtual server per ClusterIP, externalIP, LB ingress IP and node address x
  NodePort, real servers chosen as ``syncEndpoint`` does (see :func:`real_servers`).

Service ports are visited in canonical order instead of Go map order; virtual servers come
out ordered by (protocol, address, port), real servers by (address, port).

Jump rules from the built-in chains are ensured with ``EnsureRule(Prepend)`` upstream, not
written in the payload; :func:`bootstrap_payload` gives them as they stand on a clean host.

Scope and limitations: one sync's desired state (upstream applies it as differences against
the kernel: ``syncIPSetEntries``, ``syncService``/``syncEndpoint``, ``cleanLegacyService``);
graceful termination is an input (``draining``); ``maxelem`` overflow, ``excludeCIDRs`` and
interface lookups for ``nodePortAddresses`` beyond the node's status addresses are not
modelled. Validation: upstream's ``proxier_test.go`` cases rebuilt in
``tests/kubeproxy/test_ipvs_upstream.py``; properties in ``test_ipvs_properties.py``; sets and
payload loaded into the kernel and read back, with set matches counting the same packets as
the engine (``tests/ipset/test_kernel_ipset.py``; no IPVS in this kernel).
"""

from __future__ import annotations

import gc
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sim.iptables import ChainDecl, Payload, TablePayload
from sim.ipset import IPSet
from sim.ipvs import IPVSTable, RealServer, VirtualServer
from sim.kubeproxy.endpoints import (
    EndpointInfo,
    ServicePortInfo,
    categorize_endpoints,
    endpoints_by_port,
    service_ports,
)
from sim.kubeproxy.iptables import _local_detector, _nodeport_addresses
from sim.model import ClusterState, KubeProxyConfig
from sim.model.ip import ip_in_cidr, parse_cidr, parse_ip

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_SOURCE_RANGES_FIREWALL = "KUBE-SOURCE-RANGES-FIREWALL"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_NODE_PORT = "KUBE-NODE-PORT"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_LOAD_BALANCER = "KUBE-LOAD-BALANCER"
KUBE_IPVS_FILTER = "KUBE-IPVS-FILTER"
KUBE_IPVS_OUT_FILTER = "KUBE-IPVS-OUT-FILTER"
DEFAULT_SCHEDULER = "rr"
DUMMY_DEVICE = "kube-ipvs0"

# Set names (ipset.go).
KUBE_LOOP_BACK = "KUBE-LOOP-BACK"
KUBE_CLUSTER_IP = "KUBE-CLUSTER-IP"
KUBE_EXTERNAL_IP = "KUBE-EXTERNAL-IP"
KUBE_EXTERNAL_IP_LOCAL = "KUBE-EXTERNAL-IP-LOCAL"
KUBE_LOAD_BALANCER_SET = "KUBE-LOAD-BALANCER"
KUBE_LOAD_BALANCER_FW = "KUBE-LOAD-BALANCER-FW"
KUBE_LOAD_BALANCER_LOCAL = "KUBE-LOAD-BALANCER-LOCAL"
KUBE_LOAD_BALANCER_SOURCE_IP = "KUBE-LOAD-BALANCER-SOURCE-IP"
KUBE_LOAD_BALANCER_SOURCE_CIDR = "KUBE-LOAD-BALANCER-SOURCE-CIDR"
KUBE_NODE_PORT_TCP = "KUBE-NODE-PORT-TCP"
KUBE_NODE_PORT_LOCAL_TCP = "KUBE-NODE-PORT-LOCAL-TCP"
KUBE_NODE_PORT_UDP = "KUBE-NODE-PORT-UDP"
KUBE_NODE_PORT_LOCAL_UDP = "KUBE-NODE-PORT-LOCAL-UDP"
KUBE_NODE_PORT_SCTP = "KUBE-NODE-PORT-SCTP-HASH"
KUBE_NODE_PORT_LOCAL_SCTP = "KUBE-NODE-PORT-LOCAL-SCTP-HASH"
KUBE_HEALTH_CHECK_NODE_PORT = "KUBE-HEALTH-CHECK-NODE-PORT"
KUBE_IPVS_IPS = "KUBE-IPVS-IPS"

# ipsetInfo: (name, type, comment), in upstream's order.
IPSET_INFO: tuple[tuple[str, str, str], ...] = (
    (KUBE_LOOP_BACK, "hash:ip,port,ip",
     "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"),
    (KUBE_CLUSTER_IP, "hash:ip,port", "Kubernetes service cluster ip + port for masquerade purpose"),
    (KUBE_EXTERNAL_IP, "hash:ip,port",
     "Kubernetes service external ip + port for masquerade and filter purpose"),
    (KUBE_EXTERNAL_IP_LOCAL, "hash:ip,port",
     "Kubernetes service external ip + port with externalTrafficPolicy=local"),
    (KUBE_LOAD_BALANCER_SET, "hash:ip,port", "Kubernetes service lb portal"),
    (KUBE_LOAD_BALANCER_FW, "hash:ip,port",
     "Kubernetes service load balancer ip + port for load balancer with sourceRange"),
    (KUBE_LOAD_BALANCER_LOCAL, "hash:ip,port",
     "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"),
    (KUBE_LOAD_BALANCER_SOURCE_IP, "hash:ip,port,ip",
     "Kubernetes service load balancer ip + port + source IP for packet filter purpose"),
    (KUBE_LOAD_BALANCER_SOURCE_CIDR, "hash:ip,port,net",
     "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"),
    (KUBE_NODE_PORT_TCP, "bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"),
    (KUBE_NODE_PORT_LOCAL_TCP, "bitmap:port",
     "Kubernetes nodeport TCP port with externalTrafficPolicy=local"),
    (KUBE_NODE_PORT_UDP, "bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"),
    (KUBE_NODE_PORT_LOCAL_UDP, "bitmap:port",
     "Kubernetes nodeport UDP port with externalTrafficPolicy=local"),
    (KUBE_NODE_PORT_SCTP, "hash:ip,port",
     "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"),
    (KUBE_NODE_PORT_LOCAL_SCTP, "hash:ip,port",
     "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"),
    (KUBE_HEALTH_CHECK_NODE_PORT, "bitmap:port", "Kubernetes health check node port"),
    (KUBE_IPVS_IPS, "hash:ip", "Addresses on the ipvs interface"),
)
_COMMENTS = {name: comment for name, _, comment in IPSET_INFO}

# ipsetWithIptablesChain: (set, table, from chain, target, match directions, -p). Local
# NodePort sets come before the plain ones (their RETURN must be seen first).
IPSET_WITH_CHAIN: tuple[tuple[str, str, str, str, str, str], ...] = (
    (KUBE_LOOP_BACK, "nat", KUBE_POSTROUTING, "MASQUERADE", "dst,dst,src", ""),
    (KUBE_LOAD_BALANCER_SET, "nat", KUBE_SERVICES, KUBE_LOAD_BALANCER, "dst,dst", ""),
    (KUBE_LOAD_BALANCER_LOCAL, "nat", KUBE_LOAD_BALANCER, "RETURN", "dst,dst", ""),
    (KUBE_NODE_PORT_LOCAL_TCP, "nat", KUBE_NODE_PORT, "RETURN", "dst", "tcp"),
    (KUBE_NODE_PORT_TCP, "nat", KUBE_NODE_PORT, KUBE_MARK_MASQ, "dst", "tcp"),
    (KUBE_NODE_PORT_LOCAL_UDP, "nat", KUBE_NODE_PORT, "RETURN", "dst", "udp"),
    (KUBE_NODE_PORT_UDP, "nat", KUBE_NODE_PORT, KUBE_MARK_MASQ, "dst", "udp"),
    (KUBE_NODE_PORT_LOCAL_SCTP, "nat", KUBE_NODE_PORT, "RETURN", "dst,dst", "sctp"),
    (KUBE_NODE_PORT_SCTP, "nat", KUBE_NODE_PORT, KUBE_MARK_MASQ, "dst,dst", "sctp"),
    (KUBE_LOAD_BALANCER_FW, "filter", KUBE_PROXY_FIREWALL, KUBE_SOURCE_RANGES_FIREWALL, "dst,dst", ""),
    (KUBE_LOAD_BALANCER_SOURCE_CIDR, "filter", KUBE_SOURCE_RANGES_FIREWALL, "RETURN", "dst,dst,src", ""),
    (KUBE_LOAD_BALANCER_SOURCE_IP, "filter", KUBE_SOURCE_RANGES_FIREWALL, "RETURN", "dst,dst,src", ""),
)

# iptablesChains: the chains written into the payload, per table, in upstream's order.
NAT_CHAINS = (KUBE_SERVICES, KUBE_POSTROUTING, KUBE_NODE_PORT, KUBE_LOAD_BALANCER, KUBE_MARK_MASQ)
FILTER_CHAINS = (KUBE_FORWARD, KUBE_NODE_PORT, KUBE_PROXY_FIREWALL, KUBE_SOURCE_RANGES_FIREWALL,
                 KUBE_IPVS_FILTER, KUBE_IPVS_OUT_FILTER)

# iptablesJumpChain: (table, built-in chain, target, comment), each ensured with Prepend.
JUMP_CHAINS: tuple[tuple[str, str, str, str], ...] = (
    ("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    ("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    ("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
    ("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    ("filter", "INPUT", KUBE_NODE_PORT, "kubernetes health check rules"),
    ("filter", "INPUT", KUBE_PROXY_FIREWALL, "kube-proxy firewall rules"),
    ("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kube-proxy firewall rules"),
    ("filter", "INPUT", KUBE_IPVS_FILTER, "kubernetes ipvs access filter"),
    ("filter", "OUTPUT", KUBE_IPVS_OUT_FILTER, "kubernetes ipvs access filter"),
)

# A real server kept at weight 0 while its connections drain: (protocol, virtual address,
# virtual port, real address, real port).
DrainingServer = tuple[str, str, int, str, int]


@dataclass(frozen=True, slots=True)
class IPVSRules:
    """Everything the IPVS proxier programs on a node in one sync."""

    payload: Payload
    ipsets: tuple[IPSet, ...]
    bound_addresses: tuple[str, ...]
    ipvs: IPVSTable

    def ipset(self, name: str) -> IPSet:
        """The set called ``name`` (a ``KeyError`` when there is none)."""
        for s in self.ipsets:
            if s.name == name:
                return s
        raise KeyError(name)


def set_name(name: str, ip_family: str) -> str:
    """``NewIPSet``: IPv6 sets are renamed ``KUBE-6-...``, truncated to 31 characters.

    >>> set_name("KUBE-LOAD-BALANCER-SOURCE-CIDR", "IPv6")
    'KUBE-6-LOAD-BALANCER-SOURCE-CID'
    """
    if ip_family != "IPv6" or not name.startswith("KUBE-"):
        return name
    return ("KUBE-6-" + name[5:])[:31]


@lru_cache(maxsize=1 << 18)
def _ip_key(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return (ip.version, int(ip))


def _net_member(cidr: str) -> str:
    # ipset prints a host network without its /32 (/128).
    net = parse_cidr(cidr)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def node_addresses(state: ClusterState, node_name: str, ip_family: str = "IPv4") -> tuple[str, ...]:
    """``GetAllLocalAddressesExcept("kube-ipvs0")``: the node's addresses of the family, its
    status addresses and its pod bridge's (``cni0``: the first address of each pod CIDR),
    loopback excluded, in numeric order."""
    node = state.node(node_name)
    if node is None:
        return ()
    addrs = set(node.ips)
    for cidr in node.pod_cidrs or ((node.pod_cidr,) if node.pod_cidr else ()):
        net = parse_cidr(cidr)
        if net.num_addresses > 2:
            addrs.add(str(net.network_address + 1))
    want_v6 = ip_family == "IPv6"
    return tuple(sorted((a for a in addrs if (parse_ip(a).version == 6) == want_v6
                         and not parse_ip(a).is_loopback), key=_ip_key))


def real_servers(endpoints: list[EndpointInfo], svc: ServicePortInfo, only_node_local: bool
                 ) -> tuple[EndpointInfo, ...]:
    """``syncEndpoint``'s choice of endpoints for one virtual server.

    ``only_node_local`` is the internal policy for the ClusterIP and the external policy for
    externalIPs, LB IPs and NodePorts. With Local policy and no local endpoint, IPVS falls back
    to the cluster endpoints (upstream PR 97081: pods on the node can still reach the
    Service; external clients' replies come back from a pod address and are dropped), which
    are empty when the Service uses no Cluster policy at all (``internalTrafficPolicy:
    Local`` on a Service that is not externally accessible). iptables mode drops instead.
    """
    cat = categorize_endpoints(endpoints, svc)
    if only_node_local and cat.local:
        return cat.local
    return cat.cluster


def compile_ipvs(
    state: ClusterState,
    node_name: str,
    config: KubeProxyConfig | None = None,
    *,
    ip_family: str = "IPv4",
    addresses: Iterable[str] | None = None,
    draining: frozenset[DrainingServer] = frozenset(),
) -> IPVSRules:
    """What the IPVS proxier programs on ``node_name`` in a sync.

    Parameters
    ----------
    state
        The cluster snapshot.
    node_name
        The node kube-proxy runs on.
    config
        kube-proxy configuration; defaults to ``state.kube_proxy``.
    ip_family
        ``IPv4`` or ``IPv6``: the single-stack proxier's family.
    addresses
        The node's local addresses outside ``kube-ipvs0`` (default :func:`node_addresses`):
        the NodePort virtual servers' addresses when ``nodePortAddresses`` is unset, and the
        externalIP / LB IPs that are not bound to ``kube-ipvs0``.
    draining
        Real servers of the previous sync that ``syncEndpoint`` removed and the graceful
        termination manager still holds because they have connections: each stays in its
        virtual server with weight 0 (``GracefulDeleteRS``) unless it is a desired endpoint
        again, in which case it is restored with weight 1. The caller (the world's sync loop)
        drops an entry once its connections are gone.

    Returns
    -------
    IPVSRules
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(state, node_name, config, ip_family, addresses, draining)
    finally:
        if gc_was_enabled:
            gc.enable()


def _compile(state: ClusterState, node_name: str, config: KubeProxyConfig | None,
             ip_family: str, addresses: Iterable[str] | None,
             draining: frozenset[DrainingServer]) -> IPVSRules:
    cfg = config if config is not None else state.kube_proxy
    scheduler = cfg.ipvs.scheduler or DEFAULT_SCHEDULER
    sched_flags = ("mh-port",) if scheduler == "mh" else ()  # FlagSourceHash for "mh"
    node = state.node(node_name)
    node_ip = node.internal_ip if node else ""
    if addresses is None:
        node_addrs = node_addresses(state, node_name, ip_family)
    else:  # isValidForSet: the proxier's family, no loopback
        want_v6 = ip_family == "IPv6"
        node_addrs = tuple(sorted((a for a in set(addresses) if (parse_ip(a).version == 6) == want_v6
                                   and not parse_ip(a).is_loopback), key=_ip_key))
    node_addr_set = frozenset(node_addrs)
    match_all, _, np_ips = _nodeport_addresses(cfg, state, node_name, ip_family)
    ports = service_ports(state, ip_family)
    eps_map = endpoints_by_port(state, node_name, ip_family)
    has_node_port = any(svc.node_port for svc in ports)
    node_ips: list[str] = []
    if has_node_port:
        if match_all:
            node_ips = list(node_addrs)
        else:
            node_ips = [ip for ip in np_ips if not parse_ip(ip).is_loopback]

    members: dict[str, set[str]] = {name: set() for name, _, _ in IPSET_INFO}
    bound: set[str] = set()
    no_node_access: list[tuple[str, str, int]] = []
    services: list[VirtualServer] = []
    draining_by_vs: dict[tuple[str, str, int], list[tuple[str, int]]] = {}
    for proto, vip, vport, rip, rport in draining:
        draining_by_vs.setdefault((proto, vip, vport), []).append((rip, rport))

    def add_vs(svc: ServicePortInfo, address: str, port: int, chosen: tuple[EndpointInfo, ...]) -> None:
        key = (svc.protocol, address, port)
        rs = {(e.ip, e.port): RealServer(e.ip, e.port, 1, "m") for e in chosen}
        for rip, rport in draining_by_vs.get(key, ()):
            if (rip, rport) not in rs:
                rs[(rip, rport)] = RealServer(rip, rport, 0, "m")
        ordered = tuple(rs[k] for k in sorted(rs, key=lambda k: (_ip_key(k[0]), k[1])))
        services.append(VirtualServer(svc.protocol, address, port, scheduler,
                                      svc.affinity_timeout_s, ordered, sched_flags))

    for svc in ports:
        proto = svc.protocol
        eps = eps_map.get(svc.key, [])
        port_suffix = f",{proto}:{svc.port}"
        for e in eps:
            if e.is_local and e.ip and e.port:
                members[KUBE_LOOP_BACK].add(f"{e.ip},{proto}:{e.port},{e.ip}")

        members[KUBE_CLUSTER_IP].add(svc.cluster_ip + port_suffix)
        bound.add(svc.cluster_ip)
        internal = real_servers(eps, svc, svc.internal_policy_local)
        add_vs(svc, svc.cluster_ip, svc.port, internal)

        external = None
        if svc.external_ips or svc.load_balancer_vips or svc.node_port:
            external = real_servers(eps, svc, svc.external_policy_local)
        for ext_ip in svc.external_ips:
            entry = ext_ip + port_suffix
            members[KUBE_EXTERNAL_IP_LOCAL if svc.external_policy_local else KUBE_EXTERNAL_IP].add(entry)
            if ext_ip not in node_addr_set:
                bound.add(ext_ip)
            add_vs(svc, ext_ip, svc.port, external)

        for vip in svc.load_balancer_vips:
            entry = vip + port_suffix
            members[KUBE_LOAD_BALANCER_SET].add(entry)
            if svc.external_policy_local:
                members[KUBE_LOAD_BALANCER_LOCAL].add(entry)
            if svc.source_ranges:
                members[KUBE_LOAD_BALANCER_FW].add(entry)
                allow_from_node = False
                for cidr in svc.source_ranges:
                    members[KUBE_LOAD_BALANCER_SOURCE_CIDR].add(f"{entry},{_net_member(cidr)}")
                    if node_ip and ip_in_cidr(node_ip, cidr):
                        allow_from_node = True
                if allow_from_node:
                    members[KUBE_LOAD_BALANCER_SOURCE_IP].add(f"{entry},{vip}")
                else:
                    no_node_access.append((vip, proto, svc.port))
            if vip not in node_addr_set:
                bound.add(vip)
            add_vs(svc, vip, svc.port, external)

        if svc.node_port:
            if not node_ips:
                # Upstream skips the rest of this service port (its health-check node port
                # too) when there is no node address to put a NodePort on.
                continue
            if proto == "sctp":
                entries = [f"{ip},sctp:{svc.node_port}" for ip in node_ips]
                np_set, local_set = KUBE_NODE_PORT_SCTP, KUBE_NODE_PORT_LOCAL_SCTP
            elif proto == "udp":
                entries = [str(svc.node_port)]
                np_set, local_set = KUBE_NODE_PORT_UDP, KUBE_NODE_PORT_LOCAL_UDP
            else:
                entries = [str(svc.node_port)]
                np_set, local_set = KUBE_NODE_PORT_TCP, KUBE_NODE_PORT_LOCAL_TCP
            members[np_set].update(entries)
            if svc.external_policy_local:
                members[local_set].update(entries)
            for ip in node_ips:
                add_vs(svc, ip, svc.node_port, external)

        if svc.health_check_node_port:
            members[KUBE_HEALTH_CHECK_NODE_PORT].add(str(svc.health_check_node_port))

    members[KUBE_IPVS_IPS] = set(bound)
    family = "inet6" if ip_family == "IPv6" else "inet"
    ipsets = tuple(
        IPSet(set_name(name, ip_family), set_type, family if set_type != "bitmap:port" else "inet",
              members=tuple(sorted(members[name], key=int) if set_type == "bitmap:port"
                            else sorted(members[name])))
        for name, set_type, _ in IPSET_INFO
    )
    payload = _write_iptables_rules(cfg, state, node_name, ip_family, members, no_node_access)
    services.sort(key=lambda v: (v.protocol, _ip_key(v.address), v.port))
    return IPVSRules(payload, ipsets, tuple(sorted(bound, key=_ip_key)), IPVSTable(tuple(services)))


def _write_iptables_rules(cfg: KubeProxyConfig, state: ClusterState, node_name: str,
                          ip_family: str, members: dict[str, set[str]],
                          no_node_access: list[tuple[str, str, int]]) -> Payload:
    """``writeIptablesRules`` (plus the chain lines of ``createAndLinkKubeChain``)."""
    mark = cfg.masquerade_mark
    name = lambda s: set_name(s, ip_family)  # noqa: E731
    comment = lambda s: f'-m comment --comment "{_COMMENTS[s]}"'  # noqa: E731
    nat: list[str] = []
    flt: list[str] = []
    lo = "::1/128" if ip_family == "IPv6" else "127.0.0.0/8"
    nat.append(f"-A {KUBE_SERVICES} -s {lo} -j RETURN")
    for set_, table, src, target, dirs, proto in IPSET_WITH_CHAIN:
        if not members[set_]:
            continue
        p = f" -p {proto}" if proto else ""
        line = f"-A {src}{p} {comment(set_)} -m set --match-set {name(set_)} {dirs} -j {target}"
        (flt if table == "filter" else nat).append(line)

    if members[KUBE_CLUSTER_IP]:
        head = f"-A {KUBE_SERVICES} {comment(KUBE_CLUSTER_IP)} -m set --match-set {name(KUBE_CLUSTER_IP)}"
        detector = _local_detector(cfg, state, node_name, ip_family)
        if cfg.masquerade_all:
            nat.append(f"{head} dst,dst -j {KUBE_MARK_MASQ}")
        elif detector.implemented:
            # Masquerade off-cluster traffic to a service VIP (it may bounce off-node).
            nat.append(f"{head} dst,dst {detector.if_not_local} -j {KUBE_MARK_MASQ}")
        else:
            # Node-originated traffic picks a VIP on kube-ipvs0 as its source: masquerade it.
            nat.append(f"{head} src,dst -j {KUBE_MARK_MASQ}")

    def external_ip_rules(head: str) -> None:
        # Traffic from off the machine (not from a bridge port nor a local process) ...
        nat.append(f"{head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT")
        # ... and traffic to external IPs that happen to be local addresses stays local.
        nat.append(f"{head} -m addrtype --dst-type LOCAL -j ACCEPT")

    if members[KUBE_EXTERNAL_IP]:
        head = (f"-A {KUBE_SERVICES} {comment(KUBE_EXTERNAL_IP)} "
                f"-m set --match-set {name(KUBE_EXTERNAL_IP)} dst,dst")
        nat.append(f"{head} -j {KUBE_MARK_MASQ}")
        external_ip_rules(head)
    if members[KUBE_EXTERNAL_IP_LOCAL]:
        external_ip_rules(f"-A {KUBE_SERVICES} {comment(KUBE_EXTERNAL_IP_LOCAL)} "
                          f"-m set --match-set {name(KUBE_EXTERNAL_IP_LOCAL)} dst,dst")

    nat.append(f"-A {KUBE_SERVICES} -m addrtype --dst-type LOCAL -j {KUBE_NODE_PORT}")
    nat.append(f"-A {KUBE_LOAD_BALANCER} -j {KUBE_MARK_MASQ}")
    flt.append(f"-A {KUBE_SOURCE_RANGES_FIREWALL} -j DROP")
    # LB IPs whose source ranges do not cover the node IP: drop the node's own connections
    # (issue 119656; for IPVS both source and destination are the LB IP).
    for vip, proto, port in no_node_access:
        flt.append(f"-A {KUBE_IPVS_OUT_FILTER} -s {vip} -m ipvs --vaddr {vip} --vproto {proto} "
                   f"--vport {port} -j DROP")
    # acceptIPVSTraffic: at the end of KUBE-SERVICES.
    for set_ in (KUBE_CLUSTER_IP, KUBE_LOAD_BALANCER_SET):
        if members[set_]:
            nat.append(f"-A {KUBE_SERVICES} -m set --match-set {name(set_)} dst,dst -j ACCEPT")
    flt.append(f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" '
               f"-m mark --mark {mark}/{mark} -j ACCEPT")
    flt.append(f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" '
               "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    flt.append(f"-A {KUBE_NODE_PORT} {comment(KUBE_HEALTH_CHECK_NODE_PORT)} "
               f"-m set --match-set {name(KUBE_HEALTH_CHECK_NODE_PORT)} dst -j ACCEPT")
    # KUBE-IPVS-FILTER: no access to host ports through VIPs (issue 72236).
    for set_, dirs in ((KUBE_LOAD_BALANCER_SET, "dst,dst"), (KUBE_CLUSTER_IP, "dst,dst"),
                       (KUBE_EXTERNAL_IP, "dst,dst"), (KUBE_EXTERNAL_IP_LOCAL, "dst,dst"),
                       (KUBE_HEALTH_CHECK_NODE_PORT, "dst")):
        flt.append(f"-A {KUBE_IPVS_FILTER} -m set --match-set {name(set_)} {dirs} -j RETURN")
    flt.append(f"-A {KUBE_IPVS_FILTER} -m conntrack --ctstate NEW "
               f"-m set --match-set {name(KUBE_IPVS_IPS)} dst -j REJECT")
    nat.append(f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN")
    nat.append(f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}")
    nat.append(f'-A {KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" '
               "-j MASQUERADE" + (" --random-fully" if cfg.masquerade_random_fully else ""))
    nat.append(f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}")
    return Payload((
        TablePayload("nat", tuple(ChainDecl(c) for c in NAT_CHAINS), tuple(nat)),
        TablePayload("filter", tuple(ChainDecl(c) for c in FILTER_CHAINS), tuple(flt)),
    ))


def bootstrap_payload() -> Payload:
    """The jump rules the IPVS proxier ensures in the built-in chains (``createAndLinkKubeChain``:
    ``EnsureRule(Prepend)`` per ``iptablesJumpChain`` entry, so each built-in chain holds them
    in the reverse of the list order), with the chains they jump to. Load it (``--noflush``)
    before the first payload."""
    tables: dict[str, tuple[list[str], list[str]]] = {"nat": ([], []), "filter": ([], [])}
    for table, builtin, target, comment in reversed(JUMP_CHAINS):
        chains, lines = tables[table]
        if target not in chains:
            chains.append(target)
        lines.append(f'-A {builtin} -m comment --comment "{comment}" -j {target}')
    out = []
    for name in ("nat", "filter"):
        chains, lines = tables[name]
        ordered = sorted(lines, key=lambda line: line.split(" ", 2)[1])
        out.append(TablePayload(name, tuple(ChainDecl(c) for c in sorted(chains)), tuple(ordered)))
    return Payload(tuple(out))


@dataclass(frozen=True, slots=True)
class IPVSStats:
    """``kube-netsim rules --stats`` in IPVS mode."""

    rules: tuple[tuple[str, int], ...]  # (table, -A lines)
    sets: int
    members: tuple[tuple[str, int], ...]  # (set, members), every set
    bound_addresses: int
    virtual_servers: int
    real_servers: int


def ipvs_stats(rules: IPVSRules) -> IPVSStats:
    """Counts of what a sync programs."""
    return IPVSStats(
        tuple((t.name, sum(1 for line in t.lines if line.startswith("-A "))) for t in rules.payload.tables),
        len(rules.ipsets),
        tuple((s.name, len(s.members)) for s in rules.ipsets),
        len(rules.bound_addresses),
        len(rules.ipvs.virtual_servers),
        sum(len(vs.real_servers) for vs in rules.ipvs.virtual_servers),
    )


__all__ = [
    "DUMMY_DEVICE", "IPSET_INFO", "IPVSRules", "IPVSStats", "bootstrap_payload", "compile_ipvs",
    "ipvs_stats", "node_addresses", "real_servers", "set_name",
]
