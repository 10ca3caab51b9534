"""Reading a run's result files and deriving series from them."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunData:
    """One run's files: ``manifest`` (dict), ``metrics`` and ``connections`` (lists of rows)."""

    path: Path
    manifest: dict
    metrics: list[dict[str, str]]
    connections: list[dict[str, str]]


def load_run(path: str | Path) -> RunData:
    """Read ``manifest.json``, ``metrics.csv`` and ``connections.csv`` of one run directory."""
    d = Path(path)
    with open(d / "metrics.csv", newline="") as f:
        metrics = list(csv.DictReader(f))
    with open(d / "connections.csv", newline="") as f:
        connections = list(csv.DictReader(f))
    return RunData(d, json.loads((d / "manifest.json").read_text()), metrics, connections)


def latest_run(results: str | Path, scenario: str) -> Path:
    """The most recently written run directory of ``scenario`` under ``results``."""
    runs = sorted((Path(results) / scenario).iterdir(), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise FileNotFoundError(f"no runs of {scenario} under {results}")
    return runs[-1]


def outcome_timeline(run: RunData, bin_s: float, flow: str | None = None
                     ) -> list[tuple[float, dict[str, int]]]:
    """Connections per outcome in bins of ``bin_s`` by start time: ``[(bin start, counts)]``.

    >>> rows = [{"start_s": "0.1", "outcome": "ok", "flow": "f"},
    ...         {"start_s": "1.2", "outcome": "timeout", "flow": "f"}]
    >>> outcome_timeline(RunData(Path("."), {}, [], rows), 1.0)
    [(0.0, {'ok': 1}), (1.0, {'timeout': 1})]
    """
    bins: dict[int, dict[str, int]] = {}
    for c in run.connections:
        if flow is not None and c["flow"] != flow:
            continue
        b = int(float(c["start_s"]) // bin_s)
        counts = bins.setdefault(b, {})
        counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
    return [(b * bin_s, bins[b]) for b in sorted(bins)]


def programming_latencies(run: RunData, node: str | None = None) -> list[float]:
    """Network programming latencies (seconds), optionally of one node, sorted."""
    return sorted(float(m["value"]) for m in run.metrics
                  if m["metric"] == "network_programming_duration_seconds"
                  and (node is None or m["node"] == node))
