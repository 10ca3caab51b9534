"""Running a sweep: executors, resumable per-point files, the assembled table.

Layout of ``<out>/<sweep>/<sweep_id>/``::

    manifest.json          sweep name, file, hash, grid, points (done/failed), versions,
                           machine, git commit, executor
    metrics.csv            tidy long format: sweep, sweep_id, point_id, every parameter,
                           metric, table, label, value (one observation a row)
    metrics.parquet        the same table (``--parquet``)
    failures.csv           point_id, every parameter, error
    points/<point_id>/     manifest.json (parameters, status, error, facts, versions) and
                           metrics.csv (metric, table, label, value) of one point

Each point's directory is written under a temporary name and renamed into place when the
point has finished (by the worker process itself with the local executor), and the sweep's
own files are written to a temporary file and renamed (``os.replace``); a sweep killed at any
moment (SIGKILL included) therefore leaves complete files only, and a rerun of the same sweep
file computes only the points that have no completed directory (a failed point is tried
again). The tables are rebuilt from the point directories at the end of every run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable

from sim.experiments.point import TIMING_METRICS, PointOutcome, measure_point
from sim.experiments.sweepfile import Point, Sweep
from sim.model.errors import SimError
from sim.scenario.results import PACKAGES as RESULT_PACKAGES, git_commit, versions

EXECUTORS = ("local", "dask")
ROW_FIELDS = ("metric", "table", "label", "value")
PACKAGES = ("pandas", "dask", "distributed", "tqdm", "pyarrow")


@dataclass
class SweepRun:
    """What :func:`run_sweep` did: the results directory and the point counts."""

    path: Path
    total: int
    skipped: int = 0
    done: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0


def _fmt(v: float) -> str:
    """Values as text that reads back to the same float (integers without ``.0``).

    >>> _fmt(3205.0), _fmt(0.25), _fmt(float("nan"))
    ('3205', '0.25', 'nan')
    """
    if v == v and v not in (float("inf"), float("-inf")) and float(v).is_integer():
        return str(int(v))
    return repr(float(v))


def _atomic_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _machine() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.machine(), "cpus": os.cpu_count()}


def _versions() -> dict:
    """The run's package versions plus the sweep machinery's."""
    return versions(RESULT_PACKAGES + PACKAGES)


def point_status(point_dir: Path) -> str | None:
    """``ok``, ``failed`` or None (not computed) for a point directory."""
    m = point_dir / "manifest.json"
    if not m.is_file():
        return None
    try:
        return json.loads(m.read_text()).get("status")
    except (OSError, ValueError):
        return None


def write_point(points_dir: Path, point: Point, outcome: PointOutcome, commit: str,
                vers: dict) -> Path:
    """Write one point's directory atomically (temporary directory, then rename)."""
    d = points_dir / point.point_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{point.point_id}.", suffix=".tmp", dir=points_dir))
    try:
        tmp.chmod(0o755)
        manifest = {"sweep": point.sweep, "point_id": point.point_id, "parameters": point.params,
                    "kubeProxy": point.kube_proxy, "cluster": None if point.scenario else point.cluster,
                    "measure": point.measure, "status": "failed" if outcome.error else "ok",
                    "error": outcome.error, "facts": outcome.facts, "git_commit": commit,
                    "versions": vers, "machine": _machine()}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(ROW_FIELDS)
        for metric, table, label, value in outcome.rows:
            w.writerow((metric, table, label, _fmt(value)))
        (tmp / "metrics.csv").write_text(buf.getvalue())
        if d.exists():  # a failed point tried again: swap the old directory out
            old = Path(tempfile.mkdtemp(prefix=f".{point.point_id}.", suffix=".old", dir=points_dir))
            os.rename(d, old / d.name)
            os.rename(tmp, d)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, d)
        tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return d


def measure_and_write(point: Point, points_dir: Path, commit: str, vers: dict) -> PointOutcome:
    """Measure ``point`` and write its directory (in the worker: a point is on disk the
    moment it is finished, whatever happens to the process that asked for it)."""
    outcome = measure_point(point)
    write_point(points_dir, point, outcome, commit, vers)
    return outcome


def _local(points: list[Point], jobs: int, points_dir: Path, commit: str,
           vers: dict) -> Iterable[tuple[Point, PointOutcome, bool]]:
    """Worker processes (fork): each point in one of ``jobs`` processes, which writes it."""
    pool = ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=get_context("fork"))
    finished = False
    try:
        futures = {pool.submit(measure_and_write, p, points_dir, commit, vers): p for p in points}
        for fut in as_completed(futures):
            p = futures[fut]
            try:
                yield p, fut.result(), True
            except Exception as exc:  # the worker process died (killed, out of memory)
                yield p, PointOutcome([], {}, f"worker failed: {type(exc).__name__}: {exc}"), False
        finished = True
    finally:
        # Interrupted: drop the queued points instead of waiting for them all.
        pool.shutdown(wait=finished, cancel_futures=not finished)


def _dask(points: list[Point], jobs: int, scheduler: str | None,
          client=None) -> Iterable[tuple[Point, PointOutcome, bool]]:
    """A Dask cluster at ``scheduler`` (``tcp://HOST:PORT``), a given ``distributed.Client``,
    or a ``LocalCluster`` of ``jobs`` single-threaded worker processes. Workers return the
    outcome and this process writes it (a remote worker need not see the results
    directory)."""
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = own = None
    try:
        if client is None:
            if scheduler:
                try:
                    own = Client(scheduler, timeout="10s")
                except (OSError, TimeoutError) as exc:
                    raise SimError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
            else:
                cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
                own = Client(cluster)
            client = own
        futures = client.map(measure_point, points, key=[f"point-{p.point_id}" for p in points],
                             pure=False)
        by_key = {f.key: p for f, p in zip(futures, points)}
        for fut in dask_completed(futures):
            p = by_key[fut.key]
            try:
                outcome = fut.result()
            except Exception as exc:  # worker lost
                outcome = PointOutcome([], {}, f"worker failed: {type(exc).__name__}: {exc}")
            yield p, outcome, False
    finally:
        if own is not None:
            own.close()
        if cluster is not None:
            cluster.close()


def run_sweep(sweep: Sweep, out_root: str | Path, executor: str = "local", jobs: int = 1,
              scheduler: str | None = None, parquet: bool = False, progress: bool = True,
              client=None) -> SweepRun:
    """Run every point of ``sweep`` not yet completed under ``out_root`` and write the tables.

    Raises
    ------
    SimError
        Unknown executor, unwritable results directory, unreachable scheduler.
    """
    if executor not in EXECUTORS:
        raise SimError(f"--executor: Unsupported value: {executor!r}: supported values: "
                       + ", ".join(f'"{e}"' for e in EXECUTORS))
    t0 = time.perf_counter()
    d = Path(out_root) / sweep.name / sweep.sweep_id
    points_dir = d / "points"
    try:
        points_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimError(f"cannot write results to {d}: {exc.strerror or exc}") from None
    for stale in [*points_dir.glob(".*.tmp"), *points_dir.glob(".*.old"), *d.glob(".*.tmp")]:
        # left by a run killed while writing (never a completed point: those are renamed)
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    points = sweep.points()
    todo = [p for p in points if point_status(points_dir / p.point_id) != "ok"]
    run = SweepRun(d, len(points), skipped=len(points) - len(todo))
    commit = git_commit(Path(__file__).resolve().parent)
    vers = _versions()
    _write_manifest(sweep, d, points, executor, jobs, scheduler, commit, vers, running=True)
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(points), initial=run.skipped, unit="point", desc=sweep.name,
                   dynamic_ncols=True)
        bar.set_postfix(failed=0)
    try:
        if todo:
            source = (_local(todo, jobs, points_dir, commit, vers) if executor == "local"
                      else _dask(todo, jobs, scheduler, client))
            for p, outcome, written in source:
                if not written:
                    write_point(points_dir, p, outcome, commit, vers)
                if outcome.error:
                    run.failed[p.point_id] = outcome.error
                else:
                    run.done += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(failed=len(run.failed))
    finally:
        if bar is not None:
            bar.close()
    assemble(sweep, d, points, parquet)
    _write_manifest(sweep, d, points, executor, jobs, scheduler, commit, vers, running=False)
    run.wall_s = time.perf_counter() - t0
    return run


def _write_manifest(sweep: Sweep, d: Path, points: list[Point], executor: str, jobs: int,
                    scheduler: str | None, commit: str, vers: dict, running: bool) -> None:
    statuses = {p.point_id: point_status(d / "points" / p.point_id) for p in points}
    manifest = {
        "sweep": {"name": sweep.name, "path": str(sweep.path), "sha256": sweep.sha256,
                  "sweep_id": sweep.sweep_id},
        "base": {"scenario": sweep.scenario} if sweep.scenario else {"cluster": sweep.cluster},
        "kubeProxy": sweep.kube_proxy,
        "grid": sweep.grid,
        "measure": sweep.measure,
        "points": {"total": len(points),
                   "ok": sum(1 for s in statuses.values() if s == "ok"),
                   "failed": sorted(k for k, s in statuses.items() if s == "failed"),
                   "missing": sorted(k for k, s in statuses.items() if s is None)},
        "running": running,
        "timingMetrics": sorted(TIMING_METRICS),
        "executor": {"name": executor, "jobs": jobs, "scheduler": scheduler},
        "git_commit": commit,
        "versions": vers,
        "machine": _machine(),
    }
    _atomic_text(d / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")


def assemble(sweep: Sweep, d: Path, points: list[Point], parquet: bool = False) -> None:
    """Rebuild ``metrics.csv`` (and ``metrics.parquet``) and ``failures.csv`` from the point
    directories, in grid order."""
    param_cols = list(points[0].params) if points else []
    head = ["sweep", "sweep_id", "point_id", *param_cols, *ROW_FIELDS]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    fbuf = io.StringIO()
    fw = csv.writer(fbuf, lineterminator="\n")
    fw.writerow(["point_id", *param_cols, "error"])
    for p in points:
        pd_ = d / "points" / p.point_id
        status = point_status(pd_)
        prefix = [sweep.name, sweep.sweep_id, p.point_id, *(p.params[c] for c in param_cols)]
        if status == "ok":
            with open(pd_ / "metrics.csv", newline="") as f:
                for row in csv.DictReader(f):
                    w.writerow(prefix + [row[k] for k in ROW_FIELDS])
        elif status == "failed":
            err = json.loads((pd_ / "manifest.json").read_text()).get("error")
            fw.writerow([p.point_id, *(p.params[c] for c in param_cols), err])
    _atomic_text(d / "metrics.csv", buf.getvalue())
    _atomic_text(d / "failures.csv", fbuf.getvalue())
    if parquet:
        import pandas as pd
        df = pd.read_csv(io.StringIO(buf.getvalue()), keep_default_na=False,
                         na_values={"value": ["nan"]})
        fd, tmp = tempfile.mkstemp(prefix=".metrics.parquet.", suffix=".tmp", dir=d)
        os.close(fd)
        try:
            df.to_parquet(tmp, index=False)
            os.chmod(tmp, 0o644)
            os.replace(tmp, d / "metrics.parquet")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
