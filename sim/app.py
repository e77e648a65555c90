"""run(cfg, output_dir): config -> engine -> analysis -> files. The only module that sees
DictConfig; everything below it receives validated dataclasses and arrays."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sim import dataset, io, layout, report, resources
from sim.engine import simulate
from sim.params import model_vector, run_settings, validate
from sim.schema import Config, register_configs

# settings that change how a run is computed or shown, never its results
NOT_RESULTS = (("engine", "threads"), ("engine", "chunk_size"), ("engine", "backend"),
               ("output", "quiet"), ("output", "overwrite"))
SHARD = ("engine", "shard_index")  # differs between the shards of one run


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def to_config(cfg: DictConfig) -> Config:
    """The validated schema object (raises ConfigError naming the key and range)."""
    if "hydra" in cfg:  # a callback's config carries Hydra's own node, untyped
        cfg = OmegaConf.merge(OmegaConf.structured(Config),
                              OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"]))
    return validate(OmegaConf.to_object(cfg))


def compose(*overrides: str, config_name: str = "config") -> Config:
    """The validated config ``bubblesim OVERRIDES`` would run (``config_name="calibrate"``:
    ``bubblesim-calibrate OVERRIDES``), composed outside a Hydra app (tests, benchmarks, the
    install step)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return to_config(hydra_compose(config_name, overrides=list(overrides)))
    finally:
        GlobalHydra.instance().clear()


def warm_up(cfg: DictConfig | None = None, quiet: bool = True) -> None:
    """Compile the engine (or load it from the cache) for ``cfg``'s runs, or, without
    ``cfg``, for runs with and without priors (what `make` does): the machine code depends on
    whether parameters are drawn per path, not on their values. Unless ``quiet``, a cold
    cache says that it is compiling."""
    from sim.engine import warm_up as compile_engine

    for config in [to_config(cfg)] if cfg is not None else [compose(), compose("priors=wide")]:
        compile_engine(model_vector(config), quiet, run_settings(config).priors)


def provenance(cfg: DictConfig, settings, raw, wall: float, overrides: str) -> dict:
    import numba
    return {
        "title": io.TITLE,
        "Conventions": "CF-1.10",
        "scenario": cfg.scenario_name,
        "overrides": overrides,
        "config": OmegaConf.to_yaml(cfg, resolve=True),
        "seed": settings.seed,
        "n_paths": raw.n_paths,
        "total_paths": settings.n_paths,
        "first_path": raw.first_path,
        "num_shards": settings.num_shards,
        "shard_index": settings.shard_index,
        "horizon_months": settings.horizon,
        "package": f"bubblesim {version('bubblesim')}",
        "numba_version": numba.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "threads": raw.threads,
        "backend": settings.backend,
        "engine_seconds": raw.engine_seconds,
        "wall_seconds": wall,
        "nonfinite_paths": raw.nonfinite_paths,
        "first_nonfinite_path": raw.first_nonfinite_path,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def config_hash(cfg: DictConfig, ignore=()) -> str:
    """Hash of everything that determines the results (not threads, chunking or verbosity)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for section, key in (*NOT_RESULTS, *ignore):
        resolved.get(section, {}).pop(key, None)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()


def finished_with(output_dir: Path, digest: str) -> bool | None:
    """True if output_dir holds results of this config, False if of another, None if none."""
    attrs = io.read_attrs(output_dir)
    return None if attrs is None else attrs.get("config_hash") == digest


def _announce_threads(requested: int) -> None:
    from sim.engine import max_threads

    available = max_threads()
    if requested > available:
        print(f"bubblesim: engine.threads={requested} capped at {available} (numba's thread "
              f"limit NUMBA_NUM_THREADS; this machine has {os.cpu_count()} cores)",
              file=sys.stderr)


def check_resources(settings, output_dir: Path) -> None:
    """Stop with ResourceError before any work if memory or disk will not do."""
    first, n = settings.shard_range()
    need = resources.estimate(n, settings.chunk_size, settings.threads or os.cpu_count() or 1,
                              settings.horizon, settings.hist_bins, settings.n_firms,
                              settings.sample_paths, settings.per_path)
    resources.check(need, n, output_dir)


def run(cfg: DictConfig, output_dir: Path, overrides: tuple[str, ...] = (),
        show: bool = False) -> Path:
    """Simulate the configured scenario and write results.nc and summary.md into output_dir.

    If output_dir already holds results of the same config, nothing is recomputed unless
    ``output.overwrite`` is set (a re-run sweep resumes instead of overwriting); results of
    another config are replaced together with what was made from them (summary, figures).
    ``show`` prints the headline table and the run directory at the end (a single run).
    """
    tic = time.perf_counter()
    schema = to_config(cfg)
    output_dir = Path(output_dir)
    digest = config_hash(cfg)
    previous = finished_with(output_dir, digest)
    if previous and not schema.output.overwrite:
        print(f"bubblesim: {output_dir}: already finished with this config, skipped "
              "(output.overwrite=true recomputes)", file=sys.stderr)
        return output_dir
    settings = run_settings(schema)
    check_resources(settings, output_dir)
    _announce_threads(settings.threads)
    if previous is False:
        print(f"bubblesim: {output_dir}: results.nc was made with another config; "
              "recomputing (its summary and plots are removed)", file=sys.stderr)
    p = model_vector(schema)
    raw = simulate(p, settings, backend=settings.backend)
    attrs = provenance(cfg, settings, raw, time.perf_counter() - tic, " ".join(overrides))
    attrs["label"] = io.label(overrides, omit=("scenario=",))
    attrs["config_hash"] = digest
    attrs["run_hash"] = config_hash(cfg, ignore=(SHARD,))  # equal for all shards of a run
    names = [list(getattr(schema.start, sector).names) for sector in layout.SECTORS]
    ds = dataset.build(raw, attrs, schema.start.date, names)
    output_dir.mkdir(parents=True, exist_ok=True)
    io.remove_derived(output_dir)
    io.write_dataset(ds, output_dir / io.RESULTS)
    summary = report.summary(ds)
    io.write_text(summary, output_dir / io.SUMMARY)
    for line in report.warnings(ds):
        print(f"bubblesim: warning: {line}", file=sys.stderr)
    if show and not schema.output.quiet:
        print(summary, end="")
        print(f"\nrun directory: {output_dir}")
    elif not schema.output.quiet:
        print(f"wrote {output_dir / io.RESULTS}", file=sys.stderr)
    return output_dir
