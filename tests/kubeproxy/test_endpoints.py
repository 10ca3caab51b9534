"""Service-port and endpoint extraction details not covered by the compiler tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.kubeproxy.endpoints import _CANONICAL_V4, endpoints_by_port
from sim.model.ip import normalise_ip
from tests.kubeproxy import fixtures as fx

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


@pytest.mark.parametrize(("proxy_node", "ep_node", "local"), [
    ("test-node", "test-node", True),
    ("test-node", "other", False),
    ("test-node", "", False),
    ("", "", False),
])
def test_endpoint_is_local_only_when_its_node_name_is_set_and_ours(proxy_node, ep_node, local):
    """An endpoint is local iff its nodeName is non-empty and equals the proxier's node name
    (an empty nodeName never matches, not even a proxier without a name)."""
    state = fx.state([], [fx.eps("ns", "s", [fx.ep("10.0.0.1", node=ep_node)])])
    [info] = endpoints_by_port(state, proxy_node)[("ns", "s", "p80", "tcp")]
    assert info.is_local is local
