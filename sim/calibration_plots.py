"""Figures of a calibration, drawn from its posterior.nc (sim.calibrate writes them; so does
`bubblesim-plot RUN` for a calibration's run directory).

- posterior_pairs: each parameter's prior and posterior (diagonal) and the posterior's
  pairs (below it), weighted;
- posterior_predictive: per target, the statistic over the prior's paths, over new paths
  drawn from the posterior, and the data's.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from sim import io  # noqa: E402
from sim.canvas import footer_text as _footer_text  # noqa: E402
from sim.canvas import save as _save  # noqa: E402

PRIOR, POSTERIOR, DATA = "0.6", "tab:blue", "tab:red"


def _footer(fig: plt.Figure, ds: xr.Dataset) -> None:
    a = ds.attrs
    _footer_text(fig, f"{a['accepted']:,} of {a['n_simulations']:,} paths kept "
                      f"(acceptance {a['acceptance_rate']:.2%}, effective sample size "
                      f"{a['effective_sample_size']:,.0f}); targets {a.get('targets', '')}, "
                      f"seed {a.get('seed')}")


def posterior_pairs(ds: xr.Dataset) -> plt.Figure:
    names = list(ds["parameter"].values)
    k = len(names)
    theta, w = ds["theta"].values, ds["weight"].values
    prior = ds["prior_sample"].values
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k + 1, 1.9 * k + 1), squeeze=False,
                             layout="constrained")
    for i in range(k):
        lo, hi = np.nanmin(prior[:, i]), np.nanmax(prior[:, i])
        edges = np.linspace(lo, hi, 31) if hi > lo else 10
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(prior[:, i], bins=edges, density=True, color=PRIOR, alpha=0.5,
                        label="prior")
                ax.hist(theta[:, i], bins=edges, weights=w, density=True, color=POSTERIOR,
                        alpha=0.7, label="posterior")
                ax.set_yticks([])
            else:
                x_lo, x_hi = np.nanmin(prior[:, j]), np.nanmax(prior[:, j])
                ax.hist2d(theta[:, j], theta[:, i], bins=30, weights=w, cmap="Blues",
                          range=((x_lo, x_hi if x_hi > x_lo else x_lo + 1),
                                 (lo, hi if hi > lo else lo + 1)))
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize=8)
            if j == 0 and i > 0:
                ax.set_ylabel(names[i], fontsize=8)
            ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle("Posterior of the priors' parameters (diagonal: prior grey, posterior "
                 "blue; below: the posterior's pairs, darker = more weight)", fontsize=10)
    _footer(fig, ds)
    return fig


def posterior_predictive(ds: xr.Dataset) -> plt.Figure:
    targets = list(ds["target"].values)
    fig, axes = plt.subplots(1, len(targets), figsize=(3.2 * len(targets) + 0.5, 3.6),
                             squeeze=False, layout="constrained")
    for k, name in enumerate(targets):
        ax = axes[0, k]
        prior = ds["prior_statistic"].values[:, k]
        check = ds["predictive_statistic"].values[:, k]
        both = np.concatenate([prior[np.isfinite(prior)], check[np.isfinite(check)]])
        lo, hi = np.quantile(both, (0.005, 0.995)) if both.size else (0.0, 1.0)
        observed = float(ds["observed"].values[k])
        lo, hi = min(lo, observed), max(hi, observed)
        edges = np.linspace(lo, hi, 41)
        ax.hist(prior, bins=edges, density=True, color=PRIOR, alpha=0.5, label="prior")
        ax.hist(check, bins=edges, density=True, color=POSTERIOR, alpha=0.7,
                label="posterior predictive")
        ax.axvline(observed, color=DATA, lw=2, label="data")
        tol = float(ds["tolerance"].values[k])
        ax.axvspan(observed - tol, observed + tol, color=DATA, alpha=0.08)
        ax.set_title(f"{name}\n({ds['target_statistic'].values[k]} of "
                     f"{ds['target_observable'].values[k]})", fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Posterior predictive check: each target's statistic (shaded: the "
                 "tolerance)", fontsize=10)
    _footer(fig, ds)
    return fig


def _bands(ax, run: xr.Dataset, series: str, color: str, label: str) -> None:
    band = run["observed_band"].sel(observed_series=series)
    dates = run["date"].values
    ax.fill_between(dates, band.sel(band_quantile=0.05), band.sel(band_quantile=0.95),
                    color=color, alpha=0.18, lw=0)
    ax.fill_between(dates, band.sel(band_quantile=0.25), band.sel(band_quantile=0.75),
                    color=color, alpha=0.3, lw=0)
    ax.plot(dates, band.sel(band_quantile=0.5), color=color, lw=1.5, label=label)


def _data(ax, post: xr.Dataset, run: xr.Dataset, series: str) -> None:
    """The targets' data on this series, scaled to the conditioned median at their first
    month: the calibration compares growth, not levels."""
    median = run["observed_band"].sel(observed_series=series, band_quantile=0.5).values
    for k in np.flatnonzero(post["target_observable"].values == series):
        months = post["data_month"].values[k]
        values = post["data_value"].values[k]
        ok = np.isfinite(months)
        months, values = months[ok].astype(int), values[ok]
        scaled = values * median[months[0]] / values[0]
        ax.plot(run["date"].values[months], scaled, "o", color=DATA, ms=4,
                label=f"data: {post['target'].values[k]} (scaled)")


def forecast(post: xr.Dataset, runs: dict[str, xr.Dataset]) -> plt.Figure:
    """The conditioned and unconditioned runs' bands of each calibrated series and of the
    index, with the data, and the forecast's start."""
    cond, prior = runs["forecast"], runs["prior_forecast"]
    series = list(cond["observed_series"].values)
    cols = 3
    rows = -(-len(series) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows + 0.6),
                             squeeze=False, layout="constrained")
    start = np.datetime64(cond.attrs["forecast_from"], "M").astype("datetime64[ns]")
    for ax, name in zip(axes.flat, series, strict=False):
        _bands(ax, prior, name, PRIOR, "unconditioned")
        _bands(ax, cond, name, POSTERIOR, "conditioned on the data")
        _data(ax, post, cond, name)
        ax.axvline(start, color="k", lw=0.8, ls="--")
        ax.set_yscale("log")
        unit = str(cond["observed_series_units"].sel(observed_series=name).values)
        ax.set_title(f"{name} ({unit})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(series):]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Forecast from {cond.attrs['forecast_from']} (dashed): the paths that "
                 "match the data (blue) against the priors' paths (grey); medians, 50% and "
                 "90% bands", fontsize=10)
    _footer(fig, post)
    return fig


FIGURES = {"posterior_pairs": posterior_pairs, "posterior_predictive": posterior_predictive}


def plot_calibration(run_dir: Path, ds: xr.Dataset | None = None, fmt: str = "png",
                     out_dir: Path | None = None,
                     runs: dict[str, xr.Dataset] | None = None) -> list[Path]:
    """The calibration's figures into ``out_dir`` (default RUN/plots/), with the forecast's
    when it has one (``runs``, or RUN/forecast and RUN/prior_forecast)."""
    run_dir = Path(run_dir)
    ds = ds if ds is not None else io.read_dataset(run_dir / io.POSTERIOR, io.CALIBRATION_TITLE)
    if runs is None and all((run_dir / name / io.RESULTS).exists() for name in io.FORECASTS):
        runs = {name: io.read_results(run_dir / name) for name in io.FORECASTS}
    out_dir = Path(out_dir or run_dir / io.PLOTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_save(make(ds), out_dir / f"{name}.{fmt}", fmt) for name, make in FIGURES.items()]
    if runs:
        files.append(_save(forecast(ds, runs), out_dir / f"forecast.{fmt}", fmt))
    return files
