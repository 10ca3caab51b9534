"""``kube-netsim trace`` in nftables mode: from a scenario with ``--mode nftables`` or from an
``nft list ruleset`` dump, the same outcomes and JSON shape as iptables mode."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from sim.cli import main

ROOT = Path(__file__).resolve().parents[2]
AFFINITY = str(ROOT / "scenarios" / "world" / "affinity.yaml")
DUMP = str(ROOT / "tests" / "nftables" / "fixtures" / "upstream_overall.list")
NODE1 = str(ROOT / "tests" / "netfilter" / "rules" / "node1.save")


def _json(capsys, *argv: str) -> dict:
    assert main(["trace", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_scenario_in_nftables_mode_branches_per_endpoint_and_affinity_set(capsys):
    """Four endpoints: four numgen branches of exactly 1/4, then one "already in the
    affinity set" branch per endpoint."""
    data = _json(capsys, AFFINITY, "--mode", "nftables", "--dst", "10.105.54.37", "--dport",
                 "80", "--from-pod", "client-2")
    outs = data["outcomes"]
    fresh = [o for o in outs if o["probability"] is not None]
    assert [Fraction(o["probability_exact"]) for o in fresh] == [Fraction(1, 4)] * 4
    assert len({o["destination"] for o in fresh}) == 4
    pinned = [o for o in outs if o["probability"] is None]
    assert len(pinned) == 4 and all("is in set affinity-" in o["conditions"][0] for o in pinned)
    assert outs[0]["trail"][0] == {"table": "ip kube-proxy", "chain": "filter-prerouting-pre-dnat",
                                   "rule_number": 1, "kind": "rule",
                                   "rule": "ct state new jump firewall-check"}


def test_json_shape_equals_iptables_mode(capsys):
    """The outcome objects and trail steps carry the same keys in both modes."""
    nft = _json(capsys, "--rules", DUMP, "--src", "10.0.0.2", "--dst", "172.30.0.41",
                "--dport", "80")
    ipt = _json(capsys, "--rules", NODE1, "--src", "10.244.1.20", "--dst", "10.96.100.1",
                "--dport", "80")
    assert nft.keys() == ipt.keys()
    assert nft["outcomes"][0].keys() == ipt["outcomes"][0].keys()
    assert nft["outcomes"][0]["trail"][0].keys() == ipt["outcomes"][0]["trail"][0].keys()
    assert nft["outcomes"][0]["destination"] == "10.180.0.1:80"


def test_nft_dump_is_recognised_and_node_address_inferred(capsys):
    """An ``nft list ruleset`` dump is traced as nft; a NodePort destination listed in
    ``nodeport-ips`` is taken as the node's address."""
    assert main(["trace", "--rules", DUMP, "--external", "--dst", "192.168.0.2", "--dport",
                 "3003"]) == 0
    out = capsys.readouterr().out
    assert "node addresses inferred: 192.168.0.2" in out
    assert "ip kube-proxy:services:rule:2  ip daddr @nodeport-ips meta l4proto . th dport " \
           "vmap @service-nodeports" in out
    assert "=> ACCEPT -> 10.180.0.3:80" in out and "masquerade" in out
    assert "rules and lookups" in out


def test_unknown_port_of_a_cluster_ip_is_rejected(capsys):
    """cluster-ips-check rejects a known ClusterIP's unknown port (nftables mode only)."""
    data = _json(capsys, "--rules", DUMP, "--src", "10.0.0.2", "--dst", "172.30.0.41",
                 "--dport", "443")
    (out,) = data["outcomes"]
    assert out["verdict"] == "REJECT" and out["reject_with"] == "icmp-port-unreachable"


def test_bad_nft_dump_names_file_and_line(tmp_path, capsys):
    """A dump nft would refuse is an error naming the file and line, exit 1."""
    bad = tmp_path / "bad.nft"
    bad.write_text("table ip t {\n\tchain c {\n\t\tip daddr @nosuch accept\n\t}\n}\n")
    assert main(["trace", "--rules", str(bad), "--src", "10.0.0.2", "--dst", "1.2.3.4",
                 "--dport", "80"]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: Error:" in err and "nosuch" in err
