"""How the command-line apps end when something expected goes wrong: one line and an exit
code (docs/cli.md): 2 for a configuration the run cannot take (a bad key or value, not
enough memory or disk), 1 for a directory that cannot be written or is in use; and the run
directory Hydra made removed when nothing but Hydra's own files went into it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sim import io
from sim.resources import ResourceError
from sim.schema import ConfigError


def remove_empty_run_dir(output_dir: Path) -> None:
    """Drop the run directory Hydra created if it holds nothing but Hydra's own files."""
    if not output_dir.is_dir():
        return
    own = {".hydra", io.LOCK} | {p.name for p in output_dir.glob("*.log")}
    if {p.name for p in output_dir.iterdir()} <= own:
        shutil.rmtree(output_dir, ignore_errors=True)
        if "outputs" in output_dir.parts[:-1]:  # Hydra's outputs/[app/]<date>/<time>
            for made in output_dir.parents:
                if not made.is_dir() or any(made.iterdir()):
                    break
                made.rmdir()
                if made.name == "outputs":
                    break


def failure(exc: Exception, output_dir: Path, in_sweep: bool) -> tuple[str, int]:
    """The one-line message and exit code of a failed run, or re-raise what is unexpected."""
    if isinstance(exc, ResourceError):
        return str(exc), 2
    if isinstance(exc, ConfigError):
        return f"invalid config: {exc}", 2
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    if isinstance(exc, io.OutputError) and not full:
        return str(exc), 1
    if isinstance(exc, OSError) and not full:
        return io.write_failure(output_dir, exc, "hydra.run.dir=PATH"), 1
    if not in_sweep:
        raise exc
    return f"{type(exc).__name__}: {exc}", 1  # a sweep job reports, the sweep goes on
