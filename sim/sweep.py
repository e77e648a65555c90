"""Sweeps: one dataset per sweep (``sweep.nc``), written once in the parent process.

``SweepDataset.on_multirun_end`` runs after every launcher (basic, joblib, submitit, ray)
has finished all jobs. It reads each job directory's overrides and results.nc, stacks the
jobs' summaries with each swept key as a dimension when the sweep is a full grid (a ``job``
dimension with the overrides as coordinates otherwise), marks failed or missing jobs, and
exits non-zero if any job failed. ``on_multirun_start`` compiles the engine once in the
parent so worker processes load it from the cache instead of racing to compile it.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import xarray as xr
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sim import io

SWEEP = "sweep.nc"
FAILED = io.FAILED
SWEEP_TITLE = "bubblesim sweep"
# summaries small enough to stack across jobs (per-path arrays and histograms stay per job)
SUMMARY_VARIABLES = (
    "token_price", "spend", "compute_demand", "capacity", "capex", "utilization",
    "rental_price", "index", "sector_equity", "survival", "survival_lower", "survival_upper",
    "survival_band_lower", "survival_band_upper", "median_survival_months", "annual_hazard",
    "max_drawdown_quantiles", "max_drawdown_quantiles_se", "exceedance", "exceedance_se",
    "recovery_km", "recovery_km_lower", "recovery_km_upper", "headline", "headline_se",
    "max_drawdown_histogram", "peak_to_trough_histogram", "elasticity_histogram",
)
# keys that never distinguish jobs' results
IGNORED_PREFIXES = ("hydra.", "output.quiet", "output.overwrite", "engine.threads",
                    "engine.chunk_size")


def parse_value(text: str):
    """An override's value as a number when it is one, else the string."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text else number


def job_overrides(job_dir: Path) -> dict[str, object]:
    entries = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    out = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        key = key.lstrip("+~")
        if not key.startswith(IGNORED_PREFIXES):
            out[key] = parse_value(value)
    return out


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories of a sweep, in job order."""
    dirs = [d for d in Path(sweep_dir).iterdir()
            if d.is_dir() and (d / ".hydra" / "overrides.yaml").is_file()]
    return sorted(dirs, key=lambda d: (len(d.name), d.name))


def _load_job(job_dir: Path) -> tuple[xr.Dataset | None, str]:
    if (job_dir / FAILED).is_file():
        return None, "failed: " + (job_dir / FAILED).read_text().strip()
    try:
        ds = io.read_results(job_dir)
    except io.OutputError as exc:
        return None, f"missing: {exc}"
    keep = [name for name in SUMMARY_VARIABLES if name in ds]
    return ds[keep], "finished"


def _swept_keys(overrides: list[dict]) -> list[str]:
    keys = sorted({k for o in overrides for k in o})
    return [k for k in keys if len({repr(o.get(k)) for o in overrides}) > 1]


def _is_grid(overrides: list[dict], keys: list[str]) -> bool:
    if not keys:
        return False
    combos = {tuple(repr(o.get(k)) for k in keys) for o in overrides}
    values = [sorted({repr(o.get(k)) for o in overrides}) for k in keys]
    return len(combos) == len(overrides) == np.prod([len(v) for v in values]) and all(
        tuple(c) in combos for c in itertools.product(*values))


def combine(sweep_dir: Path) -> tuple[xr.Dataset, list[str]]:
    """The sweep dataset and one line per job that did not finish."""
    dirs = job_dirs(sweep_dir)
    if not dirs:
        raise io.OutputError(f"{sweep_dir}: no job directories (not a bubblesim sweep)")
    overrides = [job_overrides(d) for d in dirs]
    loaded = [_load_job(d) for d in dirs]
    finished = [(i, ds) for i, (ds, _) in enumerate(loaded) if ds is not None]
    problems = [f"job {d.name} ({' '.join(f'{k}={v}' for k, v in o.items())}): {status}"
                for d, o, (_, status) in zip(dirs, overrides, loaded, strict=True)
                if status != "finished"]
    if not finished:
        raise io.OutputError(f"{sweep_dir}: no job finished; " + "; ".join(problems))
    jobs = np.arange(len(dirs))
    stacked = xr.concat([ds.expand_dims(job=[i]) for i, ds in finished], dim="job",
                        join="outer", coords="minimal", compat="override",
                        combine_attrs="drop")
    stacked = stacked.reindex(job=jobs)  # failed jobs: NaN
    for variable in stacked.variables.values():
        variable.encoding = {}  # integer counts became floats with NaN for missing jobs
    keys = _swept_keys(overrides)
    status = [s.split(":")[0] for _, s in loaded]
    stacked = stacked.assign_coords(
        job_dir=("job", [d.name for d in dirs]),
        job_status=("job", status),
        job_overrides=("job", [" ".join(f"{k}={v}" for k, v in o.items()) for o in overrides]),
        **{k: ("job", [o.get(k) for o in overrides]) for k in keys})
    grid = _is_grid(overrides, keys)
    if grid and len(keys) == 1:
        stacked = stacked.swap_dims(job=keys[0])
    elif grid:
        stacked = stacked.set_index(job=keys).unstack("job")
    stacked.attrs.update({
        "title": SWEEP_TITLE, "swept_keys": " ".join(keys), "grid": int(grid),
        "n_jobs": len(dirs), "finished_jobs": len(finished),
        "unfinished_jobs": "\n".join(problems)})
    return stacked, problems


def write_sweep(sweep_dir: Path) -> tuple[Path, list[str]]:
    ds, problems = combine(sweep_dir)
    # object-typed coords (mixed strings) need a plain string type for NetCDF
    for name, coord in ds.coords.items():
        if coord.dtype == object:
            ds = ds.assign_coords({name: coord.astype(str)})
    return io.write_dataset(ds, Path(sweep_dir) / SWEEP), problems


class SweepDataset(Callback):
    """Hydra callback: warm the compiled engine, then write sweep.nc at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from sim.engine import warm_up

        warm_up()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            path, problems = write_sweep(sweep_dir)
        except io.OutputError as exc:
            print(f"bubblesim: sweep: {exc}", file=sys.stderr)
            sys.exit(1)
        print(f"bubblesim: sweep: wrote {path}", file=sys.stderr)
        for line in problems:
            print(f"bubblesim: sweep: {line}", file=sys.stderr)
        if problems:
            sys.exit(1)
