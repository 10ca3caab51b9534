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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.dns.cache import DNSCache
from sim.dns.records import ClusterDNS
from sim.model import ClusterState
from sim.model.errors import FieldError, ValidationError
from sim.model.ip import is_ip

_KEYS = ("ttl", "pods", "endpointPodNames", "ignoreEmptyService", "reverseZones", "upstream",
         "upstreamTTL", "loadbalance", "cache")
_CACHE_KEYS = ("success", "denial", "minTTL", "servfail", "capacity", "disable")


@dataclass(frozen=True)
class DNSOptions:
    """The validated ``spec.dns``."""

    records: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] | None = None
    loadbalance: bool = False

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
    if errors:
        raise ValidationError(errors)
    return DNSOptions(rec, cache, loadbalance)


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
