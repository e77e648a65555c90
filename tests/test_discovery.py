"""PRIM finds a box that is known: a synthetic case on uniform parameters."""

from __future__ import annotations

import numpy as np
import pytest

from sim.discovery import prim_box

NAMES = ["elasticity", "optimism", "leverage"]


@pytest.fixture(scope="module")
def known_box():
    """Cases exactly where elasticity > 0.6 and optimism < 0.3 (leverage does nothing),
    and 5% of the other paths at random (noise): the true box has density ~0.95."""
    rng = np.random.default_rng(0)
    x = rng.random((10_000, 3))
    inside = (x[:, 0] > 0.6) & (x[:, 1] < 0.3)
    case = inside | (rng.random(10_000) < 0.05)
    return x, case, prim_box(x, NAMES, case)


def test_prim_recovers_the_true_box(known_box):
    x, case, ds = known_box
    lim = ds.box_limit
    # the peeling step is 5% of the paths: the limits land within a step's width of the truth
    assert abs(float(lim.sel(parameter="elasticity", bound="lower")) - 0.6) < 0.03
    assert abs(float(lim.sel(parameter="optimism", bound="upper")) - 0.3) < 0.03
    assert list(ds.box_restricted.values) == [True, True, False]
    # about as good as the true box, whose coverage the noise outside it holds down (0.73)
    inside = (x[:, 0] > 0.6) & (x[:, 1] < 0.3)
    true_coverage, true_density = case[inside].sum() / case.sum(), case[inside].mean()
    step = ds.attrs["chosen_step"]
    assert float(ds.coverage[step]) > 0.95 * true_coverage
    assert float(ds.density[step]) > 0.95 * true_density
    # the two true limits are significant; the side a limit does not restrict has none
    assert float(ds.quasi_p_value.sel(parameter="elasticity", bound="lower")) < 1e-6
    assert float(ds.quasi_p_value.sel(parameter="optimism", bound="upper")) < 1e-6
    assert np.isnan(ds.quasi_p_value.sel(parameter="leverage")).all()


def test_the_trajectory_trades_coverage_for_density(known_box):
    _, case, ds = known_box
    assert float(ds.coverage[0]) == 1.0 and float(ds.density[0]) == pytest.approx(case.mean())
    assert (np.diff(ds.mass) < 0).all()  # every step peels paths off
    assert float(ds.density[-1]) > float(ds.density[0])


def test_a_chosen_step_and_bad_input(known_box):
    x, case, ds = known_box
    first = prim_box(x, NAMES, case, step=0)
    assert not first.box_restricted.any()
    with pytest.raises(ValueError, match="step"):
        prim_box(x, NAMES, case, step=10_000)
    with pytest.raises(ValueError, match="inside and outside"):
        prim_box(x, NAMES, np.zeros(len(case), dtype=bool))
    with pytest.raises(ValueError, match="one row per path"):
        prim_box(x[:, :2], NAMES, case)
