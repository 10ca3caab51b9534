"""ClusterIP and NodePort allocators (``ipallocator`` / ``portallocator`` semantics)."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from sim.api.allocators import AllocationError, ClusterIPAllocator, NodePortAllocator


def ip_alloc(cidr: str, seed: int = 0) -> ClusterIPAllocator:
    return ClusterIPAllocator(ipaddress.ip_network(cidr), np.random.default_rng(seed))


def test_network_and_broadcast_never_allocated():
    """A /29 yields exactly its six host addresses."""
    a = ip_alloc("10.0.0.0/29")
    got = sorted(a.allocate_next() for _ in range(6))
    assert got == [f"10.0.0.{i}" for i in range(1, 7)]


def test_full_range_raises():
    """Allocating past the end says the range is full."""
    a = ip_alloc("10.0.0.0/30")
    a.allocate_next()
    a.allocate_next()
    with pytest.raises(AllocationError, match="^range is full$"):
        a.allocate_next()


def test_dynamic_allocations_prefer_upper_band():
    """With a static band (ServiceIPStaticSubrange), dynamic IPs come from above the offset."""
    a = ip_alloc("10.96.0.0/24")  # 254 usable, offset min(max(16, 254/16), 256) = 16
    assert a.offset == 16
    got = [int(ipaddress.ip_address(a.allocate_next())) - int(ipaddress.ip_address("10.96.0.1")) for _ in range(50)]
    assert min(got) >= 16


def test_lower_band_used_when_upper_full():
    """Once the dynamic band is full, the static band is used."""
    a = ip_alloc("10.96.0.0/26")  # 62 usable, offset 16
    got = [a.allocate_next() for _ in range(62)]
    assert len(set(got)) == 62


def test_same_seed_same_addresses():
    """The allocator is deterministic for a seed."""
    assert [ip_alloc("10.96.0.0/12", 7).allocate_next() for _ in range(3)] == \
           [ip_alloc("10.96.0.0/12", 7).allocate_next() for _ in range(3)]


def test_release_makes_address_allocatable():
    """A released address can be allocated again."""
    a = ip_alloc("10.96.0.0/12")
    a.allocate("10.96.0.10")
    a.release("10.96.0.10")
    a.allocate("10.96.0.10")
    assert a.is_allocated("10.96.0.10")


def test_ipv6_range_capped():
    """Very large IPv6 ranges are capped at 2^16 addresses."""
    assert ip_alloc("fd00::/64").size == 1 << 16


def test_node_port_next_within_range():
    """Dynamic NodePorts lie in the range and are unique."""
    a = NodePortAllocator(30000, 30009, np.random.default_rng(0))
    got = [a.allocate_next() for _ in range(10)]
    assert sorted(got) == list(range(30000, 30010))
    with pytest.raises(AllocationError, match="^range is full$"):
        a.allocate_next()


def test_node_port_release():
    """A released NodePort can be requested again."""
    a = NodePortAllocator(30000, 32767, np.random.default_rng(0))
    a.allocate(30036)
    a.release(30036)
    a.allocate(30036)
    assert a.is_allocated(30036)
