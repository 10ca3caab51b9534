"""nft text: loading like ``nft -f``, listing like ``nft list ruleset``, refusing what it
refuses. The ``.list`` fixtures are the real kernel's ``nft list ruleset`` (nftables 1.0.6)
after ``nft -f`` of the matching ``.nft`` text (re-checked live in ``test_kernel_nft.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.nftables import NftError, apply_nft, canonicalise, looks_like_nft, parse_ruleset

FIXTURES = Path(__file__).parent / "fixtures"


def declarations_first(text: str) -> str:
    """Upstream's expected dump lists each service's chains next to its rules; a real
    transaction (kube-proxy's, and what ``nft -f`` accepts) adds tables, chains, sets and
    maps before the rules and elements that name them."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    decl = [ln for ln in lines if ln.startswith(("add table", "add chain", "add set", "add map"))]
    return "\n".join(decl + [ln for ln in lines if ln not in decl]) + "\n"


def upstream_text() -> str:
    return declarations_first((FIXTURES / "upstream_overall.nft").read_text())


@pytest.mark.parametrize("name", ["upstream_overall", "corpus"])
def test_listing_round_trips_exactly(name):
    """Parsing the kernel's listing and rendering it gives the listing back byte for byte."""
    listing = (FIXTURES / f"{name}.list").read_text()
    assert parse_ruleset(listing).render(now=0.0) == listing


def test_upstream_transaction_lists_as_the_kernel_does():
    """Upstream's TestOverallNFTablesRules text, applied, lists as the kernel listed it."""
    ours = apply_nft(upstream_text()).render(now=None, sort=True)
    assert ours == canonicalise((FIXTURES / "upstream_overall.list").read_text())


def test_corpus_lists_as_the_kernel_does():
    """Every modelled expression and statement prints as nft 1.0.6 prints it."""
    text = (FIXTURES / "corpus.nft").read_text()
    assert canonicalise(text) == canonicalise((FIXTURES / "corpus.list").read_text())


def test_upstream_stats():
    """The upstream fixture's counts of chains, rules, sets, maps and elements."""
    stats = apply_nft(upstream_text()).stats()
    assert stats == {"tables": 1, "chains": 32, "base_chains": 8, "rules": 57, "sets": 3,
                     "maps": 5, "elements": 24}


def test_later_transaction_applies_onto_current_state():
    """A second transaction (flush + re-add) builds on the first; the first is unchanged."""
    first = apply_nft(upstream_text())
    second = apply_nft("flush chain ip kube-proxy services\n"
                       "add element ip kube-proxy cluster-ips { 172.30.0.99 }\n", first)
    assert second.tables["ip", "kube-proxy"].chains["services"].rules == []
    assert len(first.tables["ip", "kube-proxy"].chains["services"].rules) == 2
    assert 0xAC1E0063 in second.tables["ip", "kube-proxy"].sets["cluster-ips"].elements


BASE = ("add table ip t\nadd chain ip t c\nadd set ip t s { type ipv4_addr ; }\n"
        "add map ip t m { type ipv4_addr . inet_proto . inet_service : verdict ; }\n")


@pytest.mark.parametrize("bad, line, words", [
    ("add rule ip t c jump nowhere", 5, "chain nowhere"),
    ("add rule ip t nochain accept", 5, "chain nochain"),
    ("add rule ip t c ip daddr @nosuch accept", 5, "set nosuch"),
    ("add rule ip t c tcp dport @s accept", 5, "datatype mismatch"),
    ("add rule ip t c ip daddr . th dport vmap @m", 5, "datatype mismatch"),
    ("add element ip t s { 10.0.0.0/8 }", 5, "flags interval"),
    ("add element ip t s { 1.2.3.4 }\ncreate element ip t s { 1.2.3.4 }", 6, "File exists"),
    ("add chain ip t d\nadd element ip t m { 1.1.1.1 . tcp . 80 : goto c }\n"
     "add element ip t m { 1.1.1.1 . tcp . 80 : goto d }", 7, "other data"),
    ("add rule ip t c ip dscp 1 accept", 5, "unsupported expression"),
    ("add rule ip t c queue num 1", 5, "unsupported expression"),
    ("add rule ip t c ip daddr 1.2.3.256 accept", 5, "ipv4_addr"),
    ("add rule ip t c jump c2\nadd chain ip t c2", 5, "chain c2"),
    ("add chain ip t d\nadd rule ip t c jump d\ndelete chain ip t d", 7, "busy"),
    ("delete element ip t s { 9.9.9.9 }", 5, "No such file"),
    ("add rule ip t c ip saddr 1.1.1.1 snat to 2.2.2.2:80", 5, "transport protocol"),
    ("add rule ip t c accept drop", 5, "never reached"),
    ("add table ip t2\nadd rule ip t2 c accept", 6, "chain c"),
])
def test_refused_like_nft(bad, line, words):
    """What nft -f refuses is refused with the line named."""
    with pytest.raises(NftError) as err:
        apply_nft(BASE + bad, source="x.nft")
    assert f"x.nft:{line}: Error:" in str(err.value)
    assert words in str(err.value)


def test_refused_text_changes_nothing():
    """A transaction that fails at its last line leaves the current ruleset as it was."""
    current = apply_nft(BASE)
    before = current.render()
    with pytest.raises(NftError):
        apply_nft("add element ip t s { 5.5.5.5 }\nflush chain ip t c\n"
                  "add rule ip t c jump nowhere\n", current)
    assert current.render() == before


def test_anonymous_single_element_set_is_a_comparison():
    """``ip saddr != { 203.0.113.0/25 }`` lists as ``ip saddr != 203.0.113.0/25``."""
    rs = apply_nft(BASE + "add rule ip t c ip saddr != { 203.0.113.0/25 } drop")
    assert rs.tables["ip", "t"].chains["c"].rules[0].render() == "ip saddr != 203.0.113.0/25 drop"


def test_update_makes_a_set_dynamic():
    """A set named by ``update`` lists with ``flags dynamic`` and ``size 65535``."""
    rs = apply_nft("add table ip t\nadd chain ip t c\n"
                   "add set ip t a { type ipv4_addr ; flags timeout ; timeout 3h ; }\n"
                   "add rule ip t c update @a { ip saddr }\n")
    text = rs.render()
    assert "size 65535\n\t\tflags dynamic,timeout\n\t\ttimeout 3h" in text


def test_element_timeouts_expire_in_the_listing():
    """An element's ``expires`` counts down from the time it was added."""
    rs = apply_nft("add table ip t\nadd set ip t a { type ipv4_addr ; flags timeout ; "
                   "timeout 1m ; }\nadd element ip t a { 10.0.0.1 }\n", now=100.0)
    assert "10.0.0.1 expires 40s" in rs.render(now=120.0)
    assert "10.0.0.1" not in rs.render(now=160.0)


def test_priority_names_and_offsets():
    """Priorities print by name where nft allows the name at that hook, else as numbers."""
    rs = apply_nft("add table ip t\n"
                   "add chain ip t a { type nat hook output priority -100 ; }\n"
                   "add chain ip t b { type nat hook prerouting priority dstnat ; }\n"
                   "add chain ip t c { type filter hook prerouting priority -110 ; }\n"
                   "add chain ip t d { type filter hook forward priority mangle + 3 ; }\n")
    text = rs.render()
    assert "hook output priority -100;" in text
    assert "hook prerouting priority dstnat;" in text
    assert "hook prerouting priority dstnat - 10;" in text
    assert "hook forward priority mangle + 3;" in text


def test_detects_nft_text():
    """nft text is told from iptables-save text by its first statement."""
    assert looks_like_nft("# x\ntable ip kube-proxy {\n}\n")
    assert looks_like_nft("add table ip t\n")
    assert not looks_like_nft("# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n")
