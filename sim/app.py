"""run(cfg, output_dir): config -> engine -> analysis -> files. The only module that sees
DictConfig; everything below it receives validated dataclasses and arrays."""

from __future__ import annotations

import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sim import dataset, io, report
from sim.engine import simulate
from sim.params import model_vector, run_settings, validate
from sim.schema import Config


def to_config(cfg: DictConfig) -> Config:
    """The validated schema object (raises ConfigError naming the key and range)."""
    return validate(OmegaConf.to_object(cfg))


def provenance(cfg: DictConfig, settings, raw, wall: float, overrides: str) -> dict:
    import numba
    return {
        "title": io.TITLE,
        "Conventions": "CF-1.10",
        "scenario": cfg.scenario_name,
        "overrides": overrides,
        "config": OmegaConf.to_yaml(cfg, resolve=True),
        "seed": settings.seed,
        "n_paths": settings.n_paths,
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


def run(cfg: DictConfig, output_dir: Path, overrides: tuple[str, ...] = ()) -> Path:
    """Simulate the configured scenario and write results.nc and summary.md into output_dir."""
    tic = time.perf_counter()
    schema = to_config(cfg)
    settings = run_settings(schema)
    p = model_vector(schema.model)
    raw = simulate(p, settings, backend=settings.backend)
    if raw.nonfinite_paths:
        print(f"warning: {raw.nonfinite_paths} of {settings.n_paths} paths produced NaN or inf "
              f"(first: path {raw.first_nonfinite_path}, scenario {cfg.scenario_name}); "
              "they are counted in attrs, not averaged", file=sys.stderr)
    # settings that cannot change results are left out of the run's label
    quiet = ("scenario=", "hydra.", "output.quiet=", "output.overwrite=", "engine.n_paths=",
             "engine.chunk_size=", "engine.threads=", "engine.backend=")
    label = " ".join(o for o in overrides if not o.startswith(quiet))
    attrs = provenance(cfg, settings, raw, time.perf_counter() - tic, label)
    ds = dataset.build(raw, attrs, schema.model.start_date)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    io.write_dataset(ds, output_dir / io.RESULTS)
    io.write_text(report.summary(ds), output_dir / io.SUMMARY)
    if not schema.output.quiet:
        print(f"wrote {output_dir / io.RESULTS}", file=sys.stderr)
    return output_dir

