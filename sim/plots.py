"""Figures from saved datasets only: `bubblesim-plot PATH [--format png|svg|pdf]`.

Nothing here imports the engine: any old run can be re-plotted from its results.nc. Axis
labels come from the variables' ``long_name`` and ``units`` attributes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from sim import io  # noqa: E402

FORMATS = ("png", "svg", "pdf")
SECTOR_COLORS = {"labs": "tab:green", "clouds": "tab:blue", "vendors": "tab:orange"}


def label(da: xr.DataArray, text: str | None = None) -> str:
    """'long name [units]' of a variable."""
    unit = da.attrs.get("units", "")
    name = text or da.attrs.get("long_name", da.name)
    return f"{name} [{unit}]" if unit and unit != "1" else (f"{name} [share]" if unit else name)


def footer(fig: plt.Figure, ds: xr.Dataset) -> None:
    run = f"{ds.attrs.get('scenario', '?')} {ds.attrs.get('overrides', '')}".strip()
    text = (f"bubblesim | scenario {run} | {int(ds.attrs['n_paths']):,} paths | "
            f"seed {ds.attrs['seed']} | {ds.attrs.get('package', '')}")
    fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))  # room for the footer
    fig.text(0.01, 0.005, text, fontsize=7, color="0.4", ha="left", va="bottom")


def _probability_axis(ax) -> None:
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)


def _band(ax, x, da: xr.DataArray, color: str, name: str) -> None:
    q = da.sel
    ax.fill_between(x, q(quantile=0.05), q(quantile=0.95), color=color, alpha=0.15,
                    label=f"{name} 5-95%")
    ax.fill_between(x, q(quantile=0.25), q(quantile=0.75), color=color, alpha=0.35,
                    label=f"{name} 25-75%")
    ax.plot(x, q(quantile=0.5), color=color, lw=1.5, label=f"{name} median")


def fan_charts(ds: xr.Dataset) -> plt.Figure:
    """Quantile bands over time of prices, spend, capacity vs demand, utilization, index."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    x = ds["date"].values
    panels = [("token_price", True), ("spend", False), (None, True),
              ("utilization", False), ("rental_price", False), ("index", True)]
    for ax, (name, log) in zip(axes.flat, panels, strict=True):
        if name is None:
            _band(ax, x, ds["capacity"], "tab:blue", "capacity")
            _band(ax, x, ds["compute_demand"], "tab:red", "compute demand")
            ax.set_title("capacity vs compute demand")
            ax.set_ylabel(label(ds["capacity"], "GPU-hours per month"))
            ax.legend(fontsize=7, ncol=2)
        else:
            _band(ax, x, ds[name], "tab:purple", name.replace("_", " "))
            ax.set_title(ds[name].attrs["long_name"].split(",")[0])
            ax.set_ylabel(label(ds[name], name.replace("_", " ")))
        if log:
            ax.set_yscale("log")
        locator = mdates.AutoDateLocator(maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_xlabel("date [calendar month]")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Fan charts: quantiles across paths")
    footer(fig, ds)
    return fig


def drawdown_distribution(ds: xr.Dataset) -> plt.Figure:
    """Histogram of the max drawdown and its exceedance curve with 95% error bars."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    counts = ds["max_drawdown_histogram"].values
    coarse = counts.reshape(100, -1).sum(axis=1)
    edges = np.linspace(0.0, 1.0, 101)
    n = counts.sum()
    left.bar(edges[:-1], coarse / n / 0.01, width=0.01, align="edge", color="tab:red",
             alpha=0.7)
    for q, style in ((0.5, "--"), (0.95, ":")):
        value = float(ds["max_drawdown_quantiles"].sel(dd_quantile=q))
        left.axvline(value, color="k", ls=style, lw=1,
                     label=f"{int(q * 100)}th percentile: {value:.2f}")
    left.legend(fontsize=8)
    left.set_xlabel("max drawdown of the index [fraction of peak lost]")
    left.set_ylabel("density [1/unit drawdown]")
    left.set_title("distribution of the max drawdown")
    p, se = ds["exceedance"], ds["exceedance_se"]
    right.errorbar(ds["threshold"], p, yerr=1.96 * se, marker="o", color="tab:red",
                   capsize=3, label="P(MDD > x), 95% CI")
    right.set_xlabel("threshold x [fraction of peak lost]")
    right.set_ylabel("P(max drawdown > x) [share of paths]")
    right.set_title("exceedance")
    right.legend(fontsize=8)
    _probability_axis(right)
    left.grid(alpha=0.3)
    footer(fig, ds)
    return fig


def survival_curves(ds: xr.Dataset) -> plt.Figure:
    """Kaplan-Meier survival of firms per sector with pointwise and simultaneous bands."""
    fig, ax = plt.subplots(figsize=(9, 5.5), constrained_layout=True)
    t = ds["time"].values
    for sector in ds["sector"].values:
        s = ds.sel(sector=sector)
        color = SECTOR_COLORS.get(str(sector), None)
        ax.step(t, s["survival"], where="post", color=color, lw=1.8, label=f"{sector}")
        ax.fill_between(t, s["survival_lower"], s["survival_upper"], step="post",
                        color=color, alpha=0.25)
        ax.step(t, s["survival_band_lower"], where="post", color=color, ls=":", lw=1)
        ax.step(t, s["survival_band_upper"], where="post", color=color, ls=":", lw=1)
    ax.plot([], [], color="0.5", alpha=0.4, lw=6, label="pointwise 95% (Greenwood)")
    ax.plot([], [], color="0.5", ls=":", label="simultaneous 95% (equal precision)")
    ax.set_xlabel(label(ds["time"], "months since start"))
    ax.set_ylabel(label(ds["survival"], "firms alive (Kaplan-Meier)"))
    ax.set_title("survival of firms by sector")
    ax.legend(fontsize=8)
    _probability_axis(ax)
    footer(fig, ds)
    return fig


def recovery_time(ds: xr.Dataset) -> plt.Figure:
    """Kaplan-Meier curve of the time from trough to recovery (open drawdowns censored)."""
    fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
    m = ds["months"].values
    ax.step(m, ds["recovery_km"], where="post", color="tab:purple", lw=1.8,
            label="P(not yet recovered)")
    ax.fill_between(m, ds["recovery_km_lower"], ds["recovery_km_upper"], step="post",
                    color="tab:purple", alpha=0.25, label="pointwise 95%")
    censored = int(ds["recovery_censored"].sum())
    events = int(ds["recovery_events"].sum())
    ax.set_title(f"time to recovery: {events:,} recovered, {censored:,} still under water "
                 "at the horizon (censored)")
    ax.set_xlabel(label(ds["months"], "months after the trough"))
    ax.set_ylabel(label(ds["recovery_km"], "P(not yet recovered)"))
    ax.legend(fontsize=8)
    _probability_axis(ax)
    footer(fig, ds)
    return fig


def jevons(ds: xr.Dataset) -> plt.Figure:
    """Realized elasticity of compute demand and sampled paths of demand vs price."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    counts = ds["elasticity_histogram"].values
    centres = ds["elasticity_bin"].values
    width = centres[1] - centres[0]
    left.bar(centres, counts / counts.sum() / width, width=width, color="tab:green")
    cum = np.cumsum(counts) / counts.sum()
    lo, hi = centres[np.searchsorted(cum, 0.005)], centres[np.searchsorted(cum, 0.995)]
    pad = max(hi - lo, 20 * width) * 0.3
    left.set_xlim(lo - pad, hi + pad)  # zoom on where the paths are
    figures = dict(zip(ds["figure"].values, ds["headline"].values, strict=True))
    share = figures["jevons_share"]
    left.axvline(0.0, color="k", lw=0.8)
    left.set_title(f"realized elasticity; compute demand rose as prices fell on "
                   f"{share:.1%} of paths", fontsize=10)
    left.set_xlabel("realized elasticity -dlog H / dlog P [1]")
    left.set_ylabel("density [1/unit elasticity]")
    price, demand = ds["sample_token_price"], ds["sample_compute_demand"]
    for i in range(min(50, ds.sizes["sample"])):
        right.plot(price[i], demand[i], lw=0.6, alpha=0.5, color="tab:green")
    right.set_xscale("log")
    right.set_yscale("log")
    right.invert_xaxis()
    right.set_xlabel(label(price, "token price (falling to the right)"))
    right.set_ylabel(label(demand, "compute demand"))
    right.set_title("sampled paths: compute demand against token price", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    footer(fig, ds)
    return fig


FIGURES = {
    "fan_charts": fan_charts,
    "max_drawdown": drawdown_distribution,
    "survival": survival_curves,
    "recovery": recovery_time,
    "jevons": jevons,
}


def compare_jobs(runs: list[xr.Dataset]) -> plt.Figure:
    """A sweep's jobs side by side: max-drawdown exceedance and cloud-firm survival."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(runs)))
    for ds, color in zip(runs, colors, strict=True):
        name = f"{ds.attrs.get('scenario', '?')} {ds.attrs.get('overrides', '')}".strip()
        left.plot(ds["threshold"], ds["exceedance"], marker="o", color=color, label=name)
        clouds = ds.sel(sector="clouds")
        right.step(ds["time"], clouds["survival"], where="post", color=color, label=name)
    left.set_xlabel("threshold x [fraction of peak lost]")
    left.set_ylabel("P(max drawdown > x) [share of paths]")
    left.set_title("max-drawdown exceedance by job")
    right.set_xlabel("months since start [months]")
    right.set_ylabel("cloud firms alive (Kaplan-Meier) [share]")
    right.set_title("cloud-sector survival by job")
    for ax in (left, right):
        _probability_axis(ax)
    right.legend(fontsize=7)
    fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))
    fig.text(0.01, 0.005, f"bubblesim sweep | {len(runs)} jobs", fontsize=7, color="0.4")
    return fig


def _save(fig: plt.Figure, target: Path, fmt: str) -> Path:
    tmp = target.with_name(f".{target.stem}.tmp-{os.getpid()}.{fmt}")
    try:
        fig.savefig(tmp, dpi=120, format=fmt)
        tmp.replace(target)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return target


def plot_sweep(sweep_dir: Path, fmt: str = "png") -> list[Path]:
    """The comparison figure of a sweep's finished jobs, in <sweep dir>/plots/."""
    runs = [io.read_results(d) for d in io.run_paths(sweep_dir)]
    out_dir = Path(sweep_dir) / "plots"
    out_dir.mkdir(exist_ok=True)
    return [_save(compare_jobs(runs), out_dir / f"comparison.{fmt}", fmt)]


def plot_run(path: Path, fmt: str = "png") -> list[Path]:
    """Write every figure of the run at ``path`` into <run dir>/plots/; return the files."""
    ds = io.read_results(path)
    run_dir = io.results_path(path).parent
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    return [_save(make(ds), out_dir / f"{name}.{fmt}", fmt) for name, make in FIGURES.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bubblesim-plot",
                                     description="Figures of a saved bubblesim run.")
    parser.add_argument("path", type=Path,
                        help="a run directory, its results.nc, or a sweep directory")
    parser.add_argument("--format", choices=FORMATS, default="png")
    args = parser.parse_args(argv)
    runs = io.run_paths(args.path)
    try:
        if len(runs) > 1 or runs[0] != args.path:
            files = plot_sweep(args.path, args.format)
        else:
            files = plot_run(args.path, args.format)
    except io.OutputError as exc:
        print(f"bubblesim-plot: {exc}", file=sys.stderr)
        return 1
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
