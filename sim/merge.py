"""`bubblesim-merge SHARD_DIR... --out OUT_DIR`: shards of one run -> the run of all paths.

Shards made with ``engine.num_shards=K engine.shard_index=i`` hold disjoint path ranges with
their own (seed, path index) streams, so concatenating their per-path arrays and adding their
integer counts gives exactly what one process running all paths would have produced; the
analysis is then recomputed from the merged counts (sim.dataset.build), not averaged.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from sim import dataset, io, layout, report
from sim.raw import RawResults

COUNTS = {  # RawResults field: dataset variable, summed over shards
    "hist": "histogram", "hist_outside": "histogram_outside", "alive": "firms_alive",
    "alive_sq_horizon": "firms_alive_sq_horizon",
    "mdd_hist": "max_drawdown_histogram", "peak_to_trough_hist": "peak_to_trough_histogram",
    "underwater_hist": "underwater_histogram", "recovery_events": "recovery_events",
    "recovery_censored": "recovery_censored", "growth_hist": "demand_growth_histogram",
    "elasticity_hist": "implied_elasticity_histogram",
}
ATTR_COUNTS = {"no_drawdown_paths": "no_drawdown_paths", "nonfinite_paths": "nonfinite_paths",
               "short_runway_paths": "short_runway_paths",
               "lab_default_paths": "lab_default_paths"}


def _check_shards(shards: list[xr.Dataset]) -> list[xr.Dataset]:
    first = shards[0].attrs
    k = int(first["num_shards"])
    for ds in shards:
        if ds.attrs.get("run_hash") != first.get("run_hash"):
            raise io.OutputError("shards come from different configs (run_hash differs)")
        missing = [var for var in COUNTS.values() if var not in ds]
        if missing:
            raise io.OutputError(f"a shard was written by an older bubblesim (no "
                                 f"{', '.join(missing)}); rerun the shards to merge them")
    indices = sorted(int(ds.attrs["shard_index"]) for ds in shards)
    if indices != list(range(k)):
        raise io.OutputError(f"need each of the {k} shards exactly once, got shard indices "
                             f"{indices}")
    return sorted(shards, key=lambda ds: int(ds.attrs["first_path"]))


def _trajectories(shards: list[xr.Dataset]) -> np.ndarray:
    names = [dataset.SERIES[s][0] for s in range(layout.N_OBS)]
    traj = np.full((shards[0].sizes["sample"], shards[0].sizes["time"], layout.N_OBS), np.nan)
    for ds in shards:
        for s, name in enumerate(names):
            values = ds[f"sample_{name}"].values
            filled = ~np.isnan(values)
            traj[:, :, s][filled] = values[filled]
    return traj


def merged_raw(shards: list[xr.Dataset]) -> RawResults:
    """The RawResults of the whole run, rebuilt from its shards' datasets."""
    shards = _check_shards(shards)
    head = shards[0]
    per_path = {}
    parameters = ()
    if "path" in head.dims:
        for name in dataset.PER_PATH:
            if name in head:  # (older files lack the newer outputs)
                per_path[name] = np.concatenate([ds[name].values for ds in shards])
        if "parameter_value" in head:
            per_path["parameter_value"] = np.concatenate(
                [ds["parameter_value"].values for ds in shards])
            columns = ("parameter", "parameter_key", "parameter_units")
            parameters = tuple(zip(*(head[c].values.tolist() for c in columns), strict=True))
    first_bad = [int(ds.attrs["first_nonfinite_path"]) for ds in shards
                 if int(ds.attrs["first_nonfinite_path"]) >= 0]
    counts = {field: sum(ds[var].values.astype(np.int64) for ds in shards)
              for field, var in COUNTS.items()}
    attr_counts = {field: sum(int(ds.attrs[key]) for ds in shards)
                   for field, key in ATTR_COUNTS.items()}
    return RawResults(
        n_paths=sum(int(ds.attrs["n_paths"]) for ds in shards), first_path=0,
        horizon=int(head.attrs["horizon_months"]), n_firms=head.sizes["firm"],
        hist_edges=head["histogram_edges"].values,
        observables0=head["initial_value"].values,
        sample_index=head["sample"].values, trajectories=_trajectories(shards),
        no_drawdown_paths=attr_counts["no_drawdown_paths"],
        short_runway_paths=attr_counts["short_runway_paths"],
        lab_default_paths=attr_counts["lab_default_paths"],
        nonfinite_paths=attr_counts["nonfinite_paths"],
        first_nonfinite_path=min(first_bad) if first_bad else -1,
        engine_seconds=sum(float(ds.attrs["engine_seconds"]) for ds in shards),
        threads=int(head.attrs["threads"]), per_path=per_path, parameters=parameters,
        prior_replicates=int(head.attrs.get("prior_replicates", 1)),
        design_period=int(head.attrs.get("design_period", 0)), **counts)


def _refuse_existing(out_dir: Path, run_hash: str, n_paths: int) -> bool:
    """True if out_dir already holds this very merge; OutputError if it holds anything else
    (another run, or files that are not ours)."""
    held = [p.name for p in out_dir.iterdir() if p.name != io.LOCK] if out_dir.is_dir() else []
    if not held:
        return False
    attrs = io.read_attrs(out_dir)
    if attrs and attrs.get("run_hash") == run_hash and int(attrs.get("n_paths", -1)) == n_paths:
        return True
    what = (f"a run of scenario {attrs.get('scenario')}" if attrs
            else f"{len(held)} other file(s): {', '.join(sorted(held)[:3])}")
    raise io.OutputError(f"{out_dir} already holds {what}; choose another --out or pass "
                         "--overwrite to replace everything in it")


def _clear(out_dir: Path) -> None:
    """Remove everything in out_dir but the lock, so the new merge is a consistent whole."""
    for entry in out_dir.iterdir():
        if entry.name == io.LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def merge(shard_dirs: list[Path], out_dir: Path, overwrite: bool = False) -> Path:
    """Merge shard run directories into out_dir/results.nc (and summary.md).

    out_dir is locked while it is written. An out_dir holding anything else is refused unless
    ``overwrite``, which replaces all of its contents; one holding this very merge is left
    as it is. Shards of a calibration (statistics.nc, bubblesim-calibrate) are calibrated on
    together instead (sim.calibrate.merge_shards).
    """
    if all((Path(d) / io.STATISTICS).exists() for d in shard_dirs):
        return _merge_calibration(shard_dirs, Path(out_dir), overwrite)
    shards = [io.read_results(d) for d in shard_dirs]
    raw = merged_raw(shards)
    out_dir = Path(out_dir)
    held = io.lock(out_dir, "--out DIR")
    try:
        if not overwrite and _refuse_existing(out_dir, shards[0].attrs.get("run_hash"),
                                              raw.n_paths):
            print(f"bubblesim-merge: {out_dir} already holds this merged run; skipped "
                  "(--overwrite recomputes)", file=sys.stderr)
            return out_dir / io.RESULTS
        ds = _merged_dataset(shards, raw, shard_dirs)
        if overwrite:
            _clear(out_dir)
        io.write_dataset(ds, out_dir / io.RESULTS)
        io.write_text(report.summary(ds), out_dir / io.SUMMARY)
    finally:
        held.release()
    return out_dir / io.RESULTS


def _merged_dataset(shards: list[xr.Dataset], raw: RawResults,
                    shard_dirs: list[Path]) -> xr.Dataset:
    attrs = dict(shards[0].attrs)
    shard_keys = ("engine.num_shards=", "engine.shard_index=")
    attrs.update({key: " ".join(o for o in str(attrs.get(key, "")).split()
                                if not o.startswith(shard_keys))
                  for key in ("overrides", "label")})
    attrs.update(n_paths=raw.n_paths, total_paths=raw.n_paths, first_path=0, num_shards=1,
                 shard_index=0, engine_seconds=raw.engine_seconds,
                 nonfinite_paths=raw.nonfinite_paths,
                 first_nonfinite_path=raw.first_nonfinite_path,
                 merged_from=" ".join(str(d) for d in shard_dirs))
    start = str(np.datetime_as_string(shards[0]["date"].values[0], unit="M"))
    return dataset.build(raw, attrs, start, shards[0]["firm_name"].values.tolist())


def _merge_calibration(shard_dirs: list[Path], out_dir: Path, overwrite: bool) -> Path:
    from sim import calibrate

    held = io.lock(out_dir, "--out DIR")
    try:
        if (out_dir / io.POSTERIOR).exists() and not overwrite:
            raise io.OutputError(f"{out_dir} already holds a calibration; --overwrite "
                                 "replaces it")
        if overwrite:
            _clear(out_dir)
        return calibrate.merge_shards(shard_dirs, out_dir)
    finally:
        held.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bubblesim-merge", description=__doc__.splitlines()[0])
    parser.add_argument("shards", nargs="+", type=Path, help="shard run directories")
    parser.add_argument("--out", type=Path, required=True, help="directory for the merged run")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace whatever --out holds (refused otherwise)")
    args = parser.parse_args(argv)
    try:
        path = merge(args.shards, args.out, args.overwrite)
    except io.OutputError as exc:
        print(f"bubblesim-merge: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"bubblesim-merge: {io.write_failure(args.out, exc, '--out DIR')}",
              file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
