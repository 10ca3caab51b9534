"""How long ``iptables-restore`` takes to load a payload: a model fitted to measurements.

kube-proxy's sync time is dominated by ``iptables-restore`` for large clusters (the upstream
``sync_proxy_rules_duration_seconds`` histogram). The world charges each sync a duration that
grows with the number of rule lines written.

The calibration (``sim/world/calibration/restore_model.json`` and the measurements in
``restore_times.csv``, written by the kernel-oracle harness ``benchmarks/calibrate_restore.py``)
fits ``seconds = a + b*rules + c*rules**2`` per backend (``legacy``/``nft``) and mode. kube-proxy
restores with ``--noflush``, so the ``<backend>/noflush`` fit is used. Without the file the
fallback below is used and :attr:`RestoreModel.source` says so; its figures are the
full-restore timings in ``shared/notes/kernel-oracle.md`` (legacy: 1.25 s for 10,000 Services
of 3 endpoints, about 110,000 rules; nft: 3.6 s).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sim.model.errors import SimError, quote

CALIBRATION = Path(__file__).resolve().parent / "calibration" / "restore_model.json"

# Fallback fits (intercept s, seconds per rule line, 0) from the notes' full-restore figures.
_FALLBACK: dict[str, tuple[float, float, float]] = {
    "legacy": (0.004, 1.1e-5, 0.0),
    "nft": (0.03, 3.3e-5, 0.0),
}


@dataclass(frozen=True, slots=True)
class RestoreModel:
    """``duration = a + b * rules + c * rules**2`` for one backend."""

    backend: str
    a: float
    b: float
    c: float
    source: str

    def duration_s(self, rules: int) -> float:
        """Modelled restore time for a payload of ``rules`` rule lines.

        >>> RestoreModel("legacy", 0.001, 1e-5, 0.0, "example").duration_s(1000)
        0.011
        """
        return self.a + self.b * rules + self.c * rules * rules


def load_restore_model(backend: str = "legacy", path: Path = CALIBRATION) -> RestoreModel:
    """The restore model for ``backend``: the calibration's ``<backend>/noflush`` fit when the
    file has one, else the documented fallback."""
    if backend not in _FALLBACK:
        raise SimError(f"spec.network.restoreBackend: Unsupported value: {quote(backend)}: "
                       f"supported values: {', '.join(sorted(_FALLBACK))}")
    if path.exists():
        fit = json.loads(path.read_text()).get("fits", {}).get(f"{backend}/noflush")
        if fit is not None:
            return RestoreModel(backend, float(fit["a"]), float(fit["b"]), float(fit.get("c", 0.0)),
                                f"calibration {path.name} ({backend}/noflush, "
                                f"{fit.get('points', '?')} points up to {fit.get('rules_max', '?')} rules)")
    a, b, c = _FALLBACK[backend]
    return RestoreModel(backend, a, b, c, "fallback (shared/notes/kernel-oracle.md figures)")
