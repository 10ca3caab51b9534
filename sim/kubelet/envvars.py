"""Service environment variables a container is started with (kubelet ``envvars.FromServices``).

Upstream: ``pkg/kubelet/envvars/envvars.go`` (``FromServices``, ``makeEnvVariableName``,
``makeLinkVariables``) and ``pkg/kubelet/kubelet_pods.go`` (``getServiceEnvVarMap``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sim.model import Pod, Service

# kubelet_pods.go: masterServiceNamespace = metav1.NamespaceDefault, masterServices = {"kubernetes"}
MASTER_SERVICE_NAMESPACE = "default"
MASTER_SERVICES = ("kubernetes",)


def env_name(name: str) -> str:
    """``makeEnvVariableName``: upper case, dashes to underscores.

    >>> env_name("foo-bar")
    'FOO_BAR'
    """
    return name.replace("-", "_").upper()


def _join_host_port(ip: str, port: int) -> str:
    # net.JoinHostPort: only addresses containing a colon (IPv6) are bracketed.
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def from_services(services: Iterable[Service]) -> list[tuple[str, str]]:
    """``FromServices``: the variables of each service, in upstream order within a service.

    Services without a cluster IP (headless, ExternalName) are skipped.

    >>> from sim.model import ServicePort
    >>> svc = Service("default", "redis-primary", cluster_ip="10.0.0.11",
    ...               ports=(ServicePort(6379),))
    >>> [n for n, _ in from_services([svc])][:3]
    ['REDIS_PRIMARY_SERVICE_HOST', 'REDIS_PRIMARY_SERVICE_PORT', 'REDIS_PRIMARY_PORT']
    """
    out: list[tuple[str, str]] = []
    for svc in services:
        # v1helper.IsServiceIPSet: clusterIP is neither "" nor "None".
        if svc.cluster_ip in ("", "None") or not svc.ports:
            continue
        prefix = env_name(svc.name)
        out.append((f"{prefix}_SERVICE_HOST", svc.cluster_ip))
        out.append((f"{prefix}_SERVICE_PORT", str(svc.ports[0].port)))
        for sp in svc.ports:
            if sp.name:
                out.append((f"{prefix}_SERVICE_PORT_{env_name(sp.name)}", str(sp.port)))
        out.extend(_link_variables(svc, prefix))
    return out


def _link_variables(svc: Service, prefix: str) -> list[tuple[str, str]]:
    """``makeLinkVariables``: the Docker-link style variables."""
    out: list[tuple[str, str]] = []
    for i, sp in enumerate(svc.ports):
        proto = (sp.protocol.value if sp.protocol else "TCP")
        url = f"{proto.lower()}://{_join_host_port(svc.cluster_ip, sp.port)}"
        if i == 0:
            # Docker special-cases the first port.
            out.append((f"{prefix}_PORT", url))
        port_prefix = f"{prefix}_PORT_{sp.port}_{proto.upper()}"
        out.append((port_prefix, url))
        out.append((f"{port_prefix}_PROTO", proto.lower()))
        out.append((f"{port_prefix}_PORT", str(sp.port)))
        out.append((f"{port_prefix}_ADDR", svc.cluster_ip))
    return out


def visible_services(pod: Pod, services: Iterable[Service]) -> list[Service]:
    """``getServiceEnvVarMap``: the services whose variables ``pod`` gets, sorted by name.

    ``default/kubernetes`` always; the pod's own namespace only with ``enableServiceLinks``
    (a same-named service there replaces the master one, as the kubelet's map keyed by name
    does). Only services that existed when the pod was created count: the variables are fixed
    at container start, so a Service with a higher ``creation_index`` than the pod is absent.
    Upstream builds the result through a Go map (undefined order); we sort by service name.
    """
    chosen: dict[str, Service] = {}
    for svc in services:
        if svc.cluster_ip in ("", "None"):
            continue
        if svc.creation_index > pod.creation_index:
            continue
        if svc.namespace == MASTER_SERVICE_NAMESPACE and svc.name in MASTER_SERVICES:
            chosen.setdefault(svc.name, svc)
        elif svc.namespace == pod.namespace and pod.enable_service_links:
            chosen[svc.name] = svc
    return [chosen[name] for name in sorted(chosen)]


def service_env(pod: Pod, services: Iterable[Service]) -> list[tuple[str, str]]:
    """The service variables ``pod`` is started with, as ``(name, value)`` pairs.

    Services are taken in name order; within a service the order is upstream's.

    >>> from sim.model import ServicePort
    >>> k = Service("default", "kubernetes", cluster_ip="10.96.0.1",
    ...             ports=(ServicePort(443, name="https"),))
    >>> dict(service_env(Pod("prod", "p", enable_service_links=False), [k]))["KUBERNETES_PORT"]
    'tcp://10.96.0.1:443'
    """
    return from_services(visible_services(pod, services))
