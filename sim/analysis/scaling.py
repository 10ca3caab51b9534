"""The standard scaling figures of a sweep (matplotlib; ``kube-netsim plot`` writes them).

One figure per entry of :data:`sim.analysis.sweeps.STANDARD_CURVES`: one line per proxy mode
(and per label, e.g. p50 and p99, told apart by line style), log axes where the values span
more than a decade, axis labels with units, and the fitted growth law of each line in the
legend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.sweeps import STANDARD_CURVES, curve, fit_growth, law_label

STYLES = ("-", "--", ":", "-.")
MODE_COLOURS = {"iptables": "tab:blue", "nftables": "tab:orange", "ipvs": "tab:green",
                "userspace": "tab:red"}


def spans_decades(values) -> bool:
    """True when the positive ``values`` span more than a factor of ten (use a log axis).

    >>> spans_decades([10, 100, 1000]), spans_decades([0.5, 0.9])
    (True, False)
    """
    v = np.asarray([x for x in values if x > 0], dtype=float)
    return bool(len(v) > 1 and v.max() / v.min() > 10)


def plot_curve(df: pd.DataFrame, ax, x: str, y: str, labels, title: str, xlabel: str,
               ylabel: str) -> pd.DataFrame:
    """Draw one standard curve on ``ax``; returns the plotted points (``mode, label, x, y``)."""
    plotted = []
    for li, label in enumerate(labels):
        c = curve(df, x, y, label)
        for mode, g in c.groupby("mode"):
            fit = fit_growth(g[x], g[y])
            name = f"{mode}" + (f" {label}" if label else "") + f": {law_label(fit)}"
            ax.plot(g[x], g[y], STYLES[li % len(STYLES)], marker="o",
                    color=MODE_COLOURS.get(mode), label=name)
            plotted.append(g.assign(label=label))
    if not plotted:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
        return pd.DataFrame(columns=["mode", x, y, "label"])
    pts = pd.concat(plotted, ignore_index=True)
    if spans_decades(pts[x]):
        ax.set_xscale("log")
    if spans_decades(pts[y]):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return pts


def plot_standard(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write every standard figure of ``df`` as PNG and SVG into ``out_dir``; the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, x, y, labels, title, xlabel, ylabel in STANDARD_CURVES:
        fig = Figure(figsize=(7, 4.5))
        ax = fig.add_subplot()
        plot_curve(df, ax, x, y, labels, title, xlabel, ylabel)
        fig.tight_layout()
        for ext in ("png", "svg"):
            p = out / f"{stem}.{ext}"
            fig.savefig(p, dpi=110)
            written.append(p)
    return written
