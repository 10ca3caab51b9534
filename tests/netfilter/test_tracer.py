"""trace_packet: every branch of statistic and recent, with exact probabilities."""

from __future__ import annotations

from fractions import Fraction

from sim.model.packet import Packet
from sim.netfilter import Verdict, trace_packet

from tests.netfilter.conftest import NODE1_BRIDGE, NODE1_IP, RULES, ruleset

NODE1 = ruleset((RULES / "node1.save").read_text())
LOCAL = [NODE1_IP, NODE1_BRIDGE]
POD = "10.244.1.20"


def _trace(dst: str, dport: int, src: str = POD, proto: str = "tcp", local_out: bool = False):
    return trace_packet(NODE1, LOCAL, Packet(proto, src, dst, 40000, dport,
                                             "S" if proto == "tcp" else ""),
                        local_out=local_out, in_iface="cni0")


def test_three_endpoints_give_three_branches_with_kernel_probabilities() -> None:
    """1/3 is the kernel's 715827883/2^31; the branches sum to exactly 1."""
    outs = _trace("10.96.100.1", 80)
    p1 = Fraction(round(0.3333333333 * 2**31), 2**31)
    assert [(o.destination, o.probability) for o in outs] == [
        ("10.244.1.7:8080", p1), ("10.244.2.8:8080", (1 - p1) / 2),
        ("10.244.2.9:8080", (1 - p1) / 2)]
    assert sum(o.probability for o in outs) == 1


def test_each_branch_has_its_own_rule_trail() -> None:
    """The trail of a branch ends at that endpoint's DNAT rule, in the nat table."""
    out = _trace("10.96.100.1", 80)[1]
    dnat = [s for s in out.trail if "-j DNAT" in s.text]
    assert [s.chain for s in dnat] == ["KUBE-SEP-AWFNTVUNTOD2SN3M"]
    assert dnat[0].text.endswith("-j DNAT --to-destination 10.244.2.8:8080")


def test_affinity_enumerates_pinned_branches_without_probability() -> None:
    """With ClientIP affinity a fresh client splits 1/2-1/2; "already pinned" outcomes have
    no probability and name the recent list."""
    outs = _trace("10.96.100.2", 80)
    fresh = [o for o in outs if o.probability is not None]
    pinned = [o for o in outs if o.probability is None]
    assert {(o.destination, o.probability) for o in fresh} == {
        ("10.244.1.10:80", Fraction(1, 2)), ("10.244.2.11:80", Fraction(1, 2))}
    assert sorted(o.destination for o in pinned) == ["10.244.1.10:80", "10.244.2.11:80"]
    assert all(len(o.conditions) == 1 and "KUBE-SEP-" in o.conditions[0] for o in pinned)


def test_rejected_service_has_one_certain_outcome() -> None:
    """A Service without endpoints: REJECT with probability 1 and no destination."""
    (out,) = _trace("10.96.200.1", 80)
    assert out.verdict is Verdict.REJECT and out.destination is None and out.probability == 1


def test_locally_generated_packet_is_masqueraded() -> None:
    """From the node itself (OUTPUT path) every branch is masqueraded."""
    outs = _trace("10.96.100.1", 80, src=NODE1_IP, local_out=True)
    assert len(outs) == 3 and all(o.masquerade for o in outs)


def test_json_form_has_the_documented_fields() -> None:
    """``to_json`` has verdict, destination, masquerade, probability and the trail."""
    j = _trace("10.96.0.10", 53, proto="udp")[0].to_json()
    assert j["verdict"] == "ACCEPT" and j["destination"] == "10.244.1.5:53"
    assert j["masquerade"] is False and j["probability"] == 0.5
    assert j["probability_exact"] == "1/2"
    assert j["trail"][0] == {"table": "nat", "chain": "PREROUTING", "rule_number": 1,
                             "kind": "rule", "rule": '-A PREROUTING -m comment --comment '
                             '"kubernetes service portals" -j KUBE-SERVICES'}
