"""The engine reproduces captured kernel outcomes of the world scenarios in nftables mode
(runs without root). Fixtures: ``tests/fixtures/kernel/nft/*.json``, written by
``python -m tests.kernel.nft_side`` on a real kernel; each holds the exact transactions the
kernel nodes got. One test per captured probe."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from tests.kernel.compare import outcome_problems, trail_problems
from tests.kernel.nft_side import NftEngineCluster
from tests.kernel.probing import spec_from_json

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "kernel" / "nft")
                  .glob("*.json"))


@lru_cache(maxsize=None)
def _load(path: Path) -> tuple[dict, NftEngineCluster]:
    data = json.loads(path.read_text())
    return data, NftEngineCluster(spec_from_json(data["spec"]), data["rules"])


def _cases() -> list:
    return [pytest.param(path, i, id=f"{path.stem}:{record['probe']['label']}")
            for path in FIXTURES
            for i, record in enumerate(json.loads(path.read_text())["probes"])]


@pytest.mark.parametrize("path, index", _cases())
def test_engine_reproduces_the_kernel_in_nftables_mode(path, index):
    """Outcomes, and the conntrack entries of traced connections, as the kernel had them."""
    data, ec = _load(path)
    record = data["probes"][index]
    problems = outcome_problems(ec, record) + trail_problems(ec, record)
    assert problems == [], "\n".join(problems)


def test_fixtures_exist():
    """Every world scenario not written for another mode has a capture (re-run the capture
    after adding one)."""
    from tests.world.test_nftables_world import mode_neutral_world_scenarios

    assert {p.stem for p in FIXTURES} == {p.stem for p in mode_neutral_world_scenarios()}
