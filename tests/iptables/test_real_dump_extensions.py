"""Extensions real nodes' dumps need: NFLOG, CHECKSUM, physdev; and the policy on a
user-defined chain that iptables-restore refuses."""

from __future__ import annotations

import pytest

from sim.iptables import apply_payload, parse_restore, render_save
from sim.iptables.restore import RestoreError
from sim.model.errors import SimError
from sim.model.packet import Packet
from sim.netfilter import Route, trace_packet


def _save(body: str, table: str = "filter") -> list[str]:
    ruleset = apply_payload(parse_restore(f"*{table}\n{body}COMMIT\n", "t.rules"))
    return [line for line in render_save(ruleset).splitlines() if line.startswith("-A")]


def test_nflog_saves_as_iptables_nft_save_prints_it():
    """NFLOG options come out in nflog_print's order (prefix, then group), as measured with
    iptables-nft-save 1.8.9."""
    lines = _save(":MYCHAIN - [0:0]\n-A MYCHAIN -j NFLOG --nflog-group 5 --nflog-prefix \"x y\"\n")
    assert lines == ['-A MYCHAIN -j NFLOG --nflog-prefix "x y" --nflog-group 5']


def test_nflog_group_out_of_range_is_refused():
    """--nflog-group is a 16-bit netlink group."""
    with pytest.raises(SimError, match="nflog-group"):
        _save("-A INPUT -j NFLOG --nflog-group 70000\n")


def test_checksum_fill_saves_and_is_mangle_only():
    """CHECKSUM --checksum-fill round-trips in mangle and is refused in filter."""
    assert _save("-A POSTROUTING -o virbr0 -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill\n",
                 "mangle") == ["-A POSTROUTING -o virbr0 -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill"]
    with pytest.raises(SimError, match="mangle"):
        _save("-A INPUT -j CHECKSUM --checksum-fill\n")


def test_checksum_without_fill_is_refused():
    """libxt_CHECKSUM requires --checksum-fill."""
    with pytest.raises(SimError, match="--checksum-fill is required"):
        _save("-A POSTROUTING -j CHECKSUM\n", "mangle")


def test_physdev_saves_in_physdev_save_order():
    """physdev options come out as iptables-nft-save 1.8.9 printed them (measured)."""
    body = ("-A FORWARD -m physdev --physdev-is-bridged --physdev-in vethwe-bridge -j ACCEPT\n"
            "-A FORWARD -m physdev ! --physdev-is-in -j ACCEPT\n"
            "-A FORWARD -m physdev ! --physdev-is-bridged --physdev-out veth+ -j ACCEPT\n")
    assert _save(body) == [
        "-A FORWARD -m physdev --physdev-in vethwe-bridge --physdev-is-bridged -j ACCEPT",
        "-A FORWARD -m physdev ! --physdev-is-in -j ACCEPT",
        "-A FORWARD -m physdev --physdev-out veth+ ! --physdev-is-bridged -j ACCEPT"]


def test_physdev_without_options_is_refused():
    """A bare -m physdev is refused as libxt_physdev refuses it."""
    with pytest.raises(SimError, match="no physdev option"):
        _save("-A FORWARD -m physdev -j ACCEPT\n")


def test_policy_on_user_defined_chain_is_refused():
    """':MYCHAIN DROP' is refused with iptables-legacy-restore's words and the line."""
    with pytest.raises(RestoreError, match=r"t.rules:2: Can't set policy `DROP' on `MYCHAIN' line 2"):
        parse_restore("*filter\n:MYCHAIN DROP [0:0]\nCOMMIT\n", "t.rules")


RULES = """*mangle
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -p tcp -j CHECKSUM --checksum-fill
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m physdev --physdev-in veth-pod+ -j NFLOG --nflog-group 86 --nflog-prefix seen
-A FORWARD -m physdev --physdev-is-in -j ACCEPT
COMMIT
"""


def _trace(in_iface: str):
    ruleset = apply_payload(parse_restore(RULES, "t.rules"))
    pkt = Packet("tcp", "10.244.1.5", "10.9.9.9", 40000, 80, "S", in_iface=in_iface)
    return trace_packet(ruleset, ["10.0.0.1"], pkt, local_out=False, in_iface=in_iface,
                        route=lambda dst: Route("eth0", "10.0.0.1"))


def test_physdev_is_in_matches_a_packet_from_a_bridge_port():
    """A packet from a pod's veth came in through a bridge port: --physdev-is-in accepts it;
    NFLOG and CHECKSUM leave the verdict alone."""
    (out,) = _trace("veth-pod-a")
    assert out.verdict.value == "ACCEPT"
    assert [s.rule_number for s in out.trail if s.chain == "FORWARD" and s.kind == "rule"] == [1, 2]


def test_physdev_does_not_match_a_packet_from_eth0():
    """A packet from eth0 passed no bridge port: the FORWARD policy drops it."""
    (out,) = _trace("eth0")
    assert out.verdict.value == "DROP"


@pytest.mark.parametrize("fast", [True, False])
def test_nflog_is_recorded_like_log(fast):
    """NFLOG adds a log record (prefix, netlink group, no syslog level) on the fast path and
    the reference walk alike."""
    import numpy as np

    from sim.netfilter import NodeNetfilter

    ruleset = apply_payload(parse_restore(RULES, "t.rules"))
    eng = NodeNetfilter(ruleset, ["10.0.0.1"], fast=fast)
    pkt = Packet("tcp", "10.244.1.5", "10.9.9.9", 40000, 80, "S", in_iface="veth-pod-a")
    res = eng.prerouting(pkt, 0.0, np.random.default_rng(1), in_iface="veth-pod-a")
    (log,) = res.logs
    assert (log.prefix, log.level, log.group, log.chain, log.rule_number) == ("seen", None, 86, "FORWARD", 1)


def test_nflog_range_is_dropped_as_the_nft_backend_drops_it():
    """--nflog-range (deprecated) is not in iptables-nft-save 1.8.9's output (measured;
    iptables-legacy-save keeps it); a threshold of 1 is printed, as both print it."""
    assert _save("-A INPUT -j NFLOG --nflog-range 64 --nflog-threshold 1\n") == [
        "-A INPUT -j NFLOG --nflog-threshold 1"]
