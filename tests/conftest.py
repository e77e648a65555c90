"""Shared fixtures: compose the real Hydra configs, run small simulations."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
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


@pytest.fixture(scope="session")
def calibrated(tmp_path_factory):
    """A calibration with a conditioned forecast (test_calibration_shards.ARGS): the run the
    shards must reproduce and the forecast the tests of sim.forecast read; (the search-path
    override of its targets, its run directory)."""
    from test_calibration import _write_targets
    from test_calibration_shards import ARGS

    tmp = tmp_path_factory.mktemp("calibrated")
    search = _write_targets(tmp)
    done = run_cli(*ARGS, search, f"hydra.run.dir={tmp / 'run'}", command=CALIBRATE)
    assert done.returncode == 0, done.stderr
    return search, tmp / "run"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _session_processes(leader: int) -> list[psutil.Process]:
    """The processes still alive in the session that ``leader`` started."""
    alive = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == leader and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except (ProcessLookupError, psutil.Error):
            pass
    return alive


@pytest.fixture
def ray_head(monkeypatch):
    """A Ray head node of this test's own on 127.0.0.1 (2 CPUs, no dashboard, its own temp
    dir and ports); yields its address HOST:PORT and stops it afterwards with every process
    it started. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, for the node and for the test's
    commands (Ray's clients), keeps Ray on the loopback address: on Linux Ray otherwise
    replaces 127.0.0.1, in --node-ip-address and in the address a client connects to, with
    the machine's outward address."""
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    env = dict(os.environ)
    port = _free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="bubblesim-ray-"))  # unix sockets: a short path
    log = temp_dir / "ray-start.log"
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
               "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
               "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}",
               f"--ray-client-server-port={_free_port()}",
               f"--dashboard-agent-listen-port={_free_port()}"]
    with open(log, "w") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in log.read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head node did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # `ray start --block` drains the node and stops what it started
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        # any process of this node that outlived it, by id (`ray stop` would stop every Ray
        # node on the machine, not just this one)
        stray = _session_processes(head.pid)
        for process in stray:
            process.kill()
        psutil.wait_procs(stray, timeout=10)
        left = _session_processes(head.pid)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"
