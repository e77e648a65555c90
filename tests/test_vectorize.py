"""The compiled elementary functions against NumPy; lanes and as_tuple in both executions."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import sim.kernel  # noqa: F401  (registers the model's functions with numba)
from sim.histogram import bin_index
from sim.vectorize import as_tuple, bin_log10, cos_sin_turns, exp, lanes, log, power

EPS = np.finfo(float).eps


@njit(error_model="numpy")
def _compiled(x, u, a, b):
    """Every elementary function in a lane loop, as the engine runs them."""
    out = np.empty((6, x.shape[0]))
    for i in lanes(x.shape[0]):
        out[0, i] = exp(x[i])
        out[1, i] = log(a[i])
        out[2, i] = bin_log10(a[i])
        out[3, i] = power(a[i], b[i])
        out[4, i], out[5, i] = cos_sin_turns(u[i])
    return out


def _inputs(n=200_000):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-745.0, 709.7, n), rng.uniform(-5.0, 5.0, n)])
    a = np.concatenate([np.exp(rng.uniform(-700.0, 700.0, n)), rng.uniform(0.0, 3.0, n)])
    return x, rng.uniform(0.0, 1.0, 2 * n), a, rng.uniform(-3.0, 3.0, 2 * n)


def _max_relative_error(approx, exact):
    normal = np.abs(exact) > np.finfo(float).tiny
    return np.max(np.abs(approx[normal] - exact[normal]) / np.abs(exact[normal]))


def test_exp_log_within_a_few_ulp_of_numpy():
    x, u, a, b = _inputs()
    out = _compiled(x, u, a, b)
    assert _max_relative_error(out[0], np.exp(x)) < 2 * EPS
    assert _max_relative_error(out[1], np.log(a)) < 3 * EPS


def test_bin_log10_within_a_hundred_thousandth_of_the_finest_bin():
    from sim.histogram import HIST_RANGE
    from sim.layout import LINEAR
    from sim.schema import EngineConfig

    x, u, a, b = _inputs()
    normal = a > np.finfo(float).tiny
    error = np.abs(_compiled(x, u, a, b)[2][normal] - np.log10(a[normal]))
    assert error.max() < 1e-10
    # the finest bins: the narrowest log range over the most bins the schema allows
    decades = min(hi - lo for s, (lo, hi) in HIST_RANGE.items() if s not in LINEAR)
    most_bins = EngineConfig.__dataclass_fields__["hist_bins"].metadata["hi"]
    assert error.max() / (decades / most_bins) < 1e-5


@njit(error_model="numpy")
def _bins_compiled(values, lower, per_unit, log_scale, n_bins):
    out = np.empty_like(values)
    for i in lanes(values.shape[0]):
        out[i] = bin_index(values[i], lower, per_unit, log_scale, n_bins)
    return out


@pytest.mark.parametrize("log_scale", [True, False])
def test_bin_index_compiled_equals_numpy_off_the_edges_and_on_special_values(log_scale):
    """The compiled bins agree with NumPy's wherever a value is not within 1e-9 of a bin
    edge, and on zero, negatives, NaN, infinities and subnormals."""
    rng = np.random.default_rng(5)
    inside = np.exp(rng.uniform(-30.0, 30.0, 100_000)) if log_scale else rng.uniform(
        -10.0, 10.0, 100_000)
    values = np.concatenate([inside, [0.0, -1.0, np.nan, np.inf, -np.inf, 5e-324, 1e-310,
                                      1e300]])
    lower, per_unit, n_bins = -8.0, 200 / 16.0, 200
    expected = bin_index(values, lower, per_unit, log_scale, n_bins)
    got = _bins_compiled(values, lower, per_unit, log_scale, n_bins)
    with np.errstate(all="ignore"):
        scaled = np.log10(np.maximum(values, 1e-300)) if log_scale else values
        position = (scaled - lower) * per_unit
        off_edge = ~(np.abs(position - np.round(position)) < 1e-9 * per_unit)
    np.testing.assert_array_equal(got[:-8][off_edge[:-8]], expected[:-8][off_edge[:-8]])
    assert off_edge[:-8].mean() > 0.999
    np.testing.assert_array_equal(got[-8:], expected[-8:])
    assert {0.0, 1.0, 2.0, n_bins + 1.0, n_bins + 2.0} <= set(got)  # every kind of slot


def test_power_error_grows_only_with_the_exponent_of_the_result():
    """a**b as exp(b log a): relative error about |b log a| ulp, as the error of b log a."""
    x, u, a, b = _inputs()
    approx = _compiled(x, u, a, b)[3]
    with np.errstate(over="ignore"):
        exact = a**b
    normal = (np.abs(exact) > np.finfo(float).tiny) & np.isfinite(exact)
    rel = np.abs(approx[normal] - exact[normal]) / exact[normal]
    bound = (np.abs(b * np.log(a))[normal] + 4.0) * EPS
    assert np.all(rel <= bound)
    # in the model's range (|b log a| < 20) that is within 24 ulp
    model_range = normal & (np.abs(b * np.log(a)) < 20.0)
    assert _max_relative_error(approx[model_range], exact[model_range]) < 24 * EPS


def test_cos_sin_of_turns_within_rounding_of_numpy():
    x, u, a, b = _inputs()
    out = _compiled(x, u, a, b)
    np.testing.assert_allclose(out[4], np.cos(2 * np.pi * u), rtol=0, atol=4 * EPS)
    np.testing.assert_allclose(out[5], np.sin(2 * np.pi * u), rtol=0, atol=4 * EPS)
    # exact at the quadrant boundaries, where the angle is taken from u itself
    edges = _compiled(np.zeros(5), np.array([0.0, 0.25, 0.5, 0.75, 1.0]), np.ones(5),
                      np.ones(5))
    np.testing.assert_array_equal(edges[4], [1.0, 0.0, -1.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.abs(edges[5]), [0.0, 1.0, 0.0, 1.0, 0.0])


def test_special_values_follow_ieee_like_numpy():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 709.78, 710.0, -745.2, -740.0])
    a = np.array([np.nan, np.inf, 0.0, -1.0, 5e-324, 1e-310, 1.0, 2.0])
    b = np.array([2.0, 2.0, 2.0, 0.5, 0.5, 0.5, 3.0, -1.0])  # power: for a >= 0
    out = _compiled(x, np.full(8, 0.5), a, b)
    with np.errstate(all="ignore"):
        expected = [np.exp(x), np.log(a), a**b]
    for got, want in zip(out[[0, 1, 3]], expected, strict=True):
        finite = np.isfinite(want)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(got[~finite & ~np.isnan(want)],
                                      want[~finite & ~np.isnan(want)])
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-13, atol=0)


def test_lanes_is_one_slice_in_python_and_every_lane_compiled():
    assert list(lanes(7)) == [slice(None)]

    @njit
    def visited(n):
        total = 0
        for i in lanes(n):
            total += i + 1
        return total

    assert visited(5) == 15


@pytest.mark.parametrize("n", [1, 3, 85])
def test_as_tuple_takes_the_head_of_an_array(n):
    a = np.arange(100.0) * 1.5

    @njit
    def head_sum(a):
        t = as_tuple(a, n)
        return len(t), t[0], t[-1]

    assert as_tuple(a, n) == tuple(a[:n])
    assert head_sum(a) == (n, a[0], a[n - 1])


def test_the_model_fuses_a_product_and_a_sum_into_one_rounding_where_the_cpu_can():
    """margin_step = floor + (margin - floor) * retention: with (margin - floor) = 1 + 2**-30
    and retention = 1 - 2**-30 the product is 1 - 2**-60, which rounds to 1 on its own; a
    multiply-add adds floor = -1 before rounding and keeps the -2**-60."""
    import llvmlite.binding as llvm

    from sim.equations import margin_step

    margin, floor, retention = 2.0**-30, -1.0, 1.0 - 2.0**-30
    assert margin_step(margin, floor, retention) == 0.0  # NumPy: two roundings
    fused = njit(lambda m, f, r: margin_step(m, f, r))(margin, floor, retention)
    has_fma = llvm.get_host_cpu_features().get("fma", False)
    assert fused == (-(2.0**-60) if has_fma else 0.0)
