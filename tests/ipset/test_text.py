"""``ipset restore`` / ``ipset save`` text: parsing, printing and errors."""

from __future__ import annotations

import pytest

from sim.ipset import IPSet, canonicalise, parse_restore, render_restore, render_save
from sim.model.errors import SimError

# Captured from ipset v7.17 (``ipset save`` after restoring these sets).
REAL_SAVE = """\
create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x4e45e1d0
add KUBE-CLUSTER-IP 10.96.0.10,sctp:53
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 80
add KUBE-NODE-PORT-TCP 30080
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x85cbc556
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.0/8
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.9.9.6/31
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.9.9.9
create W hash:net family inet hashsize 1024 maxelem 65536 comment bucketsize 12 initval 0x134e6b33
add W 10.0.0.0/8 comment "hello world"
add W 10.1.1.1
create T hash:ip family inet hashsize 1024 maxelem 65536 timeout 0 counters comment bucketsize 12 initval 0x439bf971
add T 1.1.1.1 timeout 0 packets 0 bytes 0
"""


def test_save_text_round_trips_up_to_member_order() -> None:
    """A real ``ipset save`` parses and prints back line for line, members in canonical order."""
    sets = parse_restore(REAL_SAVE)
    assert canonicalise(render_save(sets)) == canonicalise(REAL_SAVE)
    assert sorted(render_save(sets).splitlines()) == sorted(REAL_SAVE.splitlines())


def test_members_are_normalised_as_ipset_prints_them() -> None:
    """Host nets lose ``/32``, host bits are cleared, a bare port is tcp."""
    sets = parse_restore("create S hash:ip,port,net family inet hashsize 1024 maxelem 65536\n"
                         "add S 1.2.3.4,80,10.9.9.7/31\nadd S 1.2.3.4,udp:53,10.0.0.1/32\n")
    assert sets[0].members == ("1.2.3.4,tcp:80,10.9.9.6/31", "1.2.3.4,udp:53,10.0.0.1")


def test_bitmap_members_in_port_order_and_no_bucketsize() -> None:
    """bitmap:port lists ports ascending and prints only its range."""
    text = render_save((IPSet("P", "bitmap:port", members=("80", "30080")),))
    assert text == "create P bitmap:port range 0-65535\nadd P 80\nadd P 30080\n"


def test_restore_text_has_no_bucketsize() -> None:
    """``render_restore`` is what kube-proxy's create/add calls amount to."""
    text = render_restore((IPSet("S", "hash:ip", members=("10.0.0.1",)),))
    assert text == "create S hash:ip family inet hashsize 1024 maxelem 65536\nadd S 10.0.0.1\n"


@pytest.mark.parametrize("text, message", [
    ("create S hash:foo\n", ":1: Syntax error: unknown or unsupported set type"),
    ("add S 1.2.3.4\n", ":1: The set with the given name 'S' does not exist"),
    ("create S hash:ip\nadd S 1.2.3\n", ":2: Syntax error: invalid address"),
    ("create S hash:ip\ncreate S hash:ip\n", ":2: Set cannot be created"),
    ("create S hash:ip\nadd S 1.1.1.1\nadd S 1.1.1.1\n", ":3: Element cannot be added"),
    ("create P bitmap:port range 1-100\nadd P 200\n", ":2: Syntax error: port 200 is outside"),
    ("create S hash:ip,port\nadd S 1.1.1.1,icmp:8\n", ":2: Syntax error: protocol 'icmp'"),
    ("create P bitmap:port\n", ":1: Syntax error: bitmap:port needs a range"),
    ("create S hash:ip\nadd S 1.1.1.1 comment x\n", ":2: Syntax error: set 'S' was created without"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    """Bad input is refused with the source and line number."""
    with pytest.raises(SimError, match="^sets.txt" + message.replace("(", r"\(")):
        parse_restore(text, "sets.txt")


def test_exist_flag_tolerates_duplicates() -> None:
    """``-exist`` makes a repeated create (same options) and add succeed."""
    sets = parse_restore("create S hash:ip -exist\ncreate S hash:ip -exist\n"
                         "add S 1.1.1.1\nadd S 1.1.1.1 -exist\n")
    assert sets[0].members == ("1.1.1.1",)


def test_del_flush_destroy() -> None:
    """del removes a member, flush empties a set, destroy removes it."""
    sets = parse_restore("create A hash:ip\ncreate B hash:ip\nadd A 1.1.1.1\nadd A 2.2.2.2\n"
                         "del A 1.1.1.1\nadd B 3.3.3.3\nflush B\ncreate C hash:ip\ndestroy C\n")
    assert [(s.name, s.members) for s in sets] == [("A", ("2.2.2.2",)), ("B", ())]
