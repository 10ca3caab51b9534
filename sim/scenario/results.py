"""Writing a run's results: ``results/<scenario>/<run_id>/``.

``manifest.json``    scenario name, path and SHA-256, seed, resolved parameters (network, flows,
                     events, expectations, kube-proxy configuration, restore model), git commit,
                     package versions, machine.
``metrics.csv``      tidy long format: ``metric,node,change_id,time_s,value`` (one observation a
                     row: programming latency per change per node, sync duration, rule count
                     and written lines per sync (``change_id`` column: full/partial),
                     connection outcome counts per flow, expectation verdicts).
``connections.csv``  one row per connection attempt.
``timing.json``      wall-clock figures; the only file that differs between two runs with the
                     same scenario and seed.

The directory is written under a temporary name and renamed into place, so it is never
half-written (:func:`write_results`).

The run id is ``seed<N>-<first 12 hex of the scenario hash>``, so rerunning a scenario with a
seed overwrites the same (identical) files.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from sim.model.errors import SimError
from sim.scenario.runner import RunResult

PACKAGES = ("kube-netsim", "simpy", "networkx", "numpy", "pyyaml", "dnspython", "jsonschema")
CONNECTION_FIELDS = ("id", "flow", "client", "client_ip", "proto", "target", "start_s",
                     "outcome", "server", "server_node", "source_seen", "elapsed_s", "error")


def run_id(result: RunResult) -> str:
    """``seed<N>-<hash12>``."""
    mode = result.scenario.kube_proxy.mode
    # A run in another proxy mode than the file names (``--mode``) gets its own directory.
    suffix = "" if mode == "iptables" else f"-{mode}"
    return f"seed{result.seed}-{result.scenario.sha256[:12]}{suffix}"


def _num(x: float) -> str:
    """Fixed formatting so files compare byte for byte (nanosecond resolution)."""
    return f"{x:.9f}"


def git_commit(root: Path) -> str:
    """The checked-out commit, or ``unknown`` outside a git work tree."""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """The installed version of each of ``packages`` ("absent" when not installed)."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _jsonable(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, frozenset, set)):
        items = [_jsonable(v) for v in obj]
        return sorted(items, key=str) if isinstance(obj, (set, frozenset)) else items
    if isinstance(obj, float) and obj == float("inf"):
        return "inf"
    if hasattr(obj, "value") and not isinstance(obj, (str, int, float, bool)):
        return obj.value  # enums
    return obj


def manifest(result: RunResult) -> dict:
    """The content of ``manifest.json``."""
    sc = result.scenario
    plan = result.plan
    return {
        "scenario": {"name": sc.name, "path": str(sc.path), "sha256": sc.sha256},
        "seed": result.seed,
        "run_id": run_id(result),
        "parameters": {
            "durationSeconds": plan.duration_s,
            "network": _jsonable(plan.network),
            "flows": [dict(_jsonable(f), target=f.target.label) for f in plan.flows],
            "events": _jsonable(plan.events),
            "expectations": _jsonable(plan.expectations),
            "kubeProxy": _jsonable(sc.kube_proxy),
            "cluster": _jsonable(sc.cluster),
            "restoreModel": result.stats.get("restore_model"),
        },
        "summary": {
            "passed": result.passed,
            "connections": len(result.recorder.connections),
            "hops": result.stats.get("hops"),
            "drops": result.stats.get("drops"),
            "compiles": result.stats.get("compiles"),
            "distinctRulesets": result.stats.get("distinct_rulesets"),
        },
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "versions": versions(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.machine()},
    }


def metrics_rows(result: RunResult) -> list[tuple[str, str, str, str, str]]:
    """Long-format rows ``(metric, node, change_id, time_s, value)``."""
    rec = result.recorder
    rows = []
    change_time = {c.change_id: c.time_s for c in rec.changes}
    for r in rec.programming:
        rows.append(("network_programming_duration_seconds", r.node, str(r.change_id),
                     _num(change_time.get(r.change_id, 0.0)), _num(r.latency_s)))
    for s in rec.syncs:
        rows.append(("sync_proxy_rules_duration_seconds", s.node, "", _num(s.start_s), _num(s.duration_s)))
        rows.append(("sync_proxy_rules_iptables_total", s.node, "", _num(s.start_s), str(s.rules)))
        rows.append(("sync_proxy_rules_written_lines", s.node, "full" if s.full else "partial",
                     _num(s.start_s), str(s.written)))
    counts: dict[tuple[str, str], int] = {}
    for c in rec.connections:
        counts[(c.flow, c.outcome)] = counts.get((c.flow, c.outcome), 0) + 1
    for (flow, outcome), n in sorted(counts.items()):
        rows.append((f"connections_total{{flow={flow},outcome={outcome}}}", "", "", "", str(n)))
    for e in result.expectations:
        rows.append((f"expectation_passed{{name={e.name}}}", "", "", "", "1" if e.passed else "0"))
    return rows


def check_writable(out_root: Path) -> None:
    """Refuse, before a run starts, a results root that exists and is not a directory or
    cannot be written (``SimError`` naming the path)."""
    root = Path(out_root)
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise SimError(f"--out {root}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SimError(f"--out {root}: {probe} is not writable")


def write_results(result: RunResult, out_root: Path) -> Path:
    """Write the run's files under ``out_root/<scenario>/<run_id>/`` and return that directory.

    The files are written into a temporary directory next to the destination, which is then
    renamed into place: the destination holds either the previous complete run or this one,
    never a half-written one (an error or an interrupt removes the temporary directory).

    Raises
    ------
    SimError
        The directory cannot be created or written (names the path and the reason).
    """
    d = Path(out_root) / result.scenario.name / run_id(result)
    tmp = old = None
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".tmp", dir=d.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; results are for everyone to read
        _write_files(result, tmp)
        if d.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".old", dir=d.parent))
            os.rename(d, old / d.name)
        os.rename(tmp, d)
        tmp = None
    except OSError as exc:
        raise SimError(f"cannot write results to {d}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            if not d.exists():  # interrupted between the two renames: keep the previous run
                os.rename(old / d.name, d)
            shutil.rmtree(old, ignore_errors=True)
    return d


def _write_files(result: RunResult, d: Path) -> None:
    (d / "manifest.json").write_text(json.dumps(manifest(result), indent=2, sort_keys=True) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("metric", "node", "change_id", "time_s", "value"))
    w.writerows(metrics_rows(result))
    (d / "metrics.csv").write_text(buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CONNECTION_FIELDS)
    for c in result.recorder.connections:
        w.writerow((c.id, c.flow, c.client, c.client_ip, c.proto, c.target, _num(c.start_s),
                    c.outcome, c.server, c.server_node, c.source_seen, _num(c.elapsed_s),
                    c.error))
    (d / "connections.csv").write_text(buf.getvalue())
    (d / "timing.json").write_text(json.dumps({"wall_s": result.wall_s}, indent=2) + "\n")
