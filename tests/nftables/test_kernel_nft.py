"""The real ``nft`` agrees: our listing of a text equals the kernel's after ``nft -f``, and
what we refuse the kernel refuses (``-m kernel``; needs root and ``nft``)."""

from __future__ import annotations

import shutil

import pytest

from sim.nftables import NftError, apply_nft, canonicalise
from tests.kubeproxy.kernel import Namespace
from tests.nftables.test_parse import BASE, FIXTURES, upstream_text

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(shutil.which("nft") is None,
                                 reason="needs nft (apt-get install nftables)")]


@pytest.fixture
def netns():
    ns = Namespace()
    yield ns
    ns.delete()


def _load(ns: Namespace, text: str):
    return ns.run(["nft", "-f", "-"], text)


@pytest.mark.parametrize("name", ["upstream_overall", "corpus"])
def test_kernel_lists_what_we_list(netns, name):
    """``nft -f`` then ``nft list ruleset`` equals our canonical listing of the same text."""
    text = upstream_text() if name == "upstream_overall" else (FIXTURES / "corpus.nft").read_text()
    r = _load(netns, text)
    assert r.returncode == 0, r.stderr
    listing = netns.run(["nft", "list", "ruleset"]).stdout
    assert canonicalise(listing) == canonicalise(text)


@pytest.mark.parametrize("bad", [
    "add rule ip t c jump nowhere",
    "add rule ip t c ip daddr @nosuch accept",
    "add rule ip t c tcp dport @s accept",
    "add element ip t s { 10.0.0.0/8 }",
    "add element ip t s { 1.2.3.4 }\ncreate element ip t s { 1.2.3.4 }",
    "add rule ip t c jump c2\nadd chain ip t c2",
    "add rule ip t c ip saddr 1.1.1.1 snat to 2.2.2.2:80",
])
def test_kernel_refuses_what_we_refuse(netns, bad):
    """Each text our parser refuses, ``nft -f`` refuses too, and the namespace stays empty."""
    with pytest.raises(NftError):
        apply_nft(BASE + bad)
    r = _load(netns, BASE + bad)
    assert r.returncode != 0
    assert netns.run(["nft", "list", "ruleset"]).stdout == ""
