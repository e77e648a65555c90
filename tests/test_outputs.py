"""End-to-end CLI run: the results.nc schema, summary.md, atomic writes, unreadable files."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import ROOT, interruptible, run_cli
from sim import io

BANDS = ["token_price", "spend", "compute_demand", "capacity", "capex", "utilization",
         "rental_price", "index"]
PER_PATH = ["max_drawdown", "peak_to_trough_months", "recovery_months", "terminal_index",
            "min_utilization", "rental_price_max_drawdown", "capex_max_drawdown"]
ATTRS = ["config", "seed", "n_paths", "package", "numba_version", "numpy_version", "threads",
         "wall_seconds", "engine_seconds", "scenario", "nonfinite_paths"]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = run_cli("scenario=dotcom_crash", "engine.n_paths=3000", "engine.seed=7",
                     "model.horizon_months=60", "output.quiet=true", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    return out


def test_run_directory_contents(cli_run):
    assert (cli_run / "results.nc").is_file()
    assert (cli_run / ".hydra" / "config.yaml").is_file()
    summary = (cli_run / "summary.md").read_text()
    assert "dotcom_crash" in summary and "median max drawdown" in summary
    assert not list(cli_run.glob(".*tmp*"))


def test_results_schema(cli_run):
    ds = io.read_results(cli_run)
    assert ds.sizes["path"] == 3000 and ds.sizes["time"] == 61
    assert list(ds["sector"].values) == ["labs", "clouds", "vendors"]
    assert {0.05, 0.25, 0.5, 0.75, 0.95} <= set(np.round(ds["quantile"].values, 10))
    assert ds["time"].values[0] == 0 and "date" in ds.coords
    for name in PER_PATH:
        assert ds[name].dims == ("path",)
    assert ds["sector_max_drawdown"].dims == ("path", "sector")
    assert ds["default_month"].dims == ("path", "sector", "firm")
    start = yaml.safe_load((ROOT / "conf" / "start" / "2026q1.yaml").read_text())["start"]
    assert ds["firm_name"].dims == ("sector", "firm")
    assert ds["firm_name"].sel(sector="clouds").values.tolist() == start["clouds"]["names"]
    for name in BANDS:
        assert ds[name].dims == ("quantile", "time")
    assert ds["sector_equity"].dims == ("quantile", "time", "sector")
    assert ds["survival"].dims == ("sector", "time")
    for name in ds.data_vars:
        assert ds[name].attrs.get("units") and ds[name].attrs.get("long_name"), name
    for name in ATTRS:
        assert name in ds.attrs, name
    assert ds.attrs["seed"] == 7 and ds.attrs["n_paths"] == 3000
    assert "dotcom_crash" in ds.attrs["config"]


def test_results_are_consistent(cli_run):
    ds = io.read_results(cli_run)
    mdd = ds["max_drawdown"].values
    assert ((0 <= mdd) & (mdd <= 1)).all()
    assert ((ds["recovery_months"] >= 0) | np.isnan(ds["recovery_months"])).all()
    bands = ds["index"].sel(quantile=[0.05, 0.5, 0.95]).values
    assert (np.diff(bands, axis=0) >= 0).all()
    assert (ds["survival"].diff("time") <= 0).all()
    survived = (ds["default_month"] < 0).mean(("path", "firm"))
    np.testing.assert_allclose(ds["survival"].isel(time=-1), survived)
    assert float(ds["survival"].isel(time=0).min()) == 1.0


def test_per_path_off(tmp_path):
    out = tmp_path / "run"
    result = run_cli("engine.n_paths=500", "output.per_path=false", "output.quiet=true",
                     "model.horizon_months=24", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    ds = io.read_results(out)
    assert "path" not in ds.dims and "max_drawdown" not in ds
    assert "index" in ds and "survival" in ds


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    bad = xr.Dataset({"x": ("a", np.array([object()], dtype=object))})
    with pytest.raises((TypeError, ValueError)):
        io.write_dataset(bad, tmp_path / "results.nc")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [None, b"", b"not a netcdf file at all"])
def test_unreadable_results_give_one_clear_error(tmp_path, content):
    if content is not None:
        (tmp_path / "results.nc").write_bytes(content)
    with pytest.raises(io.OutputError, match="results.nc"):
        io.read_results(tmp_path)


def test_foreign_netcdf_is_rejected(tmp_path):
    xr.Dataset({"x": ("a", [1.0])}).to_netcdf(tmp_path / "results.nc", engine="h5netcdf")
    with pytest.raises(io.OutputError, match="not a bubblesim"):
        io.read_results(tmp_path)


def test_truncated_results_are_rejected(cli_run, tmp_path):
    data = (cli_run / "results.nc").read_bytes()
    (tmp_path / "results.nc").write_bytes(data[: len(data) // 2])
    with pytest.raises(io.OutputError):
        io.read_results(tmp_path)


def test_interrupted_run_leaves_no_results(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "sim", "engine.n_paths=3000000",
                             "output.quiet=true", f"hydra.run.dir={out}"],
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    deadline = time.time() + 120
    while not (out / ".hydra").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # well inside the simulation (3M paths take tens of seconds)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (out / "results.nc").exists()
    assert not [p for p in out.iterdir() if "tmp" in p.name]
