"""The compiled engine: the model's step (sim.model) run on blocks of lanes under numba.

``simulate_chunk`` runs the paths whose global indices it is given in parallel: the paths
are split into ``n_workers`` contiguous ranges (one ``prange`` iteration each), each with its
own histogram slab, so nothing is shared between threads and integer histogram counts merge
exactly. A worker runs its range in blocks of LANES paths: every month, each of the model's
``lanes`` loops runs over the block's paths, and LLVM turns it into SIMD code (four paths
per AVX2 instruction). Every path draws from its own counter-based stream keyed by (seed,
global path index), and every lane runs the same instructions, so the results do not depend
on threads, chunking or a path's place in its block.

numba's cache keys on this file only, not on the modules it compiles in; the cache directory
is therefore named after a hash of all of them (see ``_cache_dir``), so editing the model can
never run stale machine code."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import llvmlite.binding as llvm
import numba
import numpy as np

from sim import equations, histogram, layout, model, reductions, rng, schema, vectorize

# the modules whose source the compiled code depends on (layout's indices come from schema)
_COMPILED_SOURCES = (model, equations, layout, schema, reductions, rng, vectorize, histogram)


def _cache_dir() -> str:
    digest = hashlib.sha1()
    for module in _COMPILED_SOURCES:
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(numba.__version__.encode())
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"),
        "bubblesim", "numba")
    return os.path.join(base, digest.hexdigest()[:16])


numba.config.CACHE_DIR = _cache_dir()


def is_compiled() -> bool:
    """Whether the engine's machine code is in the cache (if not, the first call compiles it:
    about 40 s on 2 cores)."""
    return any(Path(numba.config.CACHE_DIR).rglob("kernel.simulate_chunk-*.nbi"))

for _module in (layout, equations, model, reductions, rng, histogram):
    vectorize.register_module(_module)

from numba import njit, prange, types  # noqa: E402  (after the cache directory is set)

# LLVM's loop vectorizer leaves a loop scalar when proving that its loads and stores do not
# overlap takes more than 8 run-time checks. The lane loops that touch a firm's rows (at
# run-time offsets) need more, and with priors, whose parameters are rows too, far more
# (the firms' cash sections ran 4-10x slower). The checks run once per call of a loop over
# 256 lanes, so they cost nothing next to the loop: allow up to 1024. Set once, before
# anything compiles (a process-wide LLVM option; part of the numba cache's key, as this
# file is).
llvm.set_option("", "--runtime-memory-check-threshold=1024")
llvm.set_option("", "--vectorize-memory-check-threshold=1024")


def wide_vector_features(features: str | None) -> str | None:
    """The CPU features numba compiles for: ``features`` when the user set them
    (NUMBA_CPU_FEATURES), else on a CPU with AVX-512 the host's without LLVM's preference
    for 256-bit vectors, else None (numba's default: the host's)."""
    if features is not None:
        return features
    try:
        llvm.initialize_native_target()
        host = llvm.get_host_cpu_features()
    except RuntimeError:  # a platform whose features LLVM cannot read
        return None
    return host.flatten() + ",-prefer-256-bit" if host.get("avx512f") else None


# LLVM tunes its vectorizer for 256-bit vectors on CPUs with AVX-512 (prefer-256-bit: wide
# instructions once lowered the clock of some Intel parts). The lane loops of 256 paths run
# ~9% faster with 512-bit vectors (a 2-core Xeon, dotcom_crash, 200,000 paths on 2 threads,
# in turn: 2.59-2.67 against 2.87-2.91 s of engine time; 6% with priors), and each lane
# computes the same IEEE operations at any width: the results are the same bit for bit. Set
# before anything compiles; the features are part of the numba cache's key.
numba.config.CPU_FEATURES = wide_vector_features(numba.config.CPU_FEATURES)
from numba.extending import overload  # noqa: E402

from sim.histogram import bin_index  # noqa: E402
from sim.layout import (  # noqa: E402
    EXTRA_BINS,
    F_DEFAULT,
    N_HIST,
    N_OBS,
    N_SCALAR_PARAMS,
    N_SCRATCH,
    N_UNIFORMS,
)
from sim.model import (  # noqa: E402
    drawn_state,
    firm_row,
    initial_state,
    lane_params,
    month_params,
    state_layout,
    step,
)
from sim.reductions import N_RED, start, update  # noqa: E402
from sim.rng import cheap_uniform, design_stream, path_key, uniform  # noqa: E402

LANES = 256  # paths per block: long vector loops, and a block's rows stay in L2
# Row offsets in a block's array: the fixed-size parts first, so that every row the model
# names by a constant sits at a constant offset; the state (its length depends on the
# number of firms and the build lag) comes last.
_OBS = 0
_RED = _OBS + N_OBS
_UNIFORMS = _RED + N_RED
_SCRATCH = _UNIFORMS + N_UNIFORMS
# the scratch rows, then each path's scalar parameters when they are drawn per path (one
# view, sim.layout.T_PARAMS; left untouched otherwise: the rows cost address space, not cache)
_FIXED_ROWS = _SCRATCH + N_SCRATCH + N_SCALAR_PARAMS


@njit(cache=True, error_model="numpy")
def _record(t, obs, hist, lower, per_unit, is_log, n, bins):
    n_bins = hist.shape[2] - EXTRA_BINS
    for s in range(N_HIST):
        lo, scale, log_scale = lower[s], per_unit[s], is_log[s]
        for i in range(LANES):
            # an integer conversion here, in the vector loop: int() in the scalar loop
            # below is a function call per count, which cost more than the counting
            bins[s, i] = np.int64(bin_index(obs[s, i], lo, scale, log_scale, n_bins))
    # path by path, the series in turn: consecutive counts go to different rows. A series'
    # paths often share a bin (all of them in the first months of point-value runs), and a
    # count in the same place as the one before waits for its store
    for i in range(n):
        for s in range(N_HIST):
            hist[s, t, bins[s, i]] += 1


@njit(cache=True, error_model="numpy")
def _keep(t, obs, traj, lanes, samples):
    for i in range(lanes.shape[0]):
        for o in range(N_OBS):
            traj[samples[i], t, o] = obs[o, lanes[i]]


@njit(cache=True, error_model="numpy")
def _draw(u, keys, paths, counter, cheap_random):
    for k in range(N_UNIFORMS):
        c = np.uint64(counter + k)
        if cheap_random:  # benchmark only: what share do the streams take?
            for i in range(LANES):
                u[k, i] = cheap_uniform(1.0 * paths[i], 1.0 * (counter + k))
        else:
            for i in range(LANES):
                u[k, i] = uniform(keys[i], c)


def _start(x, p, base, draws, offset, n, obs, tmp):
    """The block's state at t=0; with ``draws`` (priors, sim.params.PathDraws) each lane's
    own, and its parameters in the scratch rows from T_PARAMS."""


@overload(_start, jit_options={"forceinline": True})
def _start_compiled(x, p, base, draws, offset, n, obs, tmp):
    if isinstance(draws, (types.NoneType, types.Omitted)):
        def same(x, p, base, draws, offset, n, obs, tmp):
            initial_state(x, p, obs, tmp)
        return same

    def drawn(x, p, base, draws, offset, n, obs, tmp):
        # a short block's padding lanes repeat its last path (their results are dropped)
        own = np.empty((draws.shape[0], LANES))
        for i in range(LANES):
            own[:, i] = draws[:, offset + min(i, n - 1)]
        drawn_state(x, p, base, own, obs, tmp)
    return drawn


def _month(p, t, draws, tmp):
    """Month t's parameters: ``month_params`` when every path shares them, else each lane's
    (the scratch rows, with the month's dated events)."""


@overload(_month, jit_options={"forceinline": True})
def _month_compiled(p, t, draws, tmp):
    if isinstance(draws, (types.NoneType, types.Omitted)):
        return lambda p, t, draws, tmp: month_params(p, t)
    return lambda p, t, draws, tmp: lane_params(tmp, p, t)


@njit(cache=True, error_model="numpy")
def _snapshot(t, obs, snap_obs, snap_month, snap_out, offset, n):
    for k in range(snap_obs.shape[0]):
        if snap_month[k] == t:
            for i in range(n):
                snap_out[offset + i, k] = obs[snap_obs[k], i]


@njit(cache=True, error_model="numpy")
def _simulate_block(p, seed, path_ids, n, horizon, lower, per_unit, is_log, sample_stride,
                    red_out, defaults_out, finite_out, hist, traj, snap_obs, snap_month,
                    snap_out, offset, cheap_random, base, draws, design_period):
    """The ``n`` paths ``path_ids[offset:offset + n]`` (global indices) as lanes; outputs
    from row ``offset``; with ``draws`` (None: every path has the parameters ``p``) path
    ``path_ids[offset + i]`` takes ``draws[:, offset + i]`` in the ``base`` slots of its
    parameters.

    Every block has LANES lanes; a short block's padding lanes repeat its last path, which is
    simulated again (every lane takes the same vectorized code) and dropped.
    All rows live in one array of constant width, so LLVM sees constant distances between
    them and can prove that the lane loops' loads and stores do not overlap (separate arrays
    might alias, and the checks for that exceed the vectorizer's limits).
    """
    n_state = state_layout(p)[3]
    rows = np.empty((_FIXED_ROWS + n_state, LANES))
    obs = rows[_OBS:_OBS + N_OBS]
    red = rows[_RED:_RED + N_RED]
    u = rows[_UNIFORMS:_UNIFORMS + N_UNIFORMS]
    tmp = rows[_SCRATCH:_FIXED_ROWS]
    bins = np.empty((N_HIST, LANES), dtype=np.int64)
    x = rows[_FIXED_ROWS:]
    paths = np.empty(LANES, dtype=np.uint64)
    for i in range(LANES):
        paths[i] = path_ids[offset + min(i, n - 1)]
    keys = np.empty(LANES, dtype=np.uint64)
    for i in range(LANES):
        keys[i] = path_key(np.uint64(seed), design_stream(paths[i], design_period))
    stride = np.uint64(sample_stride)
    sampled = (paths[:n] % stride == 0) & (paths[:n] // stride < np.uint64(traj.shape[0]))
    lanes = np.nonzero(sampled)[0]
    samples = (paths[lanes] // stride).astype(np.int64)
    _start(x, p, base, draws, offset, n, obs, tmp)
    start(red, obs)
    _record(0, obs, hist, lower, per_unit, is_log, n, bins)
    _keep(0, obs, traj, lanes, samples)
    _snapshot(0, obs, snap_obs, snap_month, snap_out, offset, n)
    for t in range(1, horizon + 1):
        _draw(u, keys, paths, (t - 1) * N_UNIFORMS, cheap_random)
        step(x, t, p, _month(p, t, draws, tmp), u, obs, tmp)
        update(red, obs, t, horizon)
        _record(t, obs, hist, lower, per_unit, is_log, n, bins)
        _keep(t, obs, traj, lanes, samples)
        _snapshot(t, obs, snap_obs, snap_month, snap_out, offset, n)
    # x * 0 is 0 for a finite x and NaN for an infinite or NaN one: a sum of them checks
    # every row in vector loops (np.isfinite row by row, path by path, ran scalar)
    nonfinite = np.zeros(LANES)
    for r in range(N_RED):
        for i in range(LANES):
            nonfinite[i] += red[r, i] * 0.0
    for r in range(n_state):
        for i in range(LANES):
            nonfinite[i] += x[r, i] * 0.0
    for i in range(n):
        for r in range(N_RED):
            red_out[offset + i, r] = red[r, i]
        for f in range(defaults_out.shape[1]):
            defaults_out[offset + i, f] = np.int16(x[firm_row(p, f) + F_DEFAULT, i])
        finite_out[offset + i] = nonfinite[i] == 0.0


@njit(parallel=True, cache=True, error_model="numpy")
def simulate_chunk(p, seed, path_ids, horizon, lower, per_unit, is_log, sample_stride,
                   red_out, defaults_out, finite_out, hist, traj, snap_obs, snap_month,
                   snap_out, cheap_random=False, base=None, draws=None, design_period=0):
    """Simulate the paths whose global indices are ``path_ids`` (uint64, one per row of
    ``red_out``; a run's are consecutive, a subset's, e.g. the paths an ABC accepted, need
    not be).

    Fills ``red_out`` (paths, N_RED) with the per-path reductions, ``defaults_out``
    (paths, sectors * firms) with default months (-1: survived), ``finite_out`` with whether
    the path stayed finite, adds month counts to ``hist`` (workers, N_HIST, months + 1,
    bins + EXTRA_BINS, laid out as in sim.histogram.bin_index; bins innermost, so that a
    month's counts of one series lie in a few kilobytes: with months innermost the counts
    of a block's paths were spread over megabytes, and counting cost more than the model)
    and copies the observables of sampled paths (global index a multiple of ``sample_stride``)
    into ``traj`` (samples, months + 1, N_OBS), and observable ``snap_obs[k]`` at month
    ``snap_month[k]`` into ``snap_out[:, k]`` (what a calibration compares with data).
    ``cheap_random`` swaps the random streams
    for a Weyl sequence (benchmarks only). With ``draws`` (len(base), paths) path
    ``path_ids[i]`` has ``p`` with ``draws[:, i]`` in the ``base`` slots and the start
    derived from them (priors drawn per path). ``design_period`` > 0: the paths are the rows
    of a Saltelli design with that many rows per base, and rows share shocks as
    ``sim.rng.design_stream`` says (0: each path its own stream).
    """
    n_paths = red_out.shape[0]
    n_workers = hist.shape[0]
    for w in prange(n_workers):
        begin = n_paths * w // n_workers
        end = n_paths * (w + 1) // n_workers
        for lo in range(begin, end, LANES):
            hi = min(lo + LANES, end)
            _simulate_block(p, seed, path_ids, hi - lo, horizon, lower, per_unit, is_log,
                            sample_stride, red_out, defaults_out, finite_out, hist[w], traj,
                            snap_obs, snap_month, snap_out, lo, cheap_random, base, draws,
                            design_period)
