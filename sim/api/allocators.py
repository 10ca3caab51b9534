"""ClusterIP and NodePort allocators, as the apiserver's registry allocates them.

Models ``pkg/registry/core/service/ipallocator`` (bitmap over the service CIDR, with the
static/dynamic split of ``ServiceIPStaticSubrange``: dynamic allocations start at a random
offset in the upper band and scan; the lower band is used only when the upper is full) and
``pkg/registry/core/service/portallocator`` (one allocator for every protocol; random offset
then scan). The randomness comes from a numpy Generator seeded by the caller, so the same
sequence of requests with the same seed gives the same addresses.

Error texts are those of the v1.12-1.19 allocators, the era whose apiserver still gated SCTP:
``provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12``,
``provided IP is already allocated``, ``provided port is not in the valid range. The range of
valid ports is 30000-32767``, ``provided port is already allocated``, ``range is full``.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from sim.model.ip import IPNetwork


class AllocationError(Exception):
    """A request the allocator refuses; ``str()`` is the upstream message."""


class ClusterIPAllocator:
    """One service CIDR (``--service-cluster-ip-range`` entry)."""

    def __init__(self, cidr: IPNetwork, rng: np.random.Generator) -> None:
        self.cidr = cidr
        self.family = "IPv4" if cidr.version == 4 else "IPv6"
        self._rng = rng
        # NewAllocatorCIDRRange: the network address is never used, nor (IPv4) the broadcast
        # address; very large IPv6 ranges are capped at 2^16 addresses (as the bitmap is).
        self._base = int(cidr.network_address) + 1
        size = cidr.num_addresses - (2 if cidr.version == 4 else 1)
        self.size = max(0, min(size, 1 << 16) if cidr.version == 6 else size)
        # calculateRangeOffset (ServiceIPStaticSubrange): min(max(16, size/16), 256), and no
        # static band for ranges smaller than 16 addresses.
        self.offset = 0 if self.size < 16 else min(max(16, self.size // 16), 256)
        self._used: set[int] = set()

    def contains(self, ip: str) -> bool:
        """Whether ``ip`` lies inside the allocatable range."""
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return False
        n = int(a) - self._base
        return a.version == self.cidr.version and 0 <= n < self.size

    def allocate(self, ip: str) -> None:
        """Reserve a user-chosen address (``Allocate``)."""
        if not self.contains(ip):
            raise AllocationError(
                f"provided IP is not in the valid range. The range of valid IPs is {self.cidr}")
        n = int(ipaddress.ip_address(ip)) - self._base
        if n in self._used:
            raise AllocationError("provided IP is already allocated")
        self._used.add(n)

    def allocate_next(self) -> str:
        """A free address, dynamic band first (``AllocateNext``)."""
        if len(self._used) >= self.size:
            raise AllocationError("range is full")
        n = _random_scan(self._used, self.offset, self.size, self._rng)
        if n is None:
            n = _random_scan(self._used, 0, self.offset, self._rng)
        if n is None:
            raise AllocationError("range is full")
        self._used.add(n)
        return str(ipaddress.ip_address(self._base + n))

    def release(self, ip: str) -> None:
        """Return an address to the pool (no error when it was free)."""
        if self.contains(ip):
            self._used.discard(int(ipaddress.ip_address(ip)) - self._base)

    def is_allocated(self, ip: str) -> bool:
        """Whether ``ip`` is currently allocated."""
        return self.contains(ip) and int(ipaddress.ip_address(ip)) - self._base in self._used


class NodePortAllocator:
    """``--service-node-port-range``: one pool shared by TCP, UDP and SCTP."""

    def __init__(self, low: int, high: int, rng: np.random.Generator) -> None:
        self.low, self.high = low, high
        self._rng = rng
        self._used: set[int] = set()  # offsets from ``low``
        size = high - low + 1
        # The port allocator uses the same static/dynamic split (calculateRangeOffset with a
        # minimum band of 16 and a maximum of 128 ports).
        self.offset = 0 if size < 16 else min(max(16, size // 32), 128)

    @property
    def range_text(self) -> str:
        """``PortRange.String()``: ``30000-32767``."""
        return f"{self.low}-{self.high}"

    def allocate(self, port: int) -> None:
        """Reserve a user-chosen port."""
        if not self.low <= port <= self.high:
            raise AllocationError(
                "provided port is not in the valid range. The range of valid ports is "
                + self.range_text)
        if port - self.low in self._used:
            raise AllocationError("provided port is already allocated")
        self._used.add(port - self.low)

    def allocate_next(self) -> int:
        """A free port, dynamic band first."""
        size = self.high - self.low + 1
        n = _random_scan(self._used, self.offset, size, self._rng)
        if n is None:
            n = _random_scan(self._used, 0, self.offset, self._rng)
        if n is None:
            raise AllocationError("range is full")
        self._used.add(n)
        return self.low + n

    def release(self, port: int) -> None:
        """Return a port to the pool."""
        self._used.discard(port - self.low)

    def is_allocated(self, port: int) -> bool:
        """Whether ``port`` is taken."""
        return port - self.low in self._used


def _random_scan(used: set[int], lo: int, hi: int, rng: np.random.Generator) -> int | None:
    """``randomScanStrategyWithOffset``: start at a random slot in [lo, hi) and scan upward,
    wrapping once; None when that band is full."""
    width = hi - lo
    if width <= 0:
        return None
    start = int(rng.integers(width))
    for i in range(width):
        n = lo + (start + i) % width
        if n not in used:
            return n
    return None
