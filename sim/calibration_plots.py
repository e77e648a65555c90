"""Figures of a calibration, drawn from its posterior.nc (sim.calibrate writes them; so does
`bubblesim-plot RUN` for a calibration's run directory).

- posterior_pairs: each parameter's prior and posterior (diagonal) and the posterior's
  pairs (below it), weighted;
- posterior_predictive: per target, the statistic over the prior's paths, over new paths
  drawn from the posterior, and the data's.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from sim import io  # noqa: E402
from sim.plots import _footer_text, _save  # noqa: E402

PRIOR, POSTERIOR, DATA = "0.6", "tab:blue", "tab:red"


def _footer(fig: plt.Figure, ds: xr.Dataset) -> None:
    a = ds.attrs
    _footer_text(fig, f"{a['accepted']:,} of {a['n_simulations']:,} paths kept "
                      f"(acceptance {a['acceptance_rate']:.2%}, effective sample size "
                      f"{a['effective_sample_size']:,.0f}); targets {a.get('targets', '')}, "
                      f"seed {a.get('seed')}")


def posterior_pairs(ds: xr.Dataset) -> plt.Figure:
    names = list(ds["parameter"].values)
    k = len(names)
    theta, w = ds["theta"].values, ds["weight"].values
    prior = ds["prior_sample"].values
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k + 1, 1.9 * k + 1), squeeze=False,
                             layout="constrained")
    for i in range(k):
        lo, hi = np.nanmin(prior[:, i]), np.nanmax(prior[:, i])
        edges = np.linspace(lo, hi, 31) if hi > lo else 10
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(prior[:, i], bins=edges, density=True, color=PRIOR, alpha=0.5,
                        label="prior")
                ax.hist(theta[:, i], bins=edges, weights=w, density=True, color=POSTERIOR,
                        alpha=0.7, label="posterior")
                ax.set_yticks([])
            else:
                ax.scatter(theta[:, j], theta[:, i], s=3, c=w, cmap="Blues", alpha=0.6,
                           linewidths=0)
                ax.set_ylim(lo, hi)
                ax.set_xlim(np.nanmin(prior[:, j]), np.nanmax(prior[:, j]))
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize=8)
            if j == 0 and i > 0:
                ax.set_ylabel(names[i], fontsize=8)
            ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle("Posterior of the priors' parameters (diagonal: prior grey, posterior "
                 "blue; below: pairs, darker = more weight)", fontsize=10)
    _footer(fig, ds)
    return fig


def posterior_predictive(ds: xr.Dataset) -> plt.Figure:
    targets = list(ds["target"].values)
    fig, axes = plt.subplots(1, len(targets), figsize=(3.2 * len(targets) + 0.5, 3.6),
                             squeeze=False, layout="constrained")
    for k, name in enumerate(targets):
        ax = axes[0, k]
        prior = ds["prior_statistic"].values[:, k]
        check = ds["predictive_statistic"].values[:, k]
        both = np.concatenate([prior[np.isfinite(prior)], check[np.isfinite(check)]])
        lo, hi = np.quantile(both, (0.005, 0.995)) if both.size else (0.0, 1.0)
        observed = float(ds["observed"].values[k])
        lo, hi = min(lo, observed), max(hi, observed)
        edges = np.linspace(lo, hi, 41)
        ax.hist(prior, bins=edges, density=True, color=PRIOR, alpha=0.5, label="prior")
        ax.hist(check, bins=edges, density=True, color=POSTERIOR, alpha=0.7,
                label="posterior predictive")
        ax.axvline(observed, color=DATA, lw=2, label="data")
        tol = float(ds["tolerance"].values[k])
        ax.axvspan(observed - tol, observed + tol, color=DATA, alpha=0.08)
        ax.set_title(f"{name}\n({ds['target_statistic'].values[k]} of "
                     f"{ds['target_observable'].values[k]})", fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Posterior predictive check: each target's statistic (shaded: the "
                 "tolerance)", fontsize=10)
    _footer(fig, ds)
    return fig


FIGURES = {"posterior_pairs": posterior_pairs, "posterior_predictive": posterior_predictive}


def plot_calibration(run_dir: Path, ds: xr.Dataset | None = None, fmt: str = "png",
                     out_dir: Path | None = None) -> list[Path]:
    """The calibration's figures into ``out_dir`` (default RUN/plots/)."""
    from sim.calibrate import POSTERIOR, TITLE

    ds = ds if ds is not None else io.read_dataset(Path(run_dir) / POSTERIOR, TITLE)
    out_dir = Path(out_dir or Path(run_dir) / io.PLOTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_save(make(ds), out_dir / f"{name}.{fmt}", fmt) for name, make in FIGURES.items()]
