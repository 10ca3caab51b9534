"""Pod resolv.conf per dnsPolicy: kubelet GetPodDNS, appendDNSConfig, formDNSConfigFitsLimits."""

from __future__ import annotations

import pytest

from sim.kubelet.resolvconf import ResolvConf, parse_resolv_conf, pod_resolv_conf
from sim.model import DNSConfig, Pod
from sim.model.errors import SimError

HOST = "nameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example lab.example\n" \
       "options timeout:1 attempts:3\n"
CLUSTER_SEARCH = ("my-ns.svc.cluster.local", "svc.cluster.local", "cluster.local")


def conf(pod, dns_ips=("10.96.0.10",), domain="cluster.local", host=HOST, **kw):
    return pod_resolv_conf(pod, list(dns_ips), domain, host, **kw)


def test_cluster_first_uses_cluster_dns_search_and_ndots_only():
    """ClusterFirst: the cluster DNS IP only, cluster search then host search, ndots:5 only."""
    rc = conf(Pod("my-ns", "p"))
    assert rc.nameservers == ("10.96.0.10",)
    assert rc.searches == CLUSTER_SEARCH + ("corp.example", "lab.example")
    assert rc.options == ("ndots:5",)


def test_docs_example_file_text():
    """With a host file without search, the file is the docs' three lines."""
    rc = conf(Pod("my-ns", "p"), dns_ips=("10.32.0.10",), host="nameserver 8.8.8.8\n")
    assert rc.render() == ("nameserver 10.32.0.10\n"
                           "search my-ns.svc.cluster.local svc.cluster.local cluster.local\n"
                           "options ndots:5\n")


def test_default_policy_copies_host_file():
    """Default: the node's nameservers, search and options unchanged."""
    rc = conf(Pod("my-ns", "p", dns_policy="Default"))
    assert rc == ResolvConf(("192.168.1.1", "192.168.1.2"), ("corp.example", "lab.example"),
                            ("timeout:1", "attempts:3"))


def test_host_network_cluster_first_falls_back_to_default():
    """ClusterFirst on a hostNetwork pod behaves as Default."""
    rc = conf(Pod("my-ns", "p", host_network=True))
    assert rc.nameservers == ("192.168.1.1", "192.168.1.2")


def test_cluster_first_with_host_net_uses_cluster_dns():
    """ClusterFirstWithHostNet on a hostNetwork pod uses the cluster DNS."""
    rc = conf(Pod("my-ns", "p", host_network=True, dns_policy="ClusterFirstWithHostNet"))
    assert rc.nameservers == ("10.96.0.10",) and rc.options == ("ndots:5",)


def test_none_policy_uses_only_dns_config():
    """None: empty base, then exactly spec.dnsConfig."""
    cfg = DNSConfig(("1.2.3.4",), ("ns1.svc.cluster-domain.example", "my.dns.search.suffix"),
                    (("ndots", "2"), ("edns0", None)))
    rc = conf(Pod("my-ns", "p", dns_policy="None", dns_config=cfg))
    assert rc == ResolvConf(("1.2.3.4",), ("ns1.svc.cluster-domain.example",
                                            "my.dns.search.suffix"), ("ndots:2", "edns0"))


def test_dns_config_appends_and_overrides_options_by_name():
    """dnsConfig nameservers/searches are appended without duplicates; options merge by name."""
    cfg = DNSConfig(("10.96.0.10", "9.9.9.9"), ("cluster.local", "extra.example"),
                    (("ndots", "2"), ("single-request-reopen", None)))
    rc = conf(Pod("my-ns", "p", dns_config=cfg))
    assert rc.nameservers == ("10.96.0.10", "9.9.9.9")
    assert rc.searches == CLUSTER_SEARCH + ("corp.example", "lab.example", "extra.example")
    assert rc.options == ("ndots:2", "single-request-reopen")
    assert rc.ndots == 2


def test_missing_cluster_dns_falls_back_to_default_with_warning():
    """ClusterFirst without kubelet --cluster-dns uses the host file and warns."""
    rc = conf(Pod("my-ns", "p"), dns_ips=())
    assert rc.nameservers == ("192.168.1.1", "192.168.1.2")
    assert "Falling back" in rc.warnings[0]


def test_empty_resolv_conf_flag_uses_localhost():
    """kubelet --resolv-conf="" with Default: nameserver 127.0.0.1 (::1 for IPv6 nodes), search ."""
    rc = conf(Pod("my-ns", "p", dns_policy="Default"), host=None, node_ips=("10.0.0.1", "fd00::1"))
    assert rc.nameservers == ("127.0.0.1", "::1") and rc.searches == (".",)


def test_nameservers_cut_to_three_with_event():
    """More than three nameservers are cut to three and a DNSConfigForming warning is made."""
    cfg = DNSConfig(("1.1.1.1", "2.2.2.2", "3.3.3.3"))
    rc = conf(Pod("my-ns", "p", dns_config=cfg))
    assert rc.nameservers == ("10.96.0.10", "1.1.1.1", "2.2.2.2")
    assert rc.warnings == ("Nameserver limits were exceeded, some nameservers have been omitted, "
                           "the applied nameserver line is: 10.96.0.10 1.1.1.1 2.2.2.2",)


def test_search_list_limits_expanded_and_legacy():
    """32 paths / 2048 chars with ExpandedDNSConfig, 6 / 256 without; >253-char paths dropped."""
    many = tuple(f"d{i}.example" for i in range(40))
    rc = conf(Pod("my-ns", "p", dns_config=DNSConfig(searches=many)))
    assert len(rc.searches) == 32 and rc.searches[:3] == CLUSTER_SEARCH
    legacy = conf(Pod("my-ns", "p", dns_config=DNSConfig(searches=many)),
                  expanded_dns_config=False)
    assert legacy.searches == CLUSTER_SEARCH + ("corp.example", "lab.example", "d0.example")
    long_one = "x" * 250 + ".example"
    rc = conf(Pod("my-ns", "p", dns_config=DNSConfig(searches=(long_one,))))
    assert long_one not in rc.searches and rc.warnings


def test_search_line_char_limit_cuts_from_the_end():
    """A search line over 256 chars (legacy) loses entries from the end until it fits."""
    doms = tuple(("a" * 67) + f".e{i}" for i in range(4))  # 55 + 4 * 71 = 339 chars
    rc = conf(Pod("my-ns", "p", dns_config=DNSConfig(searches=doms)), host="",
              expanded_dns_config=False)
    assert len(" ".join(rc.searches)) <= 256
    assert rc.searches == CLUSTER_SEARCH + doms[:2]


def test_parse_host_file_rules():
    """Nameservers accumulate; the last search and options lines win; '.' and trailing dots go."""
    rc = parse_resolv_conf("# c\nnameserver 1.1.1.1\nsearch a.example\nnameserver 2.2.2.2\n"
                           "search b.example. .\noptions ndots:3\noptions rotate\n")
    assert rc == ResolvConf(("1.1.1.1", "2.2.2.2"), ("b.example",), ("rotate",))


def test_parse_rejects_empty_nameserver_line():
    """'nameserver' without an address is an error naming the line."""
    with pytest.raises(SimError, match="line 2"):
        parse_resolv_conf("search a\nnameserver\n")


def test_ndots_default_and_cap():
    """ndots defaults to 1 and is capped at 15, as glibc does."""
    assert ResolvConf().ndots == 1
    assert ResolvConf(options=("ndots:40",)).ndots == 15
    assert ResolvConf(options=("timeout:2", "attempts:9")).attempts == 5


# kubelet dns_test.go TestGetPodDNSCustom: cluster DNS 10.0.0.10, domain kubernetes.io,
# node file "nameserver 8.8.8.8 / search host.domain", pod in testNS.
CUSTOM_CFG = DNSConfig(("10.0.0.11",), ("my.domain",), (("ndots", "3"), ("debug", None)))
NS_SVC, SVC, DOMAIN = "testNS.svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io"


@pytest.mark.parametrize("policy,host_net,cfg,want", [
    ("None", False, None, ResolvConf()),
    ("None", False, DNSConfig(("203.0.113.1",), ("my.domain", "second.domain"),
                              (("ndots", "3"), ("debug", None))),
     ResolvConf(("203.0.113.1",), ("my.domain", "second.domain"), ("ndots:3", "debug"))),
    ("ClusterFirst", False, CUSTOM_CFG,
     ResolvConf(("10.0.0.10", "10.0.0.11"), (NS_SVC, SVC, DOMAIN, "host.domain", "my.domain"),
                ("ndots:3", "debug"))),
    ("ClusterFirstWithHostNet", True, CUSTOM_CFG,
     ResolvConf(("10.0.0.10", "10.0.0.11"), (NS_SVC, SVC, DOMAIN, "host.domain", "my.domain"),
                ("ndots:3", "debug"))),
    ("Default", False, CUSTOM_CFG,
     ResolvConf(("8.8.8.8", "10.0.0.11"), ("host.domain", "my.domain"), ("ndots:3", "debug"))),
], ids=["none-empty", "none-merged", "clusterfirst-merged", "hostnet-merged", "default-merged"])
def test_upstream_get_pod_dns_custom(policy, host_net, cfg, want):
    """Each TestGetPodDNSCustom case (options compared as a set, as upstream does)."""
    pod = Pod("testNS", "test_pod", dns_policy=policy, host_network=host_net, dns_config=cfg)
    rc = pod_resolv_conf(pod, ["10.0.0.10"], DOMAIN, "nameserver 8.8.8.8\nsearch host.domain\n")
    assert (rc.nameservers, rc.searches, set(rc.options)) == \
        (want.nameservers, want.searches, set(want.options))
