"""Drawdown bookkeeping on hand-built index series; histogram quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from sim import model
from sim import reductions as R
from sim.analysis import histogram_quantiles


def _reduce(index_series):
    """The reductions of one path (one lane) whose index follows ``index_series``."""
    obs = np.ones((model.N_OBS, 1))
    red = np.empty((R.N_RED, 1))
    obs[model.O_INDEX] = index_series[0]
    R.start(red, obs)
    for t, v in enumerate(index_series[1:], start=1):
        obs[model.O_INDEX] = v
        R.update(red, obs, t, len(index_series) - 1)
    return red[:, 0]


def test_drawdown_trough_and_recovery():
    red = _reduce([100, 120, 90, 60, 80, 125, 110])
    assert red[R.R_MDD] == pytest.approx(0.5)
    assert red[R.R_MDD_PEAK_MONTH] == 1 and red[R.R_MDD_TROUGH_MONTH] == 3
    assert red[R.R_RECOVERY_MONTH] == 5


def test_open_drawdown_is_censored():
    red = _reduce([100, 110, 70, 90, 100])
    assert red[R.R_MDD] == pytest.approx(40 / 110)
    assert red[R.R_RECOVERY_MONTH] == -1  # not regained: censored at the horizon


def test_never_falling_series():
    red = _reduce([100, 100, 101, 105, 105])
    assert red[R.R_MDD] == 0 and red[R.R_RECOVERY_MONTH] == -1
    assert red[R.R_INDEX_LAST] / red[R.R_INDEX0] == pytest.approx(1.05)


def test_later_deeper_drawdown_replaces_recovered_one():
    red = _reduce([100, 80, 100, 50, 60])
    assert red[R.R_MDD] == pytest.approx(0.5)
    assert red[R.R_MDD_PEAK_MONTH] == 2 and red[R.R_MDD_TROUGH_MONTH] == 3
    assert red[R.R_RECOVERY_MONTH] == -1


def test_histogram_quantiles_match_exact_within_a_bin():
    values = np.random.default_rng(0).lognormal(0.0, 1.0, 100_000)
    edges = np.logspace(-4, 4, 801)
    counts = np.histogram(np.clip(values, edges[0], edges[-1]), edges)[0]
    q = (0.05, 0.5, 0.95)
    approx = histogram_quantiles(counts, edges, True, q)
    bin_ratio = edges[1] / edges[0]
    np.testing.assert_allclose(approx, np.quantile(values, q), rtol=bin_ratio - 1)
