"""``kube-netsim trace`` in IPVS mode: iptables rules with set lookups, the virtual server,
one outcome per real server with the scheduler's probability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sim.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "world" / "ipvs-round-robin.yaml"
WEB = {"10.244.1.11:8080", "10.244.2.12:8080", "10.244.3.13:8080"}


def _cluster_ip(capsys, scenario) -> str:
    assert main(["rules", str(scenario), "--node", "node-3", "--format", "ipvsadm"]) == 0
    out = capsys.readouterr().out
    # the web Service: the virtual server with three real servers
    vips = [line.split()[2].split(":")[0] for line in out.splitlines()
            if line.startswith("-a ") and "10.244.1.11" in line]
    return vips[0]


def _trace(capsys, scenario, *extra: str) -> dict:
    vip = _cluster_ip(capsys, scenario)
    assert main(["trace", str(scenario), "--node", "node-3", "--from-pod", "default/client",
                 "--dst", vip, "--dport", "80", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _with_scheduler(tmp_path, scheduler: str) -> Path:
    doc = yaml.safe_load(SCENARIO.read_text())
    doc["spec"]["kubeProxy"]["ipvs"]["scheduler"] = scheduler
    doc["spec"]["manifests"] = [str(SCENARIO.parent / m) for m in doc["spec"]["manifests"]]
    path = tmp_path / f"{scheduler}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_rr_gives_each_real_server_a_third(capsys) -> None:
    """rr: three outcomes, one per real server, p=1/3 each, through the set-matching rules
    and the IPVS step, out through filter OUTPUT."""
    data = _trace(capsys, SCENARIO)
    outs = data["outcomes"]
    assert {o["destination"] for o in outs} == WEB
    assert all(o["probability_exact"] == "1/3" for o in outs)
    trail = outs[0]["trail"]
    assert any("--match-set KUBE-CLUSTER-IP dst,dst" in s["rule"] for s in trail)
    kinds = [s["kind"] for s in trail]
    assert "ipvs" in kinds
    after = [s["chain"] for s in trail[kinds.index("ipvs"):] if s["table"] == "filter"]
    assert after and after[0] == "OUTPUT"


def test_json_shape_is_the_iptables_modes(capsys) -> None:
    """Same keys per outcome as iptables mode's Outcome.to_json."""
    data = _trace(capsys, SCENARIO)
    assert set(data) == {"node", "packet", "path", "local_addresses", "outcomes"}
    assert set(data["outcomes"][0]) == {
        "verdict", "reject_with", "destination", "masquerade", "probability",
        "probability_exact", "conditions", "source", "local", "walk_length", "trail"}


def test_source_hashing_picks_one_server(capsys, tmp_path) -> None:
    """sh: one outcome with probability 1, naming the hash bucket of the source."""
    data = _trace(capsys, _with_scheduler(tmp_path, "sh"))
    (out,) = data["outcomes"]
    assert out["probability"] == 1.0 and out["destination"] in WEB
    assert "bucket" in out["conditions"][0]


@pytest.mark.parametrize("scheduler", ["lc", "wlc"])
def test_least_connection_is_state_dependent(capsys, tmp_path, scheduler) -> None:
    """lc/wlc: the pick with the current connections, probability unknown (null) and a note
    that it depends on the real servers' connections."""
    data = _trace(capsys, _with_scheduler(tmp_path, scheduler))
    (out,) = data["outcomes"]
    assert out["probability"] is None and out["destination"] in WEB
    assert "state-dependent" in out["conditions"][0]


def test_text_output_names_the_virtual_server(capsys) -> None:
    """The text trace shows the IPVS step with the scheduler and the real server."""
    vip = _cluster_ip(capsys, SCENARIO)
    assert main(["trace", str(SCENARIO), "--node", "node-3", "--from-pod", "default/client",
                 "--dst", vip, "--dport", "80"]) == 0
    out = capsys.readouterr().out
    assert f"ipvs:TCP {vip}:80:ipvs:0  -> 10.244.3.13:8080 (rr; state SYN_RECV)" in out
    assert out.count(" p=0.3333333333") == 6  # three branches and three outcome lines
