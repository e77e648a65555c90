"""Validated parameters: schema dataclasses in, the kernel's flat float64 vector out."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from sim import equations as eq
from sim import layout, model
from sim.layout import SECTORS
from sim.priors import Prior, check_priors, draw, quantile, saltelli_period
from sim.schema import (
    EVENT_KINDS,
    Config,
    ConfigError,
    EventConfig,
    allowed_text,
    in_range,
    leaf_fields,
    readable_number,
)

__all__ = ["ConfigError", "RunSettings", "event_month", "event_series", "model_vector",
           "run_settings", "validate"]


def _check_field(key: str, value: Any, meta: dict) -> None:
    where = f"{key} = {readable_number(value)}"
    allowed = allowed_text(meta)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} is not a number; {allowed}")
    if not math.isfinite(value):
        raise ConfigError(f"{where} is not finite; {allowed}")
    if not in_range(value, meta):
        raise ConfigError(f"{where} is out of range: {allowed}")


def _value(cfg: Config, key: str) -> Any:
    for name in key.split("."):
        cfg = getattr(cfg, name)
    return cfg


def _check_firms(cfg: Config) -> None:
    """Per-firm lists: one value per firm in every sector, shares summing to 1."""
    n = len(cfg.start.labs.names)
    for key, f in leaf_fields():
        value = _value(cfg, key)
        if not isinstance(value, (list, tuple)):
            continue
        if len(value) != n:
            raise ConfigError(f"{key} has {len(value)} values; every per-firm list needs one "
                              f"per firm ({n}, as start.labs.names)")
        if "lo" in f.metadata:
            for j, item in enumerate(value):
                _check_field(f"{key}[{j}]", item, f.metadata)
    for sector in SECTORS:
        shares = getattr(cfg.start, sector).share
        if abs(sum(shares) - 1.0) > 1e-6:
            raise ConfigError(f"start.{sector}.share sums to {sum(shares):.6g}; the shares of "
                              "a sector's revenue must sum to 1")


def _check_start(cfg: Config) -> None:
    """What the start must satisfy for the model to reproduce it at t=0."""
    c, m = cfg.start.compute, cfg.model
    try:
        np.datetime64(cfg.start.date, "M")
    except ValueError:
        raise ConfigError(f"start.date = {cfg.start.date!r} is not a month "
                          "(allowed: YYYY-MM, e.g. 2026-01)") from None
    markup = c.rent / c.unit_cost
    if markup < m.prices.rent_floor:
        raise ConfigError(f"start.compute.rent / start.compute.unit_cost = {markup:.3g} is below "
                          f"model.prices.rent_floor = {m.prices.rent_floor}: the start's rent "
                          "cannot lie on the rent curve")
    shares = c.cohort_shares
    if len(shares) != layout.COHORTS - 1 or abs(sum(shares) - 1.0) > 1e-6 or any(
            not 0.0 <= v <= 1.0 for v in shares):
        raise ConfigError(f"start.compute.cohort_shares = {list(shares)} must be "
                          f"{layout.COHORTS - 1} shares in [0, 1] summing to 1 (last year's "
                          "purchases first, then the three years before, then older)")
    _check_power(cfg)


def _check_power(cfg: Config) -> None:
    """The start's installed base must have power, its power bill must fit in its cash
    opex, and its order book must fit in the power free when the orders arrive."""
    c, w, m = cfg.start.compute, cfg.start.power, cfg.model
    used = c.capacity * eq.power_per_capacity(w.intensity)
    if used > w.energised:
        raise ConfigError(f"start.power.energised = {w.energised:.4g} GW is below the "
                          f"{used:.4g} GW the installed base draws (start.compute.capacity x "
                          "start.power.intensity)")
    bill = w.price * w.intensity
    if bill > c.opex_share * c.unit_cost:
        raise ConfigError(f"start.power.price x start.power.intensity = {bill:.3g} $/GPU-h "
                          "exceeds the cash opex start.compute.opex_share x "
                          f"start.compute.unit_cost = {c.opex_share * c.unit_cost:.3g} $/GPU-h")
    lag, keep = c.build_lag, (1.0 - m.capacity.depreciation / 12.0) ** c.build_lag
    per_unit = eq.power_per_capacity(w.new_intensity)
    orders = c.capex / c.capex_per_capacity
    pipe = orders * per_unit * sum(math.exp(m.power.efficiency_gain * s / 12.0)
                                   for s in range(lag))
    served = 1.0 - (1.0 - 1.0 / m.power.queue_months) ** lag
    free = eq.power_headroom(w.energised, w.queue, used, pipe, served, lag, w.build_rate, keep)
    if orders * per_unit > free:
        raise ConfigError(f"start.compute.capex orders capacity that draws "
                          f"{orders * per_unit:.3g} GW a month, above the {free:.3g} GW free "
                          "when it arrives (start.power.energised, .queue, .build_rate): the "
                          "power cap would bind at once")


def _month_text(cfg: Config, t: int) -> str:
    """Month t of the simulation as a calendar month (start.date is month 0)."""
    return str(np.datetime64(cfg.start.date, "M") + t)


def event_month(cfg: Config, name: str, event: EventConfig) -> int:
    """The month t (1 .. horizon) an event starts: a month number, or a calendar month
    'YYYY-MM' counted from start.date (month 0)."""
    horizon = cfg.model.horizon_months
    allowed = (f"allowed: 1 .. model.horizon_months = {horizon}, or a month 'YYYY-MM' from "
               f"{_month_text(cfg, 1)} to {_month_text(cfg, horizon)}")
    where = f"events.{name}.month = {event.month!r}"
    if event.month is None:
        raise ConfigError(f"events.{name}.month is missing; {allowed}")
    if isinstance(event.month, int) and not isinstance(event.month, bool):
        t = event.month
    elif isinstance(event.month, str) and re.fullmatch(r"\d{4}-\d{2}", event.month):
        try:
            date = np.datetime64(event.month, "M")
        except ValueError:
            raise ConfigError(f"{where} is not a month; {allowed}") from None
        t = int((date - np.datetime64(cfg.start.date, "M")).astype(int))
    else:
        raise ConfigError(f"{where} is not a month; {allowed}")
    if not 1 <= t <= horizon:
        raise ConfigError(f"{where} (month {t}) is outside the horizon; {allowed}")
    return t


_EVENT_FIELDS = {f.name: f for f in fields(EventConfig)}
_EVENT_PARAMS = ("holder", "share", "months", "factor", "bp", "gw")


def _check_event(cfg: Config, name: str, event: EventConfig) -> None:
    """One event: a known kind, a month within the horizon, exactly its kind's parameters,
    each in its range."""
    key = f"events.{name}"
    kinds = ", ".join(EVENT_KINDS)
    if event.kind not in EVENT_KINDS:
        raise ConfigError(f"{key}.kind = {event.kind!r} is not a kind of event; allowed: "
                          f"{kinds}")
    event_month(cfg, name, event)
    wanted = EVENT_KINDS[event.kind]
    for param_name in _EVENT_PARAMS:
        value = getattr(event, param_name)
        meta = _EVENT_FIELDS[param_name].metadata
        if param_name not in wanted:
            if value is not None:
                raise ConfigError(f"{key}.{param_name} is not a parameter of {event.kind}; "
                                  f"allowed: {', '.join(wanted)} (leave the others unset)")
            continue
        if value is None:
            allowed = allowed_text(meta) if "lo" in meta else f"allowed: {meta['allowed']}"
            raise ConfigError(f"{key}.{param_name} is missing ({event.kind} needs "
                              f"{', '.join(wanted)}); {allowed}")
        if "lo" in meta:
            _check_field(f"{key}.{param_name}", value, meta)
    if "months" in wanted and event.kind in ("capacity_sale", "funding_freeze") \
            and event.months < 1:
        raise ConfigError(f"{key}.months = {event.months} is out of range: allowed at least "
                          f"1 month for a {event.kind}")
    names = list(cfg.start.clouds.names)
    if "holder" in wanted and event.holder not in names:
        raise ConfigError(f"{key}.holder = {event.holder!r} is not a cloud firm; allowed: one "
                          f"of start.clouds.names: {', '.join(names)}")


def event_series(cfg: Config) -> np.ndarray:
    """The events as dated series (sim.layout.E_*, rows) over months 0 .. horizon (columns):
    what the model reads in month t. Events of one kind add up (a freeze is a freeze);
    months past the horizon are not simulated."""
    nf, horizon = len(cfg.start.labs.names), cfg.model.horizon_months
    series = np.zeros((layout.n_event_series(nf), horizon + 1))
    series[layout.E_GATE_SCALE] = 1.0
    for name, event in cfg.events.items():
        t = event_month(cfg, name, event)
        if event.kind == "capacity_sale":
            j = list(cfg.start.clouds.names).index(event.holder)
            # each month share / months of the holder's start share of the installed base
            per_month = event.share * cfg.start.clouds.share[j] / event.months
            series[layout.E_SALE + j, t:t + event.months] += per_month
        elif event.kind == "efficiency_jump":
            series[layout.E_EFFICIENCY_SHOCK, t] += math.log(event.factor)
        elif event.kind == "rate_shock":
            end = horizon + 1 if event.months == 0 else t + event.months
            series[layout.E_RATE_SHOCK, t:end] += event.bp / 1e4
        elif event.kind == "funding_freeze":
            series[layout.E_GATE_SCALE, t:t + event.months] = 0.0
        elif event.kind == "power_shortfall":
            series[layout.E_POWER_LOSS, t] += event.gw
            if event.months and t + event.months <= horizon:
                series[layout.E_POWER_LOSS, t + event.months] -= event.gw  # restored
        elif event.kind == "contract_termination":
            left = 1.0 - series[layout.E_TERMINATION, t]
            series[layout.E_TERMINATION, t] = 1.0 - left * (1.0 - event.share)
    return series


def _with_value(cfg: Any, key: str, value: Any) -> Any:
    """A copy of the config with one dotted key set."""
    head, _, rest = key.partition(".")
    inner = getattr(cfg, head)
    return replace(cfg, **{head: _with_value(inner, rest, value) if rest else value})


def _check_prior_ends(cfg: Config) -> None:
    """Each prior's draws must keep the start a state of the model: the start's checks hold
    with the prior at either end of its range (the others at their point values)."""
    for prior in check_priors(cfg.priors):
        for end, value in (("lower", prior.lo), ("upper", prior.hi)):
            value = int(value) if isinstance(_value(cfg, prior.key), int) else float(value)
            try:
                _check_start(_with_value(cfg, prior.key, value))
            except ConfigError as error:
                raise ConfigError(f"priors.{prior.name}: at its {end} end ({prior.key} = "
                                  f"{readable_number(value)}) the start does not hold: "
                                  f"{error}; narrow the prior") from None


def validate(cfg: Config) -> Config:
    """Check every range and the constraints between parameters; raise ConfigError."""
    for key, f in leaf_fields():
        value = _value(cfg, key)
        if "lo" in f.metadata and not isinstance(value, (list, tuple)):
            _check_field(key, value, f.metadata)
    _check_firms(cfg)
    _check_start(cfg)
    for name, event in cfg.events.items():
        _check_event(cfg, name, event)
    _check_prior_ends(cfg)
    _check_prior_slots(cfg)
    e = cfg.engine
    if not e.shard_index < e.num_shards <= e.n_paths:
        raise ConfigError(f"engine.shard_index = {readable_number(e.shard_index)} must be in "
                          f"[0, engine.num_shards = {readable_number(e.num_shards)}) and "
                          f"engine.num_shards <= engine.n_paths = {readable_number(e.n_paths)}")
    return cfg


def model_vector(cfg: Config) -> np.ndarray:
    """The kernel's parameter vector (layout in sim.layout) at the config's point values:
    every numeric start and model value, the derived t=0 quantities, then the per-firm lists
    and the dated events' series (priors replace some of them path by path: path_draws)."""
    nf, horizon = len(cfg.start.labs.names), cfg.model.horizon_months
    p = np.zeros(layout.vector_length(nf, horizon))
    for key in layout.SCALARS:
        p[layout.param(key)] = _value(cfg, key)
    for k, sector in enumerate(SECTORS):
        firms = getattr(cfg.start, sector)
        for f, name in enumerate(layout.FIRM_DATA):
            values = getattr(firms, name, None)
            if values is not None:
                first = layout.firm_param(f, k, 0, nf)
                p[first:first + nf] = values
    p[layout.param("derived.n_firms")] = nf
    shares = cfg.start.compute.cohort_shares
    p[layout.P_COHORT_SHARES:layout.P_COHORT_SHARES + len(shares)] = shares
    p[layout.P_MONTHLY:layout.N_SCALAR_PARAMS] = layout.NEUTRAL  # month_params sets them
    p[layout.events_offset(nf):] = event_series(cfg).ravel()
    return model.initial_conditions(p)


# quantiles at which the priors are probed for the slots their draws move
_PROBES = (0.0, 0.1, 0.37, 0.5, 0.63, 0.9, 1.0 - 1e-12)


def with_draw(p: np.ndarray, slots: Any, values: np.ndarray) -> np.ndarray:
    """A copy of the parameter vector with ``values`` in ``slots`` and the start derived
    from them again."""
    q = p.copy()
    q[slots] = values
    return model.initial_conditions(q)


def varying_slots(cfg: Config) -> np.ndarray:
    """The slots of the parameter vector that a draw of the config's priors moves: each
    prior's own and every quantity derived from them at t = 0, found by deriving the start
    with each prior alone and all together at quantiles across their ranges (a slot that
    none of these moves does not depend on the priors)."""
    priors = check_priors(cfg.priors)
    p = model_vector(cfg)
    base = [layout.param(prior.key) for prior in priors]
    moved = np.zeros(p.size, dtype=bool)
    moved[base] = True
    for u in _PROBES:
        at = np.array([float(quantile(prior, np.array([u]))[0]) for prior in priors])
        moved |= with_draw(p, base, at) != p
        for k in range(len(priors)):
            alone = p[base].copy()
            alone[k] = at[k]
            moved |= with_draw(p, base, alone) != p
    return np.flatnonzero(moved)


def _shared_by_all(slots: np.ndarray) -> str:
    """What the slots beyond the scalar parameters hold (the engine keeps one copy of them
    for all paths)."""
    if np.any((slots >= layout.P_JUMP_CDF) & (slots < layout.P_COHORT_SHARES)):
        return "the Poisson probabilities of efficiency jumps"
    return "per-firm values"


def _check_prior_slots(cfg: Config) -> None:
    """The engine draws the scalar parameters per path and keeps one copy of the rest (the
    jump probabilities, per-firm values, dated events): a prior must move scalars only."""
    for name in sorted(cfg.priors):
        moved = varying_slots(replace(cfg, priors={name: cfg.priors[name]}))
        shared = moved[moved >= layout.P_MONTHLY]
        if shared.size:
            key = check_priors({name: cfg.priors[name]})[0].key
            raise ConfigError(f"priors.{name}: {key} moves {_shared_by_all(shared)}, which "
                              "all paths share; it cannot be drawn per path (allowed: keys "
                              "that move scalar parameters only, docs/priors.md)")


@dataclass(frozen=True)
class PathDraws:
    """The priors of a run, drawn path by path: path i takes draw i // ``replicates``, keyed
    by the seed and that index alone, so consecutive paths share a draw and a shard or a
    chunk draws what the whole run would."""

    priors: tuple[Prior, ...]
    seed: int
    replicates: int
    sampling: str

    @property
    def slots(self) -> np.ndarray:
        """The priors' slots in the parameter vector (the engine's ``base``)."""
        return np.array([layout.param(prior.key) for prior in self.priors], dtype=np.int64)

    @property
    def design_period(self) -> int:
        """Rows per base of the Saltelli design the paths form (0: not a design)."""
        return saltelli_period(len(self.priors)) if self.sampling == "saltelli" else 0

    def values_at(self, paths: np.ndarray) -> np.ndarray:
        """The draws (len(priors), len(paths)) of the paths with these global indices."""
        paths = np.asarray(paths, dtype=np.int64)
        if paths.size and np.all(np.diff(paths) == 1):
            return self.values(int(paths[0]), paths.size)
        if self.sampling == "random":
            return draw(list(self.priors), self.seed, 0, 0, "random", paths // self.replicates)
        out = np.empty((len(self.priors), paths.size))
        for at in np.split(np.arange(paths.size), np.flatnonzero(np.diff(paths) != 1) + 1):
            if at.size:
                out[:, at] = self.values(int(paths[at[0]]), at.size)
        return out

    def values(self, first: int, n: int) -> np.ndarray:
        """The draws (len(priors), n) of paths ``first .. first + n - 1``."""
        r = self.replicates
        if n == 0:
            return np.empty((len(self.priors), 0))
        first_draw, last_draw = first // r, (first + n - 1) // r
        draws = draw(list(self.priors), self.seed, first_draw, last_draw - first_draw + 1,
                     self.sampling)
        offset = first - first_draw * r
        # contiguous, like every other draws array: the engine compiles a version for each
        # array layout it is given (a slice of columns took a second 90-s compile)
        return np.ascontiguousarray(np.repeat(draws, r, axis=1)[:, offset:offset + n])


def path_draws(cfg: Config) -> PathDraws | None:
    """The config's priors as draws per path; None without priors."""
    if not cfg.priors:
        return None
    e = cfg.engine
    sampling = e.prior_sampling.value
    priors = tuple(check_priors(cfg.priors))
    if sampling == "saltelli" and any(p.dist == "empirical" for p in priors):
        raise ConfigError("engine.prior_sampling = saltelli varies one prior at a time, and "
                          "empirical priors are drawn jointly; allowed: random or sobol")
    # a design's rows share parameters and shocks by its own rule
    replicates = 1 if sampling == "saltelli" else e.prior_replicates
    return PathDraws(priors=priors, seed=e.seed,
                     replicates=replicates, sampling=sampling)


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
    priors: PathDraws | None = None  # None: every path has the point values
    # (observable, month) pairs recorded on every path (RawResults.snapshots)
    snapshots: tuple[tuple[int, int], ...] = ()
    # the global indices of the paths to run instead of the shard's range (a subset re-run
    # draws and shocks exactly as the full run did)
    path_ids: np.ndarray | None = None

    def paths(self) -> np.ndarray:
        """The global indices (uint64) of the paths this run simulates."""
        if self.path_ids is not None:
            return np.asarray(self.path_ids, dtype=np.uint64)
        first, n = self.shard_range()
        return np.arange(first, first + n, dtype=np.uint64)

    def shard_range(self) -> tuple[int, int]:
        """(first global path index, number of paths) of this shard."""
        first = self.n_paths * self.shard_index // self.num_shards
        last = self.n_paths * (self.shard_index + 1) // self.num_shards
        return first, last - first


def run_settings(cfg: Config) -> RunSettings:
    e = cfg.engine
    return RunSettings(n_paths=e.n_paths, seed=e.seed, chunk_size=e.chunk_size,
                       threads=e.threads, sample_paths=e.sample_paths, hist_bins=e.hist_bins,
                       horizon=cfg.model.horizon_months, n_firms=len(cfg.start.labs.names),
                       per_path=cfg.output.per_path, quiet=cfg.output.quiet,
                       backend=e.backend.value, num_shards=e.num_shards,
                       shard_index=e.shard_index, priors=path_draws(cfg))
