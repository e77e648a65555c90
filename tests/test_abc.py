"""Rejection ABC with the regression adjustment (sim/abc.py), checked on a model whose
posterior is known in closed form: a normal mean with known variance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from sim.abc import TooFewDrawsError, accepted, distances, regression_adjust, rejection_abc

PRIOR_SD, NOISE_SD, OBSERVED = 2.0, 1.0, 1.5
# conjugate normal: precision adds, the mean is the precision-weighted observation
POST_VAR = 1.0 / (1.0 / PRIOR_SD**2 + 1.0 / NOISE_SD**2)
POST_MEAN = POST_VAR * OBSERVED / NOISE_SD**2


def _simulations(n: int, seed: int):
    """theta from the prior, its statistic (a sample mean with variance NOISE_SD^2), and a
    second parameter the statistic does not depend on."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, PRIOR_SD, (n, 2))
    stat = theta[:, 0] + rng.normal(0.0, NOISE_SD, n)
    return theta, stat


@pytest.fixture(scope="module")
def posterior():
    theta, stat = _simulations(1_000_000, seed=1)
    return rejection_abc(theta, stat, OBSERVED, scale=1.0, accept=0.01)


def test_the_adjusted_posterior_is_the_analytic_one_within_monte_carlo_error(posterior):
    ess = posterior.effective_sample_size
    assert 0.5 * len(posterior.index) < ess < len(posterior.index)
    sd = np.sqrt(POST_VAR)
    mean_se, sd_se = sd / np.sqrt(ess), sd / np.sqrt(2 * ess)
    assert abs(posterior.mean()[0] - POST_MEAN) < 4 * mean_se
    assert abs(posterior.std()[0] - sd) < 4 * sd_se
    for q in (0.05, 0.5, 0.95):
        exact = st.norm.ppf(q, POST_MEAN, sd)
        # a quantile's SE: sqrt(q (1 - q) / ess) / density at it
        se = np.sqrt(q * (1 - q) / ess) / st.norm.pdf(exact, POST_MEAN, sd)
        assert abs(posterior.quantile(q)[0] - exact) < 4 * se, q
    assert posterior.acceptance_rate == pytest.approx(0.01)


def test_what_the_statistic_cannot_identify_stays_at_its_prior(posterior):
    sd_se = PRIOR_SD / np.sqrt(2 * posterior.effective_sample_size)
    assert abs(posterior.mean()[1]) < 4 * PRIOR_SD / np.sqrt(posterior.effective_sample_size)
    assert abs(posterior.std()[1] - PRIOR_SD) < 4 * sd_se


def test_the_adjustment_removes_the_tolerances_spread():
    """Plain rejection at a wide tolerance keeps draws whose statistics are far from the
    observation (its spread inflates); the regression moves them to the observation."""
    theta, stat = _simulations(200_000, seed=2)
    wide_raw = rejection_abc(theta, stat, OBSERVED, 1.0, accept=0.5, adjust=False)
    wide_adjusted = rejection_abc(theta, stat, OBSERVED, 1.0, accept=0.5)
    # measured: raw sd 1.09 and mean 1.04, adjusted 0.893 and 1.197 (exact 0.894, 1.2)
    assert wide_raw.std()[0] > 1.15 * np.sqrt(POST_VAR)
    assert wide_raw.mean()[0] < POST_MEAN - 0.1
    ess = wide_adjusted.effective_sample_size
    assert abs(wide_adjusted.std()[0] - np.sqrt(POST_VAR)) < 4 * np.sqrt(POST_VAR / (2 * ess))
    assert abs(wide_adjusted.mean()[0] - POST_MEAN) < 4 * np.sqrt(POST_VAR / ess)
    np.testing.assert_array_equal(wide_raw.index, wide_adjusted.index)


def test_distances_scale_each_statistic_and_nan_paths_are_never_kept():
    stats = np.array([[1.0, 10.0], [2.0, 30.0], [np.nan, 10.0], [1.0, 14.0]])
    d = distances(stats, np.array([1.0, 10.0]), np.array([1.0, 10.0]))
    np.testing.assert_allclose(d[[0, 1, 3]], [0.0, np.sqrt(1 + 4), 0.4])
    rows, tolerance = accepted(d, 0.7)
    assert rows.tolist() == [0, 3] and tolerance == pytest.approx(0.4)
    with pytest.raises(ValueError, match="scale"):
        distances(stats, np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="accept"):
        accepted(d, 1.5)
    with pytest.raises(ValueError, match="draws but"):
        rejection_abc(np.zeros((3, 1)), np.zeros(4), 0.0, 1.0)


def test_an_adjustment_the_kept_draws_cannot_determine_is_refused():
    """Least squares with fewer weighted draws than coefficients, or with a statistic that is
    constant among them, has many solutions: lstsq would pick one and move the draws by it."""
    theta = np.array([[0.1], [0.5], [0.9]])
    stats = np.array([[1.0, 2.0], [1.5, 2.5], [2.0, 4.0]])
    with pytest.raises(TooFewDrawsError, match="2 kept simulations with weight > 0"):
        regression_adjust(theta, stats, np.zeros(2), np.array([0.5, 0.5, 0.0]))
    constant = stats.copy()
    constant[:, 1] = 3.0
    with pytest.raises(TooFewDrawsError, match="does not vary"):
        regression_adjust(theta, constant, np.zeros(2), np.full(3, 1 / 3))
    # determined: an exact linear relation is removed entirely (theta* = the intercept)
    exact = regression_adjust(theta, stats, np.zeros(2), np.full(3, 1 / 3))
    np.testing.assert_allclose(exact, np.full((3, 1), exact[0, 0]), atol=1e-12)
