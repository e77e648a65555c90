"""How far trailing-12-month capex falls after its boom peak and when it is back (issue 11).

The figures of docs/model.md's "Capex against history": every path is kept as a sample
path, its peak is the highest trailing capex of the first five years, its fall the lowest
point after that peak, and it is back in the first later month at or above the peak after
having been below it. Usage (overrides as for `bubblesim`):

    .venv/bin/python tools/capex_recovery.py --paths 20000 scenario=dotcom_crash
    .venv/bin/python tools/capex_recovery.py --paths 20000 scenario=dotcom_crash \\
        model.capacity.bust_caution=0

Memory: paths x 121 months x the observables, 8 bytes each (about 0.8 GB at 20,000 paths).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.app import compose  # noqa: E402
from sim.engine import simulate  # noqa: E402
from sim.layout import O_CAPEX_TTM  # noqa: E402
from sim.params import model_vector, run_settings  # noqa: E402

PEAK_WINDOW = 60  # months in which the boom's peak is looked for
FELL = 0.2  # a fall counts from a fifth below the peak


def falls_and_returns(capex_ttm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per path (rows): month of the peak, fall from it (share) and months from the peak
    until capex is back at it (NaN if not by the horizon)."""
    peak_month = np.argmax(capex_ttm[:, :PEAK_WINDOW + 1], axis=1)
    fall = np.zeros(len(capex_ttm))
    back = np.full(len(capex_ttm), np.nan)
    for k, (path, m) in enumerate(zip(capex_ttm, peak_month, strict=True)):
        after = path[m + 1:]
        if after.size == 0:
            continue
        fall[k] = 1.0 - after.min() / path[m]
        below = np.flatnonzero(after < path[m])
        if below.size:
            again = np.flatnonzero(after[below[0]:] >= path[m])
            if again.size:
                back[k] = below[0] + again[0] + 1
    return peak_month, fall, back


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=20000)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    n = min(args.paths, 100_000)  # engine.sample_paths allows at most 100,000
    cfg = compose(*args.overrides, f"engine.n_paths={n}", f"engine.sample_paths={n}")
    raw = simulate(model_vector(cfg), replace(run_settings(cfg), quiet=True))
    peak_month, fall, back = falls_and_returns(raw.trajectories[:, :, O_CAPEX_TTM])
    fell = fall > FELL
    print(f"{n:,} paths: capex falls by more than {FELL:.0%} on {fell.mean():.2f}, "
          f"{np.median(fall):.2f} in the median, from a peak in month "
          f"{np.median(peak_month):.0f} (median)")
    if fell.any():
        b = back[fell]
        print(f"of those, back at the peak by month {raw.horizon} on {np.mean(~np.isnan(b)):.2f}"
              + ("" if np.isnan(b).all() else
                 f", a median {np.nanmedian(b):.0f} months after the peak (IQR "
                 f"{np.nanpercentile(b, 25):.0f}-{np.nanpercentile(b, 75):.0f})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
