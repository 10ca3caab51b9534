"""spec.dns parsing: CoreDNS options and the cache, with field paths on errors."""

from __future__ import annotations

import pytest
from dns_cluster import spec_cluster

from sim.dns.config import parse_dns_options
from sim.model import Pod
from sim.model.errors import ValidationError


def test_defaults_are_coredns_defaults_without_cache():
    """An absent spec.dns gives TTL 5, pods disabled, both reverse zones and no cache."""
    opts = parse_dns_options(None)
    d = opts.cluster_dns(spec_cluster())
    assert (d.ttl_s, d.pods, d.reverse_zones) == (5, "disabled", ("in-addr.arpa", "ip6.arpa"))
    assert opts.make_cache() is None


def test_kubeadm_like_options():
    """ttl 30, pods insecure, cache 30 with cluster.local disabled are all honoured."""
    opts = parse_dns_options({"ttl": 30, "pods": "insecure", "upstream": {"a.example": ["1.2.3.4"]},
                              "cache": {"success": 30, "denial": 30, "disable": ["cluster.local"]},
                              "loadbalance": True})
    d = opts.cluster_dns(spec_cluster())
    assert d.answer("a.example.", "A").addresses() == ("1.2.3.4",)
    cache = opts.make_cache()
    assert (cache.success_ttl_s, cache.denial_ttl_s, cache.disabled_zones) == \
        (30, 30, ("cluster.local",))
    assert opts.loadbalance


def test_every_bad_field_reported_with_its_path():
    """Each invalid field is reported, with spec.dns.<field> paths, in one error."""
    with pytest.raises(ValidationError) as exc:
        parse_dns_options({"ttl": -1, "pods": "all", "bogus": 1, "upstream": {"x": ["nope"]},
                           "cache": {"success": "long"}}, "s.yaml")
    text = str(exc.value)
    for path in ("spec.dns.ttl", "spec.dns.pods", "spec.dns.bogus", "spec.dns.upstream[x]",
                 "spec.dns.cache.success"):
        assert path in text
    assert text.startswith("s.yaml: ")


NODE_RC = {"nameservers": ["192.168.0.2"], "searches": ["corp.example."],
           "options": ["ndots:1", "timeout:2"]}


def test_node_resolv_conf_default_is_empty():
    """Without nodeResolvConf the nodes' resolv.conf is empty: a ClusterFirst pod gets only
    the cluster search domains, a Default pod no nameserver, search domain or option."""
    opts = parse_dns_options(None)
    first = opts.pod_resolv_conf(Pod("my-ns", "p"), ["10.96.0.10"], "cluster.local")
    default = opts.pod_resolv_conf(Pod("my-ns", "q", dns_policy="Default"), ["10.96.0.10"],
                                   "cluster.local")
    assert first.searches == ("my-ns.svc.cluster.local", "svc.cluster.local", "cluster.local")
    assert (default.nameservers, default.searches, default.options) == ((), (), ())


def test_node_search_domains_follow_the_cluster_ones_in_cluster_first_pods():
    """ClusterFirst: nameserver = cluster DNS, cluster search list then the node's domains
    (trailing dot dropped as the kubelet does), options ndots:5 only."""
    opts = parse_dns_options({"nodeResolvConf": NODE_RC})
    rc = opts.pod_resolv_conf(Pod("my-ns", "p"), ["10.96.0.10"], "cluster.local")
    assert rc.nameservers == ("10.96.0.10",)
    assert rc.searches == ("my-ns.svc.cluster.local", "svc.cluster.local", "cluster.local",
                           "corp.example")
    assert rc.options == ("ndots:5",)


def test_default_policy_pod_gets_the_node_resolv_conf():
    """dnsPolicy Default: the node's resolv.conf as it is."""
    opts = parse_dns_options({"nodeResolvConf": NODE_RC})
    rc = opts.pod_resolv_conf(Pod("my-ns", "q", dns_policy="Default"), ["10.96.0.10"],
                              "cluster.local")
    assert (rc.nameservers, rc.searches, rc.options) == (("192.168.0.2",), ("corp.example",),
                                                        ("ndots:1", "timeout:2"))


@pytest.mark.parametrize("raw,message", [
    ({"nameservers": ["bogus"]},
     'spec.dns.nodeResolvConf.nameservers[0]: Invalid value: "bogus": must be an IP address'),
    ({"searches": "corp.example"},
     'spec.dns.nodeResolvConf.searches: Invalid value: "corp.example": must be a list of domain names'),
    ({"options": ["ndots: 2"]},
     'spec.dns.nodeResolvConf.options[0]: Invalid value: "ndots: 2": must be a resolv.conf option'),
    ({"domain": "x"}, 'spec.dns.nodeResolvConf.domain: Unsupported value: "domain": unknown field'),
])
def test_bad_node_resolv_conf_names_the_field(raw, message):
    """Each bad nodeResolvConf entry is an error naming its field path."""
    with pytest.raises(ValidationError) as info:
        parse_dns_options({"nodeResolvConf": raw})
    assert [e.message() for e in info.value.errors] == [message]


def test_soa_serial_is_fixed_and_configurable():
    """The SOA serial is 1 by default (deterministic) and spec.dns.soaSerial sets it."""
    for raw, serial in ((None, "1"), ({"soaSerial": 2026112101}, "2026112101")):
        d = parse_dns_options(raw).cluster_dns(spec_cluster())
        (soa,) = d.answer("cluster.local.", "SOA").answer
        assert soa.rdata.split()[2] == serial
