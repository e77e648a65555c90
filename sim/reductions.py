"""Per-path summaries reduced while the path runs (elementwise, shared by engine and reference).

Running peak and maximum drawdown of the index (with the peak and trough months and the month
it regained that peak), of the rental price, of trailing-12-month capex and of each sector's
equity; the lowest utilization; the index at t=0 and at the horizon; the labs' shortest runway.
Nothing here keeps a trajectory: memory per path is the ``N_RED`` slots below.

The growth of compute demand H = H_inf + H_tr (inference Q / tau, training T / r) is
decomposed year by year (from s = t - 12 to t, and to the horizon), exactly (log-mean Divisia
weights, sim.equations.log_mean):

    ln(H_t / H_s) = w_inf [ln(Q/A)_t - ln(Q/A)_s]      price response (= -eps dln P)
                  + w_inf [ln A_t - ln A_s]             adoption
                  - w_inf [ln tau_t - ln tau_s]         efficiency (fewer GPU-hours a token)
                  + (H_tr,t - H_tr,s) / L(H_t, H_s)     training
    w_inf = L(H_inf,t, H_inf,s) / L(H_t, H_s)

and the four parts are summed over the run, with the inference-weighted change of the log
token price, whose ratio to the price response identifies the elasticity (implied_elasticity).
The price response is read off tokens per adopter, not off the parameter: tokens Q, adoption
A and efficiency tau are observables.
"""

from __future__ import annotations

import numpy as np

from sim.equations import log_mean
from sim.layout import (
    N_SECTORS,
    O_ADOPTION,
    O_CAPEX_TTM,
    O_COMPUTE_DEMAND,
    O_EFFICIENCY,
    O_EQUITY,
    O_INDEX,
    O_LAB_RUNWAY,
    O_RENTAL_PRICE,
    O_TOKEN_PRICE,
    O_TOKENS,
    O_UTILIZATION,
)
from sim.vectorize import lanes, log, where

(
    R_PEAK, R_PEAK_MONTH, R_MDD, R_MDD_PEAK_MONTH, R_MDD_TROUGH_MONTH, R_MDD_PEAK,
    R_RECOVERY_MONTH, R_RENT_PEAK, R_RENT_MDD, R_CAPEX_PEAK, R_CAPEX_MDD,
    R_SECTOR_PEAK, _R_SECTOR_PEAK_1, _R_SECTOR_PEAK_2,
    R_SECTOR_MDD, _R_SECTOR_MDD_1, _R_SECTOR_MDD_2,
    R_MIN_UTIL, R_INDEX0, R_INDEX_LAST, R_UNDERWATER,
    R_MIN_RUNWAY,
    # the decomposition of compute demand: last month's values, then the sums over the run
    R_LOG_DEMAND0, R_LAST_DEMAND, R_LAST_INFERENCE, R_LAST_LOG_DEMAND, R_LAST_LOG_PRICE,
    R_LAST_LOG_TOKENS, R_LAST_LOG_ADOPTION, R_LAST_LOG_TAU,
    R_PRICE_RESPONSE, R_ADOPTION, R_EFFICIENCY, R_TRAINING, R_WEIGHTED_LOG_PRICE,
    N_RED,
) = range(36)
R_GROWTH = R_PRICE_RESPONSE  # + component (GROWTH_COMPONENTS)
GROWTH_COMPONENTS = ("price_response", "adoption", "efficiency", "training")
DECOMPOSITION_MONTHS = 12


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
        red[R_MIN_RUNWAY, i] = obs[O_LAB_RUNWAY, i]
    for i in lanes(obs.shape[1]):
        red[R_LAST_DEMAND, i] = obs[O_COMPUTE_DEMAND, i]
        red[R_LAST_INFERENCE, i] = obs[O_TOKENS, i] / obs[O_EFFICIENCY, i]
        red[R_LAST_LOG_DEMAND, i] = log(obs[O_COMPUTE_DEMAND, i])
        red[R_LOG_DEMAND0, i] = red[R_LAST_LOG_DEMAND, i]
        red[R_LAST_LOG_PRICE, i] = log(obs[O_TOKEN_PRICE, i])
        red[R_LAST_LOG_TOKENS, i] = log(obs[O_TOKENS, i])
        red[R_LAST_LOG_ADOPTION, i] = log(obs[O_ADOPTION, i])
        red[R_LAST_LOG_TAU, i] = log(obs[O_EFFICIENCY, i])
        for k in range(len(GROWTH_COMPONENTS)):
            red[R_GROWTH + k, i] = 0.0
        red[R_WEIGHTED_LOG_PRICE, i] = 0.0


def running_drawdown(peak, mdd, value):
    """Running peak and maximum drawdown of a series after one more value."""
    peak = np.maximum(peak, value)
    return peak, np.maximum(mdd, drawdown(value, peak))


def update(red, obs, t, horizon):
    """Fold month t's observables into the reductions (the last month is ``horizon``)."""
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
        red[R_MIN_RUNWAY, i] = np.minimum(red[R_MIN_RUNWAY, i], obs[O_LAB_RUNWAY, i])
    # the decomposition is exact over any interval: yearly, and to the horizon, so that its
    # five logarithms (that of inference compute is ln Q - ln tau) cost little
    if t % DECOMPOSITION_MONTHS == 0 or t == horizon:
        decompose(red, obs)


def decompose(red, obs):
    """Add the parts of the log growth of compute demand since the last decomposition."""
    for i in lanes(obs.shape[1]):
        demand, log_demand = obs[O_COMPUTE_DEMAND, i], log(obs[O_COMPUTE_DEMAND, i])
        log_tokens, log_tau = log(obs[O_TOKENS, i]), log(obs[O_EFFICIENCY, i])
        log_adoption, log_price = log(obs[O_ADOPTION, i]), log(obs[O_TOKEN_PRICE, i])
        inference = obs[O_TOKENS, i] / obs[O_EFFICIENCY, i]
        d_inference = (log_tokens - red[R_LAST_LOG_TOKENS, i]) - (log_tau - red[R_LAST_LOG_TAU, i])
        total = log_mean(demand, red[R_LAST_DEMAND, i], log_demand - red[R_LAST_LOG_DEMAND, i])
        weight = log_mean(inference, red[R_LAST_INFERENCE, i], d_inference) / total
        d_adoption = log_adoption - red[R_LAST_LOG_ADOPTION, i]
        red[R_PRICE_RESPONSE, i] = red[R_PRICE_RESPONSE, i] + weight * (
            log_tokens - red[R_LAST_LOG_TOKENS, i] - d_adoption)
        red[R_ADOPTION, i] = red[R_ADOPTION, i] + weight * d_adoption
        red[R_EFFICIENCY, i] = red[R_EFFICIENCY, i] - weight * (log_tau - red[R_LAST_LOG_TAU, i])
        # the training part as a change in GPU-hours: exact even when training stops
        red[R_TRAINING, i] = red[R_TRAINING, i] + (
            (demand - inference) - (red[R_LAST_DEMAND, i] - red[R_LAST_INFERENCE, i])) / total
        red[R_WEIGHTED_LOG_PRICE, i] = red[R_WEIGHTED_LOG_PRICE, i] + weight * (
            log_price - red[R_LAST_LOG_PRICE, i])
        red[R_LAST_DEMAND, i] = demand
        red[R_LAST_INFERENCE, i] = inference
        red[R_LAST_LOG_DEMAND, i] = log_demand
        red[R_LAST_LOG_PRICE, i] = log_price
        red[R_LAST_LOG_TOKENS, i] = log_tokens
        red[R_LAST_LOG_ADOPTION, i] = log_adoption
        red[R_LAST_LOG_TAU, i] = log_tau


def implied_elasticity(price_response, weighted_log_price):
    """The elasticity of token demand the path's quantities and prices identify: minus its
    price response over the inference-weighted change of the log token price (NaN if the
    price never moved)."""
    moved = weighted_log_price != 0.0
    return np.where(moved, -price_response / np.where(moved, weighted_log_price, 1.0), np.nan)
