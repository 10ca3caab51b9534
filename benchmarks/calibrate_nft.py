"""Measure how long the real ``nft -f`` takes to load kube-proxy's nftables transactions, and
fit the world's sync-time model for nftables mode.

For N ClusterIP services x 3 endpoints (the cluster of ``calibrate_restore.py``), in a fresh
network namespace:

``full``
    ``nft -f`` of the first, full sync's transaction (``sim.kubeproxy.nftables.sync_nft``)
    into an empty ruleset.
``partial``
    ``nft -f`` of the next sync's transaction when one service's endpoints all changed (a
    partial sync: that service's chains and map elements) on top of the full one.

Each point is the median of its repeats. Raw runs go to
``sim/world/calibration/nft_times.csv``; per mode a least-squares fit (weighted by 1/seconds)
of ``seconds = a + b*lines + c*lines**2`` (``lines``: commands in the transaction) for full
syncs and, for partial syncs, ``seconds = a + b*lines + d*table + e*table**2`` (``table``: rules
+ elements already in the table, which ``nft`` reads into its cache before applying; ``b`` is
the full fit's, the partial transactions all having the same length) goes to
``sim/world/calibration/nft_model.json``. Needs root and ``nft``; bounded by ``--budget-s``.
``--refit`` fits the existing CSV again without measuring.

Usage: ``.venv/bin/python benchmarks/calibrate_nft.py [--budget-s 170] [--quick] [--refit]``
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.kubeproxy.nftables import sync_nft, transaction_stats  # noqa: E402

OUT_DIR = ROOT / "sim" / "world" / "calibration"
_spec = importlib.util.spec_from_file_location("calibrate_restore",
                                               ROOT / "benchmarks" / "calibrate_restore.py")
_restore = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_restore)  # type: ignore[union-attr]


class Namespace:
    """A throwaway network namespace ``nftcal<pid>-<n>`` (deleted on exit)."""

    count = 0

    def __init__(self) -> None:
        Namespace.count += 1
        self.name = f"nftcal{os.getpid()}-{Namespace.count}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)

    def nft(self, text: str) -> float:
        t0 = time.perf_counter()
        r = subprocess.run(["ip", "netns", "exec", self.name, "nft", "-f", "-"], input=text,
                           text=True, capture_output=True, timeout=900)
        secs = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"nft -f failed: {r.stderr[:400]}")
        return secs

    def __enter__(self) -> "Namespace":
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["ip", "netns", "del", self.name], timeout=10)


def partial_sync(state, first):
    """The sync after ``first`` when service 0's endpoints all change."""
    sl = state.endpoint_slices[0]
    moved = tuple(dataclasses.replace(e, addresses=(f"10.127.255.{i + 1}",))
                  for i, e in enumerate(sl.endpoints))
    changed = dataclasses.replace(
        state, endpoint_slices=(dataclasses.replace(sl, endpoints=moved),)
        + state.endpoint_slices[1:])
    return sync_nft(changed, "node", previous=first.state,
                    changed_services=frozenset({f"{sl.namespace}/{sl.service_name}"}))


def fit(xs: list[list[float]], t: list[float]) -> dict:
    """Least squares ``t = sum(coef * x)`` weighted by 1/t; a negative coefficient is dropped
    (the model must not shrink with size)."""
    x = np.array(xs, dtype=float)
    y = np.array(t, dtype=float)
    terms = list(range(x.shape[1]))
    while True:
        design = x[:, terms] / y[:, None]
        coef, *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
        neg = [k for k, c in zip(terms, coef) if c < 0]
        if not neg or len(terms) == 1:
            break
        terms = [k for k in terms if k != neg[-1]]
    full = [0.0] * x.shape[1]
    for k, c in zip(terms, coef):
        full[k] = float(c)
    pred = x @ np.array(full)
    rel = np.abs(pred - y) / y
    return {"coef": full, "max_rel_err": float(rel.max()),
            "median_rel_err": float(np.median(rel)), "points": len(t)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=170.0)
    parser.add_argument("--quick", action="store_true", help="N up to 1000 only")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--refit", action="store_true", help="fit the existing CSV again")
    args = parser.parse_args(argv)
    if args.refit:
        with open(args.out / "nft_times.csv") as f:
            rows = [{k: (v if k == "mode" else float(v)) for k, v in r.items()}
                    for r in csv.DictReader(f)]
        write_model(rows, args.out)
        return 0
    if os.geteuid() != 0 or shutil.which("nft") is None:
        print("skipped: needs root and nft", file=sys.stderr)
        return 2
    sizes = [10, 100, 300, 1000, 3000, 10000]
    if args.quick:
        sizes = [10, 100, 300, 1000]
    start = time.monotonic()
    rows: list[dict] = []
    for n in sizes:
        if time.monotonic() - start > args.budget_s * 0.6 and n > 1000:
            print(f"N={n}: skipped (budget)", flush=True)
            continue
        state, _ = _restore.cluster_state(n, 3)
        first = sync_nft(state, "node")
        second = partial_sync(state, first)
        full_tx, part_tx = first.transaction.render(), second.transaction.render()
        stats = transaction_stats(first.transaction)
        table = stats.rules + stats.elements
        repeats = 5 if n <= 300 else (3 if n <= 1000 else 1)
        for rep in range(repeats):
            with Namespace() as ns:
                full_s = ns.nft(full_tx)
                part_s = ns.nft(part_tx)
            for mode, tx, secs in (("full", first.transaction, full_s),
                                   ("partial", second.transaction, part_s)):
                rows.append({"mode": mode, "services": n, "endpoints": 3,
                             "lines": len(tx.commands), "table": table, "repeat": rep,
                             "seconds": round(secs, 6)})
        med = {m: statistics.median(r["seconds"] for r in rows
                                    if r["mode"] == m and r["services"] == n)
               for m in ("full", "partial")}
        print(f"N={n:6} full {len(first.transaction.commands):7} lines {med['full']:8.3f}s   "
              f"partial {len(second.transaction.commands):4} lines {med['partial']:7.3f}s "
              f"x{repeats}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "nft_times.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write_model(rows, args.out)
    return 0


def write_model(rows: list[dict], out: Path) -> None:
    """Fit the per-point medians of ``rows`` and write ``nft_model.json``."""
    points: dict[tuple[str, float], list[dict]] = {}
    for r in rows:
        points.setdefault((r["mode"], r["services"]), []).append(r)
    med_rows = [dict(v[0], seconds=statistics.median(x["seconds"] for x in v))
                for v in points.values()]
    full = [r for r in med_rows if r["mode"] == "full"]
    part = [r for r in med_rows if r["mode"] == "partial"]
    f_full = fit([[1.0, r["lines"], r["lines"] ** 2] for r in full], [r["seconds"] for r in full])
    per_line = f_full["coef"][1]
    f_part = fit([[1.0, r["table"], r["table"] ** 2] for r in part],
                 [r["seconds"] - per_line * r["lines"] for r in part])
    ver = subprocess.run(["nft", "--version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("nft") else "unknown"
    model = {
        "data": "nft_times.csv",
        "fit": "least squares weighted by 1/seconds over per-point medians",
        "full": {"model": "seconds = a + b*lines + c*lines**2", "a": f_full["coef"][0],
                 "b": per_line, "c": f_full["coef"][2],
                 "max_rel_err": f_full["max_rel_err"],
                 "median_rel_err": f_full["median_rel_err"], "points": f_full["points"],
                 "lines_max": int(max(r["lines"] for r in full))},
        "partial": {"model": "seconds = a + b*lines + d*table + e*table**2",
                    "a": f_part["coef"][0], "b": per_line, "d": f_part["coef"][1],
                    "e": f_part["coef"][2], "max_rel_err": f_part["max_rel_err"],
                    "median_rel_err": f_part["median_rel_err"], "points": f_part["points"],
                    "table_max": int(max(r["table"] for r in part))},
        "machine": {"cores": os.cpu_count(), "kernel": os.uname().release, "nft": ver},
    }
    (out / "nft_model.json").write_text(json.dumps(model, indent=2) + "\n")
    print(json.dumps(model, indent=2))


if __name__ == "__main__":
    sys.exit(main())
