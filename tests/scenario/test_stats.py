"""Chi-square survival function and uniformity test (checked against scipy)."""

import pytest
from scipy import stats as sps

from sim.scenario.stats import chi2_sf, chi2_uniform, percentile


@pytest.mark.parametrize("x,dof", [(0.01, 1), (0.5, 1), (3.0, 2), (10.0, 3), (50.0, 9),
                                   (100.0, 99), (200.0, 99), (1500.0, 999)])
def test_chi2_sf_matches_scipy(x, dof):
    """Series and continued-fraction branches agree with scipy to 1e-9 relative."""
    assert chi2_sf(x, dof) == pytest.approx(sps.chi2.sf(x, dof), rel=1e-9, abs=1e-300)


def test_chi2_uniform_matches_scipy_chisquare():
    """Statistic and p-value equal scipy.stats.chisquare against uniform expectations."""
    counts = [30, 22, 25, 23]
    stat, p = chi2_uniform(counts)
    ref = sps.chisquare(counts)
    assert (stat, p) == pytest.approx((ref.statistic, ref.pvalue))


def test_percentile_interpolates_linearly():
    """p50 of 1..4 is 2.5 (numpy's linear method)."""
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
