"""Service environment variables: kubelet envvars.FromServices and getServiceEnvVarMap."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from sim.kubelet.envvars import from_services, service_env, visible_services
from sim.model import Pod, Protocol, Service, ServicePort, ServiceType

TCP, UDP, SCTP = Protocol.TCP, Protocol.UDP, Protocol.SCTP


def svc(ns, name, ip, *ports, **kw):
    return Service(ns, name, cluster_ip=ip, ports=tuple(ports), **kw)


# The services of upstream envvars_test.go TestFromServices.
UPSTREAM_SERVICES = [
    svc("default", "foo-bar", "1.2.3.4", ServicePort(8080, TCP)),
    svc("default", "abc-123", "5.6.7.8", ServicePort(8081, UDP, "u-d-p"),
        ServicePort(8081, TCP, "t-c-p")),
    svc("default", "q-u-u-x", "9.8.7.6", ServicePort(8082, TCP), ServicePort(8083, TCP, "8083")),
    svc("default", "svrc-clusterip-none", "None", ServicePort(8082, TCP)),
    svc("default", "svrc-clusterip-empty", "", ServicePort(8082, TCP)),
    svc("default", "super-ipv6", "2001:DB8::", ServicePort(8084, UDP, "u-d-p"),
        ServicePort(8084, TCP, "t-c-p")),
    svc("default", "sctp-1", "1.2.3.4", ServicePort(777, SCTP)),
]

UPSTREAM_EXPECTED = [
    ("FOO_BAR_SERVICE_HOST", "1.2.3.4"),
    ("FOO_BAR_SERVICE_PORT", "8080"),
    ("FOO_BAR_PORT", "tcp://1.2.3.4:8080"),
    ("FOO_BAR_PORT_8080_TCP", "tcp://1.2.3.4:8080"),
    ("FOO_BAR_PORT_8080_TCP_PROTO", "tcp"),
    ("FOO_BAR_PORT_8080_TCP_PORT", "8080"),
    ("FOO_BAR_PORT_8080_TCP_ADDR", "1.2.3.4"),
    ("ABC_123_SERVICE_HOST", "5.6.7.8"),
    ("ABC_123_SERVICE_PORT", "8081"),
    ("ABC_123_SERVICE_PORT_U_D_P", "8081"),
    ("ABC_123_SERVICE_PORT_T_C_P", "8081"),
    ("ABC_123_PORT", "udp://5.6.7.8:8081"),
    ("ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"),
    ("ABC_123_PORT_8081_UDP_PROTO", "udp"),
    ("ABC_123_PORT_8081_UDP_PORT", "8081"),
    ("ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"),
    ("ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"),
    ("ABC_123_PORT_8081_TCP_PROTO", "tcp"),
    ("ABC_123_PORT_8081_TCP_PORT", "8081"),
    ("ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"),
    ("Q_U_U_X_SERVICE_HOST", "9.8.7.6"),
    ("Q_U_U_X_SERVICE_PORT", "8082"),
    ("Q_U_U_X_SERVICE_PORT_8083", "8083"),
    ("Q_U_U_X_PORT", "tcp://9.8.7.6:8082"),
    ("Q_U_U_X_PORT_8082_TCP", "tcp://9.8.7.6:8082"),
    ("Q_U_U_X_PORT_8082_TCP_PROTO", "tcp"),
    ("Q_U_U_X_PORT_8082_TCP_PORT", "8082"),
    ("Q_U_U_X_PORT_8082_TCP_ADDR", "9.8.7.6"),
    ("Q_U_U_X_PORT_8083_TCP", "tcp://9.8.7.6:8083"),
    ("Q_U_U_X_PORT_8083_TCP_PROTO", "tcp"),
    ("Q_U_U_X_PORT_8083_TCP_PORT", "8083"),
    ("Q_U_U_X_PORT_8083_TCP_ADDR", "9.8.7.6"),
    ("SUPER_IPV6_SERVICE_HOST", "2001:DB8::"),
    ("SUPER_IPV6_SERVICE_PORT", "8084"),
    ("SUPER_IPV6_SERVICE_PORT_U_D_P", "8084"),
    ("SUPER_IPV6_SERVICE_PORT_T_C_P", "8084"),
    ("SUPER_IPV6_PORT", "udp://[2001:DB8::]:8084"),
    ("SUPER_IPV6_PORT_8084_UDP", "udp://[2001:DB8::]:8084"),
    ("SUPER_IPV6_PORT_8084_UDP_PROTO", "udp"),
    ("SUPER_IPV6_PORT_8084_UDP_PORT", "8084"),
    ("SUPER_IPV6_PORT_8084_UDP_ADDR", "2001:DB8::"),
    ("SUPER_IPV6_PORT_8084_TCP", "tcp://[2001:DB8::]:8084"),
    ("SUPER_IPV6_PORT_8084_TCP_PROTO", "tcp"),
    ("SUPER_IPV6_PORT_8084_TCP_PORT", "8084"),
    ("SUPER_IPV6_PORT_8084_TCP_ADDR", "2001:DB8::"),
    ("SCTP_1_SERVICE_HOST", "1.2.3.4"),
    ("SCTP_1_SERVICE_PORT", "777"),
    ("SCTP_1_PORT", "sctp://1.2.3.4:777"),
    ("SCTP_1_PORT_777_SCTP", "sctp://1.2.3.4:777"),
    ("SCTP_1_PORT_777_SCTP_PROTO", "sctp"),
    ("SCTP_1_PORT_777_SCTP_PORT", "777"),
    ("SCTP_1_PORT_777_SCTP_ADDR", "1.2.3.4"),
]

KUBERNETES = svc("default", "kubernetes", "10.96.0.1", ServicePort(443, TCP, "https", 6443))
KUBERNETES_VARS = [
    ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
    ("KUBERNETES_SERVICE_PORT", "443"),
    ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
    ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
    ("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"),
    ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
    ("KUBERNETES_PORT_443_TCP_PORT", "443"),
    ("KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"),
]


def test_from_services_matches_upstream_test_exactly():
    """FromServices gives exactly upstream TestFromServices' list, in its order (IPv6 bracketed
    in URLs only, SCTP lower/upper-cased, headless and empty cluster IPs skipped)."""
    assert from_services(UPSTREAM_SERVICES) == UPSTREAM_EXPECTED


def test_redis_primary_example_from_the_docs():
    """The documented redis-primary example yields exactly its seven variables."""
    redis = svc("default", "redis-primary", "10.0.0.11", ServicePort(6379, TCP))
    assert from_services([redis]) == [
        ("REDIS_PRIMARY_SERVICE_HOST", "10.0.0.11"),
        ("REDIS_PRIMARY_SERVICE_PORT", "6379"),
        ("REDIS_PRIMARY_PORT", "tcp://10.0.0.11:6379"),
        ("REDIS_PRIMARY_PORT_6379_TCP", "tcp://10.0.0.11:6379"),
        ("REDIS_PRIMARY_PORT_6379_TCP_PROTO", "tcp"),
        ("REDIS_PRIMARY_PORT_6379_TCP_PORT", "6379"),
        ("REDIS_PRIMARY_PORT_6379_TCP_ADDR", "10.0.0.11"),
    ]


def test_redis_master_seed_example():
    """The seed's redis-master service (10.0.0.11:6379) gives exactly the seed's seven lines,
    in the seed's order."""
    redis = svc("default", "redis-master", "10.0.0.11", ServicePort(6379, TCP))
    assert [f"{n}={v}" for n, v in from_services([redis])] == [
        "REDIS_MASTER_SERVICE_HOST=10.0.0.11",
        "REDIS_MASTER_SERVICE_PORT=6379",
        "REDIS_MASTER_PORT=tcp://10.0.0.11:6379",
        "REDIS_MASTER_PORT_6379_TCP=tcp://10.0.0.11:6379",
        "REDIS_MASTER_PORT_6379_TCP_PROTO=tcp",
        "REDIS_MASTER_PORT_6379_TCP_PORT=6379",
        "REDIS_MASTER_PORT_6379_TCP_ADDR=10.0.0.11",
    ]


def test_service_port_not_target_or_node_port():
    """Variables carry spec.ports[].port, never targetPort or nodePort."""
    s = svc("default", "web", "10.96.0.9", ServicePort(80, TCP, "http", 8080, node_port=30080),
            type=ServiceType.NODE_PORT)
    values = {v for _, v in from_services([s])}
    assert "8080" not in values and "30080" not in values
    assert dict(from_services([s]))["WEB_SERVICE_PORT_HTTP"] == "80"


def test_pod_sees_own_namespace_and_default_kubernetes():
    """A pod gets its namespace's services plus default/kubernetes, not other namespaces'."""
    services = [KUBERNETES, svc("prod", "db", "10.96.1.5", ServicePort(5432, TCP)),
                svc("dev", "db", "10.96.2.5", ServicePort(5432, TCP)),
                svc("default", "other", "10.96.0.50", ServicePort(80, TCP))]
    env = dict(service_env(Pod("prod", "client"), services))
    assert env["DB_SERVICE_HOST"] == "10.96.1.5"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert "OTHER_SERVICE_HOST" not in env


def test_enable_service_links_false_keeps_only_kubernetes():
    """enableServiceLinks: false leaves exactly the eight KUBERNETES_* variables."""
    services = [KUBERNETES, svc("prod", "db", "10.96.1.5", ServicePort(5432, TCP))]
    pod = Pod("prod", "client", enable_service_links=False)
    assert service_env(pod, services) == KUBERNETES_VARS


def test_pod_in_default_namespace_without_links_sees_only_kubernetes():
    """In namespace default, enableServiceLinks: false still hides the other default services."""
    services = [KUBERNETES, svc("default", "other", "10.96.0.50", ServicePort(80, TCP))]
    pod = Pod("default", "client", enable_service_links=False)
    assert service_env(pod, services) == KUBERNETES_VARS


def test_headless_and_external_name_are_skipped():
    """Headless (clusterIP None) and ExternalName services produce no variables."""
    services = [svc("prod", "hl", "None", ServicePort(80, TCP)),
                svc("prod", "ext", "", ServicePort(80, TCP), type=ServiceType.EXTERNAL_NAME,
                    external_name="db.example.com")]
    assert service_env(Pod("prod", "client"), services) == []


def test_service_created_after_pod_is_absent():
    """A Service created after the pod (higher creation_index) is not in its environment."""
    before = svc("prod", "early", "10.96.1.1", ServicePort(80, TCP), creation_index=1)
    after = svc("prod", "late", "10.96.1.2", ServicePort(80, TCP), creation_index=5)
    env = dict(service_env(Pod("prod", "client", creation_index=3), [before, after]))
    assert "EARLY_SERVICE_HOST" in env and "LATE_SERVICE_HOST" not in env


def test_own_kubernetes_service_replaces_master():
    """A service named kubernetes in the pod's namespace wins over default/kubernetes."""
    own = svc("prod", "kubernetes", "10.96.1.99", ServicePort(8443, TCP, "https"))
    env = dict(service_env(Pod("prod", "client"), [own, KUBERNETES]))
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.1.99"
    env = dict(service_env(Pod("prod", "client"), [KUBERNETES, own]))
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.1.99"


def test_services_are_ordered_by_name():
    """The output lists services by name (upstream order is undefined: a Go map)."""
    services = [svc("prod", "zeta", "10.96.1.3", ServicePort(1, TCP)),
                svc("prod", "alpha", "10.96.1.4", ServicePort(1, TCP)), KUBERNETES]
    names = [s.name for s in visible_services(Pod("prod", "c"), services)]
    assert names == ["alpha", "kubernetes", "zeta"]


def test_dns_has_no_ordering_requirement():
    """The seed: a Service created after the pod is missing from its environment, but DNS
    answers for it at once."""
    from sim.dns.records import ClusterDNS
    from sim.model import ClusterState, Namespace

    late = Service("prod", "late", cluster_ip="10.96.1.2", cluster_ips=("10.96.1.2",),
                   ports=(ServicePort(80, TCP),), creation_index=5)
    pod = Pod("prod", "client", creation_index=3)
    assert service_env(pod, [late]) == []
    state = ClusterState(namespaces=(Namespace("prod"),), services=(late,), pods=(pod,))
    assert ClusterDNS(state).answer("late.prod.svc.cluster.local.", "A").addresses() == \
        ("10.96.1.2",)


PORT_NAMES = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@st.composite
def services(draw):
    name = draw(st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True))
    n = draw(st.integers(1, 4))
    names = draw(st.lists(PORT_NAMES, min_size=n, max_size=n, unique=True))
    ports = tuple(ServicePort(draw(st.integers(1, 65535)), draw(st.sampled_from([TCP, UDP, SCTP])),
                              names[i] if n > 1 or draw(st.booleans()) else "")
                  for i in range(n))
    ip = draw(st.sampled_from(["10.96.3.4", "fd00::5"]))
    return svc("default", name, ip, *ports)


@given(services())
def test_variable_count_and_names(s):
    """Per service: HOST, PORT, one per named port, the link PORT, and four per port; every
    name is upper case with underscores; values never contain an unbracketed IPv6 URL."""
    out = from_services([s])
    named = sum(1 for p in s.ports if p.name)
    assert len(out) == 2 + named + 1 + 4 * len(s.ports)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", n) for n, _ in out)
    urls = [v for n, v in out if "://" in v]
    assert all(("[" in u) == (":" in s.cluster_ip) for u in urls)
