"""Sweeps: one dataset per sweep (``sweep.nc``), written once in the parent process.

``sim.callbacks.SweepDataset.on_multirun_end`` runs after every launcher (basic, joblib,
submitit, ray) has finished all jobs. It reads each job directory's overrides and
results.nc, stacks the jobs' summaries (and, for jobs sampled as a Saltelli design, the
Sobol' indices of their default outcomes: sim.sensitivity.run_indices) with each swept key
as a dimension when the sweep is a full grid (a ``job`` dimension with the overrides as
coordinates otherwise), marks failed, unfinished or missing jobs (the jobs Hydra launched
are read from multirun.yaml), and exits non-zero if any job did not finish. ``sweep_jobs``
is what report and plots use to name the jobs that did not finish.
"""

from __future__ import annotations

import itertools
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from sim import io

SWEEP = "sweep.nc"
MULTIRUN = "multirun.yaml"  # Hydra's record of the sweep's config and overrides
FAILED = io.FAILED
SWEEP_TITLE = "bubblesim sweep"
# summaries small enough to stack across jobs (per-path arrays and histograms stay per job)
SUMMARY_VARIABLES = (
    "token_price", "spend", "compute_demand", "capacity", "capex", "utilization",
    "rental_price", "index", "sector_equity", "survival", "survival_lower", "survival_upper",
    "survival_band_lower", "survival_band_upper", "median_survival_months", "annual_hazard",
    "max_drawdown_quantiles", "max_drawdown_quantiles_se", "exceedance", "exceedance_se",
    "recovery_km", "recovery_km_lower", "recovery_km_upper", "headline", "headline_se",
    "max_drawdown_histogram", "peak_to_trough_histogram", "demand_growth_histogram",
    "implied_elasticity_histogram", "circularity", "revenue_gap", "roic", "backlog",
    "lab_burn", "lab_runway", "headline_parameter_share", "headline_parameter_share_se",
)
INDEX_RESAMPLES = 200  # bootstrap resamples of the Sobol' indices sweep.nc holds per job
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
    return _parsed(yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or [])


def _parsed(entries: list[str]) -> dict[str, object]:
    """key -> value of the overrides that distinguish jobs' results."""
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


def is_sweep_dir(path: Path) -> bool:
    """A directory of job directories (Hydra's multirun.yaml or jobs with .hydra/), not a run."""
    path = Path(path)
    return path.is_dir() and not (path / io.RESULTS).exists() and (
        (path / MULTIRUN).is_file() or bool(job_dirs(path)))


@dataclass(frozen=True)
class Job:
    """One job of a sweep: where it is, what it overrides, and how far it got."""

    name: str
    path: Path
    overrides: dict[str, object]
    status: str  # finished, failed, unfinished (no results yet), missing (no directory), unreadable
    detail: str = ""

    @property
    def settings(self) -> str:
        """The job's overrides that change results (as in a run's label)."""
        return io.label(f"{k}={v}" for k, v in self.overrides.items())

    def describe(self) -> str:
        return f"job {self.name} ({self.settings}): {self.status}" + (
            f": {self.detail}" if self.detail else "")


def _expected_jobs(sweep_dir: Path) -> dict[str, list[str]] | None:
    """Job directory name -> overrides of every job the sweep launches, from Hydra's
    multirun.yaml (the basic sweeper's Cartesian product); None if that cannot be known."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        hydra_cfg = yaml.safe_load((Path(sweep_dir) / MULTIRUN).read_text())["hydra"]
        if hydra_cfg["sweep"]["subdir"] != "${hydra.job.num}":
            return None
        params = [f"{k}={v}" for k, v in (hydra_cfg["sweeper"].get("params") or {}).items()]
        parsed = OverridesParser.create().parse_overrides(
            [*params, *hydra_cfg["overrides"]["task"]])
        batches = BasicSweeper.split_arguments(parsed, None)[0]
    except Exception:  # noqa: BLE001  (no multirun.yaml, another sweeper, a glob: unknown)
        return None
    return {str(i): list(job) for i, job in enumerate(batches)}


def _status(job_dir: Path) -> tuple[str, str]:
    if (job_dir / FAILED).is_file():
        return "failed", (job_dir / FAILED).read_text().strip()
    if not (job_dir / io.RESULTS).exists():
        return "unfinished", "no results.nc (interrupted, still running, or deleted)"
    problem = io.check_results(job_dir)
    return ("unreadable", problem) if problem else ("finished", "")


def sweep_jobs(sweep_dir: Path) -> list[Job]:
    """Every job of a sweep in job order, those launched but missing from disk included."""
    sweep_dir = Path(sweep_dir)
    present = {d.name: d for d in job_dirs(sweep_dir)}
    expected = _expected_jobs(sweep_dir) or {}
    jobs = []
    for name in sorted(present.keys() | expected.keys(), key=lambda n: (len(n), n)):
        if name in present:
            jobs.append(Job(name, present[name], job_overrides(present[name]),
                            *_status(present[name])))
        else:
            jobs.append(Job(name, sweep_dir / name, _parsed(expected[name]), "missing",
                            "no directory: not started, or deleted"))
    return jobs


def _load_job(job: Job) -> xr.Dataset | None:
    """A finished job's summaries, with the Sobol' indices of the default outcomes when its
    paths are a Saltelli design (sim.uncertainty)."""
    if job.status != "finished":
        return None
    ds = io.read_results(job.path)
    summary = ds[[name for name in SUMMARY_VARIABLES if name in ds]]
    if not int(ds.attrs.get("design_period", 0)) or "parameter_value" not in ds:
        return summary
    from sim import sensitivity

    try:
        found = sensitivity.run_indices(ds, list(sensitivity.OUTCOMES), INDEX_RESAMPLES, seed=0)
    except ValueError:  # an outcome NaN on some path (the run's warnings name them)
        return summary
    return xr.merge([summary, found.drop_vars(["outcome_units", "outcome_long_name"])],
                    combine_attrs="drop")


def resume_command(argv: list[str], sweep_dir: Path) -> str:
    """The command that resumes an interrupted sweep: the same arguments, the same sweep
    directory (finished jobs are skipped)."""
    args = list(argv)
    if not any(a.startswith("hydra.sweep.dir=") for a in args):
        args.append(f"hydra.sweep.dir={sweep_dir}")
    return shlex.join(["bubblesim", *args])


def interrupted(sweep_dir: Path, argv: list[str]) -> list[str]:
    """What a Ctrl-C in a sweep left: the finished jobs, and how to resume."""
    jobs = sweep_jobs(sweep_dir) if Path(sweep_dir).is_dir() else []
    done = [j.name for j in jobs if j.status == "finished"]
    kept = f" (job {', '.join(done)})" if done else ""
    return [f"sweep interrupted: {len(done)} of {len(jobs)} jobs finished and are kept in "
            f"{sweep_dir}{kept}",
            f"resume with: {resume_command(argv, sweep_dir)}"]


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
    jobs = sweep_jobs(sweep_dir)
    if not jobs:
        raise io.OutputError(f"{sweep_dir}: no job directories (not a bubblesim sweep)")
    overrides = [job.overrides for job in jobs]
    loaded = [_load_job(job) for job in jobs]
    finished = [(i, ds) for i, ds in enumerate(loaded) if ds is not None]
    problems = [job.describe() for job in jobs if job.status != "finished"]
    if not finished:
        raise io.OutputError(f"{sweep_dir}: no job finished; " + "; ".join(problems))
    stacked = xr.concat([ds.expand_dims(job=[i]) for i, ds in finished], dim="job",
                        join="outer", coords="minimal", compat="override",
                        combine_attrs="drop")
    stacked = stacked.reindex(job=np.arange(len(jobs)))  # jobs that did not finish: NaN
    for variable in stacked.variables.values():
        variable.encoding = {}  # integer counts became floats with NaN for missing jobs
    keys = _swept_keys(overrides)
    stacked = stacked.assign_coords(
        job_dir=("job", [job.name for job in jobs]),
        job_status=("job", [job.status for job in jobs]),
        job_overrides=("job", [job.settings for job in jobs]),
        **{k: ("job", [o.get(k) for o in overrides]) for k in keys})
    grid = _is_grid(overrides, keys)
    if grid and len(keys) == 1:
        stacked = stacked.swap_dims(job=keys[0])
    elif grid:
        stacked = stacked.set_index(job=keys).unstack("job")
    stacked.attrs.update({
        "title": SWEEP_TITLE, "swept_keys": " ".join(keys), "grid": int(grid),
        "n_jobs": len(jobs), "finished_jobs": len(finished),
        "unfinished_jobs": "\n".join(problems)})
    return stacked, problems


def write_sweep(sweep_dir: Path) -> tuple[Path, list[str]]:
    ds, problems = combine(sweep_dir)
    # object-typed coords (mixed strings) need a plain string type for NetCDF
    for name, coord in ds.coords.items():
        if coord.dtype == object:
            ds = ds.assign_coords({name: coord.astype(str)})
    return io.write_dataset(ds, Path(sweep_dir) / SWEEP), problems
