"""Plots of one run (matplotlib; callers pass the axes, nothing is shown or saved here)."""

from __future__ import annotations

from sim.analysis.results import RunData, outcome_timeline, programming_latencies

OUTCOME_COLOURS = {"ok": "tab:green", "refused": "tab:orange", "timeout": "tab:red",
                   "unresolved": "tab:grey"}


def plot_outcomes(run: RunData, ax, bin_s: float = 0.5, flow: str | None = None) -> None:
    """Stacked bars of connection outcomes per time bin."""
    series = outcome_timeline(run, bin_s, flow)
    xs = [t for t, _ in series]
    bottom = [0] * len(series)
    for outcome, colour in OUTCOME_COLOURS.items():
        ys = [counts.get(outcome, 0) for _, counts in series]
        if any(ys):
            ax.bar(xs, ys, width=bin_s, bottom=bottom, align="edge", color=colour, label=outcome)
            bottom = [b + y for b, y in zip(bottom, ys)]
    ax.set_xlabel("connection start (simulated s)")
    ax.set_ylabel(f"connections per {bin_s:g} s")
    ax.legend()


def plot_programming_cdf(run: RunData, ax) -> None:
    """Empirical CDF of network programming latency (all nodes)."""
    vals = programming_latencies(run)
    n = len(vals)
    ax.step([v * 1000 for v in vals], [(i + 1) / n for i in range(n)], where="post")
    ax.set_xlabel("network programming latency (ms)")
    ax.set_ylabel("fraction of (change, node)")
    ax.set_ylim(0, 1.05)
