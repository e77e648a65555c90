"""Priors drawn per path in the engine (issue 12, item 2): each path runs exactly as the
config with its draws as point values would, compiled and in NumPy alike, whatever the
threads, chunks or shards; the draws are saved per path in results.nc."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from conftest import run_cli, run_small, schema
from sim.engine import simulate
from sim.params import model_vector, run_settings
from sim.sensitivity import path_outcomes, run_outcomes, shared_draw_groups, variance_split

PRIORS = ("scenario=dotcom_crash", "priors=dotcom_crash")
COMPARED = ("max_drawdown", "terminal_index", "capex_max_drawdown", "rental_price_max_drawdown",
            "min_lab_runway", "default_month", "sector_max_drawdown")


def test_the_engine_agrees_with_the_numpy_reference_with_priors():
    compiled = run_small(*PRIORS, n_paths=96)
    numpy = run_small(*PRIORS, n_paths=96, backend="numpy")
    np.testing.assert_array_equal(compiled.per_path["parameter_value"],
                                  numpy.per_path["parameter_value"])
    for name in COMPARED:
        np.testing.assert_allclose(compiled.per_path[name], numpy.per_path[name], rtol=1e-9,
                                   err_msg=name)
    # the draws matter: the paths differ far more than the shock noise alone makes them
    fixed = run_small("scenario=dotcom_crash", n_paths=96)
    assert np.std(compiled.per_path["terminal_index"]) > 2 * np.std(
        fixed.per_path["terminal_index"])


@pytest.mark.parametrize("path", [0, 37, 63])
def test_each_path_runs_as_the_config_with_its_draws_as_point_values(path):
    """Path i of a run with priors equals path i of a run without priors whose config sets
    path i's draws as point values (the same random stream, the start derived again), to
    rounding: compiled for one set of values, LLVM computes some terms once per run rather
    than per path, in another order."""
    drawn = run_small(*PRIORS, n_paths=64)
    fixed = _point_run(drawn.per_path["parameter_value"][path], path + 1)
    for name in COMPARED:
        np.testing.assert_allclose(fixed.per_path[name][path], drawn.per_path[name][path],
                                   rtol=1e-9, err_msg=name)


def test_runs_with_priors_do_not_depend_on_threads_chunks_or_shards():
    one = run_small(*PRIORS, n_paths=1500, threads=1)
    other = run_small(*PRIORS, n_paths=1500, threads=2, chunk_size=400)
    shards = [run_small(*PRIORS, n_paths=1500, num_shards=3, shard_index=k)
              for k in range(3)]
    np.testing.assert_array_equal(one.hist, other.hist)
    for name, values in one.per_path.items():
        np.testing.assert_array_equal(values, other.per_path[name], err_msg=name)
        np.testing.assert_array_equal(
            values, np.concatenate([s.per_path[name] for s in shards]), err_msg=name)
    np.testing.assert_array_equal(one.hist, sum(s.hist for s in shards))


def test_replicated_paths_share_their_parameters_and_differ_in_shocks():
    run = run_small(*PRIORS, "engine.prior_replicates=4", n_paths=64)
    draws = run.per_path["parameter_value"].reshape(16, 4, -1)
    assert (draws == draws[:, :1]).all()
    mdd = run.per_path["terminal_index"].reshape(16, 4)
    assert (mdd.std(axis=1) > 0).all()


def _split(raw, outcome):
    """The variance split of ``outcome`` over the paths of ``raw`` that share their draws."""
    groups = shared_draw_groups(raw.first_path, raw.n_paths, raw.prior_replicates,
                                raw.design_period)
    values = path_outcomes(raw.per_path, raw.horizon)[outcome][0]
    return variance_split(values[groups].ravel(), groups.shape[1])


def test_the_groups_of_the_split_share_their_draws_and_not_their_shocks():
    for overrides, size in [((), 2), (("engine.prior_replicates=3",), 3),
                            (("engine.prior_sampling=saltelli",), 2)]:
        run = run_small(*PRIORS, *overrides, n_paths=90)
        groups = shared_draw_groups(run.first_path, run.n_paths, run.prior_replicates,
                                    run.design_period)
        assert groups.shape[1] == size and len(groups) >= 2, overrides
        draws = run.per_path["parameter_value"][groups]
        assert (draws == draws[:, :1]).all(), overrides
        index = run.per_path["terminal_index"][groups]
        assert (index.std(axis=1) > 0).all(), overrides


def test_the_spread_from_parameters_is_nil_for_a_point_like_prior_and_most_for_wide_ones():
    """Limiting cases of the law of total variance: a prior whose range is a millionth wide
    explains nothing of the max drawdown's spread; the dot-com priors explain most of it
    (measured: 0.8 with these 4,000 paths)."""
    narrow = run_small("scenario=dotcom_crash", "+priors.e={key: model.demand.elasticity, "
                       "dist: uniform, low: 0.9, high: 0.900001}", n_paths=4000)
    split = _split(narrow, "max_drawdown")
    assert split["parameter_share"] < 3 * split["parameter_share_se"] + 0.01
    wide = _split(run_small(*PRIORS, n_paths=4000), "max_drawdown")
    assert wide["parameter_share"] - 3 * wide["parameter_share_se"] > 0.5


def test_results_nc_holds_each_paths_draws_with_units(tmp_path):
    out = tmp_path / "run"
    result = run_cli(*PRIORS, "engine.n_paths=300", f"hydra.run.dir={out}", "output.quiet=true")
    assert result.returncode == 0, result.stderr
    assert "| spread from parameters |" in (out / "summary.md").read_text()
    with xr.open_dataset(out / "results.nc") as ds:
        share = ds["headline_parameter_share"].sel(figure="median_max_drawdown")
        values = run_outcomes(ds)["max_drawdown"][0]
        assert float(share) == pytest.approx(
            variance_split(values, 2)["parameter_share"], rel=1e-12)
        assert np.isnan(ds["headline_parameter_share"].sel(figure="peak_median_circularity"))
        values = ds["parameter_value"]
        assert values.dims == ("path", "parameter")
        cfg = schema(*PRIORS)
        priors = run_settings(cfg).priors
        assert list(ds["parameter"].values) == [p.name for p in priors.priors]
        assert list(ds["parameter_key"].values) == [p.key for p in priors.priors]
        assert list(ds["parameter_units"].values) == [p.unit for p in priors.priors]
        np.testing.assert_array_equal(values.values, priors.values(0, 300).T)


SALTELLI = (*PRIORS, "engine.prior_sampling=saltelli")


def _point_run(values, n_paths):
    """A run without priors whose config sets ``values`` (one per prior) as point values."""
    priors = run_settings(schema(*PRIORS)).priors.priors
    point = schema("scenario=dotcom_crash", *(f"{prior.key}={float(v)!r}" for prior, v in
                                              zip(priors, values, strict=True)))
    return simulate(model_vector(point), replace(run_settings(point), n_paths=n_paths,
                                                 quiet=True))


def test_a_saltelli_run_is_the_design_with_its_rows_sharing_shocks_as_designed():
    """Rows of a base point: A, AB_1 .. AB_k (A with one column of B), AB_shocks (A's
    parameters, B's shocks), B. Each row runs as the point-value config on the stream the
    design gives it: A's rows on stream 2j, AB_shocks and B on 2j + 1."""
    k = len(run_settings(schema(*PRIORS)).priors.priors)
    period = k + 3
    run = run_small(*SALTELLI, n_paths=2 * period)
    numpy = run_small(*SALTELLI, n_paths=2 * period, backend="numpy")
    draws = run.per_path["parameter_value"].reshape(2, period, k)
    a, b = draws[:, 0], draws[:, -1]
    for i in range(k):
        expected = a.copy()
        expected[:, i] = b[:, i]
        np.testing.assert_array_equal(draws[:, 1 + i], expected)
    np.testing.assert_array_equal(draws[:, k + 1], a)
    assert (a != b).all()
    for name in COMPARED:
        np.testing.assert_allclose(run.per_path[name], numpy.per_path[name], rtol=1e-9,
                                   err_msg=name)
    for row, stream in [(period, 2), (period + k + 1, 3), (2 * period - 1, 3)]:
        fixed = _point_run(run.per_path["parameter_value"][row], stream + 1)
        for name in COMPARED:
            np.testing.assert_allclose(fixed.per_path[name][stream], run.per_path[name][row],
                                       rtol=1e-9, err_msg=f"{name}, row {row}")
    # A and AB_shocks share parameters, not shocks: their paths differ
    assert run.per_path["terminal_index"][period] != run.per_path["terminal_index"][period + k + 1]


def test_a_saltelli_design_shares_draws_by_its_own_rule_not_by_replicates():
    assert run_settings(schema(*SALTELLI, "engine.prior_replicates=4")).priors.replicates == 1
