"""Sobol' indices with the shocks as a factor, checked against the Ishigami function's
known indices (Ishigami and Homma 1990; Sobol' and Levitan 1999 give them in closed form)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from sim.priors import check_prior, prior_config
from sim.rng import path_key, uniform
from sim.sensitivity import (
    SHOCKS,
    design_of_run,
    parameter_values,
    shock_streams,
    sobol_design,
    sobol_indices,
    variance_split,
)

A, B = 7.0, 0.1
# the variance of Ishigami's function on U(-pi, pi)^3 and its parts
V1 = 0.5 * (1 + B * np.pi**4 / 5) ** 2
V2 = A**2 / 8
V13 = B**2 * np.pi**8 * (1 / 18 - 1 / 50)
VAR = V1 + V2 + V13


def ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def _uniform_priors(names):
    return [check_prior(n, prior_config(n, {"key": "model.sentiment.s0", "dist": "uniform",
                                            "low": -np.pi, "high": np.pi})) for n in names]


def _contains(ds, name, factor, value):
    row = ds.sel(factor=factor)
    return float(row[f"{name}_lower"]) <= value <= float(row[f"{name}_upper"])


def _noise(design, sd):
    """The shocks' effect: a normal of sd ``sd`` drawn from each row's random stream, as the
    engine draws a path's shocks (equal streams, equal noise)."""
    with np.errstate(over="ignore"):  # the hashes wrap around 2**64 on purpose
        keys = path_key(np.uint64(5), shock_streams(design))
        return sd * special.ndtri(uniform(keys, np.uint64(0)))


@pytest.fixture(scope="module")
def ishigami_design():
    """The design a Saltelli-sampled run draws: its rows' parameters and streams."""
    names = ["x1", "x2", "x3"]
    design = sobol_design(names, 2**13)
    return design, parameter_values(design, _uniform_priors(names), seed=1)


def test_ishigami_indices_are_recovered_and_the_unused_shocks_get_zero(ishigami_design):
    design, x = ishigami_design
    ds = sobol_indices(design, ishigami(x), seed=2)
    truth_first = {"x1": V1 / VAR, "x2": V2 / VAR, "x3": 0.0, SHOCKS: 0.0}
    truth_total = {"x1": (V1 + V13) / VAR, "x2": V2 / VAR, "x3": V13 / VAR, SHOCKS: 0.0}
    for factor in design.names:
        assert _contains(ds, "first_order", factor, truth_first[factor]), factor
        assert _contains(ds, "total_order", factor, truth_total[factor]), factor
    # intervals narrow enough to tell the factors apart
    assert float(ds.first_order_upper.sel(factor="x3")) < 0.05
    assert abs(float(ds.total_order.sel(factor="x1")) - 0.5576) < 0.02


def test_the_shocks_total_index_is_the_noise_share_of_the_variance(ishigami_design):
    """Ishigami plus independent noise of variance VAR / 3: the shocks explain a quarter of
    the spread (law of total variance), every parameter's index shrinks by 3/4."""
    design, x = ishigami_design
    ds = sobol_indices(design, ishigami(x) + _noise(design, np.sqrt(VAR / 3)), seed=3)
    total = VAR * 4 / 3
    assert _contains(ds, "total_order", SHOCKS, 0.25)
    assert _contains(ds, "first_order", SHOCKS, 0.25)  # additive: no interactions
    assert _contains(ds, "first_order", "x2", V2 / total)
    assert _contains(ds, "total_order", "x1", (V1 + V13) / total)


def test_rows_that_share_the_shocks_value_share_the_stream():
    design = sobol_design(["x1", "x2"], 8)
    streams = shock_streams(design).reshape(8, 5)  # per base sample: A, AB1, AB2, ABs, B
    assert (streams[:, 0] == streams[:, 1]).all() and (streams[:, 0] == streams[:, 2]).all()
    assert (streams[:, 3] == streams[:, 4]).all()  # AB_shocks takes B's shocks
    assert (streams[:, 0] != streams[:, 4]).all()
    assert len(np.unique(streams[:, [0, 4]])) == 16


def test_a_constant_outcome_and_bad_input():
    design = sobol_design(["x1"], 4)
    ds = sobol_indices(design, np.ones(design.n_rows))
    assert (ds.first_order == 0).all() and (ds.total_order == 0).all()
    with pytest.raises(ValueError, match="NaN"):
        sobol_indices(design, np.full(design.n_rows, np.nan))
    with pytest.raises(ValueError, match="rows"):
        sobol_indices(design, np.ones(3))
    with pytest.raises(ValueError, match="at least 2"):
        sobol_design(["x1"], 1)
    with pytest.raises(ValueError, match="at least 2, i.e. 10 paths"):
        design_of_run(["x1", "x2"], 9)


@pytest.mark.parametrize("replicates", [2, 4])
def test_the_variance_split_recovers_known_parameter_and_shock_variances(replicates):
    """Y = 2 theta + eps, theta ~ N(0, 1), eps ~ N(0, 3^2): the parameters explain
    4 / 13 of the variance; the estimate lies within 4 of its standard errors, and the SE
    is the spread of the estimate over independent runs."""
    def one(seed):
        rng = np.random.default_rng(seed)
        theta = np.repeat(rng.standard_normal(20_000), replicates)
        return variance_split(2 * theta + 3 * rng.standard_normal(theta.size), replicates)

    split = one(0)
    assert abs(split["parameter_share"] - 4 / 13) < 4 * split["parameter_share_se"]
    assert split["shock_variance"] == pytest.approx(9, rel=0.03)
    shares = [one(seed)["parameter_share"] for seed in range(1, 41)]
    assert np.std(shares, ddof=1) == pytest.approx(split["parameter_share_se"], rel=0.35)


def test_the_variance_split_of_pure_noise_and_of_pure_parameters():
    rng = np.random.default_rng(1)
    noise = variance_split(rng.standard_normal(40_000), 2)
    assert noise["parameter_share"] < 4 * noise["parameter_share_se"] + 0.01
    fixed = variance_split(np.repeat(rng.standard_normal(20_000), 2), 2)
    assert fixed["parameter_share"] == 1.0 and fixed["shock_variance"] == 0.0
    with pytest.raises(ValueError, match="groups"):
        variance_split(np.ones(5), 2)


def test_the_indices_are_salibs_estimates_and_intervals(ishigami_design):
    """Same estimators as SALib (to rounding) and intervals as wide as its bootstrap's, within
    the bootstrap's own noise (500 resamples: the width's relative SE is about 3%)."""
    from SALib.analyze import sobol as salib

    design, x = ishigami_design
    y = ishigami(x) + _noise(design, 1.0)
    ours = sobol_indices(design, y, resamples=500, seed=4)
    theirs = salib.analyze(design.problem, y, calc_second_order=False, num_resamples=500,
                           conf_level=0.95, seed=4)
    for name, key in (("first_order", "S1"), ("total_order", "ST")):
        np.testing.assert_allclose(ours[name].values, theirs[key], rtol=1e-10, atol=1e-12)
        half = (ours[f"{name}_upper"] - ours[f"{name}_lower"]).values / 2
        np.testing.assert_allclose(half, theirs[f"{key}_conf"], rtol=0.2)
