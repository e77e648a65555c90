"""The model's economics on common random numbers: what a reviewer would try first.

Each test runs the compiled engine twice or more with the same seed, so path i sees the same
shocks in every run and differences are caused by the parameter changed, path by path.
Tolerances come from the standard error of the paired differences.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import run_small, schema
from sim import layout as L

N = 3000


def _defaults(raw, sector: int | None = None) -> np.ndarray:
    """Firms that defaulted, per path (of one sector, or all)."""
    defaulted = raw.per_path["default_month"] >= 0
    return (defaulted if sector is None else defaulted[:, sector:sector + 1]).sum(axis=(1, 2))


def _paired_no_less(higher, lower, z=3.0) -> bool:
    """mean(higher - lower) >= -z SE: higher is not smaller than lower, weakly."""
    d = np.asarray(higher, float) - np.asarray(lower, float)
    return d.mean() >= -z * d.std(ddof=1) / np.sqrt(d.size) - 1e-12


def _scaled_debt(factor: float) -> list[str]:
    """The same cloud businesses financed with ``factor`` times the debt: enterprise values
    unchanged, so equity is lower by the added debt (at least 5% of what it was)."""
    clouds = schema().start.clouds
    debt = [d * factor for d in clouds.debt]
    value = [max(v - (d1 - d0), 0.05 * v) for v, d0, d1 in zip(clouds.value, clouds.debt, debt,
                                                               strict=True)]
    return [f"start.clouds.debt=[{','.join(map(str, debt))}]",
            f"start.clouds.value=[{','.join(map(str, value))}]"]


@pytest.mark.parametrize("scenario", ["soft_landing", "excess_capacity", "dotcom_crash"])
def test_more_opening_debt_bites(scenario):
    """The same cloud businesses with more debt at the start: weakly more of them default,
    path by path on average, in every scenario; and doubling the debt is not a no-op. (Labs'
    defaults are left out: an early default of a levered cloud can soften the bust they
    meet.)"""
    runs = [run_small(f"scenario={scenario}", *_scaled_debt(f), n_paths=N)
            for f in (0.5, 1.0, 2.0)]
    for less, more in zip(runs, runs[1:], strict=False):
        assert _paired_no_less(_defaults(more, L.CLOUDS), _defaults(less, L.CLOUDS))
    assert _defaults(runs[2], L.CLOUDS).mean() >= _defaults(runs[0], L.CLOUDS).mean()


def test_more_opening_debt_deepens_the_soft_landings_drawdown():
    """Where no firm fails within months, leverage deepens the index's drawdown. (In
    excess_capacity and dotcom_crash, doubling the debt makes Oracle default in month 6 on
    nearly every path, before the index's peak: that loss falls in the boom, not in the
    drawdown from the later peak, and a default costs nobody else anything until contagion
    (issue 11); docs/model.md, 'Debt that bites', has the figures.)"""
    runs = [run_small("scenario=soft_landing", *_scaled_debt(f), n_paths=N)
            for f in (0.5, 1.0, 2.0)]
    for less, more in zip(runs, runs[1:], strict=False):
        assert _paired_no_less(more.per_path["max_drawdown"], less.per_path["max_drawdown"])
    assert runs[2].per_path["max_drawdown"].mean() > runs[0].per_path["max_drawdown"].mean()


def test_more_circular_funding_deepens_the_dotcom_bust():
    """A larger circular share: path by path a weakly deeper index drawdown, and weakly more
    defaults among the vendors, who pay their part and get no rent back. The labs' and the
    clouds' defaults need not rise: the circular money funds the labs and returns to the
    clouds as rent (docs/model.md, Circular financing)."""
    runs = [run_small("scenario=dotcom_crash", f"model.finance.circular_share={c}", n_paths=N)
            for c in (0.0, 0.5, 0.9)]
    for less, more in zip(runs, runs[1:], strict=False):
        assert _paired_no_less(_defaults(more, L.VENDORS), _defaults(less, L.VENDORS))
        assert _paired_no_less(more.per_path["max_drawdown"], less.per_path["max_drawdown"])
    assert runs[2].per_path["max_drawdown"].mean() > runs[0].per_path["max_drawdown"].mean()


def test_contagion_costs_the_vendors_in_a_dotcom_bust():
    """Oracle and the neoclouds default in the bust; with their lenders recovering nothing
    and half their debt vendor-financed, the vendors lose it: on common random numbers,
    weakly more vendor defaults and deeper vendor drawdowns on every scale, and some vendors
    fail that did not."""
    runs = [run_small("scenario=dotcom_crash", *overrides, n_paths=N) for overrides in (
        ("model.contagion.recovery_rate=1",),
        (),
        ("model.contagion.recovery_rate=0", "model.contagion.vendor_financed_share=0.5",
         "model.contagion.spread_jump=20"))]
    for less, more in zip(runs, runs[1:], strict=False):
        assert _paired_no_less(_defaults(more, L.VENDORS), _defaults(less, L.VENDORS))
        assert _paired_no_less(more.per_path["sector_max_drawdown"][:, L.VENDORS],
                               less.per_path["sector_max_drawdown"][:, L.VENDORS])
    assert _defaults(runs[2], L.VENDORS).mean() > _defaults(runs[0], L.VENDORS).mean() + 0.1


def test_stakes_in_the_labs_deepen_the_investors_dotcom_bust():
    """The same clouds' and vendors' market values, with and without the start's stakes in
    the labs: when the labs' value collapses in the bust, the investors' stakes fall with
    it, so the clouds' and the index's drawdowns are weakly deeper path by path."""
    none = ["start.clouds.stake=[0,0,0,0,0]", "start.vendors.stake=[0,0,0,0,0]"]
    without, with_stakes = (run_small("scenario=dotcom_crash", *o, n_paths=N)
                            for o in (none, ()))
    clouds = [r.per_path["sector_max_drawdown"][:, L.CLOUDS] for r in (without, with_stakes)]
    assert _paired_no_less(clouds[1], clouds[0])
    assert _paired_no_less(with_stakes.per_path["max_drawdown"],
                           without.per_path["max_drawdown"])
    assert clouds[1].mean() > clouds[0].mean() + 0.005


def test_a_grid_that_builds_less_holds_capacity_back_and_rents_up():
    """Power, not a fixed share, caps growth: with the grid's build rate shrinking 30% a
    year instead of growing 10%, every sampled path has less capacity five years on and a
    rent at least as high; the capex cycle that the cap forces deepens the drawdown."""
    base, slow = (run_small(*grid, n_paths=N) for grid in
                  ([], ["model.power.build_growth=-0.3"]))
    month = 60
    less = slow.trajectories[:, month, L.O_CAPACITY] - base.trajectories[:, month, L.O_CAPACITY]
    dearer = (slow.trajectories[:, month, L.O_RENTAL_PRICE]
              - base.trajectories[:, month, L.O_RENTAL_PRICE])
    assert less.max() < 0.0 and dearer.min() >= 0.0 and dearer.mean() > 0.05
    assert (slow.trajectories[:, month, L.O_POWER]
            < base.trajectories[:, month, L.O_POWER]).all()
    assert _paired_no_less(slow.per_path["max_drawdown"], base.per_path["max_drawdown"])


def test_contracts_move_a_rent_collapses_losses_from_the_clouds_to_the_labs():
    """In excess_capacity rents fall by half within three years. With the start's take-or-pay
    contracts the labs pay their locked rents: the clouds' equity falls less and fewer of
    them default than with no contracts, path by path, and the labs' equity falls more."""
    spot, locked = (run_small("scenario=excess_capacity", *c, n_paths=N) for c in
                    (["start.labs.contracted_share=[0,0,0,0,0]"], []))
    mdd = "sector_max_drawdown"
    assert _paired_no_less(spot.per_path[mdd][:, L.CLOUDS] - 0.05,
                           locked.per_path[mdd][:, L.CLOUDS])
    assert _paired_no_less(locked.per_path[mdd][:, L.LABS] - 0.1,
                           spot.per_path[mdd][:, L.LABS])
    assert _paired_no_less(_defaults(spot, L.CLOUDS), _defaults(locked, L.CLOUDS))
    assert locked.trajectories[:, 36, L.O_BACKLOG].min() > 0.0
    assert (spot.trajectories[:, :, L.O_BACKLOG] == 0.0).all()


def test_sectors_can_move_apart():
    """One mood per sector besides the common one: on some months vendors' equity falls
    while the clouds' rises (the pattern of REFERENCE.md E4)."""
    raw = run_small("scenario=excess_capacity", n_paths=400, sample_paths=400)
    t = raw.trajectories
    vendors = np.diff(np.log(t[:, :, L.O_EQUITY_VENDORS]), axis=1)
    clouds = np.diff(np.log(t[:, :, L.O_EQUITY_CLOUDS]), axis=1)
    apart = (vendors < -0.02) & (clouds > 0.02)
    assert apart.mean() > 0.01


def test_idle_cash_does_not_carry_the_index():
    """Payouts keep cash near the firms' buffers: at ten years, net cash is a small part of
    the index in the soft landing (it was 64-88% before valuations came from profits)."""
    raw = run_small("scenario=soft_landing", n_paths=200, sample_paths=200)
    index = raw.trajectories[:, -1, L.O_INDEX]
    assert np.median(index) > 0
    # the state is not sampled; bound net cash by the equity of sectors valued near zero:
    # a sector whose enterprise value collapsed keeps only its net cash, so the equity of the
    # three sectors cannot all be net cash if the index follows revenue and growth
    ratio = raw.trajectories[:, -1, L.O_INDEX] / raw.trajectories[:, 0, L.O_INDEX]
    spend = raw.trajectories[:, -1, L.O_SPEND] / raw.trajectories[:, 0, L.O_SPEND]
    assert np.corrcoef(np.log(ratio), np.log(spend))[0, 1] > 0.3


def test_labs_can_fail_and_their_compute_purchases_stop():
    raw = run_small("scenario=dotcom_crash", "model.labs.round_months=1",
                    "model.sentiment.bust_mean=-2", n_paths=N)
    labs = raw.per_path["default_month"][:, L.LABS, :]
    assert (labs >= 0).any(axis=1).mean() > 0.05


def test_the_read_side_imports_neither_numba_nor_the_engine(tmp_path):
    code = ("import sys\n"
            "import sim.analysis, sim.dataset, sim.io, sim.plots, sim.report, sim.merge\n"
            "import sim.sensitivity, sim.discovery, sim.uncertainty\n"
            "bad = [m for m in ('numba', 'sim.engine', 'sim.kernel', 'sim.model', 'sim.vectorize',"
            " 'sim.reference') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
