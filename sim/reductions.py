"""Per-path summaries reduced while the path runs (elementwise, shared by engine and reference).

Running peak and maximum drawdown of the index (with the peak and trough months and the month
it regained that peak), of the rental price, of trailing-12-month capex and of each sector's
equity; the lowest utilization; the index at t=0 and at the horizon. Nothing here keeps a
trajectory: memory per path is the ``N_RED`` slots below. For the Jevons diagnostics it keeps
the sums of x = log P and y = log H (token price, compute demand) that give the per-path
regression slope of log H on log P.
"""

from __future__ import annotations

import numpy as np

from sim.layout import (
    N_SECTORS,
    O_CAPEX_TTM,
    O_COMPUTE_DEMAND,
    O_EQUITY,
    O_INDEX,
    O_RENTAL_PRICE,
    O_TOKEN_PRICE,
    O_UTILIZATION,
)
from sim.vectorize import lanes, log, where

(
    R_PEAK, R_PEAK_MONTH, R_MDD, R_MDD_PEAK_MONTH, R_MDD_TROUGH_MONTH, R_MDD_PEAK,
    R_RECOVERY_MONTH, R_RENT_PEAK, R_RENT_MDD, R_CAPEX_PEAK, R_CAPEX_MDD,
    R_SECTOR_PEAK, _R_SECTOR_PEAK_1, _R_SECTOR_PEAK_2,
    R_SECTOR_MDD, _R_SECTOR_MDD_1, _R_SECTOR_MDD_2,
    R_MIN_UTIL, R_INDEX0, R_INDEX_LAST, R_UNDERWATER,
    R_SUM_X, R_SUM_Y, R_SUM_XX, R_SUM_XY, R_LOG_PRICE0, R_LOG_DEMAND0,
    R_LOG_PRICE_LAST, R_LOG_DEMAND_LAST,
    N_RED,
) = range(30)


def drawdown(value, peak):
    """Fraction of the running peak lost (0 when the peak is 0)."""
    return where(peak > 0.0, 1.0 - value / np.maximum(peak, 1e-300), 0.0)


def start(red, obs):
    """Reductions at t=0."""
    for i in lanes(obs.shape[1]):
        index = obs[O_INDEX, i]
        red[R_PEAK, i] = index
        red[R_PEAK_MONTH, i] = 0.0
        red[R_MDD, i] = 0.0
        red[R_MDD_PEAK_MONTH, i] = 0.0
        red[R_MDD_TROUGH_MONTH, i] = 0.0
        red[R_MDD_PEAK, i] = index
        red[R_RECOVERY_MONTH, i] = -1.0
        red[R_RENT_PEAK, i] = obs[O_RENTAL_PRICE, i]
        red[R_RENT_MDD, i] = 0.0
        red[R_CAPEX_PEAK, i] = obs[O_CAPEX_TTM, i]
        red[R_CAPEX_MDD, i] = 0.0
        for k in range(N_SECTORS):
            red[R_SECTOR_PEAK + k, i] = obs[O_EQUITY + k, i]
            red[R_SECTOR_MDD + k, i] = 0.0
        red[R_MIN_UTIL, i] = obs[O_UTILIZATION, i]
        red[R_INDEX0, i] = index
        red[R_INDEX_LAST, i] = index
        red[R_UNDERWATER, i] = 0.0
        x, y = log(obs[O_TOKEN_PRICE, i]), log(obs[O_COMPUTE_DEMAND, i])
        red[R_SUM_X, i] = x
        red[R_SUM_Y, i] = y
        red[R_SUM_XX, i] = x * x
        red[R_SUM_XY, i] = x * y
        red[R_LOG_PRICE0, i] = x
        red[R_LOG_DEMAND0, i] = y
        red[R_LOG_PRICE_LAST, i] = x
        red[R_LOG_DEMAND_LAST, i] = y


def running_drawdown(peak, mdd, value):
    """Running peak and maximum drawdown of a series after one more value."""
    peak = np.maximum(peak, value)
    return peak, np.maximum(mdd, drawdown(value, peak))


def update(red, obs, t):
    """Fold month t's observables into the reductions."""
    for i in lanes(obs.shape[1]):
        index = obs[O_INDEX, i]
        peak = red[R_PEAK, i]
        mdd = red[R_MDD, i]
        at_peak = index >= peak
        peak = where(at_peak, index, peak)
        red[R_PEAK, i] = peak
        red[R_PEAK_MONTH, i] = where(at_peak, 1.0 * t, red[R_PEAK_MONTH, i])
        dd = drawdown(index, peak)
        deeper = dd > mdd
        regained = ((dd <= mdd) & (mdd > 0.0) & (red[R_RECOVERY_MONTH, i] < 0.0)
                    & (index >= red[R_MDD_PEAK, i]))
        red[R_MDD, i] = where(deeper, dd, mdd)
        red[R_MDD_PEAK_MONTH, i] = where(deeper, red[R_PEAK_MONTH, i], red[R_MDD_PEAK_MONTH, i])
        red[R_MDD_TROUGH_MONTH, i] = where(deeper, 1.0 * t, red[R_MDD_TROUGH_MONTH, i])
        red[R_MDD_PEAK, i] = where(deeper, peak, red[R_MDD_PEAK, i])
        red[R_RECOVERY_MONTH, i] = where(deeper, -1.0,
                                         where(regained, 1.0 * t, red[R_RECOVERY_MONTH, i]))
        red[R_INDEX_LAST, i] = index
        red[R_UNDERWATER, i] = red[R_UNDERWATER, i] + (dd > 0.0) * 1.0
    # small loops: LLVM does not vectorize a lane loop with too many live values
    for i in lanes(obs.shape[1]):
        red[R_RENT_PEAK, i], red[R_RENT_MDD, i] = running_drawdown(
            red[R_RENT_PEAK, i], red[R_RENT_MDD, i], obs[O_RENTAL_PRICE, i])
        red[R_CAPEX_PEAK, i], red[R_CAPEX_MDD, i] = running_drawdown(
            red[R_CAPEX_PEAK, i], red[R_CAPEX_MDD, i], obs[O_CAPEX_TTM, i])
        for k in range(N_SECTORS):
            red[R_SECTOR_PEAK + k, i], red[R_SECTOR_MDD + k, i] = running_drawdown(
                red[R_SECTOR_PEAK + k, i], red[R_SECTOR_MDD + k, i], obs[O_EQUITY + k, i])
        red[R_MIN_UTIL, i] = np.minimum(red[R_MIN_UTIL, i], obs[O_UTILIZATION, i])
    for i in lanes(obs.shape[1]):
        x, y = log(obs[O_TOKEN_PRICE, i]), log(obs[O_COMPUTE_DEMAND, i])
        red[R_SUM_X, i] = red[R_SUM_X, i] + x
        red[R_SUM_Y, i] = red[R_SUM_Y, i] + y
        red[R_SUM_XX, i] = red[R_SUM_XX, i] + x * x
        red[R_SUM_XY, i] = red[R_SUM_XY, i] + x * y
        red[R_LOG_PRICE_LAST, i] = x
        red[R_LOG_DEMAND_LAST, i] = y


def realized_elasticity(sum_x, sum_y, sum_xx, sum_xy, n):
    """Minus the least-squares slope of log H on log P over the path's n months (NaN if
    the price never moved)."""
    var_x = n * sum_xx - sum_x * sum_x
    cov = n * sum_xy - sum_x * sum_y
    return np.where(var_x > 0.0, -cov / np.where(var_x > 0.0, var_x, 1.0), np.nan)
