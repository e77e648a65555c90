"""The compiled engine against the NumPy reference, reproducibility, streaming outputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from conftest import SCENARIOS, run_cli, run_small, schema
from sim import engine, model
from sim.engine import simulate
from sim.params import model_vector, run_settings


def _assert_close(a, b, rtol=1e-9):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name, events", [(name, None) for name in SCENARIOS] + [
    ("excess_capacity", "events=[hyperscaler_sale,stress]"),
    ("dotcom_crash", "events=[hyperscaler_sale,stress]")])
def test_engine_equals_reference(name, events):
    """Without and with dated events (docs/model.md#dated-events): every kind at once."""
    extra = [events] if events else []
    engine = run_small(f"scenario={name}", *extra, n_paths=2000, chunk_size=700)
    reference = run_small(f"scenario={name}", *extra, n_paths=2000, backend="numpy",
                          chunk_size=2000)
    for key in engine.per_path:
        _assert_close(engine.per_path[key], reference.per_path[key])
    _assert_close(engine.trajectories, reference.trajectories)
    np.testing.assert_array_equal(engine.alive, reference.alive)
    # a value within rounding of a bin edge may land in the neighbouring bin
    assert np.abs(engine.hist - reference.hist).sum() <= 1e-4 * engine.hist.sum()
    assert engine.nonfinite_paths == reference.nonfinite_paths == 0


@pytest.mark.parametrize("events", [[], ["events=[hyperscaler_sale,stress]"]])
def test_chunking_does_not_change_anything(events):
    a = run_small("scenario=dotcom_crash", *events, n_paths=3000, chunk_size=3000)
    b = run_small("scenario=dotcom_crash", *events, n_paths=3000, chunk_size=257)
    for key in a.per_path:
        np.testing.assert_array_equal(a.per_path[key], b.per_path[key])
    np.testing.assert_array_equal(a.hist, b.hist)
    np.testing.assert_array_equal(a.alive, b.alive)
    np.testing.assert_array_equal(a.trajectories, b.trajectories)


def test_a_chunk_larger_than_the_16_bit_counts_hold_is_split_and_counted_exactly():
    # every path starts in the same bin, so one worker given more than 65,535 paths of a
    # chunk would wrap its 16-bit count
    n = 2 * engine.COUNT_LIMIT + 1000
    raw = run_small("model.horizon_months=1", n_paths=n, chunk_size=n, threads=1,
                    per_path=False)
    counts = raw.hist.sum(axis=2) + raw.hist_outside.sum(axis=2)
    assert (counts == n).all()
    assert raw.hist[0].max() == n  # the start's bin holds every path


def test_seed_changes_paths_and_path_index_keys_streams():
    a = run_small(n_paths=500, seed=1)
    b = run_small(n_paths=500, seed=2)
    assert not np.array_equal(a.per_path["max_drawdown"], b.per_path["max_drawdown"])
    # the first 500 paths of a 1000-path run are the 500-path run
    c = run_small(n_paths=1000, seed=1)
    np.testing.assert_array_equal(a.per_path["max_drawdown"], c.per_path["max_drawdown"][:500])


PER_PATH = ["max_drawdown", "peak_to_trough_months", "recovery_months", "terminal_index",
            "min_utilization", "rental_price_max_drawdown", "capex_max_drawdown",
            "sector_max_drawdown", "default_month"]


def test_identical_across_threads_and_chunk_sizes(tmp_path):
    """Subprocesses with 1 and 2 numba threads and two chunk sizes agree bitwise (dated
    events on). The second run changes both at once: either alone changing anything shows
    (chunk sizes alone: test_chunking_does_not_change_anything, in this process)."""
    runs = []
    for threads, chunk in [(1, 4096), (2, 999)]:
        out = tmp_path / f"t{threads}c{chunk}"
        result = run_cli("scenario=excess_capacity", "events=[hyperscaler_sale,stress]",
                         "engine.n_paths=4000",
                         f"engine.chunk_size={chunk}", "output.quiet=true",
                         f"hydra.run.dir={out}", env={"NUMBA_NUM_THREADS": str(threads)})
        assert result.returncode == 0, result.stderr
        ds = xr.load_dataset(out / "results.nc")
        assert ds.attrs["threads"] == threads
        runs.append(ds)
    for ds in runs[1:]:
        for name in PER_PATH + ["histogram", "firms_alive", "sample_index"]:
            np.testing.assert_array_equal(ds[name].values, runs[0][name].values)


def test_nonfinite_paths_are_counted_not_averaged():
    cfg = schema()
    p = model_vector(cfg)
    p[model.P_TAU_VOL] = np.nan
    raw = simulate(p, replace(run_settings(cfg), n_paths=300, chunk_size=100, quiet=True))
    assert raw.nonfinite_paths == 300
    assert raw.first_nonfinite_path == 0


def test_per_path_off_keeps_distributions():
    on = run_small(n_paths=1000)
    off = run_small(n_paths=1000, per_path=False)
    assert off.per_path == {}
    np.testing.assert_array_equal(on.hist, off.hist)
    np.testing.assert_array_equal(on.mdd_hist, off.mdd_hist)
    counts = np.bincount(np.minimum((on.per_path["max_drawdown"] * 1000).astype(int), 999),
                         minlength=1000)
    np.testing.assert_array_equal(counts, on.mdd_hist)


def test_survival_counts_match_default_months():
    raw = run_small("scenario=dotcom_crash", n_paths=1000)
    d = raw.per_path["default_month"]
    for t in (0, 30, raw.horizon):
        alive = ((d < 0) | (d > t)).sum(axis=(0, 2))
        np.testing.assert_array_equal(raw.alive[t], alive)


def test_samples_are_evenly_spaced_paths():
    raw = run_small(n_paths=1000, sample_paths=10)
    np.testing.assert_array_equal(raw.sample_index, np.arange(0, 1000, 100))
    full = run_small(n_paths=1000, sample_paths=1000)
    np.testing.assert_array_equal(raw.trajectories, full.trajectories[::100])


def test_numpy_backend_from_the_command_line(tmp_path):
    runs = {}
    for backend in ("numba", "numpy"):
        out = tmp_path / backend
        result = run_cli("scenario=dotcom_crash", "engine.n_paths=1500",
                         f"engine.backend={backend}", "output.quiet=true",
                         f"hydra.run.dir={out}")
        assert result.returncode == 0, result.stderr
        runs[backend] = xr.load_dataset(out / "results.nc")
        assert runs[backend].attrs["backend"] == backend
        assert 0 < runs[backend].attrs["engine_seconds"] < runs[backend].attrs["wall_seconds"]
    for name in ("max_drawdown", "terminal_index", "implied_elasticity", "demand_growth",
                 "min_lab_runway"):
        _assert_close(runs["numba"][name].values, runs["numpy"][name].values)
    np.testing.assert_array_equal(runs["numba"]["default_month"], runs["numpy"]["default_month"])


def test_cheap_random_benchmark_variant_matches_between_backends():
    a = run_small(n_paths=300, cheap_random=True)
    b = run_small(n_paths=300, backend="numpy", cheap_random=True)
    c = run_small(n_paths=300)
    _assert_close(a.per_path["max_drawdown"], b.per_path["max_drawdown"])
    assert not np.allclose(a.per_path["max_drawdown"], c.per_path["max_drawdown"])


def test_the_start_derivation_compiles_and_agrees_for_other_draws():
    """initial_conditions is plain scalar code on the vector, so that a path's own parameter
    draw can be derived inside the engine (issue 12): compiled, it gives the Python values,
    for the scenarios and for draws away from them (the implied growth moves with optimism
    and the adjustment time, the multiples with the sentiment beta)."""
    from numba import njit

    from sim import kernel  # noqa: F401  (registers the model's functions with numba)

    @njit(error_model="numpy")
    def derive(p):
        return model.initial_conditions(p)

    for overrides in ([f"scenario={s}"] for s in SCENARIOS):
        for extra in ([], ["model.capacity.optimism=1.2", "model.capacity.adjustment_months=30",
                           "model.valuation.sentiment_beta=1.5", "model.sentiment.s0=0.4"]):
            p = model_vector(schema(*overrides, *extra))
            compiled = derive(p.copy())
            np.testing.assert_allclose(compiled, p, rtol=1e-12, atol=1e-300)
    # the derivation really depends on the draw
    a = model_vector(schema("model.sentiment.s0=0.3", "model.capacity.optimism=0.1"))
    b = model_vector(schema("model.sentiment.s0=0.3", "model.capacity.optimism=1.0"))
    assert a[model.P_GROWTH0] != b[model.P_GROWTH0]



def test_the_warm_up_compiles_every_version_a_run_uses():
    """`make`'s warm-up compiles the engine without and with priors, and a run with priors
    uses that machine code: replicated draws in chunks that start mid-replicate are sliced
    from a wider array, and such a slice once took a version of its own (a 90-s compile in
    the middle of the run)."""
    from sim import kernel
    from sim.app import warm_up

    warm_up()
    compiled = set(kernel.simulate_chunk.overloads)
    draws_types = {signature[-2] for signature in compiled}
    assert any(str(t) == "none" for t in draws_types)
    assert any(getattr(t, "layout", None) == "C" for t in draws_types)
    run_small("scenario=soft_landing", "priors=wide", "engine.prior_replicates=3",
              n_paths=1000, chunk_size=250)
    assert set(kernel.simulate_chunk.overloads) == compiled
    assert all(getattr(signature[-2], "layout", "C") == "C" for signature in compiled)


def test_the_engine_compiles_for_wide_vectors_where_the_cpu_has_them():
    """On a CPU with AVX-512 the engine compiles without LLVM's preference for 256-bit
    vectors (the same results, faster); elsewhere for numba's default, the host's features;
    a user's NUMBA_CPU_FEATURES always wins."""
    import os

    import llvmlite.binding as llvm
    import numba
    from numba.core.registry import cpu_target

    from sim import kernel

    assert kernel.wide_vector_features("+avx2,-avx512f") == "+avx2,-avx512f"
    host = llvm.get_host_cpu_features()
    expected = host.flatten() + ",-prefer-256-bit" if host.get("avx512f") else None
    assert kernel.wide_vector_features(None) == expected
    if os.environ.get("NUMBA_CPU_FEATURES") is None:
        assert numba.config.CPU_FEATURES == expected
        # the engine is compiled for them: set before numba's code generator existed
        features = cpu_target.target_context.codegen()._tm_features
        assert expected is None or features == expected
