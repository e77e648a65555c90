"""Fixed-bin per-month histograms: exactly mergeable across chunks, threads and shards.

Each histogrammed observable gets ``n_bins`` bins, equally spaced in log10 of the value
(positive quantities) or in the value itself (utilization), over a range placed around its
t=0 value. Values outside the range fall into the first or last bin, which therefore also
count everything below or above it; NaN falls into the first bin and is reported separately.
"""

from __future__ import annotations

import numpy as np

from sim.model import (
    N_HIST,
    O_CAPACITY,
    O_CAPEX,
    O_COMPUTE_DEMAND,
    O_EQUITY_CLOUDS,
    O_EQUITY_LABS,
    O_EQUITY_VENDORS,
    O_INDEX,
    O_RENTAL_PRICE,
    O_SPEND,
    O_TOKEN_PRICE,
    O_UTILIZATION,
)
from sim.vectorize import log10, where

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
}
LINEAR = (O_UTILIZATION,)


def bin_layout(obs0: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-series (lower edge, bins per unit, is-log) for the kernel, from t=0 observables."""
    lower = np.empty(N_HIST)
    per_unit = np.empty(N_HIST)
    is_log = np.zeros(N_HIST, dtype=np.bool_)
    for s in range(N_HIST):
        lo, hi = HIST_RANGE[s]
        log_scale = s not in LINEAR
        centre = np.log10(obs0[s]) if log_scale else 0.0
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
    """Bin of ``value`` as a float (elementwise; clamped to the first and last bin; NaN -> 0)."""
    scaled = where(log_scale, log10(np.maximum(value, 1e-300)), value)
    position = np.minimum(np.maximum((scaled - lower) * per_unit, 0.0), n_bins - 1.0)
    return np.floor(where(position == position, position, 0.0))
