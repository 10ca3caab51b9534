"""``run --json`` and ``show --json`` print one JSON object with the text report's figures."""

from __future__ import annotations

import json
from pathlib import Path

from sim.cli import main

WORLD = Path(__file__).resolve().parents[2] / "scenarios" / "world"


def test_show_json_lists_services_and_slices(capsys):
    """show --json: every Service with its allocated IP and ports, and a Service whose
    selector matches no pod marked as having no endpoints."""
    assert main(["show", str(WORLD / "no-endpoints.yaml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    svcs = {s["name"]: s for s in data["services"]}
    assert svcs["empty"]["hasEndpoints"] is False and svcs["web-local"]["hasEndpoints"] is True
    assert svcs["empty"]["ports"][0]["nodePort"] == 30090
    assert {sl["service"] for sl in data["endpointSlices"]} == {"web-local"}


def test_run_json_has_flows_and_expectations(tmp_path, capsys):
    """run --json: flows with their counts and the expectations' verdicts; the exit code is
    the run's."""
    code = main(["run", str(WORLD / "affinity.yaml"), "--json", "--out", str(tmp_path),
                 "--no-progress"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["failed"] == 0 and data["passed"] == len(data["expectations"])
    flows = {f["name"]: f for f in data["flows"]}
    assert flows["sticky"]["connections"] == 100 and flows["sticky"]["ok"] == 100
    assert len(flows["sticky"]["answered_by"]) == 1
    assert Path(data["results"]).is_dir()
