"""`bubblesim-calibrate`: ABC over a run's per-path draws against observed series.

A Hydra app like `bubblesim` (same config groups and overrides; conf/calibrate.yaml sets
its defaults: a run from start=2023q1 with priors=wide against targets=history_2023_2026).
It runs the paths to the targets' last month, keeps the paths whose statistics match the
data (sim.calibration), checks the posterior on new paths drawn from it, and writes into
its run directory, each file atomically:

- posterior.nc: the kept paths, their draws (raw and adjusted), weights and statistics, the
  targets, prior and posterior quantiles, correlations, the predictive check;
- calibration.md: acceptance rate, effective sample size, the posterior table, the
  correlations and the predictive check;
- priors/posterior.yaml: the posterior as a priors file
  (`bubblesim priors=posterior hydra.searchpath=[file://RUN]`);
- plots/posterior_pairs.png, plots/posterior_predictive.png.

Errors end in one line, as `bubblesim`'s do (exit 2: config, resources; 1: output).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import hydra
import numpy as np
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from sim import calibration, dataset, forecast, io, layout, overrides, resources
from sim.app import CONF_DIR, SHARD, config_hash, provenance, to_config
from sim.engine import simulate
from sim.exits import failure, remove_empty_run_dir
from sim.params import PathDraws, model_vector, run_settings
from sim.priors import check_priors
from sim.schema import Config, ConfigError, register_configs
from sim.targets import OBSERVABLES, check_targets, last_month, run_month

register_configs()  # the schema and the engine/output groups, before Hydra composes

SUMMARY = "calibration.md"
PRIORS_FILE = Path("priors") / "posterior.yaml"
PREDICTIVE_PATHS = 20_000  # new paths drawn from the posterior for the predictive check
FORECAST_TABLE = "forecast.md"


def check_resources(n_paths: int, n_values: int, settings, output_dir: Path) -> None:
    """Memory for every path's recorded values, draws and statistics (float64, kept for the
    whole run like per-path outputs), beside the engine's own; ResourceError before any
    work."""
    need = resources.estimate(n_paths, settings.chunk_size, settings.threads or 1,
                              settings.horizon, settings.hist_bins, settings.n_firms, 0, False)
    resources.check(replace(need, per_path=8.0 * n_paths * n_values), n_paths, output_dir)


def predictive_check(p: np.ndarray, settings, post_priors: dict, targets) -> np.ndarray:
    """Statistics of PREDICTIVE_PATHS new paths (another seed) with the posterior as
    priors: what the calibrated model predicts for each target."""
    draws = PathDraws(priors=tuple(check_priors(post_priors)), seed=settings.seed + 1,
                      replicates=1, sampling="random")
    n = min(PREDICTIVE_PATHS, settings.n_paths)
    check = replace(settings, priors=draws, seed=settings.seed + 1, n_paths=n, num_shards=1,
                    shard_index=0, path_ids=None)
    return calibration.simulate_statistics(p, check, targets).stats


def forecast_runs(cfg: DictConfig, schema, p: np.ndarray, settings, targets,
                  sims: calibration.Simulations, kept: np.ndarray,
                  overrides_: tuple[str, ...]) -> dict[str, object]:
    """The conditioned forecast (the kept paths re-run to the horizon) and the unconditioned
    one (as many of the run's first paths), each a results dataset with the targets'
    observables' bands and the outcomes from calibration.forecast_from on."""
    date = schema.calibration.forecast_from
    month = run_month(schema, "calibration.forecast_from", date)
    n = schema.calibration.forecast_paths
    chosen = {"forecast": forecast.evenly(kept, n),
              "prior_forecast": sims.paths[:len(forecast.evenly(kept, n))]}
    series = list(dict.fromkeys(["index", *(t.observable for t in targets)]))
    indices = [OBSERVABLES[name] for name in series]
    pairs = tuple((o, t) for o in indices for t in range(settings.horizon + 1))
    names = [list(getattr(schema.start, sector).names) for sector in layout.SECTORS]
    out = {}
    for name, paths in chosen.items():
        tic = time.perf_counter()
        run = replace(settings, path_ids=paths.astype(np.uint64), snapshots=pairs,
                      per_path=True, quiet=True)
        raw = simulate(p, run, backend=run.backend)
        attrs = provenance(cfg, run, raw, time.perf_counter() - tic, " ".join(overrides_))
        attrs["label"] = f"{'kept' if name == 'forecast' else 'unconditioned'} paths from {date}"
        recorded = raw.snapshots.reshape(len(paths), len(indices), settings.horizon + 1)
        ds = dataset.build(replace(raw, snapshots=None), attrs, schema.start.date, names)
        units = [dataset.SERIES[i][1] for i in indices]
        out[name] = forecast.with_outcomes(ds, recorded, series, units, month, date)
    return out


def checked(cfg: DictConfig):
    """The validated schema, targets and run settings of a calibration (ConfigError before
    any work)."""
    schema = to_config(cfg)
    targets = check_targets(schema)
    if schema.calibration.forecast_from:
        run_month(schema, "calibration.forecast_from", schema.calibration.forecast_from)
    settings = run_settings(schema)
    if settings.priors is None:
        raise ConfigError("priors is empty; a calibration learns the parameters its priors "
                          "vary: priors=NAME (conf/priors/)")
    if settings.priors.sampling == "saltelli":
        raise ConfigError("engine.prior_sampling = saltelli is a design for sensitivity; "
                          "allowed for a calibration: random or sobol")
    return schema, targets, settings


def run(cfg: DictConfig, output_dir: Path, overrides_: tuple[str, ...] = ()) -> Path:
    """Calibrate and write the files above into ``output_dir``; a shard
    (engine.num_shards > 1) writes its paths' statistics.nc for bubblesim-merge instead."""
    tic = time.perf_counter()
    schema, targets, settings = checked(cfg)
    output_dir = Path(output_dir)
    shard = settings.num_shards > 1
    digest = config_hash(cfg)
    done = (io.read_attrs(output_dir / io.STATISTICS, calibration.STATISTICS_TITLE) if shard
            else io.read_attrs(output_dir / io.POSTERIOR, io.CALIBRATION_TITLE))
    if done is not None and done.get("config_hash") == digest and not schema.output.overwrite:
        print(f"bubblesim-calibrate: {output_dir}: already calibrated with this config, "
              "skipped (output.overwrite=true recomputes)", file=sys.stderr)
        return output_dir
    window = calibration.window_settings(settings, targets, last_month(targets))
    n_values = len(window.snapshots) + 2 * len(settings.priors.priors) + len(targets)
    check_resources(window.shard_range()[1], n_values, window, output_dir)
    sims = calibration.simulate_statistics(model_vector(schema), window, targets)
    attrs = provenance(cfg, settings, sims.facts(), time.perf_counter() - tic,
                       " ".join(overrides_))
    attrs.update(config_hash=digest, run_hash=config_hash(cfg, ignore=(SHARD,)),
                 label=io.label(overrides_), targets=schema.targets_name,
                 start_date=schema.start.date)
    if shard:
        output_dir.mkdir(parents=True, exist_ok=True)
        io.write_dataset(calibration.statistics_dataset(sims, targets, settings.priors, attrs),
                         output_dir / io.STATISTICS)
        if not schema.output.quiet:
            print(f"wrote {output_dir / io.STATISTICS} (shard {settings.shard_index + 1} of "
                  f"{settings.num_shards}; bubblesim-merge calibrates on all of them)",
                  file=sys.stderr)
        return output_dir
    finish(cfg, sims, attrs, output_dir)
    return output_dir


def finish(cfg: DictConfig, sims: calibration.Simulations, attrs: dict,
           output_dir: Path) -> None:
    """ABC on all the paths' statistics, the predictive check and the forecast, and the
    files: what one process does after its run, or bubblesim-merge after the shards'."""
    from sim import calibration_plots

    schema, targets, settings = checked(cfg)
    p = model_vector(schema)
    window = calibration.window_settings(settings, targets, last_month(targets))
    post = calibration.posterior(sims, targets, settings.priors.priors,
                                 schema.calibration.accept, schema.calibration.adjust)
    rows = calibration.resample(post, schema.calibration.posterior_draws)
    post_priors = calibration.posterior_priors(settings.priors.priors, rows)
    predictive_stats = predictive_check(p, window, post_priors, targets)
    ds = calibration.posterior_dataset(sims, post, targets, settings.priors,
                                       predictive_stats, {**attrs, "title": io.CALIBRATION_TITLE})
    overrides_ = tuple(str(attrs.get("overrides", "")).split())
    runs = (forecast_runs(cfg, schema, p, settings, targets, sims, sims.paths[post.index],
                          overrides_) if schema.calibration.forecast_from else {})
    # the files take seconds to write (~7 s at 1e6 paths): staged, so that an interruption
    # leaves none of them; posterior.nc, which says the calibration finished (a skipped
    # re-run reads it), moves in last
    (output_dir / io.POSTERIOR).unlink(missing_ok=True)
    if not runs:  # an earlier config's forecast here would pass for this calibration's
        io.remove_derived(output_dir, (*io.FORECASTS, FORECAST_TABLE, f"{io.PLOTS}/forecast.png"))
    summary = calibration.summary(ds)
    with io.staged(output_dir, last=io.POSTERIOR) as stage:
        for name, run_ds in runs.items():
            (stage / name).mkdir()
            io.write_dataset(run_ds, stage / name / io.RESULTS)
        if runs:
            io.write_text(_forecast_text(runs, schema.calibration.forecast_from),
                          stage / FORECAST_TABLE)
        (stage / PRIORS_FILE.parent).mkdir()
        io.write_text(_priors_yaml(post_priors, output_dir), stage / PRIORS_FILE)
        io.write_text(summary, stage / SUMMARY)
        calibration_plots.plot_calibration(stage, ds, runs=runs)
        io.write_dataset(ds, stage / io.POSTERIOR)
    for line in calibration.warnings(ds):
        print(f"bubblesim-calibrate: warning: {line}", file=sys.stderr)
    if not schema.output.quiet:
        print(summary, end="")
        print(f"\nrun directory: {output_dir}")


def merge_shards(shard_dirs: list[Path], out_dir: Path) -> Path:
    """Calibrate on the statistics of all the shards of one calibration into ``out_dir``:
    the same paths in the same order as one process's run, so the same posterior."""
    shards = [io.read_dataset(Path(d) / io.STATISTICS, calibration.STATISTICS_TITLE)
              for d in shard_dirs]
    first = shards[0].attrs
    if any(ds.attrs.get("run_hash") != first.get("run_hash") for ds in shards):
        raise io.OutputError("shards come from different configs (run_hash differs)")
    indices = sorted(int(ds.attrs["shard_index"]) for ds in shards)
    if indices != list(range(int(first["num_shards"]))):
        raise io.OutputError(f"need each of the {int(first['num_shards'])} shards exactly "
                             f"once, got shard indices {indices}")
    cfg = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(str(first["config"])))
    cfg.engine.num_shards, cfg.engine.shard_index = 1, 0
    attrs = {key: value for key, value in first.items()
             if key not in ("title", "engine_seconds", "threads", "nonfinite_paths")}
    sims = calibration.merged_simulations(shards)
    attrs.update(config=OmegaConf.to_yaml(cfg), num_shards=1, shard_index=0,
                 config_hash=config_hash(cfg), n_paths=len(sims.paths),
                 engine_seconds=sims.engine_seconds,
                 merged_from=" ".join(str(d) for d in shard_dirs))
    finish(cfg, sims, attrs, Path(out_dir))
    return Path(out_dir) / io.POSTERIOR


def _forecast_text(runs: dict, date: str) -> str:
    figures = {name: forecast.from_dataset(ds) for name, ds in runs.items()}
    n = int(figures["forecast"]["paths"])
    return (f"# Forecast from {date}, conditioned on the calibration's data\n\n"
            f"{n:,} kept paths re-run to the horizon (their own draws and shocks), against "
            f"as many paths of the same run taken without regard to the data. Medians with "
            f"5-95% ranges across paths; shares ± their Monte Carlo standard error. Results: "
            f"forecast/results.nc, prior_forecast/results.nc; figure: plots/forecast.png.\n\n"
            + forecast.table(figures["forecast"], figures["prior_forecast"]))


def _priors_yaml(post_priors: dict, output_dir: Path) -> str:
    head = ("# The posterior of a calibration (bubblesim-calibrate), as empirical priors drawn "
            "jointly:\n"
            f"#   bubblesim priors=posterior hydra.searchpath=[file://{output_dir.resolve()}]\n"
            "# or copy this file into conf/priors/ and use priors=<its name>.\n")
    return head + yaml.safe_dump(post_priors, default_flow_style=None, width=100,
                                 sort_keys=False)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="calibrate")
def _main(cfg: DictConfig) -> None:
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        run(cfg, output_dir, tuple(HydraConfig.get().overrides.task))
    except Exception as exc:  # noqa: BLE001  (failure re-raises what it does not expect)
        message, code = failure(exc, output_dir, in_sweep=False)
        print(f"bubblesim-calibrate: {message}", file=sys.stderr)
        remove_empty_run_dir(output_dir)
        sys.exit(code)


def main() -> None:
    argv = sys.argv[1:]
    try:
        overrides.check(argv, CONF_DIR)
    except ConfigError as exc:
        print(f"bubblesim-calibrate: invalid config: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        _main()
    except KeyboardInterrupt:
        print("bubblesim-calibrate: interrupted; nothing was written", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
