"""Each supported match, on one packet that should and one that should not match."""

from __future__ import annotations

import pytest

from sim.model.packet import Packet
from sim.netfilter import Verdict

from tests.netfilter.conftest import NODE1_IP, engine

P = Packet("tcp", "10.1.2.3", "10.9.9.9", 40000, 80, "S", mark=0x4001, in_iface="eth0")

# (rule spec, packet field overrides for a packet that matches, overrides for one that does not)
CASES = [
    ("-s 10.1.0.0/16", {}, {"src": "10.2.0.1"}),
    ("! -s 10.1.0.0/16", {"src": "10.2.0.1"}, {}),
    ("-d 10.9.9.9", {}, {"dst": "10.9.9.8"}),
    ("-p tcp", {}, {"proto": "udp", "tcp_flags": ""}),
    ("! -p udp", {}, {"proto": "udp", "tcp_flags": ""}),
    ("-i eth+", {}, {"in_iface": "cni0"}),
    ("! -i eth0", {"in_iface": "eth1"}, {}),
    ("-p tcp --dport 80", {}, {"dport": 81}),
    ("-p tcp --dport 70:90", {}, {"dport": 91}),
    ("-p tcp ! --sport 40000", {"sport": 1}, {}),
    ("-p tcp --syn", {}, {"tcp_flags": "SA"}),
    ("-p tcp --tcp-flags SYN,ACK ACK", {"tcp_flags": "A"}, {}),
    ("-p udp --dport 53", {"proto": "udp", "dport": 53, "tcp_flags": ""}, {}),
    ("-p sctp --dport 80", {"proto": "sctp", "tcp_flags": ""}, {}),
    ("-p icmp --icmp-type echo-request", {"proto": "icmp", "icmp_type": 8, "tcp_flags": ""},
     {"proto": "icmp", "icmp_type": 0, "tcp_flags": ""}),
    ("-p tcp -m multiport --dports 53,70:90", {}, {"dport": 100}),
    ("-p tcp -m multiport --ports 40000", {}, {"sport": 1}),
    ("-p tcp -m multiport ! --sports 1,2", {}, {"sport": 2}),
    ("-m comment --comment x", {}, None),
    ("-m mark --mark 0x4000/0x4000", {}, {"mark": 0x1}),
    ("-m mark ! --mark 0x1", {}, {"mark": 0x1}),
    ("-m addrtype --dst-type LOCAL", {"dst": NODE1_IP}, {}),
    ("-m addrtype --dst-type LOCAL", {"dst": "127.0.0.5"}, {}),
    ("-m addrtype ! --src-type LOCAL", {}, {"src": NODE1_IP}),
    ("-m addrtype --dst-type UNICAST", {}, {"dst": NODE1_IP}),
    ("-m conntrack --ctstate NEW", {}, None),
    ("-m state --state NEW", {}, None),
    ("-m conntrack ! --ctstate ESTABLISHED,RELATED", {}, None),
    ("-m conntrack --ctorigdst 10.9.9.0/24 --ctorigdstport 80", {}, {"dport": 81}),
    ("-m conntrack --ctproto tcp --ctdir ORIGINAL", {}, {"proto": "udp", "tcp_flags": ""}),
    ("-m conntrack --ctstatus NONE", {}, None),
    ("-m statistic --mode random --probability 1", {}, None),
    ("-m statistic --mode random ! --probability 1", None, {}),
    ("-m nfacct --nfacct-name acct", {}, None),
]


def _verdict(spec: str, changes: dict, rng) -> Verdict:
    nf = engine(f"*filter\n-A FORWARD {spec} -j DROP\nCOMMIT\n")
    pkt = P.with_(**changes)
    if pkt.dst == NODE1_IP or pkt.dst.startswith("127."):
        nf = engine(f"*filter\n-A INPUT {spec} -j DROP\nCOMMIT\n")
    return nf.prerouting(pkt, 0, rng).verdict


@pytest.mark.parametrize("spec,hit,miss", CASES, ids=[c[0] for c in CASES])
def test_match(spec: str, hit: dict | None, miss: dict | None, rng) -> None:
    """The rule matches the first packet and not the second."""
    if hit is not None:
        assert _verdict(spec, hit, rng) is Verdict.NF_DROP
    if miss is not None:
        assert _verdict(spec, miss, rng) is Verdict.NF_ACCEPT


def test_out_interface_comes_from_the_route(rng) -> None:
    """``-o`` sees the egress interface chosen by routing."""
    from sim.netfilter import Route

    nf = engine("*filter\n-A FORWARD -o cni0 -j DROP\nCOMMIT\n",
                route=lambda dst: Route("cni0" if dst.startswith("10.244.") else "eth0",
                                        NODE1_IP))
    assert nf.prerouting(P.with_(dst="10.244.1.9"), 0, rng).verdict is Verdict.NF_DROP
    assert nf.prerouting(P, 0, rng).verdict is Verdict.NF_ACCEPT


def test_ctstate_dnat_is_set_after_dnat(rng) -> None:
    """In filter FORWARD a DNATed new connection has ``--ctstate DNAT``; ctorigdst is the
    address before DNAT."""
    nf = engine("*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 10.244.1.9:8080\nCOMMIT\n"
                "*filter\n-A FORWARD -m conntrack --ctstate DNAT --ctorigdst 10.9.9.9 "
                "--ctorigdstport 80 -j REJECT\nCOMMIT\n")
    res = nf.prerouting(P, 0, rng)
    assert res.verdict is Verdict.REJECT and res.packet.dst == "10.244.1.9"


def test_nfacct_counts_packets_and_bytes(rng) -> None:
    """``-m nfacct`` always matches and counts packets and bytes per name."""
    nf = engine("*filter\n-A FORWARD -m nfacct --nfacct-name acct\nCOMMIT\n")
    for _ in range(3):
        nf.prerouting(P.with_(length=100), 0, rng)
    assert nf.nfacct["acct"] == [3, 300]


@pytest.mark.parametrize("every,packet,hits", [
    (3, 0, [0, 3, 6]), (3, 1, [1, 4, 7]), (3, 2, [2, 5, 8]), (2, 1, [1, 3, 5, 7]),
    (1, 0, list(range(9)))])
def test_statistic_nth_matches_like_the_kernel(every: int, packet: int, hits: list[int],
                                               rng) -> None:
    """``--every N --packet P``: the counter starts at N-1-P and an evaluation matches when
    it is at N-1, so ``--packet 0`` matches the first evaluation (kernel-checked in
    test_kernel_engine)."""
    nf = engine(f"*filter\n-A FORWARD -m statistic --mode nth --every {every} "
                f"--packet {packet} -j DROP\nCOMMIT\n")
    got = [k for k in range(9)
           if nf.prerouting(P.with_(sport=k), 0, rng).verdict is Verdict.NF_DROP]
    assert got == hits


def test_statistic_random_uses_the_kernel_31_bit_probability() -> None:
    """P(match) = round(p * 2^31) / 2^31: the engine's test is ``u * 2^31 < P31``."""
    from sim.netfilter import NodeNetfilter

    p31 = round(0.3333333333 * 2**31)
    assert NodeNetfilter(None, []).chance(p31, _Fixed((p31 - 0.5) / 2**31))
    assert not NodeNetfilter(None, []).chance(p31, _Fixed(p31 / 2**31))


def test_random_draws_come_in_blocks_with_the_generator_s_own_values() -> None:
    """The engine draws its random values in blocks, yet uses exactly the values, in order,
    that one ``rng.random()`` call each would give; another generator starts afresh."""
    import numpy as np

    from sim.netfilter import NodeNetfilter

    nf = NodeNetfilter(None, [])
    rng, ref = np.random.default_rng(7), np.random.default_rng(7)
    assert [nf.draw(rng) for _ in range(600)] == [ref.random() for _ in range(600)]
    other = np.random.default_rng(8)
    assert nf.draw(other) == np.random.default_rng(8).random()


class _Fixed:
    """A generator whose every draw is ``u``."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self, size: int):
        import numpy as np

        return np.full(size, self.u)


def test_limit_refills_one_packet_per_period(rng) -> None:
    """``--limit 1/sec --limit-burst 2``: two at once, then one per elapsed second."""
    nf = engine("*filter\n-A FORWARD -m limit --limit 1/sec --limit-burst 2 -j ACCEPT\n"
                "-A FORWARD -j DROP\nCOMMIT\n")
    times = [0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 5.0, 5.0, 5.0]
    got = [nf.prerouting(P.with_(sport=k), t, rng).verdict is Verdict.NF_ACCEPT
           for k, t in enumerate(times)]
    assert got == [True, True, False, False, True, False, True, True, False]


def test_notrack_packets_are_untracked_and_never_nated(rng) -> None:
    """``-j CT --notrack`` in raw: ctstate UNTRACKED, no entry, the DNAT rule is not used."""
    from sim.netfilter import CtState

    nf = engine("*raw\n-A PREROUTING -j NOTRACK\nCOMMIT\n*nat\n-A PREROUTING -p tcp "
                "-j DNAT --to-destination 10.0.9.9\nCOMMIT\n*filter\n-A FORWARD -m conntrack "
                "--ctstate UNTRACKED -j LOG --log-prefix untracked\nCOMMIT\n")
    res = nf.prerouting(P, 0, rng)
    assert res.ctstate is CtState.UNTRACKED and res.packet.dst == P.dst
    assert [log.prefix for log in res.logs] == ["untracked"]
    assert nf.conntrack_entries(0) == []


def test_connmark_restore_copies_the_connection_mark_to_packets(rng) -> None:
    """CONNMARK --set-mark on the first packet, --restore-mark on later ones: every packet of
    the connection carries the mark (and ``-m connmark`` sees it)."""
    nf = engine("*mangle\n-A PREROUTING -m conntrack --ctstate NEW -j CONNMARK --set-mark 0x5\n"
                "-A PREROUTING -j CONNMARK --restore-mark\nCOMMIT\n*filter\n"
                "-A FORWARD -m connmark ! --mark 0x5 -j DROP\nCOMMIT\n")
    assert nf.prerouting(P, 0, rng).packet.mark == 0x5  # restore replaces all 32 bits
    later = nf.prerouting(P.with_(tcp_flags="A", mark=0), 1, rng)
    assert later.accepted and later.packet.mark == 0x5
    assert nf.conntrack_entries(1)[0].mark == 0x5
