"""`bubblesim-sensitivity RUN`: Sobol' indices of a Saltelli-sampled run with intervals, PRIM's
box, sensitivity.nc and its figures, and one clear line for what it cannot use."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from conftest import SENSITIVITY, run_cli
from sim.sensitivity import OUTCOMES, run_outcomes, variance_split

# the dot-com priors, and one that cannot matter: a range a millionth wide
PRIORS = ("scenario=dotcom_crash", "priors=dotcom_crash", "engine.prior_sampling=saltelli",
          "+priors.inert={key: model.prices.rent_floor, dist: uniform, low: 0.3, "
          "high: 0.3000003}")
N_BASE = 1024
PERIOD = 12 + 3  # 11 priors, the inert one, then the shocks, A and B


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    run = tmp_path_factory.mktemp("sens") / "run"
    done = run_cli(*PRIORS, f"engine.n_paths={N_BASE * PERIOD + 5}", f"hydra.run.dir={run}",
                   "output.quiet=true")
    assert done.returncode == 0, done.stderr
    done = run_cli(str(run), command=SENSITIVITY)
    assert done.returncode == 0, done.stderr
    with xr.open_dataset(run / "sensitivity.nc") as sens, \
            xr.open_dataset(run / "results.nc") as results:
        return run, sens.load(), results.load(), done.stdout


def test_sensitivity_nc_holds_every_outcomes_indices_and_the_figures_exist(analysed):
    run, sens, _, stdout = analysed
    assert list(sens["outcome"].values) == list(OUTCOMES)
    assert sens.attrs["n_base"] == N_BASE  # the 5 paths of an incomplete base are left out
    assert sens["first_order"].dims == ("outcome", "factor")
    assert (sens["first_order_lower"] <= sens["first_order"]).all()
    assert (sens["total_order"] <= sens["total_order_upper"]).all()
    for name in ("sensitivity_indices", "sensitivity_max_drawdown", "prim_box"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 10_000, name
        assert f"{name}.png" in stdout
    # a design's rows are dependent: its summary says the standard errors are too small
    assert "rows of a Saltelli design" in (run / "summary.md").read_text()


def test_a_prior_that_cannot_matter_gets_indices_whose_intervals_hold_zero(analysed):
    _, sens, _, _ = analysed
    """(The total index is a mean of squares, never below 0: a prior that moves the outcome
    by rounding alone, through the start derived again, gets one of order 1e-13.)"""
    inert = sens.sel(factor="inert")
    assert ((inert["first_order_lower"] <= 0) & (inert["first_order_upper"] >= 0)).all()
    assert (inert["total_order_upper"] < 1e-9).all()
    # while elasticity, the dot-com story's lever, drives the drawdown
    assert float(sens["total_order_lower"].sel(outcome="max_drawdown",
                                               factor="elasticity")) > 0.3


def test_the_shocks_total_index_is_the_shock_share_of_the_spread(analysed):
    """Jansen's total index of the shocks estimates E[Var(Y | parameters)] / Var Y; the law of
    total variance on the design's A and AB_shocks pairs (the same parameters, other
    shocks) estimates 1 minus that. They agree within their intervals."""
    _, sens, results, _ = analysed
    y = run_outcomes(results)["max_drawdown"][0][:N_BASE * PERIOD]
    rows = np.arange(N_BASE) * PERIOD
    pairs = np.column_stack([y[rows], y[rows + PERIOD - 2]]).ravel()
    split = variance_split(pairs, 2)
    shocks = sens.sel(outcome="max_drawdown", factor="shocks")
    half = float(shocks["total_order_upper"] - shocks["total_order"])
    assert abs(float(shocks["total_order"]) - (1 - split["parameter_share"])) < (
        half + 2 * split["parameter_share_se"])


def test_prim_finds_that_low_elasticity_makes_the_crash(analysed):
    _, sens, results, _ = analysed
    assert sens.attrs["prim_case"] == "max_drawdown>0.5"
    assert bool(sens["prim_box_restricted"].sel(parameter="elasticity"))
    upper = float(sens["prim_box_limit"].sel(parameter="elasticity", bound="upper"))
    assert upper < float(results["parameter_value"].sel(parameter="elasticity").max())
    assert float(sens["prim_quasi_p_value"].sel(parameter="elasticity", bound="upper")) < 0.01


@pytest.mark.parametrize("args, message", [
    (["--outcome", "price"], "--outcome price: unknown; allowed: max_drawdown, crash"),
    (["--case", "max_drawdown~0.5"], "write OUTCOME>VALUE"),
    (["--case", "crash>high"], "'high' is not a number"),
    ([], "exists: pass --overwrite to replace it"),
])
def test_bad_arguments_get_one_line_and_leave_the_results_alone(analysed, args, message):
    run, _, _, _ = analysed
    before = (run / "sensitivity.nc").read_bytes()
    done = run_cli(str(run), *args, command=SENSITIVITY)
    assert done.returncode in (1, 2)
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert (run / "sensitivity.nc").read_bytes() == before


def test_a_run_that_is_not_a_design_is_refused_with_the_remedy(tmp_path):
    run = tmp_path / "run"
    done = run_cli("scenario=dotcom_crash", "priors=dotcom_crash", "engine.n_paths=200",
                   f"hydra.run.dir={run}", "output.quiet=true")
    assert done.returncode == 0, done.stderr
    done = run_cli(str(run), command=SENSITIVITY)
    assert done.returncode == 2
    assert "re-run it with engine.prior_sampling=saltelli" in done.stderr
    assert not (run / "sensitivity.nc").exists()
    missing = run_cli(str(tmp_path / "nowhere"), command=SENSITIVITY)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_a_sweep_of_designs_stacks_their_indices_and_the_report_ranks_the_priors(tmp_path):
    """Priors compose with a scenario sweep: sweep.nc holds each job's Sobol' indices along
    the swept key (those of sim.uncertainty.indices on the job's own results), and
    bubblesim-report lists each job's most important priors per outcome."""
    from sim import sweep as sweep_module
    from sim.sensitivity import run_indices

    done = run_cli("-m", "scenario=soft_landing,dotcom_crash", "priors=wide",
                   "engine.prior_sampling=saltelli", f"engine.n_paths={128 * 14}",
                   f"hydra.sweep.dir={tmp_path}", "output.quiet=true")
    assert done.returncode == 0, done.stderr
    with xr.open_dataset(tmp_path / "sweep.nc") as swept:
        total = swept["total_order"].load()
        jobs = dict(zip(swept["scenario"].values, swept["job_dir"].values, strict=True))
    assert set(total.dims) == {"scenario", "outcome", "factor"}
    assert set(jobs) == {"soft_landing", "dotcom_crash"}
    for scenario, job in jobs.items():
        with xr.open_dataset(tmp_path / job / "results.nc") as results:
            own = run_indices(results.load(), list(OUTCOMES), sweep_module.INDEX_RESAMPLES, 0)
        np.testing.assert_allclose(
            total.sel(scenario=scenario, outcome=own["outcome"], factor=own["factor"]).values,
            own["total_order"].values, rtol=1e-12)
    report = run_cli(str(tmp_path), command=[*SENSITIVITY[:2], "sim.report"])
    assert report.returncode == 0, report.stderr
    table = report.stdout.split("## Most important priors per outcome")[1]
    for scenario in jobs:
        top = total.sel(scenario=scenario, outcome="max_drawdown").drop_sel(factor="shocks")
        first = str(top["factor"].values[int(np.argmax(top.values))])
        assert (f"| {scenario} priors=wide engine.prior_sampling=saltelli | max_drawdown | "
                f"{first} {float(top.max()):.2f} (") in table


def test_the_report_ranks_a_runs_priors_and_refuses_a_corrupt_sensitivity_nc(analysed, tmp_path):
    run, sens, _, _ = analysed
    report = run_cli(str(run), command=[*SENSITIVITY[:2], "sim.report"])
    assert report.returncode == 0, report.stderr
    top = sens["total_order"].sel(outcome="max_drawdown").drop_sel(factor="shocks")
    assert f"| max_drawdown | {top['factor'].values[int(np.argmax(top.values))]} " in report.stdout
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "results.nc").write_bytes((run / "results.nc").read_bytes())
    (copy / "sensitivity.nc").write_text("not NetCDF")
    broken = run_cli(str(copy), command=[*SENSITIVITY[:2], "sim.report"])
    assert broken.returncode == 1 and broken.stdout == ""
    assert "sensitivity.nc: not a readable bubblesim file" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1
