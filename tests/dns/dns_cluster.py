"""A small cluster shaped after the DNS specification's examples, built from sim.model directly."""

from __future__ import annotations

from sim.model import (
    ClusterState,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Namespace,
    ObjectRef,
    Pod,
    Protocol,
    Service,
    ServicePort,
    ServiceType,
)


def svc(ns, name, ip, *ports, **kw):
    ips = kw.pop("cluster_ips", (ip,) if ip not in ("", "None") else ())
    return Service(ns, name, cluster_ip=ip, cluster_ips=ips, ports=tuple(ports), **kw)


def ep(*addresses, ready=True, hostname="", pod=""):
    ref = ObjectRef("Pod", "default", pod) if pod else None
    return Endpoint(tuple(addresses), ready=ready, hostname=hostname, target_ref=ref)


def eslice(ns, service, *endpoints, ports=(), family="IPv4", name=None):
    return EndpointSlice(ns, name or f"{service}-abc", service, address_type=family,
                         endpoints=tuple(endpoints), ports=tuple(ports))


def spec_cluster(**overrides) -> ClusterState:
    """kubernetes (ClusterIP, https/443), headless (3 ready + 1 not ready, https/443),
    foo (ExternalName www.example.com), dual (dual-stack), empty (no endpoints),
    web (ClusterIP with a named and an unnamed port and two ready pods), nohost (headless,
    no endpoints), v6 (IPv6 ClusterIP), pnr (headless, publishNotReadyAddresses)."""
    https = ServicePort(443, Protocol.TCP, "https", 443)
    services = [
        svc("default", "kubernetes", "10.96.0.1", https),
        svc("default", "headless", "None", https),
        svc("default", "foo", "", type=ServiceType.EXTERNAL_NAME,
            external_name="www.example.com"),
        svc("default", "dual", "10.96.0.20", https, cluster_ips=("10.96.0.20", "fd00::20"),
            ip_families=("IPv4", "IPv6")),
        svc("default", "empty", "10.96.0.30", ServicePort(80, name="http")),
        svc("default", "web", "10.96.0.40", ServicePort(80, name="http", target_port=8080),
            ServicePort(81, protocol=Protocol.UDP, target_port=8081)),
        svc("default", "nohost", "None", https),
        svc("default", "v6", "fd00::1", https, ip_families=("IPv6",)),
        svc("default", "pnr", "None", https, publish_not_ready_addresses=True),
        svc("prod", "db", "10.96.1.5", ServicePort(5432, name="pg")),
    ]
    slices = [
        eslice("default", "kubernetes", ep("192.168.0.10"),
               ports=(EndpointPort(6443, Protocol.TCP, "https"),)),
        eslice("default", "headless",
               ep("10.3.0.100", hostname="my-pet"), ep("10.3.0.101", hostname="my-pet-2"),
               ep("10.3.0.102"), ep("10.3.0.103", ready=False),
               ports=(EndpointPort(443, Protocol.TCP, "https"),)),
        eslice("default", "web", ep("10.1.0.5", pod="web-a"), ep("10.1.0.6", pod="web-b"),
               ports=(EndpointPort(8080, Protocol.TCP, "http"),
                      EndpointPort(8081, Protocol.UDP, ""))),
        eslice("default", "pnr", ep("10.3.1.1", ready=False),
               ports=(EndpointPort(443, Protocol.TCP, "https"),)),
    ]
    pods = [Pod("default", "web-a", pod_ip="10.1.0.5"), Pod("default", "web-b", pod_ip="10.1.0.6")]
    return ClusterState(
        namespaces=(Namespace("default"), Namespace("prod"), Namespace("my-ns")),
        services=tuple(sorted(services, key=lambda s: (s.namespace, s.name))),
        endpoint_slices=tuple(slices), pods=tuple(pods), **overrides)
