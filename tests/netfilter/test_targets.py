"""Targets: REJECT types, MARK operations, NAT targets, LOG, counters."""

from __future__ import annotations

import pytest

from sim.iptables import render_save
from sim.model.packet import Packet
from sim.netfilter import Verdict

from tests.netfilter.conftest import NODE1_IP, engine

P = Packet("tcp", "10.1.2.3", "10.9.9.9", 40000, 80, "S")


@pytest.mark.parametrize("written,kind", [
    ("", "icmp-port-unreachable"), ("--reject-with tcp-reset", "tcp-reset"),
    ("--reject-with tcp-rst", "tcp-reset"), ("--reject-with icmp-host-prohibited",
                                               "icmp-host-prohibited"),
    ("--reject-with net-unreach", "icmp-net-unreachable")])
def test_reject_reports_its_type(written: str, kind: str, rng) -> None:
    """REJECT ends the packet with the (canonical) reject type."""
    nf = engine(f"*filter\n-A FORWARD -p tcp -j REJECT {written}\nCOMMIT\n")
    res = nf.prerouting(P, 0, rng)
    assert res.verdict is Verdict.REJECT and res.reject_with == kind


@pytest.mark.parametrize("op,start,end", [
    ("--set-xmark 0x4000/0x4000", 0x1, 0x4001), ("--set-xmark 0x4000/0x0", 0x4001, 0x1),
    ("--or-mark 0x4000", 0x1, 0x4001), ("--xor-mark 0x4000", 0x4001, 0x1),
    ("--and-mark 0xff", 0x4101, 0x1), ("--set-mark 0x10", 0x4001, 0x10),
    ("--set-mark 0x10/0xf0", 0x4001, 0x4011)])
def test_mark_operations(op: str, start: int, end: int, rng) -> None:
    """MARK: mark = (mark & ~mask) ^ value with each option's (value, mask)."""
    nf = engine(f"*mangle\n-A FORWARD -j MARK {op}\nCOMMIT\n")
    assert nf.prerouting(P.with_(mark=start), 0, rng).packet.mark == end


def test_dnat_port_only_keeps_the_address(rng) -> None:
    """``DNAT --to-destination :8080`` changes only the port."""
    nf = engine("*nat\n-A PREROUTING -p tcp -j DNAT --to-destination :8080\nCOMMIT\n")
    res = nf.prerouting(P, 0, rng)
    assert (res.packet.dst, res.packet.dport) == ("10.9.9.9", 8080)


def test_snat_rewrites_the_source(rng) -> None:
    """SNAT in POSTROUTING sets the source address; the reply is un-SNATed."""
    nf = engine("*nat\n-A POSTROUTING -j SNAT --to-source 10.0.0.99\nCOMMIT\n")
    res = nf.prerouting(P, 0, rng)
    assert res.packet.src == "10.0.0.99" and res.snat and not res.masqueraded
    back = nf.prerouting(Packet("tcp", "10.9.9.9", "10.0.0.99", 80, res.packet.sport, "SA"),
                         0, rng)
    assert (back.packet.dst, back.packet.dport) == ("10.1.2.3", 40000)


def test_redirect_sends_arriving_packets_to_the_node(rng) -> None:
    """REDIRECT in PREROUTING: destination becomes the node's address, delivered locally."""
    nf = engine("*nat\n-A PREROUTING -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n")
    res = nf.prerouting(P, 0, rng)
    assert (res.packet.dst, res.packet.dport) == (NODE1_IP, 15001) and res.local


def test_redirect_in_output_goes_to_loopback(rng) -> None:
    """REDIRECT in OUTPUT: destination 127.0.0.1."""
    nf = engine("*nat\n-A OUTPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n")
    res = nf.output(P.with_(src=NODE1_IP), 0, rng)
    assert res.packet.dst == "127.0.0.1" and res.local


def test_log_records_prefix_level_and_continues(rng) -> None:
    """LOG is recorded with prefix and level and the walk goes on."""
    nf = engine('*filter\n-A FORWARD -j LOG --log-prefix "seen: " --log-level debug\n'
                "-A FORWARD -j DROP\nCOMMIT\n")
    res = nf.prerouting(P, 0, rng)
    assert res.verdict is Verdict.NF_DROP
    (log,) = res.logs
    assert (log.prefix, log.level, log.chain, log.rule_number) == ("seen: ", 7, "FORWARD", 1)


def test_counters_are_per_rule_like_iptables_save_c(rng) -> None:
    """``counters()`` gives packets/bytes per matched rule and per policy."""
    nf = engine("*filter\n-A FORWARD -p udp -j DROP\n-A FORWARD -p tcp\nCOMMIT\n")
    for _ in range(2):
        nf.prerouting(P.with_(length=100), 0, rng)
    assert render_save(nf.counters(), counters=True) == (
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [2:200]\n:OUTPUT ACCEPT [0:0]\n"
        "[0:0] -A FORWARD -p udp -j DROP\n[2:200] -A FORWARD -p tcp\nCOMMIT\n")


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "linear"])
@pytest.mark.parametrize("how", ["return", "fall-off"])
def test_leaving_a_goto_chain_with_an_empty_stack_applies_the_hook_policy(
        fast: bool, how: str, rng) -> None:
    """A chain entered by -g from the built-in chain has nothing to return to: a RETURN in
    it, like falling off its end, goes to the hook's underflow, the built-in chain's policy
    (ipt_do_table), here DROP, which the policy counter records."""
    body = "-A X -j RETURN" if how == "return" else "-A X -p udp -j ACCEPT"
    text = "\n".join(["*filter", ":FORWARD DROP [0:0]", ":X - [0:0]", "-A FORWARD -g X",
                      body, "COMMIT", ""])
    nf = engine(text, fast=fast)
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.0.1", 1000, 80), 0.0, rng)
    assert (res.verdict, res.reason) == (Verdict.NF_DROP, "policy")
    assert res.trail[-1].kind == "policy" and res.trail[-1].chain == "FORWARD"
    assert nf.policy_counters[("filter", "FORWARD")][0] == 1
