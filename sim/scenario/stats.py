"""Small statistics for expectations, on numpy only (scipy is a test dependency).

The chi-square survival function is the regularised upper incomplete gamma function
Q(k/2, x/2), computed by its series for x < a + 1 and by Lentz's continued fraction otherwise
(the textbook method, e.g. Numerical Recipes ``gammq``); ``tests/scenario/test_stats.py``
checks it against ``scipy.stats.chi2.sf``.
"""

from __future__ import annotations

import math

import numpy as np

_EPS = 1e-15
_TINY = 1e-300


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    ap = a
    for _ in range(10000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X ~ chi-square with ``dof`` degrees of freedom.

    >>> round(chi2_sf(3.841458820694124, 1), 6)
    0.05
    """
    if x <= 0:
        return 1.0
    a = dof / 2.0
    half = x / 2.0
    if half < a + 1.0:
        return 1.0 - _gamma_p_series(a, half)
    return _gamma_q_fraction(a, half)


def chi2_uniform(counts: list[int]) -> tuple[float, float]:
    """Pearson's chi-square statistic of ``counts`` against a uniform split, and its p-value.

    >>> stat, p = chi2_uniform([25, 25, 25, 25])
    >>> stat, p
    (0.0, 1.0)
    """
    obs = np.asarray(counts, dtype=float)
    n = obs.sum()
    k = len(obs)
    if k < 2 or n == 0:
        return 0.0, 1.0
    expected = n / k
    stat = float(((obs - expected) ** 2).sum() / expected)
    return stat, chi2_sf(stat, k - 1)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation, numpy's default)."""
    return float(np.percentile(np.asarray(values, dtype=float), q))
