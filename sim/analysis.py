"""Raw counts -> the distributions a researcher cites (pure NumPy/SciPy, no I/O, no engine).

Every function takes plain arrays (per-path values or the mergeable integer counts of the
engine), so the same analysis runs on one run, a merged set of shards or a sweep.

Monte Carlo standard errors (docs/outputs.md):
- a probability p estimated from n independent paths: sqrt(p (1 - p) / n);
- a quantile x_q: half the distance between the quantiles at q -+ sqrt(q (1 - q) / n), the
  order-statistic (binomial) interval, which needs no density estimate;
- firm survival at the horizon: paths are the independent units (firms on one path share
  its shocks), so the SE is that of the per-path surviving share, not Greenwood's.
"""

from __future__ import annotations

import numpy as np

# the standard normal quantile that scipy.stats.norm.ppf computes (the same function, bit for
# bit), without scipy.stats, whose import is over half a second of every command's start-up
from scipy.special import ndtri

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
DRAWDOWN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
EXCEEDANCE_THRESHOLDS = tuple(np.round(np.arange(1, 10) / 10, 1))
Z95 = ndtri(0.975)


# --- quantiles from fixed bins ------------------------------------------------------------
def histogram_quantiles(counts: np.ndarray, edges: np.ndarray, is_log: bool,
                        quantiles=QUANTILES) -> np.ndarray:
    """Quantiles of binned data, interpolated within the bin (in log10 space for log bins).

    ``counts`` (..., bins) and ``edges`` (bins + 1,); returns (len(quantiles), ...).
    """
    scaled = np.log10(edges) if is_log else edges
    cum = np.cumsum(counts, axis=-1)
    total = cum[..., -1:]
    out = np.empty((len(quantiles), *counts.shape[:-1]))
    for i, q in enumerate(quantiles):
        target = q * total
        b = np.minimum((cum < target).sum(axis=-1, keepdims=True), counts.shape[-1] - 1)
        below = np.where(b > 0, np.take_along_axis(cum, np.maximum(b - 1, 0), axis=-1), 0)
        inside = np.take_along_axis(counts, b, axis=-1)
        frac = np.where(inside > 0, (target - below) / np.maximum(inside, 1), 0.5)
        value = scaled[b] + frac * (scaled[b + 1] - scaled[b])
        out[i] = (10.0**value if is_log else value)[..., 0]
    return out


def band_quantiles(counts: np.ndarray, outside: np.ndarray, edges: np.ndarray, is_log: bool,
                   quantiles=QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of a series' per-month histogram, and where they fall outside its range.

    ``counts`` (months, bins), ``outside`` (months, 3): zero-or-NaN, below and above the range
    (sim.histogram.OUTSIDE). A quantile among the zeros of a log-binned series is 0 (NaN for a
    linear one, whose zero bin holds only NaN); one below or above the range is returned as
    the range's edge, a bound rather than a value, and flagged in the second array. Both have
    shape (len(quantiles), months).
    """
    full = np.concatenate([outside[:, :2], counts, outside[:, 2:]], axis=1)
    n_bins = counts.shape[1]
    cum = np.cumsum(full, axis=1)
    total = cum[:, -1:]
    scaled = np.log10(edges) if is_log else edges
    values = np.empty((len(quantiles), counts.shape[0]))
    clipped = np.zeros((len(quantiles), counts.shape[0]), dtype=bool)
    for i, q in enumerate(quantiles):
        b = np.minimum((cum < q * total).sum(axis=1), n_bins + 2)
        inside = np.clip(b - 2, 0, n_bins - 1)
        below = np.take_along_axis(cum, np.maximum(b - 1, 0)[:, None], axis=1)[:, 0]
        count = full[np.arange(len(b)), b]
        frac = np.where(count > 0, (q * total[:, 0] - below) / np.maximum(count, 1), 0.5)
        value = scaled[inside] + np.clip(frac, 0.0, 1.0) * (scaled[inside + 1] - scaled[inside])
        value = np.where(b == 1, scaled[0], np.where(b == n_bins + 2, scaled[-1], value))
        value = 10.0**value if is_log else value
        values[i] = np.where(b == 0, 0.0 if is_log else np.nan, value)
        values[i] = np.where(total[:, 0] > 0, values[i], np.nan)
        clipped[i] = (b == 1) | (b == n_bins + 2)
    return values, clipped


def _quantile_fn(values: np.ndarray | None, counts: np.ndarray | None, edges: np.ndarray | None):
    if values is not None:
        finite = values[~np.isnan(values)]
        if finite.size == 0:  # every path NaN: counted and reported, no quantile to give
            return lambda qs: np.full(np.shape(qs), np.nan), 0
        return lambda qs: np.quantile(finite, np.clip(qs, 0.0, 1.0)), finite.size
    n = int(counts.sum())
    return lambda qs: histogram_quantiles(counts, edges, False, np.clip(qs, 0.0, 1.0)), n


def quantiles_with_ci(quantiles, values=None, counts=None, edges=None):
    """Quantiles, their order-statistic standard errors and 95% intervals (the quantiles at
    the ranks q -+ 1.96 sqrt(q (1 - q) / n)), from values or from counts."""
    fn, n = _quantile_fn(values, counts, edges)
    q = np.asarray(quantiles, dtype=float)
    half = np.sqrt(q * (1.0 - q) / max(n, 1))
    est = np.asarray(fn(q))
    se = (np.asarray(fn(q + half)) - np.asarray(fn(q - half))) / 2.0
    return est, se, np.asarray(fn(q - Z95 * half)), np.asarray(fn(q + Z95 * half))


def quantiles_with_se(quantiles, values=None, counts=None, edges=None):
    """Quantiles and their order-statistic standard errors, from values or from counts."""
    return quantiles_with_ci(quantiles, values, counts, edges)[:2]


def proportion(successes: float, n: int) -> tuple[float, float]:
    """A share and its binomial standard error."""
    p = successes / n
    return p, float(np.sqrt(p * (1.0 - p) / n))


def wilson_interval(p: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a share p of n: unlike p -+ 1.96 SE, not empty when p is 0
    or 1 (all n paths agree, yet the share is not known exactly)."""
    if n <= 0 or np.isnan(p):
        return np.nan, np.nan
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


# --- drawdowns ----------------------------------------------------------------------------
def exceedance(mdd_values=None, mdd_counts=None, thresholds=EXCEEDANCE_THRESHOLDS):
    """P(MDD > x) and its SE for each threshold x: direct counts of paths.

    From the MDD histogram (bins of width 1/bins), ``MDD > x`` is counted as the bins whose
    lower edge is at least x, exact but for values equal to x.
    """
    x = np.asarray(thresholds, dtype=float)
    if mdd_values is not None:
        n = mdd_values.size
        hits = (mdd_values[None, :] > x[:, None]).sum(axis=1)
    else:
        n = int(mdd_counts.sum())
        first = np.round(x * mdd_counts.size).astype(int)
        hits = np.array([mdd_counts[f:].sum() for f in first])
    p = hits / n
    return p, np.sqrt(p * (1.0 - p) / n)


# --- Kaplan-Meier -------------------------------------------------------------------------
def kaplan_meier(events: np.ndarray, censored: np.ndarray, alpha: float = 0.05) -> dict:
    """Kaplan-Meier estimate on the integer time grid 0..len-1 from event/censoring counts.

    ``events[t]`` ended at t, ``censored[t]`` were last seen at t (at risk at t, gone after).
    Returns survival S(t), Greenwood variance, and pointwise (1 - alpha) intervals on the
    log(-log S) scale (lifelines' "exponential Greenwood"), plus numbers at risk.
    """
    events = np.asarray(events, dtype=float)
    censored = np.asarray(censored, dtype=float)
    n_total = events.sum() + censored.sum()
    at_risk = n_total - np.concatenate([[0.0], np.cumsum(events + censored)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, events / at_risk, 0.0)
        survival = np.cumprod(1.0 - hazard)
        terms = np.where((at_risk > 0) & (at_risk > events),
                         events / (at_risk * (at_risk - events)), 0.0)
        greenwood = np.cumsum(terms)  # sum d / (n (n - d)): Var(log S)
        z = ndtri(1 - alpha / 2)
        log_s = np.log(survival)
        se_loglog = np.sqrt(greenwood) / np.abs(log_s)
        lower = np.where(greenwood > 0, survival ** np.exp(z * se_loglog), survival)
        upper = np.where(greenwood > 0, survival ** np.exp(-z * se_loglog), survival)
    return {"survival": survival, "greenwood": greenwood, "lower": lower, "upper": upper,
            "at_risk": at_risk, "n": n_total}


def normalized_bridge_sup_quantile(a_lo: float, a_hi: float, level: float = 0.95,
                                   n_sims: int = 10_000, step: float = 0.02) -> float:
    """c with P(sup_{a_lo <= x <= a_hi} |W0(x)| / sqrt(x (1 - x)) <= c) = level.

    With x = e^u / (1 + e^u), W0(x) / sqrt(x (1 - x)) is a stationary Ornstein-Uhlenbeck
    process in u with correlation exp(-|du| / 2); it is simulated exactly on a grid of
    ``step`` in u with a fixed seed (deterministic; the grid makes c slightly low, < 1%).
    """
    if not 0.0 < a_lo < a_hi < 1.0:
        return float("nan")
    span = np.log(a_hi / (1.0 - a_hi)) - np.log(a_lo / (1.0 - a_lo))
    n_steps = max(int(np.ceil(span / step)), 1)
    rho = np.exp(-0.5 * span / n_steps)
    rng = np.random.default_rng(20_261_123)
    sups = np.empty(n_sims)
    for start in range(0, n_sims, 2_000):
        m = min(2_000, n_sims - start)
        u = rng.standard_normal(m)
        best = np.abs(u)
        for _ in range(n_steps):
            u = rho * u + np.sqrt(1.0 - rho * rho) * rng.standard_normal(m)
            np.maximum(best, np.abs(u), out=best)
        sups[start:start + m] = best
    return float(np.quantile(sups, level))


def equal_precision_band(km: dict, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous band (Nair's equal precision, log(-log) transform; Klein & Moeschberger
    section 4.4): S^{exp(-+ c sigma / ln S)} with sigma^2 the Greenwood sum.

    Covers S(t) jointly for all t from the first event to the last time with survivors at
    risk, with probability ``level``; NaN outside that range. Proportional to the pointwise
    interval, with a larger critical value c from the normalized Brownian bridge.
    """
    s, var, n = km["survival"], km["greenwood"], km["n"]
    lower = np.full_like(s, np.nan)
    upper = np.full_like(s, np.nan)
    usable = (var > 0) & (s > 0) & (s < 1) & (km["at_risk"] > 0)
    if not usable.any() or n <= 0:
        return lower, upper
    a = n * var / (1.0 + n * var)
    c = normalized_bridge_sup_quantile(float(a[usable].min()), float(a[usable].max()), level)
    if np.isnan(c):
        return lower, upper
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = c * np.sqrt(var) / np.log(s)
        lower[usable] = (s ** np.exp(-theta))[usable]
        upper[usable] = (s ** np.exp(theta))[usable]
    return lower, upper


def median_time(survival: np.ndarray) -> float:
    """First time at which S(t) <= 1/2; NaN when the median is beyond the horizon."""
    below = np.flatnonzero(survival <= 0.5)
    return float(below[0]) if below.size else float("nan")


def median_time_with_se(km: dict) -> tuple[float, float]:
    """KM median and an SE from where the pointwise 95% limits cross 1/2 (Brookmeyer-
    Crowley interval divided by 2 x 1.96; NaN when a limit stays above 1/2)."""
    median = median_time(km["survival"])
    lo, hi = median_time(km["lower"]), median_time(km["upper"])
    return median, (hi - lo) / (2.0 * Z95)


def annual_hazard(survival: np.ndarray) -> np.ndarray:
    """1 - S(12 (y + 1)) / S(12 y): the chance to default within year y, given alive."""
    years = (survival.size - 1) // 12
    start = survival[0:12 * years:12]
    end = survival[12:12 * years + 1:12]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(start > 0, 1.0 - end / start, np.nan)


# --- firm survival ------------------------------------------------------------------------
def firm_survival(alive: np.ndarray, alive_sq_horizon: np.ndarray, n_paths: int,
                  n_firms: int) -> dict:
    """Per sector: Kaplan-Meier of firm lifetimes (defaults are events, the horizon censors),
    Greenwood intervals, an equal-precision band, median survival, annual hazard, and the share
    alive at the horizon with its path-level standard error."""
    months, sectors = alive.shape
    out = {key: np.empty((sectors, months)) for key in
           ("survival", "lower", "upper", "band_lower", "band_upper")}
    out["median"] = np.empty(sectors)
    out["hazard"] = np.empty((sectors, (months - 1) // 12))
    out["horizon_se"] = np.empty(sectors)
    firms = n_paths * n_firms
    for k in range(sectors):
        deaths = np.concatenate([[firms - alive[0, k]], -np.diff(alive[:, k])])
        censored = np.zeros(months)
        censored[-1] = alive[-1, k]
        km = kaplan_meier(deaths, censored)
        out["survival"][k], out["lower"][k], out["upper"][k] = km["survival"], km["lower"], \
            km["upper"]
        out["band_lower"][k], out["band_upper"][k] = equal_precision_band(km)
        out["median"][k] = median_time(km["survival"])
        out["hazard"][k] = annual_hazard(km["survival"])
        mean_share = alive[-1, k] / firms
        second_moment = alive_sq_horizon[k] / (n_paths * n_firms**2)
        out["horizon_se"][k] = np.sqrt(max(second_moment - mean_share**2, 0.0) / n_paths)
    return out


# --- the decomposition of compute-demand growth ---------------------------------------------
def ratio_of_means(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """mean(a) / mean(b) over paths (NaN left out) and its delta-method standard error,
    sqrt(Var(a - r b) / n) / |mean(b)|: e.g. the share of the mean log growth of compute
    demand that the price response accounts for."""
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    if a.size == 0 or b.mean() == 0.0:
        return float("nan"), float("nan")
    r = a.mean() / b.mean()
    return float(r), float(np.std(a - r * b) / np.sqrt(a.size) / abs(b.mean()))


def histogram_mean(counts: np.ndarray, edges: np.ndarray) -> float:
    """Mean of binned values at their bin centres (the end bins hold the values beyond the
    range, so this is an approximation there)."""
    centres = 0.5 * (edges[:-1] + edges[1:])
    n = counts.sum()
    return float((counts * centres).sum() / n) if n else float("nan")
