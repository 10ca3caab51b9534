"""Reading a sweep's table and deriving scaling curves, growth laws and regressions.

Every function returns a :class:`pandas.DataFrame` (what a Jupyter user works with). The
table is the tidy long format ``kube-netsim sweep`` writes (``metrics.csv``: the point's
parameters on every row, then ``metric, table, label, value``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# Published anchors (notebooks/02-scaling.ipynb, README): kube-proxy's NAT rule count for S
# ClusterIP Services of E endpoints (upstream's regression test pins 5 + S(2 + 3E)), and the
# 2017 figures (Huawei at KubeCon: 5,000 Services -> 40,000 rules; adding one rule at a time
# with `iptables` took 11 minutes at that size).
ANCHOR_2017 = {"services": 5000, "rules": 40000, "add_one_rule_at_a_time_s": 11 * 60}

# The curves `kube-netsim plot` draws: (file stem, x metric, y metric, labels, title, x axis,
# y axis). "services" as x is the parameter column; any other x is a metric.
STANDARD_CURVES = (
    ("rules-vs-services", "services", "rules_total", ("",), "Kernel rules vs Services",
     "Services", "rules in the node's kernel program (count)"),
    ("walk-vs-services", "services", "first_packet_walk_length", ("p50", "last"),
     "First-packet walk vs Services", "Services", "rules evaluated by a first packet (count)"),
    ("sync-vs-rules", "rules_total", "sync_proxy_rules_duration_seconds", ("full", "partial"),
     "Modelled sync (restore) time vs rules", "rules in the node's kernel program (count)",
     "sync time (s)"),
    ("programming-latency-vs-services", "services", "network_programming_duration_seconds",
     ("p50", "p99"), "Network programming latency vs Services", "Services", "latency (s)"),
    ("new-connections-vs-services", "services", "engine_new_connections_per_cpu_second", ("",),
     "Engine new connections vs Services", "Services", "new connections per CPU-second (1/s)"),
)


def rule_law(services, endpoints):
    """kube-proxy's nat rule count for ClusterIP Services: ``5 + S(2 + 3E)``.

    >>> rule_law(5000, 10)
    160005
    """
    return 5 + services * (2 + 3 * endpoints)


def results_dir(path: str | Path) -> Path:
    """The directory holding ``metrics.csv``: ``path`` itself, or under ``results/<sweep>/``
    the most recently written ``<sweep_id>``."""
    p = Path(path)
    if p.is_file():
        return p.parent
    if (p / "metrics.csv").is_file():
        return p
    runs = sorted((q for q in p.glob("*/metrics.csv")), key=lambda q: q.stat().st_mtime) if p.is_dir() else []
    if not runs:
        raise FileNotFoundError(f"no sweep results (metrics.csv) at {p}")
    return runs[-1].parent


def load_sweep_table(path: str | Path) -> pd.DataFrame:
    """The long-format table of a sweep (``metrics.csv``), ``value`` as float."""
    d = results_dir(path)
    df = pd.read_csv(d / "metrics.csv", keep_default_na=False, na_values={"value": ["nan"]},
                     dtype={"table": str, "label": str, "point_id": str, "sweep_id": str})
    df["value"] = df["value"].astype(float)
    return df


def load_sweep_manifest(path: str | Path) -> dict:
    """The sweep's ``manifest.json``."""
    return json.loads((results_dir(path) / "manifest.json").read_text())


def parameter_columns(df: pd.DataFrame) -> list[str]:
    """The parameter columns of a sweep table (everything between point_id and metric)."""
    cols = list(df.columns)
    return cols[cols.index("point_id") + 1:cols.index("metric")]


def metric(df: pd.DataFrame, name: str, label: str | None = None,
           table: str | None = None) -> pd.DataFrame:
    """Rows of one metric (and label/table), parameters and ``value``."""
    sel = df["metric"] == name
    if label is not None:
        sel &= df["label"].astype(str) == label
    if table is not None:
        sel &= df["table"].astype(str) == table
    return df[sel].reset_index(drop=True)


def wide(df: pd.DataFrame) -> pd.DataFrame:
    """One row per point, one column per ``metric[label]`` (``metric{table}`` per table)."""
    key = df["metric"] + df.apply(
        lambda r: (f"{{{r['table']}}}" if r["table"] not in ("", "all") else "")
        + (f"[{r['label']}]" if r["label"] else ""), axis=1)
    params = ["point_id", *parameter_columns(df)]
    out = df.assign(column=key).pivot_table(index=params, columns="column", values="value",
                                            aggfunc="first")
    return out.reset_index()


def curve(df: pd.DataFrame, x: str, y: str, label: str = "", table: str | None = None,
          by: tuple[str, ...] = ("mode",)) -> pd.DataFrame:
    """``y`` against ``x`` for each group of ``by`` (mean over seeds): columns ``*by, x, y``.

    ``x`` is a parameter column (``services``) or another metric (``rules_total``).
    """
    ys = metric(df, y, label, table)
    params = parameter_columns(df)
    if x in params:
        pts = ys[[*by, x, "value"]].rename(columns={"value": y})
    else:
        xs = metric(df, x)[["point_id", "value"]].rename(columns={"value": x})
        pts = ys.merge(xs, on="point_id")[[*by, x, "value"]].rename(columns={"value": y})
    pts = pts.dropna(subset=[y])
    return pts.groupby([*by, x], as_index=False)[y].mean().sort_values([*by, x]).reset_index(drop=True)


@dataclass(frozen=True)
class GrowthFit:
    """``y ~ c * x**exponent`` fitted on log-log axes, and its class."""

    exponent: float
    coefficient: float
    law: str


def growth_class(exponent: float) -> str:
    """The class of a log-log slope: ``constant`` (< 0.5), ``linear`` (< 1.5), ``quadratic``
    (< 2.5), else ``cubic or worse``; negative slopes below -0.5 are ``decreasing``.

    >>> [growth_class(e) for e in (-1.0, 0.1, 1.02, 1.9, 3.2)]
    ['decreasing', 'constant', 'linear', 'quadratic', 'cubic or worse']
    """
    if math.isnan(exponent):
        return "n/a"
    if exponent < -0.5:
        return "decreasing"
    if exponent < 0.5:
        return "constant"
    if exponent < 1.5:
        return "linear"
    if exponent < 2.5:
        return "quadratic"
    return "cubic or worse"


def fit_growth(x, y) -> GrowthFit:
    """``y ~ c * x**k`` fitted by least squares on log-log axes over the upper half of the
    positive points (``x`` at or above the median, at least two points): the growth at the
    large end, where fixed costs (bootstrap rules, the restore's intercept) no longer hide it.

    >>> f = fit_growth([10, 100, 1000, 10000], [35, 3205, 320005, 32000005])
    >>> round(f.exponent, 2), f.law
    (2.0, 'quadratic')
    >>> fit_growth([10, 100, 1000, 10000], [33, 120, 1015, 10021]).law
    'linear'
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (xa > 0) & (ya > 0) & np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    if len(set(xa)) < 2:
        return GrowthFit(float("nan"), float("nan"), "n/a")
    upper = xa >= np.median(xa)
    if len(set(xa[upper])) < 2:
        upper = xa >= np.sort(np.unique(xa))[-2]
    slope, icpt = np.polyfit(np.log10(xa[upper]), np.log10(ya[upper]), 1)
    return GrowthFit(float(slope), float(10 ** icpt), growth_class(float(slope)))


def growth_laws(df: pd.DataFrame, curves=STANDARD_CURVES, by: tuple[str, ...] = ("mode",)) -> pd.DataFrame:
    """The fitted growth law of every standard curve and group: ``curve, label, *by,
    exponent, coefficient, law, points``."""
    rows = []
    for stem, x, y, labels, *_ in curves:
        for label in labels:
            c = curve(df, x, y, label, by=by)
            for key, g in c.groupby(list(by)):
                fit = fit_growth(g[x], g[y])
                key = key if isinstance(key, tuple) else (key,)
                rows.append({"curve": stem, "metric": y, "label": label,
                             **dict(zip(by, key)), "exponent": fit.exponent,
                             "coefficient": fit.coefficient, "law": fit.law, "points": len(g)})
    return pd.DataFrame(rows)


def law_label(fit: GrowthFit) -> str:
    """Legend text of a fitted law: ``~ 32 x^1.00 (linear)``."""
    if fit.law == "n/a":
        return "(too few points to fit)"
    return f"~ {fit.coefficient:.3g}·x^{fit.exponent:.2f} ({fit.law})"


def compare(baseline: pd.DataFrame, now: pd.DataFrame, timing_metrics: set[str],
            tolerance: float = 3.0, min_seconds: float = 0.02,
            by: tuple[str, ...] = ("mode",)) -> pd.DataFrame:
    """What moved between two runs of the same sweep: one row per finding with ``check``
    (``exact``, ``timing``, ``growth``, ``missing``), ``where``, ``metric``, ``baseline``,
    ``now``, ``detail`` and ``ok``.

    * every metric not in ``timing_metrics`` must be identical (counts, walk lengths, the
      modelled and simulated times: they are deterministic);
    * a timing is divided by the reference micro-benchmark of its own point
      (``reference_benchmark_seconds``; rates are inverted first), and that ratio may move
      by at most a factor ``tolerance`` between the runs; timings under ``min_seconds`` in
      both runs are too short to compare and are skipped;
    * the growth law (log-log slope class) of every standard curve of deterministic
      metrics must stay the same (timing curves are left to the ratio check).
    """
    params = [c for c in parameter_columns(baseline) if c in now.columns]
    key = [*params, "metric", "table", "label"]
    b = baseline[[*key, "value"]].astype({"table": str, "label": str})
    n = now[[*key, "value"]].astype({"table": str, "label": str})
    m = b.merge(n, on=key, how="outer", suffixes=("_baseline", "_now"), indicator="merge")
    ref_b = metric(baseline, "reference_benchmark_seconds").set_index(params)["value"]
    ref_n = metric(now, "reference_benchmark_seconds").set_index(params)["value"]
    # A point is named by the parameters that vary in the sweep (all of them if none does).
    varying = [p for p in params if baseline[p].nunique() > 1] or params
    rows = []
    for rd in m.to_dict("records"):
        where = ", ".join(f"{p}={rd[p]}" for p in varying)
        name = rd["metric"] + (f"{{{rd['table']}}}" if rd["table"] not in ("", "all") else "") \
            + (f"[{rd['label']}]" if rd["label"] else "")
        vb, vn = rd["value_baseline"], rd["value_now"]
        if rd["merge"] != "both":
            rows.append(dict(check="missing", where=where, metric=name, baseline=vb, now=vn,
                             detail="only in the " + ("baseline" if rd["merge"] == "left_only" else "new run"),
                             ok=False))
            continue
        base_metric = rd["metric"]
        if base_metric in ("reference_benchmark_seconds", "peak_rss_bytes", "point_wall_seconds",
                           "point_cpu_seconds"):
            continue
        if base_metric not in timing_metrics:
            same = (vb == vn) or (math.isnan(vb) and math.isnan(vn)) or \
                (abs(vb - vn) <= 1e-9 * max(abs(vb), abs(vn)))
            if not same:
                rows.append(dict(check="exact", where=where, metric=name, baseline=vb, now=vn,
                                 detail=f"changed x{vn / vb:.3g}" if vb else "changed", ok=False))
            continue
        pkey = tuple(rd[p] for p in params) if len(params) > 1 else rd[params[0]]
        rb, rn = ref_b.get(pkey), ref_n.get(pkey)
        if not rb or not rn or not vb or not vn:
            continue
        if base_metric.endswith("_per_cpu_second"):
            sb, sn = 1.0 / vb, 1.0 / vn
        else:
            sb, sn = vb, vn
            if sb < min_seconds and sn < min_seconds:
                continue
        moved = (sn / rn) / (sb / rb)
        ok = 1.0 / tolerance <= moved <= tolerance
        rows.append(dict(check="timing", where=where, metric=name, baseline=vb, now=vn,
                         detail=f"x{moved:.2f} relative to the reference benchmark (tolerance x{tolerance:g})",
                         ok=ok))
    # Growth classes of the deterministic curves only: a timing's slope over a small grid is
    # noise (its level is checked above, as a ratio).
    curves = [c for c in STANDARD_CURVES if c[1] not in timing_metrics and c[2] not in timing_metrics]
    lb = growth_laws(baseline, curves, by=by)
    ln = growth_laws(now, curves, by=by)
    if not lb.empty and not ln.empty:
        g = lb.merge(ln, on=["curve", "label", *by], suffixes=("_baseline", "_now"))
        for rd in g.to_dict("records"):
            ok = rd["law_baseline"] == rd["law_now"]
            rows.append(dict(check="growth", where=", ".join(f"{k}={rd[k]}" for k in by),
                             metric=f"{rd['curve']}[{rd['label']}]" if rd["label"] else rd["curve"],
                             baseline=rd["exponent_baseline"], now=rd["exponent_now"],
                             detail=f"{rd['law_baseline']} -> {rd['law_now']}" if not ok
                             else f"{rd['law_now']} (slope {rd['exponent_baseline']:.2f} -> {rd['exponent_now']:.2f})",
                             ok=ok))
    return pd.DataFrame(rows, columns=["check", "where", "metric", "baseline", "now", "detail", "ok"])


def restore_calibration(path: str | Path) -> pd.DataFrame:
    """The kernel's measured ``iptables-restore`` times (``sim/world/calibration/
    restore_times.csv``): median seconds per backend, mode and rule count."""
    df = pd.read_csv(path)
    return (df.groupby(["backend", "mode", "rules"], as_index=False)["seconds"].median()
            .sort_values(["backend", "mode", "rules"]).reset_index(drop=True))
