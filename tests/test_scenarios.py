"""The scenarios differ as their stories say, and sit near their calibration targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import SCENARIOS, run_small
from sim.layout import O_CAPEX_TTM
from sim.model import CLOUDS


def _median_mdd(raw):
    return float(np.median(raw.per_path["max_drawdown"]))


def _cloud_survival(raw):
    return raw.alive[-1, CLOUDS] / (raw.n_paths * raw.n_firms)


def _median_se(values):
    """Standard error of the median from the order statistics (binomial interval)."""
    n = len(values)
    lo, hi = np.quantile(values, [0.5 - 1 / np.sqrt(n), 0.5 + 1 / np.sqrt(n)])
    return (hi - lo) / 2


def test_drawdowns_order_soft_excess_dotcom(scenario_runs):
    runs = [scenario_runs[name] for name in SCENARIOS]
    medians = [_median_mdd(r) for r in runs]
    se = max(_median_se(r.per_path["max_drawdown"]) for r in runs)
    assert medians[0] + 4 * se < medians[1]
    assert medians[1] + 4 * se < medians[2]


def _clouds_alive(raw) -> np.ndarray:
    """Share of the cloud firms alive at the horizon, per path."""
    return (raw.per_path["default_month"][:, CLOUDS, :] < 0).mean(axis=1)


def test_cloud_survival_orders_the_other_way(scenario_runs):
    alive = [_clouds_alive(scenario_runs[name]) for name in SCENARIOS]
    s = [a.mean() for a in alive]
    assert s[0] == pytest.approx(_cloud_survival(scenario_runs[SCENARIOS[0]]))
    for higher, lower in ((0, 1), (1, 2)):
        # independent SEs (the runs share seeds, which only makes the difference surer)
        se = np.hypot(alive[higher].std(ddof=1), alive[lower].std(ddof=1)) / np.sqrt(
            alive[higher].size)
        assert s[higher] - 4 * se > s[lower]


def test_excess_capacity_collapses_rental_prices(scenario_runs):
    rent = {k: np.median(v.per_path["rental_price_max_drawdown"])
            for k, v in scenario_runs.items()}
    assert rent["excess_capacity"] > 0.5
    util = {k: np.median(v.per_path["min_utilization"]) for k, v in scenario_runs.items()}
    assert util["excess_capacity"] < util["soft_landing"]


@pytest.mark.slow
def test_calibration_targets():
    """soft: ordinary bear market; dotcom: near NASDAQ 2000-02 (-75%, 31 months)."""
    soft = run_small("scenario=soft_landing", n_paths=100_000)
    crash = run_small("scenario=dotcom_crash", n_paths=100_000)
    assert _median_mdd(soft) < 0.35
    assert 0.65 < _median_mdd(crash) < 0.85
    assert 24 <= np.median(crash.per_path["peak_to_trough_months"]) <= 40
    assert _cloud_survival(soft) > 0.95


def _capex_recovery():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "tools" / "capex_recovery.py"
    spec = importlib.util.spec_from_file_location("capex_recovery", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_capex_falls_and_returns_by_hand():
    series = np.array([[1.0, 2.0, 4.0, 3.0, 1.0, 2.0, 4.0, 3.5],    # peak 2, back 4 later
                       [1.0, 2.0, 3.0, 2.0, 1.5, 2.0, 2.5, 2.9]])   # never back
    peak, fall, back = _capex_recovery().falls_and_returns(series)
    assert list(peak) == [2, 2]
    np.testing.assert_allclose(fall, [0.75, 0.5])
    assert back[0] == 4 and np.isnan(back[1])


def test_the_planners_caution_slows_dotcom_crashs_capex_recovery():
    """On common random numbers, caution after the break leaves fewer paths' capex back at
    its boom peak by the horizon (75% without, 66% with at 20,000 paths), and later."""
    measure = _capex_recovery().falls_and_returns
    shares, months = [], []
    for caution in ("0", "0.3"):
        raw = run_small("scenario=dotcom_crash", f"model.capacity.bust_caution={caution}",
                        n_paths=2000, sample_paths=2000)
        _, fall, back = measure(raw.trajectories[:, :, O_CAPEX_TTM])
        back = back[fall > 0.2]
        shares.append(np.mean(~np.isnan(back)))
        months.append(np.nanmedian(back))
    se = np.sqrt(shares[0] * (1 - shares[0]) / 2000)  # independent SE: pairing only helps
    assert shares[1] < shares[0] - 4 * se
    assert months[1] > months[0]
