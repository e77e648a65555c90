"""Each mechanism of the model against a hand calculation, a limiting case or a known law,
computed without the step it sits in (docs/model.md names the tests beside each equation).

The NumPy path is used throughout: it runs the same source as the engine, and the engine is
compared with it in test_engine.py; here the question is whether the equations are right.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SCENARIOS, schema
from sim import equations as eq
from sim import layout as L
from sim import model, rng
from sim.params import model_vector, run_settings

DT = 1.0 / 12.0
QUIET = ["model.efficiency.volatility=0", "model.efficiency.jump_rate=0",
         "model.cost.volatility=0", "model.demand.adoption_volatility=0",
         "model.sentiment.volatility=0", "model.sectors.volatility=0"]


def quiet_path(months: int, *overrides: str):
    """One path with every shock zero (Box-Muller radius 0): (config, p, states, observables)."""
    cfg = schema(*QUIET, *overrides)
    p = model_vector(cfg)
    x = np.empty((model.state_layout(p)[3], 1))
    obs = np.empty((L.N_OBS, 1))
    tmp = np.empty((L.N_SCRATCH, 1))
    model.initial_state(x, p, obs, tmp)
    u = np.full((L.N_UNIFORMS, 1), 0.5)
    u[[0, 2, 4, 6]] = 1.0  # log(1) = 0: every normal is exactly 0
    states, observed = [x[:, 0].copy()], [obs[:, 0].copy()]
    for t in range(1, months + 1):
        model.step(x, t, p, model.month_params(p, t), u, obs, tmp)
        states.append(x[:, 0].copy())
        observed.append(obs[:, 0].copy())
    return cfg, p, np.array(states), np.array(observed)


def firm_rows(p, sector):
    return [model.firm_row(p, sector * model.n_firms(p) + j) for j in range(model.n_firms(p))]


# --- the start -------------------------------------------------------------------------------
def test_month_zero_is_the_start():
    cfg, p, x, o = quiet_path(0)
    c, tok = cfg.start.compute, cfg.start.tokens
    assert o[0, L.O_TOKEN_PRICE] == pytest.approx(tok.spend / tok.tokens, rel=1e-12)
    assert o[0, L.O_SPEND] == tok.spend and o[0, L.O_CAPACITY] == c.capacity
    assert o[0, L.O_UTILIZATION] == c.utilization and o[0, L.O_RENTAL_PRICE] == c.rent
    assert o[0, L.O_CAPEX] == c.capex
    # efficiency from tokens over inference compute; the labs' markup from the token price
    tau0 = tok.tokens / (tok.inference_share * c.capacity * c.utilization)
    assert np.exp(x[0, L.X_LOG_TAU]) == pytest.approx(tau0, rel=1e-12)
    margin0 = tok.spend / tok.tokens * tau0 / c.rent - 1.0
    assert x[0, L.X_MARGIN] == pytest.approx(margin0, rel=1e-12)
    # each sector's equity is its firms' market values (a firm is worth at least its net cash
    # and its stakes in the labs)
    def stakes(s):
        return getattr(getattr(cfg.start, s), "stake", [0.0] * len(cfg.start.labs.names))
    worth = {s: [max(v, c + st - d) for v, c, st, d in zip(
        getattr(cfg.start, s).value, getattr(cfg.start, s).cash, stakes(s),
        getattr(cfg.start, s).debt, strict=True)] for s in L.SECTORS}
    # a stake is the start's value of it as a share of the labs' equity
    microsoft = firm_rows(p, L.CLOUDS)[0]
    assert x[0, microsoft + L.F_STAKE] == pytest.approx(
        cfg.start.clouds.stake[0] / sum(cfg.start.labs.value), rel=1e-12)
    for k, sector in enumerate(L.SECTORS):
        assert o[0, L.O_EQUITY + k] == pytest.approx(sum(worth[sector]), rel=1e-9)
    assert o[0, L.O_INDEX] == pytest.approx(sum(map(sum, worth.values())), rel=1e-9)


def test_rent_curve_passes_through_the_start():
    cfg, p, _, _ = quiet_path(0)
    c = cfg.start.compute
    m = cfg.model.prices
    cap = p[L.param("derived.rent_cap")]
    assert eq.rental_price(c.unit_cost, c.utilization, m.rent_floor, cap, m.rent_curvature, 0.0,
                           0.0) == pytest.approx(c.rent, rel=1e-12)


def test_the_order_book_implies_the_expected_growth():
    """At t=0 the ordering rule places the start's orders again (no jump in month 1)."""
    cfg, p, x, _ = quiet_path(0)
    c, k = cfg.start.compute, cfg.model.capacity
    orders0 = c.capex / c.capex_per_capacity
    wanted = eq.desired_orders(c.capacity * c.utilization, c.capacity,
                               (c.build_lag - 1) * orders0, x[0, L.X_GROWTH_EXP],
                               k.optimism * cfg.model.sentiment.s0, c.build_lag,
                               k.target_utilization, k.adjustment_months, k.depreciation,
                               k.maintenance_share)
    assert wanted == pytest.approx(orders0, rel=1e-9)


@pytest.mark.parametrize("name", SCENARIOS)
def test_first_year_without_shocks_is_smooth_and_without_default(name):
    """The start is data, not a steady state (the order book adds capacity faster than
    demand grows), so the economy moves from month 1 on; but it moves without jumps: no
    observable changes by more than 20% in a month or turns by more than 15 points."""
    _, p, x, o = quiet_path(12, f"scenario={name}")
    rows = [model.firm_row(p, f) for f in range(3 * model.n_firms(p))]
    assert all(x[-1, r + L.F_ALIVE] == 1.0 for r in rows)
    for series in (L.O_INDEX, L.O_CAPEX, L.O_COMPUTE_DEMAND, L.O_CAPACITY, L.O_SPEND,
                   L.O_RENTAL_PRICE, L.O_TOKEN_PRICE, L.O_EQUITY_LABS, L.O_EQUITY_CLOUDS,
                   L.O_EQUITY_VENDORS):
        steps = np.diff(np.log(o[:, series]))
        assert np.abs(steps).max() < 0.2, (name, series, steps)
        assert np.abs(np.diff(steps)).max() < 0.15, (name, series, steps)


# --- exogenous progress ----------------------------------------------------------------------
def _uniforms(n, months, draws, seed=11):
    with np.errstate(over="ignore"):
        keys = rng.path_key(np.uint64(seed), np.arange(n, dtype=np.uint64))
        for t in range(months):
            yield [rng.uniform(keys, np.uint64(t * draws + k)) for k in range(draws)]


@pytest.mark.parametrize("growth, vol, rate, mean, std", [
    (0.6, 0.25, 0.5, 0.3, 0.2), (1.5, 0.5, 2.0, 0.7, 0.4), (-0.2, 0.0, 1.0, -0.5, 0.1)])
def test_efficiency_log_moments(growth, vol, rate, mean, std):
    """log tau_T: mean (g - s^2/2)T + lam T mu_J, variance s^2 T + lam T (mu_J^2 + s_J^2)."""
    n, months = 100_000, 60
    log_tau = np.zeros(n)
    cdf = eq.poisson_cdf(rate * DT)
    for u in _uniforms(n, months, 3):
        z, z_jump = rng.box_muller(u[0], u[1])
        jumps = np.empty(n)
        model.poisson_counts(jumps, u[2], cdf, 0)
        log_tau = eq.log_efficiency_step(log_tau, growth, vol, jumps, mean, std, z, z_jump)
    horizon = months * DT
    mu = (growth - 0.5 * vol**2) * horizon + rate * horizon * mean
    var = vol**2 * horizon + rate * horizon * (mean**2 + std**2)
    assert abs(log_tau.mean() - mu) < 4 * np.sqrt(var / n)
    fourth = np.mean((log_tau - log_tau.mean()) ** 4)
    assert abs(log_tau.var() - var) < 4 * np.sqrt((fourth - var**2) / n)


def test_cost_log_moments():
    n, months, growth, vol = 100_000, 120, -0.3, 0.1
    log_c = np.zeros(n)
    for u in _uniforms(n, months, 2):
        log_c = eq.log_cost_step(log_c, growth, vol, rng.box_muller(u[0], u[1])[0])
    horizon = months * DT
    var = vol**2 * horizon
    assert abs(log_c.mean() - (growth - 0.5 * vol**2) * horizon) < 4 * np.sqrt(var / n)
    assert abs(log_c.var() - var) < 4 * var * np.sqrt(2 / n)


def test_uniforms_and_normals_are_standard():
    n = 200_000
    (u1, u2), = list(_uniforms(n, 1, 2))
    assert 0.0 < u1.min() and u1.max() < 1.0
    assert abs(u1.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)
    z = np.concatenate(rng.box_muller(u1, u2))
    assert abs(z.mean()) < 4 / np.sqrt(2 * n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / (2 * n))
    assert abs(np.corrcoef(u1, u2)[0, 1]) < 4 / np.sqrt(n)


@pytest.mark.parametrize("mean", [0.0, 0.05, 1.0 / 6.0, 2.0])
def test_poisson_cdf_matches_scipy(mean):
    from scipy import stats
    k = np.arange(L.MAX_JUMPS_PER_MONTH)
    np.testing.assert_allclose(eq.poisson_cdf(mean), stats.poisson.cdf(k, mean),
                               rtol=1e-12, atol=1e-15)


def test_quiet_path_follows_the_drifts_and_bass_by_hand():
    cfg, p, x, o = quiet_path(24)
    m = cfg.model
    adoption, margin = cfg.start.tokens.adoption, x[0, L.X_MARGIN]
    keep = np.exp(-m.prices.margin_decay * DT)
    for t in range(1, 25):
        adoption = min(adoption + (m.demand.bass_p + m.demand.bass_q * adoption)
                       * (1 - adoption) * DT, 1.0)
        margin = m.prices.margin_floor + (margin - m.prices.margin_floor) * keep
        assert np.exp(x[t, L.X_LOG_TAU] - x[0, L.X_LOG_TAU]) == pytest.approx(
            np.exp(m.efficiency.growth * t * DT), rel=1e-12)
        assert np.exp(x[t, L.X_LOG_COST] - x[0, L.X_LOG_COST]) == pytest.approx(
            np.exp(m.cost.growth * t * DT), rel=1e-12)
        assert x[t, L.X_ADOPTION] == pytest.approx(adoption, rel=1e-12)
        assert x[t, L.X_MARGIN] == pytest.approx(margin, rel=1e-12)


def test_adoption_is_capped_at_one():
    assert eq.adoption_step(0.99, 50.0, 50.0, 0.0, 0.0) == 1.0


def test_maturing_trend_limits():
    t = np.arange(0, 241)
    fast = eq.maturing_trend(1.0, 0.8, 0.1, 1e9, t)  # no decay: plain exponential at g0
    np.testing.assert_allclose(fast, np.exp(0.8 * t * DT), rtol=1e-6)
    slow = eq.maturing_trend(1.0, 0.8, 0.1, 2.0, t)
    growth = np.diff(np.log(slow)) / DT
    assert growth[0] == pytest.approx(0.8, abs=0.02) and growth[-1] == pytest.approx(0.1, abs=0.01)
    half = int(2.0 * 12)
    assert growth[half] == pytest.approx(0.1 + 0.7 / 2, abs=0.02)  # halfway at the half-life


def test_paths_with_their_own_parameters_step_the_trends_to_their_closed_forms():
    """With priors, lane_params advances each path's trends by its own monthly factors;
    month_params computes them in closed form: path by path, they agree to rounding over the
    longest horizon."""
    horizon = 600
    ps = [model_vector(schema(f"model.horizon_months={horizon}", *overrides)) for overrides in (
        (), ("model.labs.training_growth=1.5", "model.labs.maturity_halflife=0.5",
             "model.power.build_growth=-0.3", "model.power.efficiency_gain=0.4"))]
    q = np.zeros((L.T_PARAMS + L.N_SCALAR_PARAMS, len(ps)))
    for i, p in enumerate(ps):
        q[L.T_PARAMS:, i] = p[:L.N_SCALAR_PARAMS]
    trends = slice(model.P_TRENDS, L.P_MONTHLY)
    for t in range(1, horizon + 1):
        model.lane_params(q, ps[0], t)
        for i, p in enumerate(ps):
            np.testing.assert_allclose(q[L.T_PARAMS:, i][trends], model.month_params(p, t)[trends],
                                       rtol=1e-12, err_msg=f"month {t}, path {i}")
    assert q[L.T_PARAMS + model.P_BUILD_NOW, 1] < 1e-6 * ps[1][model.P_BUILD_NOW]


# --- prices and demand -----------------------------------------------------------------------
def test_sticky_rent_closes_a_share_of_the_log_gap():
    assert eq.sticky_rent(2.0, 1.0, 0.25) == pytest.approx(2.0 * 0.5 ** 0.25, rel=1e-12)
    assert eq.sticky_rent(1.5, 1.5, 0.25) == pytest.approx(1.5, rel=1e-12)


def test_fire_sale_overhang_discounts_the_clearing_rent():
    full = eq.rental_price(1.0, 0.8, 0.3, 2.0, 3.0, 0.5, 0.0)
    half = eq.rental_price(1.0, 0.8, 0.3, 2.0, 3.0, 0.5, 0.5)
    assert half == pytest.approx(full * 0.75, rel=1e-12)
    assert eq.rental_price(1.0, 0.8, 0.3, 2.0, 3.0, 0.5, 5.0) == pytest.approx(full * 0.5)


def test_rent_rises_with_utilization():
    u = np.linspace(0, 1, 11)
    phi = eq.rent_markup(u, 0.3, 2.0, 3.0)
    assert phi[0] == pytest.approx(0.3) and phi[-1] == pytest.approx(2.0)
    assert (np.diff(phi) > 0).all()


def test_jevons_demand_by_hand():
    # Q = Q0 (A / A0) (P / P0)^-eps; spend P Q rises as P falls iff eps > 1
    for eps, rises in ((1.3, True), (0.7, False)):
        q = eq.token_demand(5.0, 0.3, 0.15, 0.5, 1.0, eps)
        assert q == pytest.approx(5.0 * 2.0 * 2.0 ** eps, rel=1e-12)
        assert (0.5 * q > 1.0 * eq.token_demand(5.0, 0.3, 0.15, 1.0, 1.0, eps)) == rises
    assert 0.5 * eq.token_demand(5.0, 0.3, 0.15, 0.5, 1.0, 1.0) == pytest.approx(
        eq.token_demand(5.0, 0.3, 0.15, 1.0, 1.0, 1.0))


# --- labs --------------------------------------------------------------------------------------
def test_training_funding_by_hand():
    # cash and support cover the target: all of the plan; nothing: 1 - cut; linear between
    assert eq.training_funding(60.0, 0.0, 10.0, 6.0, 0.7) == 1.0
    assert eq.training_funding(0.0, 0.0, 10.0, 6.0, 0.7) == pytest.approx(0.3)
    assert eq.training_funding(30.0, 0.0, 10.0, 6.0, 0.7) == pytest.approx(1 - 0.7 * 0.5)
    assert eq.training_funding(0.0, 10.0, 10.0, 6.0, 0.7) == 1.0  # a parent's support counts


def test_a_parent_pays_the_deficit_up_to_its_commitment():
    assert eq.parent_support(5.5, 3.0) == 3.0  # no more than the lab needs
    assert eq.parent_support(5.5, 8.0) == 5.5  # no more than committed
    assert eq.parent_support(5.5, -1.0) == 0.0  # a lab in profit gets nothing


def test_an_in_house_lab_does_not_pile_up_its_parents_cash():
    """The in-house labs start with no cash of their own; their parents cover what they
    spend, so over two years their cash stays 0 (it would grow by the unspent support)."""
    _, p, x, _ = quiet_path(24)
    in_house = firm_rows(p, L.LABS)[3]
    assert np.all(x[:, in_house + L.F_ALIVE] == 1.0)
    assert np.abs(x[:, in_house + L.F_CASH]).max() < 1e-9


def test_funding_round_by_hand():
    # short of 12 months of burn: 18 months of burn, capped by 20% of value, times the gate
    assert eq.funding_round(10.0, 2.0, 1.0, 12.0, 18.0, 1000.0, 0.2) == pytest.approx(36.0)
    assert eq.funding_round(10.0, 2.0, 0.5, 12.0, 18.0, 1000.0, 0.2) == pytest.approx(18.0)
    assert eq.funding_round(10.0, 2.0, 1.0, 12.0, 18.0, 100.0, 0.2) == pytest.approx(20.0)
    assert eq.funding_round(30.0, 2.0, 1.0, 12.0, 18.0, 1000.0, 0.2) == 0.0  # runway enough
    assert eq.funding_round(10.0, 0.0, 1.0, 12.0, 18.0, 1000.0, 0.2) == 0.0  # no burn


def month_until(section, x, p, obs, tmp, t=1):
    """Run month t's sections up to and including ``section`` on one quiet path."""
    q = model.month_params(p, t)
    u = np.full((L.N_UNIFORMS, 1), 0.5)
    u[[0, 2, 4, 6]] = 1.0
    pipe, ttm, _, _ = model.state_layout(p)
    lag = model.build_lag(p)
    tmp[L.T_JUMPS] = 0.0
    steps = [
        ("exogenous", lambda: model.exogenous(x, q, u, tmp, 1)),
        ("capacity_and_rent", lambda: model.capacity_and_rent(x, q, obs, tmp,
                                                              pipe + t % lag, 1)),
        ("power_supply", lambda: model.power_supply(x, t, q, lag, obs, tmp, 1)),
        ("training_plans", lambda: model.training_plans(x, t, p, q, tmp, 1)),
        ("demand", lambda: model.demand(x, q, obs, tmp, 1)),
        ("contracts", lambda: model.contracts(x, t, p, q, obs, tmp, 1)),
        ("orders", lambda: model.orders(x, t, p, q, obs, tmp, lag, pipe + t % lag,
                                        ttm + t % L.TTM_MONTHS, 1)),
        ("vintages", lambda: model.vintages(x, t, q, obs, tmp, 1)),
        ("labs_cash", lambda: model.labs_cash(x, t, p, q, obs, tmp, 1)),
        ("clouds_cash", lambda: model.clouds_cash(x, t, p, q, obs, tmp, 1)),
    ]
    for name, run in steps:
        run()
        if name == section:
            return


def start_state(*overrides):
    _, p, x, o = quiet_path(0, *overrides)
    return p, x[-1][:, None].copy(), o[-1][:, None].copy(), np.zeros((L.N_SCRATCH, 1))


def _labs_month(cash, gate_sentiment, *overrides):
    """Labs' cash flows for month 1, with lab 0's cash and the common sentiment (the gate)
    set at the start."""
    p, x, obs, tmp = start_state(*overrides)
    r0 = firm_rows(p, L.LABS)[0]
    x[r0 + L.F_CASH] = cash
    x[L.X_SENTIMENT] = gate_sentiment
    month_until("labs_cash", x, p, obs, tmp)
    return p, x, tmp, r0


def test_a_lab_without_cash_or_investors_defaults_and_its_training_stops():
    p, x, tmp, r0 = _labs_month(0.0, -5.0)  # gate shut: no round
    assert x[r0 + L.F_ALIVE, 0] == 0.0 and x[r0 + L.F_DEFAULT, 0] == 1.0
    assert x[r0 + L.F_SHARE, 0] == 0.0
    shares = sum(x[r + L.F_SHARE, 0] for r in firm_rows(p, L.LABS))
    assert shares == pytest.approx(1.0)  # its customers went to the others
    before = tmp[L.T_TRAINING, 0]
    model.training_plans(x, 1, p, tuple(p[:L.N_SCALAR_PARAMS]), tmp, 1)
    assert tmp[L.T_TRAINING, 0] < before  # the same month's plans without it: smaller


def test_a_lab_with_open_investors_raises_instead():
    p, x, _, r0 = _labs_month(0.0, 1.0)
    assert x[r0 + L.F_ALIVE, 0] == 1.0 and x[r0 + L.F_CASH, 0] > 0.0


# --- capacity and orders ----------------------------------------------------------------------
def test_month_zero_contracts_are_the_start():
    """Each lab's contracts at t=0 cover its contracted share of its compute (its revenue
    share of inference, its training share of training) at the start's rent; the backlog
    is their value over the mean remaining term."""
    cfg, p, x, o = quiet_path(0)
    c, labs = cfg.start.compute, cfg.start.labs
    served, i_s = c.capacity * c.utilization, cfg.start.tokens.inference_share
    backlog = 0.0
    for j, r in enumerate(firm_rows(p, L.LABS)):
        use = c.rent * served * (labs.share[j] * i_s + labs.training_share[j] * (1 - i_s))
        assert x[0, r + L.F_CONTRACT_VALUE] == pytest.approx(labs.contracted_share[j] * use)
        assert x[0, r + L.F_CONTRACT] == pytest.approx(labs.contracted_share[j] * use / c.rent)
        backlog += cfg.model.contracts.term_months * labs.contracted_share[j] * use
    assert o[0, L.O_BACKLOG] == pytest.approx(backlog) and 150 < backlog < 250


def test_take_or_pay_by_hand():
    # $10B a month for 5 bn GPU-h at a spot rent of 1.5: the contracted compute is worth 7.5
    assert eq.take_or_pay_premium(10.0, 5.0, 20.0, 1.5) == pytest.approx(2.5)
    # using less than contracted: paid anyway
    assert eq.take_or_pay_premium(10.0, 10.0, 4.0, 1.0) == pytest.approx(6.0)
    # spot above the locked rent: the lab gains
    assert eq.take_or_pay_premium(10.0, 5.0, 20.0, 3.0) == pytest.approx(-5.0)
    assert eq.cash_distress(1.0, 0.7) == 0.0 and eq.cash_distress(0.3, 0.7) == 1.0
    assert eq.cash_distress(0.65, 0.7) == pytest.approx(0.5)
    assert eq.contracts_signed(0.8, 10.0, 2.0, 3.0) == pytest.approx(1.0)
    assert eq.contracts_signed(0.8, 10.0, 2.0, 5.0) == 0.0


def _contracts_month(cash, sentiment):
    """Month 1 up to the contracts, with OpenAI's cash and the sentiment set at the start."""
    p, x, obs, tmp = start_state()
    r0 = firm_rows(p, L.LABS)[0]
    x[r0 + L.F_CASH] = cash
    x[L.X_SENTIMENT] = sentiment
    before = x.copy()
    month_until("contracts", x, p, obs, tmp)
    return p, before, x, obs, tmp, r0


def test_a_lab_out_of_cash_ends_contracts_pays_the_fee_and_signs_none():
    cfg = schema()
    m = cfg.model.contracts
    p, before, x, obs, tmp, r0 = _contracts_month(0.0, -5.0)
    value, volume = before[r0 + L.F_CONTRACT_VALUE, 0], before[r0 + L.F_CONTRACT, 0]
    rent, use = obs[L.O_RENTAL_PRICE, 0], x[r0 + L.F_USE, 0]
    fee = m.termination_fee * m.termination_rate * m.term_months * value
    assert x[r0 + L.F_PREMIUM, 0] == pytest.approx(value - min(use, rent * volume) + fee)
    keep = (1 - 1 / m.term_months) * (1 - m.termination_rate)
    assert x[r0 + L.F_CONTRACT, 0] == pytest.approx(keep * volume)  # nothing new signed
    assert x[r0 + L.F_CONTRACT_VALUE, 0] == pytest.approx(keep * value)
    # even with few contracts left, well below its contracted share, it signs none
    p, x, obs, tmp = start_state()
    x[r0 + L.F_CASH] = 0.0
    x[L.X_SENTIMENT] = -5.0
    x[r0 + L.F_CONTRACT] *= 0.1
    x[r0 + L.F_CONTRACT_VALUE] *= 0.1
    few = x[r0 + L.F_CONTRACT, 0]
    month_until("contracts", x, p, obs, tmp)
    assert x[r0 + L.F_CONTRACT, 0] == pytest.approx(keep * few)


def test_a_lab_with_cash_renews_its_contracts_at_this_months_rent():
    cfg = schema()
    p, before, x, obs, tmp, r0 = _contracts_month(70.0, 0.0)
    value, volume = before[r0 + L.F_CONTRACT_VALUE, 0], before[r0 + L.F_CONTRACT, 0]
    rent, use = obs[L.O_RENTAL_PRICE, 0], x[r0 + L.F_USE, 0]
    keep = 1 - 1 / cfg.model.contracts.term_months
    signed = cfg.start.labs.contracted_share[0] * use / rent - keep * volume
    assert signed > 0.0
    assert x[r0 + L.F_CONTRACT, 0] == pytest.approx(keep * volume + signed)
    assert x[r0 + L.F_CONTRACT_VALUE, 0] == pytest.approx(keep * value + signed * rent)
    assert x[r0 + L.F_PREMIUM, 0] == pytest.approx(value - min(use, rent * volume))


def test_the_clouds_collect_the_premium_and_the_labs_pay_it():
    p, x, obs, tmp = start_state()
    spot = tmp.copy()
    month_until("demand", x.copy(), p, obs.copy(), spot)
    month_until("contracts", x, p, obs, tmp)
    premiums = sum(x[r + L.F_PREMIUM, 0] for r in firm_rows(p, L.LABS))
    assert tmp[L.T_RENT_REVENUE, 0] == pytest.approx(spot[L.T_RENT_REVENUE, 0] + premiums)
    # Anthropic (runway of years: no round) locked at twice the rent pays the difference
    r1 = firm_rows(p, L.LABS)[1]
    cash = {}
    for factor in (1.0, 2.0):
        p, x, obs, tmp = start_state()
        x[r1 + L.F_CONTRACT_VALUE] *= factor
        extra = x[r1 + L.F_CONTRACT_VALUE, 0] * (factor - 1.0) / factor
        month_until("labs_cash", x, p, obs, tmp)
        cash[factor] = x[r1 + L.F_CASH, 0]
    assert cash[1.0] - cash[2.0] == pytest.approx(extra, rel=1e-9)


def test_labs_operating_earnings_by_hand():
    """The labs' operating earnings this month: each lab's revenue share of end-user spend,
    less its inference at the market rent, its contract premium and its staff, cut with its
    training when cash runs short."""
    cfg = schema()
    p, x, obs, tmp = start_state()
    m = cfg.model.labs
    before = x.copy()
    month_until("labs_cash", x, p, obs, tmp)
    growth = model.month_params(p, 1)[model.P_BUDGET]
    total = 0.0
    for j, r in enumerate(firm_rows(p, L.LABS)):
        planned = p[L.param("derived.training0")] * cfg.start.labs.training_share[j] * growth
        support = cfg.start.labs.other_cash[j] * growth
        kept = eq.training_funding(before[r + L.F_CASH, 0], support, planned, m.runway_target,
                                   m.training_cut)
        staff = cfg.start.labs.fixed * cfg.start.labs.training_share[j] * growth
        w = before[r + L.F_SHARE, 0]
        total += (w * obs[L.O_SPEND, 0] - w * tmp[L.T_INFERENCE, 0] * obs[L.O_RENTAL_PRICE, 0]
                  - x[r + L.F_PREMIUM, 0] - kept * staff)
    assert tmp[L.T_EARN + L.LABS, 0] == pytest.approx(total, rel=1e-12)


def test_a_defaulting_labs_contracts_end():
    """OpenAI defaults in month 1; in month 2 it pays no premium, holds no contracts and
    signs none, and the backlog is the other labs'."""
    p, x, tmp, r0 = _labs_month(0.0, -5.0)
    assert x[r0 + L.F_ALIVE, 0] == 0.0
    obs = start_state()[2]  # the start's observables stand in for month 1's
    month_until("contracts", x, p, obs, tmp, t=2)
    assert x[r0 + L.F_CONTRACT, 0] == 0.0 and x[r0 + L.F_CONTRACT_VALUE, 0] == 0.0
    assert x[r0 + L.F_PREMIUM, 0] == 0.0
    others = sum(x[r + L.F_CONTRACT_VALUE, 0] for r in firm_rows(p, L.LABS))
    term = schema().model.contracts.term_months
    assert obs[L.O_BACKLOG, 0] == pytest.approx(term * others)


def test_steady_growth_orders_equal_the_need():
    """Capacity on target and a full, even supply line: orders = K* (delta + g) dt."""
    lag, growth, delta, util, adjust = 12.0, 0.4, 0.25, 0.8, 12.0
    demand = 8.0
    target = demand / util
    need = target * (delta + growth) * DT
    capacity = target * np.exp(growth * lag * DT)
    orders = eq.desired_orders(demand, capacity, (lag - 1.0) * need, growth, 0.0, lag, util,
                               adjust, delta, 0.5)
    assert orders == pytest.approx(need, rel=1e-12)


def test_spare_capacity_still_replaces_a_share_of_retirements():
    orders = eq.desired_orders(1.0, 100.0, 0.0, 0.0, 0.0, 12.0, 0.8, 12.0, 0.25, 0.5)
    assert orders == pytest.approx(0.5 * 0.25 * DT * 100.0)


def _power(cfg):
    """The start's power figures: GW per unit of capacity (installed, new) and the rest."""
    w = cfg.start.power
    return w, w.intensity / 0.73, w.new_intensity / 0.73


def test_month_zero_power_is_the_start():
    cfg, p, x, o = quiet_path(0)
    w, installed, new = _power(cfg)
    c, lag, gain = cfg.start.compute, cfg.start.compute.build_lag, cfg.model.power.efficiency_gain
    assert x[0, L.X_POWER] == w.energised and x[0, L.X_POWER_QUEUE] == w.queue
    assert o[0, L.O_POWER] == w.energised
    # 13.1 bn GPU-h/month = 17.9 M H100e at 1.05 kW: 18.8 GW
    assert x[0, L.X_POWER_USED] == pytest.approx(c.capacity * installed, rel=1e-12)
    assert x[0, L.X_POWER_USED] == pytest.approx(18.84, abs=0.01)
    # the order book was placed over the past L months, each at its month's intensity
    orders = c.capex / c.capex_per_capacity
    pipe = sum(orders * new * np.exp(gain * s / 12) for s in range(lag))
    assert x[0, L.X_POWER_PIPE] == pytest.approx(pipe, rel=1e-12)


def test_the_queue_energises_and_arrivals_draw_power_by_hand():
    """Month 1: the queue delivers queue / queue_months, at most the build rate; arriving
    capacity (ordered L months ago) draws power at that month's intensity; retirements free
    theirs."""
    cfg = schema()
    w, installed, new = _power(cfg)
    m, lag = cfg.model, cfg.start.compute.build_lag
    p, x, obs, tmp = start_state()
    used0, pipe0 = x[L.X_POWER_USED, 0], x[L.X_POWER_PIPE, 0]
    month_until("power_supply", x, p, obs, tmp)
    energised = min(w.queue / m.power.queue_months, w.build_rate * np.exp(m.power.build_growth
                                                                          / 12))
    assert energised == pytest.approx(w.build_rate * np.exp(0.1 / 12))  # the grid binds
    assert x[L.X_POWER, 0] == pytest.approx(w.energised + energised)
    assert x[L.X_POWER_QUEUE, 0] == pytest.approx(w.queue - energised)
    orders = cfg.start.compute.capex / cfg.start.compute.capex_per_capacity
    drawn = orders * new * np.exp(m.power.efficiency_gain * (lag - 1) / 12)
    assert x[L.X_POWER_USED, 0] == pytest.approx(used0 * (1 - m.capacity.depreciation / 12)
                                                 + drawn)
    assert x[L.X_POWER_PIPE, 0] == pytest.approx(pipe0 - drawn)
    assert eq.energisation(18.0, 18.0, 1.5) == 1.0  # a short queue: its mean wait binds


def test_capacity_without_power_stands_idle():
    """A grid that powers only half the installed base: half of it can serve, so
    utilization is at most the powered share however much compute is wanted."""
    p, x, obs, tmp = start_state()
    x[L.X_POWER] = 0.5 * x[L.X_POWER_USED]
    x[L.X_POWER_QUEUE] = 0.0
    month_until("demand", x, p, obs, tmp)
    share = x[L.X_POWER, 0] / x[L.X_POWER_USED, 0]
    assert tmp[L.T_POWERED, 0] == pytest.approx(share) and share < 0.55
    assert obs[L.O_UTILIZATION, 0] == pytest.approx(share)  # demand (75%) exceeds it
    assert eq.powered_share(30.0, 20.0) == 1.0


def test_power_caps_orders_at_what_is_free_when_they_arrive():
    """However much planners want (sentiment 3 times optimism 5), they order no more than the
    power free on delivery can run: energised power, plus what the queue delivers in L months
    (at most L build rates), less what the installed base still running and the order book
    will draw, at this month's intensity of new hardware."""
    cfg = schema()
    m, lag = cfg.model, cfg.start.compute.build_lag
    _, _, new = _power(cfg)
    p, x, obs, tmp = start_state("model.capacity.optimism=5")
    x[L.X_SENTIMENT] = 3.0
    powered = x.copy()
    month_until("power_supply", powered, p, obs.copy(), tmp.copy())
    e, q, u, pipe = (powered[row, 0] for row in (L.X_POWER, L.X_POWER_QUEUE, L.X_POWER_USED,
                                                 L.X_POWER_PIPE))
    build = cfg.start.power.build_rate * np.exp(m.power.build_growth / 12)
    delivered = min((1 - (1 - 1 / m.power.queue_months) ** lag) * q, lag * build)
    free = e + delivered - (1 - m.capacity.depreciation / 12) ** lag * u - pipe
    per_unit = new * np.exp(-m.power.efficiency_gain / 12)
    month_until("orders", x, p, obs, tmp)
    assert tmp[L.T_WANTED, 0] == pytest.approx(free / per_unit)
    assert eq.power_headroom(10.0, 0.0, 20.0, 0.0, 0.5, 12, 1.0, 1.0) == 0.0  # never negative


def test_power_requests_by_hand_and_withdrawn_in_a_bust():
    # need (1 + 0.1) (0.5 x 20 + 4 + 2 x (30 - 0.5 x 10 - 5)) = 59.4; less 30 + 10 over 12
    assert eq.power_request(30.0, 99.0, 20.0, 4.0, 10.0, 5.0, 30.0, 2.0, 0.5, 0.1, 10.0,
                            12.0) == pytest.approx((59.4 - 40.0) / 12)
    queues = {}
    for sentiment in (-3.0, 0.0, 3.0):
        p, x, obs, tmp = start_state()
        x[L.X_SENTIMENT] = sentiment
        month_until("orders", x, p, obs, tmp)
        queues[sentiment] = x[L.X_POWER_QUEUE, 0]
    assert queues[-3.0] < queues[0.0] < queues[3.0]
    # gloom withdraws queued power: the queue falls by more than the month energised
    w = schema().start.power
    assert queues[-3.0] < w.queue - w.build_rate * np.exp(0.1 / 12) - 0.5
    assert queues[0.0] > w.queue - w.build_rate  # at the start, the clouds ask for more


def test_the_power_bill_is_part_of_the_cash_opex():
    cfg = schema()
    w, c = cfg.start.power, cfg.start.compute
    # at the start the split changes nothing: power plus the rest is opex_share x c0 x K0
    other = c.opex_share - w.price * w.intensity / c.unit_cost
    used = c.capacity * w.intensity / 0.73
    assert eq.cash_opex(other, c.unit_cost, c.capacity, w.price, used) == pytest.approx(
        c.opex_share * c.unit_cost * c.capacity)
    p, x, obs, tmp = start_state()
    month_until("orders", x, p, obs, tmp)
    bill = w.price * x[L.X_POWER_USED, 0] * 0.73
    assert tmp[L.T_OPEX, 0] == pytest.approx(other * tmp[L.T_COST, 0] * obs[L.O_CAPACITY, 0]
                                             + bill)


def test_month_zero_cohorts_are_the_start():
    """The installed base by purchase year at the start's shares; each cohort's historical
    cost is its capacity at the unit capex of its year (the cost trend run back), its book
    value straight-line over the useful life, at most what the start's margin recovers."""
    cfg, p, x, o = quiet_path(0)
    c, g = cfg.start.compute, cfg.model.cost.growth
    margin = c.rent * c.utilization - c.opex_share * c.unit_cost
    books = 0.0
    for k, share in enumerate(c.cohort_shares):
        s = L.COHORTS - 1 - k
        age, remaining = k + 0.5, max(c.useful_life - k - 0.5, 0.0)
        capacity = share * c.capacity
        basis = capacity * c.capex_per_capacity * np.exp(-g * age)
        book = min(basis * remaining / c.useful_life, 12 * capacity * margin * remaining)
        assert x[0, L.X_COHORT + s] == pytest.approx(capacity)
        assert x[0, L.X_BASIS + s] == pytest.approx(basis)
        assert x[0, L.X_BOOK + s] == pytest.approx(book)
        books += book
    assert x[0, L.X_COHORT] == 0.0  # nothing bought yet in the start's year
    assert o[0, L.O_BOOK] == pytest.approx(books)


def test_cohorts_add_up_to_capacity_and_age_a_year_at_a_time():
    """On a quiet path the cohorts always sum to the installed capacity; this year's
    arrivals fill slot 0 for twelve months, then slot 1; in a new year the oldest slot
    joins the next oldest (the slot for 'five years and older')."""
    cfg, p, x, o = quiet_path(26)
    cohorts = x[:, L.X_COHORT:L.X_COHORT + L.COHORTS]
    np.testing.assert_allclose(cohorts.sum(axis=1), o[:, L.O_CAPACITY], rtol=1e-12)
    keep = 1 - cfg.model.capacity.depreciation / 12
    # months 1-12 add to slot 0 only; month 13 starts slot 1
    assert (np.diff(cohorts[:13, 0]) > 0).all() and cohorts[12, 1] == pytest.approx(
        keep ** 12 * cohorts[0, 1])
    assert cohorts[13, 1] > cohorts[12, 1] * keep
    # month 13: slot 1 held the oldest hardware (2021 and before), which joined slot 2
    assert cohorts[13, 2] == pytest.approx(keep * (cohorts[12, 2] + cohorts[12, 1]))
    assert model.slot_age(13, 1) == pytest.approx(13 / 12 - 1.5, abs=0.5)
    assert model.slot_age(1, 5) == pytest.approx(1 / 12 + 0.5)  # last year's, bought mid-year


def test_depreciation_and_write_downs_by_hand():
    assert eq.straight_line(72.0, 50.0, 72.0) == 1.0
    assert eq.straight_line(72.0, 0.4, 72.0) == 0.4  # never below a book value of 0
    # $0.5 a GPU-hour on 2 bn GPU-h a month for 3 more years, flat and undiscounted
    assert eq.recoverable_amount(2.0, 0.5, 3.0) == pytest.approx(36.0)
    assert eq.recoverable_amount(2.0, -0.5, 3.0) == 0.0
    # month 1 of a path whose rent halved: each cohort's book falls by its depreciation and
    # then to its recoverable amount, the difference written down
    cfg = schema()
    c = cfg.start.compute
    p, x, obs, tmp = start_state()
    x[L.X_RENT] *= 0.5
    before = x.copy()
    month_until("orders", x, p, obs, tmp)
    margin = obs[L.O_RENTAL_PRICE, 0] * obs[L.O_UTILIZATION, 0] - tmp[L.T_OPEX, 0] / obs[
        L.O_CAPACITY, 0]
    written, depreciation = 0.0, 0.0
    keep = 1 - cfg.model.capacity.depreciation / 12
    for s in range(1, L.COHORTS):
        basis, book = keep * before[L.X_BASIS + s, 0], before[L.X_BOOK + s, 0]
        dep = min(basis / (12 * c.useful_life), book)
        remaining = max(c.useful_life - model.slot_age(1, s), 0.0)
        recoverable = 12 * keep * before[L.X_COHORT + s, 0] * max(margin, 0) * remaining
        written += max(book - dep - recoverable, 0.0)
        depreciation += dep
    # slot 0 (this year's) takes the month's arrivals at their cost; depreciated from the
    # next month
    arrivals, value = tmp[L.T_ARRIVALS, 0], tmp[L.T_ARRIVAL_VALUE, 0]
    remaining = c.useful_life - model.slot_age(1, 0)
    written += max(value - 12 * arrivals * max(margin, 0) * remaining, 0.0)
    q = tuple(p[:L.N_SCALAR_PARAMS])
    model.vintages(x, 1, q, obs, tmp, 1)
    assert written > 10.0 and obs[L.O_WRITEDOWN, 0] == pytest.approx(written)
    # what is written down leaves the books
    kept = sum(before[L.X_BOOK + s, 0] for s in range(L.COHORTS)) - depreciation + value
    assert obs[L.O_BOOK, 0] == pytest.approx(kept - written)
    assert x[L.X_BASIS, 0] == pytest.approx(value)
    assert tmp[L.T_DEPRECIATION, 0] == pytest.approx(depreciation)
    assert obs[L.O_BOOK, 0] == pytest.approx(x[L.X_BOOK:L.X_BOOK + L.COHORTS, 0].sum())


def test_the_clouds_earn_after_depreciation_on_historical_cost():
    p, x, obs, tmp = start_state()
    month_until("clouds_cash", x, p, obs, tmp)
    assert tmp[L.T_EARN + L.CLOUDS, 0] == pytest.approx(
        tmp[L.T_RENT_REVENUE, 0] - tmp[L.T_OPEX, 0] - tmp[L.T_DEPRECIATION, 0])


def test_capex_funds_by_hand():
    # own funds 10 pay 1 - debt_share of capex: 10 / 0.8 = 12.5, if credit covers the rest
    assert eq.capex_funds(10.0, 0.0, 100.0, 12.0, 0.2) == pytest.approx(12.5)
    assert eq.capex_funds(10.0, 0.0, 1.0, 12.0, 0.2) == pytest.approx(11.0)  # credit binds
    assert eq.capex_funds(10.0, 24.0, 100.0, 12.0, 0.0) == pytest.approx(12.0)  # spare cash
    assert eq.capex_funds(10.0, -24.0, 100.0, 12.0, 0.0) == pytest.approx(8.0)  # rebuild cash
    assert eq.capex_funds(-5.0, 0.0, 100.0, 12.0, 0.5) == 0.0


# --- financing ---------------------------------------------------------------------------------
def test_a_cloud_above_its_target_leverage_borrows_nothing_for_capex():
    """Alphabet with its debt at 1.1 times its target leverage: credit is open (room > 0),
    but it funds capex from its own cash flow and spare cash only; at half the target it
    borrows up to its headroom."""
    cfg = schema()
    f = cfg.model.finance
    q = None
    capex = {}
    for factor in (1.1, 0.5):
        p, x, obs, tmp = start_state("model.capacity.optimism=5")
        x[L.X_SENTIMENT] = 1.0  # wants a lot, credit open
        q = tuple(p[:L.N_SCALAR_PARAMS])
        month_until("orders", x, p, obs, tmp)
        r = firm_rows(p, L.CLOUDS)[1]
        other, share = cfg.start.clouds.other_cash[1], cfg.start.clouds.debt_share[1]
        ebitda, room, _ = model.cloud_plan(x, r, q, tmp, other, share, 0)
        x[r + L.F_DEBT] = factor * f.target_leverage * 12 * ebitda
        ebitda, room, capex[factor] = model.cloud_plan(x, r, q, tmp, other, share, 0)
        debt, cash = x[r + L.F_DEBT, 0], x[r + L.F_CASH, 0]
        w = x[r + L.F_SHARE, 0]
        committed = w * f.circular_cloud_share * tmp[L.T_CIRCULAR, 0] + model.borrowing_rate(
            q, np.exp(-f.spread_sensitivity * x[L.X_SENTIMENT, 0]),
            x[L.X_DISTRESS + L.CLOUDS, 0], debt, ebitda, 0) / 12 * debt
        spare = cash - f.cash_buffer_months * w * tmp[L.T_OPEX, 0]
        headroom = max(f.target_leverage * 12 * ebitda - debt, 0.0)
        assert room > 0.0
        expected = eq.capex_funds(ebitda - committed, spare, min(room, headroom),
                                  f.capex_pacing, share)
        assert capex[factor] == pytest.approx(min(
            w * tmp[L.T_WANTED, 0] * tmp[L.T_UNIT_CAPEX, 0], expected))
    assert capex[1.1] < capex[0.5]


def test_spreads_widen_with_leverage_and_falling_sentiment():
    calm = eq.spread_mood(0.5, 0.0)
    assert calm == 1.0 and eq.spread_mood(0.5, -1.0) == pytest.approx(np.exp(0.5))
    assert eq.spread(0.01, calm, 1.0, 0.0) == pytest.approx(0.01)
    assert eq.spread(0.01, calm, 1.0, 3.0) == pytest.approx(0.04)
    assert eq.spread(0.01, np.exp(0.5), 1.0, 0.0) == pytest.approx(0.01 * np.exp(0.5))
    assert eq.spread(0.01, calm, 1.0, 50.0) == pytest.approx(0.11)  # leverage capped at 10
    assert eq.leverage(10.0, 0.0) == 10.0 and eq.leverage(12.0, 1.0) == pytest.approx(1.0)


def test_credit_room_by_hand():
    assert eq.credit_room(6.0, 1.0, 20.0, 0.5, 10.0) == pytest.approx((72.0 + 20.0) * 0.5 - 10)
    assert eq.credit_room(6.0, -1.0, 0.0, 1.0, 10.0) == 0.0


def _settle(cash, debt, ebitda, flow, gate, **overrides):
    cfg = schema(*(f"model.finance.{k}={v}" for k, v in overrides.items()))
    q = tuple(model_vector(cfg)[:L.N_SCALAR_PARAMS])
    return model.settle(np.array([cash]), np.array([debt]), np.array([1.0]), ebitda, flow, 0.0,
                        0.0, gate, 1.0, 0.0, np.inf, q, 0), q


def test_debt_rolls_over_while_credit_lasts():
    (cash, debt, fails), q = _settle(50.0, 60.0, 2.0, 0.0, 1.0)
    rate = model.borrowing_rate(q, 1.0, 0.0, 60.0, 2.0, 0)
    assert debt[0] == pytest.approx(60.0)  # the maturing part was refinanced
    assert cash[0] == pytest.approx(50.0 - rate * DT * 60.0)
    assert not fails[0]


def test_without_credit_maturities_are_paid_from_cash_and_then_the_firm_defaults():
    (cash, debt, fails), q = _settle(50.0, 60.0, 2.0, 0.0, 0.0)
    rate = model.borrowing_rate(q, 1.0, 0.0, 60.0, 2.0, 0)
    repaid = 60.0 / q[model.P_DEBT_MATURITY]
    assert debt[0] == pytest.approx(60.0 - repaid)
    assert cash[0] == pytest.approx(50.0 - rate * DT * 60.0 - repaid)
    (cash, debt, fails), _ = _settle(0.5, 60.0, 2.0, 0.0, 0.0)
    assert fails[0] and cash[0] < 0.0


def test_distress_by_hand():
    # lenders lost 6 of the sector's 60: 0.1 on top of what is left of earlier losses
    assert eq.distress(0.5, 0.9, 6.0, 60.0) == pytest.approx(0.45 + 0.1)
    assert eq.distress(0.5, 0.9, 0.0, 0.0) == pytest.approx(0.45)  # no debt, nothing lost


def test_distress_widens_a_sectors_spreads():
    cfg = schema()
    q = tuple(model_vector(cfg)[:L.N_SCALAR_PARAMS])
    calm = model.borrowing_rate(q, 1.0, 0.0, 60.0, 2.0, 0)
    jump = cfg.model.contagion.spread_jump
    spread = calm - cfg.start.finance.risk_free
    assert model.borrowing_rate(q, 1.0, 0.2, 60.0, 2.0, 0) == pytest.approx(
        cfg.start.finance.risk_free + spread * (1.0 + jump * 0.2))


def test_default_debt_is_counted_lost_and_every_firms_debt_into_the_sector():
    p, x, obs, tmp = start_state()
    a, b = firm_rows(p, L.CLOUDS)[3:5]
    x[a + L.F_DEBT], x[b + L.F_DEBT] = 50.0, 20.0
    model.record_default(x, a, 7, np.array([True]), slice(None), tmp)
    model.record_default(x, b, 7, np.array([False]), slice(None), tmp)
    assert tmp[L.T_LOST_DEBT, 0] == 50.0 and tmp[L.T_SECTOR_DEBT, 0] == 70.0
    assert x[a + L.F_DEBT, 0] == 0.0 and x[b + L.F_DEBT, 0] == 20.0


def test_contagion_by_hand():
    """Clouds' defaulters owed 30 of the sector's 200: lenders lose (1 - recovery) of it,
    the clouds' distress rises by that share of their debt on top of what is left of the
    earlier distress, and the vendor-financed part is the vendors' loss."""
    cfg = schema()
    p = model_vector(cfg)
    q = tuple(p[:L.N_SCALAR_PARAMS])
    c = cfg.model.contagion
    x = np.zeros((model.state_layout(p)[3], 1))
    tmp = np.zeros((L.N_SCRATCH, 1))
    x[L.X_DISTRESS + L.CLOUDS] = 0.1
    tmp[L.T_LOST_DEBT], tmp[L.T_SECTOR_DEBT] = 30.0, 200.0
    model.contagion(x, q, tmp, L.CLOUDS, 1)
    lost = (1.0 - c.recovery_rate) * 30.0
    keep = 0.5 ** (1.0 / c.distress_halflife)
    assert x[L.X_DISTRESS + L.CLOUDS, 0] == pytest.approx(keep * 0.1 + lost / 200.0)
    assert tmp[L.T_VENDOR_LOSS, 0] == pytest.approx(c.vendor_financed_share * lost)
    assert tmp[L.T_LOST_DEBT, 0] == 0.0 and tmp[L.T_SECTOR_DEBT, 0] == 0.0
    assert x[L.X_DISTRESS + L.LABS, 0] == 0.0 and x[L.X_DISTRESS + L.VENDORS, 0] == 0.0
    tmp[L.T_LOST_DEBT], tmp[L.T_SECTOR_DEBT] = 30.0, 200.0
    model.contagion(x, q, tmp, L.LABS, 1)  # labs owe their vendors nothing
    assert tmp[L.T_VENDOR_LOSS, 0] == 0.0 and x[L.X_DISTRESS + L.LABS, 0] > 0.0


def test_vendors_pay_for_the_vendor_financing_they_lose():
    """With no payout, each vendor's cash ends lower by its share of the loss."""
    cash = []
    for loss in (0.0, 10.0):
        p, x, obs, tmp = start_state("model.finance.payout_rate=0")
        month_until("clouds_cash", x, p, obs, tmp)
        tmp[L.T_VENDOR_LOSS] = loss
        model.vendors_cash(x, 1, p, tuple(p[:L.N_SCALAR_PARAMS]), obs, tmp, 1)
        cash.append([x[r + L.F_CASH, 0] for r in firm_rows(p, L.VENDORS)])
    shares = [x[r + L.F_SHARE, 0] for r in firm_rows(p, L.VENDORS)]
    assert np.subtract(*cash) == pytest.approx(10.0 * np.array(shares))


def test_the_suppliers_pay_their_parts_of_the_circular_investment():
    """With no payout, 10 more of circular investment C this month leaves each hyperscaler
    psi w_j 10 poorer and each vendor (1 - psi) w_j 10 (the hyperscalers' capex is what
    they want, not what their funds allow, so it does not change)."""
    cash = []
    for circular in (0.0, 10.0):
        p, x, obs, tmp = start_state("model.finance.payout_rate=0")
        month_until("labs_cash", x, p, obs, tmp)
        tmp[L.T_CIRCULAR] = circular
        q = tuple(p[:L.N_SCALAR_PARAMS])
        model.clouds_cash(x, 1, p, q, obs, tmp, 1)
        model.vendors_cash(x, 1, p, q, obs, tmp, 1)
        rows = firm_rows(p, L.CLOUDS)[:3] + firm_rows(p, L.VENDORS)
        cash.append(np.array([x[r + L.F_CASH, 0] for r in rows]))
        shares = np.array([x[r + L.F_SHARE, 0] for r in rows])
    psi = p[L.param("model.finance.circular_cloud_share")]
    paid = 10.0 * shares * np.array([psi] * 3 + [1.0 - psi] * 5)
    assert cash[0] - cash[1] == pytest.approx(paid)


def test_vendors_margin_is_gross_margin_less_their_costs_at_the_start_ratio():
    cfg = schema()
    v, c = cfg.start.vendors, cfg.start.compute
    p = model_vector(cfg)
    assert p[model.P_VENDOR_OP_MARGIN] == pytest.approx(
        v.gross_margin - v.fixed / (v.gpu_share * c.capex))


def test_payout_by_hand():
    assert eq.payout(100.0, 40.0, 0.3) == pytest.approx(18.0)
    assert eq.payout(30.0, 40.0, 0.3) == 0.0


def test_shares_after_defaults_are_handed_over_proportionally():
    share = np.array([0.5, 0.3, 0.2])
    alive = np.array([1.0, 0.0, 1.0])
    out = eq.share_after_defaults(share, alive, 0.3)
    np.testing.assert_allclose(out, [0.5 / 0.7, 0.0, 0.2 / 0.7])
    assert out.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(eq.share_after_defaults(share, np.ones(3), 0.0), share)


def test_investors_open_up_to_labs_whose_revenue_grows_faster():
    """The labs' funding gate reads sentiment plus funding_growth_beta times the labs' revenue
    growth above its rate at the start: a year of growth 1/yr faster counts as beta more
    sentiment."""
    gates = []
    for faster in (0.0, 1.0):
        p, x, obs, tmp = start_state()
        x[L.X_GROWTH + L.LABS] = p[L.param("start.labs.revenue_growth")] + faster
        month_until("labs_cash", x, p, obs, tmp)
        gates.append((tmp[L.T_LAB_GATE, 0], x[L.X_SENTIMENT, 0]))
    beta = p[L.param("model.labs.funding_growth_beta")]
    center, width = (p[L.param(f"model.finance.gate_{k}")] for k in ("center", "width"))
    (same, sentiment0), (more, sentiment1) = gates
    assert same == pytest.approx(eq.funding_gate(sentiment0, center, width))
    assert more == pytest.approx(eq.funding_gate(sentiment1 + beta, center, width))
    assert more > same


def test_a_defaulting_cloud_dumps_its_capacity_and_keeps_no_customers():
    """A cloud with no cash and no credit (gate shut) defaults; its share goes to the fire-
    sale overhang, not to the other clouds."""
    p, x, obs, tmp = start_state()
    rows = firm_rows(p, L.CLOUDS)
    neocloud = rows[4]
    x[neocloud + L.F_CASH] = -1000.0
    x[L.X_SENTIMENT] = -5.0
    x[L.X_OVERHANG] = 0.2
    shares = [x[r + L.F_SHARE, 0] for r in rows]
    month_until("clouds_cash", x, p, obs, tmp)
    assert x[neocloud + L.F_ALIVE, 0] == 0.0
    keep = p[L.param("derived.overhang_keep")]
    assert x[L.X_OVERHANG, 0] == pytest.approx(0.2 * keep + shares[4])
    assert [x[r + L.F_SHARE, 0] for r in rows[:4]] == pytest.approx(shares[:4])


# --- sentiment, moods and valuation -----------------------------------------------------------
def _sentiment_months(months, revenue_growth, *overrides):
    """The sentiment section alone, month after month, with the labs' expected revenue
    growth held at ``revenue_growth`` (the narrative starts at its configured value)."""
    _, p, x, o = quiet_path(0, *overrides)
    x, obs = x[-1][:, None].copy(), o[-1][:, None].copy()
    tmp = np.zeros((L.N_SCRATCH, 1))
    q = tuple(p[:L.N_SCALAR_PARAMS])
    path = []
    for _ in range(months):
        x[L.X_GROWTH + L.LABS] = revenue_growth
        model.sentiment(x, q, obs, tmp, 1)
        path.append((x[L.X_SENTIMENT, 0], x[L.X_BROKEN, 0], x[L.X_CAUTION, 0]))
    return np.array(path)


def test_the_narrative_breaks_after_break_months_of_disappointment():
    args = ("model.sentiment.narrative_growth=1.0", "model.sentiment.narrative_weight=0.0",
            "model.sentiment.break_months=6", "model.sentiment.break_jump=0.5")
    path = _sentiment_months(10, 0.5, *args)  # growth 0.5 below a story of 1.0: disappointed
    assert (path[:5, 1] == 0).all() and (path[5:, 1] == 1).all()
    assert path[5, 0] < path[4, 0] - 0.4  # the jump down (0.5, less the drift)
    calm = _sentiment_months(10, 0.9, *args)  # a shortfall under the threshold: no break
    assert (calm[:, 1] == 0).all()


def test_caution_step_by_hand():
    assert eq.caution_step(0.2, True, 0.3, 0.9) == pytest.approx(0.2 * 0.9 + 0.3)
    assert eq.caution_step(0.2, False, 0.3, 0.9) == pytest.approx(0.2 * 0.9)
    p = model_vector(schema("model.capacity.caution_months=60"))
    assert p[model.P_CAUTION_KEEP] == pytest.approx(np.exp(-1 / 60), rel=1e-15)


def test_the_planners_caution_jumps_at_the_break_and_fades():
    args = ("model.sentiment.narrative_growth=1.0", "model.sentiment.narrative_weight=0.0",
            "model.sentiment.break_months=6", "model.capacity.bust_caution=0.4",
            "model.capacity.caution_months=24")
    path = _sentiment_months(30, 0.5, *args)
    assert (path[:5, 2] == 0).all()  # none before the break (month index 5) ...
    months_since = np.arange(25)
    np.testing.assert_allclose(path[5:, 2], 0.4 * np.exp(-months_since / 24), rtol=1e-12)
    assert (_sentiment_months(30, 0.9, *args)[:, 2] == 0).all()  # ... and none without one


def test_caution_cuts_the_capacity_planners_want_like_less_demand():
    """Caution m plans for demand times exp(-m): the month's wanted orders equal the ordering
    rule's on that demand (with its growth unchanged) and no caution."""
    _, p, x, o = quiet_path(0)
    wanted, queue, m = [], [], 0.1
    for caution in (0.0, m):
        xx, oo = x[-1][:, None].copy(), o[-1][:, None].copy()
        xx[L.X_CAUTION] = caution
        tmp = np.zeros((L.N_SCRATCH, 1))
        u = np.full((L.N_UNIFORMS, 1), 0.5)
        u[[0, 2, 4, 6]] = 1.0
        model.step(xx, 1, p, model.month_params(p, 1), u, oo, tmp)
        wanted.append(tmp[L.T_WANTED, 0])
        queue.append(xx[L.X_POWER_QUEUE, 0])
    # the supply line the rule saw: before this month's orders were added
    pipeline = xx[L.X_PIPELINE, 0] - oo[L.O_CAPEX, 0] / tmp[L.T_UNIT_CAPEX, 0]
    by_hand = eq.desired_orders(np.exp(-m) * oo[L.O_COMPUTE_DEMAND, 0], oo[L.O_CAPACITY, 0],
                                pipeline, tmp[L.T_GROWTH_EXP, 0],
                                p[model.P_OPTIMISM] * p[model.P_SENT0], p[model.P_LAG],
                                p[model.P_UTIL_TARGET], p[model.P_ADJUST_MONTHS],
                                p[model.P_DEPRECIATION], p[model.P_MAINTENANCE])
    floor = p[model.P_MAINTENANCE] * p[model.P_DEPRECIATION] * DT * oo[L.O_CAPACITY, 0]
    assert by_hand > 1.5 * floor  # the rule, not its floor, sets the orders
    assert wanted[1] == pytest.approx(by_hand, rel=1e-12)
    assert wanted[1] < 0.8 * wanted[0]
    assert queue[1] < queue[0]  # the power requested for the capacity planned is less too


def test_the_story_follows_realized_growth():
    """With the narrative following growth quickly, a slowdown never breaks it."""
    path = _sentiment_months(60, 0.5, "model.sentiment.narrative_growth=1.0",
                             "model.sentiment.narrative_weight=0.2")
    assert (path[:, 1] == 0).all()


def test_mood_step_by_hand():
    assert eq.mood_step(0.4, 0.9, 0.12, 0.5, 0.0, 0.0) == pytest.approx(0.36 + 0.5 * 0.12 * DT)


def test_a_sectors_mood_moves_only_with_its_own_surprise():
    _, p, x, o = quiet_path(0)
    x, obs = x[-1][:, None].copy(), o[-1][:, None].copy()
    tmp = np.zeros((L.N_SCRATCH, 1))
    q = tuple(p[:L.N_SCALAR_PARAMS])
    w = p[model.P_REV_SMOOTHING]
    for k in range(L.N_SECTORS):  # every sector's run-rate grows exactly as expected ...
        grow = np.exp(x[L.X_GROWTH + k] * DT) - 1.0
        tmp[L.T_REV + k] = x[L.X_REV + k] * (1.0 + grow / w) / 12.0
        tmp[L.T_EARN + k] = x[L.X_EARN + k] / 12.0
    tmp[L.T_REV + L.VENDORS] *= 0.5  # ... but the vendors' halves
    model.carry(x, q, obs, tmp, 1)
    assert x[L.X_MOOD + L.VENDORS, 0] < -0.01
    assert abs(x[L.X_MOOD + L.LABS, 0]) < 1e-3 and abs(x[L.X_MOOD + L.CLOUDS, 0]) < 1e-3


def test_enterprise_value_by_hand_and_losses_lower_it():
    ev = eq.enterprise_value(20.0, 100.0, 0.5, 30.0, 0.05, 0.0)
    assert ev == pytest.approx(20.0 * 100.0 * (0.5 + 0.3))
    assert eq.enterprise_value(20.0, 100.0, 0.5, -10.0, 0.05, 0.0) < ev
    assert eq.enterprise_value(20.0, 100.0, 0.0, -90.0, 0.05, 0.0) == pytest.approx(
        20.0 * 100.0 * 0.05)  # the floor
    assert eq.enterprise_value(20.0, 100.0, 0.5, 30.0, 0.05, 0.5) == pytest.approx(
        ev * np.exp(0.5))


def test_stake_bought_by_hand():
    assert eq.stake_bought(10.0, 90.0) == pytest.approx(0.1)  # post-money share
    assert eq.stake_bought(5.0, 0.0) == pytest.approx(1.0)  # a worthless company: all of it
    assert eq.stake_bought(0.0, 90.0) == 0.0


def test_a_living_investor_buys_a_stake_at_the_labs_value_and_a_dead_one_nothing():
    p, x, obs, tmp = start_state()
    alive, dead = firm_rows(p, L.CLOUDS)[1:3]
    x[dead + L.F_ALIVE] = 0.0
    before = x[alive + L.F_STAKE, 0], x[dead + L.F_STAKE, 0]
    labs = obs[L.O_EQUITY + L.LABS, 0]
    for r in (alive, dead):
        model.buy_stake(x, r, 10.0, obs, slice(None))
    assert x[alive + L.F_STAKE, 0] == pytest.approx(before[0] + 10.0 / (labs + 10.0))
    assert x[dead + L.F_STAKE, 0] == before[1]


def test_stakes_are_marked_to_the_labs_value():
    """A cloud's equity holds its stake at the labs' equity of the same month: a stake 0.1
    larger adds a tenth of the labs' equity to the clouds'; a default takes it away."""
    p, x, obs, tmp = start_state()
    model.valuation(x, p, tuple(p[:L.N_SCALAR_PARAMS]), obs, tmp)
    clouds, labs = obs[L.O_EQUITY + L.CLOUDS, 0], obs[L.O_EQUITY + L.LABS, 0]
    alphabet = firm_rows(p, L.CLOUDS)[1]
    x[alphabet + L.F_STAKE] += 0.1
    model.valuation(x, p, tuple(p[:L.N_SCALAR_PARAMS]), obs, tmp)
    assert obs[L.O_EQUITY + L.CLOUDS, 0] == pytest.approx(clouds + 0.1 * labs)
    model.record_default(x, alphabet, 3, np.array([True]), slice(None), tmp)
    assert x[alphabet + L.F_STAKE, 0] == 0.0


def test_firm_equity_has_limited_liability():
    assert eq.firm_equity(10.0, 5.0, 50.0, 1.0) == 0.0
    assert eq.firm_equity(100.0, 5.0, 50.0, 1.0) == pytest.approx(55.0)
    assert eq.firm_equity(100.0, 5.0, 50.0, 0.0) == 0.0


def test_valuation_gives_each_living_firm_its_part_of_the_sectors_value():
    """Sector EV (by hand, its mood the common sentiment plus the sector's own) times a firm's
    share and value weight, plus its net cash, never below 0, summed over the living firms; a
    defaulted firm adds nothing; the index is the sum of the sectors."""
    cfg, p, x, o = quiet_path(0)
    x, obs = x[-1][:, None].copy(), o[-1][:, None].copy()
    tmp = np.zeros((L.N_SCRATCH, 1))
    rows = firm_rows(p, L.VENDORS)
    x[rows[0] + L.F_ALIVE] = 0.0  # Nvidia gone
    x[L.X_SENTIMENT] = 0.2  # the common AI mood is up, the vendors' own mood down
    x[L.X_MOOD + L.VENDORS] = -0.5
    model.valuation(x, p, tuple(p[:L.N_SCALAR_PARAMS]), obs, tmp)
    m = cfg.model.valuation
    ev = eq.enterprise_value(p[L.param("derived.multiple_vendors")], x[L.X_REV + L.VENDORS, 0],
                             x[L.X_GROWTH + L.VENDORS, 0], x[L.X_EARN + L.VENDORS, 0],
                             m.floor, m.sentiment_beta * (0.2 - 0.5))
    expected = sum(max(ev * model.firm_value(p, L.FP_VALUE_WEIGHT, L.VENDORS, j)
                       * x[r + L.F_SHARE, 0] + x[r + L.F_CASH, 0] - x[r + L.F_DEBT, 0], 0.0)
                   for j, r in enumerate(rows) if j > 0)
    assert obs[L.O_EQUITY + L.VENDORS, 0] == pytest.approx(expected, rel=1e-9)
    assert obs[L.O_INDEX, 0] == pytest.approx(obs[L.O_EQUITY:L.O_EQUITY + 3, 0].sum())


def test_the_implied_growth_places_the_start_orders_again():
    """The growth that the start's order book implies is a root of the ordering rule: at it
    the rule orders exactly the start's orders (to rounding), for the scenarios and for
    priors draws far from them; outside [-5, 5] /yr the range's end."""
    for name in SCENARIOS:
        cfg = schema(f"scenario={name}", "priors=wide")
        p, draws = model_vector(cfg), run_settings(cfg).priors
        values = draws.values(0, 200)
        for i in range(values.shape[1]):
            own = p.copy()
            own[draws.slots] = values[:, i]
            model.initial_conditions(own)
            growth, orders0 = own[model.P_GROWTH0], own[model.P_ORDERS0]
            assert -5.0 < growth < 5.0
            assert model.start_orders(own, growth, orders0)[0] == pytest.approx(orders0,
                                                                               rel=1e-12)
            # the rule's orders rise with the growth: the root is unique
            assert model.start_orders(own, growth - 0.01, orders0)[0] < orders0
            assert model.start_orders(own, growth + 0.01, orders0)[0] > orders0
    p = model_vector(schema())
    assert model.implied_growth(p, 1e-9 * p[model.P_ORDERS0]) == -5.0  # floor above them
    assert model.implied_growth(p, 1e9 * p[model.P_ORDERS0]) == 5.0
