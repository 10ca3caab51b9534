"""Fixtures for world tests."""

from __future__ import annotations

import pytest

from worldkit import small_cluster


@pytest.fixture
def small_api():
    """A factory of the small three-node cluster (see ``worldkit.small_cluster``)."""
    return small_cluster
