"""What the engine hands to analysis: the raw results of a run and the contract of their shapes.

A plain dataclass of NumPy arrays, so the read side (analysis, dataset, merge) depends on this
module and never on the engine or numba.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MDD_BINS = 1000  # histogram of max drawdown on [0, 1], kept even without per-path outputs
# histograms of the demand decomposition (sim.reductions) over the run, kept likewise: the
# four parts and the total log growth of compute demand, and the implied elasticity
GROWTH_PARTS = ("price_response", "adoption", "efficiency", "training", "total")
GROWTH_RANGE = (-100.0, 100.0)
GROWTH_BINS = 4000
ELASTICITY_RANGE = (-10.005, 9.995)  # bins of 0.01 centred on round values
ELASTICITY_BINS = 2000
RUNWAY_SHORT = 6.0  # months: a lab this close to running out is counted (short_runway_paths)


@dataclass
class RawResults:
    """What the engine hands to analysis: per-path outputs, merged counts, samples."""

    n_paths: int                         # paths in this run (or shard)
    first_path: int                      # global index of its first path
    horizon: int
    n_firms: int
    hist: np.ndarray                     # (months + 1, N_HIST, bins) int64
    hist_outside: np.ndarray             # (months + 1, N_HIST, 3) zero/NaN, below, above range
    hist_edges: np.ndarray               # (N_HIST, bins + 1)
    alive: np.ndarray                    # (months + 1, sectors) firms alive, summed over paths
    mdd_hist: np.ndarray                 # (MDD_BINS,) int64
    peak_to_trough_hist: np.ndarray      # (months + 1,) paths by peak-to-trough months
    underwater_hist: np.ndarray          # (months + 1,) paths by months below the peak
    recovery_events: np.ndarray          # (months + 1,) recoveries by months after trough
    recovery_censored: np.ndarray        # (months + 1,) open drawdowns by months after trough
    no_drawdown_paths: int               # paths whose index never fell
    growth_hist: np.ndarray              # (GROWTH_PARTS, GROWTH_BINS) demand decomposition
    elasticity_hist: np.ndarray          # (ELASTICITY_BINS,) implied elasticity, clipped
    short_runway_paths: int              # paths where a lab's runway fell below RUNWAY_SHORT
    lab_default_paths: int               # paths where a lab defaulted
    alive_sq_horizon: np.ndarray         # (sectors,) sum over paths of (firms alive at T)^2
    observables0: np.ndarray             # (N_OBS,) every observable at t=0 (equal on all paths)
    sample_index: np.ndarray             # (samples,) global path index of each sampled path
    trajectories: np.ndarray             # (samples, months + 1, N_OBS)
    nonfinite_paths: int
    first_nonfinite_path: int            # -1 if none
    engine_seconds: float
    threads: int
    per_path: dict[str, np.ndarray] = field(default_factory=dict)
    # the priors drawn per path: (name, key, units) each, in the order of the per-path
    # "parameter_value" columns
    parameters: tuple[tuple[str, str, str], ...] = ()
    # how paths share their draws: consecutive groups of prior_replicates paths (1: none), or
    # the rows of a Saltelli design of design_period rows per base (0: not a design)
    prior_replicates: int = 1
    design_period: int = 0
    # the paths' global indices when they are not first_path, first_path + 1, ... (a subset
    # re-run, e.g. the paths a calibration accepted); None: consecutive
    path_ids: np.ndarray | None = None
    # (paths, snapshots): observable k of RunSettings.snapshots at its month, path by path
    snapshots: np.ndarray | None = None

    def path_index(self) -> np.ndarray:
        """The global index of each path."""
        if self.path_ids is not None:
            return self.path_ids.astype(np.int64)
        return self.first_path + np.arange(self.n_paths, dtype=np.int64)


PER_PATH_DTYPES = {
    "max_drawdown": np.float64,
    "peak_to_trough_months": np.int16,
    "trough_month": np.int16,
    "recovery_months": np.float64,
    "terminal_index": np.float64,
    "min_utilization": np.float64,
    "rental_price_max_drawdown": np.float64,
    "capex_max_drawdown": np.float64,
    "sector_max_drawdown": np.float64,
    "default_month": np.int16,
    "months_underwater": np.int16,
    "demand_growth": np.float64,
    "demand_log_growth": np.float64,
    "implied_elasticity": np.float64,
    "min_lab_runway": np.float64,
}
