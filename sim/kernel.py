"""The compiled engine: the model's step (sim.model) run path by path under numba.

``simulate_chunk`` runs paths ``first_path .. first_path + n_paths - 1`` in parallel: the paths
are split into ``n_workers`` contiguous blocks (one ``prange`` iteration each), each block with
its own scratch state and its own histogram slab, so nothing is shared between threads and
integer histogram counts merge exactly. Every path draws from its own counter-based stream
keyed by (seed, global path index), so the results do not depend on threads or chunking.

numba's cache keys on this file only, not on the modules it compiles in; the cache directory
is therefore named after a hash of all of them (see ``_cache_dir``), so editing the model can
never run stale machine code.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba
import numpy as np

from sim import histogram, model, reductions, rng, vectorize

_COMPILED_SOURCES = (model, reductions, rng, vectorize, histogram)


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
for _module in _COMPILED_SOURCES:
    vectorize.register_module(_module)

from numba import njit, prange  # noqa: E402  (after the cache directory is set)

from sim.histogram import bin_index  # noqa: E402
from sim.model import N_HIST, N_OBS, N_UNIFORMS, initial_state, state_layout, step  # noqa: E402
from sim.reductions import N_RED, start, update  # noqa: E402
from sim.rng import cheap_uniform, path_key, uniform  # noqa: E402


@njit(cache=True, error_model="numpy")
def _record(t, obs, hist, lower, per_unit, is_log, n_bins):
    for s in range(N_HIST):
        b = int(bin_index(obs[s], lower[s], per_unit[s], is_log[s], n_bins))
        hist[s, b, t] += 1


@njit(cache=True, error_model="numpy")
def _all_finite(a):
    for v in a:
        if not np.isfinite(v):
            return False
    return True


@njit(parallel=True, cache=True, error_model="numpy")
def simulate_chunk(p, seed, first_path, horizon, lower, per_unit, is_log, sample_stride,
                   red_out, defaults_out, finite_out, hist, traj, cheap_random=False):
    """Simulate ``red_out.shape[0]`` paths starting at global index ``first_path``.

    Fills ``red_out`` (paths, N_RED) with the per-path reductions, ``defaults_out``
    (paths, sectors * firms) with default months (-1: survived), ``finite_out`` with whether
    the path stayed finite, adds month counts to ``hist`` (workers, N_HIST, bins, months + 1;
    months innermost because a path's bin moves little from month to month, so its
    increments stay in cache)
    and copies the observables of sampled paths (global index a multiple of ``sample_stride``)
    into ``traj`` (samples, months + 1, N_OBS). ``cheap_random`` swaps the random streams
    for a Weyl sequence (benchmarks only).
    """
    n_paths = red_out.shape[0]
    n_workers = hist.shape[0]
    n_bins = hist.shape[2]
    n_sample = traj.shape[0]
    n_state = state_layout(p)[7]
    default_slot = state_layout(p)[6]
    n_firm_slots = defaults_out.shape[1]
    seed64 = np.uint64(seed)
    for w in prange(n_workers):
        x = np.empty(n_state)
        obs = np.empty(N_OBS)
        red = np.empty(N_RED)
        u = np.empty(N_UNIFORMS)
        for i in range(n_paths * w // n_workers, n_paths * (w + 1) // n_workers):
            g = first_path + i
            key = path_key(seed64, np.uint64(g))
            sample = g // sample_stride
            keep = g % sample_stride == 0 and sample < n_sample
            initial_state(x, p, obs)
            start(red, obs)
            _record(0, obs, hist[w], lower, per_unit, is_log, n_bins)
            if keep:
                traj[sample, 0, :] = obs
            for t in range(1, horizon + 1):
                counter = (t - 1) * N_UNIFORMS
                for k in range(N_UNIFORMS):
                    if cheap_random:  # benchmark only: what share do the streams take?
                        u[k] = cheap_uniform(1.0 * g, 1.0 * (counter + k))
                    else:
                        u[k] = uniform(key, np.uint64(counter + k))
                step(x, t, p, u, obs)
                update(red, obs, t)
                _record(t, obs, hist[w], lower, per_unit, is_log, n_bins)
                if keep:
                    traj[sample, t, :] = obs
            red_out[i, :] = red
            for f in range(n_firm_slots):
                defaults_out[i, f] = np.int16(x[default_slot + f])
            finite_out[i] = _all_finite(x) and _all_finite(red)
