"""Sweeps: sweep.nc, launchers, resume without overwriting, failed jobs, exact sharding."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from hydra.utils import get_class
from omegaconf import OmegaConf

from conftest import CONF, run_cli
from sim import io

SMALL = ["engine.n_paths=300", "model.horizon_months=24", "output.quiet=true"]
SCENARIOS = ("scenario=soft_landing,dotcom_crash",)


def _sweep(sweep_dir, *args, launcher=None):
    extra = [f"hydra/launcher={launcher}"] if launcher else []
    return run_cli("-m", *extra, *args, *SMALL, f"hydra.sweep.dir={sweep_dir}")


def _mtimes(sweep_dir):
    return {p.parent.name: p.stat().st_mtime_ns for p in sweep_dir.glob("*/results.nc")}


def _same_results(a, b):
    """Every data variable of ``a`` equal in ``b``, bit for bit (NaN where NaN)."""
    for name in a.data_vars:
        x, y = a[name].values, b[name].values
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    """Two scenarios on the basic launcher: what the other launchers must reproduce, and a
    sweep for report and plots to read (each sweep process costs several seconds)."""
    sweep_dir = tmp_path_factory.mktemp("basic")
    result = _sweep(sweep_dir, *SCENARIOS)
    assert result.returncode == 0, result.stderr
    return sweep_dir


def test_grid_sweep_with_joblib_gives_one_dataset(tmp_path):
    result = _sweep(tmp_path, "scenario=soft_landing,dotcom_crash",
                    "model.demand.elasticity=0.8,1.2", launcher="parallel")
    assert result.returncode == 0, result.stderr
    ds = xr.load_dataset(tmp_path / "sweep.nc")
    assert ds.attrs["grid"] == 1 and ds.attrs["finished_jobs"] == 4
    assert sorted(ds["scenario"].values) == ["dotcom_crash", "soft_landing"]
    np.testing.assert_allclose(sorted(ds["model.demand.elasticity"].values), [0.8, 1.2])
    assert {"model.demand.elasticity", "scenario"} <= set(ds["headline"].dims)
    job = xr.load_dataset(tmp_path / "0" / "results.nc")
    one = ds["headline"].sel(scenario="soft_landing", **{"model.demand.elasticity": 0.8})
    np.testing.assert_array_equal(one.values, job["headline"].values)
    assert job.attrs["threads"] == 1  # 2 jobs x 1 thread on 2 cores


# the joblib sweep above covers jobs in other processes by default; submitit's local
# executor adds its own job submission (15 s), checked with the slow tests as in
# test_calibration_shards
@pytest.mark.slow
def test_submitit_local_sweep(tmp_path, basic_sweep):
    result = _sweep(tmp_path, *SCENARIOS, launcher="submitit_local")
    assert result.returncode == 0, result.stderr
    ds = xr.load_dataset(tmp_path / "sweep.nc")
    assert sorted(ds["scenario"].values) == ["dotcom_crash", "soft_landing"]
    assert ds.attrs["finished_jobs"] == 2
    _same_results(xr.load_dataset(basic_sweep / "sweep.nc"), ds)


def test_resume_skips_finished_reruns_missing_and_changed(tmp_path):
    args = ("model.demand.elasticity=0.9,1.1",)
    assert _sweep(tmp_path, *args).returncode == 0
    first = _mtimes(tmp_path)
    # one re-run shows both halves of a resume: the finished job skipped, the missing one
    # (the first, so that a job after it must keep its place) rerun
    (tmp_path / "0" / "results.nc").unlink()
    again = _sweep(tmp_path, *args)
    assert again.returncode == 0
    assert again.stderr.count("already finished with this config, skipped") == 1
    after = _mtimes(tmp_path)
    assert after["1"] == first["1"]
    assert after["0"] != first["0"]
    changed = _sweep(tmp_path, *args, "engine.seed=5")
    assert changed.returncode == 0 and "another config; recomputing" in changed.stderr
    assert all(_mtimes(tmp_path)[k] != after[k] for k in after)
    forced = _sweep(tmp_path, *args, "engine.seed=5", "output.overwrite=true")
    assert "skipped" not in forced.stderr


def test_failed_job_is_reported_and_the_rest_aggregate(tmp_path):
    result = _sweep(tmp_path, "model.demand.elasticity=-1,1.2")
    assert result.returncode == 1
    assert "model.demand.elasticity=-1" in result.stderr and "failed" in result.stderr
    assert "Traceback" not in result.stderr
    ds = xr.load_dataset(tmp_path / "sweep.nc")
    status = dict(zip(ds["model.demand.elasticity"].values, ds["job_status"].values,
                      strict=True))
    assert status == {-1: "failed", 1.2: "finished"}
    assert np.isnan(ds["headline"].sel({"model.demand.elasticity": -1})).all()
    assert "model.demand.elasticity=-1" in ds.attrs["unfinished_jobs"]


@pytest.fixture(scope="module")
def two_shards(tmp_path_factory):
    """Two shards of a run and the run in one process (read by the merge tests below)."""
    root = tmp_path_factory.mktemp("shards")
    args = ["scenario=dotcom_crash", "engine.n_paths=2001", "output.quiet=true"]
    for i in range(2):
        shard = run_cli(*args, "engine.num_shards=2", f"engine.shard_index={i}",
                        f"hydra.run.dir={root / f's{i}'}")
        assert shard.returncode == 0, shard.stderr
    assert run_cli(*args, f"hydra.run.dir={root / 'one'}").returncode == 0
    return root


def test_two_shards_merged_equal_one_run(two_shards, tmp_path):
    shards = two_shards
    merged = subprocess.run([sys.executable, "-m", "sim.merge", str(shards / "s1"),
                             str(shards / "s0"), "--out", str(tmp_path / "merged")],
                            capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    one = io.read_results(shards / "one")
    both = io.read_results(tmp_path / "merged")
    assert both.attrs["n_paths"] == 2001
    _same_results(one, both)
    for name in one.coords:  # firm names included
        assert np.array_equal(one[name].values, both[name].values), name


def test_merge_refuses_incomplete_shards(two_shards, tmp_path):
    merged = subprocess.run([sys.executable, "-m", "sim.merge", str(two_shards / "s0"),
                             "--out", str(tmp_path / "m")], capture_output=True, text=True)
    assert merged.returncode == 1 and "exactly once" in merged.stderr
    assert not (tmp_path / "m" / "results.nc").exists()


def test_shard_index_out_of_range_is_a_config_error(tmp_path):
    result = run_cli("engine.num_shards=2", "engine.shard_index=2",
                     f"hydra.run.dir={tmp_path / 'r'}")
    assert result.returncode == 2 and "engine.shard_index" in result.stderr


def test_report_and_plots_accept_a_sweep_dir(basic_sweep):
    report = subprocess.run([sys.executable, "-m", "sim.report", str(basic_sweep)],
                            capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    rows = [r for r in report.stdout.splitlines()[2:] if r.startswith("|")]
    assert [r.split("|")[1].strip().split()[0] for r in rows] == ["soft_landing",
                                                                  "dotcom_crash"]
    plot = subprocess.run([sys.executable, "-m", "sim.plots", str(basic_sweep)],
                          capture_output=True, text=True)
    assert plot.returncode == 0, plot.stderr
    assert (basic_sweep / "plots" / "comparison.png").stat().st_size > 10_000


def _launcher(name: str):
    """The launcher node of ``bubblesim -m hydra/launcher=NAME``, resolved."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=[f"hydra/launcher={name}"],
                          return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)


def test_the_ray_launcher_gives_each_job_one_cpu_and_one_numba_thread():
    """What the Ray sweep below (slow: a Ray head node and its workers take half a minute)
    runs with, checked without a node: the plugin's launcher, the cluster it connects to,
    and each job's thread budget."""
    launcher = _launcher("ray_cluster")
    assert get_class(launcher["_target_"]).__name__ == "RayLauncher"
    assert launcher["ray"]["init"]["address"] == "auto"
    assert launcher["ray"]["init"]["object_store_memory"] is None
    assert launcher["ray"]["remote"]["num_cpus"] == 1
    assert launcher["ray"]["remote"]["runtime_env"]["env_vars"]["NUMBA_NUM_THREADS"] == "1"


def test_the_slurm_launcher_gives_each_task_its_cpus_as_numba_threads():
    """submitit's SLURM launcher (its local executor runs a sweep with the slow tests): each
    array task's numba gets the task's CPUs."""
    launcher = _launcher("slurm")
    assert get_class(launcher["_target_"]).__name__ == "SlurmLauncher"
    assert launcher["cpus_per_task"] == 8
    assert launcher["setup"] == ["export NUMBA_NUM_THREADS=8"]


@pytest.mark.slow
def test_ray_sweep_on_a_local_head_node_equals_the_basic_launcher(tmp_path, ray_head,
                                                                   basic_sweep):
    ray = _sweep(tmp_path / "ray", *SCENARIOS, f"hydra.launcher.ray.init.address={ray_head}",
                 launcher="ray_cluster")
    assert ray.returncode == 0, ray.stderr
    assert f"Connecting to existing Ray cluster at address: {ray_head}" in ray.stderr
    swept = xr.load_dataset(tmp_path / "ray" / "sweep.nc")
    assert swept.attrs["finished_jobs"] == 2
    _same_results(xr.load_dataset(basic_sweep / "sweep.nc"), swept)
    for job in ("0", "1"):
        one = io.read_results(tmp_path / "ray" / job)
        assert one.attrs["threads"] == 1  # NUMBA_NUM_THREADS from ray_cluster.yaml
        _same_results(io.read_results(basic_sweep / job), one)


def test_a_shard_directory_does_not_count_as_another_shard(tmp_path):
    args = ["engine.n_paths=400", "engine.num_shards=2", "output.quiet=true",
            f"hydra.run.dir={tmp_path}"]
    assert run_cli(*args, "engine.shard_index=0").returncode == 0
    second = run_cli(*args, "engine.shard_index=1")
    assert second.returncode == 0 and "another config; recomputing" in second.stderr
    assert io.read_results(tmp_path).attrs["shard_index"] == 1
