"""The IPVS stage: schedulers, connections, persistence, graceful termination, hooks.

IPVS is NOT kernel-verified here (this machine's kernel has no CONFIG_IP_VS). Every expected
pick below is worked out by hand from the kernel source named in the test's docstring
(net/netfilter/ipvs/*.c of torvalds/linux), not taken from the implementation.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.ipvs import IPVSTable, RealServer, VirtualServer
from sim.model.config import IPVSConfig
from sim.model.errors import SimError
from sim.model.packet import Packet
from sim.netfilter import CtState, Hook, Verdict
from sim.netfilter.ipvs import (
    S_ESTABLISHED,
    IPVSStage,
    attach,
    dh_bucket,
    hash_32,
    ip_int,
    schedule_sequence,
    sh_bucket,
    stage_for,
)

from tests.netfilter.conftest import NODE1_IP, engine

VIP = "10.96.0.10"
A, B, C = "10.244.1.5", "10.244.2.5", "10.244.3.5"


def vs(scheduler="rr", weights=(1, 1, 1), persistence_s=0, proto="tcp",
       addrs=(A, B, C)) -> VirtualServer:
    return VirtualServer(proto, VIP, 80, scheduler, persistence_s,
                         tuple(RealServer(a, 8080, w) for a, w in zip(addrs, weights)))


def picks(v: VirtualServer, n: int, sources=None) -> list[str]:
    return [p.split(":")[0] for p in schedule_sequence(v, sources or ["10.0.0.1"] * n)]


# ---------------------------------------------------------------- schedulers


def test_rr_starts_at_the_newest_destination_and_cycles() -> None:
    """ip_vs_rr.c + __ip_vs_update_dest (list_add_rcu at the head): added A, B, C, the list
    is C, B, A and the cursor starts at the head, so the picks are C, B, A, C, B, A."""
    assert picks(vs("rr"), 6) == [C, B, A, C, B, A]


def test_rr_skips_weight_zero() -> None:
    """ip_vs_rr_schedule takes only destinations with weight > 0 (a quiesced one is never
    picked)."""
    assert picks(vs("rr", (1, 0, 1)), 4) == [C, A, C, A]


def test_rr_cursor_on_deleted_destination_moves_to_the_previous() -> None:
    """ip_vs_rr_del_dest: a cursor on the deleted destination moves to the one before it, so
    after picking C then B and deleting B the next pick is the one after C: A."""
    stage = stage_for(IPVSTable((vs("rr"),)))
    svc = stage.services[("tcp", ip_int(VIP), 80)]
    first = [svc.scheduler.schedule(0, 0).address for _ in range(2)]
    assert first == [C, B]
    stage.apply(IPVSTable((vs("rr", (1, 1), addrs=(A, C)),)), graceful=False)
    assert svc.scheduler.schedule(0, 0).address == A


def test_wrr_interleaves_by_weight() -> None:
    """ip_vs_wrr.c with weights A=1, B=2, C=3 added one by one (kube-proxy adds real servers
    after creating the service): init_svc on an empty list leaves cw=0; add A sets cw=mw=1
    (``!cw``), adds B and C keep cw=1 (di=1). List C, B, A. cw=1 picks C, B, A; cw wraps to
    mw=3: C; cw=2: C, B; cw=1: C ..."""
    assert picks(vs("wrr", (1, 2, 3)), 7) == [C, B, A, C, C, B, C]


def test_wrr_uses_the_gcd_step() -> None:
    """ip_vs_wrr.c: A=2 then B=4 give di=2, mw=4-(2-1)=3 and cw=(1/2)*2+1=1 after the adds
    (list B, A): cw=1 picks B, A; cw steps -1 -> wraps to 3: B; cw=1: B, A; wraps: B. The
    cycle is 2:1 for weights 4:2."""
    assert picks(vs("wrr", (2, 4), addrs=(A, B)), 6) == [B, A, B, B, A, B]


def test_lc_overhead_counts_active_connections_256_times() -> None:
    """ip_vs_dest_conn_overhead = (activeconns << 8) + inactconns: one active connection
    (256) weighs more than 255 inactive ones, less than 257."""
    stage = stage_for(IPVSTable((vs("lc", (1, 1), addrs=(A, B)),)))
    svc = stage.services[("tcp", ip_int(VIP), 80)]
    b, a = svc.dests  # list order: newest first
    a.activeconns = 1
    b.inactconns = 255
    assert svc.scheduler.schedule(0, 0) is b
    b.inactconns = 257
    assert svc.scheduler.schedule(0, 0) is a


def test_lc_takes_the_first_of_equal_overheads_and_skips_weight_zero() -> None:
    """ip_vs_lc.c: ``doh < loh`` keeps the first least-loaded destination in list order;
    weight 0 is skipped even when idle."""
    stage = stage_for(IPVSTable((vs("lc", (1, 0, 1)),)))
    svc = stage.services[("tcp", ip_int(VIP), 80)]
    assert svc.scheduler.schedule(0, 0).address == C
    c = svc.dests[0]
    c.inactconns = 1
    assert svc.scheduler.schedule(0, 0).address == A


def test_wlc_compares_overhead_over_weight() -> None:
    """ip_vs_wlc.c: B (weight 3, overhead 512) beats A (weight 1, overhead 256) because
    256*3 > 512*1."""
    stage = stage_for(IPVSTable((vs("wlc", (1, 3), addrs=(A, B)),)))
    svc = stage.services[("tcp", ip_int(VIP), 80)]
    b, a = svc.dests
    a.activeconns, b.activeconns = 1, 2
    assert svc.scheduler.schedule(0, 0) is b
    b.activeconns = 4  # 256*3 > 1024*1 is false: A stays
    assert svc.scheduler.schedule(0, 0) is a


def test_hash_32_is_the_golden_ratio_multiply() -> None:
    """include/linux/hash.h: hash_32(1, 32) = GOLDEN_RATIO_32 = 0x61C88647, so
    hash_32(1, 8) = 0x61; hash_32(0, 8) = 0."""
    assert hash_32(1, 32) == 0x61C88647
    assert hash_32(1, 8) == 0x61
    assert hash_32(0, 8) == 0


def test_sh_fills_buckets_round_the_list_by_weight() -> None:
    """ip_vs_sh_reassign: with weights C=1, B=2, A=1 (list C, B, A) the buckets are
    C, B, B, A, C, B, B, A, ...; a source goes to the bucket hash_32(saddr, 8)."""
    stage = stage_for(IPVSTable((vs("sh", (1, 2, 1)),)))
    svc = stage.services[("tcp", ip_int(VIP), 80)]
    assert [d.address for d in svc.scheduler.buckets[:8]] == [C, B, B, A, C, B, B, A]
    src = ip_int("10.0.0.1")
    expect = [C, B, B, A][sh_bucket(src) % 4]
    assert svc.scheduler.schedule(src, 0).address == expect
    assert sh_bucket(src) == ((src * 0x61C88647) & 0xFFFFFFFF) >> 24


def test_sh_same_source_always_same_destination() -> None:
    """ip_vs_sh_schedule depends on the source address only: every connection from one
    client lands on one real server."""
    got = picks(vs("sh"), 5)
    assert len(set(got)) == 1


def test_sh_bucket_of_weight_zero_destination_has_no_destination() -> None:
    """ip_vs_sh_get: a bucket whose destination has weight 0 gives no destination (no
    fallback without the sh-fallback flag): the connection is refused."""
    weights = (0, 1, 1)  # A has weight 0 but still fills one bucket of four... of three
    stage = stage_for(IPVSTable((vs("sh", weights),)))
    svc = stage.services[("tcp", ip_int(VIP), 80)]
    src = next(s for s in range(ip_int("10.0.0.1"), ip_int("10.0.4.0"))
               if svc.scheduler.buckets[sh_bucket(s)].address == A)
    assert svc.scheduler.schedule(src, 0) is None


def test_dh_hashes_the_virtual_address() -> None:
    """ip_vs_dh.c: bucket i holds the i-th destination round the list, the bucket is
    hash_32(daddr, 8): all clients of one virtual address get one real server."""
    stage = stage_for(IPVSTable((vs("dh"),)))
    svc = stage.services[("tcp", ip_int(VIP), 80)]
    expect = [C, B, A][dh_bucket(ip_int(VIP)) % 3]
    assert {svc.scheduler.schedule(s, ip_int(VIP)).address for s in range(1, 50)} == {expect}


def test_unknown_scheduler_is_refused() -> None:
    """A scheduler name the kernel has no module for is an error, not a silent default."""
    with pytest.raises(SimError, match='Unsupported value: "maglev"'):
        stage_for(IPVSTable((vs("maglev"),)))


# ---------------------------------------------------------------- connections and timeouts


def _syn(stage: IPVSStage, src: str, sport: int, now: float, flags="S"):
    return stage.request("tcp", ip_int(src), sport, ip_int(VIP), 80, flags, now, False)


def test_connection_keeps_its_destination_and_counts_active_when_established() -> None:
    """ip_vs_conn_new binds the connection inactive; set_tcp_state makes it active on
    reaching ESTABLISHED (INPUT ack from SYN_RECV) and the same client port keeps its
    destination."""
    stage = stage_for(IPVSTable((vs("rr"),)))
    act, cp = _syn(stage, "10.0.0.1", 1000, 0.0)
    assert act == "nat" and cp.dest.address == C
    assert (cp.dest.activeconns, cp.dest.inactconns) == (0, 1)
    stage.reply("tcp", cp.daddr, cp.dport, cp.caddr, cp.cport, "SA", 0.01)
    act, cp2 = _syn(stage, "10.0.0.1", 1000, 0.02, flags="A")
    assert cp2 is cp and cp.state == S_ESTABLISHED
    assert (cp.dest.activeconns, cp.dest.inactconns) == (1, 0)


def test_tcp_established_expires_after_900_s_or_the_configured_timeout() -> None:
    """tcp_timeouts[ESTABLISHED] = 15*60 s; ``ipvs.tcpTimeout`` replaces it
    (ip_vs_set_timeout). After expiry a non-SYN packet is not IPVS's (accepted locally)."""
    for cfg, timeout in ((None, 900.0), (IPVSConfig(tcp_timeout_s=60), 60.0)):
        stage = stage_for(IPVSTable((vs("rr"),)), cfg)
        _syn(stage, "10.0.0.1", 1000, 0.0)
        _, cp = _syn(stage, "10.0.0.1", 1000, 0.0, flags="A")
        assert _syn(stage, "10.0.0.1", 1000, timeout - 0.5, flags="A")[1] is cp
        assert _syn(stage, "10.0.0.1", 1000, 2 * timeout, flags="A") == ("accept", None)


def test_fin_moves_to_close_wait_and_time_wait_timeouts() -> None:
    """tcp_states: INPUT fin from ESTABLISHED -> CLOSE_WAIT (60 s), OUTPUT fin from
    CLOSE_WAIT -> TIME_WAIT (120 s); leaving ESTABLISHED makes the connection inactive."""
    stage = stage_for(IPVSTable((vs("rr"),)))
    _syn(stage, "10.0.0.1", 1000, 0.0)
    _, cp = _syn(stage, "10.0.0.1", 1000, 0.0, flags="A")
    _syn(stage, "10.0.0.1", 1000, 1.0, flags="FA")
    assert cp.state_name == "CLOSE_WAIT" and cp.expires_at == 61.0
    assert (cp.dest.activeconns, cp.dest.inactconns) == (0, 1)
    stage.reply("tcp", cp.daddr, cp.dport, cp.caddr, cp.cport, "FA", 2.0)
    assert cp.state_name == "TIME_WAIT" and cp.expires_at == 122.0


def test_udp_connection_lasts_300_s_and_stays_inactive() -> None:
    """udp_timeouts[NORMAL] = 5*60 s (``ipvs.udpTimeout`` replaces it); UDP connections are
    never counted active."""
    stage = stage_for(IPVSTable((vs("rr", proto="udp"),)))
    req = stage.request
    act, cp = req("udp", ip_int("10.0.0.1"), 53, ip_int(VIP), 80, "", 0.0, False)
    assert act == "nat" and cp.expires_at == 300.0
    assert (cp.dest.activeconns, cp.dest.inactconns) == (0, 1)
    assert req("udp", ip_int("10.0.0.1"), 53, ip_int(VIP), 80, "", 299.0, False)[1] is cp
    other = req("udp", ip_int("10.0.0.1"), 53, ip_int(VIP), 80, "", 600.0, False)[1]
    assert other is not cp


def test_syn_on_time_wait_connection_is_rescheduled_or_dropped() -> None:
    """conn_reuse_mode=1 (is_new_conn_expected: TIME_WAIT): a SYN reusing the client port
    gets a new connection; when its old conntrack entry is still confirmed the SYN is
    dropped (ip_vs_conn_uses_old_conntrack) and the old connection expired."""
    stage = stage_for(IPVSTable((vs("rr"),)))
    _, cp = _syn(stage, "10.0.0.1", 1000, 0.0)
    cp.state = 5  # TIME_WAIT
    act, new = _syn(stage, "10.0.0.1", 1000, 1.0)
    assert act == "nat" and new is not cp and new.dest.address == B
    new.state = 5
    act, old = stage.request("tcp", ip_int("10.0.0.1"), 1000, ip_int(VIP), 80, "S", 2.0, True)
    assert act == "drop" and old is new and not new.alive


def test_no_destination_rejects() -> None:
    """ip_vs_leave: no destination available (all weights 0) answers ICMP port
    unreachable."""
    stage = stage_for(IPVSTable((vs("rr", (0, 0, 0)),)))
    assert _syn(stage, "10.0.0.1", 1000, 0.0) == ("reject", None)


def test_persistence_pins_a_client_until_the_template_expires() -> None:
    """ip_vs_sched_persist: a template per (client, VIP, port) holds the destination; it is
    re-armed to the persistence timeout by each connection it schedules and outlives that
    timeout while it controls connections (ip_vs_conn_expire: n_control)."""
    stage = stage_for(IPVSTable((vs("rr", persistence_s=100),)))
    first = _syn(stage, "10.0.0.1", 1000, 0.0)[1]
    assert _syn(stage, "10.0.0.1", 1001, 50.0)[1].dest is first.dest
    assert _syn(stage, "10.0.0.2", 1000, 50.0)[1].dest is not first.dest
    # connections from 10.0.0.1 end (SYN_RECV 60 s) well before 250 s; template re-armed at
    # 50 s expires at 150 s
    again = _syn(stage, "10.0.0.1", 1002, 250.0)[1]
    assert again.control is not None and again.control is not first.control


def test_quiescent_template_is_dropped() -> None:
    """expire_quiescent_template=1: a template whose destination has weight 0 is invalid;
    the client is scheduled afresh."""
    stage = stage_for(IPVSTable((vs("rr", persistence_s=100),)))
    first = _syn(stage, "10.0.0.1", 1000, 0.0)[1]
    stage.apply(IPVSTable((vs("rr", (1, 1, 0), persistence_s=100),)))  # C (first) weight 0
    assert first.dest.address == C and first.dest.weight == 0
    assert _syn(stage, "10.0.0.1", 1001, 1.0)[1].dest.address != C


# ---------------------------------------------------------------- graceful termination


def test_graceful_termination_keeps_connections_and_deletes_when_drained() -> None:
    """graceful_termination.go: a TCP real server leaving the table with connections stays
    at weight 0 (its connections go on, new ones go elsewhere) and tryDeleteRs removes it
    once it has none."""
    stage = stage_for(IPVSTable((vs("rr"),)))
    _, cp = _syn(stage, "10.0.0.1", 1000, 0.0)
    _syn(stage, "10.0.0.1", 1000, 0.0, flags="A")
    stage.apply(IPVSTable((vs("rr", (1, 1), addrs=(A, B)),)), now=1.0)
    svc = stage.services[("tcp", ip_int(VIP), 80)]
    assert [(d.address, d.weight) for d in svc.dests] == [(C, 0), (B, 1), (A, 1)]
    assert _syn(stage, "10.0.0.1", 1000, 2.0, flags="A")[1] is cp
    assert {_syn(stage, "10.0.0.9", p, 2.0)[1].dest.address for p in range(4)} == {A, B}
    assert stage.delete_drained(3.0) == 0
    assert stage.delete_drained(2000.0) == 1
    assert C not in [d.address for d in svc.dests]


def test_udp_real_server_is_deleted_at_once() -> None:
    """IsRsGracefulTerminationNeeded is TCP only: a UDP real server leaves at once and its
    connections are dropped on their next packet (expire_nodest_conn=1)."""
    stage = stage_for(IPVSTable((vs("rr", proto="udp"),)))
    act, cp = stage.request("udp", ip_int("10.0.0.1"), 53, ip_int(VIP), 80, "", 0.0, False)
    stage.apply(IPVSTable((vs("rr", (1, 1), proto="udp", addrs=(A, B)),)), now=1.0)
    act, _ = stage.request("udp", ip_int("10.0.0.1"), 53, ip_int(VIP), 80, "", 2.0, False)
    assert act == "drop" and not cp.alive


# ---------------------------------------------------------------- the engine path

RULES = """*filter
:OUTPUT ACCEPT [0:0]
:KUBE-OUT - [0:0]
-A OUTPUT -j KUBE-OUT
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
:PREROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -d 10.96.0.10/32 -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
COMMIT
"""


def _node(table=None, scheduler="rr"):
    nf = engine(RULES)
    attach(nf, IPVSTable((table or vs(scheduler),)))
    return nf


def test_packet_to_virtual_server_goes_out_through_output_and_postrouting(rng) -> None:
    """ip_vs_remote_request4 at LOCAL_IN, then ip_vs_nat_xmit's NF_HOOK(LOCAL_OUT): the
    DNATed packet meets filter OUTPUT and is masqueraded in POSTROUTING; the conntrack
    entry's reply tuple is the real server's (ip_vs_update_conntrack)."""
    nf = _node()
    res = nf.prerouting(Packet("tcp", "10.244.9.9", VIP, 40000, 80, "S"), 0.0, rng)
    assert res.verdict is Verdict.NF_ACCEPT and not res.local
    assert res.hooks == (Hook.PREROUTING, Hook.INPUT, Hook.OUTPUT, Hook.POSTROUTING)
    assert (res.packet.dst, res.packet.dport, res.packet.src) == (C, 8080, NODE1_IP)
    filter_chains = {s.chain for s in res.trail if s.table == "filter"}
    assert filter_chains == {"INPUT", "OUTPUT", "KUBE-OUT"}  # INPUT first, never FORWARD
    assert any(s.kind == "ipvs" for s in res.trail)
    (entry,) = nf.conntrack_entries(1.0)
    assert entry.reply[:2] == (C, 8080) and "DST_NAT" not in entry.status


def test_reply_gets_the_virtual_source_and_established_packets_keep_the_server(rng) -> None:
    """ip_vs_reply4 un-NATs the reply (source VIP:80 to the client); the client's next
    packet finds the IPVS connection and goes to the same real server, ESTABLISHED."""
    nf = _node()
    nf.prerouting(Packet("tcp", "10.244.9.9", VIP, 40000, 80, "S"), 0.0, rng)
    rep = nf.prerouting(Packet("tcp", C, NODE1_IP, 8080, 40000, "SA"), 0.01, rng)
    assert (rep.packet.src, rep.packet.sport, rep.packet.dst) == (VIP, 80, "10.244.9.9")
    assert rep.hooks == (Hook.PREROUTING, Hook.FORWARD, Hook.POSTROUTING)
    nxt = nf.prerouting(Packet("tcp", "10.244.9.9", VIP, 40000, 80, "A"), 0.02, rng)
    assert (nxt.packet.dst, nxt.ctstate) == (C, CtState.ESTABLISHED)
    svc = nf.ipvs.service("tcp", VIP, 80)
    assert svc.dests[0].activeconns == 1


def test_no_destination_is_a_reject_verdict(rng) -> None:
    """ip_vs_leave answers ICMP port unreachable when the scheduler finds nothing."""
    nf = _node(vs("rr", (0, 0, 0)))
    res = nf.prerouting(Packet("tcp", "10.244.9.9", VIP, 40000, 80, "S"), 0.0, rng)
    assert res.verdict is Verdict.REJECT and res.reject_with == "icmp-port-unreachable"


def test_virtual_address_is_local_and_other_ports_reach_the_node(rng) -> None:
    """kube-ipvs0's addresses are the node's: a port with no virtual server is delivered
    locally (INPUT, nat INPUT), not forwarded."""
    nf = _node()
    res = nf.prerouting(Packet("tcp", "10.244.9.9", VIP, 40000, 81, "S"), 0.0, rng)
    assert res.local and res.packet.dst == VIP


def test_host_process_reaches_virtual_server_through_local_out(rng) -> None:
    """ip_vs_local_request4 at LOCAL_OUT (after nat OUTPUT): a process on the node connects
    to the virtual server and the packet leaves for the real server."""
    nf = _node()
    res = nf.output(Packet("tcp", NODE1_IP, VIP, 40000, 80, "S"), 0.0, rng)
    assert res.verdict is Verdict.NF_ACCEPT and not res.local
    assert (res.packet.dst, res.packet.dport) == (C, 8080)


def test_rr_spreads_new_connections_exactly_evenly(rng) -> None:
    """Round robin over 3 real servers: 300 new connections give exactly 100 each (iptables'
    statistic random would only be near 100)."""
    nf = _node()
    counts: dict[str, int] = {}
    for i in range(300):
        res = nf.prerouting(Packet("tcp", "10.244.9.9", VIP, 20000 + i, 80, "S"), 0.0, rng)
        counts[res.packet.dst] = counts.get(res.packet.dst, 0) + 1
    assert counts == {A: 100, B: 100, C: 100}


def test_engine_without_ipvs_is_unchanged(rng) -> None:
    """An engine with no IPVS stage does not treat the VIP as local (iptables mode)."""
    nf = engine(RULES)
    res = nf.prerouting(Packet("tcp", "10.244.9.9", VIP, 40000, 80, "S"), 0.0,
                        np.random.default_rng(0))
    assert not res.local and res.hooks[1] is Hook.FORWARD


def test_draining_server_given_back_at_weight_zero_stays_queued() -> None:
    """A later sync passes the draining real server back at weight 0 (the compiler's
    ``draining``): it stays in the graceful-deletion list; at weight 1 it leaves it."""
    stage = stage_for(IPVSTable((vs("rr"),)))
    _syn(stage, "10.0.0.1", 1000, 0.0)  # a connection on C
    stage.apply(IPVSTable((vs("rr", (1, 1), addrs=(A, B)),)), now=1.0)
    stage.apply(IPVSTable((vs("rr", (1, 1, 0)),)), now=2.0)
    assert len(stage.terminating) == 1
    stage.apply(IPVSTable((vs("rr"),)), now=3.0)
    assert not stage.terminating


def test_expiring_ipvs_connection_takes_its_conntrack_entry(rng) -> None:
    """ip_vs_conn_expire -> ip_vs_conn_drop_conntrack: when the IPVS connection times out
    (ESTABLISHED 900 s) the conntrack entry goes too, though conntrack's own timeout (5 days)
    has not run out; a later ACK is not IPVS's (no SYN) and reaches the node itself."""
    nf = _node()
    client = "10.244.9.9"
    nf.prerouting(Packet("tcp", client, VIP, 40000, 80, "S"), 0.0, rng)
    nf.prerouting(Packet("tcp", C, NODE1_IP, 8080, 40000, "SA"), 0.01, rng)
    nf.prerouting(Packet("tcp", client, VIP, 40000, 80, "A"), 0.02, rng)
    assert len(nf.conntrack_entries(1.0)) == 1
    nf.prerouting(Packet("tcp", "10.244.9.8", VIP, 40001, 80, "S"), 1000.0, rng)
    assert [e.orig[0] for e in nf.conntrack_entries(1000.0)] == ["10.244.9.8"]
    late = nf.prerouting(Packet("tcp", client, VIP, 40000, 80, "A"), 1000.5, rng)
    assert late.local and late.packet.dst == VIP
