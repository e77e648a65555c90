"""Atomic writing and checked reading of run outputs.

A file is written under a temporary name in its final directory and renamed into place, so a
reader (or an interrupted run) sees either the complete file or none.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr
from filelock import FileLock, Timeout

RESULTS = "results.nc"
SUMMARY = "summary.md"
PLOTS = "plots"
SENSITIVITY = "sensitivity.nc"  # bubblesim-sensitivity's results, beside results.nc
# bubblesim-calibrate's (docs/calibration.md): the posterior (its presence marks a finished
# calibration), a shard's statistics, and the conditioned and unconditioned forecast runs
POSTERIOR = "posterior.nc"
CALIBRATION_TITLE = "bubblesim calibration"
STATISTICS = "statistics.nc"
FORECASTS = ("forecast", "prior_forecast")
LOCK = ".bubblesim.lock"
FAILED = "FAILED"  # marker a sweep job leaves when it failed
DERIVED = (SUMMARY, PLOTS, SENSITIVITY)  # made from results.nc: stale once it is replaced
TITLE = "bubblesim run"
# what plots and reports need; files without them predate the analysis stage
REQUIRED = ("headline", "headline_se", "exceedance", "survival_lower", "recovery_km")


class OutputError(RuntimeError):
    """A missing, truncated or foreign output file; the message says which and why."""


def lock(directory: Path, hint: str) -> FileLock:
    """An exclusive lock on a run, sweep or merge directory (created if needed), held until
    released; OutputError if another process holds it or the directory is not writable.

    ``hint`` says how to choose another directory (e.g. "hydra.run.dir=PATH").
    """
    directory = Path(directory)
    held = FileLock(directory / LOCK, timeout=0)
    try:
        held.acquire()
    except Timeout:
        raise OutputError(f"{directory} is in use by another bubblesim process (lock "
                          f"{directory / LOCK}); wait for it to finish or choose another "
                          f"directory with {hint}") from None
    except OSError as exc:
        raise OutputError(write_failure(directory, exc, hint)) from None
    return held


# overrides that do not change results, left out of a run's name (its label)
NOT_IN_LABEL = ("hydra.", "output.quiet=", "output.overwrite=", "engine.n_paths=",
                "engine.chunk_size=", "engine.threads=", "engine.backend=")


def label(overrides, omit: tuple[str, ...] = ()) -> str:
    """A run's short name: its overrides that change results, as given."""
    return " ".join(o for o in overrides if not o.lstrip("+~").startswith((*NOT_IN_LABEL, *omit)))


def write_failure(directory: Path, exc: OSError, hint: str) -> str:
    """One line for a failed write into ``directory``: why, and what to do (``hint``: how to
    choose another directory, e.g. "--out DIR")."""
    # the C library's words for the errno: HDF5's own message can run over several lines
    reason = os.strerror(exc.errno) if exc.errno else (str(exc).splitlines() or [""])[0]
    reason = reason or type(exc).__name__
    remedy = f"choose another directory with {hint}"
    if exc.errno == errno.ENOSPC:
        remedy = f"free some space or {remedy}"
    return f"cannot write {directory}: {reason}; {remedy}"


def remove_derived(run_dir: Path, names: tuple[str, ...] = DERIVED) -> None:
    """Delete what was made from a run's old results.nc (summary, figures) before it is
    replaced, so no stale figure sits beside new results (``names``: files or directories
    of the run directory)."""
    for name in names:
        target = Path(run_dir) / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _encoding(ds: xr.Dataset) -> dict:
    # Histograms and per-path arrays are large and repetitive: compress them.
    return {name: {"zlib": True, "complevel": 1} for name in ds.data_vars
            if ds[name].size > 10_000}


def write_dataset(ds: xr.Dataset, path: Path) -> Path:
    """Write ``ds`` to ``path`` (NetCDF4 via h5netcdf) atomically."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=_encoding(ds))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def staged(directory: Path, last: str) -> Iterator[Path]:
    """A hidden directory in ``directory`` to write a set of files into: when the block ends
    they move into ``directory`` (``last``, the file that marks the set finished, after the
    others); if the block fails or is interrupted, none of them does."""
    directory = Path(directory)
    stage = directory / f".staging-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)  # left by a killed process of the same id
    stage.mkdir(parents=True)
    try:
        yield stage
        files = [p for p in stage.rglob("*") if p.is_file()]
        for path in sorted(files, key=lambda p: p.relative_to(stage) == Path(last)):
            target = directory / path.relative_to(stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def results_path(path: Path) -> Path:
    """The results.nc of a run directory, or ``path`` itself if it is a file."""
    path = Path(path)
    return path / RESULTS if path.is_dir() else path


def read_attrs(path: Path, title: str = TITLE) -> dict | None:
    """The global attributes of a run's results.nc (or of the file ``path`` with this
    ``title``) without loading its data (None if there is no readable such file)."""
    file = results_path(path)
    if not file.is_file():
        return None
    try:
        with xr.open_dataset(file, engine="h5netcdf") as ds:
            attrs = dict(ds.attrs)
    except Exception:  # noqa: BLE001  (truncated or foreign: treated as absent)
        return None
    return attrs if attrs.get("title") == title else None


def check_results(path: Path) -> str:
    """Why a run's results.nc cannot be reported on or plotted ('' if it can), without
    loading its data."""
    file = results_path(path)
    try:
        with xr.open_dataset(file, engine="h5netcdf") as ds:
            title, names = ds.attrs.get("title"), set(ds.variables)
    except Exception as exc:  # noqa: BLE001  (h5py raises several types for bad files)
        return f"{file}: not a readable NetCDF file ({type(exc).__name__})"
    if title != TITLE:
        return f"{file}: not a bubblesim results file"
    missing = [name for name in REQUIRED if name not in names]
    return f"{file}: written by an older bubblesim (no {', '.join(missing)})" if missing else ""


def _loaded(file: Path, absent: str) -> xr.Dataset:
    if not file.exists():
        raise OutputError(f"{file}: no such file{absent}")
    try:
        return xr.load_dataset(file, engine="h5netcdf")
    except Exception as exc:  # h5py raises several types for truncated files
        raise OutputError(f"{file}: not a readable NetCDF file ({type(exc).__name__})") from None


def read_dataset(file: Path, title: str) -> xr.Dataset:
    """Load a bubblesim NetCDF file whose title is ``title``, with one clear error if it is
    missing, corrupt or something else."""
    ds = _loaded(Path(file), "")
    if ds.attrs.get("title") != title:
        raise OutputError(f"{file}: not a {title} file")
    return ds


def read_results(path: Path) -> xr.Dataset:
    """Open a run's results.nc, with one clear error if it is missing, corrupt or foreign."""
    file = results_path(path)
    ds = _loaded(file, f" (expected a bubblesim run directory or {RESULTS})")
    if ds.attrs.get("title") != TITLE:
        raise OutputError(f"{file}: not a bubblesim results file (no title '{TITLE}')")
    missing = [name for name in REQUIRED if name not in ds]
    if missing:
        raise OutputError(f"{file}: written by an older bubblesim (no {', '.join(missing)}); "
                          "rerun it to re-plot or report")
    return ds
