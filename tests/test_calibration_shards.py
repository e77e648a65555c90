"""A calibration split into shards (issue 13, item 5): each shard writes its paths'
statistics, and calibrating on all of them, at the end of a Hydra sweep or with
bubblesim-merge, keeps exactly the draws one process keeps."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from test_calibration import LEARNED

from conftest import CALIBRATE, MERGE, run_cli

# also the config of conftest.calibrated, the calibration in one process
ARGS = ("start=2026q1", "targets=synthetic", "~priors", LEARNED, "engine.n_paths=3000",
        "calibration.accept=0.5", "calibration.forecast_from=2027-06",
        "model.horizon_months=60", "output.quiet=true")


def _same_posterior(a, b):
    one, other = xr.load_dataset(a / "posterior.nc"), xr.load_dataset(b / "posterior.nc")
    for name in ("path_index", "theta", "theta_raw", "weight", "statistic",
                 "predictive_statistic"):
        np.testing.assert_array_equal(one[name].values, other[name].values, err_msg=name)
    fa = xr.load_dataset(a / "forecast" / "results.nc")
    fb = xr.load_dataset(b / "forecast" / "results.nc")
    np.testing.assert_array_equal(fa["forecast_max_drawdown"], fb["forecast_max_drawdown"])
    assert other.attrs["n_simulations"] == 3000


def _shard_sweep(search, sweep_dir, *extra):
    done = run_cli("-m", *extra, *ARGS, search, "engine.num_shards=3",
                   "engine.shard_index=0,1,2", f"hydra.sweep.dir={sweep_dir}",
                   command=CALIBRATE)
    assert done.returncode == 0, done.stderr
    return sweep_dir


@pytest.fixture(scope="module")
def basic_shards(calibrated, tmp_path_factory):
    """Three shards swept on the basic launcher, calibrated at the sweep's end; their
    directories are also what bubblesim-merge is given (calibrating shards takes a process
    each)."""
    return _shard_sweep(calibrated[0], tmp_path_factory.mktemp("shards"))


# the basic launcher in the default suite; the others (a minute each) with the slow checks
@pytest.mark.parametrize("launcher", [None, *(pytest.param(name, marks=pytest.mark.slow)
                                              for name in ("parallel", "submitit_local",
                                                           "ray_cluster"))])
def test_a_sweep_of_shards_calibrates_as_one_process(calibrated, tmp_path, launcher, request):
    search, one = calibrated
    if launcher is None:
        swept = request.getfixturevalue("basic_shards")
    else:
        extra = [f"hydra/launcher={launcher}"]
        if launcher == "ray_cluster":  # on a Ray head node of the test's own (conftest.ray_head)
            extra.append(
                f"hydra.launcher.ray.init.address={request.getfixturevalue('ray_head')}")
        swept = _shard_sweep(search, tmp_path, *extra)
    assert all((swept / str(k) / "statistics.nc").is_file() for k in range(3))
    assert not (swept / "0" / "posterior.nc").exists()  # a shard alone cannot decide
    _same_posterior(one, swept)


def test_bubblesim_merge_calibrates_on_shards_and_never_replaces_a_calibration(
        calibrated, basic_shards, tmp_path):
    _, one = calibrated
    # given out of order: the shard indices, not the order of the arguments, place the paths
    shards = [str(basic_shards / k) for k in ("2", "0", "1")]
    out = tmp_path / "merged"
    done = run_cli(*shards, "--out", str(out), command=MERGE)
    assert done.returncode == 0, done.stderr
    _same_posterior(one, out)
    stamp = (out / "posterior.nc").stat().st_mtime_ns
    again = run_cli(*shards, "--out", str(out), command=MERGE)
    assert again.returncode == 1
    assert "already holds a calibration; --overwrite replaces it" in again.stderr
    assert (out / "posterior.nc").stat().st_mtime_ns == stamp
    missing = run_cli(shards[0], "--out", str(tmp_path / "half"), command=MERGE)
    assert missing.returncode == 1
    assert "need each of the 3 shards exactly once, got shard indices [2]" in missing.stderr
