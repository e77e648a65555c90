"""Simulation-based calibration of bubblesim-calibrate (issue 13, item 3; sim/sbc.py).

Truths drawn from the priors, each calibrated on its own path's statistics exactly as
bubblesim-calibrate would (its defaults: start=2023q1, the wide priors, the 2023-2026
targets, accept 0.1 of the paths within tolerance, the regression adjustment): the truths'
ranks in their posteriors are uniform and the 50% and 90% intervals cover at their rates,
within Monte Carlo error; and the same check fails when the inference is broken on purpose.

Tolerances: sbc.failures holds each of the 3 x 11 tests (ranks' chi-square over 10 bins,
exact binomial test of each coverage) to 0.01 / 33 = 3e-4 (Bonferroni), so that a calibrated
inference fails with probability <= 1% over fresh seeds. For a coverage that is a band of
about +-3.6 binomial SE, SE = sqrt(level (1 - level) / truths): with 300 truths +-0.10 at
50% and +-0.062 at 90%; with 1,500 truths +-0.046 and +-0.028.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from functools import partial

import numpy as np
import pytest

from conftest import schema
from sim import abc, calibration, sbc
from sim.params import model_vector, run_settings
from sim.targets import check_targets, last_month

try:  # one BLAS thread: the regressions are small (thousands x a dozen) and OpenBLAS's
    # threads make each 10-30x slower on 2 shared cores (scikit-learn brings threadpoolctl)
    from threadpoolctl import threadpool_limits
    one_blas_thread = partial(threadpool_limits, 1, "blas")
except ImportError:  # pragma: no cover
    one_blas_thread = contextlib.nullcontext


def _reference(n_paths: int, n_truths: int) -> dict:
    """bubblesim-calibrate's defaults: a reference table of ``n_paths`` paths and
    ``n_truths`` truths at the path indices after them (independent draws and shocks)."""
    cfg = schema(config_name="calibrate")
    targets = check_targets(cfg)
    settings = replace(run_settings(cfg), n_paths=n_paths, chunk_size=n_paths, quiet=True)
    window = calibration.window_settings(settings, targets, last_month(targets))
    p = model_vector(cfg)
    return {"sims": calibration.simulate_statistics(p, window, targets), "targets": targets,
            "priors": window.priors.priors, "accept": cfg.calibration.accept,
            "truths": sbc.simulate_truths(p, window, n_paths, n_truths), "p": p,
            "window": window}


def _first(truths: sbc.Truths, n: int) -> sbc.Truths:
    return sbc.Truths(paths=truths.paths[:n], theta=truths.theta[:n],
                      recorded=truths.recorded[:n])


def _check(ref: dict, fit=None, truths: sbc.Truths | None = None,
           sims: calibration.Simulations | None = None) -> sbc.Outcome:
    fit = fit or partial(_posterior, accept=ref["accept"])
    with one_blas_thread():
        return sbc.check(sims or ref["sims"], ref["targets"], ref["priors"],
                         truths or ref["truths"], fit)


def _posterior(sims, targets, priors, accept, adjust=True):
    return calibration.posterior(sims, targets, priors, accept, adjust)


def _names(ref: dict) -> list[str]:
    return [p.name for p in ref["priors"]]


@pytest.fixture(scope="module")
def reference():
    return _reference(50_000, 300)


def test_the_truths_data_are_their_own_paths_statistics(reference):
    """A truth's targets, rebuilt from its recorded values, have the statistics the engine
    computes for the same path in a calibration run."""
    ref = reference
    targets = ref["targets"]
    again = calibration.simulate_statistics(
        ref["p"], replace(ref["window"], path_ids=ref["truths"].paths[:3]), targets)
    for k in range(3):
        data = sbc.as_data(targets, ref["truths"].recorded[k])
        np.testing.assert_allclose([t.observed for t in data], again.stats[k], rtol=1e-12)
    np.testing.assert_array_equal(ref["truths"].theta[:3], again.theta)


def _assert_calibrated(ref: dict, outcome: sbc.Outcome):
    failed = sbc.failures(outcome, _names(ref))
    assert not failed, "\n".join(failed)
    # a posterior equal to the prior would pass too: the targets must teach something, so
    # the uniform ranks say more than that. Measured: elasticity 0.84, cost growth 0.33,
    # efficiency growth 0.28, the default and sentiment parameters 0.00
    learned = dict(zip(_names(ref), sbc.contraction(outcome, ref["sims"].theta.std(axis=0)),
                       strict=True))
    assert learned["elasticity"] > 0.6, learned
    assert min(learned["cost_growth"], learned["efficiency_growth"]) > 0.15, learned


def test_ranks_are_uniform_and_intervals_cover_at_their_levels(reference):
    """300 truths on 50,000 paths. Measured: smallest p-values 0.16 (ranks), 0.032 (50%
    coverage), 0.066 (90%), against 3e-4."""
    _assert_calibrated(reference, _check(reference))


def _wrong_sign(theta, stats, observed, weights, adjust=abc.regression_adjust):
    return 2.0 * theta - adjust(theta, stats, observed, weights)


def _overconfident(sims, targets, priors, accept):
    post = _posterior(sims, targets, priors, accept)
    return replace(post, theta=post.mean() + 0.5 * (post.theta - post.mean()))


@pytest.mark.parametrize("mutation", ["no adjustment", "wrong-signed adjustment",
                                      "half the posterior spread", "truths off by one path"])
def test_a_broken_inference_fails_the_check(reference, mutation, monkeypatch):
    """The check has power: each break, on the first 100 truths, fails it. Measured on 300
    truths, the worst p-value: no adjustment 1e-18 (elasticity covered by 99% of its 90%
    intervals, the raw draws overdispersed), wrong sign 9e-32, half the spread 1e-97 (90%
    intervals cover 41-60%), off by one 5e-209 (elasticity's ranks at the ends)."""
    ref = reference
    truths = _first(ref["truths"], 100)
    fit = partial(_posterior, accept=ref["accept"])
    if mutation == "no adjustment":
        fit = partial(_posterior, accept=ref["accept"], adjust=False)
    elif mutation == "wrong-signed adjustment":
        monkeypatch.setattr(abc, "regression_adjust", _wrong_sign)
    elif mutation == "half the posterior spread":
        fit = partial(_overconfident, accept=ref["accept"])
    else:  # each truth's draws read at the next path's index
        truths = replace(truths, theta=np.roll(truths.theta, -1, axis=0))
    assert sbc.failures(_check(ref, fit, truths), _names(ref))


def test_a_table_that_learns_nothing_passes_the_ranks_but_not_the_contraction(reference):
    """SBC's blind spot: draws shuffled against their statistics give the prior back as the
    posterior, whose ranks are uniform; the contraction catches it."""
    ref = reference
    sims = ref["sims"]
    shuffled = replace(sims, theta=sims.theta[np.random.default_rng(0).permutation(
        len(sims.theta))])
    truths = _first(ref["truths"], 100)
    outcome = _check(ref, truths=truths, sims=shuffled)
    assert not sbc.failures(outcome, _names(ref))
    assert np.abs(sbc.contraction(outcome, sims.theta.std(axis=0))).max() < 0.05


@pytest.mark.slow
def test_ranks_are_uniform_and_intervals_cover_with_more_truths():
    """1,500 truths on 100,000 paths: a coverage off by 3 points at 90% fails."""
    ref = _reference(100_000, 1_500)
    _assert_calibrated(ref, _check(ref))
