"""Snapshots do not depend on Python's hash randomisation (no set order reaches output)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import hashlib
from sim.scenario.spec import load_scenario
out = []
for name in ("headless", "multiport", "service-without-selector", "loadbalancer"):
    out.append(repr(load_scenario("scenarios/seed/%s.yaml" % name).state(seed=11)))
print(hashlib.sha256("".join(out).encode()).hexdigest())
"""


def _digest(hash_seed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    return subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_snapshot_independent_of_hash_seed():
    """Two interpreters with different PYTHONHASHSEED give byte-identical snapshots."""
    assert _digest("1") == _digest("2")
