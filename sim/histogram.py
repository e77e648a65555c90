"""Fixed-bin per-month histograms: exactly mergeable across chunks, threads and shards.

Each histogrammed observable gets ``n_bins`` bins, equally spaced in log10 of the value
(positive quantities) or in the value itself (utilization), over a range placed around its
t=0 value. Three more counters per series and month hold what the bins cannot: zero (or
negative) values of a log-binned series, and NaN (``OUTSIDE_ZERO``, e.g. a wiped-out
sector's equity), values below the range and values above it. Nothing is clipped silently:
analysis marks a band that falls outside the range, and the run warns.

In the kernel's slabs the counters sit around the bins: index 0 zero/NaN, 1 below, 2 ..
n_bins + 1 the bins, n_bins + 2 above (``bin_index``).
"""

from __future__ import annotations

import numpy as np

from sim.layout import (
    LINEAR,
    N_HIST,
    O_BACKLOG,
    O_CAPACITY,
    O_CAPEX,
    O_CIRCULARITY,
    O_COMPUTE_DEMAND,
    O_EQUITY_CLOUDS,
    O_EQUITY_LABS,
    O_EQUITY_VENDORS,
    O_INDEX,
    O_LAB_BURN,
    O_LAB_RUNWAY,
    O_RENTAL_PRICE,
    O_REVENUE_GAP,
    O_ROIC_CLOUDS,
    O_ROIC_LABS,
    O_SPEND,
    O_TOKEN_PRICE,
    O_UTILIZATION,
)
from sim.vectorize import bin_log10, where

# Range in decades around the t=0 value (log bins) or in absolute terms (linear bins).
# Token prices fall by ~1-2 decades a year, so their range reaches far down.
HIST_RANGE = {
    O_TOKEN_PRICE: (-16.0, 3.0),
    O_SPEND: (-4.0, 5.0),
    O_COMPUTE_DEMAND: (-4.0, 5.0),
    O_CAPACITY: (-4.0, 5.0),
    O_CAPEX: (-6.0, 4.0),
    O_UTILIZATION: (0.0, 1.0),
    O_RENTAL_PRICE: (-3.0, 2.0),
    O_INDEX: (-5.0, 4.0),
    O_EQUITY_LABS: (-6.0, 4.0),
    O_EQUITY_CLOUDS: (-6.0, 4.0),
    O_EQUITY_VENDORS: (-6.0, 4.0),
    O_CIRCULARITY: (-1.5, 2.0),     # at least 1: every dollar of spend is the labs' revenue
    O_REVENUE_GAP: (-4.0, 3.0),
    O_ROIC_LABS: (-3.0, 3.0),       # 1/yr, linear: negative while the labs lose money
    O_ROIC_CLOUDS: (-2.0, 2.0),
    O_BACKLOG: (-6.0, 4.0),
    O_LAB_BURN: (-6.0, 3.0),
    O_LAB_RUNWAY: (-8.0, 3.0),      # sim.model.RUNWAY_CAP (no lab burns) lies inside
}


def bin_layout(obs0: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-series (lower edge, bins per unit, is-log) for the kernel, from t=0 observables."""
    lower = np.empty(N_HIST)
    per_unit = np.empty(N_HIST)
    is_log = np.zeros(N_HIST, dtype=np.bool_)
    for s in range(N_HIST):
        lo, hi = HIST_RANGE[s]
        log_scale = s not in LINEAR
        # a series that starts at 0 (no lab burning cash) is placed around 1
        centre = np.log10(obs0[s]) if log_scale and obs0[s] > 0 else 0.0
        lower[s] = centre + lo
        per_unit[s] = n_bins / (hi - lo)
        is_log[s] = log_scale
    return lower, per_unit, is_log


def bin_edges(lower: np.ndarray, per_unit: np.ndarray, is_log: np.ndarray,
              n_bins: int) -> np.ndarray:
    """Bin edges in the observables' own units, shape (N_HIST, n_bins + 1)."""
    steps = np.arange(n_bins + 1)
    edges = lower[:, None] + steps[None, :] / per_unit[:, None]
    return np.where(is_log[:, None], 10.0**edges, edges)


def bin_index(value, lower, per_unit, log_scale, n_bins):
    """Slab index of ``value`` as a float (elementwise): 0 for zero (log bins) or NaN, 1 below
    the range, 2 + bin inside it, n_bins + 2 above it."""
    # comparisons, not np.maximum / np.minimum: compiled, each is one max or min instruction
    # where NumPy's NaN rule takes four, and a NaN is caught by ``zero`` anyway
    scaled = where(log_scale, bin_log10(where(value > 1e-300, value, 1e-300)), value)
    position = (scaled - lower) * per_unit
    position = where(position == n_bins, n_bins - 0.5, position)  # the top edge is inside
    position = where(position > -1.0, position, -1.0)
    position = where(position < n_bins, position, 1.0 * n_bins)
    zero = (log_scale & (value <= 0.0)) | (value != value)
    return where(zero, 0.0, np.floor(position) + 2.0)


def split_slab(slab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slab counts (..., n_bins + 3) -> the bins (..., n_bins) and the outside counters
    (..., 3) in OUTSIDE order."""
    outside = np.stack([slab[..., 0], slab[..., 1], slab[..., -1]], axis=-1)
    return slab[..., 2:-1], outside
