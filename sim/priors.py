"""Priors: a distribution for any numeric model or start parameter, drawn per path.

A prior is a named entry of the config's ``priors`` (``priors=NAME`` picks a file of
conf/priors/, or ``+priors.NAME={key: ..., dist: ..., ...}`` on the command line): the key of
the parameter it varies, its distribution and that distribution's parameters. Every
distribution is kept inside the key's allowed range (the schema's), and its values come
from one uniform per path and prior through the inverse CDF (``quantile``), so a path's
draw depends only on its uniform, whatever the threads, chunks or shards.

Distributions (docs/priors.md has the table with an example of each):

- ``uniform``: ``low``, ``high``;
- ``loguniform``: ``low``, ``high`` (both > 0), uniform in the logarithm;
- ``normal``: ``mean``, ``sd``, truncated to [``low``, ``high``] (default: the key's range);
- ``lognormal``: ``median``, ``sigma`` (of the logarithm), truncated the same way;
- ``triangular``: ``low``, ``mode``, ``high``;
- ``beta``: ``a``, ``b`` on [``low``, ``high``];
- ``choice``: ``values`` with optional ``weights`` (the only one for integer keys);
- ``empirical``: ``values``, a sample (a calibration's posterior, bubblesim-calibrate). The
  empirical priors of a set draw jointly: every one takes row ``floor(u n)`` of its values
  with the same uniform u, so the rows keep the posterior's correlations; they must all
  have the same number of values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sim.schema import (
    ConfigError,
    PriorConfig,
    in_range,
    leaf_fields,
    range_text,
    readable_number,
)

# what each distribution needs (besides key and dist); low and high are optional where the
# key's range bounds the distribution (normal, lognormal: truncation)
DISTRIBUTIONS = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("median", "sigma"),
    "triangular": ("low", "mode", "high"),
    "beta": ("a", "b", "low", "high"),
    "choice": ("values",),
    "empirical": ("values",),
}
OPTIONAL = {"normal": ("low", "high"), "lognormal": ("low", "high"), "choice": ("weights",)}
# the run's length, and the build lag, which sizes the state's order pipeline: shared by all
# paths, not assumptions a path can draw
FIXED = ("model.horizon_months", "start.compute.build_lag")
_NUMBERS = ("low", "high", "mode", "mean", "sd", "median", "sigma", "a", "b")


@dataclass(frozen=True)
class Prior:
    """A validated prior: the key it varies, its distribution and that distribution's
    parameters, with the bounds every draw stays within."""

    name: str
    key: str
    dist: str
    args: tuple[tuple[str, Any], ...]
    lo: float
    hi: float
    unit: str


def varying_keys() -> dict[str, Any]:
    """The keys a prior may vary: every numeric scalar of ``start`` and ``model`` (not the
    per-firm lists, names or dates), with their schema fields."""
    keys = {}
    for key, f in leaf_fields():
        if not key.startswith(("start.", "model.")) or "lo" not in f.metadata or key in FIXED:
            continue
        if f.type in ("int", "float", int, float):
            keys[key] = f
    return keys


def _is_integer(f: Any) -> bool:
    return f.type in ("int", int)


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value):
        raise ConfigError(f"{where} = {readable_number(value)} is not a finite number")
    return float(value)


def _inside(where: str, value: float, f: Any) -> None:
    meta = f.metadata
    if not in_range(value, meta):
        raise ConfigError(f"{where} = {readable_number(value)} is outside the key's allowed "
                          f"range {range_text(meta)}")


def _bounds(name: str, spec: PriorConfig, f: Any) -> tuple[float, float]:
    """[low, high] of the draws: the prior's own bounds, inside the key's range."""
    meta, where = f.metadata, f"priors.{name}"
    # an open end of the key's range is kept out of the draws
    lo = spec.low if spec.low is not None else (
        np.nextafter(meta["lo"], np.inf) if meta["open_lo"] else meta["lo"])
    hi = spec.high if spec.high is not None else (
        np.nextafter(meta["hi"], -np.inf) if meta["open_hi"] else meta["hi"])
    for end, value in (("low", spec.low), ("high", spec.high)):
        if value is not None:
            _inside(f"{where}.{end}", _number(f"{where}.{end}", value), f)
    if not lo < hi:
        raise ConfigError(f"{where}: low = {readable_number(lo)} must be below high = "
                          f"{readable_number(hi)}")
    return float(lo), float(hi)


def _check_args(name: str, spec: PriorConfig, lo: float, hi: float) -> None:
    """The distribution's own constraints (positive scales, a mode inside, mass inside)."""
    where = f"priors.{name}"
    if spec.dist == "loguniform" and lo <= 0.0:
        raise ConfigError(f"{where}.low = {readable_number(lo)} must be above 0 for a "
                          "loguniform prior")
    for scale in ("sd", "sigma", "a", "b"):
        value = getattr(spec, scale)
        if scale in DISTRIBUTIONS[spec.dist] and not value > 0.0:
            raise ConfigError(f"{where}.{scale} = {readable_number(value)} must be above 0")
    if spec.dist == "lognormal" and not spec.median > 0.0:
        raise ConfigError(f"{where}.median = {readable_number(spec.median)} must be above 0")
    if spec.dist == "lognormal" and hi <= 0.0:
        raise ConfigError(f"{where}: a lognormal prior needs a range above 0; the key's is "
                          f"[{readable_number(lo)}, {readable_number(hi)}]")
    if spec.dist == "triangular" and not lo <= spec.mode <= hi:
        raise ConfigError(f"{where}.mode = {readable_number(spec.mode)} must lie in [low, high]"
                          f" = [{readable_number(lo)}, {readable_number(hi)}]")
    if spec.dist in ("normal", "lognormal"):
        a, b = _truncation(spec.dist, dict(_arguments(spec)), lo, hi)
        if not _ndtr(b) - _ndtr(a) > 1e-9:
            raise ConfigError(f"{where}: the {spec.dist} prior has no probability inside "
                              f"[{readable_number(lo)}, {readable_number(hi)}]")


def _check_choice(name: str, spec: PriorConfig, f: Any) -> None:
    where = f"priors.{name}"
    values = list(spec.values or [])
    if not values:
        raise ConfigError(f"{where}.values is empty; a choice needs at least one value")
    for k, value in enumerate(values):
        v = _number(f"{where}.values[{k}]", value)
        _inside(f"{where}.values[{k}]", v, f)
        if _is_integer(f) and not float(v).is_integer():
            raise ConfigError(f"{where}.values[{k}] = {readable_number(value)} is not an "
                              f"integer; {spec.key} takes whole numbers")
    if spec.weights is not None:
        weights = [_number(f"{where}.weights[{k}]", w) for k, w in enumerate(spec.weights)]
        if len(weights) != len(values) or min(weights) < 0.0 or sum(weights) <= 0.0:
            raise ConfigError(f"{where}.weights must be {len(values)} non-negative numbers "
                              "(one per value) with a positive sum")


def _arguments(spec: PriorConfig) -> Iterator[tuple[str, Any]]:
    wanted = DISTRIBUTIONS[spec.dist] + OPTIONAL.get(spec.dist, ())
    for field_ in fields(PriorConfig):
        if field_.name in wanted and getattr(spec, field_.name) is not None:
            value = getattr(spec, field_.name)
            yield field_.name, tuple(value) if isinstance(value, list) else value


def check_prior(name: str, spec: PriorConfig, keys: dict[str, Any] | None = None) -> Prior:
    """A validated Prior from ``priors.NAME``; ConfigError names the offending key."""
    keys = varying_keys() if keys is None else keys
    where = f"priors.{name}"
    if spec.key not in keys:
        raise ConfigError(f"{where}.key = {spec.key!r} is not a number a prior can vary; "
                          "allowed: a numeric key of start or model (bubblesim --help lists "
                          "them; per-firm lists cannot vary yet)")
    if spec.dist not in DISTRIBUTIONS:
        raise ConfigError(f"{where}.dist = {spec.dist!r} is not a distribution; allowed: "
                          f"{', '.join(DISTRIBUTIONS)}")
    f = keys[spec.key]
    if _is_integer(f) and spec.dist not in ("choice", "empirical"):
        raise ConfigError(f"{where}: {spec.key} takes whole numbers; allowed: dist = choice "
                          "or empirical with integer values")
    wanted = DISTRIBUTIONS[spec.dist]
    allowed = wanted + OPTIONAL.get(spec.dist, ())
    for field_ in fields(PriorConfig):
        if field_.name in ("key", "dist"):
            continue
        value = getattr(spec, field_.name)
        if field_.name in wanted and value is None:
            raise ConfigError(f"{where}.{field_.name} is missing; a {spec.dist} prior needs "
                              f"{', '.join(wanted)}")
        if field_.name not in allowed and value is not None:
            raise ConfigError(f"{where}.{field_.name} does not belong to a {spec.dist} prior; "
                              f"it takes {', '.join(allowed)}")
        if field_.name in _NUMBERS and value is not None:
            _number(f"{where}.{field_.name}", value)
    if spec.dist in ("choice", "empirical"):
        _check_choice(name, spec, f)
        values = [float(v) for v in spec.values]
        lo, hi = min(values), max(values)
    else:
        lo, hi = _bounds(name, spec, f)
        _check_args(name, spec, lo, hi)
    return Prior(name=name, key=spec.key, dist=spec.dist, args=tuple(_arguments(spec)),
                 lo=lo, hi=hi, unit=f.metadata["unit"])


def prior_config(name: str, spec: Any) -> PriorConfig:
    """``priors.NAME`` (a mapping from a file or the command line) as a PriorConfig."""
    if isinstance(spec, PriorConfig):
        return spec
    allowed = [f.name for f in fields(PriorConfig)]
    if not isinstance(spec, dict):
        raise ConfigError(f"priors.{name} = {spec!r} is not a prior; allowed: a mapping of "
                          f"{', '.join(allowed)}")
    for field_ in spec:
        if field_ not in allowed:
            raise ConfigError(f"priors.{name}.{field_} is not a field of a prior; allowed: "
                              f"{', '.join(allowed)}")
    return PriorConfig(**spec)


def check_priors(priors: dict[str, Any]) -> list[Prior]:
    """Every prior validated, in name order; two priors on one key are an error."""
    keys = varying_keys()
    checked = [check_prior(name, prior_config(name, priors[name]), keys)
               for name in sorted(priors)]
    seen: dict[str, str] = {}
    for prior in checked:
        if prior.key in seen:
            raise ConfigError(f"priors.{prior.name} and priors.{seen[prior.key]} both vary "
                              f"{prior.key}; allowed: one prior per key")
        seen[prior.key] = prior.name
    rows = {len(dict(p.args)["values"]) for p in checked if p.dist == "empirical"}
    if len(rows) > 1:
        raise ConfigError(f"the empirical priors have {sorted(rows)} values; allowed: the same "
                          "number in every one (they are drawn jointly, row by row)")
    return checked


# --- drawing: the inverse CDF of each distribution ------------------------------------------
def _ndtr(z: float | np.ndarray) -> Any:
    from scipy.special import ndtr
    return ndtr(z)


def _truncation(dist: str, args: dict, lo: float, hi: float) -> tuple[float, float]:
    """Standard-normal bounds of a truncated normal (lognormal: in the logarithm)."""
    if dist == "normal":
        mean, sd = args["mean"], args["sd"]
        return (lo - mean) / sd, (hi - mean) / sd
    mu, sigma = math.log(args["median"]), args["sigma"]
    low = math.log(lo) if lo > 0.0 else -math.inf
    return (low - mu) / sigma, (math.log(hi) - mu) / sigma if hi < math.inf else math.inf


def quantile(prior: Prior, u: np.ndarray) -> np.ndarray:
    """The prior's values at probabilities ``u`` in [0, 1) (its inverse CDF), inside
    [prior.lo, prior.hi]."""
    from scipy import special

    u = np.asarray(u, dtype=np.float64)
    args, lo, hi = dict(prior.args), prior.lo, prior.hi
    if prior.dist == "uniform":
        values = lo + (hi - lo) * u
    elif prior.dist == "loguniform":
        values = np.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
    elif prior.dist in ("normal", "lognormal"):
        a, b = _truncation(prior.dist, args, lo, hi)
        pa, pb = special.ndtr(a), special.ndtr(b)
        z = special.ndtri(pa + (pb - pa) * u)
        values = (args["mean"] + args["sd"] * z if prior.dist == "normal"
                  else np.exp(math.log(args["median"]) + args["sigma"] * z))
    elif prior.dist == "triangular":
        mode = args["mode"]
        left = (mode - lo) / (hi - lo)
        values = np.where(u < left, lo + np.sqrt(u * (hi - lo) * (mode - lo)),
                          hi - np.sqrt((1.0 - u) * (hi - lo) * (hi - mode)))
    elif prior.dist == "beta":
        values = lo + (hi - lo) * special.betaincinv(args["a"], args["b"], u)
    elif prior.dist == "empirical":
        sample = np.asarray(args["values"], dtype=np.float64)
        values = sample[np.minimum((u * len(sample)).astype(np.int64), len(sample) - 1)]
    else:  # choice
        options = np.asarray(args["values"], dtype=np.float64)
        weights = np.asarray(args.get("weights") or np.ones(len(options)), dtype=np.float64)
        edges = np.cumsum(weights) / weights.sum()
        values = options[np.minimum(np.searchsorted(edges, u, side="right"), len(options) - 1)]
    return np.clip(values, lo, hi)


# --- per-path draws ----------------------------------------------------------------------------
# a prior's uniform is draw PRIOR_COUNTER + k of its path's stream: far past the counters of
# the monthly shocks (at most 600 months x sim.layout.N_UNIFORMS), so the two never meet
PRIOR_COUNTER = 2**62
SAMPLING = ("random", "sobol", "saltelli")


def saltelli_period(n_priors: int) -> int:
    """Rows per base point of a Saltelli design over ``n_priors`` priors and the shocks:
    A, AB_1 .. AB_{n_priors + 1} (the last takes B's shocks) and B."""
    return n_priors + 3


def _sobol_points(dims: int, seed: int, first: int, n: int) -> np.ndarray:
    """Points ``first .. first + n - 1`` (n, dims) of a scrambled Sobol' sequence."""
    import warnings

    from scipy.stats import qmc

    engine = qmc.Sobol(d=dims, scramble=True, seed=np.random.default_rng(seed))
    with warnings.catch_warnings():  # the balance warning is about n, not about us
        warnings.simplefilter("ignore", UserWarning)
        if first:  # (scipy cannot fast-forward by 0)
            engine.fast_forward(first)
        return engine.random(n)


def _saltelli_uniforms(n_priors: int, seed: int, first: int, n: int) -> np.ndarray:
    """The priors' uniforms (n_priors, n) of design rows ``first .. first + n - 1``: base j
    is point j of a scrambled Sobol' sequence in 2 (n_priors + 1) dimensions, A its first
    half and B its second (Saltelli 2010; SALib's layout, rows in SALib's order). Row b of a
    base is A (b = 0), A with column b - 1 from B (AB_b), or B (the last)."""
    period = saltelli_period(n_priors)
    rows = np.arange(first, first + n)
    first_base = first // period
    points = _sobol_points(2 * (n_priors + 1), seed, first_base,
                           (first + n - 1) // period - first_base + 1)
    k = n_priors + 1
    a, b = points[rows // period - first_base, :n_priors], points[rows // period - first_base,
                                                                   k:k + n_priors]
    block = rows % period
    out = np.where(block[:, None] == period - 1, b, a)
    swap = (block >= 1) & (block <= n_priors)
    out[swap, block[swap] - 1] = b[swap, block[swap] - 1]
    return out.T.copy()


def prior_uniforms(n_priors: int, seed: int, first: int, n: int,
                   sampling: str = "random", draws: np.ndarray | None = None) -> np.ndarray:
    """Uniforms (n_priors, n) for paths ``first .. first + n - 1``: each a function of
    (seed, path index) alone, so a shard or a chunk draws what the whole run would.

    ``random``: the path's own counter-based stream (sim.rng). ``sobol``: point ``path`` of
    a scrambled Sobol' sequence in n_priors dimensions (scipy.stats.qmc, scrambled from the
    seed), which covers the unit cube more evenly than random points. ``draws``: the draw
    indices to take instead of ``first .. first + n - 1`` (random sampling only)."""
    from sim.rng import path_key, uniform

    if sampling not in SAMPLING:
        raise ConfigError(f"sampling = {sampling!r}; allowed: {', '.join(SAMPLING)}")
    index = (np.arange(first, first + n, dtype=np.uint64) if draws is None
             else np.asarray(draws, dtype=np.uint64))
    if draws is not None and sampling != "random":
        raise ValueError("draws by index need random sampling")
    if n_priors == 0 or index.size == 0:
        return np.empty((n_priors, index.size))
    if sampling == "sobol":
        return _sobol_points(n_priors, seed, first, n).T.copy()
    if sampling == "saltelli":
        return _saltelli_uniforms(n_priors, seed, first, n)
    with np.errstate(over="ignore"):  # the hashes wrap around 2**64 on purpose
        keys = path_key(np.uint64(seed), index)
        return np.stack([uniform(keys, np.uint64(PRIOR_COUNTER + k))
                         for k in range(n_priors)])


def draw(priors: list[Prior], seed: int, first: int, n: int,
         sampling: str = "random", draws: np.ndarray | None = None) -> np.ndarray:
    """The priors' values (len(priors), n) on paths ``first .. first + n - 1`` (or on the
    draw indices ``draws``, random sampling only)."""
    u = prior_uniforms(len(priors), seed, first, n, sampling, draws)
    joint = [k for k, p in enumerate(priors) if p.dist == "empirical"]
    if joint:  # one row of the sample for all of them (check_priors: equal lengths)
        u[joint] = u[joint[0]]
    return np.stack([quantile(p, u[k]) for k, p in enumerate(priors)]) if priors else u
