"""The userspace-mode compiler: the portal rules kube-proxy 1.0 kept on a node.

Model
    Kubernetes 1.0's kube-proxy (``pkg/proxy/proxier.go``, ``OnUpdate``, ``openPortal``,
    ``openOnePortal``, ``openNodePort``, ``iptablesInit`` and the ``ipt*Args`` builders) opened
    one listening socket per service port (``addServiceOnPort``) and wrote nat rules that send
    the service's addresses to that socket's *proxy port* on the node:

    * ``iptablesInit``: chains ``KUBE-PORTALS-CONTAINER`` (prepended to PREROUTING: traffic from
      containers and other hosts) and ``KUBE-PORTALS-HOST`` (prepended to OUTPUT: the node's
      own processes), comment ``handle ClusterIPs; NOTE: this must be before the NodePort
      rules``; then ``KUBE-NODEPORT-CONTAINER`` / ``KUBE-NODEPORT-HOST`` appended with ``-m
      addrtype --dst-type LOCAL`` and comment ``handle service NodePorts; NOTE: this must be the
      last rule in the chain``.
    * ``openPortal`` per service port, in this order: the cluster IP, each
      ``deprecatedPublicIPs`` address (the seed's ``publicIPs``; ``externalIPs`` here), each
      load-balancer ingress IP, then the NodePort. Each portal is a container rule and a host
      rule: ``-m comment --comment NS/NAME:PORTNAME -p PROTO -m PROTO --dport PORT [-d IP/32]``
      then ``-j REDIRECT --to-ports PROXYPORT`` from containers (the proxy listens on 0.0.0.0)
      and ``-j DNAT --to-destination HOSTIP:PROXYPORT`` from the host (REDIRECT of locally
      generated packets sends them to 127.0.0.1 and breaks UDP replies, says upstream).
      NodePort rules carry no ``-d``. The comment is 1.0's ``ServicePortName.String()``,
      ``"%s:%s"``: an unnamed port leaves a trailing colon (``default/my-svc:``).

    The proxy ports are an *input* (``proxy_ports``, per service port): kube-proxy got them from
    the kernel (``bind`` to port 0: any free port) or from ``--proxy-port-range``; the world and
    the ``rules`` command draw them with :func:`allocate_proxy_ports` from the node's own random
    stream, so the compiler stays pure. ``HOSTIP`` is ``util.ChooseHostInterface()``: the node's
    InternalIP here.

Scope and limitations
    Rules are returned in canonical order (service ports sorted as the iptables compiler sorts
    them, portals in ``openPortal`` order). A real 1.0 node appends rules as services appear,
    so its chain order is creation order; portals never overlap (one rule per address, port
    and protocol), so the order changes no packet's fate. ``--bind-address`` other than
    0.0.0.0 (DNAT from containers too) is not modelled. 1.0 had no traffic policies, source
    ranges or ``ipMode``; they are ignored. NodePort conflicts (upstream's ``portMap``) cannot
    happen: the apiserver allocates NodePorts uniquely. IPv4 only.
Validation
    ``tests/kubeproxy/test_userspace.py`` pins the rule text and order; ``tests/kernel/
    test_userspace_kernel.py`` loads the rules with the real ``iptables-restore`` next to a real
    listening socket on the proxy port and checks what reaches it and what a relay sends on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sim.iptables import ChainDecl, Payload, TablePayload
from sim.kubeproxy.endpoints import ServicePortInfo, endpoints_by_port, service_ports
from sim.model import ClusterState
from sim.model.errors import SimError

KUBE_PORTALS_CONTAINER = "KUBE-PORTALS-CONTAINER"
KUBE_PORTALS_HOST = "KUBE-PORTALS-HOST"
KUBE_NODEPORT_CONTAINER = "KUBE-NODEPORT-CONTAINER"
KUBE_NODEPORT_HOST = "KUBE-NODEPORT-HOST"
CHAINS = (KUBE_NODEPORT_CONTAINER, KUBE_NODEPORT_HOST, KUBE_PORTALS_CONTAINER, KUBE_PORTALS_HOST)

PORTALS_COMMENT = "handle ClusterIPs; NOTE: this must be before the NodePort rules"
NODEPORTS_COMMENT = "handle service NodePorts; NOTE: this must be the last rule in the chain"

# The Linux default net.ipv4.ip_local_port_range: where bind(port 0) finds a free port.
EPHEMERAL_RANGE = (32768, 60999)
# proxier.go: const udpIdleTimeout = 10 * time.Second (1.0; a minute before it).
UDP_IDLE_TIMEOUT_S = 10.0
# proxier.go SyncLoop: const syncInterval = 5 * time.Second.
SYNC_INTERVAL_S = 5.0
# proxysocket.go: var endpointDialTimeout = []time.Duration{1, 2, 4, 8} (seconds).
ENDPOINT_DIAL_TIMEOUTS_S = (1.0, 2.0, 4.0, 8.0)
# addServiceOnPort: stickyMaxAgeMinutes: 180 // TODO: paramaterize this in the API.
STICKY_MAX_AGE_S = 180 * 60


@dataclass(frozen=True, slots=True)
class ProxyService:
    """One service port as the 1.0 proxier holds it (``serviceInfo``): what its socket serves.

    ``name`` is 1.0's ``ServicePortName.String()`` (``ns/name:portname``), the rule comment.
    ``portals`` are ``(ip, port)`` pairs in ``openPortal`` order (cluster IP, public IPs,
    load-balancer ingress); ``node_port`` 0 means none. ``affinity`` is ``ClientIP`` or
    ``None``; ``sticky_max_age_s`` the affinity's lifetime.
    """

    name: str
    namespace: str
    service: str
    port_name: str
    protocol: str
    cluster_ip: str
    port: int
    portals: tuple[tuple[str, int], ...]
    node_port: int
    affinity: str
    sticky_max_age_s: float

    @property
    def key(self) -> tuple[str, str]:
        """(comment name, protocol): one proxy socket each."""
        return (self.name, self.protocol)


def proxy_services(state: ClusterState) -> list[ProxyService]:
    """Every service port that gets a proxy socket, in canonical order.

    ``OnUpdate`` skips services whose cluster IP is unset or ``None`` (headless,
    ExternalName); every port of the others gets one socket.
    """
    out = []
    for info in service_ports(state):
        out.append(_proxy_service(info))
    return out


def _proxy_service(info: ServicePortInfo) -> ProxyService:
    portals = [(info.cluster_ip, info.port)]
    portals += [(ip, info.port) for ip in info.external_ips]
    portals += [(ip, info.port) for ip in info.load_balancer_vips]
    return ProxyService(
        name=f"{info.namespace}/{info.name}:{info.port_name}",
        namespace=info.namespace, service=info.name, port_name=info.port_name,
        protocol=info.protocol, cluster_ip=info.cluster_ip, port=info.port,
        portals=tuple(portals), node_port=info.node_port,
        affinity="ClientIP" if info.affinity_timeout_s else "None",
        sticky_max_age_s=float(info.affinity_timeout_s or STICKY_MAX_AGE_S),
    )


def service_endpoints(state: ClusterState, node_name: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """The ``ip:port`` endpoints the load balancer holds per service port (``(name, protocol)``).

    1.0's ``LoadBalancerRR.OnUpdate`` takes the Endpoints object's addresses (ready ones; 1.0
    had no notReady or terminating endpoints in the proxy's view), sorted for comparison.
    """
    eps = endpoints_by_port(state, node_name)
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for svc in proxy_services(state):
        found = eps.get((svc.namespace, svc.service, svc.port_name, svc.protocol), ())
        out[svc.key] = tuple(sorted(e.endpoint for e in found if e.ready))
    return out


def parse_port_range(text: str, where: str = "kubeProxy.portRange") -> tuple[int, int] | None:
    """``util.PortRange.Set``: ``base-max`` (inclusive) or ``base+size``; empty: ``None``.

    >>> parse_port_range("30000-30002"), parse_port_range("40000+10"), parse_port_range("")
    ((30000, 30002), (40000, 40009), None)
    """
    text = text.strip()
    if not text:
        return None
    sep = "-" if "-" in text else "+"
    lo_s, _, hi_s = text.partition(sep)
    try:
        lo, n = int(lo_s), int(hi_s)
    except ValueError:
        raise SimError(f'{where}: Invalid value: "{text}": must be base-max or base+size') from None
    hi = n if sep == "-" else lo + n - 1
    if not 0 < lo <= hi <= 65535:
        raise SimError(f'{where}: Invalid value: "{text}": not a valid port range')
    return lo, hi


def allocate_proxy_ports(keys, port_range: tuple[int, int] | None, rng,
                         taken: Mapping[tuple[str, str], int] | None = None,
                         reserved: frozenset[int] = frozenset()) -> dict[tuple[str, str], int]:
    """Proxy ports for ``keys`` (service-port keys, in order), keeping those in ``taken``.

    With a range, ``rangeAllocator.nextFreePort``: a random port of the range first, then a
    sequential scan (wrapping) for a free one; upstream gives up with port 0 when the range is
    full, here that is an error. Without one, the kernel's ``bind(0)``: a free port of the
    ephemeral range, which we draw the same way. Ports in ``reserved`` (the node's own
    listeners) and already allocated ones are never handed out. Deterministic for a given
    ``rng`` state.
    """
    keys = list(keys)
    out: dict[tuple[str, str], int] = {}
    used = set(reserved)
    for k in keys:
        if taken and k in taken:
            out[k] = taken[k]
            used.add(taken[k])
    lo, hi = port_range or EPHEMERAL_RANGE
    size = hi - lo + 1
    for k in keys:
        if k in out:
            continue
        start = int(rng.integers(size))
        for j in range(size):
            port = lo + (start + j) % size
            if port not in used:
                break
        else:
            raise SimError(f'kubeProxy.portRange: Invalid value: "{lo}-{hi}": no free proxy port '
                           f"for {k[0]} ({len(keys)} service ports need one each)")
        out[k] = port
        used.add(port)
    return out


def init_rules() -> tuple[str, ...]:
    """``iptablesInit``'s jumps as they stand in PREROUTING and OUTPUT (restore lines)."""
    portals = f'-m comment --comment "{PORTALS_COMMENT}"'
    nodeports = f'-m addrtype --dst-type LOCAL -m comment --comment "{NODEPORTS_COMMENT}"'
    return (
        f"-A PREROUTING {portals} -j {KUBE_PORTALS_CONTAINER}",
        f"-A PREROUTING {nodeports} -j {KUBE_NODEPORT_CONTAINER}",
        f"-A OUTPUT {portals} -j {KUBE_PORTALS_HOST}",
        f"-A OUTPUT {nodeports} -j {KUBE_NODEPORT_HOST}",
    )


def _common(svc: ProxyService, ip: str, port: int) -> str:
    # iptablesCommonPortalArgs: comment, protocol, --dport, then -d (1.0 writes -d last).
    args = f'-m comment --comment "{svc.name}" -p {svc.protocol} -m {svc.protocol} --dport {port}'
    return f"{args} -d {ip}/32" if ip else args


def portal_rules(svc: ProxyService, proxy_port: int, host_ip: str) -> tuple[str, ...]:
    """The rule lines ``openPortal`` ensures for one service port, in its order."""
    out = []
    for ip, port in svc.portals:
        common = _common(svc, ip, port)
        out.append(f"-A {KUBE_PORTALS_CONTAINER} {common} -j REDIRECT --to-ports {proxy_port}")
        out.append(f"-A {KUBE_PORTALS_HOST} {common} -j DNAT --to-destination {host_ip}:{proxy_port}")
    if svc.node_port:
        common = _common(svc, "", svc.node_port)
        out.append(f"-A {KUBE_NODEPORT_CONTAINER} {common} -j REDIRECT --to-ports {proxy_port}")
        out.append(f"-A {KUBE_NODEPORT_HOST} {common} -j DNAT --to-destination {host_ip}:{proxy_port}")
    return tuple(out)


def compile_rules(state: ClusterState, node_name: str,
                  proxy_ports: Mapping[tuple[str, str], int]) -> Payload:
    """The nat table a 1.0 kube-proxy keeps on ``node_name``, as an ``iptables-restore`` payload.

    ``proxy_ports`` maps each :attr:`ProxyService.key` to its socket's port (see
    :func:`allocate_proxy_ports`); a service port without one has no socket and no rules (as
    when ``addServiceOnPort`` failed upstream). The payload holds ``iptablesInit``'s jumps
    and every portal rule; load it with ``--noflush`` on a clean node.
    """
    node = state.node(node_name)
    if node is None:
        raise SimError(f"no node {node_name!r}")
    host_ip = node.internal_ip
    lines = list(init_rules())
    for svc in proxy_services(state):
        port = proxy_ports.get(svc.key)
        if port:
            lines.extend(portal_rules(svc, port, host_ip))
    # Group by chain: PREROUTING/OUTPUT jumps first, then each portal chain's rules.
    order = {"PREROUTING": 0, "OUTPUT": 1, KUBE_PORTALS_CONTAINER: 2, KUBE_PORTALS_HOST: 3,
             KUBE_NODEPORT_CONTAINER: 4, KUBE_NODEPORT_HOST: 5}
    lines.sort(key=lambda line: order[line.split(" ", 2)[1]])
    return Payload((TablePayload("nat", tuple(ChainDecl(c) for c in CHAINS), tuple(lines)),))


def iptables_commands(payload: Payload) -> tuple[str, ...]:
    """The ``iptables`` invocations that build ``payload`` on a clean node, one rule at a time,
    as 1.0 did (``EnsureChain`` = ``-N``, ``EnsureRule`` = ``-C`` then ``-I``/``-A``)."""
    nat = payload.table("nat")
    out = [f"iptables -t nat -N {c.name}" for c in nat.chains] if nat else []
    for line in nat.lines if nat else ():
        chain, rest = line[3:].split(" ", 1)
        # iptablesInit prepends the portal jumps and appends the NodePort ones.
        verb = "-I" if chain in ("PREROUTING", "OUTPUT") and PORTALS_COMMENT in rest else "-A"
        out.append(f"iptables -t nat -C {chain} {rest}")
        out.append(f"iptables -t nat {verb} {chain} {rest}")
    return tuple(out)

