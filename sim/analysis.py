"""Raw engine results -> the distributions a researcher cites (pure NumPy, no I/O)."""

from __future__ import annotations

import numpy as np

from sim.engine import MDD_BINS, RawResults
from sim.model import N_SECTORS, SECTORS

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def histogram_quantiles(counts: np.ndarray, edges: np.ndarray, is_log: bool,
                        quantiles=QUANTILES) -> np.ndarray:
    """Quantiles of binned data, interpolated within the bin (in log10 space for log bins).

    ``counts`` (..., bins) and ``edges`` (bins + 1,); returns (len(quantiles), ...).
    """
    scaled = np.log10(edges) if is_log else edges
    cum = np.cumsum(counts, axis=-1)
    total = cum[..., -1:]
    out = np.empty((len(quantiles), *counts.shape[:-1]))
    for i, q in enumerate(quantiles):
        target = q * total
        b = np.minimum((cum < target).sum(axis=-1, keepdims=True), counts.shape[-1] - 1)
        below = np.where(b > 0, np.take_along_axis(cum, np.maximum(b - 1, 0), axis=-1), 0)
        inside = np.take_along_axis(counts, b, axis=-1)
        frac = np.where(inside > 0, (target - below) / np.maximum(inside, 1), 0.5)
        value = scaled[b] + frac * (scaled[b + 1] - scaled[b])
        out[i] = (10.0**value if is_log else value)[..., 0]
    return out


def survival_curves(alive: np.ndarray, n_paths: int, n_firms: int) -> np.ndarray:
    """Share of firms alive per (sector, month), averaged over paths."""
    return (alive / float(n_paths * n_firms)).T


def max_drawdown_quantiles(raw: RawResults, quantiles=QUANTILES) -> np.ndarray:
    """Quantiles of the max drawdown: exact from per-path values, else from its histogram."""
    mdd = raw.per_path.get("max_drawdown")
    if mdd is not None:
        return np.quantile(mdd, quantiles)
    edges = np.linspace(0.0, 1.0, MDD_BINS + 1)
    return histogram_quantiles(raw.mdd_hist, edges, False, quantiles)


def headline(raw: RawResults) -> dict[str, float]:
    """The figures a researcher would cite from one run."""
    q = max_drawdown_quantiles(raw, (0.5, 0.95))
    edges = np.linspace(0.0, 1.0, MDD_BINS + 1)
    out = {
        "median_max_drawdown": float(q[0]),
        "p95_max_drawdown": float(q[1]),
        "prob_max_drawdown_gt_50pct": float(raw.mdd_hist[edges[:-1] >= 0.5].sum() / raw.n_paths),
    }
    pp = raw.per_path
    if pp:
        out["median_peak_to_trough_months"] = float(np.median(pp["peak_to_trough_months"]))
        out["prob_recovered_by_horizon"] = float(np.mean(~np.isnan(pp["recovery_months"])))
        out["median_terminal_index"] = float(np.median(pp["terminal_index"]))
        out["median_rental_price_max_drawdown"] = float(
            np.median(pp["rental_price_max_drawdown"]))
    surv = survival_curves(raw.alive, raw.n_paths, raw.n_firms)[:, -1]
    for k in range(N_SECTORS):
        out[f"survival_{SECTORS[k]}_at_horizon"] = float(surv[k])
    return out
