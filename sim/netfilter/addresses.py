"""IPv4 addresses as integers (the engine's form) and back."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=1 << 18)
def ip_int(text: str) -> int:
    """Integer form of a dotted IPv4 address."""
    # Fast path for the strict form ``ipaddress`` accepts (four ASCII decimal octets, no
    # leading zeros, each <= 255); anything else goes to ``ipaddress`` (its value or error).
    parts = text.split(".")
    if len(parts) == 4:
        value = 0
        for part in parts:
            if not (part.isascii() and part.isdigit() and len(part) <= 3
                    and (part[0] != "0" or part == "0")):
                break
            octet = int(part)
            if octet > 255:
                break
            value = (value << 8) | octet
        else:
            return value
    return int(ipaddress.IPv4Address(text))


@lru_cache(maxsize=1 << 18)
def ip_str(value: int) -> str:
    """Dotted form of an IPv4 address given as an integer."""
    if 0 <= value <= 0xFFFFFFFF:
        return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
    return str(ipaddress.IPv4Address(value))
