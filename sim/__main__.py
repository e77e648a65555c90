"""`bubblesim`: the Hydra entry point. Thin: compose the config, call app.run, map errors."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from sim import io
from sim.params import ConfigError
from sim.schema import register_configs
from sim.sweep import FAILED

CONFIG_PATH = str(Path(__file__).resolve().parent.parent / "conf")

register_configs()


def _remove_empty_run_dir(output_dir: Path) -> None:
    """Drop the run directory Hydra created if it holds nothing but Hydra's own files."""
    if not output_dir.is_dir():
        return
    own = {".hydra"} | {p.name for p in output_dir.glob("*.log")}
    if {p.name for p in output_dir.iterdir()} <= own:
        shutil.rmtree(output_dir, ignore_errors=True)
        parent = output_dir.parent
        made_by_hydra = parent.parent.name == "outputs"  # outputs/<date>/<time>
        if made_by_hydra and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _main(cfg: DictConfig) -> None:
    from sim import app

    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = tuple(hydra_cfg.overrides.task)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    marker = output_dir / FAILED
    try:
        app.run(cfg, output_dir, overrides)
    except ConfigError as exc:
        message = f"invalid config: {exc}"
    except Exception as exc:  # noqa: BLE001  (a sweep job reports, the sweep goes on)
        if not in_sweep:
            raise
        message = f"{type(exc).__name__}: {exc}"
    else:
        marker.unlink(missing_ok=True)
        return
    print(f"bubblesim: {message}", file=sys.stderr)
    if in_sweep:
        io.write_text(f"{message}\n", marker)  # sweep.nc lists the job as failed
        return
    _remove_empty_run_dir(output_dir)
    sys.exit(2)


def main() -> None:
    try:
        _main()
    except KeyboardInterrupt:
        # results are written only when complete (temp file + rename): nothing half-written
        print("bubblesim: interrupted; this run wrote no results", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
