"""Figures from saved datasets only: `bubblesim-plot PATH [--format png|svg|pdf] [--out DIR]`.

Nothing here imports the engine: any old run can be re-plotted from its results.nc. Axis
labels come from the variables' ``long_name`` and ``units`` attributes. A figure that cannot be
written ends the command with one line on stderr (where, why, what to do) and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from sim import analysis, io, report  # noqa: E402
from sim.canvas import footer_text as _footer_text  # noqa: E402
from sim.canvas import save as _save  # noqa: E402

FORMATS = ("png", "svg", "pdf")
PLOTS = io.PLOTS  # default output directory, next to results.nc or in the sweep directory
SECTOR_COLORS = {"labs": "tab:green", "clouds": "tab:blue", "vendors": "tab:orange"}
# line style as well as colour, so the sectors stay apart in greyscale and for colour-blind eyes
SECTOR_STYLES = {"labs": "-", "clouds": "--", "vendors": "-."}
# a sweep's job k keeps tab10 colour k % 10 (and a line style per group of ten) on every re-plot
JOB_COLORS = plt.get_cmap("tab10").colors
JOB_STYLES = ("-", "--", "-.", ":")
ZOOM_ABOVE = 0.9  # survival curves that all stay above this get a zoomed y axis


def label(da: xr.DataArray, text: str | None = None) -> str:
    """'long name [units]' of a variable."""
    unit = da.attrs.get("units", "")
    name = text or da.attrs.get("long_name", da.name)
    return f"{name} [{unit}]" if unit and unit != "1" else (f"{name} [share]" if unit else name)


def paths_text(n: int) -> str:
    return f"{n:,} path" if n == 1 else f"{n:,} paths"


def footer(fig: plt.Figure, ds: xr.Dataset) -> None:
    run = report.run_label(ds)
    text = (f"bubblesim | scenario {run} | {paths_text(int(ds.attrs['n_paths']))} | "
            f"seed {ds.attrs['seed']} | {ds.attrs.get('package', '')}")
    _footer_text(fig, text)


def caveat(ds: xr.Dataset) -> str:
    """Why this run's bands and estimates mean little ('' when they are fine)."""
    notes = []
    if int(ds.attrs["n_paths"]) < 2:
        notes.append("1 path: no bands or intervals across paths; every share is 0 or 1")
    if int(ds.attrs.get("horizon_months", ds.sizes["time"] - 1)) < 2:
        notes.append("horizon of 1 month: every path has a single step")
    return "; ".join(notes)


def _suptitle(fig: plt.Figure, ds: xr.Dataset, title: str = "") -> None:
    # the caveat goes where it is read first, in red, rather than in the grey footer
    note = caveat(ds)
    text = "\n".join(t for t in (title, note) if t)
    if note:
        fig.suptitle(text, color="firebrick", fontsize=10)
    elif text:
        fig.suptitle(text)


def _percent(share: float) -> str:
    """A share as a percentage that never rounds a few paths to 0% or all-but-a-few to 100%."""
    if 0 < share < 0.001:
        return "<0.1%"
    if 0.999 < share < 1:
        return ">99.9%"
    return f"{share:.1%}"


def _tick_text(x: float, plain: bool, most: float) -> str:
    if x <= 0 or x > most * (1 + 1e-9):
        return ""
    if plain:
        return f"{x:,.10g}"
    exponent = int(np.floor(np.log10(x) + 1e-9))
    mantissa = round(x / 10.0**exponent, 6)
    if mantissa == 1:
        return f"$10^{{{exponent}}}$"
    return f"${mantissa:g}\\times10^{{{exponent}}}$"


def readable_log_ticks(ax, axis: str = "y", most: float = np.inf) -> None:
    """Labelled ticks on a log axis: 0.001 .. 10,000 as plain numbers, 10^k beyond; 1-2-5
    ticks over less than 2.5 decades, 1..9 within a decade, evenly spaced numbers within a
    factor of two, so a short range is never left with one label or none; no label above
    ``most`` (a probability axis has room above 1). Call once the limits are final."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    decades = np.log10(hi / lo)
    plain = 10 ** np.ceil(np.log10(lo) - 1e-9) >= 0.999e-3 and hi < 1e5
    minor = ticker.LogLocator(base=10, subs=np.arange(2, 10), numticks=12)
    if decades < 0.3:
        major, minor = ticker.MaxNLocator(nbins=5), ticker.NullLocator()
    elif decades < 1:
        major, minor = ticker.LogLocator(base=10, subs=np.arange(1, 10)), ticker.NullLocator()
    else:
        subs = (1.0, 2.0, 5.0) if decades < 2.5 else (1.0,)
        major = ticker.LogLocator(base=10, subs=subs, numticks=12)
    target.set_major_locator(major)
    target.set_minor_locator(minor)
    target.set_major_formatter(ticker.FuncFormatter(lambda x, _: _tick_text(x, plain, most)))
    target.set_minor_formatter(ticker.NullFormatter())


def _date_axis(ax, dates: np.ndarray) -> None:
    months = len(dates) - 1
    if months < 24:  # AutoDateLocator would tick the days of a month of monthly data
        locator = mdates.MonthLocator(interval=max(1, -(-months // 6)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    else:
        locator = mdates.AutoDateLocator(maxticks=7)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.xaxis.set_major_locator(locator)
    ax.set_xlabel("date [calendar month]")


def _month_axis(ax, months: int) -> None:
    # whole months only (no 0.2-month ticks), whole years on long horizons
    if months >= 48:
        ax.xaxis.set_major_locator(ticker.MultipleLocator(12 * max(1, round(months / 120))))
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, steps=[1, 2, 3, 6, 10]))


def _probability_axis(ax) -> None:
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)


def _drawn(lower, upper) -> bool:
    """Whether a band has any width to show (NaN or zero-width bands are left out)."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return bool(np.any(upper - lower > 0))


def _band(ax, x, da: xr.DataArray, color: str, name: str, bands: bool) -> None:
    q = da.sel
    if bands:
        ax.fill_between(x, q(quantile=0.05), q(quantile=0.95), color=color, alpha=0.15,
                        label=f"{name} 5-95%")
        ax.fill_between(x, q(quantile=0.25), q(quantile=0.75), color=color, alpha=0.35,
                        label=f"{name} 25-75%")
    ax.plot(x, q(quantile=0.5), color=color, lw=1.5,
            label=f"{name} median" if bands else f"{name} (the one path)")


def _clipped(ax, x, ds: xr.Dataset, da: xr.DataArray, series: str) -> None:
    """Mark the band points that lie beyond the histogram's range: there the drawn value is
    the range's edge, a bound on the quantile, not the quantile itself."""
    if "band_clipped" not in ds or series not in ds["series"].values:
        return
    drawn = [q for q in (0.05, 0.25, 0.5, 0.75, 0.95) if q in da["quantile"].values]
    mask = ds["band_clipped"].sel(series=series, quantile=drawn).values.astype(bool)
    if not mask.any():
        return
    values = da.sel(quantile=drawn).values
    times = np.broadcast_to(x, values.shape)
    text = "beyond the histogram range (a bound)"
    ax.plot(times[mask], values[mask], "x", color="firebrick", ms=4, ls="none",
            label=text if text not in ax.get_legend_handles_labels()[1] else None)
    ax.legend(fontsize=7)


def fan_charts(ds: xr.Dataset) -> plt.Figure:
    """Quantile bands over time of prices, spend, capacity vs demand, utilization, index."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    x = ds["date"].values
    bands = int(ds.attrs["n_paths"]) >= 2  # one path has no spread to show
    panels = [("token_price", True), ("spend", False), (None, True),
              ("utilization", False), ("rental_price", False), ("index", True)]
    for ax, (name, log) in zip(axes.flat, panels, strict=True):
        if name is None:
            _band(ax, x, ds["capacity"], "tab:blue", "capacity", bands)
            _band(ax, x, ds["compute_demand"], "tab:red", "compute demand", bands)
            for series in ("capacity", "compute_demand"):
                _clipped(ax, x, ds, ds[series], series)
            ax.set_title("capacity vs compute demand")
            ax.set_ylabel(label(ds["capacity"], "GPU-hours per month"))
            ax.legend(fontsize=7, ncol=2)
        else:
            _band(ax, x, ds[name], "tab:purple", name.replace("_", " "), bands)
            _clipped(ax, x, ds, ds[name], name)
            ax.set_title(ds[name].attrs["long_name"].split(",")[0])
            ax.set_ylabel(label(ds[name], name.replace("_", " ")))
        if log:
            ax.set_yscale("log")
            readable_log_ticks(ax, "y")
        _date_axis(ax, x)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    title = "Fan charts: quantiles across paths" if bands else "Fan charts: the one path"
    _suptitle(fig, ds, title)
    footer(fig, ds)
    return fig


def upper_bound_if_none(n_paths: int) -> float:
    """One-sided 95% upper bound of a probability when none of n paths had the event
    (1 - 0.05^(1/n), the 'rule of three' 3/n for large n)."""
    return 1.0 - 0.05 ** (1.0 / n_paths)


def bound_text(n_paths: int) -> str:
    rule = " (about 3/n)" if n_paths >= 30 else ""  # the rule of three holds for large n only
    return f"no path exceeded x: 95% upper bound {upper_bound_if_none(n_paths):.2g}{rule}"


def exceedance_floor(runs: list[xr.Dataset]) -> float:
    """Bottom of a log exceedance axis: below every estimate and every upper bound shown (error
    bars reaching lower are cut at it, as they would run to zero)."""
    shown = [upper_bound_if_none(int(ds.attrs["n_paths"])) for ds in runs]
    for ds in runs:
        p = ds["exceedance"].values
        shown += list(p[p > 0])
    return min(shown) / 3


def _exceedance(ax, ds: xr.Dataset, floor: float, color, name: str, dx: float = 0.0,
                ls: str = "-", bound_label: str | None = None) -> None:
    """P(MDD > x) with 95% error bars (clipped to the axis and to 1) and, where no path
    exceeded x, an open triangle at the upper bound: a zero cannot sit on a log axis."""
    x = ds["threshold"].values + dx
    p, se = ds["exceedance"].values, ds["exceedance_se"].values
    seen = p > 0
    down = np.minimum(analysis.Z95 * se, p - floor)[seen]
    up = np.minimum(analysis.Z95 * se, 1.0 - p)[seen]
    ax.errorbar(x[seen], p[seen], yerr=(down, up), marker="o", ms=5, color=color, ls=ls,
                capsize=3, label=name)
    if not seen.all():
        bound = upper_bound_if_none(int(ds.attrs["n_paths"]))
        ax.plot(x[~seen], np.full((~seen).sum(), bound), marker="v", ms=7, ls="none",
                mfc="white", color=color, label=bound_label)


def _exceedance_axis(ax, floor: float, thresholds: np.ndarray) -> None:
    ax.set_xticks(thresholds)  # one tick per threshold, even with jobs set side by side
    ax.set_yscale("log")
    ax.set_ylim(floor, 1.25)  # room above 1 for the markers of P = 1
    readable_log_ticks(ax, "y", most=1.0)
    ax.set_xlabel("threshold x [fraction of peak lost]")
    ax.set_ylabel("P(max drawdown > x) [share of paths]")
    ax.grid(alpha=0.3)


def drawdown_distribution(ds: xr.Dataset) -> plt.Figure:
    """Histogram of the max drawdown and its exceedance curve (log scale) with 95% error bars."""
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
    floor = exceedance_floor([ds])
    _exceedance(ax=right, ds=ds, floor=floor, color="tab:red", name="P(MDD > x), 95% CI",
                bound_label=bound_text(int(ds.attrs["n_paths"])))
    _exceedance_axis(right, floor, ds["threshold"].values)
    right.set_title("exceedance (log scale)")
    right.legend(fontsize=8)
    left.grid(alpha=0.3)
    _suptitle(fig, ds)
    footer(fig, ds)
    return fig


def survival_ylim(curves: list) -> tuple[float, float] | None:
    """Zoomed y limits when every value shown stays above ZOOM_ABOVE (yet some firm
    defaulted); None for the full 0-1 axis."""
    values = np.concatenate([np.ravel(np.asarray(c, float)) for c in curves])
    values = values[np.isfinite(values)]
    lowest = values.min() if values.size else 1.0
    if lowest < ZOOM_ABOVE or lowest >= 1.0:
        return None
    span = 1.0 - lowest
    return lowest - 0.15 * span, 1.0 + 0.1 * span


def _survival_axis(ax, curves: list, months: int) -> str:
    """Zoom the y axis on curves near 1 (else 0-1); return the note for the title."""
    limits = survival_ylim(curves)
    ax.grid(alpha=0.3)
    _month_axis(ax, months)
    if limits is None:
        _probability_axis(ax)
        return ""
    ax.set_ylim(*limits)
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter(useOffset=False))
    return f" (y axis zoomed to {limits[0]:.3g}-1)"


def _sector_survival(ax, s: xr.Dataset, t, bands: bool) -> tuple[list, set]:
    """Draw one sector; return the values drawn (for the zoom) and which bands were drawn."""
    sector = str(s["sector"].values)
    color, style = SECTOR_COLORS.get(sector), SECTOR_STYLES.get(sector, "-")
    none = " (none defaulted)" if np.nanmin(s["survival"].values) >= 1 else ""
    ax.step(t, s["survival"], where="post", color=color, ls=style, lw=1.8,
            label=f"{sector}{none}")
    values, kinds = [s["survival"].values], set()
    if bands and _drawn(s["survival_lower"], s["survival_upper"]):
        ax.fill_between(t, s["survival_lower"], s["survival_upper"], step="post",
                        color=color, alpha=0.25)
        values += [s["survival_lower"].values, s["survival_upper"].values]
        kinds.add("pointwise")
    if bands and _drawn(s["survival_band_lower"], s["survival_band_upper"]):
        for limit in ("survival_band_lower", "survival_band_upper"):
            ax.step(t, s[limit], where="post", color=color, ls=":", lw=0.9)
            values.append(s[limit].values)
        kinds.add("simultaneous")
    return values, kinds


BAND_KEY = {"pointwise": "shaded: pointwise 95% (Greenwood)",
            "simultaneous": "dotted: simultaneous 95% (equal precision)"}


def survival_curves(ds: xr.Dataset) -> plt.Figure:
    """Kaplan-Meier survival of firms per sector with pointwise and simultaneous bands."""
    fig, ax = plt.subplots(figsize=(9, 5.5), constrained_layout=True)
    t = ds["time"].values
    bands = int(ds.attrs["n_paths"]) >= 2  # firms of one path share its shocks
    shown, kinds = [], set()
    for sector in ds["sector"].values:
        values, drawn = _sector_survival(ax, ds.sel(sector=sector), t, bands)
        shown += values
        kinds |= drawn
    # the legend names the bands only when some are drawn (none with NaN or zero width)
    key = "\n".join(text for kind, text in BAND_KEY.items() if kind in kinds) or None
    ax.set_xlabel(label(ds["time"], "months since start"))
    ax.set_ylabel(label(ds["survival"], "firms alive (Kaplan-Meier)"))
    zoom = _survival_axis(ax, shown, int(t[-1]))
    none = "" if np.nanmin(ds["survival"].values) < 1 else " (no firm defaulted)"
    ax.set_title(f"survival of firms by sector{zoom}{none}")
    ax.legend(fontsize=8, loc="best", title=key, title_fontsize=8)
    _suptitle(fig, ds)
    footer(fig, ds)
    return fig


def recovery_time(ds: xr.Dataset) -> plt.Figure:
    """Kaplan-Meier curve of the time from trough to recovery (open drawdowns censored)."""
    fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
    m = ds["months"].values
    ax.step(m, ds["recovery_km"], where="post", color="tab:purple", lw=1.8,
            label="P(not yet recovered)")
    lower, upper = ds["recovery_km_lower"], ds["recovery_km_upper"]
    if int(ds.attrs["n_paths"]) >= 2 and _drawn(lower, upper):
        ax.fill_between(m, lower, upper, step="post", color="tab:purple", alpha=0.25,
                        label="pointwise 95%")
    censored = int(ds["recovery_censored"].sum())
    events = int(ds["recovery_events"].sum())
    ax.set_title(f"time to recovery: {events:,} recovered, {censored:,} still under water "
                 "at the horizon (censored)")
    ax.set_xlabel(label(ds["months"], "months after the trough"))
    ax.set_ylabel(label(ds["recovery_km"], "P(not yet recovered)"))
    ax.legend(fontsize=8)
    _probability_axis(ax)
    _month_axis(ax, int(m[-1]))
    _suptitle(fig, ds)
    footer(fig, ds)
    return fig


def _band_panel(ax, ds: xr.Dataset, name: str, title: str, ylabel: str, log: bool = False,
                color: str = "tab:purple") -> None:
    """One quantile band over calendar time, its title saying what it shows."""
    x = ds["date"].values
    _band(ax, x, ds[name], color, name.replace("_", " "), int(ds.attrs["n_paths"]) >= 2)
    _clipped(ax, x, ds, ds[name], name)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(label(ds[name], ylabel))
    if log:
        ax.set_yscale("log")
        readable_log_ticks(ax, "y")
    _date_axis(ax, x)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _median(ds: xr.Dataset, name: str) -> np.ndarray:
    return ds[name].sel(quantile=0.5).values


def _sampled_panel(ax, ds: xr.Dataset, name: str, title: str) -> None:
    """Sampled paths of a series without bands (not histogrammed), with its value at t=0."""
    da = ds[f"sample_{name}"]
    x = ds["date"].values
    for i in range(min(50, ds.sizes["sample"])):
        ax.plot(x, da[i], lw=0.6, alpha=0.5, color="tab:gray")
    if ds.sizes["sample"] == 0:
        ax.text(0.5, 0.5, "no sampled paths in this run (engine.sample_paths=0)",
                ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(label(da, "circular investment / rent revenue"))
    _date_axis(ax, x)
    ax.grid(alpha=0.3)


def revenue_chain(ds: xr.Dataset) -> plt.Figure:
    """Circularity, the revenue gap, the contracted backlog and the circular share of rent."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), constrained_layout=True)
    circ, gap = _median(ds, "circularity"), _median(ds, "revenue_gap")
    peak = int(np.nanargmax(circ))
    _band_panel(axes[0, 0], ds, "circularity",
                f"each $ of end-user spend is recognized {circ[0]:.3g}x along the chain at "
                f"t=0,\n{circ[peak]:.3g}x at the median's peak "
                f"({np.datetime_as_string(ds['date'].values[peak], unit='M')})",
                "revenue along the chain / end-user spend", log=True)
    _band_panel(axes[0, 1], ds, "revenue_gap",
                f"revenue gap: trailing capex is {gap[0]:.3g}x trailing end-user spend at "
                f"t=0,\n{np.nanmax(gap):.3g}x at the median's peak",
                "trailing-12-month capex / end-user spend", log=True,
                color="tab:red")
    # Sequoia's rule (REFERENCE.md): end users must pay twice the capex (GPUs half of the
    # data-centre cost, a 50% margin), so capex / spend above 1/2 is an open gap
    axes[0, 1].axhline(0.5, color="k", ls="--", lw=0.9,
                       label="Sequoia's break-even: spend = 2 x capex")
    axes[0, 1].legend(fontsize=7)
    ratio = float(ds["initial_value"].sel(observable="backlog_to_rent"))
    _band_panel(axes[1, 0], ds, "backlog",
                f"contracted backlog: {ratio:.2g} years of the clouds' rent at t=0",
                "remaining value of the labs' contracts", log=True,
                color="tab:blue")
    share0 = float(ds["initial_value"].sel(observable="circular_rent_share"))
    _sampled_panel(axes[1, 1], ds, "circular_rent_share",
                   f"share of the clouds' rent paid by the suppliers' circular investment\n"
                   f"({share0:.1%} at t=0; sampled paths)")
    _suptitle(fig, ds, "Revenue along the chain: circularity, revenue gap, backlog")
    footer(fig, ds)
    return fig


def roic(ds: xr.Dataset) -> plt.Figure:
    """Return on invested capital by sector: medians and interquartile bands over time."""
    fig, ax = plt.subplots(figsize=(10, 5.5), constrained_layout=True)
    x = ds["date"].values
    bands = int(ds.attrs["n_paths"]) >= 2
    for sector in ds["sector"].values:
        da = ds["roic"].sel(sector=sector)
        color, style = SECTOR_COLORS[str(sector)], SECTOR_STYLES[str(sector)]
        if bands:
            ax.fill_between(x, da.sel(quantile=0.25), da.sel(quantile=0.75), color=color,
                            alpha=0.25)
        ax.plot(x, da.sel(quantile=0.5), color=color, ls=style, lw=1.6,
                label=f"{sector}: median {float(da.sel(quantile=0.5)[-1]):.2g}/yr at the "
                      "horizon")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_title("return on invested capital by sector (shaded: 25-75% of paths)")
    ax.set_ylabel(label(ds["roic"], "annualized operating earnings / invested capital"))
    _date_axis(ax, x)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _suptitle(fig, ds)
    footer(fig, ds)
    return fig


def lab_runway(ds: xr.Dataset) -> plt.Figure:
    """The labs' monthly burn and the shortest runway of a lab, with the 6-month line."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    figures = dict(zip(ds["figure"].values, ds["headline"].values, strict=True))
    burn = _median(ds, "lab_burn")
    _band_panel(left, ds, "lab_burn", f"labs' cash burn: median {burn[0]:.3g} $B/month at "
                f"t=0, {np.nanmax(burn):.3g} at its peak", "labs' deficits after parents' "
                "support", color="tab:green")
    short = float(ds.attrs.get("runway_short_months", 6.0))
    _band_panel(right, ds, "lab_runway",
                f"shortest lab runway: below {short:g} months on "
                f"{_percent(figures['prob_lab_runway_below_6_months'])} of paths;\n"
                f"a lab defaulted on {_percent(figures['prob_lab_default'])}",
                "cash / burn of the lab closest to running out", log=True,
                color="tab:green")
    right.axhline(short, color="firebrick", ls="--", lw=0.9, label=f"{short:g} months")
    right.legend(fontsize=7)
    _suptitle(fig, ds, "Labs: burn and runway")
    footer(fig, ds)
    return fig


def growth_quantiles(ds: xr.Dataset, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95)) -> dict:
    """Quantiles across paths of each part of the log growth of compute demand over the run:
    from the per-path values when kept, else from their histogram."""
    out = {}
    for part in ds["growth_part"].values:
        part = str(part)
        if "demand_growth" in ds:
            values = (ds["demand_log_growth"].values if part == "total" else
                      ds["demand_growth"].sel(growth_component=part).values)
            out[part] = np.nanquantile(values, quantiles)
        else:
            centres = ds["growth_bin"].values
            width = centres[1] - centres[0]
            edges = np.append(centres - width / 2, centres[-1] + width / 2)
            counts = ds["demand_growth_histogram"].sel(growth_part=part).values
            out[part] = analysis.histogram_quantiles(counts, edges, False, quantiles)
    return out


def structural_elasticity(ds: xr.Dataset) -> float:
    """model.demand.elasticity of the run, from its saved config (NaN if not there)."""
    import yaml

    config = yaml.safe_load(ds.attrs.get("config", "")) or {}
    return float(config.get("model", {}).get("demand", {}).get("elasticity", np.nan))


def demand_growth(ds: xr.Dataset) -> plt.Figure:
    """What compute-demand growth came from over the run, and the elasticity it identifies."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    q = growth_quantiles(ds)
    parts = list(q)
    for y, part in enumerate(parts):
        lo5, lo25, mid, hi75, hi95 = q[part]
        left.plot([lo5, hi95], [y, y], color="tab:green", lw=1)
        left.plot([lo25, hi75], [y, y], color="tab:green", lw=6, alpha=0.6)
        left.plot([mid], [y], "k|", ms=14, mew=2)
    left.set_yticks(range(len(parts)), [dataset_label(p) for p in parts])
    left.invert_yaxis()
    left.axvline(0.0, color="k", lw=0.8)
    figures = dict(zip(ds["figure"].values, ds["headline"].values, strict=True))
    left.set_title(f"contributions to ln(compute demand at the horizon / at t=0)\ncheaper "
                   f"tokens account for {figures['price_response_share_of_growth']:.0%} of "
                   "the mean growth (bar: 25-75%, line: 5-95%, tick: median)", fontsize=10)
    left.set_xlabel("log points [ln of a ratio]")
    left.set_ylabel("part of the growth [log points]")
    left.grid(alpha=0.3)
    _implied_elasticity_panel(right, ds, figures["median_implied_elasticity"])
    _suptitle(fig, ds, "Compute-demand growth: price response, adoption, efficiency, training")
    footer(fig, ds)
    return fig


def dataset_label(part: str) -> str:
    from sim.dataset import GROWTH_LABELS

    return GROWTH_LABELS.get(part, part)


def _implied_elasticity_panel(ax, ds: xr.Dataset, median: float) -> None:
    counts = ds["implied_elasticity_histogram"].values
    centres = ds["elasticity_bin"].values
    width = centres[1] - centres[0]
    total = max(counts.sum(), 1)
    ax.bar(centres, counts / total / width, width=width, color="tab:green")
    cum = np.cumsum(counts) / total
    lo, hi = centres[np.searchsorted(cum, 0.005)], centres[np.searchsorted(cum, 0.995)]
    pad = max(hi - lo, 20 * width) * 0.3
    ax.set_xlim(lo - pad, hi + pad)  # zoom on where the paths are
    eps = structural_elasticity(ds)
    if np.isfinite(eps):
        ax.axvline(eps, color="k", ls="--", lw=0.9,
                   label=f"model.demand.elasticity = {eps:g}")
        ax.legend(fontsize=8)
    ax.set_title(f"implied elasticity of token demand: median {median:.3g}\n(-price response"
                 " / inference-weighted change of ln token price)", fontsize=10)
    ax.set_xlabel("implied elasticity [1]")
    ax.set_ylabel("density [1/unit elasticity]")
    ax.grid(alpha=0.3)


FIGURES = {
    "fan_charts": fan_charts,
    "max_drawdown": drawdown_distribution,
    "survival": survival_curves,
    "recovery": recovery_time,
    "revenue_chain": revenue_chain,
    "roic": roic,
    "lab_runway": lab_runway,
    "demand_growth": demand_growth,
}


def _sensitivity_footer(fig: plt.Figure, sens: xr.Dataset) -> None:
    run = f"{sens.attrs.get('scenario', '')} {sens.attrs.get('run_label', '')}".strip()
    _footer_text(fig, f"bubblesim-sensitivity | {run} | "
                      f"{paths_text(int(sens.attrs['n_paths']))} | "
                      f"{int(sens.attrs['n_base']):,} base points, "
                      f"{int(sens.attrs['bootstrap_resamples'])} bootstrap resamples")


def sensitivity_indices(sens: xr.Dataset) -> plt.Figure:
    """Each outcome's first-order and total Sobol' indices per factor, with intervals."""
    outcomes = [str(o) for o in sens["outcome"].values]
    cols = min(3, len(outcomes))
    rows = -(-len(outcomes) // cols)
    factors = [str(f) for f in sens["factor"].values]
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 0.28 * len(factors) * rows + 1.5),
                             constrained_layout=True, squeeze=False, sharey=True)
    y = np.arange(len(factors))
    for ax, outcome in zip(axes.flat, outcomes, strict=False):
        s = sens.sel(outcome=outcome)
        for name, offset, color in (("first_order", -0.18, "tab:blue"),
                                    ("total_order", 0.18, "tab:orange")):
            value = s[name].values
            err = np.vstack([value - s[f"{name}_lower"].values,
                             s[f"{name}_upper"].values - value])
            ax.barh(y + offset, value, height=0.36, color=color, xerr=err, capsize=2,
                    error_kw={"lw": 0.8}, label=name.replace("_", " "))
        ax.axvline(0, color="k", lw=0.6)
        title, color = str(s["outcome_long_name"].values), "black"
        if int(s["unusual_paths"]) < 0.01 * int(sens.attrs["rows"]):
            title += f"\nonly {int(s['unusual_paths']):,} paths differ from the rest: unreliable"
            color = "firebrick"
        ax.set_title(title, fontsize=8, color=color)
        ax.set_yticks(y, factors, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes.flat[len(outcomes):]:
        ax.set_visible(False)
    axes.flat[0].invert_yaxis()
    axes.flat[0].legend(fontsize=7, loc="lower right")
    for ax in axes[-1]:
        ax.set_xlabel("Sobol' index [share of variance]")
    fig.suptitle(f"Sobol' indices with {sens.attrs['confidence']:.0%} bootstrap intervals "
                 "(shocks: the paths' random streams as a factor)")
    _sensitivity_footer(fig, sens)
    return fig


def top_parameters(sens: xr.Dataset, outcome: str, n: int = 2) -> list[str]:
    """The ``n`` priors with the largest total index for ``outcome`` (the shocks left out)."""
    total = sens["total_order"].sel(outcome=outcome).drop_sel(factor="shocks")
    order = np.argsort(-total.values)
    return [str(total["factor"].values[i]) for i in order[:n]]


def outcome_surface(run: xr.Dataset, sens: xr.Dataset, outcome: str,
                    values: np.ndarray, bins: int = 24) -> plt.Figure:
    """The mean of ``outcome`` (``values``, one per path) over the two most important priors,
    in bins of their ranges."""
    names = top_parameters(sens, outcome)
    draws = run["parameter_value"].sel(parameter=names).values
    edges = [np.linspace(draws[:, j].min(), draws[:, j].max(), bins + 1) for j in range(2)]
    total, _, _ = np.histogram2d(draws[:, 0], draws[:, 1], bins=edges, weights=values)
    count, _, _ = np.histogram2d(draws[:, 0], draws[:, 1], bins=edges)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    fig, ax = plt.subplots(figsize=(6.5, 5), constrained_layout=True)
    mesh = ax.pcolormesh(edges[0], edges[1], mean.T, cmap="viridis", shading="flat")
    units = dict(zip(sens["parameter"].values, sens["parameter_units"].values, strict=True))
    ax.set_xlabel(f"{names[0]} [{units[names[0]]}]")
    ax.set_ylabel(f"{names[1]} [{units[names[1]]}]")
    long = str(sens["outcome_long_name"].sel(outcome=outcome).values)
    fig.colorbar(mesh, ax=ax, label=f"mean {long}")
    ax.set_title(f"{outcome} against its two most important priors\n(mean over the paths in "
                 "each cell: the other priors and the shocks averaged out)", fontsize=9)
    _sensitivity_footer(fig, sens)
    return fig


def prim_trajectory(sens: xr.Dataset) -> plt.Figure:
    """PRIM's peeling trajectory (coverage against density) and the chosen box's limits as
    shares of each prior's range, restricted limits with their quasi-p-values."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    chosen = int(sens.attrs["prim_chosen_step"])
    dims = sens["prim_restricted_dimensions"].values
    points = left.scatter(sens["prim_coverage"], sens["prim_density"], c=dims, cmap="viridis",
                          s=14)
    left.scatter(sens["prim_coverage"][chosen], sens["prim_density"][chosen], s=120,
                 facecolors="none", edgecolors="firebrick", label=f"chosen box (step {chosen})")
    fig.colorbar(points, ax=left, label="priors restricted")
    left.set_xlabel("coverage [share of all cases inside the box]")
    left.set_ylabel("density [share of the box's paths that are cases]")
    left.set_title(f"peeling trajectory, case {sens.attrs['prim_case']} (base rate "
                   f"{float(sens.attrs['prim_base_rate']):.2f})", fontsize=9)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    names = [str(p) for p in sens["parameter"].values]
    full = sens["prim_parameter_range"].values
    box = sens["prim_box_limit"].values
    span = np.where(full[:, 1] > full[:, 0], full[:, 1] - full[:, 0], 1.0)
    low, high = (box[:, 0] - full[:, 0]) / span, (box[:, 1] - full[:, 0]) / span
    y = np.arange(len(names))
    restricted = sens["prim_box_restricted"].values
    right.barh(y, high - low, left=low, color=np.where(restricted, "tab:red", "0.8"))
    for j in np.flatnonzero(restricted):
        p = sens["prim_quasi_p_value"].values[j]
        text = ", ".join(f"{side} {v:.1g}" if v > 0 else f"{side} <1e-300"
                         for side, v in zip(("low", "high"), p, strict=True) if np.isfinite(v))
        right.text(1.02, j, f"{box[j, 0]:.3g}-{box[j, 1]:.3g} (p: {text})", va="center",
                   fontsize=7)
    right.set_yticks(y, names, fontsize=8)
    right.invert_yaxis()
    right.set_xlim(0, 1.6)
    right.set_xlabel("share of the prior's range inside the box")
    right.set_title(f"the chosen box: coverage {float(sens['prim_coverage'][chosen]):.2f}, "
                    f"density {float(sens['prim_density'][chosen]):.2f}", fontsize=9)
    _sensitivity_footer(fig, sens)
    return fig


def plot_sensitivity(run_dir: Path, fmt: str = "png", out_dir: Path | None = None) -> list[Path]:
    """The figures of a run's sensitivity.nc (bubblesim-sensitivity) into ``out_dir``
    (default <run dir>/plots/): the indices, the first outcome against its two most
    important priors, and PRIM's box."""
    from sim.sensitivity import run_outcomes

    run = io.read_results(run_dir)
    file = Path(run_dir) / io.SENSITIVITY
    try:
        with xr.open_dataset(file, engine="h5netcdf") as handle:
            sens = handle.load()
    except Exception as exc:  # noqa: BLE001  (h5py raises several types for bad files)
        raise io.OutputError(f"{file}: not a readable NetCDF file ({type(exc).__name__}); "
                             "rerun bubblesim-sensitivity --overwrite") from None
    outcome = str(sens["outcome"].values[0])
    values = run_outcomes(run)[outcome][0]
    out_dir = Path(out_dir or Path(run_dir) / PLOTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_save(sensitivity_indices(sens), out_dir / f"sensitivity_indices.{fmt}", fmt),
            _save(outcome_surface(run, sens, outcome, values),
                  out_dir / f"sensitivity_{outcome}.{fmt}", fmt),
            _save(prim_trajectory(sens), out_dir / f"prim_box.{fmt}", fmt)]


def job_style(job: str) -> tuple[tuple, str]:
    """Colour and line style of a sweep job, from its number (its directory name) alone, so a
    job keeps them across re-plots and when other jobs are missing."""
    k = int(job) if job.isdigit() else zlib.crc32(job.encode())  # crc32: stable across runs
    return JOB_COLORS[k % len(JOB_COLORS)], JOB_STYLES[k // len(JOB_COLORS) % len(JOB_STYLES)]


def _override_tokens(ds: xr.Dataset) -> list[str]:
    # the overrides that change results (the label); the scenario is named on its own
    return str(ds.attrs.get("label", ds.attrs.get("overrides", ""))).split()


def job_labels(runs: dict[str, xr.Dataset]) -> tuple[dict[str, str], list[str]]:
    """Each job's legend label (scenario and the overrides that differ between jobs) and the
    overrides every job shares (for the footer)."""
    tokens = {job: _override_tokens(ds) for job, ds in runs.items()}
    common = set.intersection(*map(set, tokens.values())) if len(runs) > 1 else set()
    labels = {job: " ".join([f"job {job}:", str(ds.attrs.get("scenario", "?")),
                             *[t for t in tokens[job] if t not in common]])
              for job, ds in runs.items()}
    return labels, [t for t in next(iter(tokens.values())) if t in common]


def sweep_footer(runs: dict[str, xr.Dataset], common: list[str]) -> str:
    n = {job: int(ds.attrs["n_paths"]) for job, ds in runs.items()}
    paths = (f"{paths_text(next(iter(n.values())))} per job" if len(set(n.values())) == 1
             else "paths " + ", ".join(f"job {job}: {k:,}" for job, k in n.items()))
    seeds = sorted({str(ds.attrs.get("seed", "?")) for ds in runs.values()})
    jobs = "1 job" if len(runs) == 1 else f"{len(runs)} jobs"
    parts = [f"bubblesim sweep | {jobs} | {paths} | seed {', '.join(seeds)}"]
    if common:
        parts.append(f"all jobs: {' '.join(common)}")
    return " | ".join(parts)


def _job_survival(ax, ds: xr.Dataset, color, style: str, name: str) -> tuple:
    """Draw one job's cloud-firm survival and its pointwise band; return the line (for the
    figure's legend) and the values drawn (for the zoom)."""
    clouds = ds.sel(sector="clouds")
    (line,) = ax.step(ds["time"], clouds["survival"], where="post", color=color, ls=style,
                      lw=1.6, label=name)
    lower, upper = clouds["survival_lower"], clouds["survival_upper"]
    if int(ds.attrs["n_paths"]) < 2 or not _drawn(lower, upper):
        return line, [clouds["survival"].values]
    ax.fill_between(ds["time"], lower, upper, step="post", color=color, alpha=0.2)
    return line, [clouds["survival"].values, lower.values, upper.values]


def compare_jobs(runs: dict[str, xr.Dataset] | list[xr.Dataset],
                 not_shown: list[str] = ()) -> plt.Figure:
    """A sweep's jobs side by side: max-drawdown exceedance (log scale, 95% error bars) and
    cloud-firm survival (pointwise 95% band); one legend, a colour per job number; the jobs
    that did not finish (``not_shown``) are named under the panels."""
    if not isinstance(runs, dict):
        runs = {str(i): ds for i, ds in enumerate(runs)}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), constrained_layout=True)
    labels, common = job_labels(runs)
    floor = exceedance_floor(list(runs.values()))
    step = min(0.015, 0.06 / len(runs))  # side by side, so error bars do not hide each other
    shown, handles = [], []
    for i, (job, ds) in enumerate(runs.items()):
        color, style = job_style(job)
        _exceedance(left, ds, floor, color, labels[job], dx=(i - (len(runs) - 1) / 2) * step,
                    ls=style)
        line, values = _job_survival(right, ds, color, style, labels[job])
        handles.append(line)
        shown += values
    _exceedance_axis(left, floor, next(iter(runs.values()))["threshold"].values)
    left.set_title("max-drawdown exceedance by job (log scale; bars: 95% CI;\nopen triangle: "
                   "no path exceeded x, at its 95% upper bound)", fontsize=10)
    right.set_xlabel("months since start [months]")
    right.set_ylabel("cloud firms alive (Kaplan-Meier) [share]")
    zoom = _survival_axis(right, shown, max(int(ds["time"][-1]) for ds in runs.values()))
    right.set_title(f"cloud-sector survival by job (shaded: pointwise 95%){zoom}", fontsize=10)
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(runs), 3),
               fontsize=8)
    _footer_text(fig, sweep_footer(runs, common))
    if not_shown:
        fig.text(0.99, 0.005, "not shown (did not finish): " + ", ".join(not_shown),
                 fontsize=8, color="firebrick", ha="right", va="bottom")
    return fig


def plot_sweep(sweep_dir: Path, fmt: str = "png", out_dir: Path | None = None,
               strict: bool = False) -> list[Path]:
    """The comparison figure of a sweep's finished jobs, in ``out_dir`` (default
    <sweep dir>/plots/). Jobs that did not finish get a warning line each on stderr and a note
    on the figure; ``strict`` makes them an error (OutputError) instead."""
    from sim.sweep import sweep_jobs

    jobs = sweep_jobs(sweep_dir)
    missing = [job for job in jobs if job.status != "finished"]
    for job in missing:
        kind = "error" if strict else "warning"
        print(f"bubblesim-plot: {kind}: {sweep_dir}: {job.describe()}", file=sys.stderr)
    if missing and strict:
        raise io.OutputError(f"{len(missing)} jobs did not finish (--strict)")
    runs = {job.name: io.read_results(job.path) for job in jobs if job.status == "finished"}
    if not runs:
        raise io.OutputError(f"{sweep_dir}: no job finished")
    fig = compare_jobs(runs, [f"job {j.name} ({j.status})" for j in missing])
    out_dir = Path(out_dir or Path(sweep_dir) / PLOTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_save(fig, out_dir / f"comparison.{fmt}", fmt)]


def plot_run(path: Path, fmt: str = "png", out_dir: Path | None = None) -> list[Path]:
    """Write every figure of the run at ``path`` into ``out_dir`` (default <run dir>/plots/);
    return the files."""
    ds = io.read_results(path)
    run_dir = io.results_path(path).parent
    out_dir = Path(out_dir or run_dir / PLOTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_save(make(ds), out_dir / f"{name}.{fmt}", fmt) for name, make in FIGURES.items()]
    if (run_dir / io.SENSITIVITY).exists():
        files += plot_sensitivity(run_dir, fmt, out_dir)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bubblesim-plot",
                                     description="Figures of a saved bubblesim run.")
    parser.add_argument("path", type=Path,
                        help="a run directory, its results.nc, or a sweep directory")
    parser.add_argument("--format", choices=FORMATS, default="png")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write the figures into DIR (created if needed) instead of "
                             "plots/ next to results.nc or in the sweep directory")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) if a sweep has jobs that did not finish")
    args = parser.parse_args(argv)
    from sim.sweep import is_sweep_dir

    sweep = is_sweep_dir(args.path)
    calibrated = (args.path / "posterior.nc").exists() and not (args.path / io.RESULTS).exists()
    home = args.path if sweep or calibrated else io.results_path(args.path).parent
    out_dir = args.out or home / PLOTS
    try:
        if calibrated:  # a bubblesim-calibrate run directory
            from sim.calibration_plots import plot_calibration

            files = plot_calibration(args.path, fmt=args.format, out_dir=out_dir)
        elif sweep:
            files = plot_sweep(args.path, args.format, out_dir, args.strict)
        else:
            files = plot_run(args.path, args.format, out_dir)
    except io.OutputError as exc:
        print(f"bubblesim-plot: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"bubblesim-plot: {io.write_failure(out_dir, exc, '--out DIR')}",
              file=sys.stderr)
        return 1
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
