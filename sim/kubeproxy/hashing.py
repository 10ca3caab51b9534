"""Chain names of the iptables proxier, derived exactly as upstream derives them.

Upstream (``pkg/proxy/iptables/proxier.go``: ``portProtoHash``,
``servicePortPolicyClusterChain``, ``servicePortPolicyLocalChainName``,
``serviceExternalChainName``, ``serviceFirewallChainName``, ``servicePortEndpointChainName``)
hashes ``spn + protocol`` (plus ``ip:port`` for endpoint chains) with SHA-256, encodes the digest
in standard base32 and keeps 16 characters. The names are cached because a 10,000 service
cluster needs 110,000 of these per sync; :func:`endpoint_chain_names` hashes the misses of a
whole sync in one batch and encodes them with numpy, which halves the cost of a first sync.

>>> service_chain_name("ns1/svc1:p80", "tcp")
'KUBE-SVC-XPGD46QRK7WJZT7O'
>>> endpoint_chain_name("ns1/svc1:p80", "tcp", "10.180.0.1:80")
'KUBE-SEP-SXIVWICOYRO3J4NJ'
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

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


def _h16(text: str, _sha256=hashlib.sha256, _from_bytes=int.from_bytes, p=_PAIRS) -> str:
    n = _from_bytes(_sha256(text.encode()).digest()[:10], "big")
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


# The same 80 bits, encoded for many digests at once: split into 5-bit groups, each the index of
# one base32 letter.
_B32_ARRAY = np.frombuffer(_B32.encode(), dtype=np.uint8)
_BIT_WEIGHTS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


def _h16_many(texts: list[str]) -> list[str]:
    """``[_h16(t) for t in texts]``, with the base32 step vectorised."""
    sha256 = hashlib.sha256
    raw = b"".join([sha256(t.encode()).digest()[:10] for t in texts])
    groups = np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).reshape(-1, 5)
    letters = _B32_ARRAY[groups @ _BIT_WEIGHTS].tobytes().decode("ascii")
    return [letters[i:i + 16] for i in range(0, len(letters), 16)]


# KUBE-SEP names by hash input (spn + protocol + endpoint); emptied when it outgrows the bound.
_SEP_NAMES: dict[str, str] = {}


def endpoint_chain_names(texts: list[str]) -> list[str]:
    """``KUBE-SEP-<hash>`` for each hash input ``spn + protocol + endpoint`` in ``texts``.

    >>> endpoint_chain_names(["ns1/svc1:p80tcp10.180.0.1:80"])
    ['KUBE-SEP-SXIVWICOYRO3J4NJ']
    """
    cache = _SEP_NAMES
    unique = dict.fromkeys(texts)
    missing = [t for t in unique if t not in cache]
    if missing:
        if len(cache) + len(missing) > _CACHE_SIZE:
            cache.clear()
            missing = list(unique)
        cache.update(zip(missing, [SEP_PREFIX + h for h in _h16_many(missing)]))
    return [cache[t] for t in texts]


def endpoint_chain_name(spn: str, protocol: str, endpoint: str) -> str:
    """``KUBE-SEP-<hash>`` of one endpoint (``endpoint`` is ``ip:port`` / ``[ip6]:port``)."""
    text = spn + protocol + endpoint
    return _SEP_NAMES.get(text) or endpoint_chain_names([text])[0]


def clear_caches() -> None:
    """Forget every cached name (benchmarks measure a first sync with this)."""
    port_proto_hash.cache_clear()
    _SEP_NAMES.clear()


def is_service_chain_name(chain: str) -> bool:
    """True for chains kube-proxy owns per service (``isServiceChainName``): stale ones are
    flushed and deleted.

    >>> is_service_chain_name("KUBE-SEP-ABC"), is_service_chain_name("KUBE-SERVICES")
    (True, False)
    """
    return chain.startswith(SERVICE_CHAIN_PREFIXES)


# --- nftables mode ---------------------------------------------------------------------------
# pkg/proxy/nftables/proxier.go: chainNameBaseLengthMax = knftables.NameLengthMax (256) minus
# chainNamePrefixLengthMax (16).
NFT_NAME_BASE_MAX = 240


def hash_and_truncate(name: str) -> str:
    """``hashAndTruncate``: the first 8 base32 characters of SHA-256(name), ``-``, then name,
    cut to 240 characters with ``...`` (names that long cannot occur in practice).

    >>> hash_and_truncate("ns1/svc1/tcp/p80")
    'ULMVA6XW-ns1/svc1/tcp/p80'
    """
    out = _h16(name)[:8] + "-" + name
    if len(out) > NFT_NAME_BASE_MAX:
        out = out[:NFT_NAME_BASE_MAX - 3] + "..."
    return out


def hash_and_truncate_many(names: list[str]) -> list[str]:
    """``[hash_and_truncate(n) for n in names]`` with the base32 step vectorised.

    >>> hash_and_truncate_many(["ns1/svc1/tcp/p80__10.180.0.1/80"])
    ['5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80']
    """
    if not names:
        return []
    out = [h[:8] + "-" + n for h, n in zip(_h16_many(names), names)]
    return [o if len(o) <= NFT_NAME_BASE_MAX else o[:NFT_NAME_BASE_MAX - 3] + "..." for o in out]
