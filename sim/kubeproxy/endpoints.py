"""Service ports and endpoints as kube-proxy sees them, and ``CategorizeEndpoints``.

Models three upstream pieces:

* ``pkg/proxy/serviceport.go`` (``newBaseServiceInfo``): one :class:`ServicePortInfo` per
  ``spec.ports[]`` of a Service with a cluster IP of the proxier's family (headless and
  ExternalName services are skipped), with externalIPs, load-balancer VIPs (``ipMode: Proxy``
  skipped), source ranges, traffic policies, health-check node port and affinity timeout.
* ``pkg/proxy/endpointslicecache.go``: endpoints grouped by (namespace, service, port name,
  protocol), only the first address used, duplicates collapsed (a non-terminating copy wins),
  sorted by their ``ip:port`` string byte-wise.
* ``pkg/proxy/topology.go`` (``CategorizeEndpoints``): ready endpoints, falling back to
  serving-and-terminating ones, separately for Cluster and Local policy.

Topology hints are not modelled (the model's ``Endpoint`` carries no hints), so the topology
mode is always "" (every ready endpoint is usable), as upstream does when hints are absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from sim.model import ClusterState, Service, ServicePort, ServiceType, SessionAffinity, TrafficPolicy
from sim.model.ip import normalise_ip, parse_cidr, parse_ip


@dataclass(frozen=True, slots=True)
class ServicePortInfo:
    """``BaseServicePortInfo`` of one service port for one IP family.

    ``spn`` is ``ServicePortName.String()``: ``ns/name:port`` or ``ns/name`` for an unnamed port.
    ``protocol`` is lower case (``tcp``) as kube-proxy writes it.
    """

    namespace: str
    name: str
    port_name: str
    spn: str
    protocol: str
    cluster_ip: str
    port: int
    node_port: int
    external_ips: tuple[str, ...]
    load_balancer_vips: tuple[str, ...]
    source_ranges: tuple[str, ...]
    external_policy_local: bool
    internal_policy_local: bool
    health_check_node_port: int
    affinity_timeout_s: int  # 0: no ClientIP affinity

    @property
    def externally_accessible(self) -> bool:
        """``ExternallyAccessible``: a NodePort, a load-balancer VIP or an externalIP."""
        return self.node_port != 0 or bool(self.load_balancer_vips) or bool(self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        """``UsesClusterEndpoints``: some traffic uses Cluster policy."""
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        """``UsesLocalEndpoints``: some traffic uses Local policy."""
        return self.internal_policy_local or (self.external_policy_local and self.externally_accessible)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(namespace, name, port name, protocol): how endpoints are matched to the port."""
        return (self.namespace, self.name, self.port_name, self.protocol)

    @property
    def sort_key(self) -> tuple[str, str, str]:
        """Canonical order: ``ns/name`` (the key of upstream's ``sortIPTablesRules``), then port
        name, then protocol."""
        return (f"{self.namespace}/{self.name}", self.port_name, self.protocol)


class EndpointInfo(NamedTuple):
    """``BaseEndpointInfo``: one endpoint of one service port as seen from one node.

    A named tuple rather than a frozen dataclass: a 100,000-endpoint cluster builds one per
    endpoint per sync, and tuple construction is several times cheaper.
    """

    ip: str
    port: int
    endpoint: str  # ip:port, the string hashed into KUBE-SEP names and shown in comments
    is_local: bool
    ready: bool
    serving: bool
    terminating: bool


def _family_of(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def _externally_accessible_service(svc: Service) -> bool:
    # pkg/api/v1/service/util.go ExternallyAccessible
    return svc.type in (ServiceType.LOAD_BALANCER, ServiceType.NODE_PORT) or (
        svc.type == ServiceType.CLUSTER_IP and bool(svc.external_ips)
    )


# Dotted-quad IPv4 text that ParseIPSloppy(...).String() returns unchanged; such cluster IPs skip
# the parse (one per service per sync).
_CANONICAL_V4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                           r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")


def _cluster_ip_for(svc: Service, family: str) -> str:
    candidates = svc.cluster_ips or ((svc.cluster_ip,) if svc.cluster_ip else ())
    for ip in candidates:
        if ip and ip != "None" and _family_of(ip) == family:
            return ip if _CANONICAL_V4.fullmatch(ip) else normalise_ip(ip)
    return ""


def _ips_of_family(ips: tuple[str, ...], family: str) -> tuple[str, ...]:
    # ParseIPSloppy + family filter; unparseable entries are dropped (upstream logs them).
    out = []
    for raw in ips:
        ip = _sloppy_normalise(raw.strip())
        if ip and (":" in ip) == (family == "IPv6"):
            out.append(ip)
    return tuple(out)


def _cidrs_of_family(cidrs: tuple[str, ...], family: str) -> tuple[str, ...]:
    """``ParseCIDRSloppy(...).String()`` of each range of ``family``: whitespace and leading
    zeros tolerated, host bits cleared (upstream ``TestBadIPs``).

    >>> _cidrs_of_family((" 203.0.113.0/25", "203.0.113.000/025", "fd00::/64"), "IPv4")
    ('203.0.113.0/25', '203.0.113.0/25')
    """
    out = []
    for raw in cidrs:
        addr, _, bits = raw.strip().partition("/")
        ip = _sloppy_normalise(addr)
        if not ip or not bits.isdigit():
            continue
        try:
            net = parse_cidr(f"{ip}/{int(bits)}")
        except ValueError:
            continue
        if ("IPv6" if net.version == 6 else "IPv4") == family:
            out.append(str(net))
    return tuple(out)


def _service_port_info(svc: Service, sp: ServicePort, cluster_ip: str, family: str) -> ServicePortInfo:
    spn = f"{svc.namespace}/{svc.name}:{sp.name}" if sp.name else f"{svc.namespace}/{svc.name}"
    external_local = (
        _externally_accessible_service(svc) and svc.external_traffic_policy == TrafficPolicy.LOCAL
    )
    vips = tuple(
        ing.ip for ing in svc.load_balancer_ingress if ing.ip and ing.ip_mode != "Proxy"
    )
    needs_health_check = svc.type == ServiceType.LOAD_BALANCER and external_local
    return ServicePortInfo(
        namespace=svc.namespace,
        name=svc.name,
        port_name=sp.name,
        spn=spn,
        protocol=sp.protocol.lower,
        cluster_ip=cluster_ip,
        port=sp.port,
        node_port=sp.node_port,
        external_ips=_ips_of_family(svc.external_ips, family),
        load_balancer_vips=_ips_of_family(vips, family),
        source_ranges=_cidrs_of_family(svc.load_balancer_source_ranges, family),
        external_policy_local=external_local,
        internal_policy_local=svc.internal_traffic_policy == TrafficPolicy.LOCAL,
        health_check_node_port=svc.health_check_node_port if needs_health_check else 0,
        affinity_timeout_s=(
            svc.affinity_timeout_s if svc.session_affinity == SessionAffinity.CLIENT_IP else 0
        ),
    )


def service_ports(state: ClusterState, family: str = "IPv4") -> list[ServicePortInfo]:
    """Every service port kube-proxy programs, in canonical order (:attr:`ServicePortInfo.sort_key`).

    Headless (``clusterIP: None``) and ExternalName services, and services without a cluster IP
    of ``family``, are skipped (``ServiceChangeTracker`` / ``newBaseServiceInfo``).
    """
    out = []
    for svc in state.services:
        if not svc.has_cluster_ip:
            continue
        cluster_ip = _cluster_ip_for(svc, family)
        if not cluster_ip:
            continue
        for sp in svc.ports:
            out.append(_service_port_info(svc, sp, cluster_ip, family))
    out.sort(key=lambda p: p.sort_key)
    return out


_NON_CANONICAL_V4 = re.compile(r"(?:^|\.)0\d|[^0-9.]")


def _sloppy_normalise(text: str) -> str:
    """``netutils.ParseIPSloppy(text).String()``: IPv4 octets may carry leading zeros (read as
    decimal); "" when ``text`` is not an address.

    >>> _sloppy_normalise("10.180.00.001"), _sloppy_normalise("fd00:0::1"), _sloppy_normalise("x")
    ('10.180.0.1', 'fd00::1', '')
    """
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        text = ".".join(str(int(p)) for p in parts)
    try:
        return str(parse_ip(text))
    except ValueError:
        return ""


def endpoints_by_port(
    state: ClusterState, node_name: str, family: str = "IPv4"
) -> dict[tuple[str, str, str, str], list[EndpointInfo]]:
    """Endpoints per (namespace, service, port name, protocol), sorted by ``ip:port`` string.

    Only endpoints whose first address is an IP of ``family`` (FQDN slices are skipped), ports
    with a non-zero port number, and endpoints with an address count; the first address is
    used (``endpointslicecache.go``). Slices are visited by name and a duplicate ``ip:port``
    replaces an earlier one unless it is terminating.
    """
    grouped: dict[tuple[str, str, str, str], dict[str, EndpointInfo]] = {}
    want_v6 = family == "IPv6"
    # An endpoint is local when its nodeName is set and equals ours; with no node name of our
    # own, compare against an object no nodeName equals.
    local_name: object = node_name if node_name else object()
    non_canonical = _NON_CANONICAL_V4.search
    make = tuple.__new__  # EndpointInfo(...) without the generated __new__'s call overhead
    slices = sorted(state.endpoint_slices, key=lambda s: (s.namespace, s.name))
    for sl in slices:
        if sl.address_type == "FQDN":
            continue  # kube-proxy programs IP endpoints only
        for ep_port in sl.ports:
            if not ep_port.port:
                continue
            key = (sl.namespace, sl.service_name, ep_port.name, ep_port.protocol.lower)
            bucket = grouped.setdefault(key, {})
            port_no = ep_port.port
            suffix = f":{port_no}"
            for ep in sl.endpoints:
                if not ep.addresses:
                    continue
                ip = ep.addresses[0]
                # Family is judged on the address itself (utilnet.IsIPv6String), then the IP is
                # normalised (ParseIPSloppy(...).String()); canonical IPv4 text skips the parse.
                if (":" in ip) != want_v6:
                    continue
                if want_v6 or non_canonical(ip):
                    ip = _sloppy_normalise(ip)
                    if not ip:
                        continue
                # net.JoinHostPort, inlined: this loop runs once per endpoint per sync
                text = f"[{ip}]{suffix}" if want_v6 else ip + suffix
                terminating = bool(ep.terminating)
                if terminating and text in bucket:
                    continue  # a non-terminating duplicate wins
                ready, serving = ep.ready, ep.serving
                bucket[text] = make(EndpointInfo, (
                    ip,
                    port_no,
                    text,
                    ep.node_name == local_name,
                    ready is None or ready,
                    serving is None or serving,
                    terminating,
                ))
    # Byte-wise string order, as upstream sorts endpoint strings ("10.1.1.11:11" < "10.1.1.1:11").
    return {k: [v[s] for s in sorted(v)] for k, v in grouped.items()}


@dataclass(frozen=True, slots=True)
class Categorized:
    """Result of :func:`categorize_endpoints` (names as in upstream)."""

    cluster: tuple[EndpointInfo, ...]
    local: tuple[EndpointInfo, ...]
    all_reachable: tuple[EndpointInfo, ...]
    has_any: bool


def categorize_endpoints(endpoints: list[EndpointInfo], svc: ServicePortInfo) -> Categorized:
    """``CategorizeEndpoints`` without topology hints.

    Cluster policy uses ready endpoints, or if none anywhere, serving-and-terminating ones.
    Local policy uses local ready endpoints, or if none, local serving-and-terminating ones.
    ``all_reachable`` is the union (kept in endpoint-string order; upstream builds it from a map,
    so its order there is arbitrary and only affects chain-line order).

    >>> ep = EndpointInfo("10.0.0.1", 80, "10.0.0.1:80", False, True, True, False)
    >>> from sim.kubeproxy.endpoints import ServicePortInfo
    >>> svc = ServicePortInfo("ns", "s", "", "ns/s", "tcp", "10.96.0.1", 80, 0, (), (), (),
    ...                       False, True, 0, 0)
    >>> c = categorize_endpoints([ep], svc)
    >>> (len(c.cluster), len(c.local), c.has_any)
    (0, 0, True)
    """
    cluster: tuple[EndpointInfo, ...] = ()
    local: tuple[EndpointInfo, ...] = ()
    has_any = False
    if svc.uses_cluster_endpoints:
        cluster = tuple(e for e in endpoints if e.ready)
        if not cluster:
            cluster = tuple(e for e in endpoints if e.serving and e.terminating)
        has_any = bool(cluster)
    if not svc.uses_local_endpoints:
        return Categorized(cluster, (), cluster, has_any)

    local_ready = local_serving_terminating = False
    for e in endpoints:
        if e.ready:
            has_any = True
            local_ready = local_ready or e.is_local
        elif e.serving and e.terminating:
            has_any = True
            local_serving_terminating = local_serving_terminating or e.is_local
    use_terminating = False
    if local_ready:
        local = tuple(e for e in endpoints if e.is_local and e.ready)
    elif local_serving_terminating:
        use_terminating = True
        local = tuple(e for e in endpoints if e.is_local and e.serving and e.terminating)

    if not svc.uses_cluster_endpoints:
        return Categorized(cluster, local, local, has_any)
    if not use_terminating:
        # cluster holds every ready endpoint, a superset of the ready local ones
        return Categorized(cluster, local, cluster, has_any)
    merged = {e.endpoint: e for e in cluster}
    merged.update((e.endpoint, e) for e in local)
    return Categorized(cluster, local, tuple(merged[k] for k in sorted(merged)), has_any)
