"""Hydra callbacks (conf/config.yaml): directories locked for one process, sweep.nc at the end
of a sweep, and a Ctrl-C in a sweep that says what finished and how to resume.

Hydra writes ``.hydra/`` into the run directory before the task starts, so the lock is taken
here, in ``on_run_start``, before anything is written: a second run into a busy directory
leaves the first one's files alone. A sweep locks its sweep directory for the whole sweep
(every launcher calls ``on_multirun_start`` and ``on_multirun_end`` in the parent process).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from filelock import FileLock
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sim import io
from sim.schema import ConfigError


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; carries the sweep directory so the message can name the
    finished jobs and the command that resumes the sweep."""

    def __init__(self, sweep_dir: Path):
        super().__init__(str(sweep_dir))
        self.sweep_dir = Path(sweep_dir)


def _lock_or_exit(directory: Path, hint: str) -> FileLock:
    try:
        return io.lock(directory, hint)
    except io.OutputError as exc:
        print(f"bubblesim: {exc}", file=sys.stderr)
        sys.exit(1)


# where a KeyboardInterrupt turns into another error: OmegaConf (and Hydra's composition,
# which runs in it) wraps what it raises while building a node
_CONFIG_CODE = ("omegaconf", "hydra._internal.config", "hydra.core.override_parser")


def _in_config_code(frame) -> bool:
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(_CONFIG_CODE):
            return True
        frame = frame.f_back
    return False


class DirectoryLock(Callback):
    """Hold a lock on the run directory (single run) or the sweep directory (sweep), and turn
    a Ctrl-C in a sweep into SweepInterrupted.

    A KeyboardInterrupt raised inside OmegaConf can leave a node half-built, and the error
    that follows replaces the interrupt (exit 1 with an OmegaConf message instead of 130;
    CI caught one in Hydra's composition of the next job). So a Ctrl-C that lands in config
    code is held and raised at the next job boundary (or the sweep's end), where nothing is
    half-built; anywhere else (the engine, a launcher waiting for its workers) at once.
    """

    def __init__(self) -> None:
        self._held: FileLock | None = None
        self._sigint = None
        self._sweep_dir: Path | None = None
        self._pending = False

    def __getstate__(self) -> dict:
        return {}  # launchers pickle the callbacks for their workers; the lock stays here

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._held = _lock_or_exit(Path(config.hydra.run.dir), "hydra.run.dir=PATH")

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        self._release()

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._sweep_dir = Path(config.hydra.sweep.dir)
        self._held = _lock_or_exit(self._sweep_dir, "hydra.sweep.dir=PATH")
        self._sigint = signal.signal(signal.SIGINT, self.interrupted)

    def interrupted(self, signum: int, frame) -> None:
        self._pending = True
        if not _in_config_code(frame):
            self._raise_pending()

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        self._raise_pending()

    def on_job_end(self, config: DictConfig, job_return=None, **kwargs) -> None:
        self._raise_pending()

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self._sigint is not None:
            signal.signal(signal.SIGINT, self._sigint)
            self._sigint = None
        self._release()
        self._raise_pending()

    def _raise_pending(self) -> None:
        if self._pending:
            self._pending = False
            raise SweepInterrupted(self._sweep_dir)

    def _release(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None


class SweepDataset(Callback):
    """Warm the compiled engine before a sweep's workers start; write sweep.nc at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from sim.app import warm_up

        warm_up(config, quiet=False)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from sim import sweep

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            path, problems = sweep.write_sweep(sweep_dir)
        except io.OutputError as exc:
            print(f"bubblesim: sweep: {exc}", file=sys.stderr)
            sys.exit(1)
        print(f"bubblesim: sweep: wrote {path}", file=sys.stderr)
        for line in problems:
            print(f"bubblesim: sweep: {line}", file=sys.stderr)
        if problems:
            sys.exit(1)


class CalibrationSweep(SweepDataset):
    """bubblesim-calibrate's sweep: when its jobs are the shards of one calibration
    (engine.num_shards=K engine.shard_index=0..K-1 through any launcher), calibrate on all of
    their statistics into the sweep directory, as one process would have."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from sim import calibrate, sweep

        sweep_dir = Path(config.hydra.sweep.dir)
        shards = [d for d in sweep.job_dirs(sweep_dir) if (d / io.STATISTICS).exists()]
        if not shards:
            return
        try:
            path = calibrate.merge_shards(shards, sweep_dir)
        except (io.OutputError, ConfigError) as exc:
            print(f"bubblesim-calibrate: sweep: {exc}", file=sys.stderr)
            sys.exit(1)
        print(f"bubblesim-calibrate: sweep: calibrated on {len(shards)} shards: {path}",
              file=sys.stderr)
