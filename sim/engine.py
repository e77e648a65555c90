"""simulate(p, settings) -> RawResults: chunking, threads, progress and exact merging.

Memory is O(chunk): each chunk's per-path reductions are cut down to the published per-path
outputs (or dropped when ``per_path`` is off) and its histograms and survival counts are
added to run totals in integers, so the totals do not depend on the chunk size.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from sim import layout, model
from sim import reductions as R
from sim.histogram import bin_edges, bin_layout, split_slab
from sim.layout import EXTRA_BINS, N_HIST, N_OBS, N_SCRATCH, N_SECTORS, OUTSIDE
from sim.params import PathDraws, RunSettings
from sim.raw import (
    ELASTICITY_BINS,
    ELASTICITY_RANGE,
    GROWTH_BINS,
    GROWTH_PARTS,
    GROWTH_RANGE,
    MDD_BINS,
    PER_PATH_DTYPES,
    RUNWAY_SHORT,
    RawResults,
)

SLAB_DTYPE = np.uint16  # the kernel's histogram counts (a chunk's, per worker)
COUNT_LIMIT = int(np.iinfo(SLAB_DTYPE).max)


def _kernel_module():
    from sim import kernel
    return kernel


def _kernel(backend: str):
    if backend == "numpy":
        from sim import reference
        return reference.simulate_chunk
    return _kernel_module().simulate_chunk


def initial_observables(p: np.ndarray) -> np.ndarray:
    """Observables at t=0 (the same on every path)."""
    x = np.empty((model.state_layout(p)[3], 1))
    obs = np.empty((N_OBS, 1))
    model.initial_state(x, p, obs, np.empty((N_SCRATCH, 1)))
    return obs[:, 0]


def _allocate_outputs(n: int, n_firms: int) -> dict[str, np.ndarray]:
    shapes = {"sector_max_drawdown": (n, N_SECTORS),
              "default_month": (n, N_SECTORS, n_firms),
              "demand_growth": (n, len(R.GROWTH_COMPONENTS))}
    return {name: np.empty(shapes.get(name, (n,)), dtype=dtype)
            for name, dtype in PER_PATH_DTYPES.items()}


def per_path_outputs(red: np.ndarray, defaults: np.ndarray, n_firms: int,
                     horizon: int) -> dict[str, np.ndarray]:
    """The published per-path outputs of a chunk, from its reductions and default months."""
    mdd = red[:, R.R_MDD]
    trough = red[:, R.R_MDD_TROUGH_MONTH]
    recovery = red[:, R.R_RECOVERY_MONTH]
    return {
        "max_drawdown": mdd,
        "peak_to_trough_months": trough - red[:, R.R_MDD_PEAK_MONTH],
        "trough_month": trough,
        # never fell: nothing to recover (0); still under water at the horizon: censored (NaN)
        "recovery_months": np.where(mdd <= 0.0, 0.0,
                                    np.where(recovery >= 0, recovery - trough, np.nan)),
        "terminal_index": red[:, R.R_INDEX_LAST] / red[:, R.R_INDEX0],
        "min_utilization": red[:, R.R_MIN_UTIL],
        "rental_price_max_drawdown": red[:, R.R_RENT_MDD],
        "capex_max_drawdown": red[:, R.R_CAPEX_MDD],
        "sector_max_drawdown": red[:, R.R_SECTOR_MDD:R.R_SECTOR_MDD + N_SECTORS],
        "default_month": defaults.reshape(-1, N_SECTORS, n_firms),
        "months_underwater": red[:, R.R_UNDERWATER],
        "demand_growth": red[:, R.R_GROWTH:R.R_GROWTH + len(R.GROWTH_COMPONENTS)],
        "demand_log_growth": np.log(red[:, R.R_LAST_DEMAND]) - red[:, R.R_LOG_DEMAND0],
        "implied_elasticity": R.implied_elasticity(red[:, R.R_PRICE_RESPONSE],
                                                   red[:, R.R_WEIGHTED_LOG_PRICE]),
        "min_lab_runway": red[:, R.R_MIN_RUNWAY],
    }


def _alive_counts(defaults: np.ndarray, n_firms: int, horizon: int) -> np.ndarray:
    """Firms alive at each month, per sector, summed over the chunk's paths."""
    d = defaults.reshape(-1, N_SECTORS, n_firms)
    alive = np.empty((horizon + 1, N_SECTORS), dtype=np.int64)
    for k in range(N_SECTORS):
        months = d[:, k, :].ravel()
        deaths = np.bincount(months[months >= 0], minlength=horizon + 1)[: horizon + 1]
        alive[:, k] = months.size - np.cumsum(deaths)
    return alive


def _counts(n: int, bins: int, values: np.ndarray) -> np.ndarray:
    return np.bincount(np.clip(values, 0, bins - 1).astype(np.int64), minlength=bins)[:bins]


class _Totals:
    """Integer counts summed over chunks: identical for any chunking, thread count or shard."""

    def __init__(self, horizon: int, n_bins: int):
        months = horizon + 1
        self.horizon = horizon
        self.hist = np.zeros((months, N_HIST, n_bins), dtype=np.int64)
        self.outside = np.zeros((months, N_HIST, len(OUTSIDE)), dtype=np.int64)
        self.alive = np.zeros((months, N_SECTORS), dtype=np.int64)
        self.alive_sq = np.zeros(N_SECTORS, dtype=np.int64)
        self.mdd = np.zeros(MDD_BINS, dtype=np.int64)
        self.peak_to_trough = np.zeros(months, dtype=np.int64)
        self.underwater = np.zeros(months, dtype=np.int64)
        self.recovered = np.zeros(months, dtype=np.int64)
        self.censored = np.zeros(months, dtype=np.int64)
        self.no_drawdown = 0
        self.growth = np.zeros((len(GROWTH_PARTS), GROWTH_BINS), dtype=np.int64)
        self.elasticity = np.zeros(ELASTICITY_BINS, dtype=np.int64)
        self.short_runway = 0
        self.lab_defaults = 0

    def add(self, out: dict[str, np.ndarray], red: np.ndarray, defaults: np.ndarray,
            n_firms: int) -> None:
        months = self.horizon + 1
        self.alive += _alive_counts(defaults, n_firms, self.horizon)
        alive_at_horizon = (defaults.reshape(-1, N_SECTORS, n_firms) < 0).sum(axis=2)
        self.alive_sq += (alive_at_horizon.astype(np.int64) ** 2).sum(axis=0)
        mdd = out["max_drawdown"]
        self.mdd += _counts(len(mdd), MDD_BINS, np.nan_to_num(mdd) * MDD_BINS)
        self.peak_to_trough += _counts(len(mdd), months, out["peak_to_trough_months"])
        self.underwater += _counts(len(mdd), months, out["months_underwater"])
        fell = mdd > 0.0
        rec = out["recovery_months"]
        self.recovered += _counts(len(mdd), months, rec[fell & ~np.isnan(rec)])
        still_open = fell & np.isnan(rec)
        self.censored += _counts(len(mdd), months,
                                 self.horizon - red[still_open, R.R_MDD_TROUGH_MONTH])
        self.no_drawdown += int((mdd == 0.0).sum())  # NaN paths are neither
        self.elasticity += _binned(out["implied_elasticity"], ELASTICITY_RANGE, ELASTICITY_BINS)
        parts = np.column_stack([out["demand_growth"], out["demand_log_growth"]])
        for k in range(len(GROWTH_PARTS)):
            self.growth[k] += _binned(parts[:, k], GROWTH_RANGE, GROWTH_BINS)
        self.short_runway += int((out["min_lab_runway"] < RUNWAY_SHORT).sum())
        labs = defaults.reshape(-1, N_SECTORS, n_firms)[:, 0, :]
        self.lab_defaults += int((labs >= 0).any(axis=1).sum())


def _binned(values: np.ndarray, value_range: tuple[float, float], bins: int) -> np.ndarray:
    """Counts of values in ``bins`` equal bins over ``value_range``, the values beyond it in
    the end bins (NaN in the first)."""
    lo, hi = value_range
    v = np.nan_to_num(values, nan=lo, posinf=hi, neginf=lo)
    return _counts(len(v), bins, (v - lo) / (hi - lo) * bins)


def max_threads() -> int:
    """The most threads the engine can use (numba's NUMBA_NUM_THREADS, all cores by default)."""
    import numba

    return numba.config.NUMBA_NUM_THREADS


def simulate(p: np.ndarray, settings: RunSettings, backend: str = "numba",
             cheap_random: bool = False) -> RawResults:
    """Run ``settings.n_paths`` paths of the model with parameters ``p`` (with
    ``settings.priors``, each path's draws in their slots and the start derived from them).

    ``cheap_random`` replaces the random streams by a Weyl sequence: benchmarks only.
    """
    import numba

    if settings.threads > 0:
        numba.set_num_threads(min(settings.threads, max_threads()))
    threads = numba.get_num_threads() if backend == "numba" else 1
    chunk_fn = _kernel(backend)
    if backend == "numba" and not settings.quiet and not _kernel_module().is_compiled():
        print("bubblesim: compiling the engine into the numba cache (once after an install or "
              "update; about 40 s on 2 cores)...", file=sys.stderr, flush=True)
    horizon, n_bins, nf = settings.horizon, settings.hist_bins, settings.n_firms
    observables0 = initial_observables(p)
    lower, per_unit, is_log = bin_layout(observables0, n_bins)
    ids = settings.paths()
    n_total = ids.size
    first = int(ids[0]) if n_total else 0
    # samples are chosen in the whole run's index space, so shards fill disjoint slots
    stride = max(1, settings.n_paths // max(settings.sample_paths, 1))
    n_sample = min(settings.sample_paths, -(-settings.n_paths // stride))
    sample_index = np.arange(n_sample, dtype=np.int64) * stride
    traj = np.full((n_sample, horizon + 1, N_OBS), np.nan)
    # 16-bit counts: the two workers' slabs then fit in the L3 cache, and counting costs less
    # (a worker adds at most one count per path to a bin, so a chunk gives each worker at most
    # COUNT_LIMIT paths; results do not depend on the chunk size)
    hist_chunk = np.zeros((threads, N_HIST, horizon + 1, n_bins + EXTRA_BINS),
                          dtype=SLAB_DTYPE)
    totals = _Totals(horizon, n_bins)
    per_path = _allocate_outputs(n_total, nf) if settings.per_path else {}
    priors = settings.priors
    base = priors.slots if priors else None
    period = priors.design_period if priors else 0
    if priors and settings.per_path:
        per_path["parameter_value"] = np.empty((n_total, len(priors.priors)))
    snap_obs = np.array([o for o, _ in settings.snapshots], dtype=np.int64)
    snap_month = np.array([t for _, t in settings.snapshots], dtype=np.int64)
    if np.any((snap_month < 0) | (snap_month > horizon)):
        raise ValueError(f"a snapshot month is outside 0 .. {horizon}")
    snapshots = np.full((n_total, len(snap_obs)), np.nan)
    nonfinite, first_bad = 0, -1
    chunk = max(min(settings.chunk_size, n_total, COUNT_LIMIT * threads), 1)
    red = np.empty((chunk, R.N_RED))
    defaults = np.empty((chunk, N_SECTORS * nf), dtype=np.int16)
    finite = np.empty(chunk, dtype=np.bool_)
    # A call on no paths compiles (or loads from cache) before the clock starts.
    chunk_fn(p, settings.seed, ids[:0], horizon, lower, per_unit, is_log, stride, red[:0],
             defaults[:0], finite[:0], hist_chunk, traj, snap_obs, snap_month,
             snapshots[:0], cheap_random, base, priors.values(first, 0) if priors else None,
             period)
    seconds = 0.0
    progress = _progress(n_total, settings.quiet)
    for start in range(0, n_total, chunk):
        n = min(chunk, n_total - start)
        hist_chunk[...] = 0
        paths = ids[start:start + n]
        draws = priors.values_at(paths) if priors else None
        tic = time.perf_counter()
        chunk_fn(p, settings.seed, paths, horizon, lower, per_unit, is_log, stride, red[:n],
                 defaults[:n], finite[:n], hist_chunk, traj, snap_obs, snap_month,
                 snapshots[start:start + n], cheap_random, base, draws, period)
        seconds += time.perf_counter() - tic
        inside, outside = split_slab(hist_chunk.sum(axis=0, dtype=np.int64).transpose(1, 0, 2))
        totals.hist += inside
        totals.outside += outside
        out = per_path_outputs(red[:n], defaults[:n], nf, horizon)
        totals.add(out, red[:n], defaults[:n], nf)
        bad = np.flatnonzero(~finite[:n])
        if bad.size:
            nonfinite += bad.size
            if first_bad < 0:
                first_bad = int(paths[bad[0]])
        if draws is not None:
            out["parameter_value"] = draws.T
        for name, values in per_path.items():
            values[start:start + n] = out[name]
        progress.update(n)
    progress.close()
    return RawResults(
        n_paths=n_total, first_path=first, horizon=horizon, n_firms=nf,
        hist=totals.hist, hist_outside=totals.outside,
        hist_edges=bin_edges(lower, per_unit, is_log, n_bins), alive=totals.alive,
        mdd_hist=totals.mdd, peak_to_trough_hist=totals.peak_to_trough,
        underwater_hist=totals.underwater, recovery_events=totals.recovered,
        recovery_censored=totals.censored, no_drawdown_paths=totals.no_drawdown,
        growth_hist=totals.growth, elasticity_hist=totals.elasticity,
        short_runway_paths=totals.short_runway, lab_default_paths=totals.lab_defaults,
        alive_sq_horizon=totals.alive_sq, observables0=observables0,
        sample_index=sample_index, trajectories=traj,
        nonfinite_paths=nonfinite, first_nonfinite_path=first_bad, engine_seconds=seconds,
        threads=threads, per_path=per_path,
        parameters=tuple((q.name, q.key, q.unit) for q in priors.priors) if priors else (),
        prior_replicates=priors.replicates if priors else 1, design_period=period,
        path_ids=ids.astype(np.int64) if settings.path_ids is not None else None,
        snapshots=snapshots)


def warm_up(p: np.ndarray, quiet: bool = True, priors: PathDraws | None = None) -> None:
    """Compile (or load from the cache) the engine, e.g. before a sweep starts workers; with
    ``priors``, its version that draws parameters per path."""
    settings = RunSettings(n_paths=1, seed=0, chunk_size=1, threads=0, sample_paths=1,
                           hist_bins=16, horizon=1,
                           n_firms=int(p[layout.param("derived.n_firms")]), per_path=False,
                           quiet=quiet, priors=priors)
    simulate(p, settings)


def _progress(total: int, quiet: bool):
    from tqdm import tqdm
    # delay: runs shorter than ~2 s never show a bar.
    return tqdm(total=total, unit="path", unit_scale=True, delay=2.0, disable=quiet,
                file=sys.stderr, desc="simulating")
