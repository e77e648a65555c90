"""Headline tables from saved datasets: `bubblesim-report PATH...` and each run's summary.md.

Reads only results.nc files (never the engine); every number printed is a value of the
dataset's ``headline`` variables (value, standard error, 95% interval). A sweep's jobs that
did not finish are listed on stderr and marked in the table, never dropped silently.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from sim import io

COLUMNS = {
    "median_max_drawdown": "median max drawdown",
    "p95_max_drawdown": "p95 max drawdown",
    "prob_max_drawdown_gt_50pct": "P(max drawdown > 50%)",
    "median_peak_to_trough_months": "median months peak to trough",
    "prob_recovered_by_horizon": "P(recovered by the horizon)",
    "median_recovery_months": "median months to recovery",
    "survival_labs_at_horizon": "labs alive at the horizon",
    "survival_clouds_at_horizon": "clouds alive at the horizon",
    "survival_vendors_at_horizon": "vendors alive at the horizon",
    "peak_median_circularity": "peak median circularity",
    "peak_median_revenue_gap": "peak median revenue gap",
    "median_roic_clouds_at_horizon": "median clouds' ROIC at the horizon",
    "prob_lab_runway_below_6_months": "P(lab runway < 6 months)",
    "price_response_share_of_growth": "share of demand growth from cheaper tokens",
    "median_implied_elasticity": "median implied elasticity",
}
DASH = ("'-': not reached within the horizon (e.g. fewer than half of the paths recovered) "
        "or not kept (output.per_path=false).")
FEW_PATHS = 100
SPLIT_TEXT = ("Spread from parameters: the share of the variance across paths of the outcome "
              "behind each figure that the priors explain, Var E[Y | parameters] / Var Y, from "
              "paths that share their draws (the rest is shock noise; docs/priors.md).")


def with_se(value: float, se: float, lower: float = math.nan, upper: float = math.nan) -> str:
    """'0.123 ± 0.004' (the SE to two significant digits); where the SE is 0 or unknown but
    the value is not exact, its 95% interval '1 (95% CI 0.998-1)'; '-' for NaN."""
    if math.isnan(value):
        return "-"
    text = f"{value:.3g}"
    if se > 0:
        return f"{text} ± {se:.2g}"
    if lower < upper:
        digits = next((d for d in range(3, 10) if f"{lower:.{d}g}" != f"{upper:.{d}g}"), 10)
        return f"{text} (95% CI {lower:.{digits}g}-{upper:.{digits}g})"
    return text


def run_label(ds: xr.Dataset) -> str:
    label = ds.attrs.get("label", ds.attrs.get("overrides", ""))
    return f"{ds.attrs.get('scenario', '?')} {label}".strip()


def headline(ds: xr.Dataset) -> dict[str, tuple[float, float, float, float]]:
    """name -> (value, SE, 95% lower, 95% upper); the limits are NaN in older files."""
    nan = np.full(ds.sizes["figure"], np.nan)
    columns = [ds[name].values if name in ds else nan
               for name in ("headline", "headline_se", "headline_lower", "headline_upper")]
    names = [str(f) for f in ds["figure"].values]
    return {name: tuple(float(c[i]) for c in columns) for i, name in enumerate(names)}


def parameter_shares(ds: xr.Dataset) -> dict[str, str]:
    """figure -> 'share ± SE' of its outcome's spread that the priors explain ('-': none);
    empty for a run without them."""
    if "headline_parameter_share" not in ds:
        return {}
    shares = ds["headline_parameter_share"].values
    ses = ds["headline_parameter_share_se"].values
    return {str(name): "-" if math.isnan(share) else f"{share:.1%} ± {se:.1%}"
            for name, share, se in zip(ds["figure"].values, shares, ses, strict=True)}


def warnings(ds: xr.Dataset) -> list[str]:
    """What a reader of this run must know before citing it: NaN paths, series outside their
    histogram range, too few paths or months for the statistics to mean much."""
    lines = []
    n = int(ds.attrs["n_paths"])
    bad = int(ds.attrs.get("nonfinite_paths", 0))
    if bad:
        lines.append(f"{bad:,} of {n:,} paths produced NaN or inf (first: path "
                     f"{ds.attrs['first_nonfinite_path']}); they are counted, not averaged")
    if "histogram_outside" in ds:
        lines += _clipping(ds)
    if n == 1:
        lines.append("1 path: the bands are that path, and standard errors and intervals are "
                     "not meaningful")
    elif n < FEW_PATHS:
        lines.append(f"only {n} paths: quantile bands are coarse and standard errors rough")
    if int(ds.attrs.get("design_period", 0)):
        lines.append("the paths are the rows of a Saltelli design (engine.prior_sampling="
                     "saltelli): rows of a base point share parameters or shocks, so the "
                     "standard errors, which treat paths as independent, are too small; cite "
                     "a run with engine.prior_sampling=random")
    if int(ds.attrs["horizon_months"]) < 2:
        lines.append("a 1-month horizon: drawdown, recovery and survival figures describe one "
                     "step, and there are no annual hazards")
    return lines


def _clipping(ds: xr.Dataset) -> list[str]:
    outside = ds["histogram_outside"].sum("time")
    total = int(ds.attrs["n_paths"]) * ds.sizes["time"]
    lines = []
    for series in ds["series"].values:
        below = int(outside.sel(series=series, outside="below_range"))
        above = int(outside.sel(series=series, outside="above_range"))
        if below + above == 0:
            continue
        edges = ds["histogram_edges"].sel(series=series).values
        lines.append(f"{series}: {below + above:,} of {total:,} path-months outside the "
                     f"histogram range [{edges[0]:.3g}, {edges[-1]:.3g}] ({below:,} below, "
                     f"{above:,} above); its bands are bounds there (band_clipped)")
    return lines


def summary(ds: xr.Dataset) -> str:
    """summary.md of one run: every headline figure with its uncertainty and unit."""
    labels = dict(zip(ds["figure"].values, _coord(ds, "figure_label"), strict=True))
    units = dict(zip(ds["figure"].values, _coord(ds, "figure_unit_text"), strict=True))
    start = str(np.datetime_as_string(ds["date"].values[0], unit="M")) if "date" in ds else "?"
    lines = [f"# bubblesim: {run_label(ds)}", "",
             f"{ds.attrs['n_paths']:,} paths, {ds.attrs['horizon_months']} months from {start}, "
             f"seed {ds.attrs['seed']}. Each value is an estimate ± its Monte Carlo standard "
             "error; where that error would read 0 (all paths agree), its 95% interval.", ""]
    split = parameter_shares(ds)
    if split:
        lines += [SPLIT_TEXT, "", "| figure | value | unit | spread from parameters |",
                  "|---|---:|---|---:|"]
    else:
        lines += ["| figure | value | unit |", "|---|---:|---|"]
    for name, figures in headline(ds).items():
        row = f"| {labels[name]} | {with_se(*figures)} | {units[name]} |"
        lines.append(row + (f" {split[name]} |" if split else ""))
    lines += ["", DASH]
    notes = warnings(ds)
    if notes:
        lines += ["", "## Warnings", "", *(f"- {line}" for line in notes)]
    return "\n".join(lines) + "\n"


def _coord(ds: xr.Dataset, name: str) -> list[str]:
    """A per-figure text coordinate; older files lack the labels, so fall back to the name."""
    if name in ds.coords:
        return [str(v) for v in ds[name].values]
    return [str(f).replace("_", " ") for f in ds["figure"].values]


def table(rows: list[tuple[str, xr.Dataset | None]]) -> str:
    """One markdown row per (label, run); a run of None is a job that did not finish."""
    head = "| run | paths | " + " | ".join(COLUMNS.values()) + " |"
    rule = "|---|---:|" + "---:|" * len(COLUMNS)
    lines = [head, rule]
    for label, ds in rows:
        if ds is None:
            lines.append(f"| {label} | - | " + " | ".join("-" for _ in COLUMNS) + " |")
            continue
        figures = headline(ds)
        cells = [with_se(*figures[name]) for name in COLUMNS]
        lines.append(f"| {label} | {ds.attrs['n_paths']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + DASH + "\n"


def _distinct(rows: list[tuple[str, xr.Dataset | None, Path]]) -> list[tuple[str, object]]:
    """Labels made unique: runs with equal labels are told apart by their directories."""
    labels = [label for label, _, _ in rows]
    return [(f"{label} [{path}]" if labels.count(label) > 1 else label, ds)
            for label, ds, path in rows]


def collect(paths: list[Path]) -> tuple[list[tuple[str, xr.Dataset | None, Path]], list[str]]:
    """The runs behind ``paths`` (a sweep stands for all its jobs, in job order) and one line
    per sweep job that did not finish."""
    from sim.sweep import is_sweep_dir, sweep_jobs

    rows, problems = [], []
    for path in paths:
        if not is_sweep_dir(path):
            ds = io.read_results(path)
            rows.append((run_label(ds), ds, io.results_path(path).parent))
            continue
        for job in sweep_jobs(path):
            if job.status == "finished":
                ds = io.read_results(job.path)
                rows.append((run_label(ds), ds, job.path))
            else:
                problems.append(f"{path}: {job.describe()}")
                rows.append((f"job {job.name} ({job.status}) {job.settings}", None, job.path))
    return rows, problems


TOP = 3  # priors shown per outcome
INDICES = ("total_order", "total_order_lower", "total_order_upper", "unusual_paths")


def saved_indices(run_dir: Path) -> xr.Dataset | None:
    """The Sobol' indices (outcome x factor) saved for a run: its sensitivity.nc, or its
    job's slice of the sweep.nc beside it; None if neither holds any."""
    from sim.sweep import SWEEP

    run_dir = Path(run_dir)
    own = run_dir / io.SENSITIVITY
    if own.is_file():
        return _opened(own, lambda ds: ds[[*INDICES]].load())
    sweep = run_dir.parent / SWEEP
    if not sweep.is_file():
        return None
    return _opened(sweep, lambda ds: _job_indices(ds, run_dir.name))


def _opened(file: Path, read):
    """``read`` of the dataset in ``file``; OutputError if it is not a readable one."""
    try:
        with xr.open_dataset(file, engine="h5netcdf") as ds:
            return read(ds)
    except (OSError, ValueError, KeyError) as exc:
        raise io.OutputError(f"{file}: not a readable bubblesim file ({type(exc).__name__}); "
                             "write it again") from None


def _job_indices(ds: xr.Dataset, job: str) -> xr.Dataset | None:
    """One job's Sobol' indices in a sweep dataset (None: it has none)."""
    if "total_order" not in ds:
        return None
    jobs = list(ds["job_dir"].dims)
    flat = ds.stack(_job=jobs) if jobs != ["job"] else ds.rename(job="_job")
    match = np.flatnonzero(flat["job_dir"].values == job)
    if not match.size:
        return None
    found = flat[[*INDICES]].isel(_job=int(match[0])).load()
    return found if np.isfinite(found["total_order"]).any() else None


def importance(rows: list[tuple[str, xr.Dataset | None, Path]]) -> str:
    """Per run with saved Sobol' indices, its most important priors per outcome (total index
    with its interval) and the shocks' share; '' when no run has any."""
    lines = []
    for label, ds, path in rows:
        found = saved_indices(path) if ds is not None else None
        if found is None:
            continue
        for outcome in found["outcome"].values:
            total = found.sel(outcome=outcome)
            priors = total.drop_sel(factor="shocks").dropna("factor")
            order = np.argsort(-priors["total_order"].values)[:TOP]
            cells = [_index_cell(priors.isel(factor=int(i))) for i in order]
            cells += ["-"] * (TOP - len(cells))
            few = int(total["unusual_paths"])
            name = (f"{outcome} (unreliable: {few:,} paths differ)"
                    if few < 0.01 * int(ds.attrs["n_paths"]) else str(outcome))
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + " | "
                         + _index_cell(total.sel(factor="shocks"), named=False) + " |")
    if not lines:
        return ""
    head = ("\n## Most important priors per outcome\n\nTotal Sobol' index (share of the "
            "outcome's variance a prior explains with its interactions) with its 95% bootstrap "
            "interval; shocks: the share that is the paths' luck (docs/priors.md).\n\n"
            "| run | outcome | " + " | ".join(f"#{k + 1}" for k in range(TOP))
            + " | shocks |\n|---|---|" + "---|" * (TOP + 1))
    return head + "\n" + "\n".join(lines) + "\n"


def _index_cell(index: xr.Dataset, named: bool = True) -> str:
    text = (f"{float(index['total_order']):.2f} ({float(index['total_order_lower']):.2f}-"
            f"{float(index['total_order_upper']):.2f})")
    return f"{index['factor'].item()} {text}" if named else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bubblesim-report",
        description="Headline table (markdown) of saved bubblesim runs.")
    parser.add_argument("paths", nargs="+", type=Path,
                        help="run or sweep directories, or results.nc files")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) if a sweep has jobs that did not finish")
    args = parser.parse_args(argv)
    try:
        rows, problems = collect(args.paths)
        labelled = [(label, ds, path) for (label, ds), (_, _, path)
                    in zip(_distinct(rows), rows, strict=True)]
        ranked = importance(labelled)
    except io.OutputError as exc:
        print(f"bubblesim-report: {exc}", file=sys.stderr)
        return 1
    kind = "error" if args.strict else "warning"
    for line in problems:
        print(f"bubblesim-report: {kind}: {line}", file=sys.stderr)
    if problems and args.strict:
        print(f"bubblesim-report: {len(problems)} jobs did not finish (--strict)",
              file=sys.stderr)
        return 1
    sys.stdout.write(table(_distinct(rows)) + ranked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
