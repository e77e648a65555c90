"""`bubblesim`: the Hydra entry point. Thin: check the overrides, compose the config, call
app.run, and turn every expected failure into one line and an exit code (docs/cli.md):
2 for a configuration the run cannot take (a bad key or value, not enough memory or disk),
1 for a directory that cannot be written or is in use, 130 for Ctrl-C.
``HYDRA_FULL_ERROR=1`` shows the traceback of a write failure instead."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sim import io, overrides, usage
from sim.callbacks import SweepInterrupted
from sim.exits import failure, remove_empty_run_dir
from sim.schema import ConfigError, register_configs

CONFIG_PATH = str(Path(__file__).resolve().parent.parent / "conf")

register_configs()
# `bubblesim --help`: Hydra's help template is this text ('$' doubled for string.Template)
OmegaConf.register_new_resolver(
    "bubblesim_help", lambda: usage.help_text(Path(CONFIG_PATH)).replace("$", "$$"),
    replace=True)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _main(cfg: DictConfig) -> None:
    from sim import app

    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    marker = output_dir / io.FAILED
    try:
        app.run(cfg, output_dir, tuple(hydra_cfg.overrides.task), show=not in_sweep)
    except Exception as exc:  # noqa: BLE001  (failure re-raises what it does not expect)
        message, code = failure(exc, output_dir, in_sweep)
    else:
        marker.unlink(missing_ok=True)
        return
    print(f"bubblesim: {message}", file=sys.stderr)
    if in_sweep:
        try:
            io.write_text(f"{message}\n", marker)  # sweep.nc lists the job as failed
        except OSError:
            pass  # the job directory cannot be written; the sweep reports the job as unfinished
        return
    remove_empty_run_dir(output_dir)
    sys.exit(code)


def main() -> None:
    argv = sys.argv[1:]
    try:
        overrides.check(argv, Path(CONFIG_PATH))
    except ConfigError as exc:
        print(f"bubblesim: invalid config: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        _main()
    except SweepInterrupted as exc:
        from sim import sweep

        for line in sweep.interrupted(exc.sweep_dir, argv):
            print(f"bubblesim: {line}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        # results are written only when complete (temp file + rename): nothing half-written
        print("bubblesim: interrupted; this run wrote no results", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
