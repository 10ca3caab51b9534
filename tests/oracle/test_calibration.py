"""The restore-time calibration data (sim/world/calibration) is complete and self-consistent."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

CAL = Path(__file__).resolve().parents[2] / "sim" / "world" / "calibration"
KEYS = ("legacy/full", "legacy/noflush", "nft/full", "nft/noflush")


def _model() -> dict:
    return json.loads((CAL / "restore_model.json").read_text())


def _medians() -> dict[str, list[tuple[int, float]]]:
    runs: dict[tuple[str, int], list[float]] = {}
    with open(CAL / "restore_times.csv", newline="") as f:
        for row in csv.DictReader(f):
            runs.setdefault((f"{row['backend']}/{row['mode']}", int(row["rules"])), []).append(
                float(row["seconds"]))
    out: dict[str, list[tuple[int, float]]] = {}
    for (key, rules), times in sorted(runs.items()):
        out.setdefault(key, []).append((rules, statistics.median(times)))
    return out


def test_every_backend_and_mode_is_fitted():
    """Both backends in both modes have a fit with non-negative coefficients, and the
    ``models`` list sim.world loads names kube-proxy's mode (noflush) first per backend."""
    model = _model()
    assert sorted(model["fits"]) == list(KEYS)
    for fit in model["fits"].values():
        assert min(fit["a"], fit["b"], fit["c"]) >= 0
    first = {}
    for item in model["models"]:
        first.setdefault(item["backend"], item["mode"])
    assert first == {"legacy": "noflush", "nft": "noflush"}


def test_fit_reproduces_the_measured_medians():
    """Each fit predicts every measured median within the error it records, and the data
    spans at least two orders of magnitude of rule counts."""
    model, medians = _model(), _medians()
    for key in KEYS:
        fit = model["fits"][key]
        points = medians[key]
        assert points[-1][0] >= 100 * points[0][0]
        for rules, seconds in points:
            predicted = fit["a"] + fit["b"] * rules + fit["c"] * rules ** 2
            assert abs(predicted - seconds) / seconds <= fit["max_rel_err"] + 1e-9


def test_nft_noflush_grows_faster_than_linearly():
    """nft --noflush costs well over twice as much per rule at 33,000 rules as at 11,000
    (its quadratic term matters), unlike legacy full restores."""
    medians = _medians()

    def per_rule(key: str, near: int) -> float:
        rules, seconds = min(medians[key], key=lambda p: abs(p[0] - near))
        return seconds / rules

    assert per_rule("nft/noflush", 33000) > 2.5 * per_rule("nft/noflush", 11000)
    assert per_rule("legacy/full", 33000) < 2 * per_rule("legacy/full", 11000)
