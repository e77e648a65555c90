"""A first hour without surprises: help, printed summaries, human labels, warnings for
clipped series and for runs too small to mean much, complete attrs (issue 9)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import CONF, REPORT, SCENARIOS, run_cli, run_small
from sim import analysis, dataset, io, report, usage
from sim.schema import leaf_fields


def test_help_lists_scenarios_parameters_and_commands():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for name in SCENARIOS:
        story = usage.story(CONF / "scenario" / f"{name}.yaml")
        assert 20 < len(story) < 110 and f"{name}  " in text and story in text
    fields = dict(leaf_fields())
    for key in usage.MAIN_KEYS:
        line = next(line for line in text.splitlines() if line.strip().startswith(key + " "))
        meta = fields[key].metadata
        assert meta["doc"] in line
        if meta.get("unit", "1") != "1":
            assert f" {meta['unit']} " in line
    assert "[1, 2^40]" in text  # readable ranges
    for command in ("bubblesim-plot", "bubblesim-report", "bubblesim-merge"):
        assert command in text


@pytest.fixture(scope="module")
def shown_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("first") / "run"
    result = run_cli("engine.n_paths=2000", "model.horizon_months=36", "engine.threads=64",
                     f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    return run_dir, result


def test_a_finished_run_prints_its_table_and_directory(shown_run):
    run_dir, result = shown_run
    summary = (run_dir / "summary.md").read_text()
    assert result.stdout == summary + f"\nrun directory: {run_dir}\n"


def test_a_capped_thread_count_says_so(shown_run):
    _, result = shown_run
    line = next(x for x in result.stderr.splitlines() if "engine.threads" in x)
    assert "engine.threads=64 capped at" in line


def test_summary_uses_human_labels_and_unit_words(shown_run):
    run_dir, _ = shown_run
    text = (run_dir / "summary.md").read_text()
    for label in ("P(max drawdown > 50%)", "median time to recovery", "ratio to its start",
                  "share of paths", "fraction of the peak lost"):
        assert label in text
    rows = [r for r in text.splitlines() if r.startswith("| ") and "figure" not in r]
    assert all(not r.rstrip().endswith("| 1 |") for r in rows)
    assert "'-'" in text and "not reached within the horizon" in text
    assert "± 0 " not in text and not any(r.split("|")[2].strip().endswith("± 0") for r in rows)


def test_attrs_hold_all_overrides_and_histogram_coordinates(shown_run):
    run_dir, _ = shown_run
    ds = io.read_results(run_dir)
    assert ds.attrs["overrides"].split() == ["engine.n_paths=2000", "model.horizon_months=36",
                                             "engine.threads=64"]
    assert ds.attrs["label"] == "model.horizon_months=36"
    assert list(ds["bin"].values) == list(range(ds.sizes["bin"]))
    assert ds.sizes["bin_edge"] == ds.sizes["bin"] + 1 and "bin_edge" in ds.coords
    assert list(ds["outside"].values) == ["zero_or_nan", "below_range", "above_range"]


def test_month_medians_have_a_nonzero_error():
    # every path's count is a whole month, so the plain order-statistic SE is often 0; the
    # median interpolated within the month is within half a month of it and has an error
    raw = run_small(n_paths=3000)
    km = analysis.kaplan_meier(raw.recovery_events, raw.recovery_censored)
    survival = analysis.firm_survival(raw.alive, raw.alive_sq_horizon, raw.n_paths, raw.n_firms)
    figures = dataset._headline(raw, km, survival, dataset._bands(raw)[0])
    for name, per_path in (("median_peak_to_trough_months", "peak_to_trough_months"),
                           ("median_months_underwater", "months_underwater")):
        value, se, lower, upper = figures[name]
        assert se > 0 and lower < value < upper
        assert abs(value - np.median(raw.per_path[per_path])) <= 0.5


def test_report_names_equal_runs_by_their_directories(tmp_path):
    assert run_cli("engine.n_paths=300", "output.quiet=true", "model.horizon_months=12",
                   f"hydra.run.dir={tmp_path / 'a'}").returncode == 0
    # the same config run elsewhere has the same label (what the report must tell apart by
    # directory): a copy serves, without a second process
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    result = run_cli(str(tmp_path / "a"), str(tmp_path / "b"), command=REPORT)
    assert result.returncode == 0, result.stderr
    labels = [r.split("|")[1].strip() for r in result.stdout.splitlines()[2:]
              if r.startswith("|")]
    assert len(labels) == 2 and labels[0] != labels[1]
    assert str(tmp_path / "a") in labels[0] and str(tmp_path / "b") in labels[1]


# --- no silent clipping -------------------------------------------------------------------
@pytest.fixture(scope="module")
def exploding_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("explode") / "run"
    result = run_cli("engine.n_paths=500", "model.horizon_months=600",
                     "model.efficiency.growth=3", "output.quiet=true",
                     f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    return run_dir, result


def test_values_beyond_the_histogram_are_counted_warned_and_marked(exploding_run):
    run_dir, result = exploding_run
    ds = io.read_results(run_dir)
    outside = ds["histogram_outside"].sel(series="token_price")
    assert int(outside.sel(outside="below_range").sum()) > 0
    # every path-month is counted once: in a bin or outside
    counted = ds["histogram"].sel(series="token_price").sum("bin") + outside.sum("outside")
    assert (counted == 500).all()
    assert "token_price: " in result.stderr and "outside the histogram range" in result.stderr
    assert "## Warnings" in (run_dir / "summary.md").read_text()
    median = ds["token_price"].sel(quantile=0.5)
    clipped = ds["band_clipped"].sel(series="token_price", quantile=0.5).astype(bool)
    assert clipped.any()
    # where marked, the band sits at the range's bottom edge: an upper bound, not a value
    bottom = float(ds["histogram_edges"].sel(series="token_price").isel(bin_edge=0))
    np.testing.assert_allclose(median.where(clipped, drop=True), bottom, rtol=1e-12)
    assert float(ds["sample_token_price"].min()) < bottom  # the paths really went below


def test_a_normal_run_has_no_clipping(shown_run):
    run_dir, result = shown_run
    ds = io.read_results(run_dir)
    assert int(ds["histogram_outside"].sel(outside=["below_range", "above_range"]).sum()) == 0
    assert not ds["band_clipped"].any() and "outside the histogram" not in result.stderr


@pytest.mark.parametrize("override, needle", [
    ("engine.n_paths=1", "1 path: the bands are that path"),
    ("model.horizon_months=1", "a 1-month horizon"),
])
def test_degenerate_runs_say_their_statistics_mean_little(tmp_path, override, needle):
    args = ["engine.n_paths=200", "model.horizon_months=24", override, "output.quiet=true",
            f"hydra.run.dir={tmp_path}"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert needle in result.stderr and needle in (tmp_path / "summary.md").read_text()
    ds = io.read_results(tmp_path)
    assert needle in " ".join(report.warnings(ds))
