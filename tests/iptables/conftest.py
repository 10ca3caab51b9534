"""Kernel fixtures for the iptables text-format tests: throwaway network namespaces."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

_counter = itertools.count()


@dataclass
class Netns:
    """A network namespace named ``kns-e-<pid>-<n>`` (prefix owned by the engine tests)."""

    name: str

    def run(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], input=stdin,
                              capture_output=True, text=True, timeout=120)

    def restore(self, text: str, *flags: str) -> subprocess.CompletedProcess[str]:
        return self.run("iptables-restore", *flags, stdin=text)

    def save(self, *flags: str) -> str:
        out = self.run("iptables-save", *flags)
        assert out.returncode == 0, out.stderr
        return out.stdout


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A fresh namespace, deleted afterwards even when the test fails."""
    name = f"kns-e-{os.getpid()}-{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=30)
    try:
        yield Netns(name)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
