"""Counter-based random numbers keyed by (seed, global path index, draw counter).

Draw ``k`` of month ``t`` on path ``i`` is a pure function of ``(seed, i, t, k)``: a SplitMix64
finalizer applied to a Weyl sequence, as in Java's SplittableRandom. No generator state is
carried, so results do not depend on threads, chunking or sharding.

The functions are plain NumPy expressions on ``uint64`` values: the same source runs on
arrays (the NumPy reference) and, compiled by numba, on scalars (the engine). Every constant
is a ``np.uint64`` so numba never promotes the arithmetic to float.
"""

from __future__ import annotations

import numpy as np

from sim.vectorize import cos_sin_turns, log

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_PATH_SALT = np.uint64(0xD1B54A32D192ED03)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO_POW_M53 = 1.0 / 9007199254740992.0


def mix64(z):
    """SplitMix64 finalizer: a bijective avalanche of a uint64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def path_key(seed, path):
    """The key of one path's stream: depends on (seed, global path index) only."""
    return mix64(mix64(seed * _GOLDEN + _ONE) ^ ((path + _ONE) * _PATH_SALT))


def design_stream(path, period):
    """The random stream of design row ``path`` in a Saltelli design of ``period`` rows per
    base point (0: not a design, every path has its own stream). Base j's rows draw A's
    shocks (stream 2j) except the last two, AB_shocks and B, which draw B's (2j + 1):
    (b + 2) // period is 1 exactly for those rows b = period - 2, period - 1."""
    if period == 0:
        return path
    p = np.uint64(period)
    return np.uint64(2) * (path // p) + (path % p + np.uint64(2)) // p


def uniform(key, counter):
    """Uniform on the open interval (0, 1): draw number ``counter`` of the stream ``key``."""
    return ((mix64(key + (counter + _ONE) * _GOLDEN) >> _S11) + 0.5) * _TWO_POW_M53


def cheap_uniform(path, counter):
    """Benchmark stand-in for :func:`uniform`: a Weyl sequence in (0, 1), no hashing.

    Used only to measure what share of the time the random numbers take; never for results.
    """
    x = path * 0.7548776662466927 + counter * 0.5698402909980532
    return (x - np.floor(x)) * 0.999 + 0.0005


def box_muller(u1, u2):
    """Two independent standard normals from two uniforms on (0, 1)."""
    radius = np.sqrt(-2.0 * log(u1))
    cos, sin = cos_sin_turns(u2)
    return radius * cos, radius * sin
