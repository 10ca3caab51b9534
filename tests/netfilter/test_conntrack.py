"""Conntrack: states, timeouts expiring with simulated time, table limit, flush, reload."""

from __future__ import annotations

import pytest

from sim.model.config import ConntrackConfig, KubeProxyConfig
from sim.model.packet import Packet
from sim.netfilter import CtState, TcpState, Verdict

from tests.netfilter.conftest import engine, node1, ruleset

PASS = "*filter\nCOMMIT\n"
SYN = Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "S")


def _handshake(nf, rng, t: float = 0.0) -> None:
    nf.prerouting(SYN, t, rng)
    nf.prerouting(Packet("tcp", "10.9.9.9", "10.1.0.1", 80, 1000, "SA"), t, rng)
    nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "A"), t, rng)


def test_syn_creates_entry_in_syn_sent_with_120s_timeout(rng) -> None:
    """A SYN starts a connection in SYN_SENT that lives 120 s (nf_conntrack_tcp_timeout_syn_sent)."""
    nf = engine(PASS)
    nf.prerouting(SYN, 5.0, rng)
    (e,) = nf.conntrack_entries(5.0)
    assert e.tcp_state is TcpState.SYN_SENT and e.expires_at == 125.0
    assert nf.conntrack_entries(125.0) == []


def test_handshake_reaches_established_with_kube_proxy_timeout(rng) -> None:
    """After SYN, SYN-ACK, ACK the entry is ESTABLISHED, ASSURED, with tcp-established (24 h)."""
    nf = engine(PASS, config=KubeProxyConfig())
    _handshake(nf, rng)
    (e,) = nf.conntrack_entries(0.0)
    assert e.tcp_state is TcpState.ESTABLISHED and "ASSURED" in e.status
    assert e.expires_at == 86400.0


def test_established_timeout_comes_from_the_config(rng) -> None:
    """``conntrack.tcpEstablishedTimeout`` sets how long an idle established flow lives."""
    nf = engine(PASS, config=ConntrackConfig(tcp_established_timeout_s=600.0))
    _handshake(nf, rng, 10.0)
    assert nf.conntrack_entries(609.0) and not nf.conntrack_entries(610.0)


def test_close_wait_uses_the_configured_timeout(rng) -> None:
    """FIN from one side then its ACK from the other: CLOSE_WAIT, tcp-close-wait timeout."""
    nf = engine(PASS, config=ConntrackConfig(tcp_close_wait_timeout_s=3600.0))
    _handshake(nf, rng)
    nf.prerouting(Packet("tcp", "10.9.9.9", "10.1.0.1", 80, 1000, "FA"), 1.0, rng)
    nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "A"), 1.0, rng)
    (e,) = nf.conntrack_entries(1.0)
    assert e.tcp_state is TcpState.CLOSE_WAIT and e.expires_at == 3601.0


def test_rst_closes_the_connection_for_10s(rng) -> None:
    """An RST moves the entry to CLOSE (10 s)."""
    nf = engine(PASS)
    _handshake(nf, rng)
    nf.prerouting(Packet("tcp", "10.9.9.9", "10.1.0.1", 80, 1000, "R"), 2.0, rng)
    (e,) = nf.conntrack_entries(2.0)
    assert e.tcp_state is TcpState.CLOSE and e.expires_at == 12.0


def test_rst_without_connection_is_invalid(rng) -> None:
    """An RST that matches no entry is INVALID and creates nothing."""
    nf = engine("*filter\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n")
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "R"), 0, rng)
    assert res.ctstate is CtState.INVALID and res.verdict is Verdict.NF_DROP
    assert nf.conntrack_entries(0) == []


def test_udp_lives_30s_then_120s_once_a_replied_flow_is_older_than_2s(rng) -> None:
    """UDP: 30 s (unreplied or short), 120 s stream timeout once replied and older than 2 s."""
    nf = engine(PASS)
    q = Packet("udp", "10.1.0.1", "10.9.9.9", 5000, 53, "")
    a = Packet("udp", "10.9.9.9", "10.1.0.1", 53, 5000, "")
    nf.prerouting(q, 0.0, rng)
    assert nf.conntrack_entries(0.0)[0].expires_at == 30.0
    nf.prerouting(a, 1.0, rng)
    assert nf.conntrack_entries(1.0)[0].expires_at == 31.0
    nf.prerouting(q, 3.0, rng)
    (e,) = nf.conntrack_entries(3.0)
    assert e.expires_at == 123.0 and "ASSURED" in e.status


def test_expired_entry_is_a_new_connection_again(rng) -> None:
    """After the timeout, the same tuple is NEW and traverses nat again."""
    nf = engine(PASS)
    nf.prerouting(Packet("udp", "10.1.0.1", "10.9.9.9", 5000, 53, ""), 0.0, rng)
    again = nf.prerouting(Packet("udp", "10.1.0.1", "10.9.9.9", 5000, 53, ""), 31.0, rng)
    assert again.ctstate is CtState.NEW


def test_full_table_evicts_an_unassured_entry(rng) -> None:
    """At nf_conntrack_max a new connection early-drops the oldest non-ASSURED entry."""
    nf = engine(PASS, conntrack_max=2)
    for port in (1, 2, 3):
        assert nf.prerouting(Packet("udp", "10.1.0.1", "10.9.9.9", port, 53, ""), 0, rng).accepted
    assert [e.orig[1] for e in nf.conntrack_entries(0)] == [2, 3]
    assert nf.conntrack.early_drops == 1


def test_full_table_of_assured_entries_drops_new_connections(rng) -> None:
    """When every entry is ASSURED, a new connection is dropped ("table full")."""
    nf = engine(PASS, conntrack_max=1)
    _handshake(nf, rng)
    res = nf.prerouting(Packet("tcp", "10.1.0.2", "10.9.9.9", 1000, 80), 0, rng)
    assert res.verdict is Verdict.NF_DROP and res.reason == "conntrack-full"


def test_flush_forgets_connections(rng) -> None:
    """``flush_conntrack`` (conntrack -F): the next packet of a flow is NEW."""
    nf = engine(PASS)
    _handshake(nf, rng)
    nf.flush_conntrack()
    res = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "A"), 1, rng)
    assert res.ctstate is CtState.NEW


def test_reload_keeps_conntrack_so_flows_keep_their_backend(rng) -> None:
    """``load`` swaps rules; established flows keep their DNAT even if the rule is gone."""
    nf = node1()
    first = nf.prerouting(Packet("tcp", "10.244.1.20", "10.96.100.1", 40000, 80), 0, rng, "cni0")
    nf.load(ruleset("*nat\nCOMMIT\n"))
    again = nf.prerouting(Packet("tcp", "10.244.1.20", "10.96.100.1", 40000, 80, "A"), 1, rng,
                          "cni0")
    assert again.packet.dst == first.packet.dst


def test_masquerade_picks_another_port_when_the_mapping_is_taken(rng) -> None:
    """Two clients masqueraded to one address with the same port get distinct ports."""
    nf = engine("*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n")
    a = nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80), 0, rng)
    b = nf.prerouting(Packet("tcp", "10.1.0.2", "10.9.9.9", 1000, 80), 0, rng)
    assert a.packet.src == b.packet.src and a.packet.sport == 1000
    assert b.packet.sport != 1000


@pytest.mark.parametrize("flags", ["", "--random-fully"])
def test_masquerade_port_is_in_the_unprivileged_range(flags: str, rng) -> None:
    """Remapped source ports are in 1024-65535 (always remapped with --random-fully)."""
    nf = engine(f"*nat\n-A POSTROUTING -j MASQUERADE {flags}\nCOMMIT\n")
    ports = {nf.prerouting(Packet("tcp", f"10.1.0.{k}", "10.9.9.9", 5000, 80), 0,
                           rng).packet.sport for k in range(1, 50)}
    assert len(ports) == 49 and all(1024 <= p <= 65535 for p in ports)


def test_syn_on_a_time_wait_connection_reopens_it(rng) -> None:
    """A new SYN on a tuple in TIME_WAIT kills the old entry: NEW again, nat walked again."""
    nf = engine("*nat\n-A PREROUTING -p tcp -m statistic --mode nth --every 2 --packet 0 "
                "-j DNAT --to-destination 10.0.9.1\n-A PREROUTING -p tcp "
                "-j DNAT --to-destination 10.0.9.2\nCOMMIT\n")
    first = nf.prerouting(SYN, 0, rng)
    back = ("tcp", first.packet.dst, "10.1.0.1", 80, 1000)
    nf.prerouting(Packet(back[0], back[1], back[2], back[3], back[4], "SA"), 0, rng)
    nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "A"), 0, rng)
    nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "FA"), 1, rng)
    nf.prerouting(Packet(back[0], back[1], back[2], back[3], back[4], "FA"), 1, rng)
    nf.prerouting(Packet("tcp", "10.1.0.1", "10.9.9.9", 1000, 80, "A"), 1, rng)
    assert nf.conntrack_entries(1)[0].tcp_state is TcpState.TIME_WAIT
    again = nf.prerouting(SYN, 2, rng)
    assert again.ctstate is CtState.NEW and again.packet.dst != first.packet.dst


def test_syn_retransmission_keeps_the_connection(rng) -> None:
    """A repeated SYN in SYN_SENT is the same connection: same NAT, nat not walked again."""
    nf = engine("*nat\n-A PREROUTING -p tcp -m statistic --mode nth --every 2 --packet 0 "
                "-j DNAT --to-destination 10.0.9.1\n-A PREROUTING -p tcp "
                "-j DNAT --to-destination 10.0.9.2\nCOMMIT\n")
    first = nf.prerouting(SYN, 0, rng)
    again = nf.prerouting(SYN, 1, rng)
    assert again.packet.dst == first.packet.dst and again.walk_length == 0


def test_listing_drops_each_entry_at_its_current_deadline() -> None:
    """``conntrack -L`` at time t lists exactly the entries whose current timeout is later
    than t, whether packets extended their timeout (established: 86400 s) or shortened it
    (an RST: 10 s), however often they were updated (the expiry heap is lazy)."""
    from sim.netfilter.conntrack import ConntrackTable
    from sim.netfilter.types import CtDir

    ct = ConntrackTable(100, ConntrackConfig())
    entries = []
    for k in range(3):
        orig = ("tcp", "10.0.0.1", 1000 + k, "10.0.0.2", 80)
        e = ct.new_entry(orig, ("tcp", "10.0.0.2", 80, "10.0.0.1", 1000 + k), 0.0, "S")
        ct.confirm(e)
        entries.append(e)
    for t in (1.0, 2.0, 3.0):  # handshake then data on entries 0 and 1: established
        for e in entries[:2]:
            ct.update(e, CtDir.REPLY if t == 1.0 else CtDir.ORIGINAL, "SA" if t == 1.0 else "A", t)
    ct.update(entries[1], CtDir.ORIGINAL, "R", 4.0)  # closed: 10 s from now
    assert [e.tcp_state for e in entries] == [TcpState.ESTABLISHED, TcpState.CLOSE,
                                              TcpState.SYN_SENT]
    alive = {t: [e.orig[2] for e in ct.entries(t)] for t in (13.9, 14.0, 119.9, 120.0)}
    assert alive == {13.9: [1000, 1001, 1002], 14.0: [1000, 1002], 119.9: [1000, 1002],
                     120.0: [1000]}
    assert [e.orig[2] for e in ct.entries(3.0 + 86399.9)] == [1000]
    assert ct.entries(3.0 + 86400.0) == []
