"""The /etc/hosts the kubelet writes into a pod (``pkg/kubelet/kubelet_pods.go``).

``managedHostsFileContent`` writes the localhost lines, then the pod's own line from
``GeneratePodHostNameAndDomain``: ``<podIP>\\t<hostname>.<subdomain>.<ns>.svc.<zone>\\t<hostname>``
when a subdomain is set, else ``<podIP>\\t<hostname>``. Host aliases are not modelled.
"""

from __future__ import annotations

from sim.model import Pod

# Hostnames longer than a DNS label are truncated (GeneratePodHostNameAndDomain ->
# truncatePodHostnameIfNeeded), and a trailing '-' or '.' left by the cut is trimmed.
MAX_HOSTNAME_LEN = 63

MANAGED_HEADER = (
    "# Kubernetes-managed hosts file.",
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "fe00::0\tip6-mcastprefix",
    "fe00::1\tip6-allnodes",
    "fe00::2\tip6-allrouters",
)


def pod_hostname(pod: Pod) -> str:
    """``spec.hostname`` or ``metadata.name``, truncated to 63 characters.

    >>> pod_hostname(Pod("ns", "web-0", hostname="db"))
    'db'
    """
    name = pod.hostname or pod.name
    if len(name) > MAX_HOSTNAME_LEN:
        name = name[:MAX_HOSTNAME_LEN].rstrip("-.")
    return name


def pod_hosts_entries(pod: Pod, cluster_domain: str) -> list[tuple[str, tuple[str, ...]]]:
    """The hosts file as ``(ip, names)`` pairs, header lines included.

    >>> pod_hosts_entries(Pod("ns", "p", pod_ip="10.1.0.5", subdomain="sub"), "cluster.local")[-1]
    ('10.1.0.5', ('p.sub.ns.svc.cluster.local', 'p'))
    """
    entries: list[tuple[str, tuple[str, ...]]] = []
    for line in MANAGED_HEADER[1:]:
        ip, names = line.split("\t")
        entries.append((ip, tuple(names.split())))
    ips = pod.pod_ips or ((pod.pod_ip,) if pod.pod_ip else ())
    hostname = pod_hostname(pod)
    for ip in ips:
        if pod.subdomain and cluster_domain:
            fqdn = f"{hostname}.{pod.subdomain}.{pod.namespace}.svc.{cluster_domain}"
            entries.append((ip, (fqdn, hostname)))
        else:
            entries.append((ip, (hostname,)))
    return entries


def render_hosts(pod: Pod, cluster_domain: str) -> str:
    """The file text: the managed header, then the pod's own lines (tab separated).

    >>> render_hosts(Pod("ns", "p", pod_ip="10.1.0.5"), "cluster.local").splitlines()[-1]
    '10.1.0.5\\tp'
    """
    own = pod_hosts_entries(pod, cluster_domain)[len(MANAGED_HEADER) - 1:]
    lines = list(MANAGED_HEADER) + [ip + "\t" + "\t".join(names) for ip, names in own]
    return "\n".join(lines) + "\n"
