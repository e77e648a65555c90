"""simulate(p, settings) -> RawResults: chunking, threads, progress and exact merging.

Memory is O(chunk): each chunk's per-path reductions are cut down to the published per-path
outputs (or dropped when ``per_path`` is off) and its histograms and survival counts are
added to run totals in integers, so the totals do not depend on the chunk size.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from sim import model
from sim import reductions as R
from sim.histogram import bin_edges, bin_layout
from sim.params import RunSettings

MDD_BINS = 1000  # histogram of max drawdown on [0, 1], kept even without per-path outputs


@dataclass
class RawResults:
    """What the engine hands to analysis: per-path outputs, merged counts, samples."""

    n_paths: int
    horizon: int
    n_firms: int
    obs0: np.ndarray                     # (N_OBS,) observables at t=0
    hist: np.ndarray                     # (months + 1, N_HIST, bins) int64
    hist_edges: np.ndarray               # (N_HIST, bins + 1)
    alive: np.ndarray                    # (months + 1, sectors) firms alive, summed over paths
    mdd_hist: np.ndarray                 # (MDD_BINS,) int64
    sample_index: np.ndarray             # (samples,) global path index of each sampled path
    trajectories: np.ndarray             # (samples, months + 1, N_OBS)
    nonfinite_paths: int
    first_nonfinite_path: int            # -1 if none
    engine_seconds: float
    threads: int
    per_path: dict[str, np.ndarray] = field(default_factory=dict)


def _kernel(backend: str):
    if backend == "numpy":
        from sim import reference
        return reference.simulate_chunk
    from sim import kernel
    return kernel.simulate_chunk


def initial_observables(p: np.ndarray) -> np.ndarray:
    """Observables at t=0 (the same on every path)."""
    x = np.empty((model.state_layout(p)[7], 1))
    obs = np.empty((model.N_OBS, 1))
    model.initial_state(x, p, obs)
    return obs[:, 0]


PER_PATH_DTYPES = {
    "max_drawdown": np.float64,
    "peak_to_trough_months": np.int16,
    "recovery_months": np.float64,
    "terminal_index": np.float64,
    "min_utilization": np.float64,
    "rental_price_max_drawdown": np.float64,
    "capex_max_drawdown": np.float64,
    "sector_max_drawdown": np.float64,
    "default_month": np.int16,
}


def _allocate_outputs(n: int, n_firms: int) -> dict[str, np.ndarray]:
    shapes = {"sector_max_drawdown": (n, model.N_SECTORS),
              "default_month": (n, model.N_SECTORS, n_firms)}
    return {name: np.empty(shapes.get(name, (n,)), dtype=dtype)
            for name, dtype in PER_PATH_DTYPES.items()}


def _per_path_outputs(wanted: dict, red: np.ndarray, defaults: np.ndarray, n_firms: int):
    """Yield (name, values) of the published per-path outputs that are ``wanted``."""
    if not wanted:
        return
    mdd = red[:, R.R_MDD]
    trough = red[:, R.R_MDD_TROUGH_MONTH]
    recovery = red[:, R.R_RECOVERY_MONTH]
    # never fell: nothing to recover; still under water at the horizon: censored (NaN)
    recovery_months = np.where(mdd <= 0.0, 0.0,
                               np.where(recovery >= 0, recovery - trough, np.nan))
    yield "max_drawdown", mdd
    yield "peak_to_trough_months", trough - red[:, R.R_MDD_PEAK_MONTH]
    yield "recovery_months", recovery_months
    yield "terminal_index", red[:, R.R_INDEX_LAST] / red[:, R.R_INDEX0]
    yield "min_utilization", red[:, R.R_MIN_UTIL]
    yield "rental_price_max_drawdown", red[:, R.R_RENT_MDD]
    yield "capex_max_drawdown", red[:, R.R_CAPEX_MDD]
    yield "sector_max_drawdown", red[:, R.R_SECTOR_MDD:R.R_SECTOR_MDD + model.N_SECTORS]
    yield "default_month", defaults.reshape(-1, model.N_SECTORS, n_firms)


def _alive_counts(defaults: np.ndarray, n_firms: int, horizon: int) -> np.ndarray:
    """Firms alive at each month, per sector, summed over the chunk's paths."""
    d = defaults.reshape(-1, model.N_SECTORS, n_firms)
    alive = np.empty((horizon + 1, model.N_SECTORS), dtype=np.int64)
    for k in range(model.N_SECTORS):
        months = d[:, k, :].ravel()
        deaths = np.bincount(months[months >= 0], minlength=horizon + 1)[: horizon + 1]
        alive[:, k] = months.size - np.cumsum(deaths)
    return alive


def simulate(p: np.ndarray, settings: RunSettings, backend: str = "numba") -> RawResults:
    """Run ``settings.n_paths`` paths of the model with parameters ``p``."""
    import numba

    if settings.threads > 0:
        numba.set_num_threads(min(settings.threads, numba.config.NUMBA_NUM_THREADS))
    threads = numba.get_num_threads() if backend == "numba" else 1
    chunk_fn = _kernel(backend)
    horizon, n_bins, nf = settings.horizon, settings.hist_bins, settings.n_firms
    obs0 = initial_observables(p)
    lower, per_unit, is_log = bin_layout(obs0, n_bins)
    n_total, first = settings.n_paths, settings.first_path
    stride = max(1, n_total // max(settings.sample_paths, 1))
    n_sample = min(settings.sample_paths, -(-n_total // stride))
    sample_index = np.arange(n_sample, dtype=np.int64) * stride
    traj = np.full((n_sample, horizon + 1, model.N_OBS), np.nan)
    hist_chunk = np.zeros((threads, horizon + 1, model.N_HIST, n_bins), dtype=np.int32)
    hist = np.zeros((horizon + 1, model.N_HIST, n_bins), dtype=np.int64)
    alive = np.zeros((horizon + 1, model.N_SECTORS), dtype=np.int64)
    mdd_hist = np.zeros(MDD_BINS, dtype=np.int64)
    per_path = _allocate_outputs(n_total, nf) if settings.per_path else {}
    nonfinite, first_bad = 0, -1
    chunk = min(settings.chunk_size, n_total)
    red = np.empty((chunk, R.N_RED))
    defaults = np.empty((chunk, model.N_SECTORS * nf), dtype=np.int16)
    finite = np.empty(chunk, dtype=np.bool_)
    # A call on no paths compiles (or loads from cache) before the clock starts.
    chunk_fn(p, settings.seed, first, horizon, lower, per_unit, is_log, stride, red[:0],
             defaults[:0], finite[:0], hist_chunk, traj)
    seconds = 0.0
    progress = _progress(n_total, settings.quiet)
    for start in range(0, n_total, chunk):
        n = min(chunk, n_total - start)
        hist_chunk[...] = 0
        tic = time.perf_counter()
        chunk_fn(p, settings.seed, first + start, horizon, lower, per_unit, is_log,
                 stride, red[:n], defaults[:n], finite[:n], hist_chunk, traj)
        seconds += time.perf_counter() - tic
        hist += hist_chunk.sum(axis=0, dtype=np.int64)
        alive += _alive_counts(defaults[:n], nf, horizon)
        mdd = red[:n, R.R_MDD]
        mdd_hist += np.bincount(np.clip((mdd * MDD_BINS).astype(np.int64), 0, MDD_BINS - 1),
                                minlength=MDD_BINS)
        bad = np.flatnonzero(~finite[:n])
        if bad.size:
            nonfinite += bad.size
            if first_bad < 0:
                first_bad = first + start + int(bad[0])
        for name, values in _per_path_outputs(per_path, red[:n], defaults[:n], nf):
            per_path[name][start:start + n] = values
        progress.update(n)
    progress.close()
    return RawResults(
        n_paths=n_total, horizon=horizon, n_firms=nf, obs0=obs0, hist=hist,
        hist_edges=bin_edges(lower, per_unit, is_log, n_bins), alive=alive, mdd_hist=mdd_hist,
        sample_index=sample_index, trajectories=traj, nonfinite_paths=nonfinite,
        first_nonfinite_path=first_bad, engine_seconds=seconds, threads=threads,
        per_path=per_path)


def _progress(total: int, quiet: bool):
    from tqdm import tqdm
    # delay: runs shorter than ~2 s never show a bar.
    return tqdm(total=total, unit="path", unit_scale=True, delay=2.0, disable=quiet,
                file=sys.stderr, desc="simulating")
