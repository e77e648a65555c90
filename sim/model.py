r"""The model: every equation of bubblesim, once (docs/model.md explains each one).

One monthly step (``dt = 1/12`` yr) of one economy. The equations are elementwise NumPy
expressions. State, observables and scratch are arrays of rows (indexed by the constants
below) and columns (paths); ``step`` applies the equations in loops ``for i in lanes(n)``.
In Python ``lanes`` yields one slice, so ``x[X_RENT, i]`` is the row of all paths: that is
the NumPy reference. Compiled by numba it is ``range(n)`` and ``x[X_RENT, i]`` one path's
value, in loops that LLVM vectorizes across paths: that is the engine (sim.vectorize).
Two rules keep those loops vectorizable: they read parameters from the tuple ``q`` (values,
not memory the loop might be writing), and each stays small (LLVM gives up on a loop with
too many live values), so values pass from one loop to the next through ``tmp`` rows.

Order of one step at month t (quantities without subscript are this month's):

1. exogenous:  log tau += (g - sigma^2/2) dt + sigma sqrt(dt) z + N_jumps mu_J + sqrt(N) sigma_J z'
               log c   += (g_c - sigma_c^2/2) dt + sigma_c sqrt(dt) z_c
               m = m_floor + (m_prev - m_floor) exp(-kappa_m dt)
               A += (p + q A)(1 - A) dt exp(sigma_A sqrt(dt) z_A - sigma_A^2 dt / 2), capped at 1
2. capacity:   K = K_prev (1 - delta dt) + orders placed L months ago (ring buffer)
3. prices:     r* = c phi(U_prev) (1 - d_fire min(overhang, 1)),
               phi(U) = phi_0 + (phi_1 - phi_0) U^k;  r = r_prev (r* / r_prev)^a;
               P = r / tau (1 + m)
4. demand:     Q = Q0 (A / A0) (P / P0)^-eps;  H = Q / tau + training / r;
               served = min(H, K);  U = served / K;  S = P Q served / H
5. orders:     g_hat += w (log(H / H_prev) / dt - g_hat);  K* = H exp(o s_prev) / U*;
               need = K* (delta + g_hat) dt;
               gap = K* exp(g_hat L dt) + (L - 1) need - K - pipeline;
               orders = min(max(a delta dt K, need + gap / T_adj), g_max K, funds / k)
6. firms:      cash and debt of n firms per sector; default when cash + available credit < 0
7. sentiment:  s = rho s + (1 - rho) mu(regime) + a_g (g_hat - g_N) dt + a_u (U - U*) dt
                   + sigma_s sqrt(dt) z_s;  the narrative breaks after n months of disappointment
8. valuation:  EV_k = M_k exp(b_s s + b_g (g_hat - g_N)) R_k;  E_k = max(0, EV_k + net cash_k);
               V = sum_k E_k
"""

from __future__ import annotations

import numpy as np

from sim.rng import box_muller
from sim.vectorize import as_tuple, exp, lanes, log, power, where

DT = 1.0 / 12.0
LABS, CLOUDS, VENDORS = 0, 1, 2
SECTORS = ("labs", "clouds", "vendors")
N_SECTORS = 3
TTM_MONTHS = 12
MAX_JUMPS_PER_MONTH = 20

# --- parameter vector -------------------------------------------------------------------
(
    P_TAU0, P_TAU_GROWTH, P_TAU_VOL, P_JUMP_RATE, P_JUMP_MEAN, P_JUMP_STD,
    P_C0, P_COST_GROWTH, P_COST_VOL, P_OPEX_SHARE, P_CAPEX_PER_CAPACITY,
    P_RENT_FLOOR, P_RENT_CAP, P_RENT_CURVATURE, P_MARGIN0, P_MARGIN_FLOOR, P_MARGIN_DECAY,
    P_FIRE_DISCOUNT, P_FIRE_HALFLIFE, P_RENT_ADJUST,
    P_ELASTICITY, P_SPEND0, P_ADOPTION0, P_BASS_P, P_BASS_Q, P_ADOPTION_VOL,
    P_TRAINING0, P_TRAINING_GROWTH, P_TRAINING_CUT,
    P_UTIL0, P_UTIL_TARGET, P_BUILD_LAG, P_DEPRECIATION, P_ADJUST_MONTHS, P_MAX_GROWTH,
    P_EXPECT_WEIGHT, P_GROWTH0, P_OPTIMISM, P_MAINTENANCE,
    P_CIRC_SHARE, P_CIRC_CLOUD_SHARE, P_VC_RATIO, P_GPU_SHARE, P_VENDOR_MARGIN,
    P_LAB_FIXED, P_VENDOR_FIXED, P_CLOUD_OTHER_CASH, P_CLOUD_OTHER_GROWTH, P_RISK_FREE,
    P_SPREAD0, P_SPREAD_SENS,
    P_DEBT_MATURITY, P_CREDIT_MULTIPLE, P_GATE_CENTER, P_GATE_WIDTH,
    P_CASH0_LABS, P_CASH0_CLOUDS, P_CASH0_VENDORS, P_DEBT0_LABS, P_DEBT0_CLOUDS, P_DEBT0_VENDORS,
    P_N_FIRMS,
    P_S0, P_PERSISTENCE, P_SENT_VOL, P_SENT_GROWTH, P_SENT_UTIL, P_NARRATIVE_GROWTH,
    P_DISAPPOINT, P_BREAK_MONTHS, P_BREAK_JUMP, P_BUST_MEAN, P_RECOVERY_MONTHS,
    P_MULT_LABS, P_MULT_CLOUDS, P_MULT_VENDORS, P_MULT_SENT_BETA, P_MULT_GROWTH_BETA,
    P_REV_SMOOTHING,
    # derived once per run by initial_conditions()
    P_PRICE0, P_TOKENS0, P_CAPACITY0, P_ORDERS0, P_MARGIN_KEEP, P_OVERHANG_KEEP,
    N_SCALAR_PARAMS,
) = range(86)
# After the scalars: the Poisson CDF of monthly efficiency shocks, then per-firm leverage,
# cost multiplier and other-cash weight (n_firms each).
P_JUMP_CDF = N_SCALAR_PARAMS
P_FIRMS = P_JUMP_CDF + MAX_JUMPS_PER_MONTH

# --- state vector -----------------------------------------------------------------------
(
    X_LOG_TAU, X_LOG_COST, X_MARGIN, X_ADOPTION, X_CAPACITY, X_UTIL, X_OVERHANG, X_RENT,
    X_GROWTH_EXP, X_DEMAND, X_SENTIMENT, X_BROKEN, X_DISAPPOINTED, X_RECOVERING,
    X_REV_LABS, X_REV_CLOUDS, X_REV_VENDORS, X_PIPELINE, X_CAPEX_TTM,
    N_SCALAR_STATE,
) = range(20)
X_REV = X_REV_LABS  # X_REV + sector: smoothed annual revenue run-rate of that sector

# --- observables (the first N_HIST get per-month histograms) ----------------------------
(
    O_TOKEN_PRICE, O_SPEND, O_COMPUTE_DEMAND, O_CAPACITY, O_CAPEX, O_UTILIZATION,
    O_RENTAL_PRICE, O_INDEX, O_EQUITY_LABS, O_EQUITY_CLOUDS, O_EQUITY_VENDORS,
    O_CAPEX_TTM, O_TOKENS,
    N_OBS,
) = range(14)
N_HIST = O_CAPEX_TTM
O_EQUITY = O_EQUITY_LABS  # O_EQUITY + sector

N_UNIFORMS = 7  # uniforms drawn per path and month


def n_firms(p):
    return int(p[P_N_FIRMS])


def build_lag(p):
    return int(p[P_BUILD_LAG])


# Each firm's fields sit in adjacent rows of the state (row firm_row(p, f) + F_*): inside a
# lane loop over one firm, LLVM then sees them at constant distances from each other.
F_CASH, F_DEBT, F_ALIVE, F_SHARE, F_DEFAULT, FIRM_FIELDS = range(6)


def state_layout(p):
    """Offsets of the order pipeline, the capex ring and the firms in the state vector, and
    its length."""
    pipe = N_SCALAR_STATE
    ttm = pipe + build_lag(p)
    firms = ttm + TTM_MONTHS
    return pipe, ttm, firms, firms + FIRM_FIELDS * N_SECTORS * n_firms(p)


def firm_row(p, f):
    """First state row of firm f (sector k, firm j: f = k * n_firms + j)."""
    return state_layout(p)[2] + FIRM_FIELDS * f


# --- equations ---------------------------------------------------------------------------
def poisson_cdf(mean):
    """P(N <= k) for k = 0 .. MAX_JUMPS_PER_MONTH - 1 of a Poisson(mean) count."""
    k = np.arange(MAX_JUMPS_PER_MONTH)
    log_terms = -mean + k * np.log(max(mean, 1e-300)) - np.cumsum(np.log(np.maximum(k, 1)))
    return np.minimum(np.cumsum(np.exp(log_terms)), 1.0)


def poisson_counts(out, u, cdf, offset):
    """Inverse-CDF Poisson draws, one per path: ``out`` = the number of CDF values below ``u``.

    ``cdf`` holds poisson_cdf(mean) from index ``offset`` (at most MAX_JUMPS_PER_MONTH jumps).
    """
    n = u.shape[0]
    for i in lanes(n):
        out[i] = 0.0
    for k in range(MAX_JUMPS_PER_MONTH):
        below = cdf[offset + k]
        for i in lanes(n):
            out[i] = out[i] + (u[i] > below) * 1.0


def monthly_retention(rate_per_year):
    """Share kept after one month of exponential decay at a yearly rate."""
    return np.exp(-rate_per_year * DT)


def log_efficiency_step(log_tau, growth, vol, jumps, jump_mean, jump_std, z, z_jump):
    """Log-random-walk with drift and compound-Poisson jumps (tokens per GPU-hour)."""
    diffusion = (growth - 0.5 * vol * vol) * DT + vol * np.sqrt(DT) * z
    return log_tau + diffusion + jumps * jump_mean + np.sqrt(jumps) * jump_std * z_jump


def log_cost_step(log_cost, growth, vol, z):
    """Geometric Brownian motion of the all-in cost of a GPU-hour."""
    return log_cost + (growth - 0.5 * vol * vol) * DT + vol * np.sqrt(DT) * z


def margin_step(margin, floor, retention):
    """Competition pulls the labs' markup towards its floor (retention = e^{-kappa_m dt})."""
    return floor + (margin - floor) * retention


def adoption_step(adoption, p, q, vol, z):
    """Bass diffusion with a multiplicative log-normal shock on the monthly increment."""
    increment = (p + q * adoption) * (1.0 - adoption) * DT
    shock = exp(vol * np.sqrt(DT) * z - 0.5 * vol * vol * DT)
    return np.minimum(adoption + increment * shock, 1.0)


def rent_markup(util, floor, cap, curvature):
    """phi(U): rental price over cost; below 1 when spare capacity is dumped."""
    return floor + (cap - floor) * power(util, curvature)


def rental_price(cost, util, floor, cap, curvature, fire_discount, overhang):
    """Market-clearing rent r* = c phi(U) (1 - fire-sale discount): $ per GPU-hour."""
    markup = rent_markup(util, floor, cap, curvature)
    return cost * markup * (1.0 - fire_discount * np.minimum(overhang, 1.0))


def sticky_rent(previous, clearing, adjustment):
    """Contracted rents move a share of the way (in logs) to the clearing rent each month."""
    return previous * power(clearing / previous, adjustment)


def token_price(rental, tau, margin):
    """P = r / tau (1 + m): $ per million tokens."""
    return rental / tau * (1.0 + margin)


def token_demand(tokens0, adoption, adoption0, price, price0, elasticity):
    """Jevons demand Q = Q0 (A / A0) (P / P0)^-eps: quadrillion tokens per month."""
    return tokens0 * (adoption / adoption0) * power(price / price0, -elasticity)


def funding_gate(sentiment, center, width):
    """Share of outside funding and credit still open: logistic in sentiment."""
    return 1.0 / (1.0 + exp(-(sentiment - center) / width))


def exponential_trend(level0, growth, t):
    """A level growing at a constant rate: training budgets, clouds' other cash ($B/month)."""
    return level0 * exp(growth * t * DT)


def training_spend(base, circular_share, cut, gate):
    """Training spend: the circular share is spent only while suppliers fund it, and labs
    cut a share ``cut`` of their own training when outside funding closes."""
    own = (1.0 - circular_share) * (1.0 - cut * (1.0 - gate))
    return base * (own + circular_share * gate)


def expected_growth(previous, weight, demand, previous_demand):
    """Adaptive expectations of the annual log growth of compute demand."""
    return previous + weight * (log(demand / previous_demand) / DT - previous)


def desired_orders(demand, capacity, pipeline, growth_exp, sentiment, lag, optimism,
                   target_util, adjust_months, depreciation, maintenance):
    """Supply-line ordering rule: replacement and expected growth, plus a share of the gap.

    The target capacity is what forecast demand needs when today's orders arrive (L months
    ahead, scaled by sentiment-driven optimism); the target supply line holds L - 1 months of
    that need, so in steady growth orders equal the need and utilization stays on target.
    Even with spare capacity, a share ``maintenance`` of retirements is always replaced.
    """
    target = demand * exp(optimism * sentiment) / target_util
    need = target * (depreciation + growth_exp) * DT
    gap = target * exp(growth_exp * lag * DT) + (lag - 1.0) * need - capacity - pipeline
    return np.maximum(maintenance * depreciation * DT * capacity, need + gap / adjust_months)


def steady_orders(demand, capacity, growth_exp, sentiment, lag, optimism, target_util,
                  adjust_months, depreciation, maintenance):
    """Orders that reproduce themselves under desired_orders with a full, even pipeline."""
    o = desired_orders(demand, capacity, 0.0, growth_exp, sentiment, lag, optimism,
                       target_util, adjust_months, depreciation, maintenance)
    return o / (1.0 + (lag - 1.0) / adjust_months)


def capex_per_capacity(unit_cost0, cost, cost0):
    """Capex per unit of monthly capacity follows the all-in cost: $ per GPU-h/month."""
    return unit_cost0 * cost / cost0


def interest_rate(risk_free, spread0, sensitivity, sentiment):
    """Borrowing rate: the spread widens as sentiment falls (1/yr)."""
    return risk_free + spread0 * exp(-sensitivity * sentiment)


def sentiment_step(s, persistence, mean, growth_surprise, util_gap, a_growth, a_util, vol, z):
    """AR(1) sentiment driven by growth surprises, utilization and noise."""
    drive = (a_growth * growth_surprise + a_util * util_gap) * DT
    return persistence * s + (1.0 - persistence) * mean + drive + vol * np.sqrt(DT) * z


def valuation_multiple(base, sentiment, growth_surprise, beta_s, beta_g):
    """EV / annual revenue, expanding with sentiment and expected-growth surprise."""
    return base * exp(beta_s * sentiment + beta_g * growth_surprise)


# --- firm heterogeneity (computed once per run, not per path) ----------------------------
def firm_characteristics(n, leverage_low, leverage_high, cost_spread):
    """Leverage, cost multiplier and other-cash weight of each firm (firm 0: safest)."""
    grid = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    leverage = leverage_low + (leverage_high - leverage_low) * grid
    cost = 1.0 - cost_spread + 2.0 * cost_spread * grid if n > 1 else np.ones(1)
    other = 1.0 - leverage + 1e-3
    return leverage, cost, other / other.mean()


def initial_conditions(p):
    """Fill the derived t=0 entries of ``p`` so the initial economy is consistent.

    Given spend S0, utilization U0, cost c0 and efficiency tau0: P0 = c0 phi(U0) / tau0 (1 + m0),
    Q0 = S0 / P0, K0 = (Q0 / tau0 + training0 / r0) / U0, and the pipeline holds the orders
    that the ordering rule would place again at t=0 (steady_orders).
    """
    r0 = rental_price(p[P_C0], p[P_UTIL0], p[P_RENT_FLOOR], p[P_RENT_CAP], p[P_RENT_CURVATURE],
                      0.0, 0.0)
    price0 = token_price(r0, p[P_TAU0], p[P_MARGIN0])
    tokens0 = p[P_SPEND0] / price0
    gate0 = funding_gate(p[P_S0], p[P_GATE_CENTER], p[P_GATE_WIDTH])
    training = training_spend(p[P_TRAINING0], p[P_CIRC_SHARE], p[P_TRAINING_CUT], gate0)
    demand0 = tokens0 / p[P_TAU0] + training / r0
    capacity0 = demand0 / p[P_UTIL0]
    p[P_MARGIN_KEEP] = monthly_retention(p[P_MARGIN_DECAY])
    p[P_OVERHANG_KEEP] = 0.5 ** (1.0 / p[P_FIRE_HALFLIFE])
    p[P_JUMP_CDF:P_JUMP_CDF + MAX_JUMPS_PER_MONTH] = poisson_cdf(p[P_JUMP_RATE] * DT)
    p[P_PRICE0] = price0
    p[P_TOKENS0] = tokens0
    p[P_CAPACITY0] = capacity0
    p[P_ORDERS0] = steady_orders(demand0, capacity0, p[P_GROWTH0], p[P_S0], p[P_BUILD_LAG],
                                 p[P_OPTIMISM], p[P_UTIL_TARGET], p[P_ADJUST_MONTHS],
                                 p[P_DEPRECIATION], p[P_MAINTENANCE])
    return p


# --- state transitions -------------------------------------------------------------------
def initial_column(p):
    """The state and the observables at t=0 (the same on every path) as 1-D vectors; the
    equity observables are filled by record_valuation."""
    pipe, ttm, _, n_state = state_layout(p)
    nf = n_firms(p)
    v = np.zeros(n_state)
    o = np.zeros(N_OBS)
    v[X_LOG_TAU] = np.log(p[P_TAU0])
    v[X_LOG_COST] = np.log(p[P_C0])
    v[X_MARGIN] = p[P_MARGIN0]
    v[X_ADOPTION] = p[P_ADOPTION0]
    v[X_CAPACITY] = p[P_CAPACITY0]
    v[X_UTIL] = p[P_UTIL0]
    v[X_GROWTH_EXP] = p[P_GROWTH0]
    v[X_DEMAND] = p[P_CAPACITY0] * p[P_UTIL0]
    v[X_SENTIMENT] = p[P_S0]
    for lag in range(build_lag(p)):
        v[pipe + lag] = p[P_ORDERS0]
    v[X_PIPELINE] = build_lag(p) * p[P_ORDERS0]
    capex0 = p[P_ORDERS0] * p[P_CAPEX_PER_CAPACITY]
    for m in range(TTM_MONTHS):
        v[ttm + m] = capex0
    v[X_CAPEX_TTM] = TTM_MONTHS * capex0
    r0 = rental_price(p[P_C0], p[P_UTIL0], p[P_RENT_FLOOR], p[P_RENT_CAP], p[P_RENT_CURVATURE],
                      0.0, 0.0)
    v[X_RENT] = r0
    v[X_REV_LABS] = 12.0 * p[P_SPEND0]
    v[X_REV_CLOUDS] = 12.0 * r0 * v[X_DEMAND]
    v[X_REV_VENDORS] = 12.0 * p[P_GPU_SHARE] * capex0
    lev_mean = 0.0
    for j in range(nf):
        lev_mean = lev_mean + p[P_FIRMS + j]
    lev_mean = lev_mean / nf
    for k in range(N_SECTORS):
        for j in range(nf):
            lev_weight = p[P_FIRMS + j] / lev_mean if lev_mean > 0.0 else 1.0
            r = firm_row(p, k * nf + j)
            v[r + F_CASH] = p[P_CASH0_LABS + k] / nf
            v[r + F_DEBT] = p[P_DEBT0_LABS + k] / nf * lev_weight
            v[r + F_ALIVE] = 1.0
            v[r + F_SHARE] = 1.0 / nf
            v[r + F_DEFAULT] = -1.0
    o[O_TOKEN_PRICE] = p[P_PRICE0]
    o[O_SPEND] = p[P_SPEND0]
    o[O_COMPUTE_DEMAND] = v[X_DEMAND]
    o[O_CAPACITY] = p[P_CAPACITY0]
    o[O_CAPEX] = capex0
    o[O_UTILIZATION] = p[P_UTIL0]
    o[O_RENTAL_PRICE] = r0
    o[O_CAPEX_TTM] = TTM_MONTHS * capex0
    o[O_TOKENS] = p[P_TOKENS0]
    return v, o


def initial_state(x, p, obs, tmp):
    """Every path at t=0: the state and observables of initial_column, then the valuation."""
    v, o = initial_column(p)
    n = obs.shape[1]
    for r in range(v.shape[0]):
        for i in lanes(n):
            x[r, i] = v[r]
    for r in range(N_OBS):
        for i in lanes(n):
            obs[r, i] = o[r]
    for i in lanes(n):
        tmp[T_SURPRISE, i] = p[P_GROWTH0] - p[P_NARRATIVE_GROWTH]
    record_valuation(x, p, obs, tmp)


# Rows of the per-month scratch array that carry values from one lane loop to the next.
(
    T_TAU, T_COST, T_OVERHANG, T_GATE, T_CIRCULAR, T_REV_CLOUDS, T_GROWTH_EXP, T_UNIT_CAPEX,
    T_RATE, T_Z_SENT, T_FUNDS, T_REV_VENDORS, T_OPEX, T_VC, T_LOST, T_SURPRISE,
    T_NET_CASH, T_SURVIVORS, T_JUMPS, T_ARRIVALS, T_MOOD,
    N_SCRATCH,
) = range(22)


def step(x, t, p, u, obs, tmp):
    """Advance the state ``x`` from month t-1 to month t and fill the observables ``obs``.

    ``u`` holds this month's N_UNIFORMS uniforms, one column per path; ``tmp`` is scratch
    space (N_SCRATCH rows). Each ``lanes`` loop runs its body on all paths at once (NumPy) or
    on one path at a time in a loop that numba vectorizes (engine); loops over firms sit
    outside the lane loops.
    """
    pipe, ttm, _, _ = state_layout(p)
    nf = n_firms(p)
    lag = build_lag(p)
    n = obs.shape[1]
    q = as_tuple(p, N_SCALAR_PARAMS)  # the scalar parameters, read inside the lane loops
    poisson_counts(tmp[T_JUMPS], u[6], p, P_JUMP_CDF)
    base = exponential_trend(q[P_TRAINING0], q[P_TRAINING_GROWTH], t)
    other_cash = exponential_trend(q[P_CLOUD_OTHER_CASH], q[P_CLOUD_OTHER_GROWTH], t)
    cloud_share = q[P_CIRC_CLOUD_SHARE]
    vendor_margin = q[P_VENDOR_MARGIN]
    slot = pipe + t % lag
    ttm_slot = ttm + t % TTM_MONTHS
    for i in lanes(n):
        z_tau, z_jump = box_muller(u[0, i], u[1, i])
        z_cost, z_adopt = box_muller(u[2, i], u[3, i])
        z_sent, _unused = box_muller(u[4, i], u[5, i])

        # 1. exogenous progress
        x[X_LOG_TAU, i] = log_efficiency_step(x[X_LOG_TAU, i], q[P_TAU_GROWTH], q[P_TAU_VOL],
                                              tmp[T_JUMPS, i], q[P_JUMP_MEAN], q[P_JUMP_STD],
                                              z_tau, z_jump)
        x[X_LOG_COST, i] = log_cost_step(x[X_LOG_COST, i], q[P_COST_GROWTH], q[P_COST_VOL],
                                         z_cost)
        x[X_MARGIN, i] = margin_step(x[X_MARGIN, i], q[P_MARGIN_FLOOR], q[P_MARGIN_KEEP])
        x[X_ADOPTION, i] = adoption_step(x[X_ADOPTION, i], q[P_BASS_P], q[P_BASS_Q],
                                         q[P_ADOPTION_VOL], z_adopt)
        tmp[T_TAU, i] = exp(x[X_LOG_TAU, i])
        tmp[T_COST, i] = exp(x[X_LOG_COST, i])
        tmp[T_Z_SENT, i] = z_sent
    for i in lanes(n):  # deliveries: the orders placed L months ago
        tmp[T_ARRIVALS, i] = x[slot, i]

    for i in lanes(n):
        tau = tmp[T_TAU, i]
        cost = tmp[T_COST, i]

        # 2. capacity: deliveries, retirements, fire-sale overhang decays
        capacity = x[X_CAPACITY, i] * (1.0 - q[P_DEPRECIATION] * DT) + tmp[T_ARRIVALS, i]
        overhang = x[X_OVERHANG, i] * q[P_OVERHANG_KEEP]

        # 3. prices (this month's rent clears on last month's utilization)
        clearing = rental_price(cost, x[X_UTIL, i], q[P_RENT_FLOOR], q[P_RENT_CAP],
                                q[P_RENT_CURVATURE], q[P_FIRE_DISCOUNT], overhang)
        rental = sticky_rent(x[X_RENT, i], clearing, q[P_RENT_ADJUST])
        x[X_RENT, i] = rental
        obs[O_TOKEN_PRICE, i] = token_price(rental, tau, x[X_MARGIN, i])
        obs[O_CAPACITY, i] = capacity
        obs[O_RENTAL_PRICE, i] = rental
        tmp[T_OVERHANG, i] = overhang

    for i in lanes(n):
        # 4. demand, training compute, utilization
        tau = tmp[T_TAU, i]
        s_prev = x[X_SENTIMENT, i]
        price = obs[O_TOKEN_PRICE, i]
        capacity = obs[O_CAPACITY, i]
        rental = obs[O_RENTAL_PRICE, i]
        tokens = token_demand(q[P_TOKENS0], x[X_ADOPTION, i], q[P_ADOPTION0], price,
                              q[P_PRICE0], q[P_ELASTICITY])
        gate = funding_gate(s_prev, q[P_GATE_CENTER], q[P_GATE_WIDTH])
        training = training_spend(base, q[P_CIRC_SHARE], q[P_TRAINING_CUT], gate)
        demand = tokens / tau + training / rental
        served = np.minimum(demand, capacity)
        obs[O_SPEND, i] = price * tokens * (served / demand)
        obs[O_COMPUTE_DEMAND, i] = demand
        obs[O_UTILIZATION, i] = served / capacity
        obs[O_TOKENS, i] = tokens
        tmp[T_GATE, i] = gate
        tmp[T_CIRCULAR, i] = q[P_CIRC_SHARE] * gate * base
        tmp[T_REV_CLOUDS, i] = rental * served

    for i in lanes(n):
        # 5. expectations; orders wait for the clouds' funds below
        s_prev = x[X_SENTIMENT, i]
        demand = obs[O_COMPUTE_DEMAND, i]
        capacity = obs[O_CAPACITY, i]
        growth_exp = expected_growth(x[X_GROWTH_EXP, i], q[P_EXPECT_WEIGHT], demand,
                                     x[X_DEMAND, i])
        pipeline = x[X_PIPELINE, i] - tmp[T_ARRIVALS, i]
        wanted = desired_orders(demand, capacity, pipeline, growth_exp, s_prev, lag,
                                q[P_OPTIMISM], q[P_UTIL_TARGET], q[P_ADJUST_MONTHS],
                                q[P_DEPRECIATION], q[P_MAINTENANCE])
        x[X_PIPELINE, i] = pipeline
        obs[O_CAPEX, i] = np.minimum(wanted, q[P_MAX_GROWTH] * capacity)
        tmp[T_GROWTH_EXP, i] = growth_exp
        tmp[T_UNIT_CAPEX, i] = capex_per_capacity(q[P_CAPEX_PER_CAPACITY], tmp[T_COST, i],
                                                  q[P_C0])
        tmp[T_RATE, i] = interest_rate(q[P_RISK_FREE], q[P_SPREAD0], q[P_SPREAD_SENS], s_prev)
        tmp[T_FUNDS, i] = 0.0

    # what the clouds can pay for: cash plus unused credit of each surviving cloud
    for j in range(nf):
        r = firm_row(p, CLOUDS * nf + j)
        for i in lanes(n):
            room = credit_room(q[P_CREDIT_MULTIPLE], x[r + F_SHARE, i], x[X_REV_CLOUDS, i],
                               tmp[T_GATE, i], x[r + F_DEBT, i])
            tmp[T_FUNDS, i] = tmp[T_FUNDS, i] + x[r + F_ALIVE, i] * np.maximum(
                x[r + F_CASH, i] + room, 0.0)

    for i in lanes(n):
        # orders capped by power (g_max K) and by financing
        orders = np.minimum(obs[O_CAPEX, i], tmp[T_FUNDS, i] / tmp[T_UNIT_CAPEX, i])
        x[slot, i] = orders
        x[X_PIPELINE, i] = x[X_PIPELINE, i] + orders
        capex = orders * tmp[T_UNIT_CAPEX, i]
        x[X_CAPEX_TTM, i] = x[X_CAPEX_TTM, i] - x[ttm_slot, i] + capex
        x[ttm_slot, i] = capex
        obs[O_CAPEX, i] = capex
        obs[O_CAPEX_TTM, i] = x[X_CAPEX_TTM, i]
        tmp[T_REV_VENDORS, i] = q[P_GPU_SHARE] * capex
        tmp[T_OPEX, i] = q[P_OPEX_SHARE] * tmp[T_COST, i] * obs[O_CAPACITY, i]
        tmp[T_VC, i] = q[P_VC_RATIO] * tmp[T_GATE, i] * base * (1.0 - q[P_CIRC_SHARE])

    # 6. firms: cash flows, debt, defaults and the hand-over of shares
    for k in range(N_SECTORS):
        for i in lanes(n):
            tmp[T_LOST, i] = 0.0
        for j in range(nf):
            r = firm_row(p, k * nf + j)
            lev = p[P_FIRMS + j]
            cost_mult = p[P_FIRMS + nf + j]
            other = other_cash * p[P_FIRMS + 2 * nf + j]
            fixed = where(k == LABS, q[P_LAB_FIXED], q[P_VENDOR_FIXED])
            for i in lanes(n):
                flow, borrowed = firm_cash_flow(
                    k, x[r + F_SHARE, i], obs[O_SPEND, i], tmp[T_CIRCULAR, i], tmp[T_VC, i],
                    tmp[T_REV_CLOUDS, i], tmp[T_OPEX, i], obs[O_CAPEX, i],
                    tmp[T_REV_VENDORS, i], other, lev, cost_mult, fixed, cloud_share,
                    vendor_margin)
                repaid = x[r + F_DEBT, i] / q[P_DEBT_MATURITY]
                interest = tmp[T_RATE, i] * DT * (x[r + F_DEBT, i]
                                                  + np.maximum(-x[r + F_CASH, i], 0.0))
                live = x[r + F_ALIVE, i]
                new_cash = live * (x[r + F_CASH, i] + flow - interest - repaid)
                x[r + F_DEBT, i] = live * (x[r + F_DEBT, i] + borrowed - repaid)
                room = credit_room(q[P_CREDIT_MULTIPLE], x[r + F_SHARE, i], x[X_REV + k, i],
                                   tmp[T_GATE, i], x[r + F_DEBT, i])
                fails = (live > 0.0) & (new_cash + room < 0.0)
                x[r + F_DEFAULT, i] = where(fails, 1.0 * t, x[r + F_DEFAULT, i])
                x[r + F_ALIVE, i] = where(fails, 0.0, live)
                x[r + F_CASH, i] = where(fails, 0.0, new_cash)
                x[r + F_DEBT, i] = where(fails, 0.0, x[r + F_DEBT, i])
                tmp[T_LOST, i] = tmp[T_LOST, i] + where(fails, x[r + F_SHARE, i], 0.0)
        if np.any(tmp[T_LOST] > 0.0):  # the identity on paths where no firm failed
            for j in range(nf):
                r = firm_row(p, k * nf + j)
                for i in lanes(n):
                    x[r + F_SHARE, i] = share_after_defaults(x[r + F_SHARE, i],
                                                             x[r + F_ALIVE, i], tmp[T_LOST, i])
        if k == CLOUDS:  # the defaulted clouds' share of capacity is dumped on the market
            for i in lanes(n):
                x[X_OVERHANG, i] = tmp[T_OVERHANG, i] + tmp[T_LOST, i]

    for i in lanes(n):
        # 7. sentiment and the narrative regime
        growth_exp = tmp[T_GROWTH_EXP, i]
        surprise = growth_exp - q[P_NARRATIVE_GROWTH]
        disappointed = where(surprise < -q[P_DISAPPOINT], x[X_DISAPPOINTED, i] + 1.0, 0.0)
        broken_before = x[X_BROKEN, i]
        breaks = (broken_before == 0.0) & (disappointed >= q[P_BREAK_MONTHS])
        recovering = where((broken_before > 0.0) & (surprise > 0.0),
                           x[X_RECOVERING, i] + 1.0, 0.0)
        mends = (broken_before > 0.0) & (recovering >= q[P_RECOVERY_MONTHS])
        broken = where(breaks, 1.0, where(mends, 0.0, broken_before))
        util = obs[O_UTILIZATION, i]
        sentiment = sentiment_step(x[X_SENTIMENT, i], q[P_PERSISTENCE], broken * q[P_BUST_MEAN],
                                   surprise, util - q[P_UTIL_TARGET], q[P_SENT_GROWTH],
                                   q[P_SENT_UTIL], q[P_SENT_VOL], tmp[T_Z_SENT, i])
        x[X_SENTIMENT, i] = sentiment - where(breaks, q[P_BREAK_JUMP], 0.0)
        x[X_BROKEN, i] = broken
        x[X_DISAPPOINTED, i] = disappointed
        x[X_RECOVERING, i] = where(mends, 0.0, recovering)

        # 8. carry the state
        x[X_CAPACITY, i] = obs[O_CAPACITY, i]
        x[X_UTIL, i] = util
        x[X_GROWTH_EXP, i] = growth_exp
        x[X_DEMAND, i] = obs[O_COMPUTE_DEMAND, i]
        x[X_REV_LABS, i] = smoothed_run_rate(x[X_REV_LABS, i], obs[O_SPEND, i],
                                             q[P_REV_SMOOTHING])
        x[X_REV_CLOUDS, i] = smoothed_run_rate(x[X_REV_CLOUDS, i], tmp[T_REV_CLOUDS, i],
                                               q[P_REV_SMOOTHING])
        x[X_REV_VENDORS, i] = smoothed_run_rate(x[X_REV_VENDORS, i], tmp[T_REV_VENDORS, i],
                                                q[P_REV_SMOOTHING])
        tmp[T_SURPRISE, i] = surprise
    record_valuation(x, p, obs, tmp)


def firm_cash_flow(sector, w, spend, circular, vc, rev_clouds, opex, capex, rev_vendors,
                   other_cash, leverage, cost_mult, fixed, cloud_share, vendor_margin):
    """One firm's monthly operating cash flow and new borrowing ($B), given its share w.

    Labs: token revenue, circular and venture funding, minus compute rent and fixed costs.
    Clouds: rent minus opex, other businesses' cash, minus the equity-funded part of capex
    and their share ``cloud_share`` of circular deals; they borrow the rest of capex.
    Vendors: their margin on GPU sales minus fixed costs and the rest of circular deals.
    """
    if sector == LABS:
        flow = w * (spend + circular + vc - rev_clouds - fixed * cost_mult)
        return flow, 0.0 * flow
    if sector == CLOUDS:
        flow = w * (rev_clouds - opex * cost_mult + other_cash - capex * (1.0 - leverage)
                    - circular * cloud_share)
        return flow, w * capex * leverage
    flow = w * (rev_vendors * vendor_margin - fixed * cost_mult - circular * (1.0 - cloud_share))
    return flow, 0.0 * flow


def share_after_defaults(share, alive, lost):
    """Survivors take the defaulters' customers in proportion to their shares: a survivor's
    share grows by 1 / (1 - lost), a defaulter's falls to 0 (``lost``: the sector's share
    that defaulted this month; unchanged when none did, or when no firm is left)."""
    kept = 1.0 - lost
    return where((lost > 0.0) & (kept > 0.0), alive * share / np.maximum(kept, 1e-300), share)


def smoothed_run_rate(previous, monthly, weight):
    """Annual revenue run-rate, exponentially smoothed: previous + w (12 monthly - previous)."""
    return previous + weight * (12.0 * monthly - previous)


def credit_room(multiple, share, revenue, gate, debt):
    """Unused credit of one firm: a multiple of its share of the sector's revenue run-rate,
    while lenders lend (gate)."""
    return np.maximum(multiple * share * revenue * gate - debt, 0.0)


def record_valuation(x, p, obs, tmp):
    """Sector equity = EV + net cash of surviving firms; the index is their sum ($B).

    Reads the growth surprise from ``tmp[T_SURPRISE]``.
    """
    nf = n_firms(p)
    n = obs.shape[1]
    q = as_tuple(p, N_SCALAR_PARAMS)
    for i in lanes(n):
        obs[O_INDEX, i] = 0.0
        tmp[T_MOOD, i] = valuation_multiple(1.0, x[X_SENTIMENT, i], tmp[T_SURPRISE, i],
                                            q[P_MULT_SENT_BETA], q[P_MULT_GROWTH_BETA])
    for k in range(N_SECTORS):
        multiple = p[P_MULT_LABS + k]
        for i in lanes(n):
            tmp[T_NET_CASH, i] = 0.0
            tmp[T_SURVIVORS, i] = 0.0
        for j in range(nf):
            r = firm_row(p, k * nf + j)
            for i in lanes(n):
                tmp[T_NET_CASH, i] = tmp[T_NET_CASH, i] + x[r + F_ALIVE, i] * (x[r + F_CASH, i]
                                                                            - x[r + F_DEBT, i])
                tmp[T_SURVIVORS, i] = tmp[T_SURVIVORS, i] + x[r + F_ALIVE, i]
        for i in lanes(n):
            enterprise = (multiple * tmp[T_MOOD, i] * x[X_REV + k, i]
                          * np.minimum(tmp[T_SURVIVORS, i], 1.0))
            equity = np.maximum(enterprise + tmp[T_NET_CASH, i], 0.0)
            obs[O_EQUITY + k, i] = equity
            obs[O_INDEX, i] = obs[O_INDEX, i] + equity
