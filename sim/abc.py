"""Approximate Bayesian computation over per-path draws: rejection, then the local-linear
regression adjustment of Beaumont, Zhang and Balding (2002, Genetics 162).

A run with priors is a sample of simulations, one parameter draw per path (theta, paths x
parameters) with its summary statistics (paths x statistics). Given the observed statistics:

1. distance: each path's Euclidean distance to the observation, each statistic divided by
   its scale (sim.abc.distances);
2. rejection: keep the paths within the tolerance h, the ``accept``-quantile of the
   distances (``accepted``); Epanechnikov weights 1 - (d / h)^2 inside it;
3. adjustment: regress theta on the statistics over the accepted paths by weighted least
   squares, theta = a + (s - s_obs) b, and move each accepted draw to the observation,
   theta* = theta - (s - s_obs) b: what remains is the spread the statistics cannot explain.

Reported: the acceptance rate and the weights' effective sample size, (sum w)^2 / sum w^2
(Kish). Pure NumPy on arrays; reads and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Posterior:
    """Accepted draws, adjusted and raw, with their weights."""

    index: np.ndarray      # (accepted,) rows of the simulations kept
    theta: np.ndarray      # (accepted, parameters) regression-adjusted draws
    raw: np.ndarray        # (accepted, parameters) the draws as simulated
    weights: np.ndarray    # (accepted,) Epanechnikov kernel weights, summing to 1
    tolerance: float       # h: the largest scaled distance kept
    acceptance_rate: float

    @property
    def effective_sample_size(self) -> float:
        return float(1.0 / np.sum(self.weights**2))

    def mean(self) -> np.ndarray:
        return self.weights @ self.theta

    def std(self) -> np.ndarray:
        return np.sqrt(self.weights @ (self.theta - self.mean()) ** 2)

    def quantile(self, q: float) -> np.ndarray:
        """Weighted quantile of each parameter (the weights' step function)."""
        out = np.empty(self.theta.shape[1])
        for j in range(self.theta.shape[1]):
            order = np.argsort(self.theta[:, j])
            cumulative = np.cumsum(self.weights[order])
            out[j] = self.theta[order[min(np.searchsorted(cumulative, q), len(order) - 1)], j]
        return out


def distances(stats: np.ndarray, observed: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Each simulation's Euclidean distance to ``observed``, statistic by statistic in units of
    ``scale`` (stats: simulations x statistics)."""
    stats = np.asarray(stats, dtype=float)
    observed, scale = np.asarray(observed, dtype=float), np.asarray(scale, dtype=float)
    if stats.ndim != 2 or observed.shape != (stats.shape[1],) or scale.shape != observed.shape:
        raise ValueError(f"stats {stats.shape}, observed {observed.shape}, scale {scale.shape}: "
                         "expected (simulations, k), (k,), (k,)")
    if not (scale > 0).all():
        raise ValueError(f"scale = {scale.tolist()}: every scale must be > 0")
    return np.sqrt((((stats - observed) / scale) ** 2).sum(axis=1))


def accepted(distance: np.ndarray, accept: float) -> tuple[np.ndarray, float]:
    """The simulations within the ``accept``-quantile of the distances (their rows) and that
    tolerance; NaN distances (a path whose statistics are undefined) are never kept."""
    if not 0.0 < accept <= 1.0:
        raise ValueError(f"accept = {accept}: a share of the simulations in (0, 1]")
    finite = np.isfinite(distance)
    if finite.sum() < 2:
        raise ValueError("fewer than 2 simulations have finite statistics")
    keep = max(int(round(accept * finite.sum())), 2)
    order = np.argsort(np.where(finite, distance, np.inf), kind="stable")[:keep]
    return np.sort(order), float(distance[order[-1]])


class TooFewDrawsError(ValueError):
    """The kept simulations cannot determine the regression adjustment's coefficients."""


def regression_adjust(theta: np.ndarray, stats: np.ndarray, observed: np.ndarray,
                      weights: np.ndarray) -> np.ndarray:
    """theta - (s - s_obs) b, with b the weighted least-squares slopes of theta on the
    statistics (with an intercept) over these simulations (Beaumont et al. 2002, eq. 5).
    TooFewDrawsError if the simulations with weight > 0 do not determine b: least squares would
    then return one of many solutions and move the draws by an arbitrary amount."""
    centred = stats - observed
    design = np.column_stack([np.ones(len(centred)), centred])
    weighted = design[weights > 0]
    if np.linalg.matrix_rank(weighted) < design.shape[1]:
        raise TooFewDrawsError(
            f"{len(weighted)} kept simulations with weight > 0 cannot determine the regression "
            f"adjustment's intercept and {centred.shape[1]} slopes (too few of them, or a "
            "statistic that does not vary among them)")
    root = np.sqrt(weights)[:, None]
    coef, *_ = np.linalg.lstsq(design * root, theta * root, rcond=None)
    return theta - centred @ coef[1:]


def rejection_abc(theta: np.ndarray, stats: np.ndarray, observed: np.ndarray,
                  scale: np.ndarray, accept: float = 0.01, adjust: bool = True) -> Posterior:
    """Rejection ABC with Epanechnikov weights and, by default, the local-linear regression
    adjustment, on simulations ``theta`` (simulations x parameters) with ``stats``."""
    theta = np.asarray(theta, dtype=float)
    theta = theta[:, None] if theta.ndim == 1 else theta
    stats = np.asarray(stats, dtype=float)
    stats = stats[:, None] if stats.ndim == 1 else stats
    observed = np.atleast_1d(np.asarray(observed, dtype=float))
    scale = np.atleast_1d(np.asarray(scale, dtype=float))
    if theta.shape[0] != stats.shape[0]:
        raise ValueError(f"{theta.shape[0]} draws but {stats.shape[0]} rows of statistics")
    distance = distances(stats, observed, scale)
    rows, tolerance = accepted(distance, accept)
    kernel = 1.0 - (distance[rows] / tolerance) ** 2 if tolerance > 0 else np.ones(len(rows))
    kernel = np.maximum(kernel, 0.0)
    if kernel.sum() == 0.0:  # every kept simulation sits on the tolerance: weigh them alike
        kernel = np.ones(len(rows))
    weights = kernel / kernel.sum()
    raw = theta[rows]
    adjusted = (regression_adjust(raw, stats[rows], observed, weights) if adjust else raw)
    return Posterior(index=rows, theta=adjusted, raw=raw, weights=weights,
                     tolerance=tolerance,
                     acceptance_rate=len(rows) / int(np.isfinite(distance).sum()))
