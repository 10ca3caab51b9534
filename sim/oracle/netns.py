"""Network namespaces and bounded command execution.

Every command runs with a timeout; every namespace name carries a per-run prefix so a run only
ever touches (and deletes) what it created, plus stale namespaces left by an earlier run of the
same prefix family.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sim.model.errors import SimError

PREFIX_FAMILY = "kns"
NETNS_DIR = Path("/run/netns")
COMMAND_TIMEOUT_S = 60.0


class OracleError(SimError):
    """A kernel-side step failed (command exit status, missing tool, no privileges)."""


def skip_reason() -> str | None:
    """Why the oracle cannot run on this machine, or ``None`` when it can.

    >>> isinstance(skip_reason(), (str, type(None)))
    True
    """
    if os.geteuid() != 0:
        return "the kernel oracle needs root (ip netns add: Operation not permitted)"
    for tool in ("ip", "iptables-restore", "iptables-save", "conntrack", "bridge"):
        if shutil.which(tool) is None:
            return f"the kernel oracle needs {tool} (apt-get install iproute2 iptables conntrack)"
    return None


def run_prefix(pid: int | None = None) -> str:
    """The namespace-name prefix for this process: ``kns<pid>-``.

    >>> run_prefix(42)
    'kns42-'
    """
    return f"{PREFIX_FAMILY}{os.getpid() if pid is None else pid}-"


def run(
    argv: list[str],
    *,
    netns: str | None = None,
    input_text: str | None = None,
    timeout_s: float = COMMAND_TIMEOUT_S,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``argv`` (inside ``netns`` when given) with a hard timeout.

    Raises
    ------
    OracleError
        When the command exits non-zero and ``check`` is true, or exceeds ``timeout_s``.
    """
    full = (["ip", "netns", "exec", netns] if netns else []) + argv
    try:
        proc = subprocess.run(
            full, input=input_text, capture_output=True, text=True, timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise OracleError(f"{' '.join(full[:8])}: timed out after {timeout_s:g} s") from exc
    if check and proc.returncode != 0:
        raise OracleError(
            f"{' '.join(full[:8])}: exit {proc.returncode}: {proc.stderr.strip()[:2000]}"
        )
    return proc


def list_namespaces() -> list[str]:
    """Names of all named network namespaces, sorted."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir())


def own_namespaces(prefix: str | None = None) -> list[str]:
    """The namespaces that currently exist with this process's prefix (or ``prefix``)."""
    p = prefix or run_prefix()
    return [n for n in list_namespaces() if n.startswith(p)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_namespaces(names: list[str]) -> list[str]:
    """Those of ``names`` made by an oracle run whose process no longer exists.

    >>> stale_namespaces(["kns999999999-n1", "other", f"kns{os.getpid()}-n1"])
    ['kns999999999-n1']
    """
    out = []
    for name in names:
        if not name.startswith(PREFIX_FAMILY):
            continue
        digits = name[len(PREFIX_FAMILY):].split("-", 1)[0]
        if digits.isdigit() and not _pid_alive(int(digits)):
            out.append(name)
    return out


def delete_namespace(name: str) -> None:
    """Delete one namespace; killing what still runs in it first (bounded)."""
    pids = run(["ip", "netns", "pids", name], check=False, timeout_s=10).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass
    run(["ip", "netns", "delete", name], check=False, timeout_s=10)


def cleanup_stale() -> list[str]:
    """Delete namespaces left behind by oracle runs whose process died; returns their names."""
    stale = stale_namespaces(list_namespaces())
    for name in stale:
        delete_namespace(name)
    return stale


class Namespace:
    """One named network namespace, created on construction, deleted by :meth:`delete`."""

    def __init__(self, name: str) -> None:
        if len(name) > 60:
            raise OracleError(f"namespace name too long: {name}")
        self.name = name
        run(["ip", "netns", "add", name], timeout_s=10)
        self.run(["ip", "link", "set", "lo", "up"])

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """:func:`run` inside this namespace."""
        return run(argv, netns=self.name, **kwargs)

    def sysctl(self, values: dict[str, str]) -> None:
        """Set sysctls in this namespace by writing /proc/sys from one process inside it."""
        script = "; ".join(
            f"echo {v} > /proc/sys/{k.replace('.', '/')}" for k, v in sorted(values.items())
        )
        self.run(["sh", "-ec", script], timeout_s=10)

    def delete(self) -> None:
        """Delete the namespace (and kill anything still running in it)."""
        delete_namespace(self.name)

