"""``kube-netsim plot RESULTS [--out DIR]``: the standard scaling figures of a sweep."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.analysis.scaling import plot_standard
from sim.analysis.sweeps import growth_laws, load_sweep_table, results_dir
from sim.model.errors import SimError

HELP = "draw the standard scaling figures (PNG and SVG) of a sweep's results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="a sweep's results directory (results/<sweep>/<sweep_id>, "
                                        "or results/<sweep> for the latest)")
    parser.add_argument("--out", default=None, help="figure directory (default: RESULTS/figures)")


def run(args: argparse.Namespace) -> int:
    try:
        d = results_dir(args.results)
    except FileNotFoundError as exc:
        raise SimError(str(exc)) from None
    df = load_sweep_table(d)
    if df.empty:
        raise SimError(f"{d}/metrics.csv: no completed points to plot")
    out = Path(args.out) if args.out else d / "figures"
    paths = plot_standard(df, out)
    laws = growth_laws(df)
    if not laws.empty:
        print(laws[["curve", "label", "mode", "exponent", "law", "points"]].to_string(index=False))
    print(f"figures: {out} ({len(paths)} files)")
    return 0
