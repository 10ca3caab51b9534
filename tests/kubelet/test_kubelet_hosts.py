"""The pod /etc/hosts the kubelet writes (managedHostsFileContent)."""

from __future__ import annotations

from sim.kubelet.hosts import pod_hostname, pod_hosts_entries, render_hosts
from sim.model import Pod


def test_hosts_file_with_subdomain():
    """With a subdomain the pod line is IP, FQDN, hostname (tab separated)."""
    pod = Pod("default", "web-0", pod_ip="10.1.0.7", hostname="busybox-1", subdomain="sub")
    assert render_hosts(pod, "cluster.local").splitlines()[-1] == \
        "10.1.0.7\tbusybox-1.sub.default.svc.cluster.local\tbusybox-1"


def test_hosts_file_without_subdomain():
    """Without a subdomain the pod line is IP and hostname; the file starts with the header."""
    text = render_hosts(Pod("default", "web-0", pod_ip="10.1.0.7"), "cluster.local")
    assert text.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert text.splitlines()[-1] == "10.1.0.7\tweb-0"


def test_long_hostname_truncated_to_63():
    """A pod name longer than 63 characters is cut to 63 (trailing '-' trimmed)."""
    name = "a" * 62 + "-bbbb"
    assert pod_hostname(Pod("ns", name)) == "a" * 62


def test_dual_stack_pod_has_a_line_per_ip():
    """Each pod IP gets its own line."""
    pod = Pod("ns", "p", pod_ip="10.1.0.7", pod_ips=("10.1.0.7", "fd00::7"))
    assert [ip for ip, _ in pod_hosts_entries(pod, "cluster.local")][-2:] == ["10.1.0.7", "fd00::7"]
