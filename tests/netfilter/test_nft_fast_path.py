"""The nft fast path (ops compiled once: resolved getters, constants, verdict-map dicts)
gives exactly what the reference walk (each statement interpreted from its data) gives:
verdicts, NAT, marks, traces, walk lengths, hooks, rule counters, conntrack and dynamic set
contents, on random nft rulesets (filter and nat base chains, regular chains, sets, maps,
numgen, affinity updates) beside random iptables tables, and packet sequences with replies,
the OUTPUT path and expiry gaps (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sim.model.packet import Packet
from sim.netfilter import NodeNetfilter, Route
from sim.nftables import apply_nft
from tests.netfilter.conftest import ruleset

DSTS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.0.11"]
SRCS = ["10.1.0.1", "10.1.0.2", "203.0.113.5", "192.168.0.11"]
MATCHES = [
    "ip daddr 10.0.0.1", "ip daddr != 10.0.0.2", "ip daddr 10.0.0.0/24", "ip saddr 10.1.0.0/16",
    "ip daddr { 10.0.0.1, 10.0.0.3 }", "ip saddr != { 10.1.0.0/24 }", "ip daddr @vips",
    "ip saddr @dyn", "ip daddr != @vips", "ip saddr != { 10.1.0.0/24, 10.1.1.2 }",
    "tcp dport 80", "udp dport 53", "th dport 1-100", "meta l4proto tcp",
    "meta mark & 0x1 == 0x1", "meta mark 0x0", "ct state new", "ct state established,related",
    "ct status dnat", "fib daddr type local", "fib saddr type local", "iifname \"eth0\"",
    "ip daddr . meta l4proto . th dport @svc", "tcp flags syn", "ct mark 0x1",
]
STATEMENTS = ["accept", "drop", "return", "reject", "reject with tcp reset", "jump u1",
              "goto u2", "meta mark set meta mark | 0x1", "meta mark set 0x2", "counter",
              "update @dyn { ip saddr }", "", "log prefix \"x\"",
              "ip daddr . meta l4proto . th dport vmap @svcmap",
              "numgen random mod 3 vmap { 0 : jump u1, 1 : goto u2, 2 : continue }",
              "ct mark set meta mark"]
U_STATEMENTS = ["accept", "return", "meta mark set meta mark ^ 0x1", "", "drop",
                "numgen random mod 2 vmap { 0 : return, 1 : accept }"]
NAT_STATEMENTS = ["meta l4proto tcp dnat to 10.0.9.9:8080", "dnat to 10.0.9.8", "return", "",
                  "meta mark set meta mark | 0x4", "jump natsub",
                  "numgen random mod 2 vmap { 0 : goto natsub, 1 : continue }"]
POST_STATEMENTS = ["masquerade", "masquerade fully-random", "snat to 192.168.0.11", "return",
                   ""]
HEAD = """add table ip t
add set ip t vips { type ipv4_addr ; elements = { 10.0.0.1, 192.168.0.11 } ; }
add set ip t dyn { type ipv4_addr ; flags dynamic,timeout ; timeout 5s ; }
add set ip t svc { type ipv4_addr . inet_proto . inet_service ; elements = { 10.0.0.1 . tcp . 80, 10.0.0.2 . udp . 53 } ; }
add chain ip t u2
add chain ip t u1
add chain ip t natsub
add map ip t svcmap { type ipv4_addr . inet_proto . inet_service : verdict ; elements = { 10.0.0.1 . tcp . 80 : jump u1, 10.0.0.3 . tcp . 443 : drop } ; }
"""
BASES = [("pre", "filter", "prerouting", -150), ("fwd", "filter", "forward", 0),
         ("inp", "filter", "input", 0), ("out", "filter", "output", -10),
         ("rout", "route", "output", -140), ("npre", "nat", "prerouting", -100),
         ("nout", "nat", "output", -100), ("npost", "nat", "postrouting", 100)]


@st.composite
def nft_rule(draw, statements: list[str]) -> str:
    parts = draw(st.lists(st.sampled_from(MATCHES), max_size=2))
    parts.append(draw(st.sampled_from(statements)))
    text = " ".join(p for p in parts if p)
    return text or "counter"


@st.composite
def nft_text(draw) -> str:
    lines = [HEAD]
    for name, ctype, hook, prio in BASES:
        if not draw(st.booleans()):
            continue
        policy = draw(st.sampled_from(["accept", "accept", "drop"])) if ctype == "filter" \
            else "accept"
        lines.append(f"add chain ip t {name} {{ type {ctype} hook {hook} priority {prio} ; "
                     f"policy {policy} ; }}\n")
        pool = (NAT_STATEMENTS if hook in ("prerouting", "output") else POST_STATEMENTS) \
            if ctype == "nat" else STATEMENTS
        for _ in range(draw(st.integers(0, 4))):
            lines.append(f"add rule ip t {name} {draw(nft_rule(pool))}\n")
    for name, pool in (("u1", U_STATEMENTS + ["goto u2"]), ("u2", U_STATEMENTS),
                       ("natsub", ["dnat to 10.0.9.7", "return", ""])):
        for _ in range(draw(st.integers(0, 3))):
            lines.append(f"add rule ip t {name} {draw(nft_rule(pool))}\n")
    return "".join(lines)


IPT = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
       ":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.0.0.2 -p udp -j DNAT --to-destination "
       "10.0.9.6\n-A POSTROUTING -s 10.1.0.0/16 -j MASQUERADE\nCOMMIT\n*filter\n"
       ":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
       "-A FORWARD -d 10.0.0.3 -j DROP\nCOMMIT\n")


@st.composite
def packets(draw) -> list[tuple]:
    out = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["new", "new", "reply", "again", "local"]))
        proto = draw(st.sampled_from(["tcp", "udp"]))
        src, dst = draw(st.sampled_from(SRCS)), draw(st.sampled_from(DSTS))
        port = draw(st.sampled_from([53, 80, 443]))
        gap = draw(st.sampled_from([0.0, 0.5, 6.0]))
        out.append((kind, proto, src, dst, port, draw(st.integers(1024, 1030)), gap))
    return out


def _summary(res) -> tuple:
    return (res.verdict, res.reject_with, res.packet, res.local, res.hooks, res.ctstate,
            res.direction, res.masqueraded, res.dnat, res.snat, res.trail, res.walk_length,
            res.reason, res.out_iface, res.logs, res.conntrack)


@given(text=nft_text(), seq=packets(), with_ipt=st.booleans())
def test_fast_path_equals_reference_walk(text, seq, with_ipt):
    """Same results, counters, conntrack and set contents on both paths."""
    engines = []
    for fast in (True, False):
        engines.append(NodeNetfilter(ruleset(IPT) if with_ipt else None, ["192.168.0.11"],
                                     fast=fast, nft=apply_nft(text),
                                     route=lambda dst: Route("eth0", "192.168.0.11")))
    rngs = [np.random.default_rng(5), np.random.default_rng(5)]
    now = 0.0
    last: list = [None, None]
    for kind, proto, src, dst, port, sport, gap in seq:
        now += gap
        outs = []
        for k, nf in enumerate(engines):
            flags = "S" if proto == "tcp" else ""
            if kind == "reply" and last[k] is not None:
                p = last[k].packet
                pkt = Packet(p.proto, p.dst, p.src, p.dport, p.sport, "SA" if p.proto == "tcp" else "")
                res = nf.prerouting(pkt, now, rngs[k], "eth0")
            elif kind == "again" and last[k] is not None:
                p = last[k].packet
                res = nf.prerouting(Packet(proto, src, dst, sport, port, "A" if proto == "tcp" else ""),
                                    now, rngs[k], "eth0")
            elif kind == "local":
                res = nf.output(Packet(proto, "192.168.0.11", dst, sport, port, flags), now,
                                rngs[k])
            else:
                res = nf.prerouting(Packet(proto, src, dst, sport, port, flags), now, rngs[k],
                                    "eth0")
            last[k] = res
            outs.append(_summary(res))
        assert outs[0] == outs[1]
    fast, ref = engines
    assert fast.counters_packets == ref.counters_packets
    assert fast.counters_bytes == ref.counters_bytes
    assert fast.policy_counters == ref.policy_counters
    assert fast.nft_ruleset.render(now=now) == ref.nft_ruleset.render(now=now)
    assert [e for e in fast.conntrack_entries(now)] == [e for e in ref.conntrack_entries(now)]
