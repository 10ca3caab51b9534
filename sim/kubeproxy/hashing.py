"""Chain names of the iptables proxier, derived exactly as upstream derives them.

Upstream (``pkg/proxy/iptables/proxier.go``: ``portProtoHash``,
``servicePortPolicyClusterChain``, ``servicePortPolicyLocalChainName``,
``serviceExternalChainName``, ``serviceFirewallChainName``, ``servicePortEndpointChainName``)
hashes ``spn + protocol`` (plus ``ip:port`` for endpoint chains) with SHA-256, encodes the digest
in standard base32 and keeps 16 characters. The functions here are cached because a 10,000
service cluster needs 110,000 of these per sync.

>>> service_chain_name("ns1/svc1:p80", "tcp")
'KUBE-SVC-XPGD46QRK7WJZT7O'
>>> endpoint_chain_name("ns1/svc1:p80", "tcp", "10.180.0.1:80")
'KUBE-SEP-SXIVWICOYRO3J4NJ'
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

SVC_PREFIX = "KUBE-SVC-"
SVL_PREFIX = "KUBE-SVL-"
EXT_PREFIX = "KUBE-EXT-"
FW_PREFIX = "KUBE-FW-"
SEP_PREFIX = "KUBE-SEP-"
SERVICE_CHAIN_PREFIXES = (SVC_PREFIX, SVL_PREFIX, SEP_PREFIX, FW_PREFIX, EXT_PREFIX)

_CACHE_SIZE = 1 << 18  # holds a 10,000 x 10 cluster's names with room for churn


# base64.b32encode is pure Python and encodes all 32 bytes; the 16 characters kept are the first
# 80 bits, so encode those directly, two characters (10 bits) per table lookup.
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_PAIRS = tuple(a + b for a in _B32 for b in _B32)


def _h16(text: str) -> str:
    n = int.from_bytes(hashlib.sha256(text.encode()).digest()[:10], "big")
    p = _PAIRS
    return (p[n >> 70] + p[(n >> 60) & 1023] + p[(n >> 50) & 1023] + p[(n >> 40) & 1023]
            + p[(n >> 30) & 1023] + p[(n >> 20) & 1023] + p[(n >> 10) & 1023] + p[n & 1023])


@lru_cache(maxsize=_CACHE_SIZE)
def port_proto_hash(spn: str, protocol: str) -> str:
    """16-character hash shared by the SVC/SVL/EXT/FW chains of one service port.

    ``protocol`` is lower case (``tcp``), as kube-proxy passes ``strings.ToLower``.

    >>> port_proto_hash("ns5/svc5:p80", "tcp")
    'NUKIZ6OKUXPJNT4C'
    """
    return _h16(spn + protocol)


def service_chain_name(spn: str, protocol: str) -> str:
    """``KUBE-SVC-<hash>``: the Cluster-policy dispatch chain."""
    return SVC_PREFIX + port_proto_hash(spn, protocol)


def local_chain_name(spn: str, protocol: str) -> str:
    """``KUBE-SVL-<hash>``: the Local-policy dispatch chain (node-local endpoints only)."""
    return SVL_PREFIX + port_proto_hash(spn, protocol)


def external_chain_name(spn: str, protocol: str) -> str:
    """``KUBE-EXT-<hash>``: entry chain for NodePort, externalIP and load-balancer traffic."""
    return EXT_PREFIX + port_proto_hash(spn, protocol)


def firewall_chain_name(spn: str, protocol: str) -> str:
    """``KUBE-FW-<hash>``: the loadBalancerSourceRanges chain."""
    return FW_PREFIX + port_proto_hash(spn, protocol)


@lru_cache(maxsize=_CACHE_SIZE)
def endpoint_chain_name(spn: str, protocol: str, endpoint: str) -> str:
    """``KUBE-SEP-<hash>`` of one endpoint (``endpoint`` is ``ip:port`` / ``[ip6]:port``)."""
    return SEP_PREFIX + _h16(spn + protocol + endpoint)


def is_service_chain_name(chain: str) -> bool:
    """True for chains kube-proxy owns per service (``isServiceChainName``): stale ones are
    flushed and deleted.

    >>> is_service_chain_name("KUBE-SEP-ABC"), is_service_chain_name("KUBE-SERVICES")
    (True, False)
    """
    return chain.startswith(SERVICE_CHAIN_PREFIXES)
