"""The 1995-2007 backtest: simulated bands beside the NASDAQ and the fall in leased-line prices.

`python -m sim.backtest RUN [--calibrated RUN2]` (`bubblesim-backtest`) reads the results.nc
of a run from ``start=1995q1 scenario=telecom_1995`` (and optionally of one whose priors are
the posterior of the 1995-1999 calibration), and writes beside the first run (or into
``--out``) backtest.md, the table, and plots/backtest.png, the figure (docs/backtest_1995.md).

The table applies one function, :func:`episodes`, to the NASDAQ's month-end closes and to
every sampled path of the model's index (``sample_index``; ``engine.sample_paths`` sets how
many), so data and model are summarized alike:

- run-up: the index at the peak of the largest drawdown over its value at 1995-01;
- peak: the month of that peak;
- drawdown: the largest fall from a running peak, on month-end values;
- months to trough: from that peak to the month of the lowest value after it;
- recovered: whether the index regained that peak by the last month (2007-12).

The rental price (the model's $ per kbit/s-month) is compared, normalized to 1995-01, with
seeds/002's leased line: $200k/yr for 2 Mbit/s in 1995, under $2k in 2001.

Analysis functions take arrays and datasets and return arrays, text and figures; reading the
csv and the runs and writing the files happen in :func:`main` only.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from sim import io

# a copy of ../shared/calibration/'s (REFERENCE.md A1) in the repository: data/README.md
NASDAQ_CSV = Path(__file__).resolve().parent.parent / "data" / "nasdaq_monthly_1995_2007.csv"
TABLE = "backtest.md"
FIGURE = Path("plots") / "backtest.png"
# seeds/002: a 2 Mbit/s leased line at $200k a year in 1995, under $2k in 2001 ($ per
# kbit/s-month: 200,000 / 12 / 2,048 = 8.14; 2,000 / 12 / 2,048 = 0.081)
LEASED_LINE = {"1995-01": 200_000.0 / 12 / 2048, "2001-06": 2_000.0 / 12 / 2048}
LEASED_LINE_UPPER_BOUND = ("2001-06",)  # "under $2k": the 2001 point is an upper bound
BAND = (0.05, 0.95)


@dataclass(frozen=True)
class Episodes:
    """The largest drawdown of each series (rows of the input), month indices from 0."""

    runup: np.ndarray        # value at the peak / value at month 0
    peak: np.ndarray         # month of the peak before the largest drawdown
    trough: np.ndarray       # month of its trough
    drawdown: np.ndarray     # 1 - trough value / peak value (0: never fell)
    recovered: np.ndarray    # bool: the peak regained by the last month
    recovery: np.ndarray     # month the peak was regained (NaN: not by the last month)

    @property
    def to_trough(self) -> np.ndarray:
        return self.trough - self.peak


def episodes(values: np.ndarray) -> Episodes:
    """The largest drawdown of each row of ``values`` (series x months, > 0): its peak (the
    running maximum before the deepest fall; the first month of a tie), trough, depth, and
    whether and when the peak was regained."""
    v = np.atleast_2d(np.asarray(values, dtype=float))
    if not (np.isfinite(v).all() and (v > 0).all()):
        raise ValueError("values: every value must be finite and > 0")
    running = np.maximum.accumulate(v, axis=1)
    dd = 1.0 - v / running
    trough = dd.argmax(axis=1)
    rows = np.arange(v.shape[0])
    depth = dd[rows, trough]
    # the peak: the first month at the running maximum the trough falls from
    peak_value = running[rows, trough]
    months = np.arange(v.shape[1])
    peak = np.where(v == peak_value[:, None], months, v.shape[1]).min(axis=1)
    after = (months[None, :] > trough[:, None]) & (v >= peak_value[:, None])
    recovered = (depth > 0) & after.any(axis=1)
    recovery = np.where(recovered, np.where(after, months, v.shape[1]).min(axis=1), np.nan)
    return Episodes(runup=peak_value / v[:, 0], peak=peak, trough=trough, drawdown=depth,
                    recovered=recovered | (depth == 0), recovery=recovery)


def read_nasdaq(path: Path = NASDAQ_CSV) -> tuple[np.ndarray, np.ndarray]:
    """The NASDAQ's months (datetime64[M]) and month-end closes from the csv (data/, a copy
    of ../shared/calibration/'s)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    months = np.array([r["month"] for r in rows], dtype="datetime64[M]")
    return months, np.array([float(r["nasdaq_close"]) for r in rows])


def run_months(ds: xr.Dataset) -> np.ndarray:
    """The calendar months of a run's time axis."""
    return ds["date"].values.astype("datetime64[M]")


def _on_nasdaq_months(ds: xr.Dataset, months: np.ndarray) -> np.ndarray:
    """Indices of the run's months that the NASDAQ series covers (the same months)."""
    own = run_months(ds)
    if own[0] != months[0]:
        raise ValueError(f"the run starts in {own[0]}, the NASDAQ series in {months[0]}: "
                         "run the backtest from start=1995q1")
    n = min(len(own), len(months))
    return np.arange(n)


def _fmt_month(first: np.datetime64, month: float) -> str:
    return str(first + int(round(month))) if np.isfinite(month) else "-"


def _summary(values: np.ndarray, first: np.datetime64, kind: str) -> str:
    """Median [5%, 95%] of sampled values, as months, multiples or shares."""
    lo, mid, hi = np.quantile(values, [BAND[0], 0.5, BAND[1]], method="inverted_cdf")
    if kind == "month":
        return f"{_fmt_month(first, mid)} [{_fmt_month(first, lo)}, {_fmt_month(first, hi)}]"
    if kind == "percent":
        return f"{mid:.0%} [{lo:.0%}, {hi:.0%}]"
    if kind == "months":
        return f"{mid:.0f} [{lo:.0f}, {hi:.0f}]"
    return f"{mid:.2f}x [{lo:.2f}x, {hi:.2f}x]"


def table_rows(months: np.ndarray, nasdaq: np.ndarray,
               runs: dict[str, xr.Dataset]) -> list[tuple[str, ...]]:
    """The rows of the backtest table: the NASDAQ's figures and, per run, the median and
    5-95% band of the same figures over its sampled paths (``sample_index``), with the
    rental price's fall to 2001 beside seeds/002's leased line."""
    first = months[0]
    obs = episodes(nasdaq[None, :])
    header = ("figure", "NASDAQ / leased line", *runs)
    cols = {}
    for name, ds in runs.items():
        t = _on_nasdaq_months(ds, months)
        # a calibration's forecast keeps every path's index; a run, its sampled paths'
        every = "index_by_path" in ds
        paths = ds["index_by_path" if every else "sample_index"].values[:, t]
        ep = episodes(paths)
        rent = ds["rental_price"].sel(quantile=[BAND[0], 0.5, BAND[1]]) / float(
            ds["initial_value"].sel(observable="rental_price"))
        at_2001 = int(np.flatnonzero(run_months(ds) == np.datetime64(LEASED_LINE_UPPER_BOUND[0]))
                      [0])
        lo, mid, hi = rent.isel(time=at_2001).values
        deeper = float(np.mean(ep.drawdown >= obs.drawdown[0]))
        cols[name] = (
            _summary(ep.runup, first, "multiple"),
            _summary(ep.peak, first, "month"),
            _summary(ep.drawdown, first, "percent"),
            _summary(ep.to_trough, first, "months"),
            f"{np.mean(ep.recovered):.0%} of paths",
            f"{deeper:.1%} of paths",
            f"{mid:.3f} [{lo:.3f}, {hi:.3f}]",
            f"all {len(paths):,} paths" if every else
            f"{len(paths):,} sampled paths of {int(ds.attrs.get('total_paths', len(paths))):,}",
        )
    line = LEASED_LINE["2001-06"] / LEASED_LINE["1995-01"]
    data = (f"{obs.runup[0]:.2f}x", _fmt_month(first, obs.peak[0]), f"{obs.drawdown[0]:.1%}",
            f"{obs.to_trough[0]:.0f}",
            "no" if not obs.recovered[0] else f"yes ({_fmt_month(first, obs.recovery[0])})",
            f"{obs.drawdown[0]:.1%} (the NASDAQ's)", f"< {line:.3f} (seeds/002)", "")
    labels = ("run-up to the peak (peak / 1995-01)", "peak (month-end)",
              "largest drawdown (month-end)", "months from peak to trough",
              f"peak regained by {months[-1]}", "paths with a drawdown at least the NASDAQ's",
              "leased-capacity price 2001-06 / 1995-01", "paths")
    rows = [header]
    for k, label in enumerate(labels):
        rows.append((label, data[k], *(cols[name][k] for name in runs)))
    return rows


def table_markdown(rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines) + "\n"


def report(months: np.ndarray, nasdaq: np.ndarray, runs: dict[str, xr.Dataset]) -> str:
    """backtest.md: the table and what its columns are."""
    head = ("# Backtest 1995-2007: the simulated index and rent against the NASDAQ and "
            "leased-line prices\n\n"
            "Each figure of the NASDAQ (month-end closes, REFERENCE.md A1) is computed by the "
            "same function over every sampled path of each run (`sim.backtest.episodes`): "
            "median [5%, 95%]. The largest drawdown of a path is its deepest fall from a "
            "running peak over 1995-01 to 2007-12; its run-up is that peak over 1995-01. The "
            "rent is the median [5%, 95%] across all paths of the rental price in 2001-06 over "
            "its 1995-01 value, beside seeds/002's 2 Mbit/s line ($200k/yr in 1995, under $2k "
            "in 2001).\n\n")
    runs_text = "".join(f"- {name}: {ds.attrs.get('overrides', '')}\n" for name, ds in runs.items())
    return head + table_markdown(table_rows(months, nasdaq, runs)) + "\nRuns:\n\n" + runs_text


def figure(months: np.ndarray, nasdaq: np.ndarray, runs: dict[str, xr.Dataset]):
    """Two panels: the simulated index (5-95% and 25-75% bands, median) normalized to 1995-01
    beside the NASDAQ; the simulated rental price normalized to 1995-01 beside seeds/002's
    leased-line prices. The calibration window (to 1999-12) is shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.plots import readable_log_ticks

    colors = ("tab:orange", "tab:blue", "tab:green")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained")
    as_dates = months.astype("datetime64[D]")
    for ax in (left, right):
        ax.axvspan(as_dates[0], np.datetime64("1999-12-31"), color="0.95", zorder=0)
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    for (name, ds), color in zip(runs.items(), colors, strict=False):
        dates = run_months(ds).astype("datetime64[D]")
        for panel, var in ((left, "index"), (right, "rental_price")):
            q = ds[var] / float(ds["initial_value"].sel(observable=var))
            panel.fill_between(dates, q.sel(quantile=0.05), q.sel(quantile=0.95), color=color,
                               alpha=0.15, lw=0)
            panel.fill_between(dates, q.sel(quantile=0.25), q.sel(quantile=0.75), color=color,
                               alpha=0.3, lw=0)
            panel.plot(dates, q.sel(quantile=0.5), color=color, lw=1.6,
                       label=f"{name}: median, 25-75% and 5-95% of paths")
    left.plot(as_dates, nasdaq / nasdaq[0], color="k", lw=1.8,
              label="NASDAQ Composite, month-end close (A1)")
    left.set_title("the index against the NASDAQ (1995-01 = 1)", fontsize=10)
    left.set_ylabel("index / 1995-01")
    for month, price in LEASED_LINE.items():
        bound = month in LEASED_LINE_UPPER_BOUND
        right.plot(np.datetime64(month, "D"), price / LEASED_LINE["1995-01"],
                   "kv" if bound else "ko", ms=9,
                   label="2 Mbit/s leased line, " + (r"under \$2k/yr (2001; an upper bound)"
                                                     if bound else r"\$200k/yr (1995)")
                   + ": seeds/002")
    right.set_title("leased-capacity price (1995-01 = 1)", fontsize=10)
    right.set_ylabel("rent / 1995-01")
    for ax in (left, right):
        readable_log_ticks(ax)
        ax.legend(fontsize=7.5, loc="lower left")
        ax.set_xlabel("month (shaded: the calibration window, to 1999-12)")
    fig.suptitle("Backtest from 1995q1 (scenario telecom_1995): boom and bust out of sample",
                 fontsize=11)
    return fig


COLUMNS = ("prior", "calibrated on 1995-1999")  # bubblesim-backtest RUN --calibrated RUN2


def named_runs(datasets: list[xr.Dataset]) -> dict[str, xr.Dataset]:
    """The columns: the prior's run and the calibrated one, or, for a calibration's re-runs
    (every path's index kept), their labels: the unconditioned and the kept paths."""
    defaults = COLUMNS[:len(datasets)]
    names = [str(ds.attrs["label"]) if "index_by_path" in ds else default
             for ds, default in zip(datasets, defaults, strict=True)]
    return dict(zip(names if len(set(names)) == len(names) else defaults, datasets,
                    strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bubblesim-backtest",
        description="The 1995-2007 backtest: a run from start=1995q1 beside the NASDAQ and "
                    "leased-line prices (docs/backtest_1995.md).")
    parser.add_argument("run", type=Path, help="a run directory (or its results.nc) of "
                        "start=1995q1 scenario=telecom_1995")
    parser.add_argument("--calibrated", type=Path, metavar="RUN2",
                        help="a run with the posterior of the 1995-1999 calibration as priors")
    parser.add_argument("--nasdaq", type=Path, default=NASDAQ_CSV,
                        help="the NASDAQ monthly csv (default: data/nasdaq_monthly_1995_2007.csv)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write backtest.md and plots/backtest.png into DIR (default: the "
                             "first run's directory)")
    args = parser.parse_args(argv)
    try:
        runs = named_runs([io.read_results(path) for path in (args.run, args.calibrated)
                           if path])
        months, nasdaq = read_nasdaq(args.nasdaq)
        text = report(months, nasdaq, runs)
        out = Path(args.out or io.results_path(args.run).parent)
        (out / FIGURE).parent.mkdir(parents=True, exist_ok=True)
        io.write_text(text, out / TABLE)
        from sim.canvas import save as _save

        _save(figure(months, nasdaq, runs), out / FIGURE, "png")
    except (io.OutputError, OSError, ValueError, KeyError) as exc:
        print(f"bubblesim-backtest: {exc}", file=sys.stderr)
        return 1
    print(text, end="")
    print(f"\nwrote {out / TABLE} and {out / FIGURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
