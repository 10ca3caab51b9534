"""The fast path (generated chain functions, chain indexes) gives exactly what the linear
reference walk gives: verdicts, NAT, marks, traces, walk lengths, logs, hooks, rule counters,
nfacct counters, recent lists and conntrack, on random rulesets (raw, mangle, filter and nat)
and packet sequences with replies, ICMP errors, resets, the OUTPUT path, expiry gaps and a
small conntrack table, with ``-m set`` lookups into the node's ipsets (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.iptables import render_save
from sim.ipset import parse_restore as parse_ipsets
from sim.model.packet import Packet

from tests.netfilter.conftest import engine

DSTS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.0.11"]
PORTS = [53, 80, 443]
PROTOS = ["tcp", "udp"]
MODULES = [
    "-m comment --comment c",
    "-m statistic --mode random --probability 0.5",
    "-m statistic --mode nth --every 2 --packet 0",
    "-m recent --set --name R",
    "-m recent --rcheck --name R --seconds 5",
    "-m nfacct --nfacct-name n",
    "-m mark --mark 0x1/0x1",
    "-m conntrack --ctstate NEW",
    "-m conntrack --ctstate RELATED,ESTABLISHED",
    "-m conntrack --ctstate INVALID",
    "-m state --state UNTRACKED",
    "-m conntrack --ctstate DNAT",
    "-m addrtype --dst-type LOCAL",
    "-m limit --limit 1/sec --limit-burst 2",
    "-m iprange --src-range 10.1.0.1-10.1.0.1",
    "-m connmark --mark 0x1/0x1",
    "-m set --match-set SVC dst,dst",
    "-m set ! --match-set SVC dst,dst",
    "-m set --match-set LOOP dst,dst,src",
    "-m set --match-set PORTS dst",
    "-m set --match-set NETS src",
]
# The ipsets the set matches above look up (ipset restore text).
IPSETS = """create SVC hash:ip,port family inet hashsize 1024 maxelem 65536
add SVC 10.0.0.1,tcp:80
add SVC 10.0.0.2,udp:53
add SVC 10.0.9.9,tcp:80
create LOOP hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add LOOP 10.0.9.9,tcp:8080,10.0.9.9
add LOOP 10.0.0.3,tcp:443,10.1.0.1
create PORTS bitmap:port range 0-65535
add PORTS 443
add PORTS 8080
create NETS hash:net family inet hashsize 1024 maxelem 65536
add NETS 10.1.0.2
add NETS 192.168.0.0/24
"""


@st.composite
def rule(draw, targets: list[str]) -> str:
    parts = []
    d = draw(st.sampled_from(["", "exact", "exact", "net", "neg"]))
    if d == "exact":
        parts.append(f"-d {draw(st.sampled_from(DSTS))}")
    elif d == "net":
        parts.append("-d 10.0.0.0/24")
    elif d == "neg":
        parts.append(f"! -d {draw(st.sampled_from(DSTS))}")
    mods = draw(st.lists(st.sampled_from(MODULES), max_size=2))
    if draw(st.booleans()):
        proto = draw(st.sampled_from(PROTOS))
        parts.append(f"-p {proto}")
        port = f"-m {proto} --dport {draw(st.sampled_from(PORTS))}"
        mods.insert(draw(st.integers(0, len(mods))), port)
    parts += mods
    parts.append(draw(st.sampled_from(targets)))
    return " ".join(p for p in parts if p)


FILTER_TARGETS = ["-j ACCEPT", "-j DROP", "-j RETURN", "-j REJECT", "-j MARK --or-mark 0x1",
                  "-j LOG --log-prefix x", "", "-j U1", "-j U2", "-g U2", "",
                  "-j CONNMARK --set-mark 0x1", "-j CONNMARK --restore-mark"]
U1_TARGETS = ["-j ACCEPT", "-j RETURN", "-j MARK --xor-mark 0x1", "", "-j U2", "-j DROP"]
U2_TARGETS = ["-j RETURN", "-j MARK --or-mark 0x2", "", "-j ACCEPT"]
NAT_TARGETS = ["-j DNAT --to-destination 10.0.9.9", "-j RETURN", "",
               "-j MARK --or-mark 0x1", "-j DNAT --to-destination 10.0.9.8"]
NAT_PORT_RULES = ["-d 10.0.0.1 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.9.9:8080",
                  "-p udp -m udp --dport 53 -j DNAT --to-destination 10.0.9.7:5353"]


POST_TARGETS = ["-j MASQUERADE", "-j MASQUERADE --random-fully", "-j RETURN", "",
                "-j SNAT --to-source 192.168.0.11", "-j MARK --or-mark 0x4"]
MANGLE_TARGETS = ["-j MARK --or-mark 0x1", "-j ACCEPT", "-j RETURN", "", "-j DROP"]
RAW_TARGETS = ["-j NOTRACK", "-j MARK --or-mark 0x2", "-j ACCEPT", ""]


@st.composite
def ruleset_text(draw) -> str:
    fwd = draw(st.lists(rule(FILTER_TARGETS), min_size=8, max_size=20))
    u1 = draw(st.lists(rule(U1_TARGETS), min_size=0, max_size=14))
    u2 = draw(st.lists(rule(U2_TARGETS), min_size=0, max_size=10))
    pre = draw(st.lists(st.one_of(rule(NAT_TARGETS), st.sampled_from(NAT_PORT_RULES)),
                        min_size=0, max_size=14))
    post = draw(st.lists(rule(POST_TARGETS), min_size=0, max_size=4))
    lines = ["*filter", ":U1 - [0:0]", ":U2 - [0:0]"]
    lines += [f":{c} DROP [0:0]" for c in ("FORWARD", "INPUT", "OUTPUT") if draw(st.booleans())]
    lines += [f"-A FORWARD {r}" for r in fwd] + [f"-A INPUT {r}" for r in fwd[:5]]
    lines += [f"-A OUTPUT {r}" for r in fwd[5:9]]
    lines += [f"-A U1 {r}" for r in u1] + [f"-A U2 {r}" for r in u2]
    lines += ["COMMIT", "*nat"] + [f"-A PREROUTING {r}" for r in pre]
    lines += [f"-A OUTPUT {r}" for r in pre[:4]]
    lines += [f"-A POSTROUTING {r}" for r in post] + ["COMMIT"]
    if draw(st.booleans()):
        lines.append("*mangle")
        for chain in ("PREROUTING", "INPUT", "FORWARD", "POSTROUTING"):
            lines += [f"-A {chain} {r}"
                      for r in draw(st.lists(rule(MANGLE_TARGETS), min_size=0, max_size=3))]
        lines.append("COMMIT")
    if draw(st.booleans()):
        lines.append("*raw")
        lines += [f"-A PREROUTING {r}"
                  for r in draw(st.lists(rule(RAW_TARGETS), min_size=1, max_size=3))]
        lines.append("COMMIT")
    return "\n".join(lines + [""])


packet = st.builds(
    lambda proto, src, dst, sport, dport, mark, flags: Packet(
        proto, src, dst, sport, dport, flags if proto == "tcp" else "", mark),
    st.sampled_from(PROTOS), st.sampled_from(["10.1.0.1", "10.1.0.2"]), st.sampled_from(DSTS),
    st.sampled_from([1000, 1001]), st.sampled_from(PORTS + [8080]), st.sampled_from([0, 1]),
    st.sampled_from(["S", "S", "A", "R"]))
# A step: a new packet, or (k, flags) the reply to the k-th earlier packet as it left the
# node (its endpoint answering), when that one was accepted; flags "icmp": the endpoint's
# ICMP port unreachable quoting that packet instead.
step = st.one_of(packet, st.tuples(st.integers(0, 11),
                                   st.sampled_from(["SA", "A", "F", "icmp"])),
                 st.tuples(st.just("out"), packet))  # the node's own packet (OUTPUT path)


def _observe(res) -> tuple:
    return (res.verdict, res.packet, res.local, res.masqueraded, res.dnat, res.snat, res.trail,
            res.walk_length, res.reject_with, res.reason, res.logs, res.ctstate, res.direction,
            res.hooks, res.out_iface)


@pytest.mark.parametrize("index", [(1, 0.0), (1 << 30, 1.0)], ids=["indexed", "generated"])
@given(text=ruleset_text(), steps=st.lists(step, min_size=1, max_size=12),
       gaps=st.lists(st.sampled_from([0.0, 1.0, 37.0]), min_size=12, max_size=12),
       seed=st.integers(0, 2**32), trace=st.booleans(), ct_max=st.sampled_from([2, 1000]))
def test_fast_path_equals_linear_walk(index: tuple[int, float], text: str, steps: list,
                                      gaps: list[float], seed: int, trace: bool,
                                      ct_max: int) -> None:
    """Same observable behaviour, packet by packet and in the final state, whether every
    chain runs over its index or every chain is one generated function, traced or not."""
    sets = parse_ipsets(IPSETS)
    fast = engine(text, fast=True, index=index, trace=trace, conntrack_max=ct_max, ipsets=sets)
    slow = engine(text, fast=False, trace=trace, conntrack_max=ct_max, ipsets=sets)
    forward = fast._compiled.tables["filter"].chains["FORWARD"]
    assert (forward.dst_index is not None) == (index[0] == 1)
    assert slow._compiled.tables["filter"].chains["FORWARD"].run is None
    rf, rs = np.random.default_rng(seed), np.random.default_rng(seed)
    sent: list = []
    now = 0.0
    for k, s in enumerate(steps):
        now += gaps[k]  # 37 s: unreplied UDP (30 s) entries expire between some packets
        if isinstance(s, tuple) and s[0] == "out":
            p = s[1]
            local = Packet(p.proto, "192.168.0.11", p.dst, p.sport, p.dport, p.tcp_flags, p.mark)
            got, want = fast.output(local, now, rf), slow.output(local, now, rs)
            assert _observe(got) == _observe(want)
            sent.append(got)
            continue
        if isinstance(s, tuple):
            if s[0] >= len(sent) or sent[s[0]].verdict.value != "ACCEPT":
                continue
            out = sent[s[0]].packet
            if s[1] == "icmp":
                s = Packet("icmp", out.dst, out.src, 0, 0, "", icmp_type=3,
                           inner=(out.proto, out.src, out.sport, out.dst, out.dport))
            else:
                s = Packet(out.proto, out.dst, out.src, out.dport, out.sport,
                           s[1] if out.proto == "tcp" else "")
        got, want = fast.prerouting(s, now, rf), slow.prerouting(s, now, rs)
        assert _observe(got) == _observe(want)
        assert got.conntrack == want.conntrack
        sent.append(got)
    assert render_save(fast.counters(), counters=True) == render_save(slow.counters(),
                                                                      counters=True)
    assert fast.nfacct == slow.nfacct
    assert fast.recent.addresses("R") == slow.recent.addresses("R")
    assert fast.conntrack_entries() == slow.conntrack_entries()


def test_generated_chain_evaluates_stateful_matches_like_the_linear_walk() -> None:
    """A generated chain function evaluates a rule's stateful match only when the rules
    before it did not end the walk and the conditions before it in the rule held, exactly as
    the rule-by-rule walk does: the nth counters agree packet by packet."""
    text = "\n".join([
        "*filter", ":U1 - [0:0]",
        "-A FORWARD -j U1",
        "-A U1 -m statistic --mode nth --every 3 --packet 0 -j MARK --or-mark 0x1",
        "-A U1 -d 10.0.0.1 -p tcp -m tcp --dport 80 -j ACCEPT",
        "-A U1 -p tcp -m statistic --mode nth --every 2 --packet 1 -j RETURN",
        "-A U1 ! -d 10.0.0.0/24 -j DROP",
        "-A U1 -j LOG",
        "COMMIT", ""])
    generated = engine(text, trace=False)
    linear = engine(text, trace=False, fast=False)
    assert generated._compiled.tables["filter"].chains["U1"].run.__name__ == "_run"
    verdicts = set()
    for k in range(16):
        dst = ("10.0.0.1", "10.0.0.2", "10.9.0.1", "10.9.0.2")[k % 4]
        p = Packet("tcp", "10.1.0.1", dst, 1000 + k, 80)
        g, want = generated.prerouting(p, k, None), linear.prerouting(p, k, None)
        assert (g.verdict, g.packet, g.walk_length, g.logs) == (
            want.verdict, want.packet, want.walk_length, want.logs)
        assert generated._hooks.nth_counters == linear._hooks.nth_counters
        verdicts.add(g.verdict)
    assert len(verdicts) == 2  # both ACCEPT and DROP were reached


def test_chains_nested_deeper_than_the_fast_path_takes_run_on_the_reference_walk() -> None:
    """A jump on the fast path is a Python call: a ruleset whose chains nest 1,500 deep
    (which the kernel accepts) runs on the reference walk instead, with the same verdict,
    rather than overflowing Python's stack."""
    from sim.netfilter.compiled import MAX_FAST_NESTING

    n = 1500
    assert n > MAX_FAST_NESTING
    lines = ["*filter"] + [f":C{i} - [0:0]" for i in range(n)]
    lines += [f"-A C{i} -g C{i + 1}" for i in range(n - 1)] + [f"-A C{n - 1} -j DROP"]
    text = "\n".join(lines + ["-A FORWARD -j C0", "COMMIT", ""])
    nf = engine(text, fast=True)
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.0.0.2", 1000, 80), 0.0, None)
    assert not nf.compiled.fast and nf.compiled.tables["filter"].chains["C0"].run is None
    assert (res.verdict.value, res.walk_length) == ("DROP", n + 1)
