"""``-m set`` and ``-m ipvs`` in the engine."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
import pytest

from sim.ipset import parse_restore as parse_sets
from sim.model.errors import SimError
from sim.model.packet import Packet
from sim.netfilter.setmatch import check_sets, missing_sets

from tests.netfilter.conftest import engine, ruleset

SETS = parse_sets("create SVC hash:ip,port family inet hashsize 1024 maxelem 65536\n"
                  "add SVC 10.96.0.1,tcp:443\n")
RULES = """*filter
-A INPUT -m set --match-set SVC dst,dst -j ACCEPT
-A INPUT -m set ! --match-set SVC dst,dst -j DROP
COMMIT
"""


def _verdict(nf, packet, iface="eth0") -> str:
    return nf.prerouting(packet, 0.0, np.random.default_rng(0), in_iface=iface).verdict.value


def test_set_member_matches_and_negation_matches_the_rest() -> None:
    """A member is accepted by the positive rule, a non-member dropped by the negated one."""
    nf = engine(RULES, local=("10.96.0.1",), ipsets=SETS)
    assert _verdict(nf, Packet("tcp", "10.0.0.5", "10.96.0.1", 1000, 443)) == "ACCEPT"
    assert _verdict(nf, Packet("udp", "10.0.0.5", "10.96.0.1", 1000, 443)) == "DROP"


def test_fewer_directions_than_dimensions_never_match() -> None:
    """``--match-set SVC dst`` on a 2-dimension set is false (and its negation true)."""
    nf = engine("*filter\n-A INPUT -m set --match-set SVC dst -j DROP\nCOMMIT\n",
                local=("10.96.0.1",), ipsets=SETS)
    assert _verdict(nf, Packet("tcp", "10.0.0.5", "10.96.0.1", 1000, 443)) == "ACCEPT"


def test_reloaded_sets_take_effect_without_reloading_rules() -> None:
    """``ipsets.load`` (an ipset restore) changes membership under unchanged rules."""
    nf = engine(RULES, local=("10.96.0.1",), ipsets=SETS)
    nf.ipsets.load(parse_sets("create SVC hash:ip,port family inet hashsize 1024 maxelem 65536\n"))
    assert _verdict(nf, Packet("tcp", "10.0.0.5", "10.96.0.1", 1000, 443)) == "DROP"


def test_missing_set_is_reported_and_refused_by_check() -> None:
    """A dump naming a set that was not given: listed with where it is used, ``check_sets``
    refuses it naming the line, and the engine counts it as not a member."""
    rs = ruleset(RULES)
    assert missing_sets(rs, []) == {"SVC": [("filter", "INPUT", 2), ("filter", "INPUT", 3)]}
    with pytest.raises(SimError, match=r"^dump.save:2: -m set --match-set SVC: Set SVC doesn't exist"):
        check_sets(rs, [], "dump.save")
    check_sets(rs, ["SVC"])
    nf = engine(RULES, local=("10.96.0.1",))
    assert _verdict(nf, Packet("tcp", "10.0.0.5", "10.96.0.1", 1000, 443)) == "DROP"
    assert nf.ipsets.missing == {"SVC"}


def test_ipvs_match_needs_an_ipvs_connection() -> None:
    """``-m ipvs --vaddr``: no match without an IPVS stage; with one, the virtual address and
    port of the packet's IPVS connection decide."""
    text = ("*filter\n-A INPUT -m ipvs --vaddr 10.96.0.1/32 --vport 443 -j DROP\n"
            "-A INPUT -m ipvs ! --ipvs -j ACCEPT\nCOMMIT\n")
    nf = engine(text, local=("10.0.0.1",))
    p = Packet("tcp", "10.244.0.5", "10.0.0.1", 1000, 80)
    assert _verdict(nf, p) == "ACCEPT"
    nf.ipvs_info = lambda c: (0x0A600001, 443, "MASQ", True, 0)
    assert _verdict(nf, p) == "DROP"


def test_save_forms_of_set_and_ipvs_matches() -> None:
    """iptables-save forms: libxt_set's ``[!] --match-set NAME dirs``; libxt_ipvs prints the
    protocol as a number and a /32 virtual address without its mask."""
    from sim.iptables import render_save

    text = ("*filter\n-A INPUT -m set ! --set S src,dst -j ACCEPT\n"
            "-A OUTPUT -s 1.2.3.4 -m ipvs --vaddr 1.2.3.4 --vproto tcp --vport 80 -j DROP\n"
            "-A OUTPUT -m ipvs --vaddr 10.0.0.0/8 --vdir REPLY -j ACCEPT\nCOMMIT\n")
    out = render_save(ruleset(text))
    assert "-A INPUT -m set ! --match-set S src,dst -j ACCEPT\n" in out
    assert "-A OUTPUT -s 1.2.3.4/32 -m ipvs --vproto 6 --vaddr 1.2.3.4 --vport 80 -j DROP\n" in out
    assert "-A OUTPUT -m ipvs --vaddr 10.0.0.0/8 --vdir REPLY -j ACCEPT\n" in out


_ADDRS = ["10.0.0.1", "10.0.0.2", "10.0.1.7", "192.168.0.9"]
_MEMBERS = {
    "hash:ip": ["10.0.0.1", "192.168.0.9"],
    "hash:net": ["10.0.0.0/24", "10.0.1.7", "192.168.0.0/16"],
    "hash:ip,port": ["10.0.0.1,tcp:80", "10.0.0.2,udp:53", "192.168.0.9,tcp:443"],
    "hash:net,port": ["10.0.0.0/16,tcp:80", "192.168.0.9,udp:53"],
    "hash:ip,port,ip": ["10.0.0.1,tcp:80,10.0.0.2", "10.0.1.7,udp:53,10.0.1.7"],
    "hash:ip,port,net": ["10.0.0.1,tcp:80,10.0.0.0/30", "10.0.0.2,udp:53,192.168.0.0/16"],
    "bitmap:port": ["53", "80"],
}


@given(set_type=st.sampled_from(sorted(_MEMBERS)), data=st.data())
def test_compiled_set_lookup_equals_the_reference_membership(set_type: str, data) -> None:
    """The engine's specialised per-(set, directions) lookup answers as ``SetIndex.test``,
    for every modelled type, any subset of members and any directions (hypothesis)."""
    import ipaddress

    from sim.ipset import IPSet, SetIndex, SET_TYPES
    from sim.netfilter.setmatch import NodeIPSets

    members = data.draw(st.lists(st.sampled_from(_MEMBERS[set_type]), unique=True))
    s = IPSet("S", set_type, members=tuple(sorted(members)))
    dirs = tuple(data.draw(st.lists(st.booleans(), min_size=1, max_size=4)))
    proto = data.draw(st.sampled_from(["tcp", "udp", "sctp"]))
    src, dst = (int(ipaddress.IPv4Address(data.draw(st.sampled_from(_ADDRS)))) for _ in range(2))
    sport, dport = (data.draw(st.sampled_from([53, 80, 443, 1000])) for _ in range(2))

    class _C:
        pass
    c = _C()
    c.src, c.dst, c.proto, c.sport, c.dport = src, dst, proto, sport, dport
    kinds = SET_TYPES[set_type]
    if len(dirs) < len(kinds):
        want = False
    else:
        want = SetIndex.build(s).test(tuple(
            (proto, sport if d else dport) if k == "port" else (src if d else dst)
            for k, d in zip(kinds, dirs)))
    assert NodeIPSets([s]).match(("S", dirs), c) == want


def test_update_replaces_named_sets_and_keeps_the_others() -> None:
    """``ipsets.update`` swaps in the given sets (new members take effect) and leaves the
    other sets as they were."""
    nf = engine("*filter\n-A INPUT -m set --match-set A src -j DROP\n"
                "-A INPUT -m set --match-set B src -j REJECT\nCOMMIT\n", local=("10.0.0.1",),
                ipsets=parse_sets("create A hash:ip\nadd A 10.9.0.1\ncreate B hash:ip\nadd B 10.9.0.2\n"))
    p1, p2 = (Packet("tcp", f"10.9.0.{i}", "10.0.0.1", 1000, 80) for i in (1, 2))
    assert (_verdict(nf, p1), _verdict(nf, p2)) == ("DROP", "REJECT")
    nf.ipsets.update(parse_sets("create A hash:ip\nadd A 10.9.0.3\n"))
    assert (_verdict(nf, p1), _verdict(nf, p2)) == ("ACCEPT", "REJECT")
