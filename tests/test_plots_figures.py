"""What the figures of `bubblesim-plot` show, and how the command fails to write them."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from conftest import ROOT, run_cli
from sim import io, plots


def _run(tmp_path_factory, name: str, *overrides: str) -> Path:
    out = tmp_path_factory.mktemp(name) / "run"
    result = run_cli(*overrides, "output.quiet=true", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def soft_run(tmp_path_factory):
    # a few cloud firms default, every survival curve stays above 0.99, and no path loses
    # more than 60%: the zoomed survival axis and the exceedance zeros are both exercised
    return _run(tmp_path_factory, "soft", "engine.n_paths=3000")


@pytest.fixture(scope="module")
def one_path_run(tmp_path_factory):
    return _run(tmp_path_factory, "one_path", "engine.n_paths=1")


@pytest.fixture(scope="module")
def one_month_run(tmp_path_factory):
    # one month of paths: the shortest horizon the figures must draw
    return _run(tmp_path_factory, "one_month", "engine.n_paths=300", "model.horizon_months=1")


@pytest.fixture(scope="module")
def soft(soft_run):
    return io.read_results(soft_run)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plots.plt.close("all")


def _cli_env() -> dict:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def _plot_cli(*args: str, **kwargs):
    return subprocess.run([sys.executable, "-m", "sim.plots", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=kwargs.pop("env", _cli_env()),
                          **kwargs)


# --- survival -----------------------------------------------------------------------------


def test_survival_axis_zooms_when_every_curve_stays_near_one(soft):
    assert 0.9 < float(soft["survival"].min()) < 1.0  # the premise of the test
    ax = plots.survival_curves(soft).axes[0]
    low, high = ax.get_ylim()
    assert 0.9 < low < float(soft["survival_lower"].min()) and 1.0 <= high < 1.01
    assert "zoomed" in ax.get_title()


def test_survival_axis_is_full_when_a_curve_falls_below_0_9(soft):
    fallen = soft.copy()
    for name in ("survival", "survival_lower", "survival_upper"):
        fallen[name] = soft[name] * 0.5
    ax = plots.survival_curves(fallen).axes[0]
    assert ax.get_ylim()[0] <= 0.0 and "zoomed" not in ax.get_title()


def test_sectors_differ_in_line_style_as_well_as_colour(soft):
    ax = plots.survival_curves(soft).axes[0]
    lines = ax.get_legend().get_lines()
    assert len(lines) == soft.sizes["sector"]
    assert len({str(line.get_linestyle()) for line in lines}) == len(lines)
    assert len({line.get_color() for line in lines}) == len(lines)


def _has_data(artist) -> bool:
    if hasattr(artist, "get_ydata"):
        return bool(np.isfinite(np.asarray(artist.get_ydata(), float)).any())
    if hasattr(artist, "get_paths"):  # fill_between, error bar segments
        return any(np.isfinite(p.vertices).all() and len(p.vertices) for p in
                   artist.get_paths())
    if hasattr(artist, "lines"):  # an errorbar container: its data line
        return _has_data(artist.lines[0])
    return hasattr(artist, "patches") and len(artist.patches) > 0  # bars


def _legend_problems(fig) -> list[str]:
    """Legend entries without an artist that holds finite data."""
    problems = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        artists = [*ax.get_children(), *ax.containers]
        for text in legend.get_texts():
            owners = [a for a in artists if a.get_label() == text.get_text()]
            if not any(_has_data(a) for a in owners):
                problems.append(f"{ax.get_title()!r}: {text.get_text()!r}")
    return problems


@pytest.mark.parametrize("which", ["soft_run", "one_path_run", "one_month_run"])
def test_no_legend_entry_without_drawn_data(request, which):
    ds = io.read_results(request.getfixturevalue(which))
    for name, make in plots.FIGURES.items():
        fig = make(ds)
        assert not _legend_problems(fig), name
        plots.plt.close(fig)


def test_survival_legend_names_the_bands_only_when_drawn(soft, one_path_run):
    ax = plots.survival_curves(soft).axes[0]
    key = ax.get_legend().get_title().get_text()
    assert "pointwise" in key and len(ax.collections) > 0
    alone = plots.survival_curves(io.read_results(one_path_run)).axes[0]
    assert alone.get_legend().get_title().get_text() == "" and not alone.collections


# --- exceedance ---------------------------------------------------------------------------


def test_exceedance_is_on_a_log_axis_with_zeros_shown_as_upper_bounds(soft):
    p = soft["exceedance"].values
    zeros = int((p == 0).sum())
    assert 0 < zeros < len(p)  # the premise: some thresholds no path exceeded
    ax = plots.drawdown_distribution(soft).axes[1]
    assert ax.get_yscale() == "log"
    bound = 1 - 0.05 ** (1 / int(soft.attrs["n_paths"]))
    assert bound == pytest.approx(3 / int(soft.attrs["n_paths"]), rel=0.01)  # rule of three
    markers = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert sum(len(m.get_ydata()) for m in markers) == zeros
    assert all(np.allclose(m.get_ydata(), bound) for m in markers)
    assert any("upper bound" in t.get_text() for t in ax.get_legend().get_texts())
    # the lower error bars are cut at the axis instead of running to zero or below
    bottom = ax.get_ylim()[0]
    bars = ax.containers[0].lines[2][0].get_segments()
    assert bars and all(seg[:, 1].min() >= bottom * (1 - 1e-9) for seg in bars)


# --- log ticks ----------------------------------------------------------------------------

PLAIN = re.compile(r"^[\d,]*\.?\d+$")
POWER = re.compile(r"^\$(\d+(\.\d+)?\\times)?10\^\{-?\d+\}\$$")


def _log_tick_labels(ax, axis: str) -> tuple[list[str], tuple[float, float]]:
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    ticks = target.get_major_ticks() + target.get_minor_ticks()
    labels = [t.label1.get_text() for t in ticks
              if t.label1.get_visible() and lo <= t.get_loc() <= hi]
    # matplotlib's own 10^k labels wrap the exponent in \mathdefault{}: same text
    labels = [re.sub(r"\\mathdefault\{(.*)\}", r"\1", text) for text in labels]
    return [text for text in labels if text], (lo, hi)


@pytest.mark.parametrize("which", ["soft_run", "one_month_run"])
def test_log_axes_have_readable_labels(request, which):
    ds = io.read_results(request.getfixturevalue(which))
    checked = 0
    for name, make in plots.FIGURES.items():
        fig = make(ds)
        fig.canvas.draw()
        for ax in fig.axes:
            for axis in ("x", "y"):
                if (ax.get_yscale() if axis == "y" else ax.get_xscale()) != "log":
                    continue
                labels, (lo, hi) = _log_tick_labels(ax, axis)
                assert len(labels) >= 2, (name, ax.get_title(), axis, labels)
                assert all(PLAIN.match(t) or POWER.match(t) for t in labels), (name, labels)
                if lo >= 1e-3 and hi < 1e5:  # plain numbers where they are short
                    assert all(PLAIN.match(t) for t in labels), (name, labels)
                checked += 1
        plots.plt.close(fig)
    assert checked >= 5


# --- analyst figures ----------------------------------------------------------------------


def _figures(ds) -> dict[str, float]:
    return dict(zip(ds["figure"].values, ds["headline"].values, strict=True))


@pytest.mark.parametrize("which", ["soft_run", "one_month_run"])
def test_demand_growth_titles_say_what_the_data_show(request, which):
    ds = io.read_results(request.getfixturevalue(which))
    fig = plots.demand_growth(ds)
    left, right = fig.axes
    share = re.search(r"cheaper tokens account for (-?\d+)% of the mean growth",
                      left.get_title())
    assert share, left.get_title()
    # the share of the mean, from the per-path values
    parts = ds["demand_growth"].sel(growth_component="price_response").values
    expected = parts.mean() / ds["demand_log_growth"].values.mean()
    assert int(share.group(1)) == round(100 * expected)
    median = re.search(r"median (\S+)\n", right.get_title())
    assert float(median.group(1)) == pytest.approx(
        float(np.median(ds["implied_elasticity"].values)), rel=1e-3)
    # the structural elasticity is drawn, and the implied one sits on it
    eps = plots.structural_elasticity(ds)
    assert eps == pytest.approx(1.2)  # soft_landing's default
    assert any(np.allclose(line.get_xdata(), eps) for line in right.get_lines())
    # a tick per median, on the per-path medians
    q = plots.growth_quantiles(ds)
    assert q["adoption"][2] == pytest.approx(np.median(
        ds["demand_growth"].sel(growth_component="adoption").values))


def test_growth_quantiles_without_per_path_outputs_come_from_the_histogram(soft):
    kept = plots.growth_quantiles(soft)
    binned = plots.growth_quantiles(soft.drop_vars(["demand_growth", "demand_log_growth"]))
    width = float(soft["growth_bin"][1] - soft["growth_bin"][0])
    for part, values in kept.items():
        np.testing.assert_allclose(binned[part], values, atol=width)


def test_revenue_chain_titles_are_the_bands(soft):
    fig = plots.revenue_chain(soft)
    circ = soft["circularity"].sel(quantile=0.5).values
    title = fig.axes[0].get_title()
    assert f"{circ[0]:.3g}x along the chain at t=0" in title
    assert f"{circ.max():.3g}x at the median's peak" in title
    gap = soft["revenue_gap"].sel(quantile=0.5).values
    assert f"{np.nanmax(gap):.3g}x at the median's peak" in fig.axes[1].get_title()
    # Sequoia's break-even line: end users paying twice the capex
    assert any(np.allclose(line.get_ydata(), 0.5) for line in fig.axes[1].get_lines())
    ratio = float(soft["initial_value"].sel(observable="backlog_to_rent"))
    assert f"{ratio:.2g} years of the clouds' rent" in fig.axes[2].get_title()


def test_roic_legend_gives_each_sectors_median_at_the_horizon(soft):
    ax = plots.roic(soft).axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    for sector, text in zip(("labs", "clouds", "vendors"), texts, strict=True):
        value = float(soft["roic"].sel(sector=sector, quantile=0.5)[-1])
        assert text == f"{sector}: median {value:.2g}/yr at the horizon"
        assert _figures(soft)[f"median_roic_{sector}_at_horizon"] == pytest.approx(value)


def test_lab_runway_title_gives_the_shares_of_paths(soft):
    title = plots.lab_runway(soft).axes[1].get_title()
    short = (soft["min_lab_runway"].values < 6).mean()
    defaulted = (soft["default_month"].sel(sector="labs") >= 0).any("firm").mean()
    assert f"below 6 months on {plots._percent(short)} of paths" in title
    assert f"a lab defaulted on {plots._percent(float(defaulted))}" in title


# --- comparison of a sweep's jobs ---------------------------------------------------------


def _legend_colours(fig) -> dict[str, tuple]:
    legend = fig.legends[0]
    return {t.get_text(): to_rgba(h.get_color())
            for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}


def test_comparison_has_one_legend_and_a_colour_per_job(soft, one_path_run, one_month_run):
    runs = {"0": soft, "1": io.read_results(one_month_run), "2": io.read_results(one_path_run)}
    fig = plots.compare_jobs(runs)
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    colours = _legend_colours(fig)
    assert len(colours) == 3 and len(set(colours.values())) == 3
    tab10 = plots.plt.get_cmap("tab10").colors
    for label, colour in colours.items():
        job = int(label.split(":")[0].removeprefix("job "))
        assert colour == to_rgba(tab10[job])
    # uncertainty: error bars on the exceedance, the pointwise band on the survival
    left, right = fig.axes
    assert left.get_yscale() == "log"
    assert any(len(c.lines[2]) and len(c.lines[2][0].get_segments()) for c in left.containers)
    assert right.collections  # fill_between of the jobs with more than one path
    footer = " ".join(t.get_text() for t in fig.texts)
    assert "job 0: 3,000" in footer and "job 1: 300" in footer and "job 2: 1" in footer
    # job 2 keeps its colour when job 1 is missing
    without = _legend_colours(plots.compare_jobs({"0": runs["0"], "2": runs["2"]}))
    job2 = [label for label in colours if label.startswith("job 2:")][0]
    assert without[job2] == colours[job2]


def test_comparison_footer_gives_the_common_path_count(soft):
    fig = plots.compare_jobs({"0": soft, "1": soft})
    assert "3,000 paths per job" in " ".join(t.get_text() for t in fig.texts)


# --- small runs ---------------------------------------------------------------------------


@pytest.mark.parametrize("which, note", [("one_path_run", "1 path"),
                                         ("one_month_run", "1 month")])
def test_tiny_runs_plot_without_warnings(request, tmp_path, which, note):
    run = _copy_run(request.getfixturevalue(which), tmp_path / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # matplotlib's note that placing a legend took over a second is about the machine's
        # load (it failed this test on a busy CI machine), not about the figure
        warnings.filterwarnings("ignore", message='Creating legend with loc="best" can be slow')
        files = plots.plot_run(run)
        ds = io.read_results(run)
        for make in plots.FIGURES.values():
            fig = make(ds)
            assert note in fig.get_suptitle()  # the figure says why it looks thin
            plots.plt.close(fig)
    assert [f.name for f in files] == [f"{name}.png" for name in plots.FIGURES]
    assert all(f.stat().st_size > 10_000 for f in files)


def test_one_path_fan_charts_draw_no_bands(one_path_run):
    fig = plots.fan_charts(io.read_results(one_path_run))
    assert all(not ax.collections for ax in fig.axes)


# --- where the figures go, and failing to write them --------------------------------------


def _copy_run(run: Path, target: Path) -> Path:
    """A run directory at ``target`` holding a copy of ``run``'s results.nc."""
    target.mkdir(parents=True)
    shutil.copy2(run / io.RESULTS, target / io.RESULTS)
    return target


def test_out_writes_the_figures_elsewhere(soft_run, tmp_path):
    run = _copy_run(soft_run, tmp_path / "run")
    out = tmp_path / "new" / "figures"
    result = _plot_cli(str(run), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(out / f"{name}.png") for name in plots.FIGURES]
    assert all((out / f"{name}.png").is_file() for name in plots.FIGURES)
    assert not (run / "plots").exists()


def test_out_takes_a_sweep_comparison(soft_run, tmp_path):
    sweep = tmp_path / "sweep"
    for job in ("0", "1"):
        hydra = _copy_run(soft_run, sweep / job) / ".hydra"
        hydra.mkdir()
        (hydra / "overrides.yaml").write_text("[]\n")  # what Hydra writes for each job
    out = tmp_path / "figures"
    result = _plot_cli(str(sweep), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(out / "comparison.png")]
    assert (out / "comparison.png").is_file() and not (sweep / "plots").exists()


def _drop_dac_override() -> None:
    """In the child: make root obey file permissions (no CAP_DAC_OVERRIDE after exec)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def read_only_run(soft_run):
    where = Path(tempfile.mkdtemp(prefix="bubblesim-ro-"))
    os.chmod(where, 0o755)
    run = _copy_run(soft_run, where / "run")
    os.chmod(run, 0o555)
    probe = subprocess.run([sys.executable, "-c", "import sys; open(sys.argv[1], 'w')",
                            str(run / "probe")], preexec_fn=_drop_dac_override,
                           capture_output=True)
    os.chmod(run, 0o755)
    if probe.returncode == 0:
        shutil.rmtree(where)
        pytest.skip("cannot make a directory read-only for this user")
    yield run
    for d in (run, run / "plots"):
        if d.exists():
            os.chmod(d, 0o755)
    shutil.rmtree(where)


@pytest.mark.parametrize("locked", ["run directory", "plots directory"])
def test_read_only_directory_gives_one_line(read_only_run, locked):
    run = read_only_run
    if locked == "plots directory":
        (run / "plots").mkdir()
        os.chmod(run / "plots", 0o555)
    os.chmod(run, 0o555)
    result = _plot_cli(str(run), preexec_fn=_drop_dac_override)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [f"bubblesim-plot: cannot write {run / 'plots'}: Permission denied; "
                     "choose another directory with --out DIR"]
    assert not (run / "plots").exists() or not list((run / "plots").iterdir())


def test_unwritable_out_gives_one_line(soft_run, tmp_path):
    run = _copy_run(soft_run, tmp_path / "run")
    out = run / io.RESULTS / "plots"  # below a file: no user can create it
    result = _plot_cli(str(run), "--out", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"bubblesim-plot: cannot write {out}: Not a directory; choose another directory "
        "with --out DIR"]


@pytest.fixture
def disk_full(monkeypatch):
    """savefig writes part of the file, then the disk is full."""
    def fail(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fname))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", fail)


def test_disk_full_gives_one_line_and_leaves_nothing_half_written(soft_run, tmp_path, capsys,
                                                                  monkeypatch, disk_full):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    run = _copy_run(soft_run, tmp_path / "run")
    (run / "plots").mkdir()
    (run / "plots" / "fan_charts.png").write_bytes(b"the old figure")
    assert plots.main([str(run)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        f"bubblesim-plot: cannot write {run / 'plots'}: No space left on device; free some "
        "space or choose another directory with --out DIR"]
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["fan_charts.png"]
    assert (run / "plots" / "fan_charts.png").read_bytes() == b"the old figure"


def test_hydra_full_error_shows_the_traceback(soft_run, tmp_path, monkeypatch, disk_full):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    run = _copy_run(soft_run, tmp_path / "run")
    with pytest.raises(OSError) as raised:
        plots.main([str(run)])
    assert raised.value.errno == errno.ENOSPC
    assert not [p for p in (run / "plots").iterdir()]
