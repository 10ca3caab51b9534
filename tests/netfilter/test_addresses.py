"""The engine's address conversions agree with ``ipaddress`` (value or refusal)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from sim.netfilter.engine import ip_int, ip_str

_OCTET = st.one_of(st.integers(0, 300).map(str),
                   st.sampled_from(["", "00", "007", "0x1", "+1", "-1", " 1", "1 ", "\u0663",
                                    "\u00b2", "1000"]))
_DOTTED = st.lists(_OCTET, min_size=2, max_size=5).map(".".join)


def _ipaddress_int(text: str):
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        return ValueError


def _ours(text: str):
    try:
        return ip_int(text)
    except ValueError:
        return ValueError


@given(_DOTTED)
def test_ip_int_accepts_and_refuses_like_ipaddress(text):
    """Dotted strings, valid or not (leading zeros, non-ASCII digits, signs, wrong octet count,
    octets over 255): the same integer, or a ValueError, as ``ipaddress.IPv4Address``."""
    assert _ours(text) == _ipaddress_int(text)


@given(st.integers(0, 0xFFFFFFFF))
def test_ip_str_prints_like_ipaddress(value):
    """Every 32-bit value prints as ``str(ipaddress.IPv4Address(value))``."""
    assert ip_str(value) == str(ipaddress.IPv4Address(value))
