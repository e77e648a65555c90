"""Structured-config schema: every parameter with its default, unit, allowed range and meaning.

The dataclasses are registered in Hydra's ConfigStore (``base_config``), so a wrong type or an
unknown key fails when the config is composed. Ranges live in each field's metadata and are
checked by :func:`sim.params.validate`; docs/model.md is the prose version of this file.

Units: money in billions of US dollars (``$B``), compute in billions of GPU-hours
(``bn GPU-h``), tokens in quadrillions (``Ptok``); token prices are $ per million tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import Field, dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore

INF = math.inf


class ConfigError(ValueError):
    """An invalid configuration value; the message names the key, the value and the range."""


def param(default: Any, unit: str, lo: float, hi: float, doc: str, *, open_lo: bool = False,
          open_hi: bool = False) -> Any:
    """A dataclass field carrying its unit, allowed range and one-line meaning."""
    return field(default=default, metadata={
        "unit": unit, "lo": lo, "hi": hi, "open_lo": open_lo, "open_hi": open_hi, "doc": doc})


def setting(default: Any, allowed: str, doc: str) -> Any:
    """A dataclass field that is not a number: its allowed values and meaning."""
    return field(default=default, metadata={"allowed": allowed, "doc": doc})


@dataclass
class EfficiencyConfig:
    tau0: float = param(10.0, "Mtok/GPU-h", 0.0, INF, "tokens served per GPU-hour at t=0",
                        open_lo=True)
    growth: float = param(0.9, "1/yr", -10.0, 10.0,
                          "drift of log efficiency (algorithms + hardware), before jumps")
    volatility: float = param(0.25, "1/sqrt(yr)", 0.0, 5.0, "volatility of log efficiency")
    jump_rate: float = param(0.5, "1/yr", 0.0, 24.0,
                             "rate of efficiency shocks (e.g. a cheap open model)")
    jump_mean: float = param(0.3, "log", -5.0, 5.0, "mean log size of one efficiency shock")
    jump_std: float = param(0.2, "log", 0.0, 5.0, "std of the log size of one efficiency shock")


@dataclass
class CostConfig:
    c0: float = param(2.0, "$/GPU-h", 0.0, INF,
                      "all-in cost of a GPU-hour at t=0 (amortized capex, power, cooling)",
                      open_lo=True)
    growth: float = param(-0.05, "1/yr", -5.0, 5.0, "drift of the log all-in cost")
    volatility: float = param(0.05, "1/sqrt(yr)", 0.0, 5.0, "volatility of the log cost")
    opex_share: float = param(0.3, "1", 0.0, 1.0,
                              "cash operating share of the all-in cost (power, cooling, staff)")
    capex_per_capacity: float = param(45.0, "$ per GPU-h/month", 0.0, INF,
                                      "capex to add one GPU-hour per month of capacity",
                                      open_lo=True)


@dataclass
class PricesConfig:
    rent_floor: float = param(0.3, "1", 0.0, 10.0,
                              "rental price / cost at zero utilization (dumped spare capacity)")
    rent_cap: float = param(1.8, "1", 0.0, 10.0, "rental price / cost at full utilization")
    rent_curvature: float = param(1.5, "1", 0.1, 10.0, "curvature of the utilization markup")
    rent_adjustment: float = param(0.25, "1/month", 0.0, 1.0,
                                   "share of the log gap to the clearing rent closed per month",
                                   open_lo=True)
    margin0: float = param(1.5, "1", 0.0, 100.0, "labs' markup over compute cost at t=0")
    margin_floor: float = param(0.5, "1", 0.0, 100.0, "competitive long-run lab markup")
    margin_decay: float = param(0.3, "1/yr", 0.0, 20.0,
                                "speed at which competition compresses the markup")
    fire_sale_discount: float = param(0.5, "1", 0.0, 1.0,
                                      "rent cut when all capacity is sold off by defaulters")
    fire_sale_halflife: float = param(6.0, "months", 0.0, 600.0,
                                      "half-life of the fire-sale overhang", open_lo=True)


@dataclass
class DemandConfig:
    elasticity: float = param(1.15, "1", 0.0, 10.0,
                              "price elasticity of token demand eps (Jevons holds if > 1)",
                              open_lo=True)
    spend0: float = param(5.0, "$B/month", 0.0, INF, "end-user spend on tokens at t=0",
                          open_lo=True)
    adoption0: float = param(0.3, "1", 0.0, 1.0, "adoption share at t=0", open_lo=True)
    bass_p: float = param(0.03, "1/yr", 0.0, 10.0, "Bass innovation coefficient p")
    bass_q: float = param(0.35, "1/yr", 0.0, 10.0, "Bass imitation coefficient q")
    adoption_volatility: float = param(0.2, "1/sqrt(yr)", 0.0, 5.0,
                                       "volatility of the log adoption increment")
    training0: float = param(4.0, "$B/month", 0.0, INF, "labs' training compute budget at t=0")
    training_growth: float = param(0.2, "1/yr", -5.0, 5.0, "growth rate of the training budget")
    training_cut: float = param(0.9, "1", 0.0, 1.0,
                                "share of own training labs cut when outside funding closes")


@dataclass
class CapacityConfig:
    utilization0: float = param(0.8, "1", 0.0, 1.0, "utilization at t=0", open_lo=True)
    target_utilization: float = param(0.8, "1", 0.0, 1.0,
                                      "utilization that capacity planners aim for", open_lo=True)
    build_lag: int = param(6, "months", 1, 60, "months from order to usable capacity")
    depreciation: float = param(0.2, "1/yr", 0.0, 5.0,
                                "capacity retirement rate (1/useful life)")
    adjustment_months: float = param(12.0, "months", 1.0, 600.0,
                                     "months over which planners close a capacity gap")
    max_growth: float = param(0.08, "1/month", 0.0, 10.0,
                              "power cap: largest order as a share of installed capacity")
    expectation_weight: float = param(0.1, "1", 0.0, 1.0,
                                      "monthly weight of new growth in adaptive expectations")
    growth0: float = param(0.4, "1/yr", -5.0, 5.0,
                           "expected growth of compute demand at t=0")
    optimism: float = param(0.3, "1", 0.0, 5.0,
                            "log-scaling of the capacity forecast with sentiment")
    maintenance_share: float = param(0.5, "1", 0.0, 1.0,
                                     "share of retirements replaced even with spare capacity")


@dataclass
class FinanceConfig:
    circular_share: float = param(0.2, "1", 0.0, 1.0,
                                  "share of lab training compute funded by clouds and vendors")
    circular_cloud_share: float = param(0.6, "1", 0.0, 1.0,
                                        "circular investment share paid by clouds (rest: vendors)")
    vc_ratio: float = param(1.0, "1", 0.0, 10.0,
                            "outside funding of labs per $ of own training spend, in good times")
    gpu_share: float = param(0.25, "1", 0.0, 1.0, "vendors' revenue share of capex orders")
    vendor_gross_margin: float = param(0.7, "1", 0.0, 1.0, "chip vendors' gross margin")
    lab_fixed: float = param(1.0, "$B/month", 0.0, INF, "labs' fixed costs besides compute")
    vendor_fixed: float = param(0.5, "$B/month", 0.0, INF, "vendors' fixed costs")
    cloud_other_cash: float = param(12.0, "$B/month", 0.0, INF,
                                    "clouds' cash flow from other businesses")
    cloud_other_growth: float = param(0.1, "1/yr", -5.0, 5.0,
                                      "growth rate of the clouds' other cash flow")
    risk_free: float = param(0.04, "1/yr", 0.0, 1.0, "risk-free interest rate")
    spread0: float = param(0.03, "1/yr", 0.0, 1.0, "credit spread at neutral sentiment")
    spread_sensitivity: float = param(0.5, "1", 0.0, 5.0,
                                      "log change of the spread per unit of falling sentiment")
    debt_maturity: float = param(60.0, "months", 1.0, 1200.0, "average debt maturity")
    credit_multiple: float = param(1.5, "1", 0.0, 20.0,
                                   "credit limit as a multiple of annual revenue, in good times")
    gate_center: float = param(-0.5, "1", -10.0, 10.0,
                               "sentiment at which funding and credit are half open")
    gate_width: float = param(0.4, "1", 0.0, 10.0, "width of the funding gate", open_lo=True)
    cash0_labs: float = param(40.0, "$B", 0.0, INF, "labs' cash at t=0")
    cash0_clouds: float = param(150.0, "$B", 0.0, INF, "clouds' cash at t=0")
    cash0_vendors: float = param(60.0, "$B", 0.0, INF, "vendors' cash at t=0")
    debt0_labs: float = param(0.0, "$B", 0.0, INF, "labs' debt at t=0")
    debt0_clouds: float = param(120.0, "$B", 0.0, INF, "clouds' debt at t=0")
    debt0_vendors: float = param(10.0, "$B", 0.0, INF, "vendors' debt at t=0")


@dataclass
class FirmsConfig:
    n_firms: int = param(5, "firms", 1, 20, "firms per sector")
    leverage_low: float = param(0.1, "1", 0.0, 1.0,
                                "debt-financed share of capex of the least levered firm")
    leverage_high: float = param(0.8, "1", 0.0, 1.0,
                                 "debt-financed share of capex of the most levered firm")
    cost_spread: float = param(0.2, "1", 0.0, 0.9,
                               "firm cost multipliers span 1 +- cost_spread (cheapest first)")


@dataclass
class SentimentConfig:
    s0: float = param(0.0, "1", -10.0, 10.0, "sentiment at t=0 (0 = neutral)")
    persistence: float = param(0.95, "1/month", 0.0, 1.0, "AR(1) coefficient per month",
                               open_hi=True)
    volatility: float = param(0.3, "1/sqrt(yr)", 0.0, 10.0, "volatility of sentiment")
    growth_sensitivity: float = param(1.0, "yr", 0.0, 20.0,
                                      "response to growth surprises (per 1/yr of surprise)")
    utilization_sensitivity: float = param(1.0, "1", 0.0, 20.0,
                                           "response to utilization above/below target")
    narrative_growth: float = param(0.4, "1/yr", -5.0, 5.0,
                                    "growth of compute demand the market expects")
    disappointment_threshold: float = param(0.2, "1/yr", 0.0, 10.0,
                                            "shortfall of growth that counts as disappointing")
    break_months: int = param(6, "months", 1, 600,
                              "months of disappointment before the narrative breaks")
    break_jump: float = param(0.5, "1", 0.0, 10.0, "sentiment drop at the narrative break")
    bust_mean: float = param(-1.0, "1", -10.0, 10.0, "mean sentiment after the break")
    recovery_months: int = param(12, "months", 1, 600,
                                 "months of growth above narrative that end the bust regime")


@dataclass
class ValuationConfig:
    multiple_labs: float = param(15.0, "1", 0.0, 1000.0, "labs' EV / annual revenue",
                                 open_lo=True)
    multiple_clouds: float = param(8.0, "1", 0.0, 1000.0, "clouds' EV / annual revenue",
                                   open_lo=True)
    multiple_vendors: float = param(12.0, "1", 0.0, 1000.0, "vendors' EV / annual revenue",
                                    open_lo=True)
    sentiment_beta: float = param(0.5, "1", 0.0, 10.0, "log change of multiples per unit sentiment")
    growth_beta: float = param(0.5, "yr", 0.0, 10.0,
                               "log change of multiples per 1/yr of expected-growth surprise")
    revenue_smoothing: float = param(0.25, "1", 0.0, 1.0,
                                     "monthly weight of new revenue in the valued run-rate",
                                     open_lo=True)


@dataclass
class ModelConfig:
    horizon_months: int = param(120, "months", 1, 600, "simulated horizon")
    start_date: str = setting("2026-01", "YYYY-MM", "calendar month of t=0 (labels only)")
    efficiency: EfficiencyConfig = field(default_factory=EfficiencyConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    prices: PricesConfig = field(default_factory=PricesConfig)
    demand: DemandConfig = field(default_factory=DemandConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    finance: FinanceConfig = field(default_factory=FinanceConfig)
    firms: FirmsConfig = field(default_factory=FirmsConfig)
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    valuation: ValuationConfig = field(default_factory=ValuationConfig)


class Backend(Enum):
    """numba: the compiled engine; numpy: the NumPy reference (same model and random
    numbers; results agree to rounding)."""

    numba = "numba"
    numpy = "numpy"


@dataclass
class EngineConfig:
    backend: Backend = setting(Backend.numba, "numba, numpy",
                               "the compiled engine or the NumPy reference")
    n_paths: int = param(1_000_000, "paths", 1, 2**40, "number of Monte Carlo paths")
    seed: int = param(0, "1", 0, 2**63 - 1, "seed of the counter-based random streams")
    chunk_size: int = param(65_536, "paths", 1, 2**26, "paths simulated per chunk (memory)")
    threads: int = param(0, "threads", 0, 1024, "numba threads (0 = all cores)")
    sample_paths: int = param(200, "paths", 0, 100_000,
                              "paths whose full trajectories are kept (evenly spaced indices)")
    hist_bins: int = param(2048, "bins", 16, 65_536, "bins of the per-month histograms")
    num_shards: int = param(1, "shards", 1, 2**20,
                            "split the run's paths into this many shards (bubblesim-merge)")
    shard_index: int = param(0, "1", 0, 2**20, "which shard this process runs (0-based)")


@dataclass
class OutputConfig:
    per_path: bool = setting(True, "true, false", "keep per-path arrays in results.nc")
    quiet: bool = setting(False, "true, false", "no progress bar, table or 'wrote' line")
    overwrite: bool = setting(False, "true, false",
                              "recompute even if the run directory holds this run")


@dataclass
class Config:
    scenario_name: str = setting("soft_landing", "any text",
                                 "name of the scenario (set by conf/scenario/NAME.yaml)")
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


def register_configs() -> None:
    """Register the schema so ``conf/config.yaml`` can extend it (idempotent)."""
    ConfigStore.instance().store(name="base_config", node=Config)


def leaf_fields(cls: type = Config, prefix: str = "") -> Iterator[tuple[str, Field]]:
    """Every settable key of the schema as (dotted key, dataclass field), in schema order."""
    for f in fields(cls):
        key = f"{prefix}{f.name}"
        default = f.default_factory() if callable(f.default_factory) else f.default
        if is_dataclass(default):
            yield from leaf_fields(type(default), key + ".")
        else:
            yield key, f


def readable_number(value: Any) -> str:
    """A number as people read it: 2^40, 1,000,000, 0.25, inf (never 1.09951e+12)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if not value.is_integer() or abs(value) >= 1e18:
            return repr(value)
        value = int(value)
    for k in range(20, 64):
        if value == 2**k:
            return f"2^{k}"
        if value == 2**k - 1:
            return f"2^{k} - 1"
    return f"{value:,}"


def range_text(meta: dict) -> str:
    """'[lo, hi]' with open ends as '(' or ')' and readable numbers."""
    lo = "(" if meta["open_lo"] else "["
    hi = ")" if meta["open_hi"] or meta["hi"] == math.inf else "]"
    return f"{lo}{readable_number(meta['lo'])}, {readable_number(meta['hi'])}{hi}"


def allowed_text(meta: dict) -> str:
    """The allowed range of a field, its unit and its meaning, for error messages and help."""
    unit = f" {meta['unit']}" if meta["unit"] not in ("1", "") else ""
    return f"allowed range {range_text(meta)}{unit} ({meta['doc']})"
