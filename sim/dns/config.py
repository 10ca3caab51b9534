"""``spec.dns`` of a scenario: the DNS server's options, validated into keyword arguments.

Scenario keys are camelCase as in a Corefile's intent; every value is checked and a bad one is
a :class:`~sim.model.errors.SimError` naming the field path.

.. code-block:: yaml

    dns:
      ttl: 5                      # kubernetes plugin ttl (0..3600; CoreDNS default 5)
      pods: disabled              # disabled | insecure | verified
      endpointPodNames: false
      ignoreEmptyService: false
      reverseZones: [in-addr.arpa, ip6.arpa]
      upstream: {example.com: [93.184.216.34]}   # stand-in for `forward`
      upstreamTTL: 30
      loadbalance: false          # shuffle RRsets on the wire
      cache:                      # the cache plugin; `cache: 30` caps both kinds at 30 s
        success: 3600
        denial: 1800
        minTTL: 5
        disable: [cluster.local]
      soaSerial: 1                # SOA serial (see below)
      nodeResolvConf:             # the nodes' /etc/resolv.conf (kubelet --resolv-conf)
        nameservers: [169.254.169.254]
        searches: [c.my-project.internal, google.internal]
        options: [ndots:1]

``nodeResolvConf`` is what the kubelet reads as the host's resolv.conf: its search domains
follow the cluster ones in ClusterFirst pods, and ``dnsPolicy: Default`` (and hostNetwork
pods) get it whole. The default is an empty file - no nameserver, no search domain, no
option - which is what a kubeadm node on systemd-resolved without DHCP-supplied domains hands
the kubelet (``/run/systemd/resolve/resolv.conf`` with the upstream servers only; give them
here when they matter).

``soaSerial``: CoreDNS's kubernetes plugin uses the Unix time of the last change it saw
(``plugin/kubernetes/kubernetes.go`` ``Serial``). A wall-clock serial would make every run's
answers differ, so the simulator keeps a fixed serial, 1 by default; nothing in a stub
resolver depends on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sim.dns.cache import DNSCache
from sim.dns.records import ClusterDNS
from sim.kubelet.resolvconf import ResolvConf, pod_resolv_conf
from sim.model import ClusterState, Pod
from sim.model.errors import FieldError, ValidationError
from sim.model.ip import is_ip

_KEYS = ("ttl", "pods", "endpointPodNames", "ignoreEmptyService", "reverseZones", "upstream",
         "upstreamTTL", "loadbalance", "cache", "soaSerial", "nodeResolvConf")
_RESOLV_KEYS = ("nameservers", "searches", "options")
_CACHE_KEYS = ("success", "denial", "minTTL", "servfail", "capacity", "disable")


@dataclass(frozen=True)
class DNSOptions:
    """The validated ``spec.dns``."""

    records: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] | None = None
    loadbalance: bool = False
    node_resolv_conf: ResolvConf = ResolvConf()

    def pod_resolv_conf(self, pod: Pod, cluster_dns_ips: Sequence[str], cluster_domain: str,
                        node_ips: Sequence[str] = ()) -> ResolvConf:
        """The resolv.conf the kubelet writes into ``pod`` on nodes whose own resolv.conf is
        ``nodeResolvConf`` (:func:`sim.kubelet.resolvconf.pod_resolv_conf`)."""
        return pod_resolv_conf(pod, cluster_dns_ips, cluster_domain, self.node_resolv_conf,
                               node_ips=node_ips)

    def cluster_dns(self, state: ClusterState) -> ClusterDNS:
        """The record store for ``state`` with these options."""
        return ClusterDNS(state, **self.records)

    def make_cache(self) -> DNSCache | None:
        """A fresh cache, or None when ``cache`` is not configured."""
        return DNSCache(**self.cache) if self.cache is not None else None


def _int(errors: list[FieldError], path: str, value: Any, lo: int, hi: int, src: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        errors.append(FieldError(path, "Invalid value", f"must be an integer in {lo}..{hi}",
                                 value, True, file=src))
        return lo
    return value


def _bool(errors: list[FieldError], path: str, value: Any, src: str) -> bool:
    if not isinstance(value, bool):
        errors.append(FieldError(path, "Invalid value", "must be true or false", value, True,
                                 file=src))
        return False
    return value


def parse_dns_options(raw: Mapping[str, Any] | None, source: str = "") -> DNSOptions:
    """Validate ``spec.dns`` (``None`` or ``{}`` gives CoreDNS defaults, no cache).

    >>> parse_dns_options({"ttl": 30, "cache": 30}).cache["success_ttl_s"]
    30
    """
    raw = raw or {}
    errors: list[FieldError] = []
    if not isinstance(raw, Mapping):
        raise ValidationError([FieldError("spec.dns", "Invalid value", "must be a mapping",
                                          raw, True, file=source)])
    for key in raw:
        if key not in _KEYS:
            errors.append(FieldError(f"spec.dns.{key}", "Unsupported value",
                                     "unknown field", key, True, file=source))
    rec: dict[str, Any] = {}
    if "ttl" in raw:
        rec["ttl_s"] = _int(errors, "spec.dns.ttl", raw["ttl"], 0, 3600, source)
    if "pods" in raw:
        if raw["pods"] not in ("disabled", "insecure", "verified"):
            errors.append(FieldError("spec.dns.pods", "Unsupported value",
                                     'supported values: "disabled", "insecure", "verified"',
                                     raw["pods"], True, file=source))
        else:
            rec["pods"] = raw["pods"]
    if "endpointPodNames" in raw:
        rec["endpoint_pod_names"] = _bool(errors, "spec.dns.endpointPodNames",
                                          raw["endpointPodNames"], source)
    if "ignoreEmptyService" in raw:
        rec["ignore_empty_service"] = _bool(errors, "spec.dns.ignoreEmptyService",
                                            raw["ignoreEmptyService"], source)
    if "reverseZones" in raw:
        zones = raw["reverseZones"]
        if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
            errors.append(FieldError("spec.dns.reverseZones", "Invalid value",
                                     "must be a list of zone names", zones, True, file=source))
        else:
            rec["reverse_zones"] = tuple(zones)
    if "upstream" in raw:
        rec["upstream"] = _upstream(errors, raw["upstream"], source)
    if "upstreamTTL" in raw:
        rec["upstream_ttl_s"] = _int(errors, "spec.dns.upstreamTTL", raw["upstreamTTL"], 0,
                                     604800, source)
    loadbalance = _bool(errors, "spec.dns.loadbalance", raw["loadbalance"], source) \
        if "loadbalance" in raw else False
    cache = _cache(errors, raw["cache"], source) if "cache" in raw else None
    if "soaSerial" in raw:
        rec["serial"] = _int(errors, "spec.dns.soaSerial", raw["soaSerial"], 0, 2**32 - 1, source)
    node_rc = _node_resolv_conf(errors, raw["nodeResolvConf"], source) \
        if "nodeResolvConf" in raw else ResolvConf()
    if errors:
        raise ValidationError(errors)
    return DNSOptions(rec, cache, loadbalance, node_rc)


def _strings(errors: list[FieldError], path: str, value: Any, what: tuple[str, str], ok,
             src: str) -> tuple[str, ...]:
    """A list of strings each passing ``ok``; ``what`` is (singular, plural) for messages."""
    if not isinstance(value, list):
        errors.append(FieldError(path, "Invalid value", f"must be a list of {what[1]}", value,
                                 True, file=src))
        return ()
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not ok(item):
            errors.append(FieldError(f"{path}[{i}]", "Invalid value", f"must be {what[0]}",
                                     item, True, file=src))
        else:
            out.append(item)
    return tuple(out)


def _word(text: str) -> bool:
    """A non-empty resolv.conf word (the file splits on white space)."""
    return bool(text) and not any(c.isspace() for c in text)


def _node_resolv_conf(errors: list[FieldError], value: Any, src: str) -> ResolvConf:
    """``nodeResolvConf``: nameserver addresses, search domains and option words, checked the
    way the kubelet reads them (``parseResolvConf``: a search entry loses its trailing dot and
    ``.`` itself is dropped)."""
    base = "spec.dns.nodeResolvConf"
    if not isinstance(value, Mapping):
        errors.append(FieldError(base, "Invalid value", "must be a mapping", value, True, file=src))
        return ResolvConf()
    for key in value:
        if key not in _RESOLV_KEYS:
            errors.append(FieldError(f"{base}.{key}", "Unsupported value", "unknown field", key,
                                     True, file=src))
    servers = _strings(errors, f"{base}.nameservers", value.get("nameservers", []),
                       ("an IP address", "IP addresses"), is_ip, src)
    searches = _strings(errors, f"{base}.searches", value.get("searches", []),
                        ("a domain name", "domain names"), _word, src)
    options = _strings(errors, f"{base}.options", value.get("options", []),
                       ("a resolv.conf option", "resolv.conf options"), _word, src)
    return ResolvConf(servers, tuple(d.removesuffix(".") for d in searches if d != "."), options)


def _upstream(errors: list[FieldError], value: Any, src: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        errors.append(FieldError("spec.dns.upstream", "Invalid value",
                                 "must map names to lists of addresses", value, True, file=src))
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for name, addrs in value.items():
        path = f"spec.dns.upstream[{name}]"
        if not isinstance(addrs, list) or not all(isinstance(a, str) and is_ip(a) for a in addrs):
            errors.append(FieldError(path, "Invalid value", "must be a list of IP addresses",
                                     addrs, True, file=src))
            continue
        out[str(name)] = tuple(addrs)
    return out


def _cache(errors: list[FieldError], value: Any, src: str) -> dict[str, Any]:
    if isinstance(value, int) and not isinstance(value, bool):
        ttl = _int(errors, "spec.dns.cache", value, 0, 604800, src)
        return {"success_ttl_s": ttl, "denial_ttl_s": ttl}
    if not isinstance(value, Mapping):
        errors.append(FieldError("spec.dns.cache", "Invalid value",
                                 "must be a TTL or a mapping", value, True, file=src))
        return {}
    out: dict[str, Any] = {}
    for key in value:
        if key not in _CACHE_KEYS:
            errors.append(FieldError(f"spec.dns.cache.{key}", "Unsupported value",
                                     "unknown field", key, True, file=src))
    names = {"success": "success_ttl_s", "denial": "denial_ttl_s", "servfail": "servfail_ttl_s",
             "capacity": "capacity"}
    for key, arg in names.items():
        if key in value:
            out[arg] = _int(errors, f"spec.dns.cache.{key}", value[key], 0, 10_000_000, src)
    if "minTTL" in value:
        m = _int(errors, "spec.dns.cache.minTTL", value["minTTL"], 0, 604800, src)
        out["min_success_ttl_s"] = out["min_denial_ttl_s"] = m
    if "disable" in value:
        zones = value["disable"]
        if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
            errors.append(FieldError("spec.dns.cache.disable", "Invalid value",
                                     "must be a list of zone names", zones, True, file=src))
        else:
            out["disabled_zones"] = tuple(zones)
    return out
