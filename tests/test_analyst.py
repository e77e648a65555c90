"""Analyst outputs (issue 11 item 7): circularity, revenue gap, ROIC by sector, backlog, lab
burn and runway, and the decomposition of compute-demand growth with the implied elasticity,
each against a hand calculation, an identity or a run with another parameter on common random
numbers (docs/outputs.md#analyst-outputs)."""

from __future__ import annotations

import numpy as np
import pytest
from test_model import firm_rows, month_until, quiet_path, start_state

from conftest import run_small, schema
from sim import equations as eq
from sim import layout as L
from sim import model
from sim import reductions as R


# --- at t = 0, from the start's figures -------------------------------------------------------
def test_circularity_and_revenue_gap_at_the_start_by_hand():
    cfg, _, _, o = quiet_path(0)
    c, tok, v = cfg.start.compute, cfg.start.tokens, cfg.start.vendors
    rent = c.capacity * c.utilization * c.rent
    assert o[0, L.O_CIRCULARITY] == pytest.approx(
        (tok.spend + rent + v.gpu_share * c.capex) / tok.spend, rel=1e-12)
    assert o[0, L.O_REVENUE_GAP] == pytest.approx(12 * c.capex / (12 * tok.spend), rel=1e-12)
    assert o[0, L.O_BACKLOG_TO_RENT] == pytest.approx(o[0, L.O_BACKLOG] / (12 * rent),
                                                      rel=1e-12)


def test_roic_at_the_start_by_hand():
    cfg, p, x, o = quiet_path(0)
    c, s = cfg.start.compute, cfg.start
    served = c.capacity * c.utilization
    labs_earnings = 12 * (s.tokens.spend - s.tokens.inference_share * served * c.rent
                          - s.labs.fixed)
    paid_in = sum(s.labs.cash) + sum(s.labs.debt)
    assert x[0, L.X_LABS_PAID_IN] == pytest.approx(paid_in)
    assert o[0, L.O_ROIC_LABS] == pytest.approx(labs_earnings / paid_in, rel=1e-12)
    _, basis, books = model.start_cohorts(p)
    depreciation = np.minimum(basis / (12 * c.useful_life), books).sum()
    clouds_earnings = 12 * (served * c.rent - c.opex_share * c.unit_cost * c.capacity
                            - depreciation)
    # the clouds' invested capital is the book value of their hardware (section 5b)
    assert o[0, L.O_ROIC_CLOUDS] == pytest.approx(clouds_earnings / books.sum(), rel=1e-12)
    vendors_revenue = 12 * s.vendors.gpu_share * c.capex
    vendors_earnings = s.vendors.gross_margin * vendors_revenue - 12 * s.vendors.fixed
    assert o[0, L.O_ROIC_VENDORS] == pytest.approx(
        vendors_earnings / (model.VENDOR_CAPITAL_TO_REVENUE * vendors_revenue), rel=1e-12)


def test_lab_burn_and_runway_at_the_start_by_hand():
    """Each lab's deficit at the start's prices after its parent's support: revenue share of
    spend, less inference at the start's rent, staff and its own part of training."""
    cfg, p, _, o = quiet_path(0)
    s, c = cfg.start, cfg.start.compute
    served = c.capacity * c.utilization
    theta = cfg.model.finance.circular_share
    training0 = p[L.param("derived.training0")]
    burns, runways = [], []
    for j in range(len(s.labs.names)):
        planned = training0 * s.labs.training_share[j]
        kept = eq.training_funding(s.labs.cash[j], s.labs.other_cash[j], planned,
                                   cfg.model.labs.runway_target, cfg.model.labs.training_cut)
        deficit = (s.labs.share[j] * s.tokens.inference_share * served * c.rent
                   + kept * s.labs.fixed * s.labs.training_share[j]
                   + (1 - theta) * planned * kept - s.labs.share[j] * s.tokens.spend)
        burn = max(deficit - min(s.labs.other_cash[j], max(deficit, 0.0)), 0.0)
        burns.append(burn)
        if burn > 0:
            runways.append(s.labs.cash[j] / burn)
    assert o[0, L.O_LAB_BURN] == pytest.approx(sum(burns), rel=1e-12)
    assert o[0, L.O_LAB_RUNWAY] == pytest.approx(min(runways), rel=1e-12)
    assert 0 < min(runways) < model.RUNWAY_CAP


# --- one month, by hand ----------------------------------------------------------------------
def _month():
    """Month 1 on a quiet path, section by section, with the analyst outputs."""
    p, x, obs, tmp = start_state()
    before = x.copy()
    month_until("clouds_cash", x, p, obs, tmp)
    q = tuple(p[:L.N_SCALAR_PARAMS])
    model.vendors_cash(x, 1, p, q, obs, tmp, 1)
    model.analyst_outputs(x, 1, p, q, obs, tmp, 1)
    return p, before, x, obs, tmp


def test_analyst_outputs_of_a_month_by_hand():
    cfg, s = schema(), schema().start
    p, before, x, obs, tmp = _month()
    spend, rent, capex = obs[L.O_SPEND, 0], tmp[L.T_RENT_REVENUE, 0], obs[L.O_CAPEX, 0]
    assert obs[L.O_CIRCULARITY, 0] == pytest.approx(
        (spend + rent + s.vendors.gpu_share * capex) / spend, rel=1e-12)
    assert obs[L.O_CIRCULAR_RENT_SHARE, 0] == pytest.approx(tmp[L.T_CIRCULAR, 0] / rent)
    # trailing spend: eleven months of the start's and this month's
    assert obs[L.O_REVENUE_GAP, 0] == pytest.approx(
        obs[L.O_CAPEX_TTM, 0] / (11 * s.tokens.spend + spend), rel=1e-12)
    assert obs[L.O_BACKLOG_TO_RENT, 0] == pytest.approx(obs[L.O_BACKLOG, 0] / (12 * rent))
    book = x[L.X_BOOK:L.X_BOOK + L.COHORTS, 0].sum()  # this month's, after the vintages
    assert obs[L.O_ROIC_CLOUDS, 0] == pytest.approx(12 * tmp[L.T_EARN + L.CLOUDS, 0] / book)
    margin = p[model.P_VENDOR_OP_MARGIN]
    vendor_capital = model.VENDOR_CAPITAL_TO_REVENUE * 12 * s.vendors.gpu_share * s.compute.capex
    assert obs[L.O_ROIC_VENDORS, 0] == pytest.approx(
        12 * margin * s.vendors.gpu_share * capex / vendor_capital, rel=1e-12)
    assert obs[L.O_ADOPTION, 0] == x[L.X_ADOPTION, 0]
    assert obs[L.O_EFFICIENCY, 0] == pytest.approx(np.exp(x[L.X_LOG_TAU, 0]), rel=1e-12)
    # the labs' capital: what they had, plus what was paid in this month; no lab borrows
    # or pays out, so a lab's cash grows by its flow and its round, and the in-house lab's
    # flow is its parent's support net of its deficit
    assert cfg.model.finance.circular_share > 0
    assert obs[L.O_ROIC_LABS, 0] == pytest.approx(
        12 * tmp[L.T_EARN + L.LABS, 0] / x[L.X_LABS_PAID_IN, 0], rel=1e-12)
    assert x[L.X_LABS_PAID_IN, 0] > before[L.X_LABS_PAID_IN, 0] + tmp[L.T_CIRCULAR, 0] - 1e-9


def test_burn_and_runway_of_a_month_from_the_labs_cash():
    """With no debt and investors shut (a sentiment far below the gate), a lab's cash moves by
    its flow alone: its burn is what its cash fell by, its runway the cash left over it."""
    p, x, obs, tmp = start_state()
    rows = firm_rows(p, L.LABS)
    assert schema().start.labs.names[3].startswith("in-house labs")
    for r in rows:
        x[r + L.F_DEBT] = 0.0
    x[L.X_SENTIMENT] = -5.0
    before = x.copy()
    paid_in = x[L.X_LABS_PAID_IN, 0]
    month_until("labs_cash", x, p, obs, tmp)
    model.analyst_labs(x, p, tmp, 1)
    fell = np.array([before[r + L.F_CASH, 0] - x[r + L.F_CASH, 0] for r in rows])
    cash = np.array([x[r + L.F_CASH, 0] for r in rows])
    burning = fell > 0
    assert burning.sum() >= 2 and (cash[burning] > 0).all()  # premise: living labs burn
    assert tmp[L.T_LAB_BURN, 0] == pytest.approx(fell[burning].sum(), rel=1e-9)
    assert tmp[L.T_LAB_RUNWAY, 0] == pytest.approx((cash[burning] / fell[burning]).min(),
                                                   rel=1e-9)
    # no round was raised: what was paid in is the parents' support, which the in-house
    # lab (no cash of its own, all its deficit covered) uses up: its cash stays 0
    assert x[rows[3] + L.F_CASH, 0] == 0.0 and fell[3] == 0.0
    assert x[L.X_LABS_PAID_IN, 0] > paid_in


def test_runway_is_capped_when_no_living_lab_burns():
    assert eq.runway(10.0, 0.0, 1.0, model.RUNWAY_CAP) == model.RUNWAY_CAP
    assert eq.runway(10.0, 2.0, 0.0, model.RUNWAY_CAP) == model.RUNWAY_CAP  # dead
    assert eq.runway(10.0, 2.0, 1.0, model.RUNWAY_CAP) == 5.0


# --- the decomposition of compute-demand growth ------------------------------------------------
def test_log_mean_by_hand():
    assert eq.log_mean(np.e, 1.0, 1.0) == pytest.approx(np.e - 1.0, rel=1e-15)
    assert eq.log_mean(2.0, 2.0, 0.0) == 2.0
    a, b = 3.0, 3.0 * (1 + 1e-8)
    assert eq.log_mean(a, b, np.log(a) - np.log(b)) == pytest.approx(np.sqrt(a * b), rel=1e-15)


@pytest.mark.parametrize("name", ["soft_landing", "dotcom_crash"])
def test_the_decomposition_adds_up_to_the_log_growth_of_compute_demand(name):
    """On random paths, the four parts sum to ln(H_T / H_0): the log-mean weights make the
    identity exact, so only rounding remains (about 1e-15 a month, 120 months)."""
    raw = run_small(f"scenario={name}", n_paths=500)
    parts = raw.per_path["demand_growth"]
    total = raw.per_path["demand_log_growth"]
    assert np.all(np.abs(total) > 0.1)  # premise: demand moved
    np.testing.assert_allclose(parts.sum(axis=1), total, rtol=0, atol=1e-10)
    # and each part moves: a decomposition that put everything in one part would fail
    assert (np.abs(np.median(parts, axis=0)) > 0.05).all()


def test_decomposition_of_a_hand_built_series():
    """Two months of hand-chosen tokens, adoption, efficiency and demand: each part as the
    log-mean formula gives it, and the price response read off tokens per adopter."""
    obs = np.ones((L.N_OBS, 1))
    red = np.empty((R.N_RED, 1))
    # month 0: Q = 4, tau = 2 (inference 2), H = 3 (training 1), A = 0.1, P = 1
    obs[[L.O_TOKENS, L.O_EFFICIENCY, L.O_COMPUTE_DEMAND, L.O_ADOPTION, L.O_TOKEN_PRICE], 0] = (
        4.0, 2.0, 3.0, 0.1, 1.0)
    R.start(red, obs)
    # month 1: A x 1.2, P x 0.5 with eps = 1.5 (Q x 1.2 x 2^1.5), tau x 1.5, training 1 -> 2
    q1 = 4.0 * 1.2 * 2.0**1.5
    inference1 = q1 / 3.0
    obs[[L.O_TOKENS, L.O_EFFICIENCY, L.O_COMPUTE_DEMAND, L.O_ADOPTION, L.O_TOKEN_PRICE], 0] = (
        q1, 3.0, inference1 + 2.0, 0.12, 0.5)
    R.update(red, obs, 1, 1)

    def lm(a, b):
        return (a - b) / np.log(a / b)
    w = lm(inference1, 2.0) / lm(inference1 + 2.0, 3.0)
    parts = red[R.R_GROWTH:R.R_GROWTH + 4, 0]
    expected = [w * 1.5 * np.log(2.0), w * np.log(1.2), -w * np.log(1.5),
                (2.0 - 1.0) / lm(inference1 + 2.0, 3.0)]
    np.testing.assert_allclose(parts, expected, rtol=1e-12)
    assert parts.sum() == pytest.approx(np.log((inference1 + 2.0) / 3.0), rel=1e-12)
    assert R.implied_elasticity(red[R.R_PRICE_RESPONSE], red[R.R_WEIGHTED_LOG_PRICE])[0] == (
        pytest.approx(1.5, rel=1e-12))


@pytest.mark.parametrize("eps", [0.7, 1.6])
def test_the_implied_elasticity_recovers_the_structural_one_on_common_random_numbers(eps):
    """The same paths with another elasticity: the implied elasticity is that elasticity on
    every path, although adoption, efficiency and training move too (the confounds of the old
    slope). Tolerance: ln(Q/A) changes carry a few ulp of |ln Q| (< 60), ~1e-14 a month, summed
    over 120 months, over an inference-weighted price change of order 1 or more: < 1e-11
    relative; 1e-9 leaves room."""
    base = run_small("scenario=excess_capacity", n_paths=400)
    other = run_small("scenario=excess_capacity", f"model.demand.elasticity={eps}",
                      n_paths=400)
    implied = other.per_path["implied_elasticity"]
    np.testing.assert_allclose(implied, eps, rtol=1e-9)
    assert np.all(np.abs(base.per_path["implied_elasticity"] - eps) > 0.1)
    # the price response is eps times the weighted fall of the log price, and it changes
    # with eps on the same paths while adoption, efficiency and training are there too
    growth = other.per_path["demand_growth"]
    assert (np.abs(growth[:, 1:]) > 1e-3).any(axis=0).all()
    assert not np.allclose(base.per_path["demand_growth"][:, 0], growth[:, 0])


def test_the_vendors_roic_is_proportional_to_capex():
    """The dataset derives the vendors' ROIC bands from the capex bands (sim.dataset): that
    holds only while their ROIC is a fixed multiple of capex on every path and month."""
    raw = run_small("scenario=dotcom_crash", n_paths=300)
    traj = raw.trajectories
    ratio = traj[:, :, L.O_ROIC_VENDORS] / traj[:, :, L.O_CAPEX]
    o0 = raw.observables0
    np.testing.assert_allclose(ratio, o0[L.O_ROIC_VENDORS] / o0[L.O_CAPEX], rtol=1e-12)


# --- shards ------------------------------------------------------------------------------------
ANALYST_VARIABLES = ("circularity", "revenue_gap", "roic", "backlog", "lab_burn", "lab_runway",
                     "demand_growth", "demand_log_growth", "implied_elasticity",
                     "min_lab_runway", "demand_growth_histogram",
                     "implied_elasticity_histogram", "initial_value", "headline",
                     "headline_se")


def _dataset(raw, shard: int, shards: int):
    from sim import dataset

    attrs = {"run_hash": "x", "num_shards": shards, "shard_index": shard,
             "first_path": raw.first_path, "n_paths": raw.n_paths, "horizon_months": raw.horizon,
             "first_nonfinite_path": raw.first_nonfinite_path, "engine_seconds": 0.0,
             "threads": 1, "nonfinite_paths": raw.nonfinite_paths}
    return dataset.build(raw, attrs, "2026-01", [["a"] * raw.n_firms] * 3)


def test_shards_merge_into_the_analyst_outputs_of_one_run_exactly():
    from sim import merge

    args = ("scenario=dotcom_crash", "model.horizon_months=72")
    one = _dataset(run_small(*args, n_paths=601), 0, 1)
    shards = [_dataset(run_small(*args, n_paths=601, num_shards=2, shard_index=i), i, 2)
              for i in (1, 0)]
    raw = merge.merged_raw(shards)
    both = _dataset(raw, 0, 1)
    for name in ANALYST_VARIABLES:
        a, b = one[name].values, both[name].values
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    for name in ("short_runway_paths", "lab_default_paths"):
        assert one.attrs[name] == both.attrs[name]
    assert 0 < one.attrs["short_runway_paths"] < 601  # premise: the counts are not trivial
