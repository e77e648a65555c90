"""`bubblesim-sensitivity RUN`: which unknowns drive a run's outcomes, and which of their
ranges make a case of interest likely.

RUN is a run with priors sampled as a Saltelli design (`engine.prior_sampling=saltelli`):
its paths are the rows of the design, so their per-path outcomes give Sobol' first-order
and total indices for every prior and for the shocks (sim.sensitivity), with bootstrap
intervals. PRIM (sim.discovery) then looks for the box of prior ranges where the case
(default ``max_drawdown>0.5``) is densest. Reads RUN/results.nc; writes RUN/sensitivity.nc
atomically (refused if it is there, unless --overwrite) and its figures into RUN/plots/.
"""

from __future__ import annotations

import argparse
import operator
import os
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from sim import io, sensitivity
from sim.discovery import prim_box

TITLE = "bubblesim sensitivity"
DEFAULT_CASE = "max_drawdown>0.5"
# PRIM peels a random subset this large: EMA Workbench's time and memory grow with paths
# and peels (200,000 paths of a common case: 40 s and 3.7 GB), and 50,000 already pin a
# box's limits to within a peel (a peel moves a limit past 5% of the box's paths)
PRIM_PATHS = 50_000
COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def parse_case(text: str, outcomes: list[str]) -> tuple[str, str, float]:
    """'max_drawdown>0.5' -> ('max_drawdown', '>', 0.5); ValueError naming what is allowed."""
    for op in COMPARE:  # two-character operators first
        name, found, value = text.partition(op)
        if found:
            break
    else:
        raise ValueError(f"--case {text!r}: write OUTCOME>VALUE (or >=, <, <=)")
    name = name.strip()
    if name not in outcomes:
        raise ValueError(f"--case {text!r}: unknown outcome {name!r}; allowed: "
                         f"{', '.join(outcomes)}")
    try:
        return name, op, float(value)
    except ValueError:
        raise ValueError(f"--case {text!r}: {value.strip()!r} is not a number") from None


def discovery(ds: xr.Dataset, case: tuple[str, str, float], max_paths: int,
              seed: int) -> xr.Dataset:
    """PRIM's trajectory and box for ``case`` over the run's draws (at most ``max_paths``
    paths, a seeded random subset), its variables prefixed ``prim_``."""
    name, op, threshold = case
    values = sensitivity.run_outcomes(ds)
    hit = COMPARE[op](values[name][0], threshold)
    draws = ds["parameter_value"].values
    if len(hit) > max_paths:
        keep = np.sort(np.random.default_rng(seed).choice(len(hit), max_paths, replace=False))
        hit, draws = hit[keep], draws[keep]
    box = prim_box(draws, [str(n) for n in ds["parameter"].values], hit)
    box = box.rename({v: f"prim_{v}" for v in box.data_vars} | {"step": "prim_step"})
    box.attrs = {f"prim_{k}": v for k, v in box.attrs.items()}
    box.attrs["prim_case"] = f"{name}{op}{threshold:g}"
    return box


def analyse(ds: xr.Dataset, outcomes: list[str], case: tuple[str, str, float],
            resamples: int = 500, prim_paths: int = PRIM_PATHS, seed: int = 0) -> xr.Dataset:
    """sensitivity.nc's dataset: the indices, PRIM's box, the run's priors."""
    out = xr.merge([sensitivity.run_indices(ds, outcomes, resamples, seed),
                    discovery(ds, case, prim_paths, seed)], combine_attrs="drop_conflicts")
    for coord in ("parameter_key", "parameter_units"):
        out.coords[coord] = ("parameter", ds[coord].values)
    out.attrs.update(title=TITLE, run_label=ds.attrs.get("label", ""),
                     scenario=ds.attrs.get("scenario", ""), n_paths=ds.sizes["path"],
                     seed=seed, config=ds.attrs.get("config", ""))
    return out


def write(ds: xr.Dataset, run_dir: Path, overwrite: bool) -> Path:
    """sensitivity.nc into ``run_dir``, atomically, under the run's lock."""
    target = Path(run_dir) / io.SENSITIVITY
    held = io.lock(run_dir, "another RUN")
    try:
        if target.exists() and not overwrite:
            raise io.OutputError(f"{target} exists: pass --overwrite to replace it")
        return io.write_dataset(ds, target)
    finally:
        held.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bubblesim-sensitivity",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory (or its results.nc) sampled "
                        "with engine.prior_sampling=saltelli")
    parser.add_argument("--outcome", nargs="+", default=list(sensitivity.OUTCOMES),
                        metavar="NAME", help=f"per-path outcomes (default: "
                        f"{' '.join(sensitivity.OUTCOMES)}; allowed: "
                        f"{', '.join(sensitivity.PATH_OUTCOMES)})")
    parser.add_argument("--case", default=DEFAULT_CASE,
                        help=f"the case PRIM explains, OUTCOME>VALUE (default {DEFAULT_CASE})")
    parser.add_argument("--resamples", type=int, default=500,
                        help="bootstrap resamples for the intervals (default 500)")
    parser.add_argument("--prim-paths", type=int, default=PRIM_PATHS,
                        help=f"paths PRIM peels, a random subset (default {PRIM_PATHS:,})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing sensitivity.nc")
    args = parser.parse_args(argv)
    run_dir = io.results_path(args.run).parent
    try:
        unknown = [name for name in args.outcome if name not in sensitivity.PATH_OUTCOMES]
        if unknown:
            raise ValueError(f"--outcome {unknown[0]}: unknown; allowed: "
                             f"{', '.join(sensitivity.PATH_OUTCOMES)}")
        if args.resamples < 2 or args.prim_paths < 100:
            raise ValueError(f"--resamples {args.resamples} / --prim-paths {args.prim_paths}: "
                             "at least 2 resamples and 100 paths")
        case = parse_case(args.case, list(sensitivity.PATH_OUTCOMES))
        if (run_dir / io.SENSITIVITY).exists() and not args.overwrite:
            raise io.OutputError(f"{run_dir / io.SENSITIVITY} exists: pass --overwrite to "
                                 "replace it")
        ds = io.read_results(args.run)
        result = analyse(ds, args.outcome, case, args.resamples, args.prim_paths)
        path = write(result, run_dir, args.overwrite)
        from sim import plots

        files = plots.plot_sensitivity(run_dir)
    except ValueError as exc:
        print(f"bubblesim-sensitivity: {args.run}: {exc}", file=sys.stderr)
        return 2
    except io.OutputError as exc:
        print(f"bubblesim-sensitivity: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"bubblesim-sensitivity: {io.write_failure(run_dir, exc, 'another RUN')}",
              file=sys.stderr)
        return 1
    for f in (path, *files):
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
