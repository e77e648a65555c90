"""Forecasts conditioned on history (issue 13, item 2): outcomes measured from the forecast's
start by hand, and the conditioned run made of exactly the paths the calibration kept."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from test_calibration import _write_targets

from conftest import CALIBRATE, PLOT, run_cli
from sim import forecast


def test_index_outcomes_by_hand():
    index = np.array([
        [1.0, 2.0, 1.5, 0.5, 1.0, 2.5],   # peak 2 (month 1), trough 0.5 (month 3), regained
        [4.0, 3.0, 2.0, 1.0, 1.5, 2.0],   # falls from the start, never regained
        [1.0, 1.1, 1.2, 1.3, 1.4, 1.5],   # never falls
    ])
    o = forecast.index_outcomes(index)
    np.testing.assert_allclose(o["max_drawdown"], [0.75, 0.75, 0.0])
    np.testing.assert_array_equal(o["peak_to_trough_months"], [2, 3, 0])
    np.testing.assert_array_equal(o["recovered"], [True, False, True])
    np.testing.assert_allclose(o["index_ratio"], [2.5, 0.5, 1.5])


def test_survival_counts_only_firms_alive_at_the_forecasts_start():
    # 2 paths, 3 sectors, 2 firms; -1: never defaulted
    months = np.array([[[-1, 5], [12, -1], [-1, -1]],
                       [[30, -1], [20, 40], [-1, -1]]])
    # at month 10: labs alive 3 of 4 (the month-5 default is before), 2 of them survive;
    # clouds all 4 alive, 1 survives; vendors 4 of 4
    np.testing.assert_allclose(forecast.survival(months, 10), [2 / 3, 1 / 4, 1.0])


def test_outcomes_and_table():
    o = {"max_drawdown": np.array([0.2, 0.6, 0.8, 0.4]),
         "peak_to_trough_months": np.array([3.0, 10.0, 20.0, 5.0]),
         "recovered": np.array([True, False, False, True]),
         "index_ratio": np.array([2.0, 0.5, 0.3, 1.5])}
    figures = forecast.outcomes(o, np.full((4, 3, 1), -1), 0)
    assert figures["crash"] == 0.5
    assert figures["crash_se"] == pytest.approx(np.sqrt(0.25 / 4))
    assert figures["max_drawdown_q50"] == pytest.approx(0.5)
    text = forecast.table(figures, figures)
    assert "| P(crash: max drawdown > 50%) | 50.0% ± 25.0% | 50.0% ± 25.0% |" in text
    assert forecast.evenly(np.arange(10), 3).tolist() == [0, 4, 9]


def test_the_conditioned_forecast_is_the_kept_paths_rerun(calibrated, tmp_path):
    _, run = calibrated  # forecast from 2027-06, 60 months from 2026q1, 3,000 paths
    post = xr.load_dataset(run / "posterior.nc")
    cond = xr.load_dataset(run / "forecast" / "results.nc")
    prior = xr.load_dataset(run / "prior_forecast" / "results.nc")
    np.testing.assert_array_equal(cond["path"].values, post["path_index"].values)
    np.testing.assert_array_equal(cond["parameter_value"].values, post["theta_raw"].values)
    np.testing.assert_array_equal(prior["path"].values, np.arange(post.sizes["draw"]))
    assert cond.attrs["forecast_month"] == 17
    assert (cond.attrs["label"], prior.attrs["label"]) == (
        "kept paths from 2027-06", "unconditioned paths from 2027-06")
    for name in ("forecast.md", "plots/forecast.png"):
        assert (run / name).is_file()
    text = (run / "forecast.md").read_text()
    assert "| P(crash: max drawdown > 50%) |" in text
    # the outcomes are measured from the forecast's start: never deeper than the whole run's
    assert (cond["forecast_max_drawdown"] <= cond["max_drawdown"] + 1e-12).all()
    # every path's index is kept (the 1995 backtest compares it with the NASDAQ)
    series = cond["index_by_path"].values
    np.testing.assert_allclose(series[:, -1] / series[:, 17], cond["forecast_index_ratio"],
                               rtol=1e-5)
    # bubblesim-plot redraws a calibration's figures from its saved files
    redrawn = run_cli(str(run), "--out", str(tmp_path / "again"), command=PLOT)
    assert redrawn.returncode == 0, redrawn.stderr
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == [
        "forecast.png", "posterior_pairs.png", "posterior_predictive.png"]


def test_a_forecast_start_outside_the_run_is_one_line(tmp_path):
    search = _write_targets(tmp_path)
    done = run_cli("start=2026q1", "targets=synthetic", search, "engine.n_paths=100",
                   "calibration.forecast_from=2041-01", f"hydra.run.dir={tmp_path / 'cal'}",
                   command=CALIBRATE)
    assert done.returncode == 2
    assert ("calibration.forecast_from: 2041-01 is outside the run; allowed: months from "
            "start.date (2026-01) to 2036-01") in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
