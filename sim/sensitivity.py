"""Sobol' sensitivity of per-path outcomes to the priors, with the shock noise as a factor.

The model is stochastic: a path's outcome depends on its parameters and on its shocks. The
shocks are treated as one more input factor, ``shocks`` (Iooss and Ribatet 2009, "Global
sensitivity analysis of computer models with functional inputs", Reliab. Eng. Syst. Saf.
94; Marrel et al. 2012) in a Saltelli design (A and B from a scrambled Sobol' sequence, and
the k + 1 matrices AB_i, in SALib's layout). Every row of the design is one path; a row's
"value" of the shocks factor is a random stream, A's or B's, so the rows that take A's
value (A and every AB_i but the last) share their shocks exactly, as do AB_shocks and B.
The indices are then those of a deterministic function of k + 1 inputs:

- a parameter's first-order index is the share of the outcome's variance its value alone
  explains, averaged over the shocks; its total index adds its interactions, with the
  shocks too;
- the shocks' total index is E[Var(Y | parameters)] / Var(Y), the share of the spread that
  is shock noise (the law of total variance), and 1 minus it the share the parameters
  explain jointly.

Why this design rather than a given-data estimator on an ordinary run: it needs no
smoothing or binning of a 10-dimensional parameter space, its estimators are unbiased with
bootstrap intervals, and the engine makes rows share shocks for free (a row's shocks are a
function of its index); its price is k + 3 paths per base point.

This module is the analysis side: the design, the parameter values of its rows, the
shocks' stream of each row, and the indices with bootstrap intervals (SALib's Jansen
estimators); and, for an ordinary run whose paths share each parameter draw in groups of
replicates, the split of an outcome's variance into parameters and shocks. It reads and
writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import ndtri  # scipy.stats.norm.ppf, without importing scipy.stats

from sim.layout import SECTORS
from sim.priors import Prior, draw, saltelli_period
from sim.raw import GROWTH_PARTS, RUNWAY_SHORT

SHOCKS = "shocks"  # the factor that stands for a path's random streams
CRASH_THRESHOLD = 0.5  # max drawdown above which a path counts as a crash
# every outcome path_outcomes defines, and the default ones of bubblesim-sensitivity
PATH_OUTCOMES = ("max_drawdown", "crash", "terminal_index", "capex_max_drawdown",
                 "rental_price_max_drawdown", "recovery_months", "recovered",
                 "peak_to_trough_months", "months_underwater", "lab_runway_short",
                 "lab_default", *(f"growth_{part}" for part in GROWTH_PARTS[:-1]),
                 "implied_elasticity", *(f"survival_{s}" for s in SECTORS))
OUTCOMES = ("max_drawdown", "crash", *(f"survival_{s}" for s in SECTORS),
            "capex_max_drawdown", "rental_price_max_drawdown", "terminal_index",
            "recovery_months")


def path_outcomes(per_path: dict[str, np.ndarray], horizon: int,
                  crash_threshold: float = CRASH_THRESHOLD) -> dict[str, tuple]:
    """name -> (one value per path, unit, long name) for the outcomes a path's
    parameters and shocks can be held responsible for, from a run's per-path outputs.

    Indicators are 0 or 1 (their mean is the probability). A recovery not seen by the
    horizon counts the months waited by then (a lower bound): dropping those paths would
    drop the slowest recoveries, and Sobol' indices need a value on every path."""
    pp = per_path
    mdd = pp["max_drawdown"]
    recovery = pp["recovery_months"]
    alive = pp["default_month"] < 0  # (path, sector, firm)
    out = {
        "max_drawdown": (mdd, "1", "maximum drawdown of the index"),
        "crash": ((mdd > crash_threshold).astype(float), "1",
                  f"crash: max drawdown above {crash_threshold:g} (1) or not (0)"),
        "terminal_index": (pp["terminal_index"], "1", "index at the horizon relative to t=0"),
        "capex_max_drawdown": (pp["capex_max_drawdown"], "1",
                               "fall of trailing-12-month capex from its peak"),
        "rental_price_max_drawdown": (pp["rental_price_max_drawdown"], "1",
                                      "fall of the GPU-hour rental price from its peak"),
        "recovery_months": (np.where(np.isnan(recovery), horizon - pp["trough_month"],
                                     recovery), "months",
                            "months from trough to recovery (or waited by the horizon)"),
        "recovered": ((~np.isnan(recovery)).astype(float), "1",
                      "index back at its peak by the horizon (1) or not (0)"),
        "peak_to_trough_months": (pp["peak_to_trough_months"].astype(float), "months",
                                  "months from the peak to the trough of the max drawdown"),
        "months_underwater": (pp["months_underwater"].astype(float), "months",
                              "months the index spent below its running peak"),
        "lab_runway_short": ((pp["min_lab_runway"] < RUNWAY_SHORT).astype(float), "1",
                             f"a lab's runway fell below {RUNWAY_SHORT:g} months (1) or not "
                             "(0)"),
        "lab_default": ((~alive[:, SECTORS.index("labs")].all(axis=1)).astype(float), "1",
                        "a lab defaulted (1) or not (0)"),
    }
    for k, part in enumerate(GROWTH_PARTS[:-1]):
        out[f"growth_{part}"] = (pp["demand_growth"][:, k], "1",
                                 f"contribution of {part.replace('_', ' ')} to ln "
                                 "compute-demand growth")
    out["implied_elasticity"] = (pp["implied_elasticity"], "1",
                                 "implied elasticity of token demand (NaN: prices never "
                                 "moved)")
    for k, sector in enumerate(SECTORS):
        out[f"survival_{sector}"] = (alive[:, k].mean(axis=1), "1",
                                     f"share of the {sector}' firms alive at the horizon")
    return out


def run_outcomes(ds: xr.Dataset, crash_threshold: float = CRASH_THRESHOLD) -> dict[str, tuple]:
    """``path_outcomes`` of a saved run (its results.nc's per-path variables)."""
    per_path = {name: ds[name].values for name in ds.data_vars
                if ds[name].dims[:1] == ("path",)}
    return path_outcomes(per_path, int(ds.attrs["horizon_months"]), crash_threshold)


def shared_draw_groups(first_path: int, n_paths: int, replicates: int,
                       design_period: int) -> np.ndarray | None:
    """Indices (groups, members) into paths ``first_path ..`` of paths that share their
    parameters and differ in their shocks: consecutive replicates, or each design base's A
    and AB_shocks rows; only groups wholly among these paths. None: no two paths share."""
    paths = np.arange(first_path, first_path + n_paths)
    if design_period:
        a = paths[paths % design_period == 0]
        a = a[a + design_period - 2 < first_path + n_paths]
        groups = np.column_stack([a, a + design_period - 2])
    elif replicates > 1:
        heads = paths[paths % replicates == 0]
        heads = heads[heads + replicates <= first_path + n_paths]
        groups = heads[:, None] + np.arange(replicates)
    else:
        return None
    return groups - first_path if len(groups) >= 2 else None


@dataclass(frozen=True)
class SobolDesign:
    """A Saltelli design over the priors and the shocks, its rows in SALib's order: n_base
    blocks of A, AB_1 .. AB_{k+1} (the last with B's shocks), B. A run sampled with
    ``engine.prior_sampling=saltelli`` is such a design, path i its row i
    (sim.priors.prior_uniforms draws the parameters, sim.rng.design_stream the shocks)."""

    names: tuple[str, ...]  # the priors' names, then SHOCKS
    n_base: int

    @property
    def problem(self) -> dict:
        return {"num_vars": len(self.names), "names": list(self.names),
                "bounds": [[0.0, 1.0]] * len(self.names)}

    @property
    def period(self) -> int:
        """Rows per base point."""
        return saltelli_period(len(self.names) - 1)

    @property
    def n_rows(self) -> int:
        return self.n_base * self.period


def sobol_design(names: list[str], n_base: int) -> SobolDesign:
    """The design for priors ``names`` (and the shocks) with ``n_base`` base points (a power
    of two balances the Sobol' sequence best; any number from 2 works)."""
    if n_base < 2:
        raise ValueError(f"n_base = {n_base}: Sobol' indices need at least 2 base points")
    return SobolDesign(names=(*names, SHOCKS), n_base=n_base)


def design_of_run(names: list[str], n_paths: int) -> SobolDesign:
    """The design that the first paths of a Saltelli-sampled run of ``n_paths`` paths with
    priors ``names`` form (a last, incomplete base point is left out)."""
    period = saltelli_period(len(names))
    if n_paths // period < 2:
        raise ValueError(f"{n_paths} paths hold {n_paths // period} base points of a Saltelli "
                         f"design over {len(names)} priors ({period} paths each); Sobol' "
                         f"indices need at least 2, i.e. {2 * period} paths")
    return sobol_design(names, n_paths // period)


def parameter_values(design: SobolDesign, priors: list[Prior], seed: int) -> np.ndarray:
    """Each row's parameter values (rows x priors): what the engine draws for the paths of a
    run with ``engine.prior_sampling=saltelli`` and this seed."""
    names = [p.name for p in priors]
    if names != list(design.names[:-1]):
        raise ValueError(f"the design is over {list(design.names[:-1])}, not {names}")
    return draw(priors, seed, 0, design.n_rows, "saltelli").T


def shock_streams(design: SobolDesign) -> np.ndarray:
    """Each row's random-stream index (uint64): rows of a base point share A's shocks or
    B's, as the engine keys them."""
    from sim.rng import design_stream  # (the engine's: sim.rng compiles with numba)

    return design_stream(np.arange(design.n_rows, dtype=np.uint64), design.period)


def _index_terms(y: np.ndarray, period: int) -> np.ndarray:
    """Per base point (rows), the terms whose means make the indices (SALib's estimators on
    the standardized outcome): B (AB_j - A) for each factor j (Saltelli 2010, first order),
    (A - AB_j)^2 (Jansen 1999, total), then A, B, A^2, B^2 for the variance of A and B."""
    y = (y - y.mean()) / y.std()
    a, b = y[0::period], y[period - 1::period]
    ab = np.column_stack([y[j + 1::period] for j in range(period - 2)])
    return np.column_stack([b[:, None] * (ab - a[:, None]), (a[:, None] - ab) ** 2,
                            a, b, a * a, b * b])


def _indices(means: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(first order, total) per factor from means of the ``_index_terms`` (..., 2k + 4)."""
    mean_y = (means[..., 2 * k] + means[..., 2 * k + 1]) / 2
    var = (means[..., 2 * k + 2] + means[..., 2 * k + 3]) / 2 - mean_y**2
    var = np.where(var > np.finfo(float).eps, var, np.inf)[..., None]
    return means[..., :k] / var, 0.5 * means[..., k:2 * k] / var


def _bootstrap(terms: np.ndarray, resamples: int, seed: int, batch: int = 64) -> np.ndarray:
    """Means of ``terms`` over ``resamples`` bootstrap resamples of its rows (resamples,
    columns): each resample's counts times the terms, a matrix product, in batches (SALib
    indexes the arrays with every resample, which at a million paths takes minutes)."""
    n = terms.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, terms.shape[1]))
    for lo in range(0, resamples, batch):
        hi = min(lo + batch, resamples)
        rows = rng.integers(n, size=(hi - lo, n))
        counts = np.stack([np.bincount(r, minlength=n) for r in rows]).astype(float)
        out[lo:hi] = counts @ terms / n
    return out


def sobol_indices(design: SobolDesign, outcome: np.ndarray, resamples: int = 500,
                  confidence: float = 0.95, seed: int = 0) -> xr.Dataset:
    """First-order and total Sobol' indices of ``outcome`` (one value per design row) for
    each factor, with bootstrap intervals at ``confidence``: SALib's estimators and its
    interval (z times the bootstrap standard deviation), computed in matrix products."""
    y = np.asarray(outcome, dtype=float)
    if y.shape != (design.n_rows,):
        raise ValueError(f"outcome has shape {y.shape}; the design has {design.n_rows} rows")
    if not np.isfinite(y).all():
        raise ValueError("outcome has NaN or infinite values: define it on every path first")
    k = len(design.names)
    if y.var() == 0.0:  # a constant outcome: nothing to attribute
        found = {key: np.zeros(k) for key in ("S1", "S1_conf", "ST", "ST_conf")}
    else:
        terms = _index_terms(y, design.period)
        first, total = _indices(terms.mean(axis=0), k)
        boot_first, boot_total = _indices(_bootstrap(terms, resamples, seed), k)
        z = ndtri(0.5 + confidence / 2)
        found = {"S1": first, "S1_conf": z * boot_first.std(axis=0, ddof=1),
                 "ST": total, "ST_conf": z * boot_total.std(axis=0, ddof=1)}
    factor = xr.DataArray(list(design.names), dims="factor")
    data = {}
    for name, key, long in (("first_order", "S1", "first-order Sobol' index"),
                            ("total_order", "ST", "total Sobol' index")):
        value, half = found[key], found[f"{key}_conf"]
        data[name] = ("factor", value, {"long_name": long, "units": "1"})
        data[f"{name}_lower"] = ("factor", value - half,
                                 {"long_name": f"{long}, lower end of the interval",
                                  "units": "1"})
        data[f"{name}_upper"] = ("factor", value + half,
                                 {"long_name": f"{long}, upper end of the interval",
                                  "units": "1"})
    return xr.Dataset(data, coords={"factor": factor},
                      attrs={"n_base": design.n_base, "rows": design.n_rows,
                             "confidence": confidence, "bootstrap_resamples": resamples,
                             "estimator": "SALib's: Saltelli 2010 first order, Jansen 1999 "
                                          "total, on the standardized outcome; the shocks "
                                          "as a factor"})


def run_design(ds: xr.Dataset) -> SobolDesign:
    """The Saltelli design a run's paths form; ValueError saying how to make one."""
    if "parameter_value" not in ds:
        raise ValueError("the run has no priors drawn per path (per-path outputs on, and "
                         "priors=... with engine.prior_sampling=saltelli)")
    if not int(ds.attrs.get("design_period", 0)):
        raise ValueError("the run's priors were not sampled as a Saltelli design: re-run it "
                         "with engine.prior_sampling=saltelli")
    if int(ds["path"].values[0]) != 0:
        raise ValueError("the run is one shard of a run: merge the shards first "
                         "(bubblesim-merge)")
    names = [str(n) for n in ds["parameter"].values]
    return design_of_run(names, ds.sizes["path"])


def run_indices(ds: xr.Dataset, outcomes: list[str], resamples: int,
                seed: int) -> xr.Dataset:
    """Sobol' indices (outcome x factor) of each outcome over the run's design."""
    found = run_design(ds)
    values = run_outcomes(ds)
    parts, unusual = [], []
    for name in outcomes:
        y = values[name][0][:found.n_rows]
        if not np.isfinite(y).all():
            raise ValueError(f"outcome {name} is NaN on {int((~np.isfinite(y)).sum())} "
                             "paths: Sobol' indices need it on every path")
        parts.append(sobol_indices(found, y, resamples=resamples, seed=seed))
        _, counts = np.unique(y, return_counts=True)
        unusual.append(len(y) - int(counts.max()))
    out = xr.concat(parts, dim=xr.DataArray(outcomes, dims="outcome"))
    # an outcome that all but a few paths share has a variance of a few paths: its indices
    # rest on them (their intervals say so), and the figure says why
    out["unusual_paths"] = ("outcome", np.array(unusual), {
        "long_name": "paths whose outcome differs from its most common value", "units":
        "paths"})
    out.coords["outcome_units"] = ("outcome", [values[n][1] for n in outcomes])
    out.coords["outcome_long_name"] = ("outcome", [values[n][2] for n in outcomes])
    return out


def variance_split(outcome: np.ndarray, replicates: int) -> dict[str, float]:
    """How much of an outcome's spread comes from the parameters and how much from the
    shocks, by the law of total variance: Var Y = Var E[Y | theta] + E Var(Y | theta).

    ``outcome`` holds groups of ``replicates`` consecutive paths that share their parameter
    draw and differ in their shocks (n_groups x replicates values, group-major). Within a
    group the sample variance estimates Var(Y | theta) without bias; the variance of the
    group means, less the shocks' share of it, Var E[Y | theta]. Standard errors from the
    groups, which are independent (the delta method on the shares)."""
    y = np.asarray(outcome, dtype=float)
    if replicates < 2 or y.size % replicates or y.size // replicates < 2:
        raise ValueError(f"{y.size} values cannot be split into at least 2 groups of "
                         f"replicates = {replicates} >= 2 paths")
    if not np.isfinite(y).all():
        raise ValueError("outcome has NaN or infinite values: define it on every path first")
    groups = y.reshape(-1, replicates)
    n = groups.shape[0]
    within = groups.var(axis=1, ddof=1)  # per group: unbiased for Var(Y | theta)
    means = groups.mean(axis=1)
    shocks = within.mean()
    parameters = max(means.var(ddof=1) - shocks / replicates, 0.0)
    total = parameters + shocks
    share = parameters / total if total > 0 else 0.0
    # delta method: the share is f(mean of the group means' squared deviations, mean of the
    # within variances), both averages over the independent groups
    dev = (means - means.mean()) ** 2 * n / (n - 1)
    a = dev - within / replicates  # per group: its contribution to Var E[Y | theta]
    cov = np.cov(np.vstack([a, within])) / n
    if total > 0:
        grad = np.array([shocks, -parameters]) / total**2
        share_se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    else:
        share_se = 0.0
    return {"total_variance": float(total), "parameter_variance": float(parameters),
            "shock_variance": float(shocks), "parameter_share": float(share),
            "parameter_share_se": share_se, "groups": n, "replicates": replicates}
