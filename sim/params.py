"""Validated parameters: schema dataclasses in, the kernel's flat float64 vector out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim import model
from sim.schema import (
    Config,
    ConfigError,
    ModelConfig,
    allowed_text,
    leaf_fields,
    readable_number,
)

__all__ = ["ConfigError", "RunSettings", "model_vector", "run_settings", "validate"]


def _check_field(key: str, value: Any, meta: dict) -> None:
    where = f"{key} = {readable_number(value)}"
    allowed = allowed_text(meta)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} is not a number; {allowed}")
    if not math.isfinite(value):
        raise ConfigError(f"{where} is not finite; {allowed}")
    below = value <= meta["lo"] if meta["open_lo"] else value < meta["lo"]
    above = value >= meta["hi"] if meta["open_hi"] else value > meta["hi"]
    if below or above:
        raise ConfigError(f"{where} is out of range: {allowed}")


def _value(cfg: Config, key: str) -> Any:
    for name in key.split("."):
        cfg = getattr(cfg, name)
    return cfg


def validate(cfg: Config) -> Config:
    """Check every range and the constraints between parameters; raise ConfigError."""
    for key, f in leaf_fields():
        if "lo" in f.metadata:
            _check_field(key, _value(cfg, key), f.metadata)
    m = cfg.model
    try:
        np.datetime64(m.start_date, "M")
    except ValueError:
        raise ConfigError(f"model.start_date = {m.start_date!r} is not a month "
                          "(allowed: YYYY-MM, e.g. 2026-01)") from None
    pairs = [
        ("model.prices.rent_cap", m.prices.rent_cap, "model.prices.rent_floor",
         m.prices.rent_floor),
        ("model.prices.margin0", m.prices.margin0, "model.prices.margin_floor",
         m.prices.margin_floor),
        ("model.firms.leverage_high", m.firms.leverage_high, "model.firms.leverage_low",
         m.firms.leverage_low),
    ]
    for high_key, high, low_key, low in pairs:
        if high < low:
            raise ConfigError(f"{high_key} = {high!r} must be >= {low_key} = {low!r}")
    e = cfg.engine
    if not e.shard_index < e.num_shards <= e.n_paths:
        raise ConfigError(f"engine.shard_index = {e.shard_index} must be in [0, engine.num_shards"
                          f" = {e.num_shards}) and engine.num_shards <= engine.n_paths = "
                          f"{e.n_paths}")
    return cfg


def model_vector(m: ModelConfig) -> np.ndarray:
    """The kernel's parameter vector: scalars, derived t=0 values, then per-firm arrays."""
    nf = m.firms.n_firms
    p = np.zeros(model.P_FIRMS + 3 * nf)  # scalars, jump CDF, firm arrays
    e, c, pr, d = m.efficiency, m.cost, m.prices, m.demand
    k, f, s, v = m.capacity, m.finance, m.sentiment, m.valuation
    values = {
        model.P_TAU0: e.tau0, model.P_TAU_GROWTH: e.growth, model.P_TAU_VOL: e.volatility,
        model.P_JUMP_RATE: e.jump_rate, model.P_JUMP_MEAN: e.jump_mean,
        model.P_JUMP_STD: e.jump_std,
        model.P_C0: c.c0, model.P_COST_GROWTH: c.growth, model.P_COST_VOL: c.volatility,
        model.P_OPEX_SHARE: c.opex_share, model.P_CAPEX_PER_CAPACITY: c.capex_per_capacity,
        model.P_RENT_FLOOR: pr.rent_floor, model.P_RENT_CAP: pr.rent_cap,
        model.P_RENT_CURVATURE: pr.rent_curvature, model.P_MARGIN0: pr.margin0,
        model.P_MARGIN_FLOOR: pr.margin_floor, model.P_MARGIN_DECAY: pr.margin_decay,
        model.P_FIRE_DISCOUNT: pr.fire_sale_discount,
        model.P_FIRE_HALFLIFE: pr.fire_sale_halflife,
        model.P_RENT_ADJUST: pr.rent_adjustment,
        model.P_ELASTICITY: d.elasticity, model.P_SPEND0: d.spend0,
        model.P_ADOPTION0: d.adoption0, model.P_BASS_P: d.bass_p, model.P_BASS_Q: d.bass_q,
        model.P_ADOPTION_VOL: d.adoption_volatility, model.P_TRAINING0: d.training0,
        model.P_TRAINING_GROWTH: d.training_growth,
        model.P_TRAINING_CUT: d.training_cut,
        model.P_UTIL0: k.utilization0, model.P_UTIL_TARGET: k.target_utilization,
        model.P_BUILD_LAG: k.build_lag, model.P_DEPRECIATION: k.depreciation,
        model.P_ADJUST_MONTHS: k.adjustment_months, model.P_MAX_GROWTH: k.max_growth,
        model.P_EXPECT_WEIGHT: k.expectation_weight, model.P_GROWTH0: k.growth0,
        model.P_OPTIMISM: k.optimism, model.P_MAINTENANCE: k.maintenance_share,
        model.P_CIRC_SHARE: f.circular_share, model.P_CIRC_CLOUD_SHARE: f.circular_cloud_share,
        model.P_VC_RATIO: f.vc_ratio, model.P_GPU_SHARE: f.gpu_share,
        model.P_VENDOR_MARGIN: f.vendor_gross_margin, model.P_LAB_FIXED: f.lab_fixed,
        model.P_VENDOR_FIXED: f.vendor_fixed, model.P_CLOUD_OTHER_CASH: f.cloud_other_cash,
        model.P_CLOUD_OTHER_GROWTH: f.cloud_other_growth,
        model.P_RISK_FREE: f.risk_free, model.P_SPREAD0: f.spread0,
        model.P_SPREAD_SENS: f.spread_sensitivity, model.P_DEBT_MATURITY: f.debt_maturity,
        model.P_CREDIT_MULTIPLE: f.credit_multiple, model.P_GATE_CENTER: f.gate_center,
        model.P_GATE_WIDTH: f.gate_width,
        model.P_CASH0_LABS: f.cash0_labs, model.P_CASH0_CLOUDS: f.cash0_clouds,
        model.P_CASH0_VENDORS: f.cash0_vendors, model.P_DEBT0_LABS: f.debt0_labs,
        model.P_DEBT0_CLOUDS: f.debt0_clouds, model.P_DEBT0_VENDORS: f.debt0_vendors,
        model.P_N_FIRMS: nf,
        model.P_S0: s.s0, model.P_PERSISTENCE: s.persistence, model.P_SENT_VOL: s.volatility,
        model.P_SENT_GROWTH: s.growth_sensitivity, model.P_SENT_UTIL: s.utilization_sensitivity,
        model.P_NARRATIVE_GROWTH: s.narrative_growth,
        model.P_DISAPPOINT: s.disappointment_threshold, model.P_BREAK_MONTHS: s.break_months,
        model.P_BREAK_JUMP: s.break_jump, model.P_BUST_MEAN: s.bust_mean,
        model.P_RECOVERY_MONTHS: s.recovery_months,
        model.P_MULT_LABS: v.multiple_labs, model.P_MULT_CLOUDS: v.multiple_clouds,
        model.P_MULT_VENDORS: v.multiple_vendors, model.P_MULT_SENT_BETA: v.sentiment_beta,
        model.P_MULT_GROWTH_BETA: v.growth_beta, model.P_REV_SMOOTHING: v.revenue_smoothing,
    }
    for index, value in values.items():
        p[index] = value
    leverage, cost, other = model.firm_characteristics(
        nf, m.firms.leverage_low, m.firms.leverage_high, m.firms.cost_spread)
    p[model.P_FIRMS:model.P_FIRMS + nf] = leverage
    p[model.P_FIRMS + nf:model.P_FIRMS + 2 * nf] = cost
    p[model.P_FIRMS + 2 * nf:model.P_FIRMS + 3 * nf] = other
    return model.initial_conditions(p)


@dataclass(frozen=True)
class RunSettings:
    """What the engine needs besides the model: sizes, seed, threads, outputs."""

    n_paths: int
    seed: int
    chunk_size: int
    threads: int
    sample_paths: int
    hist_bins: int
    horizon: int
    n_firms: int
    per_path: bool
    quiet: bool
    backend: str = "numba"
    num_shards: int = 1
    shard_index: int = 0

    def shard_range(self) -> tuple[int, int]:
        """(first global path index, number of paths) of this shard."""
        first = self.n_paths * self.shard_index // self.num_shards
        last = self.n_paths * (self.shard_index + 1) // self.num_shards
        return first, last - first


def run_settings(cfg: Config) -> RunSettings:
    e = cfg.engine
    return RunSettings(n_paths=e.n_paths, seed=e.seed, chunk_size=e.chunk_size,
                       threads=e.threads, sample_paths=e.sample_paths, hist_bins=e.hist_bins,
                       horizon=cfg.model.horizon_months, n_firms=cfg.model.firms.n_firms,
                       per_path=cfg.output.per_path, quiet=cfg.output.quiet,
                       backend=e.backend.value, num_shards=e.num_shards,
                       shard_index=e.shard_index)
