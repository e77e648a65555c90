"""The NumPy reference: the same model, vectorized over the paths of a chunk, month by month.

It runs the very equations of :mod:`sim.model` and :mod:`sim.reductions` on arrays (one
element per path) and draws the same counter-based random numbers as the engine, so on any
set of paths it must agree with :func:`sim.kernel.simulate_chunk` to rounding. It is the
test oracle and the baseline the benchmarks compare the engine with; it has the engine's
signature so :mod:`sim.engine` can drive either.
"""

from __future__ import annotations

import numpy as np

from sim.histogram import bin_index
from sim.layout import (
    EXTRA_BINS,
    F_DEFAULT,
    N_FIRM_ROWS,
    N_HIST,
    N_OBS,
    N_SCALAR_PARAMS,
    N_SCRATCH,
    N_UNIFORMS,
)
from sim.model import (
    drawn_state,
    initial_state,
    lane_params,
    month_params,
    state_layout,
    step,
)
from sim.reductions import N_RED, start, update
from sim.rng import cheap_uniform, design_stream, path_key, uniform


def simulate_chunk(p, seed, path_ids, horizon, lower, per_unit, is_log, sample_stride,
                   red_out, defaults_out, finite_out, hist, traj, snap_obs, snap_month,
                   snap_out, cheap_random=False, base=None, draws=None, design_period=0):
    """Same contract as :func:`sim.kernel.simulate_chunk` (``hist`` may have one worker)."""
    n_paths = red_out.shape[0]
    n_bins = hist.shape[3] - EXTRA_BINS
    n_sample = traj.shape[0]
    layout = state_layout(p)
    paths = np.asarray(path_ids, dtype=np.uint64)
    sampled = (paths % np.uint64(sample_stride) == 0) & (
        paths // np.uint64(sample_stride) < np.uint64(n_sample))
    slots = (paths[sampled] // np.uint64(sample_stride)).astype(np.int64)
    x = np.empty((layout[3], n_paths))
    obs = np.empty((N_OBS, n_paths))
    red = np.empty((N_RED, n_paths))
    u = np.empty((N_UNIFORMS, n_paths))
    tmp = np.empty((N_SCRATCH, n_paths))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        keys = path_key(np.uint64(seed), design_stream(paths, design_period))
        if draws is None:
            initial_state(x, p, obs, tmp)
        else:
            tmp = np.empty((N_SCRATCH + N_SCALAR_PARAMS, n_paths))  # sim.layout.T_PARAMS
            drawn_state(x, p, base, draws, obs, tmp)
        start(red, obs)
        _record(0, obs, hist[0], lower, per_unit, is_log, n_bins)
        traj[slots, 0, :] = obs[:, sampled].T
        _snapshot(0, obs, snap_obs, snap_month, snap_out)
        for t in range(1, horizon + 1):
            counter = (t - 1) * N_UNIFORMS
            for k in range(N_UNIFORMS):
                u[k] = (cheap_uniform(paths.astype(np.float64), 1.0 * (counter + k))
                        if cheap_random else uniform(keys, np.uint64(counter + k)))
            q = month_params(p, t) if draws is None else lane_params(tmp, p, t)
            step(x, t, p, q, u, obs, tmp)
            update(red, obs, t, horizon)
            _record(t, obs, hist[0], lower, per_unit, is_log, n_bins)
            traj[slots, t, :] = obs[:, sampled].T
            _snapshot(t, obs, snap_obs, snap_month, snap_out)
    red_out[:] = red.T
    defaults_out[:] = x[layout[2] + F_DEFAULT::N_FIRM_ROWS].T.astype(np.int16)
    finite_out[:] = np.isfinite(x).all(axis=0) & np.isfinite(red).all(axis=0)


def _snapshot(t, obs, snap_obs, snap_month, snap_out):
    at = snap_month == t
    snap_out[:, at] = obs[snap_obs[at]].T


def _record(t, obs, hist, lower, per_unit, is_log, n_bins):
    for s in range(N_HIST):
        bins = bin_index(obs[s], lower[s], per_unit[s], is_log[s], n_bins).astype(np.int64)
        hist[s, t] += np.bincount(bins, minlength=n_bins + EXTRA_BINS).astype(hist.dtype)
