"""Forecasts conditioned on history: what the kept paths of a calibration do after the data.

A calibration run from 2023 keeps the paths whose 2023-2026 statistics match the data
(sim.calibration). Re-run to the horizon (same draws, same shocks, path by path), their
futures from ``forecast_from`` on are the conditioned forecast; as many paths of the same
run taken without regard to the data are the unconditioned one. Both are ordinary runs
(results.nc); the outcomes below are measured from ``forecast_from`` on, from each path's
index and default months, so that 2023-2026 (which the kept paths share with history) does
not count:

- max drawdown of the index after ``forecast_from`` (peak and trough both after it), the
  months from that peak to its trough, and whether the index regained the peak by the
  horizon;
- a crash: a max drawdown above ``CRASH`` (the NASDAQ fell 75-78% in 2000-02, A1);
- the index at the horizon over the index at ``forecast_from``;
- each sector's survival: the share of its firms alive at ``forecast_from`` that are still
  alive at the horizon.

Pure functions of arrays and datasets; sim.calibrate writes what they return.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.layout import SECTORS

CRASH = 0.5
QUANTILES = (0.05, 0.5, 0.95)


def index_outcomes(index: np.ndarray) -> dict[str, np.ndarray]:
    """Per path, from the index's months from ``forecast_from`` to the horizon (paths x
    months): max drawdown, months from its peak to its trough, whether the peak was regained
    by the last month, and the last month's index over the first's."""
    peak = np.maximum.accumulate(index, axis=1)
    drawdown = 1.0 - index / peak
    trough = np.argmax(drawdown, axis=1)
    rows = np.arange(len(index))
    mdd = drawdown[rows, trough]
    peak_level = peak[rows, trough]
    peak_month = np.argmax(index >= peak_level[:, None], axis=1)
    after = np.arange(index.shape[1])[None, :] > trough[:, None]
    regained = ((index >= peak_level[:, None]) & after).any(axis=1) | (mdd == 0.0)
    return {"max_drawdown": mdd, "peak_to_trough_months": (trough - peak_month).astype(float),
            "recovered": regained, "index_ratio": index[:, -1] / index[:, 0]}


def survival(default_month: np.ndarray, month: int) -> np.ndarray:
    """(sectors,) share of the firms alive at ``month`` that survive to the horizon
    (default_month: paths x sectors x firms, -1 for none)."""
    alive = (default_month < 0) | (default_month > month)
    survived = default_month < 0
    return survived.sum(axis=(0, 2)) / np.maximum(alive.sum(axis=(0, 2)), 1)


def outcomes(o: dict[str, np.ndarray], default_month: np.ndarray,
             month: int) -> dict[str, float]:
    """The forecast's figures from the per-path ``index_outcomes`` ``o``, each with its Monte
    Carlo standard error where it is a mean (keys ending in _se)."""
    n = len(o["max_drawdown"])
    crash = o["max_drawdown"] > CRASH
    out = {"paths": float(n), "crash": crash.mean(),
           "crash_se": np.sqrt(crash.mean() * (1 - crash.mean()) / n),
           "recovered": o["recovered"].mean(),
           "recovered_se": np.sqrt(o["recovered"].mean() * (1 - o["recovered"].mean()) / n)}
    for name in ("max_drawdown", "peak_to_trough_months", "index_ratio"):
        for q, value in zip(QUANTILES, np.quantile(o[name], QUANTILES), strict=True):
            out[f"{name}_q{round(q * 100):02d}"] = float(value)
    for k, sector in enumerate(SECTORS):
        out[f"survival_{sector}"] = float(survival(default_month, month)[k])
    return out


ROWS = (
    ("P(crash: max drawdown > 50%)", "crash", "{:.1%}"),
    ("max drawdown, median (5-95%)", "max_drawdown", "{:.2f}"),
    ("months from peak to trough, median (5-95%)", "peak_to_trough_months", "{:.0f}"),
    ("index at the horizon / at the forecast's start, median (5-95%)", "index_ratio",
     "{:.2f}"),
    ("share of paths back at their peak by the horizon", "recovered", "{:.1%}"),
    *((f"{sector}: firms alive at the start that survive", f"survival_{sector}", "{:.1%}")
      for sector in SECTORS),
)


def _cell(figures: dict[str, float], key: str, fmt: str) -> str:
    if f"{key}_q50" in figures:
        return (f"{fmt.format(figures[key + '_q50'])} ({fmt.format(figures[key + '_q05'])}-"
                f"{fmt.format(figures[key + '_q95'])})")
    text = fmt.format(figures[key])
    return f"{text} ± {fmt.format(figures[key + '_se'])}" if key + "_se" in figures else text


def table(conditioned: dict[str, float], unconditioned: dict[str, float]) -> str:
    """The markdown table of both forecasts, side by side."""
    lines = ["| from the forecast's start to the horizon | conditioned on the data | "
             "unconditioned (the priors) |", "|---|---|---|"]
    for label, key, fmt in ROWS:
        lines.append(f"| {label} | {_cell(conditioned, key, fmt)} | "
                     f"{_cell(unconditioned, key, fmt)} |")
    return "\n".join(lines) + "\n"


PREFIX = "forecast_"  # the per-path outcomes' names in a forecast's results.nc
UNITS = {"max_drawdown": "1", "peak_to_trough_months": "months", "recovered": "1",
         "index_ratio": "1"}


BAND_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def evenly(paths: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` of ``paths``, evenly spaced (all of them if there are fewer)."""
    if len(paths) <= n:
        return paths
    return paths[np.linspace(0, len(paths) - 1, n).round().astype(np.int64)]


def with_outcomes(ds: xr.Dataset, recorded: np.ndarray, names: list[str], units: list[str],
                  month: int, date: str) -> xr.Dataset:
    """A forecast's results.nc: the run's dataset with the quantiles over paths of the
    ``names`` observables month by month (``recorded``: paths x observables x months, the
    index first) and each path's outcomes from ``month`` (``date``) on."""
    ds = ds.assign_coords(observed_series=("observed_series", names),
                          band_quantile=("band_quantile", list(BAND_QUANTILES)))
    ds["observed_band"] = (("observed_series", "band_quantile", "time"),
                           np.nanquantile(recorded, BAND_QUANTILES, axis=0).transpose(1, 0, 2),
                           {"long_name": "quantiles across paths of the calibration's "
                                         "observables (units: observed_series_units)"})
    ds["observed_series_units"] = ("observed_series", units)
    ds["index_by_path"] = (("path", "time"), recorded[:, 0, :].astype(np.float32), {
        "units": "$B", "long_name": "the index of every path, month by month (what a "
                                    "backtest compares with the NASDAQ, sim.backtest)"})
    index = recorded[:, 0, month:]
    for name, values in index_outcomes(index).items():
        ds[PREFIX + name] = ("path", values, {
            "units": UNITS[name], "long_name": f"{name.replace('_', ' ')} of the index "
                                               f"from {date} on (sim.forecast)"})
    ds.attrs.update(forecast_month=month, forecast_from=date)
    return ds


def from_dataset(ds: xr.Dataset) -> dict[str, float]:
    """The figures of a forecast's results.nc."""
    o = {name: ds[PREFIX + name].values for name in UNITS}
    return outcomes(o, ds["default_month"].values, int(ds.attrs["forecast_month"]))
