"""Chain-name hashing: the fast encoder equals the definition, and known names from upstream."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from sim.kubeproxy import hashing


def reference_h16(text: str) -> str:
    """The definition: standard base32 of SHA-256, first 16 characters (``portProtoHash``)."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest())[:16].decode()


@given(st.text(min_size=0, max_size=80))
def test_fast_hash_equals_base32_definition(text):
    """The table-driven 80-bit encoder gives the same 16 characters as base64.b32encode."""
    assert hashing._h16(text) == reference_h16(text)


@given(st.lists(st.text(min_size=0, max_size=80), max_size=40))
def test_batch_encoder_equals_base32_definition(texts):
    """The numpy batch encoder gives, for each input in order, the base32 definition's 16
    characters."""
    assert hashing._h16_many(texts) == [reference_h16(t) for t in texts]


@given(st.lists(st.sampled_from(["ns/a:p80tcp10.0.0.1:80", "ns/a:p80tcp10.0.0.11:80", "ns/b:udp[fd00::1]:53"]),
                max_size=12))
def test_endpoint_chain_names_cached_or_not_equal_the_definition(texts):
    """Batch names (with repeats, partly cached from earlier examples) are KUBE-SEP- plus the
    definition, also right after the cache is emptied."""
    want = ["KUBE-SEP-" + reference_h16(t) for t in texts]
    assert hashing.endpoint_chain_names(texts) == want
    hashing.clear_caches()
    assert hashing.endpoint_chain_names(texts) == want


def test_names_seen_in_upstream_tests_and_real_clusters():
    """Names from TestOverallIPTablesRules, TestSyncProxyRulesRepeated and real dumps."""
    assert hashing.service_chain_name("ns1/svc1:p80", "tcp") == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert hashing.firewall_chain_name("ns5/svc5:p80", "tcp") == "KUBE-FW-NUKIZ6OKUXPJNT4C"
    assert hashing.endpoint_chain_name("ns5/svc5:p80", "tcp", "10.180.0.3:80") == "KUBE-SEP-I77PXRDZVX7PMWMN"
    assert hashing.endpoint_chain_name("ns3/svc3:p80", "tcp", "10.180.0.3:80") == "KUBE-SEP-OYPFS5VJICHGATKP"
    assert hashing.service_chain_name("default/kubernetes:https", "tcp") == "KUBE-SVC-NPX46M4PTMTKRN6Y"
    assert hashing.service_chain_name("kube-system/kube-dns:dns", "udp") == "KUBE-SVC-TCOU7JCQXEZGVUNU"
    assert hashing.service_chain_name("default/nginx", "tcp") == "KUBE-SVC-2CMXP7HKUVJN7L6M"
    assert hashing.endpoint_chain_name("ns2/svc2:p8080", "tcp", "10.0.2.1:8080") == "KUBE-SEP-UHEGFW77JX3KXTOV"


def test_svc_svl_ext_fw_share_one_suffix():
    """The four per-service-port chains differ only in prefix; SEP names are 25 characters."""
    names = [f("ns/s:p", "udp") for f in (hashing.service_chain_name, hashing.local_chain_name,
                                          hashing.external_chain_name, hashing.firewall_chain_name)]
    assert len({n.rsplit("-", 1)[1] for n in names}) == 1
    assert [len(n) for n in names] == [25, 25, 25, 24]
