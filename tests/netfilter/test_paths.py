"""Hook order, routing decision and verdicts of the three packet paths."""

from __future__ import annotations

from sim.model.packet import Packet
from sim.netfilter import CtState, Hook, Verdict

from tests.netfilter.conftest import NODE1_IP, engine

LOGGING = """*raw
-A PREROUTING -j LOG --log-prefix raw-pre
-A OUTPUT -j LOG --log-prefix raw-out
COMMIT
*mangle
-A PREROUTING -j LOG --log-prefix mangle-pre
-A INPUT -j LOG --log-prefix mangle-in
-A FORWARD -j LOG --log-prefix mangle-fwd
-A OUTPUT -j LOG --log-prefix mangle-out
-A POSTROUTING -j LOG --log-prefix mangle-post
COMMIT
*filter
-A INPUT -j LOG --log-prefix filter-in
-A FORWARD -j LOG --log-prefix filter-fwd
-A OUTPUT -j LOG --log-prefix filter-out
COMMIT
*nat
-A PREROUTING -j LOG --log-prefix nat-pre
-A INPUT -j LOG --log-prefix nat-in
-A OUTPUT -j LOG --log-prefix nat-out
-A POSTROUTING -j LOG --log-prefix nat-post
COMMIT
"""


def _prefixes(res) -> list[str]:
    return [log.prefix for log in res.logs]


def test_forwarded_packet_visits_tables_in_kernel_priority_order(rng) -> None:
    """A forwarded packet: raw, mangle, nat PREROUTING, then FORWARD, then POSTROUTING."""
    res = engine(LOGGING).prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    assert _prefixes(res) == ["raw-pre", "mangle-pre", "nat-pre", "mangle-fwd", "filter-fwd",
                              "mangle-post", "nat-post"]
    assert res.hooks == (Hook.PREROUTING, Hook.FORWARD, Hook.POSTROUTING)
    assert not res.local


def test_packet_to_local_address_is_delivered_through_input(rng) -> None:
    """A packet for the node's own address goes PREROUTING then INPUT (mangle, filter, nat)."""
    res = engine(LOGGING).prerouting(Packet("tcp", "10.1.0.1", NODE1_IP, 1000, 80), 0, rng)
    assert _prefixes(res) == ["raw-pre", "mangle-pre", "nat-pre", "mangle-in", "filter-in",
                              "nat-in"]
    assert res.local


def test_locally_generated_packet_takes_the_output_path(rng) -> None:
    """A local process's packet: raw, mangle, nat, filter OUTPUT then POSTROUTING."""
    res = engine(LOGGING).output(Packet("tcp", NODE1_IP, "10.9.9.9", 1000, 80), 0, rng)
    assert _prefixes(res) == ["raw-out", "mangle-out", "nat-out", "filter-out", "mangle-post",
                              "nat-post"]
    assert res.out_iface == "eth0"


def test_locally_generated_packet_to_itself_is_delivered_through_input(rng) -> None:
    """Loopback delivery: OUTPUT, POSTROUTING, then raw/mangle PREROUTING and INPUT on ``lo``;
    nat is not consulted again (both NAT manips were set up before the loop)."""
    res = engine(LOGGING).output(Packet("tcp", NODE1_IP, "127.0.0.1", 1000, 80), 0, rng)
    assert _prefixes(res) == ["raw-out", "mangle-out", "nat-out", "filter-out", "mangle-post",
                              "nat-post", "raw-pre", "mangle-pre", "mangle-in", "filter-in"]
    assert res.local and res.out_iface == "lo"
    assert res.hooks == (Hook.OUTPUT, Hook.POSTROUTING, Hook.PREROUTING, Hook.INPUT)


def test_looped_back_connection_is_confirmed_before_input_rejects_it(rng) -> None:
    """The kernel confirms conntrack at the end of POSTROUTING, so a local connection that
    filter INPUT rejects still has an (unreplied) entry, as ``conntrack -L`` shows."""
    nf = engine("*filter\n-A INPUT -p tcp -j REJECT\nCOMMIT\n")
    res = nf.output(Packet("tcp", NODE1_IP, "127.0.0.1", 1000, 30080), 0, rng)
    assert res.verdict is Verdict.REJECT
    (entry,) = nf.conntrack_entries(0)
    assert entry.orig == ("192.168.0.11", 1000, "127.0.0.1", 30080)
    assert "SEEN_REPLY" not in entry.status


def test_arriving_connection_dropped_in_input_leaves_no_entry(rng) -> None:
    """For an arriving packet confirmation comes after INPUT: a drop there leaves nothing."""
    nf = engine("*filter\n-A INPUT -p tcp -j DROP\nCOMMIT\n")
    nf.prerouting(Packet("tcp", "10.1.0.1", NODE1_IP, 1000, 80), 0, rng)
    assert nf.conntrack_entries(0) == []


def test_nat_tables_see_only_the_first_packet(rng) -> None:
    """The second packet of a connection skips every nat chain (ESTABLISHED, no NAT walk)."""
    nf = engine(LOGGING)
    nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    nf.prerouting(Packet("tcp", "10.9.9.9", "10.1.0.1", 80, 1000, "SA"), 0.1, rng)
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "A"), 0.2, rng)
    assert "nat-pre" not in _prefixes(res) and "nat-post" not in _prefixes(res)
    assert res.ctstate is CtState.ESTABLISHED


def test_policy_drop_of_a_builtin_chain_drops(rng) -> None:
    """A built-in chain's DROP policy drops packets no rule accepted, and the trail says so."""
    nf = engine("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p udp -j ACCEPT\nCOMMIT\n")
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    assert res.verdict is Verdict.NF_DROP and res.reason == "policy"
    assert res.trail[-1].kind == "policy" and res.trail[-1].rule_number == 2
    ok = nf.prerouting(Packet("udp", "10.1.0.1", "10.9.9.9", 1000, 53, ""), 0, rng)
    assert ok.verdict is Verdict.NF_ACCEPT


def test_return_from_builtin_chain_applies_policy(rng) -> None:
    """RETURN in a built-in chain ends it with the policy (ipt_do_table underflow)."""
    nf = engine("*filter\n:INPUT DROP [0:0]\n-A INPUT -j RETURN\n-A INPUT -j ACCEPT\nCOMMIT\n")
    res = nf.prerouting(Packet("tcp", "10.1.0.1", NODE1_IP, 1000, 80), 0, rng)
    assert res.verdict is Verdict.NF_DROP and res.walk_length == 1


def test_goto_returns_to_the_caller_of_the_calling_chain(rng) -> None:
    """After ``-g B`` from A, falling off B's end resumes after the rule that jumped to A."""
    nf = engine("*filter\n:A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A FORWARD -j LOG "
                "--log-prefix after\n-A A -g B\n-A A -j LOG --log-prefix in-a\n"
                "-A B -j LOG --log-prefix in-b\nCOMMIT\n")
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    assert _prefixes(res) == ["in-b", "after"]
    assert [s.chain for s in res.trail if s.kind == "return"] == ["B"]


def test_rule_without_target_counts_and_continues(rng) -> None:
    """A rule with no ``-j`` only counts the packet."""
    nf = engine("*filter\n-A FORWARD -p tcp\n-A FORWARD -j DROP\nCOMMIT\n")
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    assert res.verdict is Verdict.NF_DROP
    assert [r.packets for r in nf.counters().tables["filter"].chains["FORWARD"].rules] == [1, 1]


def test_walk_length_counts_every_rule_passed_over(rng) -> None:
    """Walk length = rules evaluated, matched or not, across chains."""
    nf = engine("*filter\n:A - [0:0]\n-A FORWARD -p udp -j DROP\n-A FORWARD -j A\n"
                "-A FORWARD -p udp -j DROP\n-A A -p udp -j DROP\n-A A -p udp -j DROP\nCOMMIT\n")
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    assert res.walk_length == 5


def test_end_of_chain_reached_by_goto_from_builtin_applies_policy(rng) -> None:
    """``-g U`` from a built-in chain, then U's end: nothing to return to, the policy decides."""
    nf = engine("*filter\n:FORWARD DROP [0:0]\n:U - [0:0]\n-A FORWARD -g U\n"
                "-A FORWARD -j ACCEPT\nCOMMIT\n")
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    assert res.verdict is Verdict.NF_DROP and res.reason == "policy"
    assert [s.kind for s in res.trail] == ["rule", "return", "policy"]


def test_adopted_compilation_behaves_like_own_load_with_separate_state(rng) -> None:
    """``adopt(other.compiled)``: same verdicts as compiling, own counters and conntrack."""
    import numpy as np

    from tests.netfilter.conftest import node1

    a, b, c = node1(), node1(), node1()
    b.adopt(a.compiled)
    ra, rb = np.random.default_rng(3), np.random.default_rng(3)
    p = Packet("tcp", "10.244.1.20", "10.96.100.1", 40000, 80)
    assert b.prerouting(p, 0, rb).packet == c.prerouting(p, 0, ra).packet
    assert a.conntrack_entries(0) == [] and len(b.conntrack_entries(0)) == 1
    assert sum(a.counters_packets) == 0 and sum(b.counters_packets) > 0


def test_nth_rules_are_not_shareable() -> None:
    """A ruleset with ``statistic --mode nth`` keeps per-engine counters: adopt refuses it."""
    import pytest

    nf = engine("*filter\n-A FORWARD -m statistic --mode nth --every 2 --packet 0\nCOMMIT\n")
    assert not nf.compiled.shareable
    with pytest.raises(ValueError):
        engine("*filter\nCOMMIT\n").adopt(nf.compiled)


def test_hooks_traversed_do_not_depend_on_which_tables_exist(rng) -> None:
    """``Result.hooks`` lists the hooks a packet passed whether or not any table is loaded at
    them (absent tables are skipped without being called): forwarded, local-in, local-out
    and looped-back packets with every table and with none."""
    sends = [
        lambda nf: nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng),
        lambda nf: nf.prerouting(Packet("tcp", "10.1.0.1", NODE1_IP, 1000, 80), 0, rng),
        lambda nf: nf.output(Packet("tcp", NODE1_IP, "10.9.9.9", 1000, 80), 0, rng),
        lambda nf: nf.output(Packet("tcp", NODE1_IP, "127.0.0.1", 1000, 80), 0, rng),
    ]
    with_tables = [send(engine(LOGGING)).hooks for send in sends]
    without = [send(engine("")).hooks for send in sends]
    assert with_tables == without == [
        (Hook.PREROUTING, Hook.FORWARD, Hook.POSTROUTING),
        (Hook.PREROUTING, Hook.INPUT),
        (Hook.OUTPUT, Hook.POSTROUTING),
        (Hook.OUTPUT, Hook.POSTROUTING, Hook.PREROUTING, Hook.INPUT),
    ]


def test_packet_dropped_in_raw_prerouting_lists_only_prerouting(rng) -> None:
    """A DROP in raw PREROUTING ends the path: the only hook traversed is PREROUTING."""
    nf = engine("*raw\n-A PREROUTING -j DROP\nCOMMIT\n")
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    assert res.verdict is Verdict.NF_DROP
    assert res.hooks == (Hook.PREROUTING,)


def test_adopt_refuses_a_compilation_made_for_the_other_path() -> None:
    """An engine keeps its own fast/reference choice: adopting a compilation made with the
    other setting is refused instead of silently running the other path."""
    import pytest

    text = "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n"
    for mine, theirs in ((True, False), (False, True)):
        with pytest.raises(ValueError, match="fast setting"):
            engine(text, fast=mine).adopt(engine(text, fast=theirs).compiled)
    engine(text, fast=False).adopt(engine(text, fast=False).compiled)
