"""Our rejection step (sim.abc) against pyabc's, an independent implementation (issue 13, 3):
the same prior, simulator, scaled distance and tolerance, and the accepted draws must follow
one distribution, which is also the exact posterior of the problem truncated at that tolerance.

Toy model: theta ~ N(0, PRIOR_SD^2) and two statistics, s = UNITS (theta + NOISE e): the mean
of 25 unit-variance draws in dollars and that of 100 others in cents, scaled by 1 dollar and 50
cents. In scaled units both noises have sd 0.2 (so the window, |scaled s - scaled observed| <=
EPS, is a disc in isotropic noise and a draw's chance to fall in it is a noncentral chi-square
CDF: the exact truncated posterior is the prior times that, normalised on a grid), and the two
move at rates 1 and 2 per unit of theta, so that a rejection on unscaled distances, on another
norm (L1, max) or on the wrong side of the threshold keeps other draws, and another posterior.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from scipy import stats as st

from sim.abc import rejection_abc

PRIOR_SD = 2.0
UNITS = np.array([1.0, 100.0])      # dollars, cents
NOISE = np.array([0.2, 0.1])        # sd of a mean of 25 and of 100 unit-variance draws
SCALE = np.array([1.0, 50.0])
SIGMA = 0.2                         # the noise in scaled units, UNITS NOISE / SCALE, both
OBSERVED = np.array([1.5, 100.0])   # the two disagree: theta 1.5 and 1.0
EPS = 1.0                           # keeps about 13% of the prior's draws
N_PYABC, N_OURS = 3000, 200_000     # pyabc: accepted particles; ours: simulations (~26,000 kept)
QUANTILES = np.array([0.1, 0.5, 0.9])


def _exact_truncated_posterior() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid, density and CDF of theta given a scaled distance <= EPS: the prior times
    P(|u| <= EPS | theta), with u ~ N((theta UNITS - OBSERVED) / SCALE, SIGMA^2 I), so that
    |u|^2 / SIGMA^2 is noncentral chi-square with 2 degrees of freedom."""
    np.testing.assert_allclose(UNITS * NOISE / SCALE, SIGMA)
    grid = np.linspace(-12.0, 12.0, 48_001)
    centre = (grid[:, None] * UNITS - OBSERVED) / SCALE
    inside = st.ncx2.cdf((EPS / SIGMA) ** 2, df=2, nc=(centre**2).sum(axis=1) / SIGMA**2)
    density = st.norm.pdf(grid, 0.0, PRIOR_SD) * inside
    step = grid[1] - grid[0]
    density /= density.sum() * step
    cdf = np.cumsum(density) * step
    return grid, density, cdf / cdf[-1]


def _import_pyabc():
    """pyabc, imported when this test runs rather than at collection, and its import's changes
    to os.environ undone: pyabc sets OMP_NUM_THREADS=1 and scikit-learn, which it imports, two
    KMP_* variables, which the command-line runs of later tests would inherit. Its logger is
    quieted to warnings."""
    environ = dict(os.environ)
    pyabc = pytest.importorskip("pyabc", reason="in the test extra: pip install -e '.[test]'")
    for added in set(os.environ) - set(environ):
        del os.environ[added]
    os.environ.update(environ)
    logging.getLogger("ABC").setLevel(logging.WARNING)
    return pyabc


@pytest.fixture(scope="module")
def pyabc_sample(tmp_path_factory) -> np.ndarray:
    """One generation of pyabc's ABC-SMC at the fixed tolerance EPS: its first population is
    plain rejection from the prior, with uniform weights."""
    pyabc = _import_pyabc()
    # pyabc's prior (scipy) and the model below draw from NumPy's global RNG: seeded here, and
    # put back as it was afterwards
    global_rng = np.random.get_state()
    np.random.seed(13)

    def model(parameters):
        s = UNITS * (parameters["theta"] + NOISE * np.random.normal(size=2))
        return {"s1": s[0], "s2": s[1]}

    abc = pyabc.ABCSMC(
        model, pyabc.Distribution(theta=pyabc.RV("norm", 0.0, PRIOR_SD)),
        # pyabc's weighted Euclidean norm, |w (x - y)|, with w = 1 / SCALE: our scaled distance
        distance_function=pyabc.PNormDistance(
            p=2, fixed_weights={"s1": 1.0 / SCALE[0], "s2": 1.0 / SCALE[1]}),
        population_size=N_PYABC, eps=pyabc.epsilon.ListEpsilon([EPS]),
        sampler=pyabc.sampler.SingleCoreSampler())
    abc.new(f"sqlite:///{tmp_path_factory.mktemp('pyabc') / 'abc.db'}",
            {"s1": OBSERVED[0], "s2": OBSERVED[1]})
    try:
        frame, weights = abc.run(max_nr_populations=1).get_distribution(m=0, t=0)
    finally:
        np.random.set_state(global_rng)
    np.testing.assert_allclose(weights, 1.0 / N_PYABC)  # rejection: all draws alike
    return frame["theta"].to_numpy()


@pytest.fixture(scope="module")
def our_sample() -> np.ndarray:
    """sim.abc at the same tolerance. It takes a share of the simulations, not a distance:
    the share is the count within EPS computed here, independently of sim.abc, so that a wrong
    distance or the wrong side of the threshold in sim.abc keeps other draws than pyabc."""
    rng = np.random.default_rng(13)
    theta = rng.normal(0.0, PRIOR_SD, N_OURS)
    stats = UNITS * (theta[:, None] + NOISE * rng.normal(size=(N_OURS, 2)))
    within = np.hypot(*((stats - OBSERVED) / SCALE).T) <= EPS
    posterior = rejection_abc(theta, stats, OBSERVED, SCALE, accept=within.mean(), adjust=False)
    assert len(posterior.index) == within.sum()
    return posterior.raw[:, 0]


def test_our_rejection_agrees_with_pyabc_and_with_the_exact_truncated_posterior(
        pyabc_sample, our_sample):
    grid, density, cdf = _exact_truncated_posterior()
    step = grid[1] - grid[0]
    mean = float((grid * density).sum() * step)
    sd = float(np.sqrt(((grid - mean) ** 2 * density).sum() * step))
    exact_q = np.interp(QUANTILES, cdf, grid)
    density_q = np.interp(exact_q, grid, density)
    samples = {"pyabc": pyabc_sample, "ours": our_sample}
    # Monte Carlo standard errors of an n-draw sample: the mean's sd / sqrt(n); a q-quantile's
    # sqrt(q (1 - q) / n) / f(x_q), its asymptotic sd, with f the exact density at it
    mean_se = {k: sd / np.sqrt(len(x)) for k, x in samples.items()}
    q_se = {k: np.sqrt(QUANTILES * (1 - QUANTILES) / len(x)) / density_q
            for k, x in samples.items()}
    # Each within 4 SE of the exact posterior (6e-5 two-sided per check for a right sampler;
    # the seeds are fixed, so the margin is against a reseeding, not a flaky run) and a
    # one-sample KS test at level 1e-3. Measured at these seeds: every |z| < 1.6. Mutations of
    # sim.abc (unscaled distances, scale squared, an L1 or a max norm, the far side of the
    # threshold) put our mean 29 to 2400 SE from the exact one and 9 to 780 SE from pyabc's.
    for k, x in samples.items():
        assert abs(x.mean() - mean) < 4 * mean_se[k], k
        np.testing.assert_array_less(np.abs(np.quantile(x, QUANTILES) - exact_q), 4 * q_se[k],
                                     err_msg=k)
        assert st.kstest(x, lambda v: np.interp(v, grid, cdf)).pvalue > 1e-3, k
    # pyabc against ours: independent samples, so their SEs add in quadrature; two-sample KS
    assert (abs(pyabc_sample.mean() - our_sample.mean())
            < 4 * np.hypot(mean_se["pyabc"], mean_se["ours"]))
    np.testing.assert_array_less(
        np.abs(np.quantile(pyabc_sample, QUANTILES) - np.quantile(our_sample, QUANTILES)),
        4 * np.hypot(q_se["pyabc"], q_se["ours"]))
    assert st.ks_2samp(pyabc_sample, our_sample).pvalue > 1e-3
