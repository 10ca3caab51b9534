"""IP and CIDR helpers on top of :mod:`ipaddress`, cached for hot paths."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=65536)
def parse_ip(text: str) -> IPAddress:
    """Parse an address; raises ``ValueError`` on bad input.

    >>> str(parse_ip("10.0.0.1"))
    '10.0.0.1'
    """
    return ipaddress.ip_address(text.strip())


@lru_cache(maxsize=16384)
def parse_cidr(text: str, strict: bool = False) -> IPNetwork:
    """Parse a CIDR (a bare address is a /32 or /128).

    >>> str(parse_cidr("10.96.0.0/12"))
    '10.96.0.0/12'
    """
    return ipaddress.ip_network(text.strip(), strict=strict)


def is_ip(text: str) -> bool:
    """True when ``text`` is an IPv4 or IPv6 address."""
    try:
        parse_ip(text)
    except ValueError:
        return False
    return True


def is_ipv6(text: str) -> bool:
    """True for an IPv6 address string."""
    return parse_ip(text).version == 6


@lru_cache(maxsize=262144)
def ip_in_cidr(ip: str, cidr: str) -> bool:
    """True when ``ip`` lies in ``cidr`` (different families never match).

    >>> ip_in_cidr("10.96.0.10", "10.96.0.0/12"), ip_in_cidr("10.0.0.1", "10.96.0.0/12")
    (True, False)
    """
    a = parse_ip(ip)
    n = parse_cidr(cidr)
    return a.version == n.version and a in n


def ip_to_int(ip: str) -> int:
    """The integer value of an address."""
    return int(parse_ip(ip))


def join_host_port(ip: str, port: int) -> str:
    """``net.JoinHostPort``: brackets around IPv6 addresses.

    >>> join_host_port("10.1.2.3", 80), join_host_port("fd00::1", 80)
    ('10.1.2.3:80', '[fd00::1]:80')
    """
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def normalise_ip(text: str) -> str:
    """Canonical text of an address (``ParseIPSloppy(...).String()`` for plain forms).

    >>> normalise_ip("fd00:0::1")
    'fd00::1'
    """
    return str(parse_ip(text))
