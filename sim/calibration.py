"""Calibration against history: each path's window statistics, ABC over the paths, the
posterior as a dataset and as a priors file (docs/calibration.md).

A run with priors is a sample of simulations, one parameter draw per path. The engine runs
the paths only as far as the last observed month and records each target's observable at
the data's months; the statistics (sim.targets) go to ABC (sim.abc):

1. a path is a candidate if every statistic lies within its target's tolerance of the data;
2. of the candidates, the ``calibration.accept`` share closest to the data (Euclidean
   distance, each statistic in units of its scale) is kept, with Epanechnikov weights;
3. the local-linear regression adjustment (Beaumont et al. 2002) moves each kept draw to
   the data, on an unbounded scale (the logit of a draw between its prior's bounds, the log
   above a lower bound), so the adjusted draws stay inside the priors' support. Discrete
   (choice) priors are not adjusted.

The kept paths are the conditioned paths: re-run to the horizon (their draws and shocks are
those of the calibration run, path by path) they are the forecast conditioned on history.
No files here: sim.calibrate writes what these functions return.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
import xarray as xr

from sim import abc
from sim.engine import simulate
from sim.params import PathDraws, RunSettings
from sim.priors import Prior
from sim.schema import ConfigError
from sim.targets import Target, observed_statistics, path_statistics, snapshots


@dataclass(frozen=True)
class Simulations:
    """A calibration run's paths: their global indices, draws and statistics."""

    paths: np.ndarray   # (paths,) global path indices
    theta: np.ndarray   # (paths, priors)
    stats: np.ndarray   # (paths, targets)
    engine_seconds: float
    threads: int
    nonfinite_paths: int

    def facts(self) -> SimpleNamespace:
        """What sim.app.provenance reads from a run's raw results."""
        first = int(self.paths[0]) if len(self.paths) else 0
        return SimpleNamespace(n_paths=len(self.paths), first_path=first, threads=self.threads,
                               engine_seconds=self.engine_seconds,
                               nonfinite_paths=self.nonfinite_paths, first_nonfinite_path=-1)


def window_settings(settings: RunSettings, targets: list[Target], horizon: int) -> RunSettings:
    """The run's settings cut to the targets' window: months up to ``horizon``, the targets'
    observables recorded, no per-path outputs or trajectories."""
    return replace(settings, horizon=horizon, snapshots=snapshots(targets), per_path=False,
                   sample_paths=0)


def simulate_statistics(p: np.ndarray, settings: RunSettings,
                        targets: list[Target]) -> Simulations:
    """Each path's draws and statistics (settings from ``window_settings``)."""
    if settings.priors is None:
        raise ConfigError("priors is empty; a calibration needs priors: priors=NAME "
                          "(conf/priors/) for the parameters it learns")
    raw = simulate(p, settings, backend=settings.backend)
    paths = settings.paths()
    return Simulations(paths=paths.astype(np.int64),
                       theta=settings.priors.values_at(paths).T,
                       stats=path_statistics(targets, raw.snapshots),
                       engine_seconds=raw.engine_seconds, threads=raw.threads,
                       nonfinite_paths=raw.nonfinite_paths)


STATISTICS_TITLE = "bubblesim calibration statistics"


def statistics_dataset(sims: Simulations, targets: list[Target], draws: PathDraws,
                       attrs: dict) -> xr.Dataset:
    """statistics.nc of one shard of a calibration: its paths' draws and statistics, all
    that merging needs (the ABC ranks every path, so it waits for all shards)."""
    ds = xr.Dataset(
        {"theta": (("path", "parameter"), sims.theta),
         "statistic": (("path", "target"), sims.stats)},
        coords={"path": ("path", sims.paths, {"long_name": "global path index"}),
                "parameter": [p.name for p in draws.priors],
                "target": [t.name for t in targets]})
    ds.attrs.update(attrs)
    ds.attrs.update(title=STATISTICS_TITLE, engine_seconds=sims.engine_seconds,
                    threads=sims.threads, nonfinite_paths=sims.nonfinite_paths)
    return ds


def merged_simulations(shards: list[xr.Dataset]) -> Simulations:
    """The shards' paths in path order, as one run's."""
    shards = sorted(shards, key=lambda ds: int(ds["path"].values[0]))
    return Simulations(
        paths=np.concatenate([ds["path"].values for ds in shards]),
        theta=np.concatenate([ds["theta"].values for ds in shards]),
        stats=np.concatenate([ds["statistic"].values for ds in shards]),
        engine_seconds=sum(float(ds.attrs["engine_seconds"]) for ds in shards),
        threads=max(int(ds.attrs["threads"]) for ds in shards),
        nonfinite_paths=sum(int(ds.attrs["nonfinite_paths"]) for ds in shards))


def within_tolerance(stats: np.ndarray, targets: list[Target]) -> np.ndarray:
    """(paths, targets): whether each statistic lies within its target's tolerance."""
    gap = np.abs(stats - observed_statistics(targets))
    return gap <= np.array([t.tolerance for t in targets])


def _unbounded(theta: np.ndarray, priors: tuple[Prior, ...]) -> np.ndarray:
    out = np.array(theta, dtype=float)
    for j, prior in enumerate(priors):
        lo, hi = prior.lo, prior.hi
        if np.isfinite(lo) and np.isfinite(hi):
            x = np.clip((out[:, j] - lo) / (hi - lo), 1e-12, 1.0 - 1e-12)
            out[:, j] = np.log(x) - np.log1p(-x)
        elif np.isfinite(lo):
            out[:, j] = np.log(np.maximum(out[:, j] - lo, 1e-300))
    return out


def _bounded(z: np.ndarray, priors: tuple[Prior, ...]) -> np.ndarray:
    out = np.array(z, dtype=float)
    for j, prior in enumerate(priors):
        lo, hi = prior.lo, prior.hi
        if np.isfinite(lo) and np.isfinite(hi):
            out[:, j] = lo + (hi - lo) / (1.0 + np.exp(-out[:, j]))
        elif np.isfinite(lo):
            out[:, j] = lo + np.exp(out[:, j])
    return out


def posterior(sims: Simulations, targets: list[Target], priors: tuple[Prior, ...],
              accept: float, adjust: bool) -> abc.Posterior:
    """ABC on the paths: the candidates within every tolerance, the ``accept`` share of them
    closest to the data, weighted and (``adjust``) regression-adjusted in the priors'
    unbounded scale. Too few candidates is a ConfigError naming the strictest target."""
    inside = within_tolerance(sims.stats, targets)
    candidates = inside.all(axis=1)
    n = int(candidates.sum())
    if n < 2:
        rates = inside.mean(axis=0)
        worst = targets[int(np.argmin(rates))]
        raise ConfigError(
            f"{n} of {len(candidates):,} paths lie within every target's tolerance; "
            f"targets.{worst.name}.tolerance = {worst.tolerance} admits the fewest "
            f"({rates.min():.1%}); allowed: wider tolerances, more paths (engine.n_paths) or "
            "priors that reach the data")
    stats = np.where(candidates[:, None], sims.stats, np.nan)
    observed = observed_statistics(targets)
    scale = np.array([t.scale for t in targets])
    try:
        fit = abc.rejection_abc(_unbounded(sims.theta, priors), stats, observed, scale,
                                accept=accept, adjust=adjust)
    except abc.TooFewDrawsError as exc:
        raise ConfigError(f"{exc}; allowed: more paths (engine.n_paths), a larger "
                          "calibration.accept, or calibration.adjust=false") from None
    raw = sims.theta[fit.index]
    theta = _bounded(fit.theta, priors)
    discrete = [j for j, prior in enumerate(priors) if prior.dist in ("choice", "empirical")]
    theta[:, discrete] = raw[:, discrete]
    # the acceptance rate over all paths, not over the candidates rejection_abc saw
    return replace(fit, theta=theta, raw=raw,
                   acceptance_rate=len(fit.index) / len(candidates))


def resample(post: abc.Posterior, n: int) -> np.ndarray:
    """``n`` rows of the adjusted draws by systematic resampling of the weights (even
    spacing, no randomness: the same posterior gives the same rows)."""
    edges = np.cumsum(post.weights)
    rows = np.searchsorted(edges, (np.arange(n) + 0.5) / n, side="left")
    return post.theta[np.minimum(rows, len(edges) - 1)]


def posterior_priors(priors: tuple[Prior, ...], rows: np.ndarray) -> dict:
    """The posterior as a priors file's content: one ``empirical`` prior per parameter, all
    with the same rows (drawn jointly), named and keyed as the priors they came from."""
    out = {}
    for j, prior in enumerate(priors):
        if prior.dist in ("choice", "empirical"):  # discrete: the values as drawn
            cells = [float(v) for v in rows[:, j]]
        else:  # 7 digits, still inside the prior's bounds
            cells = [min(max(float(f"{v:.7g}"), prior.lo), prior.hi) for v in rows[:, j]]
        out[prior.name] = {"key": prior.key, "dist": "empirical", "values": cells}
    return out


def predictive(stats: np.ndarray, targets: list[Target]) -> dict[str, np.ndarray]:
    """The posterior predictive check of each target: the 5/50/95% quantiles of the
    statistic over paths drawn from the posterior, and the share of them below the data
    (a posterior predictive p-value near 0 or 1 flags a target the model cannot reach)."""
    observed = observed_statistics(targets)
    finite = [s[np.isfinite(s)] for s in stats.T]
    return {
        "quantiles": np.array([np.quantile(s, (0.05, 0.5, 0.95)) if s.size else
                               np.full(3, np.nan) for s in finite]),
        "below": np.array([(s < o).mean() if s.size else np.nan
                           for s, o in zip(finite, observed, strict=True)]),
    }


PRIOR_SAMPLE = 5_000  # paths whose draws and statistics posterior.nc keeps, for figures


def posterior_dataset(sims: Simulations, post: abc.Posterior, targets: list[Target],
                      draws: PathDraws, predictive_stats: np.ndarray,
                      attrs: dict) -> xr.Dataset:
    """posterior.nc: the kept paths (their global index, raw and adjusted draws, weights,
    statistics), the targets (data, statistic, scale, tolerance), the priors' draws'
    quantiles beside the posterior's, the posterior predictive check, and samples of the
    prior's and the predictive's statistics for the figures."""
    check = predictive(predictive_stats, targets)
    names = [p.name for p in draws.priors]
    quantiles = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    weights = post.weights
    post_q = np.stack([post.quantile(q) for q in quantiles], axis=1)
    kept = sims.stats[post.index]
    ds = xr.Dataset(
        {
            "path_index": ("draw", sims.paths[post.index],
                           {"long_name": "global index of the kept path (seed and index "
                                         "give its draws and shocks)"}),
            "theta": (("draw", "parameter"), post.theta,
                      {"long_name": "posterior draw (regression-adjusted)"}),
            "theta_raw": (("draw", "parameter"), post.raw,
                          {"long_name": "the kept path's prior draw"}),
            "weight": ("draw", weights, {"long_name": "Epanechnikov weight", "units": "1"}),
            "statistic": (("draw", "target"), kept,
                          {"long_name": "the kept path's statistic of each target"}),
            "data_month": (("target", "data_point"), _padded([t.months for t in targets]),
                           {"units": "months", "long_name": "run month of each observed value "
                                                            "(NaN: none)"}),
            "data_value": (("target", "data_point"), _padded([t.values for t in targets]),
                           {"long_name": "observed value (units: target_unit)"}),
            "observed": ("target", observed_statistics(targets),
                         {"long_name": "the data's statistic"}),
            "scale": ("target", [t.scale for t in targets],
                      {"long_name": "unit of the distance"}),
            "tolerance": ("target", [t.tolerance for t in targets],
                          {"long_name": "largest |simulated - observed| kept"}),
            "within_tolerance": ("target", within_tolerance(sims.stats, targets).mean(axis=0),
                                 {"long_name": "share of all paths within the target's "
                                               "tolerance", "units": "1"}),
            "prior_statistic_quantile": (
                ("target", "quantile"),
                np.array([np.nanquantile(s, quantiles) for s in sims.stats.T]),
                {"long_name": "the statistic over all paths (prior predictive)"}),
            "predictive_quantile": (("target", "band"), check["quantiles"],
                                    {"long_name": "the statistic over new paths drawn from "
                                                  "the posterior (posterior predictive)"}),
            "predictive_below": ("target", check["below"],
                                 {"long_name": "share of posterior predictive statistics "
                                               "below the data", "units": "1"}),
            "prior_quantile": (("parameter", "quantile"),
                               np.quantile(sims.theta, quantiles, axis=0).T,
                               {"long_name": "quantiles of the prior draws"}),
            "posterior_quantile": (("parameter", "quantile"), post_q,
                                   {"long_name": "weighted quantiles of the posterior"}),
            "prior_low": ("parameter", [p.lo for p in draws.priors],
                          {"long_name": "lowest value the prior draws"}),
            "prior_high": ("parameter", [p.hi for p in draws.priors],
                           {"long_name": "highest value the prior draws"}),
            "posterior_mean": ("parameter", post.mean(), {"long_name": "posterior mean"}),
            "posterior_sd": ("parameter", post.std(),
                             {"long_name": "posterior standard deviation"}),
            "prior_sample": (("prior_draw", "parameter"), sims.theta[:PRIOR_SAMPLE],
                             {"long_name": "draws of the first paths (the prior)"}),
            "prior_statistic": (("prior_draw", "target"), sims.stats[:PRIOR_SAMPLE],
                                {"long_name": "statistics of the first paths (the prior "
                                              "predictive)"}),
            "predictive_statistic": (("predictive_draw", "target"), predictive_stats,
                                     {"long_name": "statistics of new paths drawn from the "
                                                   "posterior"}),
            "posterior_correlation": (("parameter", "parameter_2"),
                                      _weighted_correlation(post.theta, weights),
                                      {"long_name": "weighted correlation of the posterior"}),
        },
        coords={
            "parameter": ("parameter", names, {"long_name": "prior name"}),
            "parameter_2": ("parameter_2", names, {"long_name": "prior name"}),
            "parameter_key": ("parameter", [p.key for p in draws.priors]),
            "parameter_units": ("parameter", [p.unit for p in draws.priors]),
            "target": ("target", [t.name for t in targets], {"long_name": "calibration target"}),
            "target_observable": ("target", [t.observable for t in targets]),
            "target_statistic": ("target", [t.statistic for t in targets]),
            "target_source": ("target", [t.source for t in targets]),
            "target_unit": ("target", [t.unit for t in targets]),
            "quantile": ("quantile", quantiles),
            "band": ("band", [0.05, 0.5, 0.95]),
        },
    )
    ds.attrs.update(attrs)
    ds.attrs.update(n_simulations=len(sims.paths), accepted=len(post.index),
                    acceptance_rate=post.acceptance_rate,
                    effective_sample_size=post.effective_sample_size,
                    tolerance_distance=post.tolerance)
    return ds


def _padded(rows: list[np.ndarray]) -> np.ndarray:
    out = np.full((len(rows), max(len(r) for r in rows)), np.nan)
    for k, row in enumerate(rows):
        out[k, :len(row)] = row
    return out


def _weighted_correlation(theta: np.ndarray, weights: np.ndarray) -> np.ndarray:
    centred = theta - weights @ theta
    cov = (centred * weights[:, None]).T @ centred
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(sd, sd)


def _interval(values: np.ndarray) -> str:
    return f"{values[0]:.3g} / {values[1]:.3g} / {values[2]:.3g}"


def learned_share(ds: xr.Dataset) -> np.ndarray:
    """Per parameter, 1 - posterior IQR / prior IQR: 0 when the targets taught nothing about
    it, towards 1 when they pinned it down."""
    iqr = {name: ds[name].sel(quantile=0.75) - ds[name].sel(quantile=0.25)
           for name in ("prior_quantile", "posterior_quantile")}
    with np.errstate(invalid="ignore", divide="ignore"):
        return (1.0 - iqr["posterior_quantile"] / iqr["prior_quantile"]).values


EDGE = 0.05  # a posterior median this close to a prior's bound (share of its range) piles up


def against_bound(ds: xr.Dataset) -> list[str]:
    """Per parameter, '' or which of its prior's bounds the posterior median presses
    against: the data want values the prior excludes (widen it, or the model cannot
    match the targets otherwise)."""
    lo, hi = ds["prior_low"].values, ds["prior_high"].values
    median = ds["posterior_quantile"].sel(quantile=0.5).values
    with np.errstate(invalid="ignore", divide="ignore"):
        where = (median - lo) / (hi - lo)
    return ["lower bound" if w < EDGE else "upper bound" if w > 1 - EDGE else ""
            for w in where]


# below this effective sample size a posterior median's Monte Carlo error (~1.25 sd /
# sqrt(ESS) for a normal posterior) is over an eighth of the posterior's sd
LOW_ESS = 100


def warnings(ds: xr.Dataset) -> list[str]:
    """What a reader of the posterior should know before trusting its figures."""
    ess = float(ds.attrs["effective_sample_size"])
    if ess >= LOW_ESS:
        return []
    return [f"effective sample size {ess:,.0f} (under {LOW_ESS}): the posterior's quantiles "
            "and correlations carry Monte Carlo errors of over an eighth of its sd; more "
            "paths (engine.n_paths) or a larger calibration.accept"]


def summary(ds: xr.Dataset) -> str:
    """calibration.md: what was kept, the posterior, its correlations, the predictive check."""
    a = ds.attrs
    cautions = [f"**Warning:** {line}." for line in warnings(ds)]
    lines = [f"# Calibration against {a.get('targets', 'targets')}", "",
             f"{a['accepted']:,} of {a['n_simulations']:,} paths kept (acceptance rate "
             f"{a['acceptance_rate']:.3%}), effective sample size "
             f"{a['effective_sample_size']:,.0f}; scaled distance at most "
             f"{a['tolerance_distance']:.3g}. Seed {a.get('seed')}, start "
             f"{a.get('start_date', '')}.", "",
             *cautions, *([""] if cautions else []),
             "## Targets", "",
             "| target | statistic | data | all paths 5/50/95% | within tolerance | "
             "posterior predictive 5/50/95% | predictive below data |",
             "|---|---|---|---|---|---|---|"]
    for k, name in enumerate(ds["target"].values):
        prior = ds["prior_statistic_quantile"].values[k][[0, 2, 4]]
        lines.append(
            f"| {name} ({ds['target_observable'].values[k]}) | "
            f"{ds['target_statistic'].values[k]} | {ds['observed'].values[k]:.3g} | "
            f"{_interval(prior)} | {ds['within_tolerance'].values[k]:.1%} | "
            f"{_interval(ds['predictive_quantile'].values[k])} | "
            f"{ds['predictive_below'].values[k]:.2f} |")
    learned = learned_share(ds)
    lines += ["", "## Posterior", "",
              "| parameter | key | prior 5/50/95% | posterior 5/50/95% | mean ± sd | learned | "
              "note |", "|---|---|---|---|---|---|---|"]
    bounds = against_bound(ds)
    for j, name in enumerate(ds["parameter"].values):
        prior = ds["prior_quantile"].values[j][[0, 2, 4]]
        post = ds["posterior_quantile"].values[j][[0, 2, 4]]
        lines.append(f"| {name} | {ds['parameter_key'].values[j]} | {_interval(prior)} | "
                     f"{_interval(post)} | {ds['posterior_mean'].values[j]:.3g} ± "
                     f"{ds['posterior_sd'].values[j]:.2g} | {round(learned[j], 2) + 0.0:.0%} | "
                     + (f"against the prior's {bounds[j]} |" if bounds[j] else " |"))
    lines += ["", "\"learned\": 1 - posterior IQR / prior IQR (0: these targets say nothing "
              "about the parameter). \"predictive below data\": share of new paths drawn "
              "from the posterior whose statistic is below the data's (near 0 or 1: the "
              "model cannot reach that target). \"against the prior's bound\": the posterior "
              "piles up at the edge of the prior; the data want values it excludes.", ""]
    corr = ds["posterior_correlation"].values
    names = ds["parameter"].values
    pairs = [(abs(corr[i, j]), names[i], names[j], corr[i, j])
             for i in range(len(names)) for j in range(i + 1, len(names))
             if np.isfinite(corr[i, j]) and abs(corr[i, j]) >= 0.3]
    lines += ["## Correlations of the posterior (|r| >= 0.3)", ""]
    lines += ([f"- {a_} and {b_}: {r:+.2f}" for _, a_, b_, r in sorted(pairs, reverse=True)]
              or ["- none"])
    return "\n".join(lines) + "\n"
