"""Shared test configuration: hypothesis profiles and the kernel-test gate."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def kernel_skip_reason() -> str | None:
    """Why kernel tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "kernel tests need root (ip netns add: Operation not permitted)"
    for tool in ("ip", "iptables-restore", "iptables-save"):
        if shutil.which(tool) is None:
            return f"kernel tests need {tool} (apt-get install iproute2 iptables)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = kernel_skip_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        # By marker, not keyword: every test under tests/kernel/ has the keyword "kernel".
        if item.get_closest_marker("kernel") is not None:
            item.add_marker(skip)
