"""Service-port and endpoint extraction details not covered by the compiler tests."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sim.kubeproxy.endpoints import _CANONICAL_V4
from sim.model.ip import normalise_ip

OCTETS = st.from_regex(r"\A[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}\Z")


@given(st.one_of(st.ip_addresses(v=4).map(str), OCTETS, st.text(alphabet="0123456789.:x", max_size=16)))
def test_cluster_ip_fast_path_only_for_text_the_parse_keeps(text):
    """A cluster IP skips the parse only when it is valid IPv4 text that ParseIPSloppy's
    String() returns unchanged, and every such address does skip it."""
    try:
        unchanged = ":" not in text and normalise_ip(text) == text
    except ValueError:
        unchanged = False
    assert bool(_CANONICAL_V4.fullmatch(text)) == unchanged
