"""The ``recent`` match: per-node lists that expire with simulated time (xt_recent)."""

from __future__ import annotations

from sim.model.packet import Packet
from sim.netfilter import RecentTables, Verdict

from tests.netfilter.conftest import engine

A = 0x0A000001


def test_set_always_matches_and_records_the_address() -> None:
    """``--set`` matches and adds the address."""
    t = RecentTables()
    assert t.match("L", A, "--set", 0, 0, False, False, 1.0)
    assert t.addresses("L") == [A]


def test_rcheck_with_seconds_expires_with_simulated_time() -> None:
    """``--rcheck --seconds 10`` matches while the last hit is at most 10 s old."""
    t = RecentTables()
    t.match("L", A, "--set", 0, 0, False, False, 100.0)
    assert t.match("L", A, "--rcheck", 10, 0, False, False, 110.0)
    assert not t.match("L", A, "--rcheck", 10, 0, False, False, 110.5)


def test_update_refreshes_the_timestamp_only_when_it_matches() -> None:
    """``--update`` moves the window forward when it matched."""
    t = RecentTables()
    t.match("L", A, "--set", 0, 0, False, False, 0.0)
    assert t.match("L", A, "--update", 10, 0, False, False, 9.0)
    assert t.match("L", A, "--update", 10, 0, False, False, 18.0)
    assert not t.match("L", A, "--update", 10, 0, False, False, 40.0)
    assert not t.match("L", A, "--rcheck", 10, 0, False, False, 41.0)


def test_hitcount_needs_that_many_hits_in_the_window() -> None:
    """``--hitcount 3`` matches from the third recorded hit within ``--seconds``."""
    t = RecentTables()
    for s in (0.0, 1.0):
        t.match("L", A, "--set", 0, 0, False, False, s)
    assert not t.match("L", A, "--rcheck", 60, 3, False, False, 2.0)
    t.match("L", A, "--set", 0, 0, False, False, 2.0)
    assert t.match("L", A, "--rcheck", 60, 3, False, False, 3.0)


def test_reap_removes_the_oldest_stale_entry() -> None:
    """``--reap`` drops the least recently seen address once it is older than the window."""
    t = RecentTables()
    t.match("L", A, "--set", 0, 0, False, False, 0.0)
    t.match("L", A + 1, "--set", 0, 0, False, False, 50.0)
    t.match("L", A + 1, "--rcheck", 10, 0, True, False, 55.0)
    assert t.addresses("L") == [A + 1]


def test_remove_deletes_the_address() -> None:
    """``--remove`` matches and forgets the address."""
    t = RecentTables()
    t.match("L", A, "--set", 0, 0, False, False, 0.0)
    assert t.match("L", A, "--remove", 0, 0, False, False, 1.0)
    assert not t.match("L", A, "--rcheck", 0, 0, False, False, 1.0)


def test_a_list_holds_100_addresses_and_forgets_the_least_recent() -> None:
    """ip_list_tot = 100: the 101st address evicts the least recently seen one."""
    t = RecentTables()
    for k in range(101):
        t.match("L", A + k, "--set", 0, 0, False, False, float(k))
    assert len(t.addresses("L")) == 100 and A not in t.addresses("L")


def test_rules_use_source_by_default_and_destination_with_rdest(rng) -> None:
    """``--rsource`` (default) keys by source, ``--rdest`` by destination, masked."""
    nf = engine("*filter\n-A FORWARD -m recent --set --name S --mask 255.255.255.0\n"
                "-A FORWARD -m recent --set --name D --rdest\nCOMMIT\n")
    nf.prerouting(Packet("tcp", "10.1.2.3", "10.9.9.9", 1, 2), 0, rng)
    assert nf.recent.addresses("S") == [0x0A010200]
    assert nf.recent.addresses("D") == [0x0A090909]


def test_lists_survive_a_rule_reload(rng) -> None:
    """``load`` keeps recent lists (the kernel keeps a list referenced by the new rules)."""
    text = ("*filter\n-A FORWARD -m recent --rcheck --name S --seconds 60 -j DROP\n"
            "-A FORWARD -m recent --set --name S\nCOMMIT\n")
    nf = engine(text)
    p = Packet("tcp", "10.1.2.3", "10.9.9.9", 1, 2)
    assert nf.prerouting(p, 0, rng).verdict is Verdict.NF_ACCEPT
    nf.load(nf.ruleset)
    assert nf.prerouting(p.with_(sport=3), 1, rng).verdict is Verdict.NF_DROP
