"""``ipvsadm-save -n`` text."""

from __future__ import annotations

import pytest

from sim.ipvs import IPVSTable, RealServer, VirtualServer, parse_save, render_save
from sim.model.errors import SimError


def test_render_prints_ipvsadm_save_lines() -> None:
    """-A per service (scheduler, flags, persistence), -a per real server (-m, weight)."""
    table = IPVSTable((
        VirtualServer("tcp", "10.96.0.1", 443, "rr", 0, (RealServer("172.18.0.2", 6443),)),
        VirtualServer("udp", "10.96.0.10", 53, "rr", 10800, (RealServer("10.244.0.2", 53, 0),)),
        VirtualServer("sctp", "fd00::1", 9000, "mh", 0, (), ("mh-port",)),
    ))
    assert render_save(table) == (
        "-A -t 10.96.0.1:443 -s rr\n"
        "-a -t 10.96.0.1:443 -r 172.18.0.2:6443 -m -w 1\n"
        "-A -u 10.96.0.10:53 -s rr -p 10800\n"
        "-a -u 10.96.0.10:53 -r 10.244.0.2:53 -m -w 0\n"
        "-A --sctp-service [fd00::1]:9000 -s mh -b mh-port\n")


def test_parse_reads_back_what_render_prints() -> None:
    """render then parse is the identity."""
    table = IPVSTable((VirtualServer("tcp", "10.96.0.1", 80, "wlc", 0,
                                     (RealServer("10.0.0.1", 8080), RealServer("10.0.0.2", 8080, 3))),))
    assert parse_save(render_save(table)) == table


@pytest.mark.parametrize("text, message", [
    ("-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 1\n", ":1: No such service"),
    ("-A -x 10.0.0.1:80 -s rr\n", ":1: unknown service type"),
    ("-A -t 10.0.0.1 -s rr\n", ":1: bad address:port"),
    ("-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n", ":2: Service already exists"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    """Bad lines are refused with source and line."""
    with pytest.raises(SimError, match="^ipvs.txt" + message):
        parse_save(text, "ipvs.txt")


def test_canonical_order_sorts_services_and_real_servers() -> None:
    """A dump in the kernel's order compares with ours after canonical_order."""
    from sim.ipvs.text import canonical_order

    dump = ("-A -u 10.96.0.10:53 -s rr\n-a -u 10.96.0.10:53 -r 10.244.2.9:53 -m -w 1\n"
            "-a -u 10.96.0.10:53 -r 10.244.1.10:53 -m -w 1\n-A -t 10.96.0.10:53 -s rr\n"
            "-A -t 10.96.0.2:443 -s rr\n")
    assert render_save(canonical_order(parse_save(dump))) == (
        "-A -t 10.96.0.2:443 -s rr\n-A -t 10.96.0.10:53 -s rr\n-A -u 10.96.0.10:53 -s rr\n"
        "-a -u 10.96.0.10:53 -r 10.244.1.10:53 -m -w 1\n-a -u 10.96.0.10:53 -r 10.244.2.9:53 -m -w 1\n")
