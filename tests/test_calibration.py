"""Calibration against data (issue 13, item 1): the engine records each target's observable
at the data's months, the statistics are those of the data computed alike, ABC keeps the
paths that match, and the posterior comes back as priors that bubblesim accepts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import CALIBRATE, run_cli, schema
from sim import calibration, layout
from sim.engine import simulate
from sim.params import model_vector, run_settings
from sim.priors import check_priors, draw
from sim.schema import ConfigError, TargetConfig
from sim.targets import check_target, check_targets, snapshots, statistic

LEARNED = "+priors.growth={key:model.efficiency.growth,dist:uniform,low:0.3,high:1.2}"
IDLE = "+priors.recovery={key:model.contagion.recovery_rate,dist:uniform,low:0.1,high:0.9}"
MONTHS = ("2026-01", "2026-07", "2027-01", "2027-07", "2028-01")
# efficiency without its shocks: the token price's slope then nearly pins its growth
QUIET = ("scenario=soft_landing", "model.efficiency.volatility=0.02",
         "model.efficiency.jump_rate=0")


def _settings(cfg, n_paths, **kw):
    return replace(run_settings(cfg), n_paths=n_paths, chunk_size=n_paths, quiet=True, **kw)


def test_snapshots_are_the_observables_at_their_months():
    """What the engine records for a target equals the same path's trajectory (kept by a
    separate mechanism) at those months."""
    cfg = schema("scenario=dotcom_crash", "priors=wide", "model.horizon_months=30")
    pairs = ((layout.O_TOKEN_PRICE, 0), (layout.O_TOKENS, 7), (layout.O_CAPEX_TTM, 30),
             (layout.O_RENTAL_PRICE, 7))
    raw = simulate(model_vector(cfg), _settings(cfg, 300, sample_paths=300, snapshots=pairs))
    for k, (obs, month) in enumerate(pairs):
        np.testing.assert_array_equal(raw.snapshots[:, k], raw.trajectories[:, month, obs])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_subset_of_paths_reruns_exactly_as_in_the_full_run(backend):
    """Paths given by index (the ones a calibration kept) get the draws, shocks, outputs and
    recorded values they had in the whole run, compiled and in NumPy."""
    cfg = schema("scenario=dotcom_crash", "priors=wide", "model.horizon_months=40")
    pairs = ((layout.O_INDEX, 40), (layout.O_SPEND, 13))
    p = model_vector(cfg)
    full = simulate(p, _settings(cfg, 700, snapshots=pairs))
    ids = np.array([3, 4, 5, 256, 511, 512, 699])
    subset = simulate(p, _settings(cfg, 700, snapshots=pairs, path_ids=ids), backend=backend)
    np.testing.assert_array_equal(subset.per_path["parameter_value"],
                                  full.per_path["parameter_value"][ids])
    for name in ("max_drawdown", "terminal_index", "default_month", "min_lab_runway"):
        np.testing.assert_allclose(subset.per_path[name], full.per_path[name][ids],
                                   rtol=1e-9, err_msg=name)
    np.testing.assert_allclose(subset.snapshots, full.snapshots[ids], rtol=1e-9)
    assert subset.n_paths == len(ids)


def test_statistics_by_hand():
    months = np.array([0, 6, 18, 30])
    rate = -1.7  # per year
    values = 40.0 * np.exp(rate * months / 12.0)
    assert statistic("log_slope", months, values[None])[0] == pytest.approx(rate, rel=1e-12)
    assert statistic("log_ratio", months, values[None])[0] == pytest.approx(rate * 2.5)
    noisy = values * np.array([1.0, 1.5, 0.7, 1.0])
    # the least-squares slope of ln(value) on years, as numpy fits it
    fitted = np.polyfit(months / 12.0, np.log(noisy), 1)[0]
    assert statistic("log_slope", months, noisy[None])[0] == pytest.approx(fitted)
    assert np.isnan(statistic("log_slope", months, np.array([[1.0, 0.0, 2.0, 3.0]]))[0])


def _target(cfg, **fields):
    spec = {"observable": "token_price", "statistic": "log_slope", "scale": 0.3,
            "tolerance": 0.6, "observed": {"2026-01": 1.0, "2027-01": 0.4}, **fields}
    return check_target(cfg, "price", TargetConfig(**spec))


@pytest.mark.parametrize("fields, message", [
    ({"observable": "gdp"}, "targets.price.observable = 'gdp' is not a series; allowed:"),
    ({"statistic": "mean"}, "targets.price.statistic = 'mean'; allowed: log_slope, log_ratio"),
    ({"observed": {"2026-01": 1.0}}, "targets.price.observed has 1 values; allowed: at least 2"),
    ({"observed": {"2025-06": 1.0, "2027-01": 2.0}}, "targets.price.observed: 2025-06 is "
     "outside the run; allowed: months from start.date (2026-01) to 2036-01"),
    ({"observed": {"2026-01": 1.0, "2027-01": -2.0}}, "every value must be a number > 0"),
    ({"observed": {"2026-01": 1.0, "Jan 2027": 2.0}}, "'Jan 2027' is not a month"),
    ({"scale": None}, "targets.price.scale is missing"),
])
def test_bad_targets_are_one_clear_line(fields, message):
    with pytest.raises(ConfigError, match=None) as err:
        _target(schema(), **fields)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_no_targets_is_an_error():
    with pytest.raises(ConfigError, match="targets is empty; allowed: targets=NAME"):
        check_targets(schema())


def _truth_targets(cfg, truth_growth: float):
    """Targets whose data are one path of the model with efficiency growth ``truth_growth``
    (another seed than the calibration's): the token price and the tokens every 6 months."""
    point = schema(*QUIET, f"model.efficiency.growth={truth_growth}")
    base = [check_target(cfg, name, TargetConfig(
        observable=name, statistic="log_slope", scale=scale, tolerance=3 * scale,
        observed={m: 1.0 for m in MONTHS})) for name, scale in
        (("token_price", 0.15), ("tokens", 0.3))]
    raw = simulate(model_vector(point), _settings(point, 1, seed=99,
                                                  snapshots=snapshots(base)))
    values = raw.snapshots[0]
    out, column = [], 0
    for target in base:
        n = len(target.months)
        out.append(replace(target, values=values[column:column + n]))
        column += n
    return out


def test_calibration_learns_a_parameter_the_data_inform_and_not_one_they_do_not():
    """Data from a path with efficiency growth 1.0 (its shocks nearly off): the posterior of
    the growth (uniform 0.3-1.2 a priori) narrows around it; the recovery rate after
    defaults, which cannot move prices or tokens in two years of soft landing, keeps its
    prior."""
    cfg = schema(*QUIET, LEARNED, IDLE, "engine.prior_replicates=1")
    targets = _truth_targets(cfg, 1.0)
    window = calibration.window_settings(_settings(cfg, 20_000), targets, 24)
    sims = calibration.simulate_statistics(model_vector(cfg), window, targets)
    post = calibration.posterior(sims, targets, window.priors.priors, accept=0.2, adjust=True)
    names = [p.name for p in window.priors.priors]
    growth, recovery = names.index("growth"), names.index("recovery")
    prior_sd = 0.9 / np.sqrt(12)
    assert post.std()[growth] < 0.15 * prior_sd
    # the data are one noisy path: the posterior centres near the truth, not on it
    assert abs(post.mean()[growth] - 1.0) < 3 * post.std()[growth] + 0.02
    # an uninformed parameter: its posterior sd is the prior's within sampling error
    recovery_sd = 0.8 / np.sqrt(12)
    assert abs(post.std()[recovery] / recovery_sd - 1.0) < 0.15
    assert 0.0 < post.acceptance_rate <= 0.2 + 1e-9
    assert post.effective_sample_size > 1000
    # the adjusted draws stay inside the priors' bounds
    assert (post.theta[:, growth] >= 0.3).all() and (post.theta[:, growth] <= 1.2).all()


def test_too_few_paths_within_tolerance_names_the_strictest_target():
    cfg = schema("scenario=soft_landing", LEARNED, "engine.prior_replicates=1")
    target = _target(cfg, tolerance=1e-6, observed={"2026-01": 1.0, "2027-01": 1e-6})
    window = calibration.window_settings(_settings(cfg, 500), [target], 12)
    sims = calibration.simulate_statistics(model_vector(cfg), window, [target])
    with pytest.raises(ConfigError, match=r"0 of 500 paths lie within every target's "
                       r"tolerance; targets.price.tolerance = 1e-06 admits the fewest"):
        calibration.posterior(sims, [target], window.priors.priors, 1.0, True)


def test_empirical_priors_draw_rows_jointly():
    rows = np.array([[0.5, 0.1], [0.9, 0.2], [1.5, 0.3]])
    priors = check_priors({
        "a": {"key": "model.demand.elasticity", "dist": "empirical",
              "values": rows[:, 0].tolist()},
        "b": {"key": "model.cost.volatility", "dist": "empirical",
              "values": rows[:, 1].tolist()}})
    drawn = draw(priors, seed=3, first=0, n=3000).T
    assert {tuple(r) for r in drawn} == {tuple(r) for r in rows}
    counts = np.array([(drawn[:, 0] == v).sum() for v in rows[:, 0]])
    assert abs(counts - 1000).max() < 4 * np.sqrt(3000 * (1 / 3) * (2 / 3))
    with pytest.raises(ConfigError, match="the empirical priors have \\[2, 3\\] values"):
        check_priors({"a": {"key": "model.demand.elasticity", "dist": "empirical",
                            "values": [1.0, 2.0]},
                      "b": {"key": "model.cost.volatility", "dist": "empirical",
                            "values": [0.1, 0.2, 0.3]}})
    with pytest.raises(ConfigError, match="empirical priors are drawn jointly"):
        run_settings(schema("+priors.a={key:model.demand.elasticity,dist:empirical,"
                            "values:[1.0,2.0]}", "engine.prior_sampling=saltelli"))


def _write_targets(tmp_path, **overrides):
    spec = {"observable": "token_price", "statistic": "log_slope", "scale": 0.3,
            "tolerance": 0.8, "observed": {"2026-01": 1.06, "2027-01": 0.45, "2028-01": 0.2}}
    spec.update(overrides)
    (tmp_path / "targets").mkdir(exist_ok=True)
    (tmp_path / "targets" / "synthetic.yaml").write_text(
        "# @package _global_\n" + yaml.safe_dump({"targets_name": "synthetic",
                                                  "targets": {"price": spec}}))
    return f"hydra.searchpath=[file://{tmp_path}]"


def test_bubblesim_calibrate_writes_the_posterior_and_bubblesim_runs_from_it(tmp_path):
    search = _write_targets(tmp_path)
    run = tmp_path / "cal"
    args = ("start=2026q1", "targets=synthetic", search, "~priors", LEARNED,
            "engine.n_paths=4000", f"hydra.run.dir={run}", "output.quiet=true")
    done = run_cli(*args, command=CALIBRATE)
    assert done.returncode == 0, done.stderr
    for name in ("posterior.nc", "calibration.md", "priors/posterior.yaml",
                 "plots/posterior_pairs.png", "plots/posterior_predictive.png"):
        assert (run / name).is_file(), name
    ds = xr.load_dataset(run / "posterior.nc")
    assert ds.attrs["accepted"] == ds.sizes["draw"] > 0
    assert 0 < ds.attrs["acceptance_rate"] <= 1
    assert "growth" in ds["parameter"].values
    assert abs(ds["weight"].sum() - 1.0) < 1e-12
    # the same config again: skipped, nothing rewritten
    stamp = (run / "posterior.nc").stat().st_mtime_ns
    again = run_cli(*args, command=CALIBRATE)
    assert again.returncode == 0 and "already calibrated" in again.stderr
    assert (run / "posterior.nc").stat().st_mtime_ns == stamp
    # bubblesim draws its priors from the posterior, row by row
    forecast = tmp_path / "forecast"
    done = run_cli("priors=posterior", f"hydra.searchpath=[file://{run}]",
                   "engine.n_paths=200", f"hydra.run.dir={forecast}", "output.quiet=true")
    assert done.returncode == 0, done.stderr
    drawn = xr.load_dataset(forecast / "results.nc")["parameter_value"]
    saved = yaml.safe_load((run / "priors" / "posterior.yaml").read_text())
    rows = {tuple(saved[name]["values"][i] for name in drawn["parameter"].values)
            for i in range(len(saved["growth"]["values"]))}
    assert {tuple(r) for r in drawn.values.tolist()} <= rows


@pytest.mark.parametrize("args, message", [
    (("targets=nonsense",), "targets=nonsense: no such targets"),
    (("targets.price.scales=1",), "targets.price.scales: a target has no key scales"),
    (("~priors",), "priors is empty; a calibration learns the parameters"),
    (("calibration.accept=1.5",), "calibration.accept = 1.5 is out of range"),
    # two kept paths, one of them at the tolerance (weight 0): one draw for two coefficients
    (("calibration.accept=0.001",), "cannot determine the regression adjustment's intercept"),
])
def test_bubblesim_calibrate_bad_input_is_one_line(tmp_path, args, message):
    search = _write_targets(tmp_path)
    done = run_cli("start=2026q1", "targets=synthetic", search, "engine.n_paths=100",
                   f"hydra.run.dir={tmp_path / 'cal'}", *args, command=CALIBRATE)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "cal").exists()


def test_a_small_effective_sample_is_a_warning_in_calibration_md():
    """Under calibration.LOW_ESS the summary and bubblesim-calibrate warn; above, nothing."""
    ds = xr.Dataset(
        {name: ("target", []) for name in ("target_observable", "target_statistic",
                                           "observed", "within_tolerance", "predictive_below")}
        | {"prior_statistic_quantile": (("target", "q5"), np.empty((0, 5))),
           "predictive_quantile": (("target", "q3"), np.empty((0, 3))),
           "parameter_key": ("parameter", []),
           "prior_quantile": (("parameter", "quantile"), np.empty((0, 5))),
           "posterior_quantile": (("parameter", "quantile"), np.empty((0, 5))),
           "posterior_mean": ("parameter", []), "posterior_sd": ("parameter", []),
           "prior_low": ("parameter", []), "prior_high": ("parameter", []),
           "posterior_correlation": (("parameter", "parameter2"), np.empty((0, 0)))},
        coords={"target": [], "parameter": [], "quantile": [0.05, 0.25, 0.5, 0.75, 0.95]},
        attrs={"accepted": 40, "n_simulations": 1000, "acceptance_rate": 0.04,
               "effective_sample_size": 31.4, "tolerance_distance": 1.0})
    assert "**Warning:** effective sample size 31 (under 100)" in calibration.summary(ds)
    ds.attrs["effective_sample_size"] = calibration.LOW_ESS
    assert calibration.warnings(ds) == [] and "Warning" not in calibration.summary(ds)


def test_a_posterior_piled_against_its_priors_bound_is_flagged():
    q = [0.05, 0.25, 0.5, 0.75, 0.95]
    ds = xr.Dataset({"prior_low": ("parameter", [0.0, 0.0, 0.0]),
                     "prior_high": ("parameter", [1.0, 1.0, 1.0]),
                     "posterior_quantile": (("parameter", "quantile"),
                                            [[0.9, 0.95, 0.97, 0.98, 0.99],
                                             [0.2, 0.4, 0.5, 0.6, 0.8],
                                             [0.0, 0.01, 0.02, 0.1, 0.2]])},
                    coords={"quantile": q})
    assert calibration.against_bound(ds) == ["upper bound", "", "lower bound"]


def test_an_interrupted_calibration_leaves_none_of_its_files(tmp_path, monkeypatch):
    """A Ctrl-C while the files are written (seconds at 1e6 paths; here in the last figure)
    leaves neither the forecast runs nor calibration.md nor the priors file: the files of a
    calibration appear together, posterior.nc last, or not at all."""
    from conftest import compose_config
    from sim import calibrate, calibration_plots

    search = _write_targets(tmp_path)
    cfg = compose_config("start=2026q1", "targets=synthetic", search, "~priors", LEARNED,
                         "engine.n_paths=600", "model.horizon_months=36",
                         "calibration.forecast_from=2027-06", "output.quiet=true",
                         config_name="calibrate")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(calibration_plots, "plot_calibration", interrupted)
    with pytest.raises(KeyboardInterrupt):
        calibrate.run(cfg, tmp_path / "cal")
    assert list((tmp_path / "cal").rglob("*")) == []
    monkeypatch.undo()
    calibrate.run(cfg, tmp_path / "cal")
    assert sorted(p.name for p in (tmp_path / "cal").iterdir()) == [
        "calibration.md", "forecast", "forecast.md", "plots", "posterior.nc", "prior_forecast",
        "priors"]
