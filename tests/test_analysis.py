"""Kaplan-Meier against lifelines, exceedance against direct counts, standard errors."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_small
from sim import analysis


def _lifetimes(n, seed, horizon=60):
    rng = np.random.default_rng(seed)
    durations = rng.integers(0, horizon + 1, n)
    observed = rng.random(n) < 0.6
    durations[~observed] = np.minimum(durations[~observed] + 5, horizon)  # censored later
    return durations, observed, horizon


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kaplan_meier_equals_lifelines(seed):
    lifelines = pytest.importorskip("lifelines")
    durations, observed, horizon = _lifetimes(3_000, seed)
    kmf = lifelines.KaplanMeierFitter().fit(durations, observed,
                                            timeline=np.arange(horizon + 1))
    events = np.bincount(durations[observed], minlength=horizon + 1)
    censored = np.bincount(durations[~observed], minlength=horizon + 1)
    km = analysis.kaplan_meier(events, censored)
    np.testing.assert_allclose(km["survival"], kmf.survival_function_.values[:, 0],
                               rtol=0, atol=1e-9)
    ci = kmf.confidence_interval_survival_function_.values
    np.testing.assert_allclose(km["lower"], ci[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(km["upper"], ci[:, 1], rtol=0, atol=1e-9)
    expected_median = kmf.median_survival_time_
    got = analysis.median_time(km["survival"])
    assert (np.isinf(expected_median) and np.isnan(got)) or got == expected_median


def test_simultaneous_band_contains_pointwise_interval():
    durations, observed, horizon = _lifetimes(5_000, 3)
    km = analysis.kaplan_meier(np.bincount(durations[observed], minlength=horizon + 1),
                               np.bincount(durations[~observed], minlength=horizon + 1))
    lower, upper = analysis.equal_precision_band(km)
    inside = ~np.isnan(lower)
    assert inside.sum() > horizon // 2
    assert (lower[inside] <= km["lower"][inside] + 1e-12).all()
    assert (upper[inside] >= km["upper"][inside] - 1e-12).all()
    assert (lower[inside] < km["lower"][inside]).any()


def test_band_critical_value_grows_with_the_interval():
    narrow = analysis.normalized_bridge_sup_quantile(0.3, 0.7)
    wide = analysis.normalized_bridge_sup_quantile(0.01, 0.99)
    assert 1.96 < narrow < wide < 4.0


def test_annual_hazard_and_median_from_a_known_curve():
    s = 0.9 ** (np.arange(121) / 12)  # 10% of survivors default each year
    np.testing.assert_allclose(analysis.annual_hazard(s), 0.1, rtol=1e-12)
    assert analysis.median_time(s) == np.ceil(12 * np.log(0.5) / np.log(0.9))
    assert np.isnan(analysis.median_time(np.ones(10)))


def test_exceedance_equals_direct_counts():
    raw = run_small("scenario=excess_capacity", n_paths=3000)
    mdd = raw.per_path["max_drawdown"]
    p, se = analysis.exceedance(mdd)
    for x, px, sx in zip(analysis.EXCEEDANCE_THRESHOLDS, p, se, strict=True):
        assert px == np.count_nonzero(mdd > x) / mdd.size
        assert sx == pytest.approx(np.sqrt(px * (1 - px) / mdd.size))
    p_hist, _ = analysis.exceedance(mdd_counts=raw.mdd_hist)
    np.testing.assert_allclose(p_hist, p, atol=1.5 / mdd.size)


def test_standard_errors_shrink_like_one_over_sqrt_n():
    small = run_small("scenario=excess_capacity", n_paths=4_000, seed=5)
    large = run_small("scenario=excess_capacity", n_paths=16_000, seed=5)
    for raw_pair, fn in [
        ((small, large), lambda r: analysis.quantiles_with_se(
            (0.5, 0.95), values=r.per_path["max_drawdown"])[1]),
        ((small, large), lambda r: analysis.exceedance(r.per_path["max_drawdown"],
                                                       thresholds=(0.5,))[1]),
        ((small, large), lambda r: analysis.firm_survival(
            r.alive, r.alive_sq_horizon, r.n_paths, r.n_firms)["horizon_se"][1:2]),
    ]:
        ratio = fn(raw_pair[0]) / fn(raw_pair[1])
        np.testing.assert_allclose(ratio, 2.0, rtol=0.35)


def test_survival_standard_error_is_per_path():
    raw = run_small("scenario=dotcom_crash", n_paths=4_000)
    surv = analysis.firm_survival(raw.alive, raw.alive_sq_horizon, raw.n_paths, raw.n_firms)
    shares = (raw.per_path["default_month"] < 0).mean(axis=2)  # (paths, sectors)
    np.testing.assert_allclose(surv["survival"][:, -1], shares.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(surv["horizon_se"], shares.std(axis=0) / np.sqrt(raw.n_paths),
                               rtol=1e-9)


def test_histogram_quantiles_with_se_agree_with_exact():
    raw = run_small("scenario=soft_landing", n_paths=4_000)
    exact, exact_se = analysis.quantiles_with_se((0.5, 0.95),
                                                 values=raw.per_path["max_drawdown"])
    binned, binned_se = analysis.quantiles_with_se(
        (0.5, 0.95), counts=raw.mdd_hist, edges=np.linspace(0, 1, raw.mdd_hist.size + 1))
    np.testing.assert_allclose(binned, exact, atol=2e-3)
    np.testing.assert_allclose(binned_se, exact_se, rtol=0.5, atol=1e-3)


def test_median_standard_error_from_the_pointwise_limits():
    durations, observed, horizon = _lifetimes(2_000, 4)
    km = analysis.kaplan_meier(np.bincount(durations[observed], minlength=horizon + 1),
                               np.bincount(durations[~observed], minlength=horizon + 1))
    median, se = analysis.median_time_with_se(km)
    assert median == analysis.median_time(km["survival"])
    assert se == (analysis.median_time(km["upper"]) - analysis.median_time(km["lower"])) / (
        2 * 1.959963984540054)
    assert 0 < se < 5
