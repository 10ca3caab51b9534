"""ICMP errors and the RELATED state (nf_conntrack_inet_error, nf_nat_icmp_reply_translation):
an error quoting a tracked connection's packet is RELATED to it, un-NATed like a packet of
that connection (outer addresses and the quoted header), and leaves the entry as it was."""

from __future__ import annotations

import pytest

from sim.model.packet import Packet
from sim.netfilter import CtState, Verdict

from tests.netfilter.conftest import engine

CLIENT, VIP, POD = "10.1.0.7", "10.96.0.10", "10.244.1.5"
RULES = f"""*nat
-A PREROUTING -d {VIP}/32 -p udp -m udp --dport 53 -j DNAT --to-destination {POD}:5353
COMMIT
*filter
-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT
-A FORWARD -p icmp -j DROP
COMMIT
"""


def _unreachable(src: str, dst: str, inner: tuple) -> Packet:
    """ICMP port unreachable from ``src`` to ``dst`` quoting ``inner``."""
    return Packet("icmp", src, dst, 0, 0, "", icmp_type=3, inner=inner)


@pytest.fixture(params=[True, False], ids=["fast", "linear"])
def node(request):
    return engine(RULES, fast=request.param)


def _send(nf, rng) -> Packet:
    first = nf.prerouting(Packet("udp", CLIENT, VIP, 40000, 53, ""), 0.0, rng, "eth0")
    assert first.packet.dst == POD
    return first.packet


def test_port_unreachable_from_the_endpoint_is_related_and_un_nated(node, rng) -> None:
    """The pod's ICMP error (outer pod -> client, quoting client -> pod:5353) is RELATED in
    the reply direction; the client receives it from the service address, quoting its own
    datagram to the service."""
    out = _send(node, rng)
    err = node.prerouting(_unreachable(POD, CLIENT, ("udp", CLIENT, 40000, POD, 5353)), 0.5,
                          rng, "cni0")
    assert err.verdict is Verdict.NF_ACCEPT
    assert err.ctstate is CtState.RELATED
    assert (err.packet.src, err.packet.dst) == (VIP, CLIENT)
    assert err.packet.inner == ("udp", CLIENT, 40000, VIP, 53)
    assert out.inner is None


def test_an_error_about_no_connection_is_invalid(node, rng) -> None:
    """An ICMP error quoting a packet of no tracked connection is INVALID (no entry is
    created), so the RELATED rule does not accept it."""
    _send(node, rng)
    err = node.prerouting(_unreachable(POD, CLIENT, ("udp", CLIENT, 40001, POD, 5353)), 0.5,
                          rng, "cni0")
    assert (err.verdict, err.ctstate) == (Verdict.NF_DROP, CtState.INVALID)
    assert len(node.conntrack) == 1


def test_an_error_to_another_host_than_the_quoted_sender_is_invalid(node, rng) -> None:
    """The outer destination must be the quoted packet's source ("outer daddr != inner")."""
    _send(node, rng)
    err = node.prerouting(_unreachable(POD, "10.1.0.8", ("udp", CLIENT, 40000, POD, 5353)),
                          0.5, rng, "cni0")
    assert err.ctstate is CtState.INVALID


def test_a_related_error_does_not_refresh_the_connection(node, rng) -> None:
    """The entry keeps its timeout and stays unreplied."""
    _send(node, rng)
    (before,) = node.conntrack_entries()
    node.prerouting(_unreachable(POD, CLIENT, ("udp", CLIENT, 40000, POD, 5353)), 20.0, rng,
                    "cni0")
    (after,) = node.conntrack_entries()
    assert after == before
    assert "SEEN_REPLY" not in after.status


def test_related_packets_count_under_ctstate_related_in_kube_forward(rng) -> None:
    """kube-proxy's KUBE-FORWARD accepts RELATED,ESTABLISHED: the error is counted there (the
    first datagram, NEW, is not)."""
    text = RULES.replace("-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT\n",
                         "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
    nf = engine(text)
    _send(nf, rng)
    nf.prerouting(_unreachable(POD, CLIENT, ("udp", CLIENT, 40000, POD, 5353)), 0.5, rng, "cni0")
    forward = nf.counters().tables["filter"].chains["FORWARD"].rules
    assert [r.packets for r in forward] == [1, 0]
