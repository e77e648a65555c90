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

from sim.model import (
    N_SECTORS,
    O_CAPEX_TTM,
    O_COMPUTE_DEMAND,
    O_EQUITY,
    O_INDEX,
    O_RENTAL_PRICE,
    O_TOKEN_PRICE,
    O_UTILIZATION,
)
from sim.vectorize import where

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
    index = obs[O_INDEX]
    red[R_PEAK] = index
    red[R_PEAK_MONTH] = 0.0 * index
    red[R_MDD] = 0.0 * index
    red[R_MDD_PEAK_MONTH] = 0.0 * index
    red[R_MDD_TROUGH_MONTH] = 0.0 * index
    red[R_MDD_PEAK] = index
    red[R_RECOVERY_MONTH] = 0.0 * index - 1.0
    red[R_RENT_PEAK] = obs[O_RENTAL_PRICE]
    red[R_RENT_MDD] = 0.0 * index
    red[R_CAPEX_PEAK] = obs[O_CAPEX_TTM]
    red[R_CAPEX_MDD] = 0.0 * index
    for k in range(N_SECTORS):
        red[R_SECTOR_PEAK + k] = obs[O_EQUITY + k]
        red[R_SECTOR_MDD + k] = 0.0 * index
    red[R_MIN_UTIL] = obs[O_UTILIZATION]
    red[R_INDEX0] = index
    red[R_INDEX_LAST] = index
    red[R_UNDERWATER] = 0.0 * index
    x, y = np.log(obs[O_TOKEN_PRICE]), np.log(obs[O_COMPUTE_DEMAND])
    red[R_SUM_X] = x
    red[R_SUM_Y] = y
    red[R_SUM_XX] = x * x
    red[R_SUM_XY] = x * y
    red[R_LOG_PRICE0] = x
    red[R_LOG_DEMAND0] = y
    red[R_LOG_PRICE_LAST] = x
    red[R_LOG_DEMAND_LAST] = y


def update_max_drawdown(red, peak_slot, mdd_slot, value):
    """Running peak and maximum drawdown of one series."""
    red[peak_slot] = np.maximum(red[peak_slot], value)
    red[mdd_slot] = np.maximum(red[mdd_slot], drawdown(value, red[peak_slot]))


def update(red, obs, t):
    """Fold month t's observables into the reductions."""
    index = obs[O_INDEX]
    at_peak = index >= red[R_PEAK]
    red[R_PEAK] = where(at_peak, index, red[R_PEAK])
    red[R_PEAK_MONTH] = where(at_peak, 1.0 * t, red[R_PEAK_MONTH])
    dd = drawdown(index, red[R_PEAK])
    deeper = dd > red[R_MDD]
    regained = ((dd <= red[R_MDD]) & (red[R_MDD] > 0.0) & (red[R_RECOVERY_MONTH] < 0.0)
                & (index >= red[R_MDD_PEAK]))
    red[R_MDD] = where(deeper, dd, red[R_MDD])
    red[R_MDD_PEAK_MONTH] = where(deeper, red[R_PEAK_MONTH], red[R_MDD_PEAK_MONTH])
    red[R_MDD_TROUGH_MONTH] = where(deeper, 1.0 * t, red[R_MDD_TROUGH_MONTH])
    red[R_MDD_PEAK] = where(deeper, red[R_PEAK], red[R_MDD_PEAK])
    red[R_RECOVERY_MONTH] = where(deeper, -1.0,
                                  where(regained, 1.0 * t, red[R_RECOVERY_MONTH]))
    update_max_drawdown(red, R_RENT_PEAK, R_RENT_MDD, obs[O_RENTAL_PRICE])
    update_max_drawdown(red, R_CAPEX_PEAK, R_CAPEX_MDD, obs[O_CAPEX_TTM])
    for k in range(N_SECTORS):
        update_max_drawdown(red, R_SECTOR_PEAK + k, R_SECTOR_MDD + k, obs[O_EQUITY + k])
    red[R_MIN_UTIL] = np.minimum(red[R_MIN_UTIL], obs[O_UTILIZATION])
    red[R_INDEX_LAST] = index
    red[R_UNDERWATER] = red[R_UNDERWATER] + (dd > 0.0) * 1.0
    x, y = np.log(obs[O_TOKEN_PRICE]), np.log(obs[O_COMPUTE_DEMAND])
    red[R_SUM_X] = red[R_SUM_X] + x
    red[R_SUM_Y] = red[R_SUM_Y] + y
    red[R_SUM_XX] = red[R_SUM_XX] + x * x
    red[R_SUM_XY] = red[R_SUM_XY] + x * y
    red[R_LOG_PRICE_LAST] = x
    red[R_LOG_DEMAND_LAST] = y


def realized_elasticity(sum_x, sum_y, sum_xx, sum_xy, n):
    """Minus the least-squares slope of log H on log P over the path's n months (NaN if
    the price never moved)."""
    var_x = n * sum_xx - sum_x * sum_x
    cov = n * sum_xy - sum_x * sum_y
    return np.where(var_x > 0.0, -cov / np.where(var_x > 0.0, var_x, 1.0), np.nan)
