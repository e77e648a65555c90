"""Structured-config schema: every parameter with its default, unit, allowed range and meaning.

The dataclasses are registered in Hydra's ConfigStore (``base_config``), so a wrong type or an
unknown key fails when the config is composed. Ranges live in each field's metadata and are
checked by :func:`sim.params.validate`; docs/model.md is the prose version of this file.

Two kinds of numbers: ``StartConfig`` is the state of the world at t=0, data without defaults
here (the values and their sources are in conf/start/NAME.yaml); everything under
``ModelConfig`` is a forward-looking assumption with its default here, which scenario files
(conf/scenario/) override.

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
from omegaconf import MISSING

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


# --- the state of the world at t=0 (conf/start/*.yaml: data, every figure sourced there) ---
def data(unit: str, lo: float, hi: float, doc: str, *, open_lo: bool = False,
         open_hi: bool = False) -> Any:
    """A field of the starting state: no default here, its value and source are in the
    start file (conf/start/NAME.yaml), so a number lives in one place only."""
    return param(MISSING, unit, lo, hi, doc, open_lo=open_lo, open_hi=open_hi)


def firm_data(unit: str, lo: float, hi: float, doc: str) -> Any:
    """A list with one value per firm of a sector (element ranges as for ``data``)."""
    return param(MISSING, unit, lo, hi, doc)


def names() -> Any:
    return setting(MISSING, "one name per firm", "the firms of the sector, in the order of the "
                   "lists below")


@dataclass
class ComputeStart:
    capacity: float = data("bn GPU-h/month", 0.0, INF, "installed AI compute capacity K0",
                           open_lo=True)
    utilization: float = data("1", 0.0, 1.0, "share of capacity doing paid work U0",
                              open_lo=True)
    rent: float = data("$/GPU-h", 0.0, INF, "rental price of a GPU-hour r0", open_lo=True)
    unit_cost: float = data("$/GPU-h", 0.0, INF,
                            "all-in cost of a GPU-hour c0 (amortized capex, power, staff)",
                            open_lo=True)
    opex_share: float = data("1", 0.0, 1.0, "cash operating share of the all-in cost")
    capex_per_capacity: float = data("$ per GPU-h/month", 0.0, INF,
                                     "capex that adds one GPU-hour per month of capacity",
                                     open_lo=True)
    capex: float = data("$B/month", 0.0, INF, "AI capex run-rate of the clouds X0",
                        open_lo=True)
    build_lag: int = data("months", 1, 60, "months from an order to energised capacity")
    cohort_shares: list[float] = firm_data(
        "1", 0.0, 1.0, "installed base by purchase year, newest first: last year's, the three "
        "before, and older (sums to 1)")
    useful_life: float = data("yr", 0.0, 30.0, "accounting useful life of AI servers",
                              open_lo=True)


@dataclass
class TokensStart:
    tokens: float = data("Ptok/month", 0.0, INF, "tokens served per month Q0", open_lo=True)
    spend: float = data("$B/month", 0.0, INF, "end-user spend on AI models S0 (labs' revenue)",
                        open_lo=True)
    inference_share: float = data("1", 0.0, 1.0, "share of served compute used for inference",
                                  open_lo=True)
    adoption: float = data("1", 0.0, 1.0, "adoption share A0 on the Bass curve", open_lo=True)


@dataclass
class FirmsStart:
    names: list[str] = names()
    share: list[float] = firm_data("1", 0.0, 1.0, "share of the sector's revenue (sums to 1)")
    cash: list[float] = firm_data("$B", 0.0, INF, "cash and marketable securities")
    debt: list[float] = firm_data("$B", 0.0, INF, "debt, leases included")
    value: list[float] = firm_data("$B", 0.0, INF, "market value of the AI business's equity")
    other_cash: list[float] = firm_data("$B/month", -INF, INF,
                                        "cash flow from other businesses or a parent")
    revenue_growth: float = data("1/yr", -5.0, 5.0, "trailing log growth of sector revenue")


@dataclass
class LabsStart(FirmsStart):
    training_share: list[float] = firm_data("1", 0.0, 1.0,
                                            "share of the sector's training compute")
    contracted_share: list[float] = firm_data(
        "1", 0.0, 1.0, "share of its compute bought on take-or-pay contracts (and kept so)")
    fixed: float = data("$B/month", 0.0, INF, "labs' costs besides compute (staff, other)")


def stakes() -> list[float]:
    return firm_data("$B", 0.0, INF, "value of its equity stakes in the AI labs")


@dataclass
class CloudsStart(FirmsStart):
    debt_share: list[float] = firm_data("1", 0.0, 1.0, "share of capex financed with debt")
    stake: list[float] = stakes()


@dataclass
class VendorsStart(FirmsStart):
    stake: list[float] = stakes()
    gpu_share: float = data("1", 0.0, 1.0, "vendors' share of AI capex (chips and systems)")
    gross_margin: float = data("1", 0.0, 1.0, "vendors' gross margin")
    fixed: float = data("$B/month", 0.0, INF, "vendors' operating costs (R&D, SG&A)")


@dataclass
class FinanceStart:
    risk_free: float = data("1/yr", 0.0, 1.0, "risk-free interest rate")
    spread: float = data("1/yr", 0.0, 1.0, "average credit spread of the sectors' debt")


@dataclass
class PowerStart:
    energised: float = data("GW", 0.0, INF, "AI data-centre power in operation", open_lo=True)
    queue: float = data("GW", 0.0, INF,
                        "AI data-centre power requested and not yet energised")
    intensity: float = data("kW/H100e", 0.0, INF,
                            "facility power per H100e of the installed base", open_lo=True)
    new_intensity: float = data("kW/H100e", 0.0, INF,
                                "facility power per H100e of the hardware ordered at t=0",
                                open_lo=True)
    build_rate: float = data("GW/month", 0.0, INF,
                             "most power the grid and builders can energise in a month",
                             open_lo=True)
    price: float = data("$/kWh", 0.0, INF, "price of the power data centres draw")


@dataclass
class StartConfig:
    date: str = setting(MISSING, "YYYY-MM", "calendar month of t=0")
    compute: ComputeStart = field(default_factory=ComputeStart)
    tokens: TokensStart = field(default_factory=TokensStart)
    labs: LabsStart = field(default_factory=LabsStart)
    clouds: CloudsStart = field(default_factory=CloudsStart)
    vendors: VendorsStart = field(default_factory=VendorsStart)
    finance: FinanceStart = field(default_factory=FinanceStart)
    power: PowerStart = field(default_factory=PowerStart)


# --- forward-looking assumptions (scenario files override these defaults) ---------------
@dataclass
class EfficiencyConfig:
    growth: float = param(0.6, "1/yr", -10.0, 10.0,
                          "drift of log tokens per H100e-hour (algorithms, net of bigger "
                          "models)")
    volatility: float = param(0.25, "1/sqrt(yr)", 0.0, 5.0, "volatility of log efficiency")
    jump_rate: float = param(0.5, "1/yr", 0.0, 24.0,
                             "rate of efficiency shocks (e.g. a cheap open model)")
    jump_mean: float = param(0.3, "log", -5.0, 5.0, "mean log size of one efficiency shock")
    jump_std: float = param(0.2, "log", 0.0, 5.0, "std of the log size of one efficiency shock")


@dataclass
class CostConfig:
    growth: float = param(-0.3, "1/yr", -5.0, 5.0,
                          "drift of the log all-in cost of an H100e-hour (hardware progress)")
    volatility: float = param(0.05, "1/sqrt(yr)", 0.0, 5.0, "volatility of the log cost")


@dataclass
class PricesConfig:
    rent_floor: float = param(0.3, "1", 0.0, 10.0,
                              "rental price / cost at zero utilization (dumped spare capacity)")
    rent_curvature: float = param(3.0, "1", 0.1, 10.0, "curvature of the utilization markup")
    rent_adjustment: float = param(0.25, "1/month", 0.0, 1.0,
                                   "share of the log gap to the clearing rent closed per month",
                                   open_lo=True)
    margin_floor: float = param(1.0, "1", -0.99, 100.0,
                                "long-run lab markup over compute (gross margin 50% at 1)")
    margin_decay: float = param(0.3, "1/yr", 0.0, 20.0,
                                "speed at which competition moves the markup to its floor")
    fire_sale_discount: float = param(0.5, "1", 0.0, 1.0,
                                      "rent cut when all capacity is sold off by defaulters")
    fire_sale_halflife: float = param(6.0, "months", 0.0, 600.0,
                                      "half-life of the fire-sale overhang", open_lo=True)


@dataclass
class DemandConfig:
    elasticity: float = param(1.2, "1", 0.0, 10.0,
                              "price elasticity of token demand eps (Jevons holds if > 1)",
                              open_lo=True)
    bass_p: float = param(0.03, "1/yr", 0.0, 10.0, "Bass innovation coefficient p")
    bass_q: float = param(0.5, "1/yr", 0.0, 10.0, "Bass imitation coefficient q")
    adoption_volatility: float = param(0.2, "1/sqrt(yr)", 0.0, 5.0,
                                       "volatility of the log adoption increment")


@dataclass
class LabsConfig:
    training_growth: float = param(0.6, "1/yr", -5.0, 5.0,
                                   "growth of the labs' planned training budgets at t=0")
    training_growth_end: float = param(0.05, "1/yr", -5.0, 5.0,
                                       "long-run growth of training budgets")
    maturity_halflife: float = param(2.5, "yr", 0.0, 100.0,
                                     "half-life of the decay of budget growth to its long-run "
                                     "rate", open_lo=True)
    max_dilution: float = param(0.2, "1", 0.0, 1.0,
                                "largest share of a lab's value one funding round can buy")
    runway_target: float = param(6.0, "months", 0.0, 120.0,
                                 "months of planned training a lab keeps in cash; below it, "
                                 "it cuts training", open_lo=True)
    training_cut: float = param(0.7, "1", 0.0, 1.0,
                                "share of training a lab cuts when its cash runs out")
    round_trigger: float = param(12.0, "months", 0.0, 120.0,
                                 "runway (months of burn) below which a lab raises a round")
    round_months: float = param(18.0, "months", 0.0, 120.0,
                                "months of burn a funding round covers when fully open")
    funding_growth_beta: float = param(0.3, "yr", 0.0, 20.0,
                                       "how much faster revenue growth opens funding "
                                       "(per 1/yr above the start's growth)")


@dataclass
class CapacityConfig:
    depreciation: float = param(0.2, "1/yr", 0.0, 5.0,
                                "economic retirement rate of capacity (1/economic life)")
    target_utilization: float = param(0.8, "1", 0.0, 1.0,
                                      "utilization that capacity planners aim for", open_lo=True)
    adjustment_months: float = param(12.0, "months", 1.0, 600.0,
                                     "months over which planners close a capacity gap")
    expectation_weight: float = param(0.1, "1", 0.0, 1.0,
                                      "monthly weight of new growth in adaptive expectations")
    optimism: float = param(0.3, "1", 0.0, 5.0,
                            "log-scaling of the capacity forecast with sentiment")
    maintenance_share: float = param(0.5, "1", 0.0, 1.0,
                                     "share of retirements replaced even with spare capacity")
    bust_caution: float = param(0.3, "1", 0.0, 5.0,
                                "log cut of the capacity planners want when the narrative "
                                "breaks (their memory of the bust)")
    caution_months: float = param(240.0, "months", 1.0, 600.0,
                                  "e-folding time of the planners' caution after a bust")


@dataclass
class ContractsConfig:
    term_months: float = param(36.0, "months", 1.0, 600.0,
                               "mean remaining term of a compute contract")
    termination_rate: float = param(0.05, "1/month", 0.0, 1.0,
                                    "share of its contracts a lab out of cash ends a month")
    termination_fee: float = param(0.3, "1", 0.0, 1.0,
                                   "fee for ending a contract early, share of what it had left")


@dataclass
class PowerConfig:
    queue_months: float = param(18.0, "months", 1.0, 600.0,
                                "mean wait from a power request to energised power")
    build_growth: float = param(0.1, "1/yr", -5.0, 5.0,
                                "growth of the most power energised in a month")
    efficiency_gain: float = param(0.25, "1/yr", -5.0, 5.0,
                                   "fall (log) of the power per H100e of new hardware")
    reserve: float = param(0.1, "1", 0.0, 10.0,
                           "power requested beyond the expected need, as a share of it")


@dataclass
class FinanceConfig:
    circular_share: float = param(0.2, "1", 0.0, 1.0,
                                  "share of lab training funded by clouds and vendors")
    circular_cloud_share: float = param(0.6, "1", 0.0, 1.0,
                                        "circular investment share paid by clouds (rest: vendors)")
    credit_multiple: float = param(6.0, "1", 0.0, 20.0,
                                   "credit limit as a multiple of annual EBITDA, in good times")
    loan_to_value: float = param(0.6, "1", 0.0, 1.0,
                                 "credit secured by a cloud's capacity per $ of its book value")
    target_leverage: float = param(5.0, "1", 0.0, 20.0,
                                   "debt / annual EBITDA above which a cloud stops borrowing "
                                   "for capex (lenders still roll debt over up to the limit)")
    capex_pacing: float = param(12.0, "months", 1.0, 120.0,
                                "months over which a cloud would spend its cash and credit on "
                                "capex")
    gate_center: float = param(-1.0, "1", -10.0, 10.0,
                               "sentiment at which funding and credit are half open")
    gate_width: float = param(0.4, "1", 0.0, 10.0, "width of the funding gate", open_lo=True)
    spread_sensitivity: float = param(0.5, "1", 0.0, 5.0,
                                      "log change of spreads per unit of falling sentiment")
    leverage_spread: float = param(1.0, "1", 0.0, 10.0,
                                   "relative rise of a firm's spread per unit of debt/EBITDA")
    debt_maturity: float = param(60.0, "months", 1.0, 1200.0, "average debt maturity")
    payout_rate: float = param(0.3, "1/month", 0.0, 1.0,
                               "share of cash above the buffer paid out each month")
    cash_buffer_months: float = param(6.0, "months", 0.0, 120.0,
                                      "months of costs a firm keeps before paying out")


@dataclass
class ContagionConfig:
    recovery_rate: float = param(0.4, "1", 0.0, 1.0,
                                 "share of a defaulter's debt its lenders recover")
    vendor_financed_share: float = param(0.1, "1", 0.0, 1.0,
                                         "share of a cloud's debt owed to its chip vendors "
                                         "(vendor financing)")
    spread_jump: float = param(3.0, "1", 0.0, 50.0,
                               "relative widening of a sector's spreads per unit of its debt "
                               "lost in defaults")
    distress_halflife: float = param(18.0, "months", 0.0, 600.0,
                                     "half-life of that widening", open_lo=True)


@dataclass
class SentimentConfig:
    s0: float = param(0.0, "1", -10.0, 10.0, "common AI sentiment at t=0 (0 = neutral)")
    persistence: float = param(0.95, "1/month", 0.0, 1.0, "AR(1) coefficient per month",
                               open_hi=True)
    volatility: float = param(0.3, "1/sqrt(yr)", 0.0, 10.0, "volatility of sentiment")
    growth_sensitivity: float = param(1.0, "yr", 0.0, 20.0,
                                      "response to growth surprises (per 1/yr of surprise)")
    utilization_sensitivity: float = param(1.0, "1", 0.0, 20.0,
                                           "response to utilization above/below target")
    narrative_growth: float = param(0.8, "1/yr", -5.0, 5.0,
                                    "growth of end-user AI revenue the market's story promises "
                                    "at t=0")
    narrative_weight: float = param(0.08, "1/month", 0.0, 1.0,
                                    "monthly weight with which the story follows expected "
                                    "growth (slow: a fast slowdown disappoints)")
    disappointment_threshold: float = param(0.25, "1/yr", 0.0, 10.0,
                                            "shortfall of growth that counts as disappointing")
    break_months: int = param(6, "months", 1, 600,
                              "months of disappointment before the narrative breaks")
    break_jump: float = param(0.5, "1", 0.0, 10.0, "sentiment drop at the narrative break")
    bust_mean: float = param(-1.0, "1", -10.0, 10.0, "mean sentiment after the break")
    recovery_months: int = param(12, "months", 1, 600,
                                 "months of growth above narrative that end the bust regime")


@dataclass
class SectorMoodConfig:
    persistence: float = param(0.9, "1/month", 0.0, 1.0, "AR(1) coefficient of a sector's mood",
                               open_hi=True)
    volatility: float = param(0.2, "1/sqrt(yr)", 0.0, 10.0, "volatility of a sector's mood")
    growth_sensitivity: float = param(0.5, "yr", 0.0, 20.0,
                                      "response of a sector's mood to its revenue-growth "
                                      "surprise")


@dataclass
class ValuationConfig:
    sentiment_beta: float = param(0.5, "1", 0.0, 10.0, "log change of multiples per unit mood")
    expectation_weight: float = param(0.05, "1", 0.0, 1.0,
                                      "monthly weight of new revenue growth in expectations",
                                      open_lo=True)
    floor: float = param(0.05, "1/yr", 0.0, 10.0,
                         "least growth + margin a sector is valued on (losses lower value "
                         "down to this)")
    revenue_smoothing: float = param(0.25, "1", 0.0, 1.0,
                                     "monthly weight of new revenue in the valued run-rate",
                                     open_lo=True)


@dataclass
class ModelConfig:
    horizon_months: int = param(120, "months", 1, 600, "simulated horizon")
    efficiency: EfficiencyConfig = field(default_factory=EfficiencyConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    prices: PricesConfig = field(default_factory=PricesConfig)
    demand: DemandConfig = field(default_factory=DemandConfig)
    labs: LabsConfig = field(default_factory=LabsConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    contracts: ContractsConfig = field(default_factory=ContractsConfig)
    finance: FinanceConfig = field(default_factory=FinanceConfig)
    contagion: ContagionConfig = field(default_factory=ContagionConfig)
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    sectors: SectorMoodConfig = field(default_factory=SectorMoodConfig)
    valuation: ValuationConfig = field(default_factory=ValuationConfig)


class Backend(Enum):
    """numba: the compiled engine; numpy: the NumPy reference (same model and random
    numbers; results agree to rounding)."""

    numba = "numba"
    numpy = "numpy"


class PriorSampling(Enum):
    """Where the priors' uniforms come from: each path's own random stream, a scrambled
    Sobol' sequence indexed by path, or the rows of a Saltelli design for Sobol' indices
    (sim.priors.prior_uniforms)."""

    random = "random"
    sobol = "sobol"
    saltelli = "saltelli"


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
    prior_sampling: PriorSampling = setting(PriorSampling.random, "random, sobol, saltelli",
                                            "uniforms of the priors' draws: each path's own "
                                            "stream, a scrambled Sobol' sequence, or a "
                                            "Saltelli design for bubblesim-sensitivity")
    prior_replicates: int = param(2, "paths", 1, 1024,
                                  "consecutive paths that share one draw of the priors (2 or "
                                  "more: a spread splits into parameters and shocks; not "
                                  "used by a saltelli design)")


@dataclass
class OutputConfig:
    per_path: bool = setting(True, "true, false", "keep per-path arrays in results.nc")
    quiet: bool = setting(False, "true, false", "no progress bar, table or 'wrote' line")
    overwrite: bool = setting(False, "true, false",
                              "recompute even if the run directory holds this run")


# --- dated events for stress tests (docs/model.md#dated-events) ----------------------------
# what each kind of event needs; sim.params turns events into dated series of the parameter
# vector (sim.layout.E_*), so a new kind is one entry here and one series there
EVENT_KINDS = {
    "capacity_sale": ("holder", "share", "months"),
    "efficiency_jump": ("factor",),
    "rate_shock": ("bp", "months"),
    "funding_freeze": ("months",),
    "power_shortfall": ("gw", "months"),
    "contract_termination": ("share",),
}


@dataclass
class EventConfig:
    """One dated event (``events.NAME`` in the config): its kind, the month it starts and the
    parameters of its kind; the parameters of other kinds stay unset (null)."""

    kind: str | None = setting(None, ", ".join(EVENT_KINDS), "what happens")
    month: Any = setting(None, "1 .. model.horizon_months, or YYYY-MM after start.date",
                         "the month the event starts")
    holder: str | None = setting(None, "a name of start.clouds.names",
                                    "capacity_sale: the cloud firm that sells")
    share: float | None = param(None, "1", 0.0, 1.0,
                                   "capacity_sale: share of its capacity the holder sells; "
                                   "contract_termination: share of the labs' contracts ended")
    months: int | None = param(None, "months", 0, 600,
                                  "months the event lasts (capacity_sale, funding_freeze: at "
                                  "least 1; rate_shock, power_shortfall: 0 = for good)")
    factor: float | None = param(None, "1", 0.0, 1000.0,
                                    "efficiency_jump: x-fold gain in tokens per GPU-hour",
                                    open_lo=True)
    bp: float | None = param(None, "bp", -1000.0, 10000.0,
                                "rate_shock: basis points added to the risk-free rate")
    gw: float | None = param(None, "GW", 0.0, INF,
                                "power_shortfall: GW of energised power lost")


# --- priors: parameter uncertainty drawn per path (sim.priors, docs/priors.md) -------------
@dataclass
class PriorConfig:
    """One prior (``priors.NAME`` in the config): the key it varies, its distribution and
    the distribution's parameters; the others stay unset (null). Ranges depend on the key
    and are checked by sim.priors."""

    key: str | None = setting(None, "a numeric key of start or model",
                              "the parameter the prior varies")
    dist: str | None = setting(None, "uniform, loguniform, normal, lognormal, triangular, "
                               "beta, choice, empirical", "its distribution")
    low: float | None = setting(None, "inside the key's range", "lower bound (uniform, "
                                "loguniform, triangular, beta; truncation of normal, lognormal)")
    high: float | None = setting(None, "inside the key's range", "upper bound")
    mode: float | None = setting(None, "in [low, high]", "triangular: the most likely value")
    mean: float | None = setting(None, "a number", "normal: mean before truncation")
    sd: float | None = setting(None, "> 0", "normal: standard deviation before truncation")
    median: float | None = setting(None, "> 0", "lognormal: median before truncation")
    sigma: float | None = setting(None, "> 0", "lognormal: standard deviation of the log")
    a: float | None = setting(None, "> 0", "beta: first shape parameter")
    b: float | None = setting(None, "> 0", "beta: second shape parameter")
    values: list[float] | None = setting(None, "values inside the key's range",
                                         "choice: the values (whole numbers for integer "
                                         "keys); empirical: the sample, drawn jointly")
    weights: list[float] | None = setting(None, "one non-negative number per value",
                                          "choice: relative weights (default equal)")


# --- calibration targets: observed series and their statistics (sim.targets) ---------------
TARGET_STATISTICS = ("log_slope", "log_ratio")


@dataclass
class TargetConfig:
    """One calibration target (``targets.NAME``): an observed series of a model observable
    at dated months, the statistic computed alike from the data and from each path, and how
    far a path's statistic may lie from the data's."""

    observable: str | None = setting(None, "a series of results.nc (token_price, tokens, "
                                     "rental_price, capex_ttm, spend, ...)",
                                     "the model's counterpart of the data")
    statistic: str | None = setting(None, ", ".join(TARGET_STATISTICS),
                                    "log_slope: least-squares slope of ln(value) on years; "
                                    "log_ratio: ln(last / first)")
    observed: dict[str, float] | None = setting(None, "YYYY-MM: value > 0, at least 2",
                                                "the data, by month")
    scale: float | None = param(None, "statistic", 0.0, INF,
                                "the distance's unit for this statistic", open_lo=True)
    tolerance: float | None = param(None, "statistic", 0.0, INF,
                                    "largest |simulated - observed| a path may have",
                                    open_lo=True)
    unit: str = setting("", "any text", "units of the observed values")
    source: str = setting("", "any text", "where the data come from")


@dataclass
class CalibrationConfig:
    accept: float = param(1.0, "1", 0.0, 1.0, "of the paths within every target's "
                          "tolerance, the share closest to the data that is kept",
                          open_lo=True)
    adjust: bool = setting(True, "true, false", "local-linear regression adjustment "
                           "(Beaumont et al. 2002)")
    forecast_from: str | None = setting(None, "YYYY-MM after start.date, or null",
                                        "re-run the accepted paths to the horizon: their "
                                        "futures from this month are the conditioned forecast")
    posterior_draws: int = param(2000, "draws", 10, 1_000_000,
                                 "rows of the posterior written as a priors file")
    forecast_paths: int = param(50_000, "paths", 10, 10_000_000,
                                "most kept paths re-run for the forecast (evenly chosen), and "
                                "as many unconditioned ones")


@dataclass
class Config:
    scenario_name: str = setting("soft_landing", "any text",
                                 "name of the scenario (set by conf/scenario/NAME.yaml)")
    start_name: str = setting("2026q1", "any text",
                              "name of the starting state (set by conf/start/NAME.yaml)")
    start: StartConfig = field(default_factory=StartConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    events: dict[str, EventConfig] = field(
        default_factory=dict, metadata={"allowed": "named events (events=FILE, conf/events/)",
                                        "doc": "dated events for stress tests"})
    # untyped here, so that a whole prior can be given on the command line
    # (+priors.NAME={key: ..., dist: ...}); sim.priors checks each against PriorConfig
    priors: dict[str, Any] = field(
        default_factory=dict, metadata={"allowed": "named priors (priors=FILE, conf/priors/)",
                                        "doc": "parameter uncertainty, drawn per path"})
    targets_name: str = setting("none", "any text",
                                "name of the calibration targets (conf/targets/NAME.yaml)")
    targets: dict[str, TargetConfig] = field(
        default_factory=dict, metadata={"allowed": "named targets (targets=FILE, "
                                        "conf/targets/)",
                                        "doc": "observed series for bubblesim-calibrate"})
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


def register_configs() -> None:
    """Register the schema so ``conf/config.yaml`` can extend it, and the engine and output
    groups' defaults straight from their dataclasses (no YAML copy of them; idempotent)."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=Config)
    store.store(group="engine", name="default", node=EngineConfig)
    store.store(group="output", name="default", node=OutputConfig)


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


def in_range(value: float, meta: dict) -> bool:
    """Whether ``value`` lies in a field's allowed range (open ends excluded)."""
    below = value <= meta["lo"] if meta["open_lo"] else value < meta["lo"]
    above = value >= meta["hi"] if meta["open_hi"] else value > meta["hi"]
    return not (below or above)


def range_text(meta: dict) -> str:
    """'[lo, hi]' with open ends as '(' or ')' and readable numbers."""
    lo = "(" if meta["open_lo"] else "["
    hi = ")" if meta["open_hi"] or meta["hi"] == math.inf else "]"
    return f"{lo}{readable_number(meta['lo'])}, {readable_number(meta['hi'])}{hi}"


def allowed_text(meta: dict) -> str:
    """The allowed range of a field, its unit and its meaning, for error messages and help."""
    unit = f" {meta['unit']}" if meta["unit"] not in ("1", "") else ""
    return f"allowed range {range_text(meta)}{unit} ({meta['doc']})"
