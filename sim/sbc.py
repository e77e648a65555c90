"""Simulation-based calibration of the ABC posterior (Talts et al. 2018; issue 13, item 3).

If an inference is right, a parameter drawn from the prior and the data simulated from it
give a posterior in which that parameter sits at a uniformly distributed rank: averaged
over the prior, the posterior *is* the prior, whatever the data. So:

1. a reference table: one calibration run of paths, one prior draw each, with their
   statistics (sim.calibration.simulate_statistics);
2. truths: more paths from the same priors, at global indices outside the table (their draws
   and shocks are independent of the table's: both are keyed by seed and path index); each
   truth's recorded values are the data of its own targets;
3. each truth is calibrated on the table exactly as bubblesim-calibrate would
   (sim.calibration.posterior: tolerance box, accept share, Epanechnikov weights,
   regression adjustment on the priors' unbounded scale);
4. per parameter, the truth's rank in its posterior as a share: the posterior's weight below
   it (the probability integral transform, the limit of Talts' rank among L draws over L as
   L grows, with no resampling noise), and whether the 50% and 90% central intervals
   (the weighted quantiles calibration.md reports) contain it.

Under a calibrated inference the shares are uniform on (0, 1) and the intervals cover at 50%
and 90%; an overdispersed posterior piles the shares in the middle and covers too often, an
underdispersed or biased one piles them at the ends. A posterior equal to the prior also
passes: sbc.contraction says how much each parameter was learned, to tell the two apart.
Pure functions of the run's arrays, except ``simulate_truths`` (the engine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as st

from sim import calibration
from sim.abc import Posterior
from sim.engine import simulate
from sim.params import RunSettings
from sim.priors import Prior
from sim.targets import Target

LEVELS = (0.5, 0.9)  # the central intervals checked


@dataclass(frozen=True)
class Truths:
    """Paths that play the observed data: their prior draws and recorded values."""

    paths: np.ndarray     # (truths,) global path indices
    theta: np.ndarray     # (truths, priors)
    recorded: np.ndarray  # (truths, snapshots) in the order of sim.targets.snapshots


@dataclass(frozen=True)
class Outcome:
    """Each truth's place in its posterior, parameter by parameter."""

    rank: np.ndarray                  # (truths, priors) posterior weight below the truth
    covered: dict[float, np.ndarray]  # level -> (truths, priors) inside the central interval
    posterior_sd: np.ndarray          # (truths, priors)


# the inference checked: the table, one truth's targets and the priors give a posterior
Fit = Callable[[calibration.Simulations, list[Target], tuple[Prior, ...]], Posterior]


def simulate_truths(p: np.ndarray, window: RunSettings, first: int, n: int) -> Truths:
    """``n`` paths from ``first`` on, run with the table's window settings so that they
    record the same snapshots. Indices past the table's, not another seed: draws and shocks
    are keyed by (seed, path index), so these are independent of the table's; a changed
    RunSettings.seed alone would change the shocks but not the draws (PathDraws has its own
    seed)."""
    paths = np.arange(first, first + n, dtype=np.int64)
    raw = simulate(p, replace(window, path_ids=paths), backend=window.backend)
    return Truths(paths=paths, theta=window.priors.values_at(paths).T, recorded=raw.snapshots)


def as_data(targets: list[Target], recorded: np.ndarray) -> list[Target]:
    """The targets with one path's recorded values (one row of Truths.recorded) as their
    data: the statistic of each is then the path's own."""
    out, column = [], 0
    for target in targets:
        n = len(target.months)
        out.append(replace(target, values=np.asarray(recorded[column:column + n], float)))
        column += n
    return out


def place(post: Posterior, truth: np.ndarray,
          levels: tuple[float, ...] = LEVELS) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """The truth's rank in the weighted posterior (the weight below it, half the weight at
    it) and, per level, whether the central interval [q((1-l)/2), q((1+l)/2)] contains it."""
    below = post.weights @ (post.theta < truth)
    at = post.weights @ (post.theta == truth)
    covered = {}
    for level in levels:
        lo, hi = post.quantile((1 - level) / 2), post.quantile((1 + level) / 2)
        covered[level] = (lo <= truth) & (truth <= hi)
    return below + at / 2, covered


def check(sims: calibration.Simulations, targets: list[Target], priors: tuple[Prior, ...],
          truths: Truths, fit: Fit, levels: tuple[float, ...] = LEVELS) -> Outcome:
    """Calibrate each truth's data on the reference table with ``fit`` (e.g.
    calibration.posterior with its accept share and adjustment) and place the truth."""
    ranks, sds = [], []
    covered: dict[float, list[np.ndarray]] = {level: [] for level in levels}
    for theta, recorded in zip(truths.theta, truths.recorded, strict=True):
        post = fit(sims, as_data(targets, recorded), priors)
        rank, inside = place(post, theta, levels)
        ranks.append(rank)
        sds.append(post.std())
        for level in levels:
            covered[level].append(inside[level])
    return Outcome(rank=np.array(ranks), posterior_sd=np.array(sds),
                   covered={level: np.array(v) for level, v in covered.items()})


def rank_counts(rank: np.ndarray, bins: int) -> np.ndarray:
    """(bins, priors): how many truths' ranks fall in each of ``bins`` equal bins of (0, 1)."""
    cell = np.minimum((rank * bins).astype(np.int64), bins - 1)
    return np.stack([np.bincount(c, minlength=bins) for c in cell.T], axis=1)


def uniformity_pvalue(rank: np.ndarray, bins: int) -> np.ndarray:
    """(priors,): Pearson's chi-square test of the binned ranks against uniform
    (bins - 1 degrees of freedom; wants >= 5 truths a bin)."""
    return st.chisquare(rank_counts(rank, bins), axis=0).pvalue


def coverage_pvalue(covered: np.ndarray, level: float) -> np.ndarray:
    """(priors,): the exact two-sided binomial test of the coverage against ``level``."""
    n = covered.shape[0]
    return np.array([st.binomtest(int(k), n, level).pvalue for k in covered.sum(axis=0)])


def failures(outcome: Outcome, names: list[str], alpha: float = 0.01,
             bins: int = 10) -> list[str]:
    """The checks that fail, one line each (none: calibrated within Monte Carlo error).

    Per parameter, three tests: the binned ranks' chi-square against uniform and the exact
    binomial test of each level's coverage. ``alpha`` is the family-wise level: each test is
    held to alpha / (3 x parameters) (Bonferroni), so that a calibrated inference fails
    with probability at most ``alpha`` over a fresh seed, however many priors it learns."""
    per_test = alpha / ((1 + len(outcome.covered)) * len(names))
    out = []
    for name, p in zip(names, uniformity_pvalue(outcome.rank, bins), strict=True):
        if p < per_test:
            counts = rank_counts(outcome.rank, bins)[:, names.index(name)]
            out.append(f"{name}: ranks not uniform (chi-square p = {p:.2g} < {per_test:.2g}; "
                       f"counts in {bins} bins {counts.tolist()})")
    for level, covered in outcome.covered.items():
        for name, share, p in zip(names, covered.mean(axis=0),
                                  coverage_pvalue(covered, level), strict=True):
            if p < per_test:
                out.append(f"{name}: the {level:.0%} interval covers {share:.1%} of "
                           f"{covered.shape[0]} truths (binomial p = {p:.2g} < {per_test:.2g})")
    return out


def contraction(outcome: Outcome, prior_sd: np.ndarray) -> np.ndarray:
    """(priors,): 1 - mean posterior sd / prior sd. Near 0 the data taught nothing (and the
    ranks are uniform trivially); towards 1 the posterior is narrow, and the ranks test it."""
    return 1.0 - outcome.posterior_sd.mean(axis=0) / prior_sd
