"""A throw-away network namespace for loading compiler output into the real kernel.

Names carry the prefix ``kpx<pid>-`` (this test package's own); the namespace is deleted in
the fixture's finaliser, also when a test fails.
"""

from __future__ import annotations

import os
import subprocess
import itertools

_counter = itertools.count()


class Namespace:
    """``ip netns add`` on construction, ``delete()`` to remove it."""

    def __init__(self) -> None:
        self.name = f"kpx{os.getpid()}-{next(_counter)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)

    def run(self, argv: list[str], stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], input=stdin, text=True,
                              capture_output=True, timeout=120)

    def restore(self, text: str, *, noflush: bool, tool: str = "iptables-restore") -> None:
        args = [tool] + (["--noflush"] if noflush else [])
        r = self.run(args, text)
        if r.returncode != 0:
            raise AssertionError(f"{tool} refused the payload: {r.stderr}\n{text}")

    def save(self, tool: str = "iptables-save") -> str:
        r = self.run([tool])
        assert r.returncode == 0, r.stderr
        return r.stdout

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], timeout=10)
