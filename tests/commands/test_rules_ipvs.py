"""``kube-netsim rules --mode ipvs``: the payload, ``ipset save``, ``ipvsadm-save -n`` and
``--stats`` forms, and the IPVS formats refused in iptables mode."""

from __future__ import annotations

from pathlib import Path

from sim.cli import main
from sim.ipset import parse_restore as parse_sets
from sim.ipvs import parse_save

SCENARIO = str(Path(__file__).resolve().parents[2] / "scenarios" / "world" / "externalips-loadbalancer.yaml")


def _rules(capsys, *argv: str) -> str:
    assert main(["rules", SCENARIO, "--mode", "ipvs", *argv]) == 0
    return capsys.readouterr().out


def test_restore_payload_is_nat_then_filter_with_set_matches(capsys) -> None:
    """The default output is the IPVS proxier's restore payload."""
    out = _rules(capsys)
    assert out.startswith("*nat\n:KUBE-SERVICES - [0:0]\n")
    assert "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n" in out
    assert "\n*filter\n:KUBE-FORWARD - [0:0]\n" in out


def test_ipset_format_parses_as_ipset_save(capsys) -> None:
    """--format ipset is ipset save text holding every kube-proxy set."""
    sets = parse_sets(_rules(capsys, "--format", "ipset"))
    assert len(sets) == 17 and sets[1].name == "KUBE-CLUSTER-IP"


def test_ipvsadm_format_parses_as_ipvsadm_save(capsys) -> None:
    """--format ipvsadm is ipvsadm-save -n text: one virtual server per VIP and node address."""
    table = parse_save(_rules(capsys, "--format", "ipvsadm"))
    assert len(table.virtual_servers) == 6
    assert all(rs.forward == "m" and rs.weight == 1 for vs in table.virtual_servers
               for rs in vs.real_servers)


def test_stats_count_sets_and_servers(capsys) -> None:
    """--stats reports rules per table, sets and members, virtual and real servers."""
    out = _rules(capsys, "--stats")
    assert "iptables rules: nat 16, filter 13\n" in out
    assert "IPVS virtual servers: 6, real servers: 12\n" in out


def test_ipvs_formats_refused_in_iptables_mode(capsys) -> None:
    """--format ipset in iptables mode, or nft in ipvs mode, is a user error naming the mode."""
    assert main(["rules", SCENARIO, "--mode", "iptables", "--format", "ipset"]) == 1
    assert 'Unsupported value: "ipset": supported values in iptables mode' in capsys.readouterr().err
    assert main(["rules", SCENARIO, "--mode", "ipvs", "--format", "nft"]) == 1
    assert 'Unsupported value: "nft": supported values in ipvs mode: "restore", "save", "ipset"' in (
        capsys.readouterr().err)


def test_nfacct_refused_in_ipvs_mode(capsys) -> None:
    """--nfacct has no meaning for the IPVS payload: a user error, not silently ignored."""
    assert main(["rules", SCENARIO, "--mode", "ipvs", "--nfacct"]) == 1
    assert "--nfacct: the IPVS proxier writes no nfacct rules" in capsys.readouterr().err
