"""``-m set`` and ``-m ipvs`` in the engine."""

from __future__ import annotations

import numpy as np
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
