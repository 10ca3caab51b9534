"""Fixture: the two-node cluster of :mod:`tests.oracle.cluster_data` with its rules loaded."""

from __future__ import annotations

import pytest

from sim.oracle import KernelCluster, skip_reason
from tests.oracle.cluster_data import RULES, SPEC


@pytest.fixture(scope="module")
def kc():
    """The SPEC cluster with RULES on both nodes (nft backend); deleted after the module."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with KernelCluster(SPEC) as cluster:
        for node in ("node-a", "node-b"):
            cluster.restore(node, RULES)
        yield cluster
