"""bubblesim benchmark suite: `make bench` (full) or `make bench ARGS=--quick` (< 2 minutes).

Writes benchmarks/results/<date>-<host>.json and regenerates benchmarks/BENCHMARKS.md from
every JSON in results/. Each figure is the median of ``repeats`` runs after a warm-up.

Measured:
- engine throughput (path-steps/s) per scenario, paths and thread count;
- the same-run ratio engine / NumPy reference (sim/reference.py);
- peak RSS of a whole `bubblesim` process, per-path outputs on and off;
- cold start (empty numba cache: import + compile + 1,000 paths) and warm start;
- thread scaling 1 -> all threads (from the throughput rows);
- the share of engine time spent in the random streams (a Weyl sequence instead);
- the cost of drawing parameters per path (`priors=wide`) against point values (the two, and
  the Weyl runs, taken in turn, so that a VM whose speed drifts slows them alike);
- a 6-job sweep run serially with 1 and 2 threads and through joblib with 2 jobs x 1 thread;
- uncertainty end to end on 2 threads: a Saltelli-design run with 10 priors, then
  `bubblesim-sensitivity` on it (Sobol' indices, PRIM, figures): seconds and peak RSS of each
  process (target at 1,000,000 paths: under 3 minutes end to end);
- calibration end to end on 2 threads: `bubblesim-calibrate` with its defaults (a run from
  2023q1 with the wide priors against the 2023-2026 targets, ABC, the predictive check, the
  files and figures, the conditioned forecast): seconds and peak RSS (target at
  10,000,000 draws: under 5 minutes).

`--only engine` measures the engine's figures alone (throughput, scaling, streams, NumPy,
priors; e.g. `--only engine --paths 1000000` for the issue-11 speed record, about half an
hour), `--only uncertainty` or `--only calibration` that workflow alone (its record holds
only that row).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

FULL = {"paths": [100_000, 1_000_000, 10_000_000], "ratio_paths": [100_000, 1_000_000],
        "rss_paths": [1_000_000, 10_000_000], "scenarios": ["soft_landing", "excess_capacity",
                                                           "dotcom_crash"], "repeats": 3,
        "sweep_paths": 200_000, "uncertainty_paths": 1_000_000,
        "calibration_paths": 10_000_000}
QUICK = {"paths": [20_000, 50_000], "ratio_paths": [20_000], "rss_paths": [100_000],
         "scenarios": ["soft_landing"], "repeats": 3, "sweep_paths": 10_000,
         "uncertainty_paths": 30_000, "calibration_paths": 50_000}
# parameters drawn per path: the wide priors (11 of them, conf/priors/wide.yaml)
PRIORS = ("priors=wide",)
# a 6-job sweep under three layouts of the same 2 cores
SWEEP_ARGS = ["-m", "scenario=soft_landing,excess_capacity,dotcom_crash",
              "model.demand.elasticity=0.9,1.2", "output.quiet=true"]
SWEEP_LAYOUTS = {
    "serial, 1 job x 1 thread": ([], {"NUMBA_NUM_THREADS": "1"}),
    "joblib, 2 jobs x 1 thread": (["hydra/launcher=parallel"], {}),
    "serial, 1 job x 2 threads": ([], {"NUMBA_NUM_THREADS": "2"}),
}
# issue 12's uncertainty workflow: the dotcom_crash priors but one (10 of 11) as a Saltelli
# design, on 2 threads; then `bubblesim-sensitivity` with its defaults
UNCERTAINTY_ARGS = ["scenario=dotcom_crash", "priors=dotcom_crash", "~priors.recovery_rate",
                    "engine.prior_sampling=saltelli", "engine.threads=2", "output.quiet=true"]
UNCERTAINTY_TARGET_SECONDS = 180.0  # at 1,000,000 paths


def _settings(scenario: str, n_paths: int, threads: int, overrides: tuple[str, ...] = ()):
    from sim.app import compose
    from sim.params import model_vector, run_settings

    cfg = compose(f"scenario={scenario}", *overrides)
    settings = replace(run_settings(cfg), n_paths=n_paths, threads=threads, quiet=True,
                       per_path=False)
    return model_vector(cfg), settings


def engine_seconds(scenario: str, n_paths: int, threads: int, backend: str,
                   repeats: int, cheap_random: bool = False,
                   overrides: tuple[str, ...] = ()) -> list[float]:
    """Engine-only seconds of ``repeats`` runs after one warm-up run."""
    from sim.engine import simulate

    p, settings = _settings(scenario, n_paths, threads, overrides)
    simulate(p, replace(settings, n_paths=min(n_paths, 1000)), backend=backend,
             cheap_random=cheap_random)  # warm-up
    return [simulate(p, settings, backend=backend, cheap_random=cheap_random).engine_seconds
            for _ in range(repeats)]


def _cli_seconds(args: list[str], env: dict) -> float:
    """Wall seconds of one whole `bubblesim` process."""
    tic = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", *args], env={**os.environ, **env},
                   capture_output=True, text=True, cwd=ROOT, check=True)
    return time.perf_counter() - tic


def _process_cost(module: str, args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS bytes of a fresh `python -m module args` process (run in a
    child of a child, so the RUSAGE_CHILDREN maximum belongs to that process alone)."""
    code = ("import subprocess, sys, resource, time; tic = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(time.perf_counter() - tic, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", module, *args],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, peak = out.stdout.split()
    return float(seconds), int(peak)


def peak_rss(n_paths: int, per_path: bool) -> int:
    """Peak RSS of a fresh `bubblesim` process running n_paths."""
    with tempfile.TemporaryDirectory() as tmp:
        return _process_cost("sim", [f"engine.n_paths={n_paths}",
                                     f"output.per_path={str(per_path).lower()}",
                                     "output.quiet=true", f"hydra.run.dir={tmp}/run"])[1]


def _uncertainty_costs(n_paths: int, run_dir: Path) -> dict:
    """Seconds and peak RSS of the Saltelli run into run_dir, then of its sensitivity."""
    from sim import io

    run_seconds, run_peak = _process_cost("sim", [*UNCERTAINTY_ARGS, f"engine.n_paths={n_paths}",
                                                  f"hydra.run.dir={run_dir}"])
    attrs = io.read_attrs(run_dir)  # (numpy scalars from netCDF: JSON wants Python ones)
    seconds, peak = _process_cost("sim.uncertainty", [str(run_dir)])
    return {"run_seconds": run_seconds, "run_peak_rss": run_peak,
            "engine_seconds": float(attrs["engine_seconds"]), "threads": int(attrs["threads"]),
            "sensitivity_seconds": seconds,
            "sensitivity_peak_rss": peak, "total_seconds": run_seconds + seconds}


def uncertainty(n_paths: int) -> dict:
    """The uncertainty workflow end to end at n_paths, after the same at 1,000 paths (so the
    numba cache holds every kernel it uses and no measured process compiles)."""
    import xarray as xr

    with tempfile.TemporaryDirectory() as tmp:
        _uncertainty_costs(1000, Path(tmp) / "warm")
        costs = _uncertainty_costs(n_paths, Path(tmp) / "run")
        with xr.open_dataset(Path(tmp) / "run" / "results.nc", engine="h5netcdf") as ds:
            priors = int(ds.sizes["parameter"])
    return {"kind": "uncertainty", "scenario": "dotcom_crash", "paths": n_paths,
            "priors": priors, **costs}


def sweep_layouts(n_paths: int) -> list[dict]:
    """Wall seconds of the same 6-job sweep under each layout (warm numba cache)."""
    rows = []
    for layout, (extra, env) in SWEEP_LAYOUTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            wall = _cli_seconds([*SWEEP_ARGS, *extra, f"engine.n_paths={n_paths}",
                                 f"hydra.sweep.dir={tmp}/sweep"], env)
        rows.append({"kind": "sweep_layout", "layout": layout, "jobs": 6, "paths": n_paths,
                     "seconds": wall})
    return rows


def start_times() -> dict[str, float]:
    """Wall seconds of `bubblesim engine.n_paths=1000`: empty numba cache, then cached."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"NUMBA_CACHE_DIR": f"{tmp}/cache"}
        args = ["engine.n_paths=1000", "output.quiet=true", f"hydra.run.dir={tmp}/run"]
        cold = _cli_seconds(args, env)
        warm = statistics.median(_cli_seconds(args, env) for _ in range(3))
    return {"cold_start_seconds": cold, "warm_start_seconds": warm}


def machine() -> dict:
    import numba
    import numpy

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()
    cpu = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__, "commit": commit,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


CALIBRATION_TARGET_SECONDS = 300.0


def calibration(n_paths: int) -> dict:
    """`bubblesim-calibrate` end to end at n_paths, after the same at 2,000 paths (so that no
    measured process compiles)."""
    from sim import io

    with tempfile.TemporaryDirectory() as tmp:
        for name, n in (("warm", 2000), ("run", n_paths)):
            seconds, peak = _process_cost("sim.calibrate", [
                f"engine.n_paths={n}", "output.quiet=true", f"hydra.run.dir={tmp}/{name}"])
        attrs = io.read_attrs(Path(tmp) / "run" / io.POSTERIOR, io.CALIBRATION_TITLE)
    return {"kind": "calibration", "paths": n_paths, "seconds": seconds, "peak_rss": peak,
            "engine_seconds": float(attrs["engine_seconds"]), "threads": int(attrs["threads"]),
            "accepted": int(attrs["accepted"]),
            "acceptance_rate": float(attrs["acceptance_rate"])}


ONLY = {"engine": lambda plan, horizon: engine_rows(plan, horizon),
        "uncertainty": lambda plan, horizon: [uncertainty(plan["uncertainty_paths"])],
        "calibration": lambda plan, horizon: [calibration(plan["calibration_paths"])]}


def run_suite(plan: dict, horizon: int = 120, only: str | None = None) -> dict:
    """The record: every measurement of the plan, or only one workflow's."""
    rows = ONLY[only](plan, horizon) if only else suite_rows(plan, horizon)
    return {"machine": machine(), "plan": plan, "rows": rows}


def interleaved_seconds(scenario: str, n_paths: int, threads: int, repeats: int,
                        variants: dict[str, dict]) -> dict[str, list[float]]:
    """Engine-only seconds of each variant (keyword arguments of engine_seconds), their runs
    taken in turn: a machine whose speed drifts (a shared VM) then slows every variant
    alike, and their ratios hold where runs taken one variant after the other did not."""
    runs = {name: [] for name in variants}
    for _ in range(repeats):
        for name, options in variants.items():
            runs[name] += engine_seconds(scenario, n_paths, threads, "numba", 1, **options)
    return runs


def ratio_rows(plan: dict, all_threads: int) -> list[dict]:
    """The random streams' share, the engine against the NumPy reference, and the cost of
    parameters drawn per path, on the plan's first scenario."""
    rows = []
    scenario = plan["scenarios"][0]
    for n in plan["ratio_paths"]:
        runs = interleaved_seconds(scenario, n, all_threads, plan["repeats"], {
            "engine": {}, "weyl": {"cheap_random": True}, "priors": {"overrides": PRIORS}})
        engine, weyl, drawn = (statistics.median(runs[k]) for k in ("engine", "weyl", "priors"))
        rows.append({"kind": "rng_share", "scenario": scenario, "paths": n,
                     "seconds": engine, "seconds_without_streams": weyl,
                     "share": 1.0 - weyl / engine})
        reference = statistics.median(engine_seconds(scenario, n, 1, "numpy",
                                                     plan["repeats"]))
        rows.append({"kind": "engine_vs_numpy", "scenario": scenario, "paths": n,
                     "engine_seconds": engine, "numpy_seconds": reference,
                     "ratio": reference / engine, "threads": all_threads})
        rows.append({"kind": "priors_cost", "scenario": scenario, "paths": n,
                     "priors": PRIORS[0], "seconds": engine, "seconds_with_priors": drawn,
                     "ratio": drawn / engine, "threads": all_threads,
                     "runs": runs["engine"], "runs_with_priors": runs["priors"]})
    return rows


def throughput_rows(plan: dict, horizon: int, all_threads: int) -> list[dict]:
    """Engine throughput of every scenario at every size on 1 thread and on all."""
    rows = []
    for scenario in plan["scenarios"]:
        for n in plan["paths"]:
            for threads in sorted({1, all_threads}):
                times = engine_seconds(scenario, n, threads, "numba", plan["repeats"])
                t = statistics.median(times)
                rows.append({"kind": "throughput", "scenario": scenario, "paths": n,
                             "threads": threads, "seconds": t, "runs": times,
                             "path_steps_per_s": n * horizon / t})
    return rows


def engine_rows(plan: dict, horizon: int) -> list[dict]:
    """The engine's own figures: throughput, scaling, the streams' share, NumPy, priors."""
    import numba

    all_threads = numba.config.NUMBA_NUM_THREADS
    return throughput_rows(plan, horizon, all_threads) + ratio_rows(plan, all_threads)


def suite_rows(plan: dict, horizon: int) -> list[dict]:
    rows = engine_rows(plan, horizon)
    # a whole process first, so that no measured one compiles what only the command line
    # uses (LLVM's memory would count: 935 against 580 MB at 1e6 paths, record 20261202T110615)
    peak_rss(1000, True)
    for n in plan["rss_paths"]:
        for per_path in (True, False):
            rows.append({"kind": "peak_rss", "paths": n, "per_path": per_path,
                         "bytes": peak_rss(n, per_path)})
    rows.append({"kind": "start", **start_times()})
    rows += sweep_layouts(plan["sweep_paths"])
    rows.append(uncertainty(plan["uncertainty_paths"]))
    rows.append(calibration(plan["calibration_paths"]))
    return rows


def _scaling(rows: list[dict]) -> list[str]:
    by_key = {(r["scenario"], r["paths"], r["threads"]): r["path_steps_per_s"]
              for r in rows if r["kind"] == "throughput"}
    lines = []
    for (scenario, n, threads), rate in sorted(by_key.items()):
        one = by_key.get((scenario, n, 1))
        if threads > 1 and one:
            lines.append(f"| {scenario} | {n:,} | 1 -> {threads} | {rate / one:.2f}x |")
    return lines


def _table(head: str, align: str, lines: list[str]) -> list[str]:
    """A table after a blank line, or nothing without rows (a record of one part)."""
    return ["", head, align, *lines] if lines else []


def _uncertainty(r: dict) -> list[str]:
    """The uncertainty workflow's stages: seconds and peak RSS of each process."""
    verdict = ""
    if r["paths"] >= 1_000_000:
        within = r["total_seconds"] < UNCERTAINTY_TARGET_SECONDS
        verdict = f": {'met' if within else 'missed'} ({r['total_seconds'] / 60:.1f} min)"
    return _table(
        f"| uncertainty end to end ({r['paths']:,} paths, {r['priors']} priors, "
        f"{r['threads']} threads) | seconds | peak RSS MB |", "|---|---:|---:|",
        [f"| `bubblesim` (Saltelli design) | {r['run_seconds']:.1f} | "
         f"{r['run_peak_rss'] / 1e6:.0f} |",
         f"| of which the engine | {r['engine_seconds']:.1f} | |",
         f"| `bubblesim-sensitivity` (Sobol' indices, PRIM, figures) | "
         f"{r['sensitivity_seconds']:.1f} | {r['sensitivity_peak_rss'] / 1e6:.0f} |",
         f"| total | {r['total_seconds']:.1f} | "
         f"{max(r['run_peak_rss'], r['sensitivity_peak_rss']) / 1e6:.0f} |"]) + [
        "", f"Target: under 3 minutes end to end at 1,000,000 paths{verdict}."]


def _calibration(r: dict) -> list[str]:
    verdict = ""
    if r["paths"] >= 10_000_000:
        within = r["seconds"] < CALIBRATION_TARGET_SECONDS
        verdict = f": {'met' if within else 'missed'} ({r['seconds'] / 60:.1f} min)"
    return ["", f"`bubblesim-calibrate` end to end ({r['paths']:,} draws, {r['threads']} "
                f"threads): {r['seconds']:.1f} s (engine {r['engine_seconds']:.1f} s), peak RSS "
                f"{r['peak_rss'] / 1e6:.0f} MB; kept {r['accepted']:,} "
                f"({r['acceptance_rate']:.2%}). Target: under 5 minutes at 10,000,000 "
                f"draws{verdict}."]


def markdown(results: list[dict]) -> str:
    out = ["# Benchmarks", "",
           "Generated by `benchmarks/bench.py` from benchmarks/results/*.json; do not edit.",
           "Throughput is engine-only time (no start-up, compilation or writing), 120 months,",
           "median of the runs listed in the JSON.", ""]
    for res in sorted(results, key=lambda r: r["machine"]["date"], reverse=True):
        m = res["machine"]
        out += [f"## {m['date']} on {m['host']} (commit {m['commit']})", "",
                f"{m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']}, "
                f"numba {m['numba']}"]
        rows = res["rows"]
        out += _table("| scenario | paths | threads | seconds | M path-steps/s |",
                      "|---|---:|---:|---:|---:|",
                      [f"| {r['scenario']} | {r['paths']:,} | {r['threads']} | "
                       f"{r['seconds']:.3f} | {r['path_steps_per_s'] / 1e6:.2f} |"
                       for r in rows if r["kind"] == "throughput"])
        out += _table("| scenario | paths | threads | scaling |", "|---|---:|---|---:|",
                      _scaling(rows))
        out += _table("| engine vs NumPy reference | paths | engine s | NumPy s | ratio |",
                      "|---|---:|---:|---:|---:|",
                      [f"| {r['scenario']} ({r['threads']} threads vs 1 core) | "
                       f"{r['paths']:,} | {r['engine_seconds']:.3f} | "
                       f"{r['numpy_seconds']:.3f} | {r['ratio']:.2f}x |"
                       for r in rows if r["kind"] == "engine_vs_numpy"])
        out += _table("| peak RSS of `bubblesim` | paths | per-path outputs | MB |",
                      "|---|---:|---|---:|",
                      [f"| | {r['paths']:,} | {'on' if r['per_path'] else 'off'} | "
                       f"{r['bytes'] / 1e6:.0f} |" for r in rows if r["kind"] == "peak_rss"])
        for r in rows:
            if r["kind"] == "priors_cost":
                out += ["", f"Parameters drawn per path (`{r['priors']}`, {r['paths']:,} paths, "
                            f"{r['threads']} threads): {r['seconds_with_priors']:.3f} s against "
                            f"{r['seconds']:.3f} s with point values, {r['ratio']:.2f}x."]
        for r in rows:
            if r["kind"] == "rng_share":
                out += ["", f"Random streams (SplitMix64 hashing, {r['paths']:,} paths): "
                            f"{r['share']:.0%} of engine time ({r['seconds']:.3f} s vs "
                            f"{r['seconds_without_streams']:.3f} s with a Weyl sequence "
                            "instead; the normal transforms stay in the model step)."]
        layouts = [r for r in rows if r["kind"] == "sweep_layout"]
        if layouts:
            best = min(layouts, key=lambda r: r["seconds"])
            out += ["", "| 6-job sweep | paths per job | wall s |", "|---|---:|---:|"]
            out += [f"| {r['layout']}{' (best)' if r is best else ''} | {r['paths']:,} | "
                    f"{r['seconds']:.1f} |" for r in layouts]
        for r in rows:
            if r["kind"] == "start":
                out += ["", f"Start of `bubblesim engine.n_paths=1000` (whole process): cold "
                            f"(empty numba cache) {r['cold_start_seconds']:.1f} s, warm "
                            f"{r['warm_start_seconds']:.1f} s."]
        for r in rows:  # (records before issue 12 have none)
            if r["kind"] == "uncertainty":
                out += _uncertainty(r)
            if r["kind"] == "calibration":
                out += _calibration(r)
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    parser.add_argument("--paths", type=int, nargs="*", help="override the path counts")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON")
    parser.add_argument("--only", choices=list(ONLY),
                        help="measure one part alone (engine: throughput, scaling, the "
                        "streams' share, NumPy and priors against point values; "
                        "uncertainty: the Saltelli run and "
                        "bubblesim-sensitivity end to end; calibration: bubblesim-calibrate)")
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.paths:
        plan.update(paths=args.paths, ratio_paths=args.paths[:1], rss_paths=args.paths[:1],
                    sweep_paths=args.paths[0], uncertainty_paths=args.paths[0],
                    calibration_paths=args.paths[0])
    result = run_suite(plan, only=args.only)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = args.out / f"{stamp}-{socket.gethostname()}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(target)
    results = [json.loads(f.read_text()) for f in sorted(args.out.glob("*.json"))]
    page = args.out.parent / "BENCHMARKS.md" if args.out == RESULTS else args.out / "BENCHMARKS.md"
    page.write_text(markdown(results))
    print(target)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
