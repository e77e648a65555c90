"""Shared fixtures: compose the real Hydra configs, run small simulations."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from sim.engine import simulate
from sim.params import model_vector, run_settings, validate
from sim.schema import register_configs

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"
SCENARIOS = ("soft_landing", "excess_capacity", "dotcom_crash")
BUBBLESIM = [sys.executable, "-m", "sim"]
MERGE = [sys.executable, "-m", "sim.merge"]
REPORT = [sys.executable, "-m", "sim.report"]
PLOT = [sys.executable, "-m", "sim.plots"]
SENSITIVITY = [sys.executable, "-m", "sim.uncertainty"]
CALIBRATE = [sys.executable, "-m", "sim.calibrate"]

register_configs()


def compose_config(*overrides: str, config_name: str = "config"):
    """The DictConfig Hydra would build for ``bubblesim OVERRIDES`` (``config_name``
    "calibrate": for ``bubblesim-calibrate OVERRIDES``)."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name, overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def schema(*overrides: str, config_name: str = "config"):
    return validate(OmegaConf.to_object(compose_config(*overrides, config_name=config_name)))


def config_keys(tree: dict, prefix: str = "") -> list[str]:
    """Every key of a nested mapping (a YAML file), dotted, in file order."""
    out = []
    for key, value in tree.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out += config_keys(value, f"{prefix}{key}.")
    return out


def run_small(*overrides: str, n_paths: int = 2000, backend: str = "numba",
              cheap_random: bool = False, **settings):
    """Simulate a composed scenario with n_paths paths, no progress bar."""
    cfg = schema(*overrides)
    s = replace(run_settings(cfg), n_paths=n_paths, chunk_size=settings.pop("chunk_size", n_paths),
                quiet=True, **settings)
    return simulate(model_vector(cfg), s, backend=backend, cheap_random=cheap_random)


def without_root_override(command: list[str]) -> list[str]:
    """``command`` run so that file permissions apply: root ignores them (CAP_DAC_OVERRIDE),
    so as root the capability is dropped with setpriv; other users need nothing."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]


def interruptible() -> None:
    """preexec_fn: Ctrl-C reaches the child even when pytest itself was started with SIGINT
    ignored (a background job of a non-interactive shell), which Python would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None,
            permissions: bool = False, preexec_fn=None, command=BUBBLESIM):
    """Run ``bubblesim ARGS`` (or another ``command``) in a subprocess; ``permissions``: as a
    user that file permissions apply to (read-only directories stay read-only)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    argv = [*command, *args]
    return subprocess.run(without_root_override(argv) if permissions else argv,
                          capture_output=True, text=True, env=full_env, cwd=cwd or ROOT,
                          timeout=600, preexec_fn=preexec_fn)


@pytest.fixture(scope="session")
def scenario_runs():
    """4,000 paths of each scenario, shared by the tests that compare scenarios."""
    return {name: run_small(f"scenario={name}", n_paths=4000) for name in SCENARIOS}
