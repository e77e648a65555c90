"""Figures and the report, made from saved runs only."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli
from sim import io, plots, report


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plots") / "run"
    result = run_cli("scenario=excess_capacity", "engine.n_paths=3000", "output.quiet=true",
                     "model.demand.elasticity=0.95", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    return out


def _cli(module: str, *args: str):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, timeout=300)


def test_every_figure_is_written(saved_run):
    result = _cli("sim.plots", str(saved_run))
    assert result.returncode == 0, result.stderr
    for name in plots.FIGURES:
        png = saved_run / "plots" / f"{name}.png"
        assert png.is_file() and png.stat().st_size > 10_000
    assert not list((saved_run / "plots").glob(".*"))


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_other_formats(saved_run, fmt, magic):
    files = plots.plot_run(saved_run / "results.nc", fmt)
    assert len(files) == len(plots.FIGURES)
    for f in files:
        assert f.suffix == f".{fmt}" and f.read_bytes().startswith(magic)


def test_axis_labels_carry_units(saved_run):
    ds = io.read_results(saved_run)
    for name, make in plots.FIGURES.items():
        fig = make(ds)
        for ax in fig.axes:
            for text in (ax.get_xlabel(), ax.get_ylabel()):
                assert "[" in text and "]" in text, (name, text)
        footer = " ".join(t.get_text() for t in fig.texts)
        assert "excess_capacity" in footer and "3,000 paths" in footer and "seed 0" in footer
        plots.plt.close(fig)


def test_replotting_does_not_touch_the_engine(saved_run):
    code = ("import sys; from sim.plots import plot_run; plot_run(sys.argv[1]); "
            "bad = [m for m in ('sim.engine', 'sim.kernel', 'sim.model', 'numba') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code, str(saved_run)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", ["sim.plots", "sim.report"])
@pytest.mark.parametrize("content", [None, b"", b"garbage"])
def test_bad_paths_give_one_line(tmp_path, module, content):
    if content is not None:
        (tmp_path / "results.nc").write_bytes(content)
    result = _cli(module, str(tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "results.nc" in result.stderr


def test_report_numbers_equal_the_dataset(saved_run):
    ds = io.read_results(saved_run)
    result = _cli("sim.report", str(saved_run), str(saved_run / "results.nc"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(lines) == 4  # header, rule, one row per run
    assert report.DASH in result.stdout  # what '-' means
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    # the same run given twice: told apart by its directory
    assert cells[0] == f"excess_capacity model.demand.elasticity=0.95 [{saved_run}]"
    figures = report.headline(ds)
    for cell, name in zip(cells[2:], report.COLUMNS, strict=True):
        assert cell == report.with_se(*figures[name])
    # and the headline itself is what the per-path arrays say
    mdd = ds["max_drawdown"].values
    assert figures["median_max_drawdown"][0] == pytest.approx(np.median(mdd))
    assert figures["prob_max_drawdown_gt_50pct"][0] == pytest.approx(np.mean(mdd > 0.5))
    alive = (ds["default_month"] < 0).mean(("path", "firm"))
    for sector in ("labs", "clouds", "vendors"):
        assert figures[f"survival_{sector}_at_horizon"][0] == pytest.approx(
            float(alive.sel(sector=sector)))
    assert figures["prob_lab_runway_below_6_months"][0] == pytest.approx(
        float((ds["min_lab_runway"] < 6).mean()))
    assert figures["prob_lab_default"][0] == pytest.approx(
        float((ds["default_month"].sel(sector="labs") >= 0).any("firm").mean()))
    for part in ("price_response", "adoption", "efficiency", "training"):
        assert figures[f"median_growth_{part}"][0] == pytest.approx(
            float(ds["demand_growth"].sel(growth_component=part).median()))
    assert figures["median_implied_elasticity"][0] == pytest.approx(
        float(ds["implied_elasticity"].median()))
    assert figures["median_circularity_start"][0] == pytest.approx(
        float(ds["circularity"].sel(quantile=0.5)[0]), rel=1e-3)
    recovered = np.mean(~np.isnan(ds["recovery_months"].values))
    assert figures["prob_recovered_by_horizon"][0] == pytest.approx(recovered)


def test_summary_md_is_the_report_of_the_run(saved_run):
    ds = io.read_results(saved_run)
    assert (saved_run / "summary.md").read_text() == report.summary(ds)
