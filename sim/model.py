r"""The model: one monthly step of one economy, section by section (docs/model.md).

``step`` runs the sections below in order; each is a few loops ``for i in lanes(n)`` over
the paths of a block that read rows of the state ``x``, write observables ``obs`` and pass
values to later loops in scratch rows ``tmp``. The equations themselves are the functions
of :mod:`sim.equations`; here is only which quantity goes where. In Python ``lanes`` yields
one slice, so each loop runs once on whole rows (the NumPy reference); compiled by numba it
is ``range(n)`` and LLVM turns each loop into SIMD code (the engine, sim.vectorize). Loops
read parameter k of path i as ``par(q, k, i)``: from the tuple ``q`` (values, not memory the
loop writes) when every path has the same parameters; when priors draw them per path ``q``
is the scratch rows ``tmp``, whose rows from T_PARAMS hold them (``drawn_state``,
docs/priors.md). Loops stay small.

Sections of month t (state from month t-1):

0. ``trends``             the labs' budget growth, the grid's build rate, power per unit
1. ``exogenous``          efficiency, cost, the labs' markup, adoption; the month's normals
2. ``capacity_and_rent``  deliveries, retirements, the rent and the token price
   ``power_supply``       the queue energises power; the power the installed base draws
3. ``training_plans``     each lab's training spend, cut when its cash runs short
4. ``demand``             tokens, compute demand, utilization, spend, circular funding
   ``contracts``          each lab's take-or-pay premium; contracts run off, end, are signed
5. ``orders``             expectations, orders capped by power and by the clouds' funds;
                          power requests
   ``vintages``           hardware cohorts: book values, depreciation, write-downs
6. ``labs_cash``, ``clouds_cash``, ``vendors_cash``: each firm's month (``settle``),
                          funding rounds, defaults, the hand-over of shares and the
                          lenders' and vendors' losses (``contagion``)
   ``analyst_outputs``    circularity, revenue gap, ROIC, burn and runway (observables
                          only: nothing later reads them)
7. ``sentiment``          the common AI sentiment and its narrative regime
8. ``carry``              revenue and earnings run-rates, growth expectations, sector moods
9. ``valuation``          sector enterprise values, firm equity, the index

Dated events (docs/model.md#dated-events) are series of the parameter vector: ``step`` reads
this month's values into ``q`` (``month_params``: a rate shock, a funding freeze, an
efficiency jump) and ``clouds_cash`` reads the capacity sales (``capacity_sale``).
"""

from __future__ import annotations

import numpy as np

from sim.equations import (
    adoption_step,
    capex_funds,
    capex_per_capacity,
    cash_distress,
    cash_opex,
    caution_step,
    contracts_signed,
    credit_room,
    desired_orders,
    distress,
    e_folding_years,
    energisation,
    enterprise_value,
    expected_growth,
    exponential_trend,
    fill_poisson_cdf,
    firm_equity,
    forecast_capacity,
    funding_gate,
    funding_round,
    leverage,
    log_cost_step,
    log_efficiency_step,
    margin_step,
    maturing_trend,
    monthly_retention,
    mood_step,
    parent_support,
    payout,
    planning_tilt,
    power_headroom,
    power_per_capacity,
    power_request,
    powered_share,
    recoverable_amount,
    rental_price,
    return_on_capital,
    runway,
    sale_proceeds,
    sentiment_step,
    share_after_defaults,
    smoothed_run_rate,
    spread,
    spread_mood,
    stake_bought,
    sticky_rent,
    straight_line,
    take_or_pay_premium,
    token_demand,
    token_price,
    training_funding,
)
from sim.layout import (
    CLOUDS,
    COHORTS,
    DT,
    E_EFFICIENCY_SHOCK,
    E_GATE_SCALE,
    E_POWER_LOSS,
    E_RATE_SHOCK,
    E_SALE,
    E_TERMINATION,
    F_ALIVE,
    F_CAPEX,
    F_CASH,
    F_CONTRACT,
    F_CONTRACT_VALUE,
    F_DEBT,
    F_DEFAULT,
    F_FLOW,
    F_FUNDED,
    F_PREMIUM,
    F_SHARE,
    F_STAKE,
    F_USE,
    FP_CASH,
    FP_CONTRACTED,
    FP_DEBT,
    FP_DEBT_SHARE,
    FP_OTHER_CASH,
    FP_SHARE,
    FP_STAKE,
    FP_TRAINING_SHARE,
    FP_VALUE,
    FP_VALUE_WEIGHT,
    LABS,
    MAX_JUMPS_PER_MONTH,
    N_FIRM_ROWS,
    N_OBS,
    N_SCALAR_PARAMS,
    N_SCALAR_STATE,
    N_SECTORS,
    O_ADOPTION,
    O_BACKLOG,
    O_BACKLOG_TO_RENT,
    O_BOOK,
    O_CAPACITY,
    O_CAPEX,
    O_CAPEX_TTM,
    O_CIRCULAR_RENT_SHARE,
    O_CIRCULARITY,
    O_COMPUTE_DEMAND,
    O_EFFICIENCY,
    O_EQUITY,
    O_INDEX,
    O_LAB_BURN,
    O_LAB_RUNWAY,
    O_POWER,
    O_POWER_QUEUE,
    O_RENTAL_PRICE,
    O_REVENUE_GAP,
    O_ROIC_CLOUDS,
    O_ROIC_LABS,
    O_ROIC_VENDORS,
    O_SPEND,
    O_TOKEN_PRICE,
    O_TOKENS,
    O_UTILIZATION,
    O_WRITEDOWN,
    P_COHORT_SHARES,
    P_JUMP_CDF,
    P_MONTHLY,
    T_ARRIVAL_VALUE,
    T_ARRIVALS,
    T_CIRCULAR,
    T_COLLATERAL,
    T_COST,
    T_DEPRECIATION,
    T_EARN,
    T_EQUITY,
    T_EV,
    T_GATE,
    T_GROWTH_EXP,
    T_INFERENCE,
    T_JUMPS,
    T_LAB_BURN,
    T_LAB_GATE,
    T_LAB_RUNWAY,
    T_LOST,
    T_LOST_DEBT,
    T_OPEX,
    T_OVERHANG,
    T_PARAMS,
    T_POWERED,
    T_PREMIUM,
    T_PROCEEDS,
    T_RAISED,
    T_RENT_REVENUE,
    T_REV,
    T_SECTOR_DEBT,
    T_SERVED_SHARE,
    T_SOLD,
    T_SPREAD_MOOD,
    T_TAU,
    T_TRAINING,
    T_UNIT_CAPEX,
    T_VENDOR_LOSS,
    T_WANTED,
    T_Z_MOOD,
    T_Z_SENT,
    TTM_MONTHS,
    VENDORS,
    X_ADOPTION,
    X_BASIS,
    X_BOOK,
    X_BROKEN,
    X_CAPACITY,
    X_CAPEX_TTM,
    X_CAUTION,
    X_COHORT,
    X_DEMAND,
    X_DISAPPOINTED,
    X_DISTRESS,
    X_EARN,
    X_GROWTH,
    X_GROWTH_EXP,
    X_LABS_PAID_IN,
    X_LOG_COST,
    X_LOG_TAU,
    X_MARGIN,
    X_MOOD,
    X_NARRATIVE,
    X_OVERHANG,
    X_PIPE_VALUE,
    X_PIPELINE,
    X_POWER,
    X_POWER_PIPE,
    X_POWER_QUEUE,
    X_POWER_USED,
    X_RECOVERING,
    X_RENT,
    X_REV,
    X_SENTIMENT,
    X_SPEND_TTM,
    X_UTIL,
    event_index,
    firm_param,
    param,
)
from sim.rng import box_muller
from sim.vectorize import as_tuple, exp, lanes, par, where

# --- the parameters the model reads (their slots come from the schema, sim.layout) ---------
P_K0 = param("start.compute.capacity")
P_U0 = param("start.compute.utilization")
P_R0 = param("start.compute.rent")
P_C0 = param("start.compute.unit_cost")
P_OPEX_SHARE = param("start.compute.opex_share")
P_UNIT_CAPEX0 = param("start.compute.capex_per_capacity")
P_CAPEX0 = param("start.compute.capex")
P_LAG = param("start.compute.build_lag")
P_LIFE = param("start.compute.useful_life")
P_Q0 = param("start.tokens.tokens")
P_SPEND0 = param("start.tokens.spend")
P_INFERENCE_SHARE = param("start.tokens.inference_share")
P_A0 = param("start.tokens.adoption")
P_LABS_GROWTH0 = param("start.labs.revenue_growth")
P_LABS_FIXED = param("start.labs.fixed")
P_GPU_SHARE = param("start.vendors.gpu_share")
P_VENDOR_MARGIN = param("start.vendors.gross_margin")
P_VENDOR_FIXED = param("start.vendors.fixed")
P_RISK_FREE = param("start.finance.risk_free")
P_SPREAD0 = param("start.finance.spread")

P_TAU_GROWTH = param("model.efficiency.growth")
P_TAU_VOL = param("model.efficiency.volatility")
P_JUMP_RATE = param("model.efficiency.jump_rate")
P_JUMP_MEAN = param("model.efficiency.jump_mean")
P_JUMP_STD = param("model.efficiency.jump_std")
P_COST_GROWTH = param("model.cost.growth")
P_COST_VOL = param("model.cost.volatility")
P_RENT_FLOOR = param("model.prices.rent_floor")
P_RENT_CURVATURE = param("model.prices.rent_curvature")
P_RENT_ADJUST = param("model.prices.rent_adjustment")
P_MARGIN_FLOOR = param("model.prices.margin_floor")
P_MARGIN_DECAY = param("model.prices.margin_decay")
P_FIRE_DISCOUNT = param("model.prices.fire_sale_discount")
P_FIRE_HALFLIFE = param("model.prices.fire_sale_halflife")
P_ELASTICITY = param("model.demand.elasticity")
P_BASS_P = param("model.demand.bass_p")
P_BASS_Q = param("model.demand.bass_q")
P_ADOPTION_VOL = param("model.demand.adoption_volatility")
P_TRAINING_GROWTH = param("model.labs.training_growth")
P_TRAINING_GROWTH_END = param("model.labs.training_growth_end")
P_MATURITY_HALFLIFE = param("model.labs.maturity_halflife")
P_MAX_DILUTION = param("model.labs.max_dilution")
P_RUNWAY_TARGET = param("model.labs.runway_target")
P_TRAINING_CUT = param("model.labs.training_cut")
P_ROUND_TRIGGER = param("model.labs.round_trigger")
P_ROUND_MONTHS = param("model.labs.round_months")
P_FUNDING_GROWTH_BETA = param("model.labs.funding_growth_beta")
P_CONTRACT_TERM = param("model.contracts.term_months")
P_TERMINATION_RATE = param("model.contracts.termination_rate")
P_TERMINATION_FEE = param("model.contracts.termination_fee")
P_DEPRECIATION = param("model.capacity.depreciation")
P_UTIL_TARGET = param("model.capacity.target_utilization")
P_ADJUST_MONTHS = param("model.capacity.adjustment_months")
P_EXPECT_WEIGHT = param("model.capacity.expectation_weight")
P_OPTIMISM = param("model.capacity.optimism")
P_MAINTENANCE = param("model.capacity.maintenance_share")
P_CAUTION_JUMP = param("model.capacity.bust_caution")
P_CAUTION_MONTHS = param("model.capacity.caution_months")
P_ENERGISED0 = param("start.power.energised")
P_QUEUE0 = param("start.power.queue")
P_INTENSITY0 = param("start.power.intensity")
P_NEW_INTENSITY0 = param("start.power.new_intensity")
P_BUILD_RATE = param("start.power.build_rate")
P_POWER_PRICE = param("start.power.price")
P_QUEUE_MONTHS = param("model.power.queue_months")
P_BUILD_GROWTH = param("model.power.build_growth")
P_POWER_GAIN = param("model.power.efficiency_gain")
P_POWER_RESERVE = param("model.power.reserve")
P_CIRC_SHARE = param("model.finance.circular_share")
P_CIRC_CLOUD_SHARE = param("model.finance.circular_cloud_share")
P_CREDIT_MULTIPLE = param("model.finance.credit_multiple")
P_LOAN_TO_VALUE = param("model.finance.loan_to_value")
P_TARGET_LEVERAGE = param("model.finance.target_leverage")
P_CAPEX_PACING = param("model.finance.capex_pacing")
P_GATE_CENTER = param("model.finance.gate_center")
P_GATE_WIDTH = param("model.finance.gate_width")
P_SPREAD_SENS = param("model.finance.spread_sensitivity")
P_LEVERAGE_SPREAD = param("model.finance.leverage_spread")
P_DEBT_MATURITY = param("model.finance.debt_maturity")
P_PAYOUT_RATE = param("model.finance.payout_rate")
P_CASH_BUFFER = param("model.finance.cash_buffer_months")
P_RECOVERY = param("model.contagion.recovery_rate")
P_VENDOR_FINANCED = param("model.contagion.vendor_financed_share")
P_SPREAD_JUMP = param("model.contagion.spread_jump")
P_DISTRESS_HALFLIFE = param("model.contagion.distress_halflife")
P_SENT0 = param("model.sentiment.s0")
P_PERSISTENCE = param("model.sentiment.persistence")
P_SENT_VOL = param("model.sentiment.volatility")
P_SENT_GROWTH = param("model.sentiment.growth_sensitivity")
P_SENT_UTIL = param("model.sentiment.utilization_sensitivity")
P_NARRATIVE_GROWTH = param("model.sentiment.narrative_growth")
P_NARRATIVE_WEIGHT = param("model.sentiment.narrative_weight")
P_DISAPPOINT = param("model.sentiment.disappointment_threshold")
P_BREAK_MONTHS = param("model.sentiment.break_months")
P_BREAK_JUMP = param("model.sentiment.break_jump")
P_BUST_MEAN = param("model.sentiment.bust_mean")
P_RECOVERY_MONTHS = param("model.sentiment.recovery_months")
P_MOOD_PERSISTENCE = param("model.sectors.persistence")
P_MOOD_VOL = param("model.sectors.volatility")
P_MOOD_GROWTH = param("model.sectors.growth_sensitivity")
P_MULT_SENT_BETA = param("model.valuation.sentiment_beta")
P_GROWTH_WEIGHT = param("model.valuation.expectation_weight")
P_VALUE_FLOOR = param("model.valuation.floor")
P_REV_SMOOTHING = param("model.valuation.revenue_smoothing")

P_TAU0 = param("derived.tau0")
P_MARGIN0 = param("derived.margin0")
P_PRICE0 = param("derived.price0")
P_RENT_CAP = param("derived.rent_cap")
P_TRAINING0 = param("derived.training0")
P_DEMAND0 = param("derived.demand0")
P_GROWTH0 = param("derived.growth0")
P_ORDERS0 = param("derived.orders0")
P_MARGIN_KEEP = param("derived.margin_keep")
P_OVERHANG_KEEP = param("derived.overhang_keep")
P_DISTRESS_KEEP = param("derived.distress_keep")
P_N_FIRMS = param("derived.n_firms")
P_OPEX_OTHER = param("derived.opex_other_share")
P_POWER_PER_UNIT0 = param("derived.power_per_unit0")
P_POWER_USED0 = param("derived.power_used0")
P_POWER_PIPE0 = param("derived.power_pipe0")
P_SERVED_BY_DELIVERY = param("derived.served_by_delivery")
P_RETAINED_BY_DELIVERY = param("derived.retained_by_delivery")
P_SERVED_BY_ENERGISING = param("derived.served_by_energising")
P_CONTRACT_KEEP = param("derived.contract_keep")
P_CAUTION_KEEP = param("derived.caution_keep")
P_VENDOR_OP_MARGIN = param("derived.vendor_margin")
P_BUILD_STEP = param("derived.build_step")
P_POWER_STEP = param("derived.power_step")
P_POWER_LAG = param("derived.power_lag")
P_MATURITY_STEP = param("derived.maturity_step")
P_MATURITY_EXCESS = param("derived.maturity_excess")
# this month's trends (month_params, lane_params; t=0's in p itself)
P_TRENDS = param("trend.budget")
P_BUDGET = P_TRENDS
P_BUILD_NOW = param("trend.build_rate")
P_POWER_NEW = param("trend.power_new")
P_POWER_ARRIVING = param("trend.power_arriving")
P_MATURITY = param("trend.maturity")
P_RETAINED_BY_ENERGISING = param("derived.retained_by_energising")
P_MULTIPLE = param("derived.multiple_labs")        # + sector
P_REVENUE0 = param("derived.revenue_labs0")        # + sector
P_EARNINGS0 = param("derived.earnings_labs0")      # + sector
P_GROWTH_START = (P_LABS_GROWTH0, param("start.clouds.revenue_growth"),
                  param("start.vendors.revenue_growth"))
P_HORIZON = param("model.horizon_months")
# this month's values of the dated events (month_params; neutral in p itself)
P_RATE_SHOCK = param("event.rate_shock")              # added to the risk-free rate (1/yr)
P_GATE_SCALE = param("event.gate_scale")              # multiplies the funding gates
P_EFFICIENCY_SHOCK = param("event.efficiency_shock")  # added to log efficiency
P_POWER_LOSS = param("event.power_loss")              # GW of energised power lost
P_TERMINATION = param("event.termination")            # share of the labs' contracts ended
assert (P_RATE_SHOCK, P_GATE_SCALE, P_EFFICIENCY_SHOCK, P_POWER_LOSS, P_TERMINATION) == (
    P_MONTHLY + E_RATE_SHOCK, P_MONTHLY + E_GATE_SCALE, P_MONTHLY + E_EFFICIENCY_SHOCK,
    P_MONTHLY + E_POWER_LOSS, P_MONTHLY + E_TERMINATION)


# analyst outputs (docs/outputs.md#analyst-outputs): the vendors' invested capital is this
# share of their revenue run-rate at the start, held fixed (judgement: Nvidia's equity plus
# debt less cash was about $45B on $130B of revenue in FY2025, ~0.35; 0.5 allows for the
# others' fabs and inventories); a lab that burns nothing has this runway (months)
VENDOR_CAPITAL_TO_REVENUE = 0.5
RUNWAY_CAP = 600.0


def n_firms(p):
    return int(p[P_N_FIRMS])


def build_lag(p):
    return int(p[P_LAG])


def state_layout(p):
    """Offsets of the order pipeline, the capex ring (followed by the spend ring) and the
    firms in the state, and its length."""
    pipe = N_SCALAR_STATE
    ttm = pipe + build_lag(p)
    firms = ttm + 2 * TTM_MONTHS  # the capex ring, then the end-user spend ring
    return pipe, ttm, firms, firms + N_FIRM_ROWS * N_SECTORS * n_firms(p)


def firm_row(p, f):
    """First state row of firm f (sector k, firm j: f = k * n_firms + j)."""
    return state_layout(p)[2] + N_FIRM_ROWS * f


def firm_value(p, field, sector, j):
    """One firm's value of a per-firm parameter (sim.layout.FIRM_FIELDS)."""
    return p[firm_param(field, sector, j, n_firms(p))]


def event_value(p, series, t):
    """Month t's value of a dated event series (sim.layout.E_*; the model never steps past
    the horizon, and the index is kept inside the vector if it did)."""
    horizon = int(p[P_HORIZON])
    return p[event_index(series, min(t, horizon), n_firms(p), horizon)]


def month_trends(p, t):
    """The deterministic trends of month t (sim.layout.TRENDS): how much the labs' budgets
    have grown since t=0 (a maturing trend), the GW a month the grid can energise, the GW
    drawn by a unit of capacity ordered in month t and by one ordered L months before (new
    hardware grows more frugal), and the share of the budgets' excess growth still to come."""
    scale = e_folding_years(p[P_MATURITY_HALFLIFE])
    return (maturing_trend(1.0, p[P_TRAINING_GROWTH], p[P_TRAINING_GROWTH_END],
                           p[P_MATURITY_HALFLIFE], t),
            exponential_trend(p[P_BUILD_RATE], p[P_BUILD_GROWTH], t),
            exponential_trend(p[P_POWER_PER_UNIT0], -p[P_POWER_GAIN], t),
            exponential_trend(p[P_POWER_PER_UNIT0], -p[P_POWER_GAIN], t - build_lag(p)),
            exp(-t * DT / scale))


def month_params(p, t):
    """The scalar parameters of month t as a tuple: those of ``p``, with the month's trends
    and the dated events' values in the last slots (sim.layout.TRENDS, MONTHLY), so that the
    sections read them like any parameter and a month without events computes exactly as
    before."""
    return as_tuple(p, P_TRENDS) + month_trends(p, t) + (event_value(p, E_RATE_SHOCK, t),
                                                         event_value(p, E_GATE_SCALE, t),
                                                         event_value(p, E_EFFICIENCY_SHOCK, t),
                                                         event_value(p, E_POWER_LOSS, t),
                                                         event_value(p, E_TERMINATION, t))


def lane_params(q, p, t):
    """``q`` (the scratch rows followed by N_SCALAR_PARAMS rows, one column per path:
    parameters drawn per path) with month t's trends and dated events' values in its last
    rows, like ``month_params``. Each path's trends advance from last month's by their
    monthly factors (derived once per path): one exp a path and month where month_trends
    takes five, which point values compute once a month; equal to them to rounding."""
    n = q.shape[1]
    for e in range(N_SCALAR_PARAMS - P_MONTHLY):
        value = event_value(p, e, t)
        for i in lanes(n):
            q[T_PARAMS + P_MONTHLY + e, i] = value
    for i in lanes(n):
        maturity = par(q, P_MATURITY, i) * par(q, P_MATURITY_STEP, i)
        q[T_PARAMS + P_MATURITY, i] = maturity
        q[T_PARAMS + P_BUDGET, i] = exp(par(q, P_TRAINING_GROWTH_END, i) * (t * DT)
                                        + par(q, P_MATURITY_EXCESS, i) * (1.0 - maturity))
        q[T_PARAMS + P_BUILD_NOW, i] = par(q, P_BUILD_NOW, i) * par(q, P_BUILD_STEP, i)
        power = par(q, P_POWER_NEW, i) * par(q, P_POWER_STEP, i)
        q[T_PARAMS + P_POWER_NEW, i] = power
        q[T_PARAMS + P_POWER_ARRIVING, i] = power * par(q, P_POWER_LAG, i)
    return q


def poisson_counts(out, u, cdf, offset):
    """Inverse-CDF Poisson draws, one per path: ``out`` = the number of CDF values below ``u``.

    ``cdf`` holds the Poisson CDF from index ``offset`` (at most MAX_JUMPS_PER_MONTH jumps).
    """
    n = u.shape[0]
    for i in lanes(n):
        out[i] = 0.0
    for k in range(MAX_JUMPS_PER_MONTH):
        below = cdf[offset + k]
        for i in lanes(n):
            out[i] = out[i] + (u[i] > below) * 1.0


# --- 1. exogenous progress -------------------------------------------------------------------
def exogenous(x, q, u, tmp, n):
    """Efficiency (with jumps), the all-in cost, the labs' markup and adoption; the normals
    that later sections use go to scratch rows."""
    for i in lanes(n):
        tmp[T_Z_SENT, i], tmp[T_Z_MOOD + 0, i] = box_muller(u[4, i], u[5, i])
        tmp[T_Z_MOOD + 1, i], tmp[T_Z_MOOD + 2, i] = box_muller(u[6, i], u[7, i])
    for i in lanes(n):
        z_tau, z_jump = box_muller(u[0, i], u[1, i])
        z_cost, z_adopt = box_muller(u[2, i], u[3, i])
        # plus this month's dated efficiency jump (0 without events)
        x[X_LOG_TAU, i] = log_efficiency_step(
            x[X_LOG_TAU, i], par(q, P_TAU_GROWTH, i), par(q, P_TAU_VOL, i), tmp[T_JUMPS, i],
            par(q, P_JUMP_MEAN, i), par(q, P_JUMP_STD, i), z_tau, z_jump
        ) + par(q, P_EFFICIENCY_SHOCK, i)
        x[X_LOG_COST, i] = log_cost_step(x[X_LOG_COST, i], par(q, P_COST_GROWTH, i),
                                         par(q, P_COST_VOL, i), z_cost)
        x[X_MARGIN, i] = margin_step(x[X_MARGIN, i], par(q, P_MARGIN_FLOOR, i),
                                     par(q, P_MARGIN_KEEP, i))
        x[X_ADOPTION, i] = adoption_step(x[X_ADOPTION, i], par(q, P_BASS_P, i), par(q, P_BASS_Q, i),
                                         par(q, P_ADOPTION_VOL, i), z_adopt)
    for i in lanes(n):
        tmp[T_TAU, i] = exp(x[X_LOG_TAU, i])
        tmp[T_COST, i] = exp(x[X_LOG_COST, i])


# --- 2. capacity, rent and the token price --------------------------------------------------
def capacity_and_rent(x, q, obs, tmp, slot, n):
    """Deliveries (orders placed L months ago) and retirements; the rent moves part of the
    way to the clearing rent of last month's utilization; the token price follows."""
    for i in lanes(n):
        tmp[T_ARRIVALS, i] = x[slot, i]
    for i in lanes(n):
        capacity = x[X_CAPACITY, i] * (1.0 - par(q, P_DEPRECIATION, i) * DT) + tmp[T_ARRIVALS, i]
        overhang = x[X_OVERHANG, i] * par(q, P_OVERHANG_KEEP, i)
        clearing = rental_price(tmp[T_COST, i], x[X_UTIL, i], par(q, P_RENT_FLOOR, i),
                                par(q, P_RENT_CAP, i), par(q, P_RENT_CURVATURE, i),
                                par(q, P_FIRE_DISCOUNT, i), overhang)
        rental = sticky_rent(x[X_RENT, i], clearing, par(q, P_RENT_ADJUST, i))
        x[X_RENT, i] = rental
        obs[O_TOKEN_PRICE, i] = token_price(rental, tmp[T_TAU, i], x[X_MARGIN, i])
        obs[O_CAPACITY, i] = capacity
        obs[O_RENTAL_PRICE, i] = rental
        tmp[T_OVERHANG, i] = overhang


def power_supply(x, t, q, lag, obs, tmp, n):
    """Power (GW): the queue energises at most the build rate; arriving capacity draws power
    at the intensity of its order month and retirements free theirs; the share of the
    installed capacity that has power to run (capacity is energised only where power is)."""
    for i in lanes(n):
        energised = energisation(x[X_POWER_QUEUE, i], par(q, P_QUEUE_MONTHS, i),
                                 par(q, P_BUILD_NOW, i))
        drawn = tmp[T_ARRIVALS, i] * par(q, P_POWER_ARRIVING, i)
        x[X_POWER_QUEUE, i] = x[X_POWER_QUEUE, i] - energised
        # a dated power shortfall takes energised power away (and may give it back)
        x[X_POWER, i] = np.maximum(x[X_POWER, i] + energised - par(q, P_POWER_LOSS, i), 0.0)
        x[X_POWER_USED, i] = x[X_POWER_USED, i] * (1.0 - par(q, P_DEPRECIATION, i) * DT) + drawn
        x[X_POWER_PIPE, i] = x[X_POWER_PIPE, i] - drawn
        tmp[T_POWERED, i] = powered_share(x[X_POWER, i], x[X_POWER_USED, i])
        obs[O_POWER, i] = x[X_POWER, i]


# --- 3. the labs' training plans -------------------------------------------------------------
def training_plan(q, training_share, tmp, i):
    """A lab's planned training spend this month ($B/month), given its share of the sector's
    training."""
    return par(q, P_TRAINING0, i) * training_share * par(q, P_BUDGET, i)


def training_plans(x, t, p, q, tmp, n):
    """Each living lab trains on its plan: the share ``1 - circular_share`` it pays for
    itself, cut when its cash runs short, and the circular share its suppliers pay for
    while they invest (the funding gate). The sector's training spend before rationing;
    the suppliers' part of it in T_CIRCULAR."""
    nf = n_firms(p)
    for i in lanes(n):
        gate = funding_gate(x[X_SENTIMENT, i], par(q, P_GATE_CENTER, i), par(q, P_GATE_WIDTH, i))
        tmp[T_GATE, i] = gate * par(q, P_GATE_SCALE, i)  # 0 in a dated funding freeze, else 1
        # once per path: every firm's spread takes it (an exp per firm cost 5-10% of a month)
        tmp[T_SPREAD_MOOD, i] = spread_mood(par(q, P_SPREAD_SENS, i), x[X_SENTIMENT, i])
        tmp[T_TRAINING, i] = 0.0
        tmp[T_CIRCULAR, i] = 0.0
    for j in range(nf):
        r = firm_row(p, LABS * nf + j)
        training_share = firm_value(p, FP_TRAINING_SHARE, LABS, j)
        other = firm_value(p, FP_OTHER_CASH, LABS, j)
        for i in lanes(n):
            planned = training_plan(q, training_share, tmp, i)
            support = other * par(q, P_BUDGET, i)
            theta = par(q, P_CIRC_SHARE, i)
            kept = training_funding(x[r + F_CASH, i], support, planned, par(q, P_RUNWAY_TARGET, i),
                                    par(q, P_TRAINING_CUT, i))
            live = x[r + F_ALIVE, i] * planned
            circular = theta * tmp[T_GATE, i] * live
            x[r + F_USE, i] = (1.0 - theta) * kept * live + circular
            tmp[T_TRAINING, i] = tmp[T_TRAINING, i] + x[r + F_USE, i]
            tmp[T_CIRCULAR, i] = tmp[T_CIRCULAR, i] + circular


# --- 4. demand -------------------------------------------------------------------------------
def demand(x, q, obs, tmp, n):
    """Jevons token demand, compute for inference and training, what capacity can serve,
    end-user spend and the clouds' rent revenue (circular training rationed like the rest)."""
    for i in lanes(n):
        price = obs[O_TOKEN_PRICE, i]
        rental = obs[O_RENTAL_PRICE, i]
        tokens = token_demand(par(q, P_Q0, i), x[X_ADOPTION, i], par(q, P_A0, i), price,
                              par(q, P_PRICE0, i), par(q, P_ELASTICITY, i))
        inference = tokens / tmp[T_TAU, i]
        wanted = inference + tmp[T_TRAINING, i] / rental
        served = np.minimum(wanted, tmp[T_POWERED, i] * obs[O_CAPACITY, i])
        share = served / wanted
        obs[O_TOKENS, i] = tokens
        obs[O_COMPUTE_DEMAND, i] = wanted
        obs[O_UTILIZATION, i] = served / obs[O_CAPACITY, i]
        obs[O_SPEND, i] = price * tokens * share
        tmp[T_INFERENCE, i] = inference * share
        tmp[T_SERVED_SHARE, i] = share
        tmp[T_RENT_REVENUE, i] = rental * served
    for i in lanes(n):
        tmp[T_CIRCULAR, i] = tmp[T_CIRCULAR, i] * tmp[T_SERVED_SHARE, i]


def contracts(x, t, p, q, obs, tmp, n):
    """Compute contracts: each lab pays, on top of the spot rent of what it uses, the
    take-or-pay premium of its contracts and the fees for those it ends (to the clouds);
    then its contracts run off, a lab cutting training for want of cash ends some, and a
    living lab signs new ones at this month's rent to keep its contracted share. The backlog
    is the value the contracts have left to run."""
    nf = n_firms(p)
    for i in lanes(n):
        tmp[T_PREMIUM, i] = 0.0
        obs[O_BACKLOG, i] = 0.0
    for j in range(nf):
        r = firm_row(p, LABS * nf + j)
        training_share = firm_value(p, FP_TRAINING_SHARE, LABS, j)
        other = firm_value(p, FP_OTHER_CASH, LABS, j)
        contracted = firm_value(p, FP_CONTRACTED, LABS, j)
        for i in lanes(n):
            planned = training_plan(q, training_share, tmp, i)
            support = other * par(q, P_BUDGET, i)
            rent = obs[O_RENTAL_PRICE, i]
            use = (x[r + F_SHARE, i] * tmp[T_INFERENCE, i] * rent
                   + x[r + F_USE, i] * tmp[T_SERVED_SHARE, i])
            kept = training_funding(x[r + F_CASH, i], support, planned, par(q, P_RUNWAY_TARGET, i),
                                    par(q, P_TRAINING_CUT, i))
            short = cash_distress(kept, par(q, P_TRAINING_CUT, i))
            # ended for want of cash, and by a dated contract termination
            ended = par(q, P_TERMINATION_RATE, i) * short
            ended = ended + par(q, P_TERMINATION, i) * (1.0 - ended)  # exact when there is none
            # a defaulted lab's contracts have ended (zeroed here rather than in
            # record_default, which every firm of every sector runs)
            alive = x[r + F_ALIVE, i]
            value, volume = alive * x[r + F_CONTRACT_VALUE, i], alive * x[r + F_CONTRACT, i]
            fee = par(q, P_TERMINATION_FEE, i) * ended * par(q, P_CONTRACT_TERM, i) * value
            premium = take_or_pay_premium(value, volume, use, rent) + fee
            keep = par(q, P_CONTRACT_KEEP, i) * (1.0 - ended)
            # a lab short of cash signs less, one out of cash nothing
            signed = x[r + F_ALIVE, i] * (1.0 - short) * contracts_signed(
                contracted, use, rent, keep * volume)
            x[r + F_CONTRACT, i] = keep * volume + signed
            x[r + F_CONTRACT_VALUE, i] = keep * value + signed * rent
            x[r + F_USE, i] = use
            x[r + F_PREMIUM, i] = premium
            tmp[T_PREMIUM, i] = tmp[T_PREMIUM, i] + premium
            obs[O_BACKLOG, i] = obs[O_BACKLOG, i] + par(q, P_CONTRACT_TERM, i) * x[
                r + F_CONTRACT_VALUE, i]
    for i in lanes(n):
        tmp[T_RENT_REVENUE, i] = tmp[T_RENT_REVENUE, i] + tmp[T_PREMIUM, i]


# --- 5. orders and capex ---------------------------------------------------------------------
def cloud_ebitda(w, tmp, other, i):
    """EBITDA of a cloud with market share w this month ($B)."""
    return w * (tmp[T_RENT_REVENUE, i] - tmp[T_OPEX, i]) + other


def cloud_plan(x, r, q, tmp, other, debt_share, i):
    """Cloud firm (rows from r) this month: (EBITDA, unused credit, capex) in $B. It orders
    its share of the wanted capacity as far as its funds (sim.equations.capex_funds) go."""
    w = x[r + F_SHARE, i]
    ebitda = cloud_ebitda(w, tmp, other, i)
    room = credit_room(par(q, P_CREDIT_MULTIPLE, i), ebitda, w * tmp[T_COLLATERAL, i],
                       tmp[T_GATE, i], x[r + F_DEBT, i])
    cash, debt = x[r + F_CASH, i], x[r + F_DEBT, i]
    spare = cash - par(q, P_CASH_BUFFER, i) * w * tmp[T_OPEX, i]
    committed = w * par(q, P_CIRC_CLOUD_SHARE, i) * tmp[T_CIRCULAR, i] + borrowing_rate(
        q, tmp[T_SPREAD_MOOD, i], x[X_DISTRESS + CLOUDS, i], debt, ebitda, i) * DT * (
        debt + np.maximum(-cash, 0.0))
    headroom = np.maximum(par(q, P_TARGET_LEVERAGE, i) * 12.0 * ebitda - debt, 0.0)
    funds = capex_funds(ebitda - committed, spare, np.minimum(room, headroom),
                        par(q, P_CAPEX_PACING, i), debt_share)
    capex = x[r + F_ALIVE, i] * np.minimum(w * tmp[T_WANTED, i] * tmp[T_UNIT_CAPEX, i], funds)
    return ebitda, room, capex


def orders(x, t, p, q, obs, tmp, lag, slot, ttm_slot, n):
    """Expected growth of compute demand and the supply-line order, capped by the power free
    when it arrives; the clouds' power requests; each cloud orders its share as far as its
    own funds go."""
    nf = n_firms(p)
    for i in lanes(n):
        demand_now = obs[O_COMPUTE_DEMAND, i]
        growth_exp = expected_growth(x[X_GROWTH_EXP, i], par(q, P_EXPECT_WEIGHT, i), demand_now,
                                     x[X_DEMAND, i])
        # arrivals leave the order book at its average cost; they are booked at that cost
        tmp[T_ARRIVAL_VALUE, i] = tmp[T_ARRIVALS, i] * x[X_PIPE_VALUE, i] / np.maximum(
            x[X_PIPELINE, i], 1e-300)
        x[X_PIPE_VALUE, i] = x[X_PIPE_VALUE, i] - tmp[T_ARRIVAL_VALUE, i]
        pipeline = x[X_PIPELINE, i] - tmp[T_ARRIVALS, i]
        tilt = planning_tilt(x[X_SENTIMENT, i], par(q, P_OPTIMISM, i), x[X_CAUTION, i])
        wanted = desired_orders(demand_now, obs[O_CAPACITY, i], pipeline, growth_exp, tilt,
                                lag, par(q, P_UTIL_TARGET, i), par(q, P_ADJUST_MONTHS, i),
                                par(q, P_DEPRECIATION, i), par(q, P_MAINTENANCE, i))
        x[X_PIPELINE, i] = pipeline
        headroom = power_headroom(x[X_POWER, i], x[X_POWER_QUEUE, i], x[X_POWER_USED, i],
                                  x[X_POWER_PIPE, i], par(q, P_SERVED_BY_DELIVERY, i), lag,
                                  par(q, P_BUILD_NOW, i), par(q, P_RETAINED_BY_DELIVERY, i))
        tmp[T_WANTED, i] = np.minimum(wanted, headroom / par(q, P_POWER_NEW, i))
        tmp[T_GROWTH_EXP, i] = growth_exp
    for i in lanes(n):
        horizon = par(q, P_QUEUE_MONTHS, i) + lag  # power requested now runs what is ordered then
        tilt = planning_tilt(x[X_SENTIMENT, i], par(q, P_OPTIMISM, i), x[X_CAUTION, i])
        target = forecast_capacity(obs[O_COMPUTE_DEMAND, i], tmp[T_GROWTH_EXP, i], tilt,
                                   horizon, par(q, P_UTIL_TARGET, i))
        delivered = np.minimum(par(q, P_SERVED_BY_ENERGISING, i) * x[X_POWER_QUEUE, i],
                               par(q, P_QUEUE_MONTHS, i) * par(q, P_BUILD_NOW, i))
        requested = power_request(x[X_POWER, i], x[X_POWER_QUEUE, i], x[X_POWER_USED, i],
                                  x[X_POWER_PIPE, i], obs[O_CAPACITY, i], x[X_PIPELINE, i],
                                  target, par(q, P_POWER_NEW, i),
                                  par(q, P_RETAINED_BY_ENERGISING, i),
                                  par(q, P_POWER_RESERVE, i), delivered, par(q, P_ADJUST_MONTHS, i))
        x[X_POWER_QUEUE, i] = np.maximum(x[X_POWER_QUEUE, i] + requested, 0.0)
        obs[O_POWER_QUEUE, i] = x[X_POWER_QUEUE, i]
    for i in lanes(n):
        unit_capex = capex_per_capacity(par(q, P_UNIT_CAPEX0, i), tmp[T_COST, i], par(q, P_C0, i))
        tmp[T_UNIT_CAPEX, i] = unit_capex
        tmp[T_OPEX, i] = cash_opex(par(q, P_OPEX_OTHER, i), tmp[T_COST, i], obs[O_CAPACITY, i],
                                   par(q, P_POWER_PRICE, i), x[X_POWER_USED, i])
        tmp[T_COLLATERAL, i] = 0.5 * par(q, P_LOAN_TO_VALUE, i) * obs[O_CAPACITY, i] * unit_capex
        obs[O_CAPEX, i] = 0.0
    for j in range(nf):
        r = firm_row(p, CLOUDS * nf + j)
        other = firm_value(p, FP_OTHER_CASH, CLOUDS, j)
        debt_share = firm_value(p, FP_DEBT_SHARE, CLOUDS, j)
        for i in lanes(n):
            x[r + F_CAPEX, i] = cloud_plan(x, r, q, tmp, other, debt_share, i)[2]
            obs[O_CAPEX, i] = obs[O_CAPEX, i] + x[r + F_CAPEX, i]
    for i in lanes(n):
        capex = obs[O_CAPEX, i]
        placed = capex / tmp[T_UNIT_CAPEX, i]
        x[slot, i] = placed
        x[X_PIPELINE, i] = x[X_PIPELINE, i] + placed
        x[X_POWER_PIPE, i] = x[X_POWER_PIPE, i] + placed * par(q, P_POWER_NEW, i)
        x[X_PIPE_VALUE, i] = x[X_PIPE_VALUE, i] + capex
        x[X_CAPEX_TTM, i] = x[X_CAPEX_TTM, i] - x[ttm_slot, i] + capex
        x[ttm_slot, i] = capex
        obs[O_CAPEX_TTM, i] = x[X_CAPEX_TTM, i]


# --- hardware vintages -------------------------------------------------------------------------
def slot_age(t, s):
    """Age in years, at month t, of the cohort in slot s (bought mid-year; slot = purchase
    year mod COHORTS, year 0 = the start's year, the oldest slot holds every older year)."""
    year = (t - 1) // 12
    bought = year - ((year - s) % COHORTS + COHORTS) % COHORTS
    return max(t / 12.0 - (bought + 0.5), 0.0)


def vintages(x, t, q, obs, tmp, n):
    """Hardware cohorts by purchase year: retirements take their part of each cohort's
    capacity and historical cost (group depreciation: a normal retirement books no loss);
    arrivals join this year's cohort at their cost; straight-line depreciation of the cost
    over the useful life; a cohort whose recoverable amount falls below its book value is
    written down to it. A new year's cohort takes the oldest slot, whose hardware joins
    the next oldest."""
    year = (t - 1) // 12
    new = year % COHORTS
    if (t - 1) % 12 == 0 and t > 1:
        into = (year + 1) % COHORTS
        for row in (X_COHORT, X_BASIS, X_BOOK):
            for i in lanes(n):
                x[row + into, i] = x[row + into, i] + x[row + new, i]
                x[row + new, i] = 0.0
    for i in lanes(n):
        tmp[T_DEPRECIATION, i] = 0.0
        obs[O_WRITEDOWN, i] = 0.0
        obs[O_BOOK, i] = 0.0
    for s in range(COHORTS):
        arriving = 1.0 if s == new else 0.0
        age = slot_age(t, s)
        for i in lanes(n):
            keep = 1.0 - par(q, P_DEPRECIATION, i) * DT
            remaining = np.maximum(par(q, P_LIFE, i) - age, 0.0)
            margin = (obs[O_RENTAL_PRICE, i] * obs[O_UTILIZATION, i]
                      - tmp[T_OPEX, i] / obs[O_CAPACITY, i])
            x[X_COHORT + s, i] = keep * x[X_COHORT + s, i] + arriving * tmp[T_ARRIVALS, i]
            x[X_BASIS + s, i] = keep * x[X_BASIS + s, i] + arriving * tmp[T_ARRIVAL_VALUE, i]
            depreciation = straight_line(x[X_BASIS + s, i], x[X_BOOK + s, i],
                                         12.0 * par(q, P_LIFE, i))
            book = x[X_BOOK + s, i] - depreciation + arriving * tmp[T_ARRIVAL_VALUE, i]
            impaired = np.maximum(book - recoverable_amount(x[X_COHORT + s, i], margin,
                                                            remaining), 0.0)
            x[X_BOOK + s, i] = book - impaired
            tmp[T_DEPRECIATION, i] = tmp[T_DEPRECIATION, i] + depreciation
            obs[O_WRITEDOWN, i] = obs[O_WRITEDOWN, i] + impaired
            obs[O_BOOK, i] = obs[O_BOOK, i] + x[X_BOOK + s, i]


# --- 6. firms: cash, debt, funding, defaults ---------------------------------------------------
def borrowing_rate(q, mood, distress, debt, ebitda, i):
    """A firm's interest rate (1/yr): risk-free (plus a dated rate shock) plus its spread
    (sim.equations.spread; ``mood``: the month's spread_mood), widened by its sector's credit
    distress (contagion)."""
    widening = spread(par(q, P_SPREAD0, i), mood, par(q, P_LEVERAGE_SPREAD, i),
                      leverage(debt, ebitda))
    return par(q, P_RISK_FREE, i) + par(q, P_RATE_SHOCK, i) + widening * (
        1.0 + par(q, P_SPREAD_JUMP, i) * distress)


def settle(cash, debt, alive, ebitda, flow, borrow_wanted, collateral, gate, mood,
           distress, buffer, q, i):
    """One firm's month after its operating flow: interest (rate rising with leverage and
    falling sentiment), maturities repaid and rolled over while credit lasts, new borrowing,
    payouts of cash above the buffer. Returns (cash, debt, defaulted): a living firm defaults
    when its cash plus the credit it has left is negative."""
    repaid = debt / par(q, P_DEBT_MATURITY, i)
    interest = borrowing_rate(q, mood, distress, debt, ebitda, i) * DT * (
        debt + np.maximum(-cash, 0.0))
    room = credit_room(par(q, P_CREDIT_MULTIPLE, i), ebitda, collateral, gate, debt - repaid)
    borrowed = np.minimum(repaid + borrow_wanted, room)
    new_cash = cash + flow - interest - repaid + borrowed
    new_debt = debt - repaid + borrowed
    new_cash = new_cash - payout(new_cash, buffer, par(q, P_PAYOUT_RATE, i))
    fails = (alive > 0.0) & (new_cash + room - borrowed < 0.0)
    return alive * new_cash, alive * new_debt, fails


def record_default(x, r, t, fails, i, tmp):
    """A defaulting firm: dead, its cash and debt gone (the debt counted as lost to its
    lenders), its share lost to the sector; every firm's debt counts into the sector's."""
    tmp[T_SECTOR_DEBT, i] = tmp[T_SECTOR_DEBT, i] + x[r + F_DEBT, i]
    tmp[T_LOST_DEBT, i] = tmp[T_LOST_DEBT, i] + where(fails, x[r + F_DEBT, i], 0.0)
    x[r + F_DEFAULT, i] = where(fails, 1.0 * t, x[r + F_DEFAULT, i])
    x[r + F_ALIVE, i] = where(fails, 0.0, x[r + F_ALIVE, i])
    x[r + F_CASH, i] = where(fails, 0.0, x[r + F_CASH, i])
    x[r + F_DEBT, i] = where(fails, 0.0, x[r + F_DEBT, i])
    x[r + F_STAKE, i] = where(fails, 0.0, x[r + F_STAKE, i])  # sold for its creditors
    tmp[T_LOST, i] = tmp[T_LOST, i] + where(fails, x[r + F_SHARE, i], 0.0)


def buy_stake(x, r, invested, obs, i):
    """A living cloud or vendor's circular investment buys it a stake in the labs, at their
    value of last month (circular financing with equity stakes)."""
    x[r + F_STAKE, i] = x[r + F_STAKE, i] + x[r + F_ALIVE, i] * stake_bought(
        invested, obs[O_EQUITY + LABS, i])


def hand_over(x, p, tmp, sector, n):
    """Survivors of a sector take the shares of the firms that defaulted this month."""
    nf = n_firms(p)
    if np.any(tmp[T_LOST] > 0.0):  # the identity on paths where no firm failed
        for j in range(nf):
            r = firm_row(p, sector * nf + j)
            for i in lanes(n):
                x[r + F_SHARE, i] = share_after_defaults(x[r + F_SHARE, i], x[r + F_ALIVE, i],
                                                         tmp[T_LOST, i])
    for i in lanes(n):
        tmp[T_LOST, i] = 0.0


def contagion(x, q, tmp, sector, n):
    """What this month's defaulters in ``sector`` owed, less what lenders recover, is lost:
    it raises the sector's credit distress, which widens its spreads (borrowing_rate) and
    fades with a half-life; the vendor-financed part of a cloud's loss falls on the vendors
    (T_VENDOR_LOSS, charged in vendors_cash)."""
    vendors_finance = 1.0 if sector == CLOUDS else 0.0
    for i in lanes(n):
        vendor_part = vendors_finance * par(q, P_VENDOR_FINANCED, i)
        lost = (1.0 - par(q, P_RECOVERY, i)) * tmp[T_LOST_DEBT, i]
        x[X_DISTRESS + sector, i] = distress(x[X_DISTRESS + sector, i], par(q, P_DISTRESS_KEEP, i),
                                             lost, tmp[T_SECTOR_DEBT, i])
        tmp[T_VENDOR_LOSS, i] = vendor_part * lost
        tmp[T_LOST_DEBT, i] = 0.0
        tmp[T_SECTOR_DEBT, i] = 0.0


def labs_cash(x, t, p, q, obs, tmp, n):
    """Labs: token revenue, circular and parent funding in; inference rent, training and
    fixed costs out; a funding round when the runway is short; default when cash runs out
    (its training stops, its customers go to the other labs)."""
    nf = n_firms(p)
    for i in lanes(n):
        beta = par(q, P_FUNDING_GROWTH_BETA, i)
        tmp[T_LAB_GATE, i] = funding_gate(
            x[X_SENTIMENT, i] + beta * (x[X_GROWTH, i] - par(q, P_LABS_GROWTH0, i)),
            par(q, P_GATE_CENTER, i), par(q, P_GATE_WIDTH, i)
        ) * par(q, P_GATE_SCALE, i)  # shut in a funding freeze
    for i in lanes(n):
        tmp[T_EARN + LABS, i] = 0.0
    for j in range(nf):
        r = firm_row(p, LABS * nf + j)
        training_share = firm_value(p, FP_TRAINING_SHARE, LABS, j)
        other = firm_value(p, FP_OTHER_CASH, LABS, j)
        weight = firm_value(p, FP_VALUE_WEIGHT, LABS, j)
        for i in lanes(n):
            growth = par(q, P_BUDGET, i)
            planned = training_plan(q, training_share, tmp, i)
            support = other * growth  # parents fund the plan
            fixed = par(q, P_LABS_FIXED, i) * training_share * growth
            w, cash = x[r + F_SHARE, i], x[r + F_CASH, i]
            # a lab short of cash cuts its research staff with its training
            kept = training_funding(cash, support, planned, par(q, P_RUNWAY_TARGET, i),
                                    par(q, P_TRAINING_CUT, i))
            inference = w * tmp[T_INFERENCE, i] * obs[O_RENTAL_PRICE, i]
            operating = w * obs[O_SPEND, i] - inference - x[r + F_PREMIUM, i] - kept * fixed
            tmp[T_EARN + LABS, i] = tmp[T_EARN + LABS, i] + x[r + F_ALIVE, i] * operating
            # its own part of training (the suppliers pay the circular part to the clouds)
            training = (1.0 - par(q, P_CIRC_SHARE, i)) * planned * tmp[T_SERVED_SHARE, i] * kept
            flow = operating - training + parent_support(support, training - operating)
            raised = funding_round(cash, np.maximum(-flow, 0.0), tmp[T_LAB_GATE, i],
                                   par(q, P_ROUND_TRIGGER, i), par(q, P_ROUND_MONTHS, i),
                                   weight * w * obs[O_EQUITY + LABS, i], par(q, P_MAX_DILUTION, i))
            tmp[T_RAISED, i] = raised
            # analyst outputs (analyst_labs, after this loop, which they would slow down)
            x[r + F_FLOW, i] = flow
            x[r + F_FUNDED, i] = raised + flow - operating + training
        # settled in a loop of its own: with the one above it would touch too many rows for
        # LLVM to check them for overlap, and it would not vectorize at all
        for i in lanes(n):
            flow = x[r + F_FLOW, i]
            x[r + F_CASH, i], x[r + F_DEBT, i], fails = settle(
                x[r + F_CASH, i], x[r + F_DEBT, i], x[r + F_ALIVE, i], flow,
                flow + tmp[T_RAISED, i], 0.0, 0.0, tmp[T_GATE, i], tmp[T_SPREAD_MOOD, i],
                x[X_DISTRESS + LABS, i], np.inf, q, i)
            record_default(x, r, t, fails, i, tmp)
    hand_over(x, p, tmp, LABS, n)
    contagion(x, q, tmp, LABS, n)
    for i in lanes(n):
        tmp[T_REV + LABS, i] = obs[O_SPEND, i]


def analyst_labs(x, p, tmp, n):
    """The labs' burn (their deficits after parents' support), the shortest runway of a
    living lab that burns cash (its cash after the month over its burn), and the funding paid
    into the living labs (rounds and parents' support; the suppliers' part in
    analyst_outputs), from the flows labs_cash kept (F_FLOW, F_FUNDED)."""
    nf = n_firms(p)
    for i in lanes(n):
        tmp[T_LAB_BURN, i] = 0.0
        tmp[T_LAB_RUNWAY, i] = RUNWAY_CAP
    for j in range(nf):
        r = firm_row(p, LABS * nf + j)
        for i in lanes(n):
            alive = x[r + F_ALIVE, i]
            burn = alive * np.maximum(-x[r + F_FLOW, i], 0.0)
            tmp[T_LAB_BURN, i] = tmp[T_LAB_BURN, i] + burn
            tmp[T_LAB_RUNWAY, i] = np.minimum(tmp[T_LAB_RUNWAY, i], runway(
                x[r + F_CASH, i], burn, alive, RUNWAY_CAP))
            x[X_LABS_PAID_IN, i] = x[X_LABS_PAID_IN, i] + alive * x[r + F_FUNDED, i]


def capacity_sale(x, r, on_sale, q, obs, tmp, n):
    """A dated capacity sale (events) by the cloud with rows from r: a living holder sells
    ``on_sale`` of the installed base, at most what it has, at the fire-sale price of its
    book (T_SOLD, T_PROCEEDS; its own loop, which keeps the settlement loop vectorized)."""
    for i in lanes(n):
        sold = x[r + F_ALIVE, i] * np.minimum(on_sale, x[r + F_SHARE, i])
        tmp[T_SOLD, i] = sold
        tmp[T_PROCEEDS, i] = sale_proceeds(sold, obs[O_CAPACITY, i], tmp[T_UNIT_CAPEX, i],
                                           par(q, P_FIRE_DISCOUNT, i))


def clouds_cash(x, t, p, q, obs, tmp, n):
    """Clouds: rent and other businesses in; cash opex, capex (part of it borrowed) and their
    share of circular investments out; a dated capacity sale's proceeds in; a defaulter's
    capacity, and capacity sold, go to the spot market."""
    nf = n_firms(p)
    for j in range(nf):
        r = firm_row(p, CLOUDS * nf + j)
        other = firm_value(p, FP_OTHER_CASH, CLOUDS, j)
        debt_share = firm_value(p, FP_DEBT_SHARE, CLOUDS, j)
        capacity_sale(x, r, event_value(p, E_SALE + j, t), q, obs, tmp, n)
        for i in lanes(n):
            w, capex = x[r + F_SHARE, i], x[r + F_CAPEX, i]  # planned in orders
            ebitda = cloud_ebitda(w, tmp, other, i)
            invested = w * par(q, P_CIRC_CLOUD_SHARE, i) * tmp[T_CIRCULAR, i]
            outlay = capex + invested
            x[r + F_CASH, i], x[r + F_DEBT, i], fails = settle(
                x[r + F_CASH, i], x[r + F_DEBT, i], x[r + F_ALIVE, i], ebitda,
                ebitda - outlay + tmp[T_PROCEEDS, i], debt_share * capex,
                w * tmp[T_COLLATERAL, i], tmp[T_GATE, i], tmp[T_SPREAD_MOOD, i],
                x[X_DISTRESS + CLOUDS, i],
                par(q, P_CASH_BUFFER, i) * (w * tmp[T_OPEX, i] + capex), q, i)
            record_default(x, r, t, fails, i, tmp)
            buy_stake(x, r, invested, obs, i)
        for i in lanes(n):
            # the share sold goes to the spot market like a defaulter's (a holder that
            # defaulted this month has already lost all of its share to it)
            sold = x[r + F_ALIVE, i] * tmp[T_SOLD, i]
            x[r + F_SHARE, i] = x[r + F_SHARE, i] - sold
            tmp[T_LOST, i] = tmp[T_LOST, i] + sold
    for i in lanes(n):
        # a defaulter's capacity is sold at a discount to buyers outside the index: the
        # overhang weighs on rents, and no living cloud takes over its share
        x[X_OVERHANG, i] = tmp[T_OVERHANG, i] + tmp[T_LOST, i]
        tmp[T_LOST, i] = 0.0
    contagion(x, q, tmp, CLOUDS, n)
    for i in lanes(n):
        tmp[T_REV + CLOUDS, i] = tmp[T_RENT_REVENUE, i]
        tmp[T_EARN + CLOUDS, i] = tmp[T_RENT_REVENUE, i] - tmp[T_OPEX, i] - tmp[
            T_DEPRECIATION, i]


def vendor_margin(p):
    """Vendors' operating margin on revenue: gross margin less R&D and SG&A, which track
    revenue at their start ratio (Nvidia's run at 10-15% of revenue). Derived once per path:
    the division by parameters, per firm and month, cost 1-2% of a run with priors."""
    return p[P_VENDOR_MARGIN] - p[P_VENDOR_FIXED] / (p[P_GPU_SHARE] * p[P_CAPEX0])


def vendors_cash(x, t, p, q, obs, tmp, n):
    """Vendors: their operating margin on the chips and systems in the clouds' capex, other
    business, less their share of circular investments."""
    nf = n_firms(p)
    for j in range(nf):
        r = firm_row(p, VENDORS * nf + j)
        other = firm_value(p, FP_OTHER_CASH, VENDORS, j)
        for i in lanes(n):
            margin = par(q, P_VENDOR_OP_MARGIN, i)
            w = x[r + F_SHARE, i]
            revenue = w * par(q, P_GPU_SHARE, i) * obs[O_CAPEX, i]
            ebitda = margin * revenue + other
            # their part of circular investment, and their vendor financing lost this month
            invested = w * (1.0 - par(q, P_CIRC_CLOUD_SHARE, i)) * tmp[T_CIRCULAR, i]
            outlay = invested + w * tmp[T_VENDOR_LOSS, i]
            x[r + F_CASH, i], x[r + F_DEBT, i], fails = settle(
                x[r + F_CASH, i], x[r + F_DEBT, i], x[r + F_ALIVE, i], ebitda, ebitda - outlay,
                0.0, 0.0, tmp[T_GATE, i], tmp[T_SPREAD_MOOD, i], x[X_DISTRESS + VENDORS, i],
                par(q, P_CASH_BUFFER, i) * (1.0 - margin) * revenue, q, i)
            record_default(x, r, t, fails, i, tmp)
            buy_stake(x, r, invested, obs, i)
    hand_over(x, p, tmp, VENDORS, n)
    contagion(x, q, tmp, VENDORS, n)
    for i in lanes(n):
        revenue = par(q, P_GPU_SHARE, i) * obs[O_CAPEX, i]
        tmp[T_REV + VENDORS, i] = revenue
        tmp[T_EARN + VENDORS, i] = par(q, P_VENDOR_OP_MARGIN, i) * revenue


# --- 6b. analyst outputs ---------------------------------------------------------------------
def analyst_outputs(x, t, p, q, obs, tmp, n):
    """What analysts read off the month (docs/outputs.md#analyst-outputs), from its flows:
    the revenue recognized along the chain per dollar of end-user spend (circularity) and
    the share of the clouds' rent the suppliers' circular investment pays; trailing-12-month
    capex over trailing end-user spend (the revenue gap); return on invested capital by
    sector; the backlog over a year of rent; the labs' burn and shortest runway; adoption and
    efficiency, which sim.reductions needs to decompose the growth of compute demand."""
    ring = state_layout(p)[1] + TTM_MONTHS + t % TTM_MONTHS
    analyst_labs(x, p, tmp, n)
    for i in lanes(n):
        spend, rent = obs[O_SPEND, i], tmp[T_RENT_REVENUE, i]
        obs[O_CIRCULARITY, i] = (spend + rent + tmp[T_REV + VENDORS, i]) / spend
        obs[O_CIRCULAR_RENT_SHARE, i] = tmp[T_CIRCULAR, i] / rent
        obs[O_BACKLOG_TO_RENT, i] = obs[O_BACKLOG, i] / (12.0 * rent)
        x[X_SPEND_TTM, i] = x[X_SPEND_TTM, i] - x[ring, i] + spend
        x[ring, i] = spend
        obs[O_REVENUE_GAP, i] = obs[O_CAPEX_TTM, i] / x[X_SPEND_TTM, i]
    for i in lanes(n):
        vendor_capital = VENDOR_CAPITAL_TO_REVENUE * par(q, P_REVENUE0 + VENDORS, i)
        # the suppliers' circular investment buys them stakes: funding paid into the labs
        x[X_LABS_PAID_IN, i] = x[X_LABS_PAID_IN, i] + tmp[T_CIRCULAR, i]
        obs[O_ROIC_LABS, i] = return_on_capital(tmp[T_EARN + LABS, i], x[X_LABS_PAID_IN, i])
        obs[O_ROIC_CLOUDS, i] = return_on_capital(
            tmp[T_EARN + CLOUDS, i], obs[O_BOOK, i])
        obs[O_ROIC_VENDORS, i] = return_on_capital(tmp[T_EARN + VENDORS, i], vendor_capital)
        obs[O_LAB_BURN, i] = tmp[T_LAB_BURN, i]
        obs[O_LAB_RUNWAY, i] = tmp[T_LAB_RUNWAY, i]
        obs[O_ADOPTION, i] = x[X_ADOPTION, i]
        obs[O_EFFICIENCY, i] = tmp[T_TAU, i]


# --- 7. sentiment ----------------------------------------------------------------------------
def sentiment(x, q, obs, tmp, n):
    """The common AI sentiment: AR(1) on growth surprises (the expected growth of end-user AI
    revenue against the market's story, which follows it slowly) and utilization; the
    narrative breaks after enough months of disappointing growth and mends after enough
    good ones."""
    for i in lanes(n):
        narrative = x[X_NARRATIVE, i]
        surprise = x[X_GROWTH + LABS, i] - narrative
        x[X_NARRATIVE, i] = narrative + par(q, P_NARRATIVE_WEIGHT, i) * surprise
        disappointed = where(surprise < -par(q, P_DISAPPOINT, i), x[X_DISAPPOINTED, i] + 1.0, 0.0)
        broken_before = x[X_BROKEN, i]
        breaks = (broken_before == 0.0) & (disappointed >= par(q, P_BREAK_MONTHS, i))
        recovering = where((broken_before > 0.0) & (surprise > 0.0),
                           x[X_RECOVERING, i] + 1.0, 0.0)
        mends = (broken_before > 0.0) & (recovering >= par(q, P_RECOVERY_MONTHS, i))
        broken = where(breaks, 1.0, where(mends, 0.0, broken_before))
        s = sentiment_step(x[X_SENTIMENT, i], par(q, P_PERSISTENCE, i),
                           broken * par(q, P_BUST_MEAN, i), surprise,
                           obs[O_UTILIZATION, i] - par(q, P_UTIL_TARGET, i),
                           par(q, P_SENT_GROWTH, i), par(q, P_SENT_UTIL, i),
                           par(q, P_SENT_VOL, i), tmp[T_Z_SENT, i])
        x[X_SENTIMENT, i] = s - where(breaks, par(q, P_BREAK_JUMP, i), 0.0)
        x[X_BROKEN, i] = broken
        x[X_CAUTION, i] = caution_step(x[X_CAUTION, i], breaks, par(q, P_CAUTION_JUMP, i),
                                       par(q, P_CAUTION_KEEP, i))
        x[X_DISAPPOINTED, i] = disappointed
        x[X_RECOVERING, i] = where(mends, 0.0, recovering)


# --- 8. carry the state ----------------------------------------------------------------------
def carry(x, q, obs, tmp, n):
    """This month's values become next month's state: capacity, utilization, demand, and per
    sector the revenue and earnings run-rates, expected revenue growth and the sector's mood
    (lifted by growth above what was expected)."""
    for i in lanes(n):
        x[X_CAPACITY, i] = obs[O_CAPACITY, i]
        x[X_UTIL, i] = obs[O_UTILIZATION, i]
        x[X_GROWTH_EXP, i] = tmp[T_GROWTH_EXP, i]
        x[X_DEMAND, i] = obs[O_COMPUTE_DEMAND, i]
    for k in range(N_SECTORS):
        for i in lanes(n):
            # new values first: in the NumPy reference x[row, i] is a view of the row
            previous = x[X_REV + k, i]
            revenue = smoothed_run_rate(previous, tmp[T_REV + k, i], par(q, P_REV_SMOOTHING, i))
            surprise = expected_growth(0.0, 1.0, revenue, previous) - x[X_GROWTH + k, i]
            x[X_MOOD + k, i] = mood_step(x[X_MOOD + k, i], par(q, P_MOOD_PERSISTENCE, i),
                                         surprise, par(q, P_MOOD_GROWTH, i),
                                         par(q, P_MOOD_VOL, i), tmp[T_Z_MOOD + k, i])
            x[X_GROWTH + k, i] = x[X_GROWTH + k, i] + par(q, P_GROWTH_WEIGHT, i) * surprise
            x[X_EARN + k, i] = smoothed_run_rate(x[X_EARN + k, i], tmp[T_EARN + k, i],
                                                 par(q, P_REV_SMOOTHING, i))
            x[X_REV + k, i] = revenue


# --- 9. valuation ----------------------------------------------------------------------------
def sector_multiple(q, k, i):
    """Sector k's valuation multiple (read at constant indices: a tuple's element at an index
    known only at run time would be a branch inside the lane loop)."""
    return where(k == LABS, par(q, P_MULTIPLE + LABS, i),
                 where(k == CLOUDS, par(q, P_MULTIPLE + CLOUDS, i),
                       par(q, P_MULTIPLE + VENDORS, i)))


def valuation(x, p, q, obs, tmp):
    """Each sector's enterprise value from revenue, expected growth and operating margin,
    scaled by its mood (common sentiment plus the sector's own); each firm's equity is its
    part of that value (its share times its value weight: its enterprise value per unit of
    share at t=0, relative to the sector's) plus net cash, never below 0; the index is the
    sum of the equity of the three sectors ($B). A firm that gains customers gains value at
    its own multiple; a cloud's defaulted share is owned outside the index."""
    nf = n_firms(p)
    n = obs.shape[1]
    for i in lanes(n):
        obs[O_INDEX, i] = 0.0
    for k in range(N_SECTORS):
        for i in lanes(n):
            multiple = sector_multiple(q, k, i)
            mood = par(q, P_MULT_SENT_BETA, i) * (x[X_SENTIMENT, i] + x[X_MOOD + k, i])
            tmp[T_EV, i] = enterprise_value(multiple, x[X_REV + k, i], x[X_GROWTH + k, i],
                                            x[X_EARN + k, i], par(q, P_VALUE_FLOOR, i), mood)
            tmp[T_EQUITY, i] = 0.0
        for j in range(nf):
            r = firm_row(p, k * nf + j)
            weight = firm_value(p, FP_VALUE_WEIGHT, k, j)
            for i in lanes(n):
                # its stake in the labs is marked to their value (labs are valued first)
                tmp[T_EQUITY, i] = tmp[T_EQUITY, i] + firm_equity(
                    weight * x[r + F_SHARE, i] * tmp[T_EV, i],
                    x[r + F_CASH, i] + x[r + F_STAKE, i] * obs[O_EQUITY + LABS, i],
                    x[r + F_DEBT, i], x[r + F_ALIVE, i])
        for i in lanes(n):
            obs[O_EQUITY + k, i] = tmp[T_EQUITY, i]
            obs[O_INDEX, i] = obs[O_INDEX, i] + tmp[T_EQUITY, i]


# --- the step --------------------------------------------------------------------------------
def step(x, t, p, q, u, obs, tmp):
    """Advance the state ``x`` from month t-1 to month t and fill the observables ``obs``.

    ``q`` holds the scalar parameters of month t, read inside the lane loops: the tuple
    ``month_params(p, t)`` when every path has the same, else ``tmp`` itself, whose rows
    from T_PARAMS hold one column per path (``lane_params``: parameters drawn per path);
    ``u`` this month's N_UNIFORMS uniforms, one column per path; ``tmp`` is scratch space
    (N_SCRATCH rows).
    """
    pipe, ttm, _, _ = state_layout(p)
    lag = build_lag(p)
    n = obs.shape[1]
    poisson_counts(tmp[T_JUMPS], u[8], p, P_JUMP_CDF)
    exogenous(x, q, u, tmp, n)
    capacity_and_rent(x, q, obs, tmp, pipe + t % lag, n)
    power_supply(x, t, q, lag, obs, tmp, n)
    training_plans(x, t, p, q, tmp, n)
    demand(x, q, obs, tmp, n)
    contracts(x, t, p, q, obs, tmp, n)
    orders(x, t, p, q, obs, tmp, lag, pipe + t % lag, ttm + t % TTM_MONTHS, n)
    vintages(x, t, q, obs, tmp, n)
    labs_cash(x, t, p, q, obs, tmp, n)
    clouds_cash(x, t, p, q, obs, tmp, n)
    vendors_cash(x, t, p, q, obs, tmp, n)
    analyst_outputs(x, t, p, q, obs, tmp, n)
    sentiment(x, q, obs, tmp, n)
    carry(x, q, obs, tmp, n)
    valuation(x, p, q, obs, tmp)


# --- t = 0 -----------------------------------------------------------------------------------
GROWTH_RANGE = 5.0  # 1/yr: the implied growth is sought in [-5, 5]


def start_orders(p, growth, orders0):
    """What the ordering rule orders at t=0 if planners expect demand to grow at ``growth``
    (1/yr), with the start's order book in the supply line; and its slope in ``growth``
    where the replacement floor does not bind (d/dg of desired_orders' second term)."""
    lag = p[P_LAG]
    tilt = planning_tilt(p[P_SENT0], p[P_OPTIMISM], 0.0)  # no bust before the start
    wanted = desired_orders(p[P_K0] * p[P_U0], p[P_K0], (lag - 1.0) * orders0, growth, tilt,
                            lag, p[P_UTIL_TARGET], p[P_ADJUST_MONTHS], p[P_DEPRECIATION],
                            p[P_MAINTENANCE])
    target = p[P_K0] * p[P_U0] * np.exp(tilt) / p[P_UTIL_TARGET]
    slope = target * DT * (1.0 + (lag - 1.0) / p[P_ADJUST_MONTHS]) + target * lag * DT * np.exp(
        growth * lag * DT) / p[P_ADJUST_MONTHS]
    return wanted, slope


def implied_growth(p, orders0):
    """The expected growth of compute demand (1/yr) at which the ordering rule places the
    start's orders again: the expectation the start's order book implies. Newton's method
    from the top of the range: the rule's orders rise convexly in the growth, so the
    iterates fall monotonically onto the root (a few steps, where bisection took 64 at two
    exponentials each, the dearest part of deriving a path's start under priors); the
    range's end when the root lies outside it."""
    growth = GROWTH_RANGE
    wanted, slope = start_orders(p, growth, orders0)
    if wanted < orders0:
        return GROWTH_RANGE
    if start_orders(p, -GROWTH_RANGE, orders0)[0] >= orders0:
        return -GROWTH_RANGE
    for _ in range(100):  # converges in about 10 steps; the cap is a guard
        step_size = (wanted - orders0) / slope
        growth -= step_size
        if step_size <= 1e-15 * max(abs(growth), 1.0):
            break
        wanted, slope = start_orders(p, growth, orders0)
    return growth


# The start's derivation below runs once per path under priors (drawn_state): plain scalars,
# no arrays allocated per path (the allocations took most of its time).
def start_cohort(p, k):
    """The cohort bought k + 1/2 years before t=0 (k < COHORTS - 1): its slot
    (sim.layout.COHORTS), capacity, historical cost at the unit capex of its purchase year
    (the cost trend run back) and book value (straight line over the useful life, at most what
    the impairment test recovers at the start's margin: the start's firms passed their
    tests)."""
    margin = p[P_R0] * p[P_U0] - p[P_OPEX_SHARE] * p[P_C0]
    age = k + 0.5
    capacity = p[P_COHORT_SHARES + k] * p[P_K0]
    basis = capacity * p[P_UNIT_CAPEX0] * np.exp(-p[P_COST_GROWTH] * age)
    remaining = max(p[P_LIFE] - age, 0.0)
    book = min(basis * remaining / p[P_LIFE], recoverable_amount(capacity, margin, remaining))
    return COHORTS - 1 - k, capacity, basis, book  # last year's in the slot before this year's


def start_cohorts(p):
    """The installed base at t=0 by slot: capacity, historical cost and book value
    (start_cohort; this year's slot 0 is empty)."""
    capacity, basis, book = np.zeros(COHORTS), np.zeros(COHORTS), np.zeros(COHORTS)
    for k in range(COHORTS - 1):
        s, capacity[s], basis[s], book[s] = start_cohort(p, k)
    return capacity, basis, book


def start_depreciation(p):
    """The clouds' depreciation at t=0 ($B/month): each cohort's straight line, at most its
    book value."""
    total = 0.0
    for k in range(COHORTS - 1):
        _, _, basis, book = start_cohort(p, k)
        total += min(basis / (12.0 * p[P_LIFE]), book)
    return total


def start_sectors(p):
    """Revenue and operating-earnings run-rates ($B/yr) of the three sectors at t=0, as
    tuples indexed by sector."""
    served = p[P_K0] * p[P_U0]
    inference = p[P_INFERENCE_SHARE] * served * p[P_R0]
    rent = served * p[P_R0]
    opex = p[P_OPEX_SHARE] * p[P_C0] * p[P_K0]
    vendors = p[P_GPU_SHARE] * p[P_CAPEX0]
    revenue = (12.0 * p[P_SPEND0], 12.0 * rent, 12.0 * vendors)
    earnings = (12.0 * (p[P_SPEND0] - inference - p[P_LABS_FIXED]),
                12.0 * (rent - opex - start_depreciation(p)),
                12.0 * (p[P_VENDOR_MARGIN] * vendors - p[P_VENDOR_FIXED]))
    return revenue, earnings


def enterprise_value0(p, sector, j):
    """A firm's enterprise value at t=0 ($B): market value less net cash and its stakes in
    the labs, at least 0."""
    return max(firm_value(p, FP_VALUE, sector, j) - firm_value(p, FP_CASH, sector, j)
               - firm_value(p, FP_STAKE, sector, j) + firm_value(p, FP_DEBT, sector, j), 0.0)


def sector_value0(p, sector):
    """The sum of a sector's enterprise values at t=0 ($B)."""
    total = 0.0
    for j in range(n_firms(p)):
        total += enterprise_value0(p, sector, j)
    return total


def lab_compute0(p, j):
    """Lab j's compute at t=0 at the start's rent ($B/month): its revenue share of inference
    and its share of training."""
    served = p[P_K0] * p[P_U0]
    return p[P_R0] * served * (firm_value(p, FP_SHARE, LABS, j) * p[P_INFERENCE_SHARE]
                               + firm_value(p, FP_TRAINING_SHARE, LABS, j)
                               * (1.0 - p[P_INFERENCE_SHARE]))


def labs_value0(p):
    """The labs' equity at t=0 ($B): the sum of their market values."""
    total = 0.0
    for j in range(n_firms(p)):
        total += firm_value(p, FP_VALUE, LABS, j)
    return total


def value_weight(p, sector, j, total):
    """A firm's enterprise value at t=0 relative to its revenue share of the sector's
    (``total``, sector_value0), so that firm equity at t=0 is the start's market value."""
    share = firm_value(p, FP_SHARE, sector, j)
    if share > 0.0 and total > 0.0:
        return enterprise_value0(p, sector, j) / max(share * total, 1e-300)
    return 0.0


def initial_conditions(p):
    """Fill the derived entries of ``p`` (sim.layout.DERIVED) from the start and the
    assumptions, so that month 0 reproduces the start: efficiency from tokens and inference
    compute, the labs' markup from spend, the rent curve through the start's rent, the
    order book's implied growth, and valuation multiples through the start's market values.
    Plain scalar code on the vector, so that it also compiles (one path's draw at a time).
    """
    served = p[P_K0] * p[P_U0]
    inference = p[P_INFERENCE_SHARE] * served
    p[P_TAU0] = p[P_Q0] / inference
    p[P_PRICE0] = p[P_SPEND0] / p[P_Q0]
    # the plan whose month-0 execution (own part plus the circular part, while the gate is
    # as open as at t=0) is the start's training spend
    p[P_TRAINING0] = (served - inference) * p[P_R0] / (
        1.0 - p[P_CIRC_SHARE] * (1.0 - funding_gate(p[P_SENT0], p[P_GATE_CENTER],
                                                    p[P_GATE_WIDTH])))
    p[P_DEMAND0] = served
    p[P_ORDERS0] = p[P_CAPEX0] / p[P_UNIT_CAPEX0]
    p[P_MARGIN_KEEP] = monthly_retention(p[P_MARGIN_DECAY])
    p[P_OVERHANG_KEEP] = 0.5 ** (1.0 / p[P_FIRE_HALFLIFE])
    p[P_DISTRESS_KEEP] = 0.5 ** (1.0 / p[P_DISTRESS_HALFLIFE])
    p[P_CAUTION_KEEP] = np.exp(-1.0 / p[P_CAUTION_MONTHS])
    p[P_VENDOR_OP_MARGIN] = vendor_margin(p)
    scale = e_folding_years(p[P_MATURITY_HALFLIFE])
    p[P_BUILD_STEP] = np.exp(p[P_BUILD_GROWTH] * DT)
    p[P_POWER_STEP] = np.exp(-p[P_POWER_GAIN] * DT)
    p[P_POWER_LAG] = np.exp(p[P_POWER_GAIN] * build_lag(p) * DT)
    p[P_MATURITY_STEP] = np.exp(-DT / scale)
    p[P_MATURITY_EXCESS] = (p[P_TRAINING_GROWTH] - p[P_TRAINING_GROWTH_END]) * scale
    p[P_OPEX_OTHER] = p[P_OPEX_SHARE] - p[P_POWER_PRICE] * p[P_INTENSITY0] / p[P_C0]
    p[P_POWER_PER_UNIT0] = power_per_capacity(p[P_NEW_INTENSITY0])
    p[P_POWER_USED0] = p[P_K0] * power_per_capacity(p[P_INTENSITY0])
    p[P_SERVED_BY_DELIVERY] = 1.0 - (1.0 - 1.0 / p[P_QUEUE_MONTHS]) ** p[P_LAG]
    p[P_RETAINED_BY_DELIVERY] = (1.0 - p[P_DEPRECIATION] * DT) ** p[P_LAG]
    p[P_SERVED_BY_ENERGISING] = 1.0 - (1.0 - 1.0 / p[P_QUEUE_MONTHS]) ** p[P_QUEUE_MONTHS]
    p[P_CONTRACT_KEEP] = 1.0 - 1.0 / p[P_CONTRACT_TERM]
    p[P_RETAINED_BY_ENERGISING] = (1.0 - p[P_DEPRECIATION] * DT) ** (p[P_QUEUE_MONTHS]
                                                                      + p[P_LAG])
    p[P_MARGIN0] = p[P_PRICE0] * p[P_TAU0] / p[P_R0] - 1.0
    p[P_RENT_CAP] = p[P_RENT_FLOOR] + (p[P_R0] / p[P_C0] - p[P_RENT_FLOOR]) / p[
        P_U0] ** p[P_RENT_CURVATURE]
    p[P_GROWTH0] = implied_growth(p, p[P_ORDERS0])
    # the order book at t=0 was placed over the past L months, at their power intensities
    pipe = 0.0
    for s in range(build_lag(p)):
        pipe += p[P_POWER_PER_UNIT0] * np.exp(p[P_POWER_GAIN] * s * DT)
    p[P_POWER_PIPE0] = p[P_ORDERS0] * pipe
    (p[P_BUDGET], p[P_BUILD_NOW], p[P_POWER_NEW], p[P_POWER_ARRIVING],
     p[P_MATURITY]) = month_trends(p, 0)  # where lane_params starts from
    revenue, earnings = start_sectors(p)
    mood0 = np.exp(p[P_MULT_SENT_BETA] * p[P_SENT0])
    nf = n_firms(p)
    for k in range(N_SECTORS):
        growth_margin = max(p[P_GROWTH_START[k]] + earnings[k] / revenue[k], p[P_VALUE_FLOOR])
        total = sector_value0(p, k)
        p[P_MULTIPLE + k] = total / (revenue[k] * growth_margin * mood0)
        p[P_REVENUE0 + k] = revenue[k]
        p[P_EARNINGS0 + k] = earnings[k]
        for j in range(nf):
            p[firm_param(FP_VALUE_WEIGHT, k, j, nf)] = value_weight(p, k, j, total)
    fill_poisson_cdf(p, P_JUMP_CDF, p[P_JUMP_RATE] * DT)
    return p


def labs_burn0(p):
    """The labs' burn ($B/month) and shortest runway (months) at t=0: each lab's month at the
    start's prices (revenue share of spend, inference at the start's rent, no contract
    premium, staff and its own part of training as far as its cash keeps them), after its
    parent's support, as in labs_cash."""
    served = p[P_K0] * p[P_U0]
    theta = p[P_CIRC_SHARE]
    burn, shortest = 0.0, RUNWAY_CAP
    for j in range(n_firms(p)):
        cash = firm_value(p, FP_CASH, LABS, j)
        support = firm_value(p, FP_OTHER_CASH, LABS, j)
        planned = p[P_TRAINING0] * firm_value(p, FP_TRAINING_SHARE, LABS, j)
        kept = training_funding(cash, support, planned, p[P_RUNWAY_TARGET], p[P_TRAINING_CUT])
        w = firm_value(p, FP_SHARE, LABS, j)
        operating = (w * p[P_SPEND0] - w * p[P_INFERENCE_SHARE] * served * p[P_R0]
                     - kept * p[P_LABS_FIXED] * firm_value(p, FP_TRAINING_SHARE, LABS, j))
        training = (1.0 - theta) * planned * kept
        lab_burn = max(-(operating - training + parent_support(support, training - operating)),
                       0.0)
        burn += lab_burn
        shortest = min(shortest, runway(cash, lab_burn, 1.0, RUNWAY_CAP))
    return burn, shortest


def analyst_column(p, v, o):
    """The analyst observables at t=0 (sim.layout.O_CIRCULARITY ..) by the formulas of
    analyst_outputs on the start's flows, the spend ring, and the labs' invested capital at
    t=0: the cash and debt they start with."""
    ttm = state_layout(p)[1]
    served = p[P_K0] * p[P_U0]
    rent = served * p[P_R0]
    v[X_SPEND_TTM] = TTM_MONTHS * p[P_SPEND0]
    for slot in range(TTM_MONTHS):
        v[ttm + TTM_MONTHS + slot] = p[P_SPEND0]
    v[X_LABS_PAID_IN] = 0.0
    for j in range(n_firms(p)):
        v[X_LABS_PAID_IN] += firm_value(p, FP_CASH, LABS, j) + firm_value(p, FP_DEBT, LABS, j)
    circular = p[P_CIRC_SHARE] * funding_gate(p[P_SENT0], p[P_GATE_CENTER],
                                              p[P_GATE_WIDTH]) * p[P_TRAINING0]
    vendors_revenue = p[P_REVENUE0 + VENDORS]  # the annual run-rates of start_sectors
    o[O_CIRCULARITY] = (p[P_SPEND0] + rent + vendors_revenue / 12.0) / p[P_SPEND0]
    o[O_CIRCULAR_RENT_SHARE] = circular / rent
    o[O_BACKLOG_TO_RENT] = o[O_BACKLOG] / (12.0 * rent)
    o[O_REVENUE_GAP] = p[P_CAPEX0] / p[P_SPEND0]
    o[O_ROIC_LABS] = p[P_EARNINGS0 + LABS] / v[X_LABS_PAID_IN]
    o[O_ROIC_CLOUDS] = p[P_EARNINGS0 + CLOUDS] / o[O_BOOK]
    o[O_ROIC_VENDORS] = p[P_EARNINGS0 + VENDORS] / (VENDOR_CAPITAL_TO_REVENUE * vendors_revenue)
    o[O_LAB_BURN], o[O_LAB_RUNWAY] = labs_burn0(p)
    o[O_ADOPTION] = p[P_A0]
    o[O_EFFICIENCY] = p[P_TAU0]


def initial_column(p):
    """The state and the observables at t=0 (the same on every path) as 1-D vectors; the
    equity observables are filled by ``valuation``."""
    v, o = np.empty(state_layout(p)[3]), np.empty(N_OBS)
    fill_initial_column(p, v, o)
    return v, o


def fill_initial_column(p, v, o):
    """initial_column into ``v`` and ``o`` (once per path under priors: in place)."""
    pipe, ttm, _, _ = state_layout(p)
    nf = n_firms(p)
    labs_value = max(labs_value0(p), 1e-12)
    v[:] = 0.0
    o[:] = 0.0
    v[X_LOG_TAU] = np.log(p[P_TAU0])
    v[X_LOG_COST] = np.log(p[P_C0])
    v[X_MARGIN] = p[P_MARGIN0]
    v[X_ADOPTION] = p[P_A0]
    v[X_CAPACITY] = p[P_K0]
    v[X_UTIL] = p[P_U0]
    v[X_RENT] = p[P_R0]
    v[X_GROWTH_EXP] = p[P_GROWTH0]
    v[X_DEMAND] = p[P_DEMAND0]
    v[X_SENTIMENT] = p[P_SENT0]
    v[X_NARRATIVE] = p[P_NARRATIVE_GROWTH]
    v[X_PIPELINE] = build_lag(p) * p[P_ORDERS0]
    v[X_CAPEX_TTM] = TTM_MONTHS * p[P_CAPEX0]
    v[X_POWER] = p[P_ENERGISED0]
    v[X_POWER_QUEUE] = p[P_QUEUE0]
    v[X_POWER_USED] = p[P_POWER_USED0]
    v[X_POWER_PIPE] = p[P_POWER_PIPE0]
    v[X_PIPE_VALUE] = build_lag(p) * p[P_CAPEX0]
    for k in range(COHORTS - 1):
        s, v[X_COHORT + s], v[X_BASIS + s], v[X_BOOK + s] = start_cohort(p, k)
    for s in range(COHORTS):  # slot order (this year's, empty, first), as start_cohorts().sum()
        o[O_BOOK] += v[X_BOOK + s]
    for k in range(N_SECTORS):
        v[X_REV + k] = p[P_REVENUE0 + k]
        v[X_EARN + k] = p[P_EARNINGS0 + k]
        v[X_GROWTH + k] = p[P_GROWTH_START[k]]
        for j in range(nf):
            r = firm_row(p, k * nf + j)
            v[r + F_CASH] = firm_value(p, FP_CASH, k, j)
            v[r + F_DEBT] = firm_value(p, FP_DEBT, k, j)
            v[r + F_ALIVE] = 1.0
            v[r + F_SHARE] = firm_value(p, FP_SHARE, k, j)
            v[r + F_DEFAULT] = -1.0
            v[r + F_STAKE] = firm_value(p, FP_STAKE, k, j) / labs_value
    for j in range(nf):  # the labs' contracts, at the start's rent
        r = firm_row(p, LABS * nf + j)
        v[r + F_USE] = lab_compute0(p, j)
        v[r + F_CONTRACT_VALUE] = firm_value(p, FP_CONTRACTED, LABS, j) * v[r + F_USE]
        v[r + F_CONTRACT] = v[r + F_CONTRACT_VALUE] / p[P_R0]
        o[O_BACKLOG] += p[P_CONTRACT_TERM] * v[r + F_CONTRACT_VALUE]
    for slot in range(build_lag(p)):
        v[pipe + slot] = p[P_ORDERS0]
    for slot in range(TTM_MONTHS):
        v[ttm + slot] = p[P_CAPEX0]
    o[O_TOKEN_PRICE] = p[P_PRICE0]
    o[O_SPEND] = p[P_SPEND0]
    o[O_COMPUTE_DEMAND] = p[P_DEMAND0]
    o[O_CAPACITY] = p[P_K0]
    o[O_CAPEX] = p[P_CAPEX0]
    o[O_UTILIZATION] = p[P_U0]
    o[O_RENTAL_PRICE] = p[P_R0]
    o[O_CAPEX_TTM] = TTM_MONTHS * p[P_CAPEX0]
    o[O_TOKENS] = p[P_Q0]
    o[O_POWER] = p[P_ENERGISED0]
    o[O_POWER_QUEUE] = p[P_QUEUE0]
    analyst_column(p, v, o)


def initial_state(x, p, obs, tmp):
    """Every path at t=0 alike: the state and observables of initial_column, then the
    valuation."""
    v, o = initial_column(p)
    fill_columns(x, v)
    fill_columns(obs, o)
    start_valuation(x, p, as_tuple(p, N_SCALAR_PARAMS), obs, tmp)


def fill_columns(rows, column):
    """Every column of ``rows`` set to ``column`` (row by row, in vector loops)."""
    n = rows.shape[1]
    for r in range(column.shape[0]):
        for i in lanes(n):
            rows[r, i] = column[r]


def write_changes(rows, column, start, i):
    """Column i of ``rows``, which holds ``start``, set to ``column``: only the entries that
    differ are written."""
    for r in range(column.shape[0]):
        if column[r] != start[r]:
            rows[r, i] = column[r]


def same_draws(draws, i):
    """Whether path i's draws are path i - 1's."""
    for k in range(draws.shape[0]):
        if draws[k, i] != draws[k, i - 1]:
            return False
    return True


def drawn_state(x, p, base, draws, obs, tmp):
    """Paths whose parameters are drawn at t=0: path i's vector is ``p`` with ``draws[:, i]``
    in the ``base`` slots and its start derived from them (initial_conditions; only the
    scalar parameters may differ between paths, sim.params.check_priors). Its scalar
    parameters go to column i of the scratch rows ``tmp`` from row T_PARAMS (the ``q`` of
    ``step``), its state and observables to column i of ``x`` and ``obs``; then the
    valuation, path by path. Consecutive paths with the same draws (replicates) share one
    derivation: it is most of the cost of a short run with priors.

    Every column starts as the point values' (``p``'s) and a path writes only the entries its
    draws change: the wide priors change 29 of ~450 (dotcom_crash), and one element per row,
    each in a cache line of its own, cost more than the derivation."""
    params = tmp[T_PARAMS:]
    v0, o0 = initial_column(p)
    fill_columns(x, v0)
    fill_columns(obs, o0)
    fill_columns(params, p[:N_SCALAR_PARAMS])
    own = p.copy()
    v, o = v0.copy(), o0.copy()
    for i in range(draws.shape[1]):
        if i == 0 or not same_draws(draws, i):
            for k in range(base.shape[0]):
                own[base[k]] = draws[k, i]
            initial_conditions(own)  # sets every derived slot: nothing carries over
            fill_initial_column(own, v, o)
        write_changes(params, own[:N_SCALAR_PARAMS], p[:N_SCALAR_PARAMS], i)
        write_changes(x, v, v0, i)
        write_changes(obs, o, o0, i)
    start_valuation(x, p, tmp, obs, tmp)


def start_valuation(x, p, q, obs, tmp):
    """The valuation at t=0 (sectors' and firms' equity, the index)."""
    n = obs.shape[1]
    for i in lanes(n):  # hand_over and contagion clear them after every sector
        tmp[T_LOST, i] = 0.0
        tmp[T_LOST_DEBT, i] = 0.0
        tmp[T_SECTOR_DEBT, i] = 0.0
    valuation(x, p, q, obs, tmp)
