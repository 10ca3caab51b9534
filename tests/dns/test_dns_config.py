"""spec.dns parsing: CoreDNS options and the cache, with field paths on errors."""

from __future__ import annotations

import pytest
from dns_cluster import spec_cluster

from sim.dns.config import parse_dns_options
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
