"""Membership as the kernel tests it (``SetIndex``)."""

from __future__ import annotations

import ipaddress

from sim.ipset import IPSet, SetIndex


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def test_hash_ip_port_needs_address_protocol_and_port() -> None:
    """hash:ip,port matches only the stored (address, protocol, port)."""
    idx = SetIndex.build(IPSet("S", "hash:ip,port", members=("10.96.0.1,tcp:443",)))
    assert idx.test((ip("10.96.0.1"), ("tcp", 443)))
    assert not idx.test((ip("10.96.0.1"), ("udp", 443)))
    assert not idx.test((ip("10.96.0.1"), ("tcp", 80)))


def test_bitmap_port_matches_tcp_and_udp_only() -> None:
    """bitmap:port ignores the protocol for TCP and UDP and never matches SCTP (ip_set_get_ip_port)."""
    idx = SetIndex.build(IPSet("P", "bitmap:port", members=("30080",)))
    assert idx.test((("tcp", 30080),)) and idx.test((("udp", 30080),))
    assert not idx.test((("sctp", 30080),))


def test_net_dimension_takes_the_longest_stored_prefix() -> None:
    """hash:ip,port,net tests each stored prefix length."""
    idx = SetIndex.build(IPSet("S", "hash:ip,port,net",
                               members=("1.2.3.4,tcp:80,10.0.0.0/8", "1.2.3.4,tcp:80,192.168.1.7")))
    assert idx.test((ip("1.2.3.4"), ("tcp", 80), ip("10.200.0.1")))
    assert idx.test((ip("1.2.3.4"), ("tcp", 80), ip("192.168.1.7")))
    assert not idx.test((ip("1.2.3.4"), ("tcp", 80), ip("192.168.1.8")))


def test_hash_net_and_hash_ip() -> None:
    """hash:net contains addresses of its networks; hash:ip only its addresses."""
    nets = SetIndex.build(IPSet("N", "hash:net", members=("10.0.0.0/8",)))
    ips = SetIndex.build(IPSet("I", "hash:ip", members=("10.0.0.1",)))
    assert nets.test((ip("10.1.2.3"),)) and not nets.test((ip("11.0.0.1"),))
    assert ips.test((ip("10.0.0.1"),)) and not ips.test((ip("10.0.0.2"),))
