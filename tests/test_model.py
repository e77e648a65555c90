"""Closed forms: deterministic paths by hand, analytic moments, Jevons limits."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_small, schema
from sim import model, rng
from sim.params import model_vector

DT = 1.0 / 12.0
QUIET = ["model.efficiency.volatility=0", "model.efficiency.jump_rate=0",
         "model.cost.volatility=0", "model.demand.adoption_volatility=0",
         "model.sentiment.volatility=0"]


def _deterministic_states(months: int, *overrides: str):
    """Run model.step on one path whose shocks are all zero (radius of Box-Muller = 0)."""
    cfg = schema(*QUIET, *overrides)
    p = model_vector(cfg.model)
    x = np.empty((model.state_layout(p)[3], 1))
    obs = np.empty((model.N_OBS, 1))
    tmp = np.empty((model.N_SCRATCH, 1))
    model.initial_state(x, p, obs, tmp)
    u = np.full((model.N_UNIFORMS, 1), 0.5)
    u[[0, 2, 4]] = 1.0  # log(1) = 0: every normal is exactly 0
    states, observed = [x.copy()], [obs.copy()]
    for t in range(1, months + 1):
        model.step(x, t, p, u, obs, tmp)
        states.append(x.copy())
        observed.append(obs.copy())
    return cfg, p, states, observed


def test_deterministic_path_matches_hand_computation():
    cfg, p, states, obs = _deterministic_states(24)
    m = cfg.model
    e, c, pr, d = m.efficiency, m.cost, m.prices, m.demand
    # t = 0 consistency, by hand
    u0 = m.capacity.utilization0
    phi0 = pr.rent_floor + (pr.rent_cap - pr.rent_floor) * u0**pr.rent_curvature
    r0 = c.c0 * phi0
    price0 = r0 / e.tau0 * (1 + pr.margin0)
    assert obs[0][model.O_TOKEN_PRICE, 0] == pytest.approx(price0, rel=1e-12)
    assert obs[0][model.O_TOKENS, 0] == pytest.approx(d.spend0 / price0, rel=1e-12)
    adoption, margin = d.adoption0, pr.margin0
    for t in range(1, 25):
        adoption = min(adoption + (d.bass_p + d.bass_q * adoption) * (1 - adoption) * DT, 1.0)
        margin = pr.margin_floor + (margin - pr.margin_floor) * np.exp(-pr.margin_decay * DT)
        x = states[t]
        assert np.exp(x[model.X_LOG_TAU, 0]) == pytest.approx(e.tau0 * np.exp(e.growth * t * DT),
                                                              rel=1e-12)
        assert np.exp(x[model.X_LOG_COST, 0]) == pytest.approx(c.c0 * np.exp(c.growth * t * DT),
                                                               rel=1e-12)
        assert x[model.X_ADOPTION, 0] == pytest.approx(adoption, rel=1e-12)
        assert x[model.X_MARGIN, 0] == pytest.approx(margin, rel=1e-12)
    # month 1 prices and demand, by hand from month 0's utilization
    tau1 = e.tau0 * np.exp(e.growth * DT)
    c1 = c.c0 * np.exp(c.growth * DT)
    r1 = r0 * (c1 * phi0 / r0) ** pr.rent_adjustment
    margin1 = pr.margin_floor + (pr.margin0 - pr.margin_floor) * np.exp(-pr.margin_decay * DT)
    price1 = r1 / tau1 * (1 + margin1)
    adoption1 = d.adoption0 + (d.bass_p + d.bass_q * d.adoption0) * (1 - d.adoption0) * DT
    tokens1 = d.spend0 / price0 * adoption1 / d.adoption0 * (price1 / price0) ** -d.elasticity
    o = obs[1][:, 0]
    assert o[model.O_RENTAL_PRICE] == pytest.approx(r1, rel=1e-12)
    assert o[model.O_TOKEN_PRICE] == pytest.approx(price1, rel=1e-12)
    assert o[model.O_TOKENS] == pytest.approx(tokens1, rel=1e-12)
    assert o[model.O_SPEND] == pytest.approx(price1 * tokens1 * min(1.0, o[model.O_CAPACITY]
                                             / o[model.O_COMPUTE_DEMAND]), rel=1e-12)
    assert o[model.O_UTILIZATION] == pytest.approx(
        min(o[model.O_COMPUTE_DEMAND], o[model.O_CAPACITY]) / o[model.O_CAPACITY], rel=1e-12)


def test_deterministic_engine_paths_are_all_equal():
    raw = run_small(*QUIET, n_paths=64, sample_paths=64)
    traj = raw.trajectories
    np.testing.assert_allclose(traj, np.broadcast_to(traj[:1], traj.shape), rtol=1e-12)


def _uniforms(n, months, draws, seed=11):
    with np.errstate(over="ignore"):
        keys = rng.path_key(np.uint64(seed), np.arange(n, dtype=np.uint64))
        for t in range(months):
            yield [rng.uniform(keys, np.uint64(t * draws + k)) for k in range(draws)]


@pytest.mark.parametrize("growth, vol, rate, mean, std", [
    (0.9, 0.25, 0.5, 0.3, 0.2), (1.5, 0.5, 2.0, 0.7, 0.4), (-0.2, 0.0, 1.0, -0.5, 0.1)])
def test_efficiency_log_moments(growth, vol, rate, mean, std):
    """log tau_T: mean (g - s^2/2)T + lam T mu_J, variance s^2 T + lam T (mu_J^2 + s_J^2)."""
    n, months = 100_000, 60
    log_tau = np.zeros(n)
    cdf = model.poisson_cdf(rate * DT)
    for u in _uniforms(n, months, 3):
        z, z_jump = rng.box_muller(u[0], u[1])
        jumps = np.empty(n)
        model.poisson_counts(jumps, u[2], cdf, 0)
        log_tau = model.log_efficiency_step(log_tau, growth, vol, jumps, mean, std, z, z_jump)
    horizon = months * DT
    mu = (growth - 0.5 * vol**2) * horizon + rate * horizon * mean
    var = vol**2 * horizon + rate * horizon * (mean**2 + std**2)
    assert abs(log_tau.mean() - mu) < 4 * np.sqrt(var / n)
    fourth = np.mean((log_tau - log_tau.mean()) ** 4)
    assert abs(log_tau.var() - var) < 4 * np.sqrt((fourth - var**2) / n)


def test_cost_log_moments():
    n, months, growth, vol = 100_000, 120, -0.05, 0.1
    log_c = np.zeros(n)
    for u in _uniforms(n, months, 2):
        log_c = model.log_cost_step(log_c, growth, vol, rng.box_muller(u[0], u[1])[0])
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


def _spend_and_util(*overrides):
    raw = run_small(*overrides, n_paths=400, sample_paths=400)
    return (raw.trajectories[:, :, model.O_SPEND], raw.trajectories[:, :, model.O_UTILIZATION],
            raw.trajectories[:, :, model.O_TOKEN_PRICE])


def test_unit_elasticity_spend_ignores_price_path():
    slow = _spend_and_util("model.demand.elasticity=1.0", "model.efficiency.growth=0.3")
    fast = _spend_and_util("model.demand.elasticity=1.0", "model.efficiency.growth=2.0")
    assert not np.allclose(slow[2], fast[2])  # the price paths do differ
    unconstrained = (slow[1] < 1.0) & (fast[1] < 1.0)
    assert unconstrained.mean() > 0.9
    np.testing.assert_allclose(slow[0][unconstrained], fast[0][unconstrained], rtol=1e-9)


def test_jevons_sign_of_spend_response():
    flat = ["model.demand.bass_p=0", "model.demand.bass_q=0",
            "model.demand.adoption_volatility=0"]
    elastic = _spend_and_util(*flat, "model.demand.elasticity=1.3")
    inelastic = _spend_and_util(*flat, "model.demand.elasticity=0.7")
    month = 24
    prices_fell = (elastic[2][:, month] < elastic[2][:, 0]) & (elastic[1][:, month] < 1.0) & (
        inelastic[1][:, month] < 1.0)
    assert prices_fell.mean() > 0.9
    spend0 = elastic[0][0, 0]
    assert (elastic[0][prices_fell, month] > spend0).all()
    assert (inelastic[0][prices_fell, month] < spend0).all()


def test_valuation_at_t0_uses_the_same_growth_surprise_as_later_months():
    """No artificial jump of the index in month 1 of a deterministic, steady economy."""
    steady = ["model.capacity.growth0=0.3", "model.sentiment.narrative_growth=0.3"]
    _, _, _, obs_a = _deterministic_states(1, *steady)
    _, _, _, obs_b = _deterministic_states(1, "model.capacity.growth0=0.3",
                                           "model.sentiment.narrative_growth=0.9")
    # a narrative above expected growth lowers the multiple from t=0 on, not from month 1
    ratio0 = obs_b[0][model.O_INDEX, 0] / obs_a[0][model.O_INDEX, 0]
    ratio1 = obs_b[1][model.O_INDEX, 0] / obs_a[1][model.O_INDEX, 0]
    assert ratio0 < 1.0
    assert ratio1 == pytest.approx(ratio0, rel=0.05)


@pytest.mark.parametrize("mean", [0.0, 0.05, 1.0 / 6.0, 2.0])
def test_poisson_cdf_matches_scipy(mean):
    from scipy import stats
    k = np.arange(model.MAX_JUMPS_PER_MONTH)
    np.testing.assert_allclose(model.poisson_cdf(mean), stats.poisson.cdf(k, mean),
                               rtol=1e-12, atol=1e-15)
