"""Priors (issue 12, item 1): the config group, validation and each distribution's inverse
CDF, checked against scipy.stats's own distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from conftest import CONF, SCENARIOS, run_cli, schema
from sim.priors import (
    Prior,
    check_prior,
    check_priors,
    draw,
    prior_uniforms,
    quantile,
    varying_keys,
)
from sim.schema import ConfigError, PriorConfig

U = (np.arange(2000) + 0.5) / 2000  # a grid of probabilities


def prior(**spec) -> Prior:
    return check_prior("p", PriorConfig(**spec))


# what each shipped prior file is for (the others go with the scenario of their name)
PRIOR_RUNS = {"wide": ("scenario=soft_landing",),
              "telecom_1995": ("start=1995q1", "scenario=telecom_1995"),
              "calibrated_2023_2026": ("scenario=soft_landing",)}


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "priors").glob("*.yaml")))
def test_every_shipped_prior_file_composes_and_validates(name):
    cfg = schema(*PRIOR_RUNS.get(name, (f"scenario={name}",)), f"priors={name}")
    checked = check_priors(cfg.priors)
    assert len(checked) >= 10
    keys = varying_keys()
    for p in checked:
        values = quantile(p, U)
        meta = keys[p.key].metadata
        assert meta["lo"] <= values.min() and values.max() <= meta["hi"]


def test_scenario_priors_inherit_the_wide_ones_and_centre_on_the_scenario():
    wide, dotcom = schema("priors=wide").priors, schema("priors=dotcom_crash").priors
    assert set(wide) == set(dotcom)
    assert dotcom["elasticity"]["median"] == 0.9 and wide["elasticity"]["median"] == 1.2
    assert dotcom["recovery_rate"] == wide["recovery_rate"]


def test_a_prior_composes_from_the_command_line():
    cfg = schema("+priors.e={key:model.demand.elasticity,dist:uniform,low:0.8,high:1.4}")
    (p,) = check_priors(cfg.priors)
    assert (p.key, p.dist, p.lo, p.hi) == ("model.demand.elasticity", "uniform", 0.8, 1.4)
    cfg = schema("priors=wide", "priors.elasticity.high=2.5")
    assert cfg.priors["elasticity"]["high"] == 2.5
    with pytest.raises(ConfigError, match="priors.elasticity.hihg is not a field"):
        schema("priors=wide", "+priors.elasticity.hihg=2.5")


@pytest.mark.parametrize("spec, needle", [
    (dict(key="model.demand.elasticty", dist="uniform", low=0.8, high=1.4), "elasticty"),
    (dict(key="model.horizon_months", dist="choice", values=[60, 120]), "horizon_months"),
    (dict(key="start.labs.cash", dist="uniform", low=0.0, high=1.0), "start.labs.cash"),
    (dict(key="model.demand.elasticity", dist="gamma", low=0.8, high=1.4), "gamma"),
    (dict(key="model.demand.elasticity", dist="uniform", low=0.8), "high is missing"),
    (dict(key="model.demand.elasticity", dist="uniform", low=0.8, high=1.4, sd=0.1),
     "sd does not belong"),
    (dict(key="model.demand.elasticity", dist="uniform", low=0.8, high=11.0), "(0, 10]"),
    (dict(key="model.demand.elasticity", dist="uniform", low=1.4, high=0.8), "below high"),
    (dict(key="model.demand.elasticity", dist="normal", mean=1.0, sd=0.0), "sd = 0"),
    (dict(key="model.demand.elasticity", dist="normal", mean=50.0, sd=1.0),
     "no probability"),
    (dict(key="model.demand.elasticity", dist="lognormal", median=-1.0, sigma=0.2),
     "median"),
    (dict(key="model.finance.gate_center", dist="loguniform", low=-1.0, high=1.0),
     "above 0"),
    (dict(key="model.demand.elasticity", dist="triangular", low=0.8, mode=2.0, high=1.4),
     "mode"),
    (dict(key="model.demand.elasticity", dist="beta", a=2.0, b=-1.0, low=0.5, high=2.0),
     "b = -1"),
    (dict(key="model.sentiment.break_months", dist="uniform", low=3.0, high=9.0),
     "whole numbers"),
    (dict(key="model.sentiment.break_months", dist="choice", values=[3, 4.5]),
     "not an integer"),
    (dict(key="model.sentiment.break_months", dist="choice", values=[0, 4]), "values[0]"),
    (dict(key="model.demand.elasticity", dist="choice", values=[1.0, 1.2], weights=[1.0]),
     "weights"),
])
def test_a_bad_prior_names_its_key_and_what_is_allowed(spec, needle):
    with pytest.raises(ConfigError) as error:
        prior(**spec)
    assert needle in str(error.value) and "priors.p" in str(error.value)


def test_two_priors_on_one_key_are_an_error():
    spec = dict(key="model.demand.elasticity", dist="uniform", low=0.8, high=1.4)
    with pytest.raises(ConfigError, match="both vary model.demand.elasticity"):
        check_priors({"a": PriorConfig(**spec), "b": PriorConfig(**spec)})


def test_bad_priors_on_the_command_line_are_one_line_and_exit_2(tmp_path):
    for args, needle in (
            (["+priors.x={key:model.demand.elasticity,dist:uniform,low:0.8,high:20}"],
             "priors.x.high"),
            (["priors=wide", "priors.elasticity.dist=gamma"], "gamma"),
            (["priors=wide", "priors.elasticity.hihg=2"], "did you mean high"),
            (["priors=no_such_priors"], "no_such_priors"),
            # the engine keeps one copy of the jump probabilities for all paths
            (["+priors.j={key:model.efficiency.jump_rate,dist:uniform,low:0.5,high:2}"],
             "priors.j: model.efficiency.jump_rate moves the Poisson probabilities"),
            # the build lag sizes the state
            (["+priors.lag={key:start.compute.build_lag,dist:choice,values:[4,6]}"],
             "priors.lag.key = 'start.compute.build_lag' is not a number a prior can vary")):
        result = run_cli(*args, f"hydra.run.dir={tmp_path / 'run'}", "output.quiet=true")
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
        assert needle in result.stderr
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("spec, reference", [
    (dict(dist="uniform", low=0.8, high=1.4), stats.uniform(0.8, 0.6)),
    (dict(dist="loguniform", low=0.5, high=2.0), stats.loguniform(0.5, 2.0)),
    (dict(dist="normal", mean=1.0, sd=0.5, low=0.5, high=2.0),
     stats.truncnorm(-1.0, 2.0, loc=1.0, scale=0.5)),
    # the key's range (0, 10] truncates it when no bounds are given
    (dict(dist="normal", mean=1.0, sd=0.5), stats.truncnorm(-2.0, 18.0, loc=1.0, scale=0.5)),
    (dict(dist="lognormal", median=1.2, sigma=0.3, high=2.0),
     stats.lognorm(0.3, scale=1.2)),  # truncated below at 0 only by its support
    (dict(dist="triangular", low=0.5, mode=1.0, high=2.0),
     stats.triang(1 / 3, loc=0.5, scale=1.5)),
    (dict(dist="beta", a=4.0, b=6.0, low=0.5, high=1.5), stats.beta(4.0, 6.0, loc=0.5)),
])
def test_each_distribution_is_its_scipy_counterpart(spec, reference):
    p = prior(key="model.demand.elasticity", **spec)
    values = quantile(p, U)
    if spec["dist"] == "lognormal":  # truncated above at 2.0: renormalise scipy's
        top = reference.cdf(2.0)
        expected = reference.ppf(U * top)
    else:
        expected = reference.ppf(U)
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(values) >= 0.0)


def test_a_choice_takes_each_value_with_its_weight():
    p = prior(key="model.sentiment.break_months", dist="choice", values=[3, 6, 12],
              weights=[1.0, 2.0, 1.0])
    values = quantile(p, U)
    shares = [np.mean(values == v) for v in (3, 6, 12)]
    np.testing.assert_allclose(shares, [0.25, 0.5, 0.25], atol=1 / len(U))
    equal = quantile(prior(key="model.sentiment.break_months", dist="choice",
                           values=[3, 6]), U)
    assert np.mean(equal == 3) == 0.5


@pytest.mark.parametrize("sampling", ["random", "sobol"])
def test_a_paths_draw_depends_on_its_index_only(sampling):
    priors = check_priors(schema("priors=wide").priors)
    whole = draw(priors, 7, 0, 1000, sampling)
    split = np.hstack([draw(priors, 7, 0, 389, sampling), draw(priors, 7, 389, 611, sampling)])
    np.testing.assert_array_equal(whole, split)
    assert not np.array_equal(whole, draw(priors, 8, 0, 1000, sampling))


def test_random_draws_follow_each_prior_and_are_independent():
    priors = check_priors(schema("priors=wide").priors)
    n = 20_000
    values = draw(priors, 3, 0, n)
    for k, p in enumerate(priors):
        # the draws' CDF at the prior's quantiles: a uniform sample's KS distance is
        # about 1/sqrt(n); 2/sqrt(n) is exceeded with probability ~7e-4 (fixed seed)
        grid = quantile(p, U)
        ecdf = np.searchsorted(np.sort(values[k]), grid, side="right") / n
        assert np.max(np.abs(ecdf - U)) < 2.0 / np.sqrt(n), p.name
    u = prior_uniforms(len(priors), 3, 0, n)
    corr = np.corrcoef(u)[np.triu_indices(len(priors), 1)]
    assert np.max(np.abs(corr)) < 4.5 / np.sqrt(n)  # SE 1/sqrt(n); 55 pairs


def test_sobol_points_fill_the_cube_more_evenly_than_random_ones():
    n = 4096
    sobol, random = prior_uniforms(3, 5, 0, n, "sobol"), prior_uniforms(3, 5, 0, n)
    # the mean of a uniform: error ~1/n for Sobol' points, ~0.29/sqrt(n) for random ones
    assert np.max(np.abs(sobol.mean(axis=1) - 0.5)) < 0.5 / np.sqrt(n) / 4
    assert np.max(np.abs(random.mean(axis=1) - 0.5)) < 4 * 0.29 / np.sqrt(n)
    with pytest.raises(ConfigError, match="sampling"):
        prior_uniforms(3, 5, 0, n, "latin")


def test_the_docs_table_of_the_wide_priors_is_what_they_draw():
    from conftest import ROOT

    rows = {}
    for line in (ROOT / "docs" / "priors.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and "/" in cells[3]:
            rows[cells[0].strip("`")] = (cells[1].strip("`"), cells[3])
    priors = check_priors(schema("priors=wide").priors)
    assert set(rows) == {p.name for p in priors}
    for p in priors:
        key, documented = rows[p.name]
        assert key == p.key
        expected = quantile(p, np.array([0.05, 0.5, 0.95]))
        np.testing.assert_allclose([float(v) for v in documented.split("/")], expected,
                                   rtol=0.02, atol=0.006, err_msg=p.name)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_varying_slots_hold_every_slot_a_draw_moves(scenario):
    """The per-path parameters are the slots varying_slots names: brute force over random
    joint draws of the scenario's priors moves no other slot, and each named slot moves."""
    from sim import layout
    from sim.params import model_vector, varying_slots, with_draw

    cfg = schema(f"scenario={scenario}", f"priors={scenario}")
    slots = varying_slots(cfg)
    priors = check_priors(cfg.priors)
    base = [layout.param(prior.key) for prior in priors]
    p = model_vector(cfg)
    values = draw(priors, seed=7, first=0, n=200)
    moved = np.zeros(p.size, dtype=bool)
    for i in range(values.shape[1]):
        moved |= with_draw(p, base, values[:, i]) != p
    assert set(np.flatnonzero(moved)) == set(slots)
    assert len(slots) > len(base)  # the derived start moves with the draws too


def test_a_prior_that_would_break_the_start_is_refused_with_one_line(tmp_path):
    """Above a wait of about 23 months the start's order book cannot be powered: a prior
    reaching there is a config error naming the prior, its end and the start's check."""
    result = run_cli("+priors.queue={key: model.power.queue_months, dist: uniform, low: 12, "
                     "high: 36}", "engine.n_paths=10", f"hydra.run.dir={tmp_path}/run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "priors.queue: at its upper end (model.power.queue_months = 36)" in lines[0]
    assert "start.compute.capex" in lines[0] and "narrow the prior" in lines[0]
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.parametrize("sampling", ["random", "sobol"])
def test_replicated_paths_share_a_draw_whatever_the_shard(sampling):
    from sim.params import path_draws

    cfg = schema("priors=wide", "engine.prior_replicates=3",
                 f"engine.prior_sampling={sampling}")
    draws = path_draws(cfg).values(0, 30)
    groups = draws.reshape(draws.shape[0], 10, 3)
    assert (groups == groups[:, :, :1]).all()  # three paths per draw ...
    assert len(np.unique(groups[0, :, 0])) == 10  # ... and ten different draws
    # a shard or chunk that starts and ends inside groups
    np.testing.assert_array_equal(path_draws(cfg).values(4, 11), draws[:, 4:15])
