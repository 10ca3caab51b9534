"""``kube-netsim trace``: text and JSON outcomes from a scenario or a real iptables-save file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parents[2]
NODE1 = str(ROOT / "tests" / "netfilter" / "rules" / "node1.save")
NODEPORT = str(ROOT / "scenarios" / "seed" / "nodeport.yaml")


def _json(capsys, *argv: str) -> dict:
    assert main(["trace", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_rules_file_branches_print_with_probabilities(capsys) -> None:
    """Text output lists each branch's trail and an outcome line per endpoint with p=."""
    assert main(["trace", "--rules", NODE1, "--src", "10.244.1.20", "--dst", "10.96.100.1",
                 "--dport", "80"]) == 0
    out = capsys.readouterr().out
    assert "nat:KUBE-SERVICES:rule:2  -A KUBE-SERVICES -d 10.96.100.1/32" in out
    assert "  10.244.1.7:8080 p=0.3333333335\n" in out
    assert "  10.244.2.9:8080 p=0.3333333333\n" in out


def test_json_outcomes_sum_to_one_and_carry_the_fields(capsys) -> None:
    """--json: one object; outcomes with verdict, destination, masquerade, probability, trail."""
    data = _json(capsys, "--rules", NODE1, "--src", "192.168.0.50", "--dst", "10.96.100.1",
                 "--dport", "80")
    outs = data["outcomes"]
    assert {o["destination"] for o in outs} == {"10.244.1.7:8080", "10.244.2.8:8080",
                                                 "10.244.2.9:8080"}
    assert all(o["verdict"] == "ACCEPT" and o["masquerade"] for o in outs)
    assert sum(o["probability"] for o in outs) == pytest.approx(1.0, abs=1e-15)
    assert all(o["trail"] for o in outs)


def test_nodeport_address_is_inferred_from_the_rules(capsys) -> None:
    """Without --local-ip a NodePort destination is taken as the node's address."""
    data = _json(capsys, "--rules", NODE1, "--src", "192.168.0.50", "--dst", "192.168.0.11",
                 "--dport", "30090")
    assert data["local_addresses"] == ["192.168.0.11"]
    (out,) = data["outcomes"]
    assert out["verdict"] == "DROP" and out["destination"] is None


def test_source_that_is_a_node_address_takes_the_output_path(capsys) -> None:
    """--src equal to a --local-ip is locally generated (OUTPUT)."""
    data = _json(capsys, "--rules", NODE1, "--local-ip", "192.168.0.11", "--src",
                 "192.168.0.11", "--dst", "10.96.200.1", "--dport", "80")
    assert data["path"] == "OUTPUT"
    assert [o["verdict"] for o in data["outcomes"]] == ["REJECT"]
    assert data["outcomes"][0]["reject_with"] == "icmp-port-unreachable"


def test_scenario_nodeport_from_a_pod(capsys) -> None:
    """A scenario's NodePort from a pod: three endpoints, 1/3 each, masqueraded."""
    data = _json(capsys, NODEPORT, "--node", "node-1", "--from-pod", "myapp-1", "--dst",
                 "192.168.49.2", "--dport", "30036")
    outs = data["outcomes"]
    assert sorted(o["destination"] for o in outs) == ["10.244.1.5:9376", "10.244.2.7:9376",
                                                      "10.244.2.8:9376"]
    assert all(o["masquerade"] for o in outs)
    local = [o for o in outs if o["destination"] == "10.244.1.5:9376"][0]
    assert local["source"].startswith("10.244.1.1:")  # masqueraded to the pod bridge address


def test_external_client_to_a_scenario_cluster_ip(capsys) -> None:
    """--external: the default outside client reaches the ClusterIP through PREROUTING."""
    data = _json(capsys, NODEPORT, "--external", "--dst", "192.168.49.2", "--dport", "30036")
    assert data["path"] == "PREROUTING"
    assert data["packet"]["src"] == "203.0.113.10:40000"


@pytest.mark.parametrize("argv,message", [
    (["--dst", "10.0.0.1", "--dport", "80", "--src", "10.0.0.2"], "give either a SCENARIO"),
    (["--rules", NODE1, "--dst", "10.0.0.1", "--dport", "80", "--src", "nope"], "--src"),
    (["--rules", NODE1, "--dst", "10.0.0.1", "--dport", "80"], "--src is required"),
    ([NODEPORT, "--from-pod", "ghost", "--dst", "10.0.0.1", "--dport", "80"], "ghost"),
    (["--rules", "/nonexistent.rules", "--dst", "10.0.0.1", "--dport", "80", "--src",
      "10.0.0.2"], "no such file"),
])
def test_bad_input_is_an_error_message(argv: list[str], message: str, capsys) -> None:
    """User errors exit 1 with a message, no traceback."""
    assert main(["trace", *argv]) == 1
    assert message in capsys.readouterr().err


def test_bad_rule_in_rules_file_names_file_and_line(tmp_path, capsys) -> None:
    """An unsupported match in --rules FILE is reported with file:line."""
    f = tmp_path / "bad.rules"
    f.write_text("*filter\n-A INPUT -m string --algo bm --string x -j ACCEPT\nCOMMIT\n")
    assert main(["trace", "--rules", str(f), "--src", "10.0.0.2", "--dst", "10.0.0.1",
                 "--dport", "80"]) == 1
    assert f"{f}:2: Couldn't load match `string'" in capsys.readouterr().err


def test_src_that_is_a_local_pod_arrives_on_the_pod_bridge(capsys) -> None:
    """--src equal to a pod of --node is treated like --from-pod (arrives on cni0)."""
    assert main(["trace", NODEPORT, "--node", "node-1", "--src", "10.244.1.5", "--dst",
                 "192.168.49.2", "--dport", "30036"]) == 0
    assert "PREROUTING (arriving on cni0)" in capsys.readouterr().out


def test_non_utf8_rules_file_names_file_line_and_offset(tmp_path, capsys) -> None:
    """A --rules file that is not UTF-8 is a user error with file, line and byte offset."""
    f = tmp_path / "latin.rules"
    data = b"*filter\n-A INPUT -m comment --comment \"caf\xe9\" -j ACCEPT\nCOMMIT\n"
    f.write_bytes(data)
    assert main(["trace", "--rules", str(f), "--src", "10.0.0.2", "--dst", "10.0.0.1",
                 "--dport", "80"]) == 1
    offset = data.index(b"\xe9")
    assert f"--rules: {f}:2: not UTF-8 text: byte 0xe9 at offset {offset}" in capsys.readouterr().err


def test_external_honours_src_as_the_outside_client(capsys) -> None:
    """--external --src IP: the outside client has that address (not silently ignored)."""
    data = _json(capsys, NODEPORT, "--external", "--src", "198.51.100.7:5555", "--dst",
                 "192.168.49.2", "--dport", "30036")
    assert data["path"] == "PREROUTING"
    assert data["packet"]["src"] == "198.51.100.7:5555"


@pytest.mark.parametrize("src,message", [
    ("192.168.49.2", "the address is this node's own"),
    ("10.244.1.5", "the address is a pod's"),
])
def test_external_with_an_inside_src_is_refused(src: str, message: str, capsys) -> None:
    """--external with a --src that is the node's own or a pod's address contradicts itself."""
    assert main(["trace", NODEPORT, "--node", "node-1", "--external", "--src", src, "--dst",
                 "192.168.49.2", "--dport", "30036"]) == 1
    assert message in capsys.readouterr().err


def test_empty_node_name_refused(capsys) -> None:
    """--node "" is refused instead of silently tracing on the first node."""
    assert main(["trace", NODEPORT, "--node", "", "--src", "10.0.0.2", "--dst", "192.168.49.2",
                 "--dport", "30036"]) == 1
    assert "--node: Required value" in capsys.readouterr().err
