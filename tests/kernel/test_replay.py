"""The engine reproduces captured kernel outcomes of every shipped scenario (runs without root).

Fixtures: ``tests/fixtures/kernel/scenarios/*.json``, written by ``python -m
tests.kernel.capture`` on a real kernel (nft backend). Each holds the exact restore texts the
kernel nodes got, so the engine runs the same rules even if the compiler has changed since.
One test per captured probe, so a disagreement names its scenario and probe.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare

from tests.kernel.compare import outcome_problems, trail_problems
from tests.kernel.engine_side import EngineCluster, tracer_branches
from tests.kernel.probing import Probe, spec_from_json
from tests.kernel.stat_cluster import ALPHA

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "kernel" / "scenarios")
                  .glob("*.json"))



@lru_cache(maxsize=None)
def _load(path: Path) -> tuple[dict, EngineCluster]:
    data = json.loads(path.read_text())
    return data, EngineCluster(spec_from_json(data["spec"]), data["rules"])


def _cases() -> list:
    return [pytest.param(path, i, id=f"{path.stem}:{record['probe']['label']}")
            for path in FIXTURES
            for i, record in enumerate(json.loads(path.read_text())["probes"])]


def test_fixtures_exist():
    """Captured kernel outcomes exist for the shipped scenarios."""
    assert len(FIXTURES) >= 10


@pytest.mark.parametrize(("path", "index"), _cases())
def test_engine_outcomes_cover_kernel_outcomes(path, index):
    """Every outcome the kernel gave (pod answered / refused / timed out, source seen) is one
    the engine gives for the same rules and packet; where the engine is deterministic the
    kernel agreed on every connection."""
    data, ec = _load(path)
    problems = outcome_problems(ec, data["probes"][index])
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(("path", "index"), _cases())
def test_engine_trails_match_kernel_counters(path, index):
    """For each traced kernel connection, the engine hits the same nat rules (kernel counter
    diff), only filter rules the kernel counted, and leaves the same conntrack entry."""
    data, ec = _load(path)
    problems = trail_problems(ec, data["probes"][index])
    assert problems == [], "\n".join(problems)



def test_engine_spread_matches_captured_kernel_spread():
    """The engine's endpoint counts over 1,500 connections to a 3-endpoint Service are
    consistent with the kernel's captured counts (chi-square contingency, alpha 0.001) and
    with 1/3 each."""
    data = json.loads((FIXTURES[0].parent.parent / "spread.json").read_text())
    ec = EngineCluster(spec_from_json(data["spec"]), data["rules"])
    kernel = data["counts"]
    total = sum(kernel.values())
    dist = ec.distribution(Probe(**data["probe"]), total, seed=11)
    engine = {k.split("|")[1] if k.startswith("ok|") else k.split("|")[0]: n
              for k, n in dist.items()}
    names = sorted(set(kernel) | set(engine))
    table = np.array([[kernel.get(n, 0) for n in names], [engine.get(n, 0) for n in names]])
    assert names == ["web-0", "web-1", "web-2"]
    assert chi2_contingency(table).pvalue > ALPHA, table
    assert chisquare(table[1]).pvalue > ALPHA, table


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_tracer_branches_cover_kernel_connections(path):
    """``kube-netsim trace``'s enumeration agrees with the kernel: every traced kernel
    connection (from fresh state) took the nat path of a branch the tracer lists with
    non-zero probability, with a compatible verdict and the same endpoint; and the
    fresh-client branches' probabilities add up to exactly 1."""
    data, ec = _load(path)
    problems = []
    for record in data["probes"]:
        probe = Probe(**record["probe"])
        for trail in record["trails"]:
            branches = tracer_branches(ec, probe, trail["sport"])
            total = sum(b[3] for b in branches)
            if total != 1:
                problems.append(f"{probe.label}: branch probabilities sum to {total}")
            nat = frozenset(tuple(r[:3]) for r in trail["rules"] if r[0] == "nat")
            endpoint = None
            if trail["conntrack"] and trail["conntrack"][0]["reply"]["src"] != probe.dst:
                reply = trail["conntrack"][0]["reply"]
                endpoint = f"{reply['src']}:{reply['sport']}"
            # refused: a REJECT, or accepted to where nothing listens; timeout: a DROP, or
            # accepted to where nothing answers; ok: accepted.
            verdicts = {"refused||": {"REJECT", "ACCEPT"},
                        "timeout||": {"DROP", "ACCEPT"}}.get(trail["outcome"], {"ACCEPT"})
            if not any(b[2] == nat and b[3] > 0 and b[0].value in verdicts
                       and (endpoint is None or b[1] == endpoint) for b in branches):
                problems.append(f"{probe.label}: kernel path {sorted(nat)} ({trail['outcome']},"
                                f" endpoint {endpoint}) is no tracer branch")
    assert problems == [], "\n".join(problems)
