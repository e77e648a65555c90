"""Headline tables from saved datasets: `bubblesim-report PATH...` and each run's summary.md.

Reads only results.nc files (never the engine); every number printed is a value of the
dataset's ``headline`` / ``headline_se`` variables.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import xarray as xr

from sim import io

COLUMNS = {
    "median_max_drawdown": "median MDD",
    "p95_max_drawdown": "p95 MDD",
    "prob_max_drawdown_gt_50pct": "P(MDD>50%)",
    "median_peak_to_trough_months": "median peak-to-trough (months)",
    "prob_recovered_by_horizon": "P(recovered by horizon)",
    "survival_labs_at_horizon": "labs alive",
    "survival_clouds_at_horizon": "clouds alive",
    "survival_vendors_at_horizon": "vendors alive",
    "jevons_share": "Jevons share",
}


def with_se(value: float, se: float) -> str:
    """'0.123 ± 0.004' (the SE to two significant digits; '-' for NaN)."""
    if math.isnan(value):
        return "-"
    text = f"{value:.3g}"
    if math.isnan(se):
        return text
    return f"{text} ± {se:.2g}"


def run_label(ds: xr.Dataset) -> str:
    overrides = ds.attrs.get("overrides", "")
    return f"{ds.attrs.get('scenario', '?')} {overrides}".strip()


def headline(ds: xr.Dataset) -> dict[str, tuple[float, float]]:
    names = [str(f) for f in ds["figure"].values]
    return {name: (float(v), float(s)) for name, v, s in
            zip(names, ds["headline"].values, ds["headline_se"].values, strict=True)}


def table(datasets: list[xr.Dataset]) -> str:
    """One markdown row per run: its label, then each column's value ± standard error."""
    head = "| run | paths | " + " | ".join(COLUMNS.values()) + " |"
    rule = "|---|---:|" + "---:|" * len(COLUMNS)
    rows = []
    for ds in datasets:
        figures = headline(ds)
        cells = [with_se(*figures[name]) for name in COLUMNS]
        rows.append(f"| {run_label(ds)} | {ds.attrs['n_paths']:,} | " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *rows]) + "\n"


def summary(ds: xr.Dataset) -> str:
    """summary.md of one run: every headline figure with its standard error and unit."""
    units = dict(zip(ds["figure"].values, ds["figure_units"].values, strict=True))
    lines = [f"# bubblesim: {run_label(ds)}", "",
             f"{ds.attrs['n_paths']:,} paths, {ds.attrs['horizon_months']} months, "
             f"seed {ds.attrs['seed']}; ± is the Monte Carlo standard error.", "",
             "| figure | value | unit |", "|---|---:|---|"]
    for name, (value, se) in headline(ds).items():
        lines.append(f"| {name.replace('_', ' ')} | {with_se(value, se)} | {units[name]} |")
    bad = int(ds.attrs.get("nonfinite_paths", 0))
    if bad:
        lines += ["", f"**{bad} paths produced NaN or inf** (first: path "
                      f"{ds.attrs['first_nonfinite_path']})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bubblesim-report",
        description="Headline table (markdown) of saved bubblesim runs.")
    parser.add_argument("paths", nargs="+", type=Path,
                        help="run or sweep directories, or results.nc files")
    args = parser.parse_args(argv)
    try:
        datasets = [io.read_results(run) for path in args.paths for run in io.run_paths(path)]
    except io.OutputError as exc:
        print(f"bubblesim-report: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(table(datasets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
