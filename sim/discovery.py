"""Scenario discovery: which ranges of the priors make a case of interest likely (PRIM).

The Patient Rule Induction Method (Friedman and Fisher 1999) peels a box in parameter
space, a few percent of the paths at a time, keeping the paths where the case (say
``max_drawdown > 0.5``) is densest; each step trades coverage (the share of all cases inside
the box) for density (the share of the box's paths that are cases). The implementation is
EMA Workbench's (Kwakkel 2017, Environ. Model. Softw. 96), maintained and BSD-licensed, with
its quasi-p-values: for each restricted limit, the binomial probability of seeing the box's
density or more if that limit were not there (Bryant and Lempert 2010).

Which box: the one on the peeling trajectory with the largest weighted relative accuracy,
mass x (density - base rate) (Lavrac, Kavsek, Flach and Todorovski 2004, a standard quality
of subgroups), which is the base rate times (coverage - mass): the box that holds the
largest share of the cases less its share of all paths. The whole space scores 0, a tiny
pure box little; coverage x density would keep the whole space whenever cases are common.
A step of the trajectory can be asked for instead. This module reads and writes nothing.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

BOUNDS = ("lower", "upper")


def _prim(values: np.ndarray, names: list[str], case: np.ndarray, threshold: float,
          peel_alpha: float, mass_min: float):
    import pandas as pd

    with warnings.catch_warnings():  # the workbench warns about its optional parallel backends
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim

        x = pd.DataFrame(values, columns=names)
        return prim.Prim(x, case, threshold=threshold, peel_alpha=peel_alpha,
                         mass_min=mass_min).find_box()


def prim_box(values: np.ndarray, names: list[str], case: np.ndarray, *,
             threshold: float = 0.8, peel_alpha: float = 0.05, mass_min: float = 0.05,
             step: int | None = None) -> xr.Dataset:
    """PRIM's peeling trajectory and one box of it for ``case`` (a boolean per path) over
    the paths' parameter ``values`` (paths x parameters, columns ``names``)."""
    case = np.asarray(case, dtype=bool)
    values = np.asarray(values, dtype=float)
    if values.shape != (case.size, len(names)):
        raise ValueError(f"values have shape {values.shape}; expected ({case.size}, "
                         f"{len(names)}): one row per path, one column per parameter")
    if not case.any() or case.all():
        raise ValueError(f"the case holds on {case.sum()} of {case.size} paths: PRIM needs "
                         "paths inside and outside it")
    box = _prim(values, names, case, threshold, peel_alpha, mass_min)
    trajectory = box.peeling_trajectory
    coverage, density = trajectory["coverage"].to_numpy(), trajectory["density"].to_numpy()
    mass = trajectory["mass"].to_numpy()
    chosen = int(np.argmax(coverage - mass)) if step is None else step
    if not 0 <= chosen < len(trajectory):
        raise ValueError(f"step = {step}: the trajectory has steps 0 .. {len(trajectory) - 1}")
    limits = box.box_lims[chosen]
    qp = box.qp[chosen]
    p_values = np.full((len(names), 2), np.nan)
    for j, name in enumerate(names):
        for side, p in enumerate(qp.get(name, (-1.0, -1.0))):
            if p >= 0.0:  # -1: that side is not restricted
                p_values[j, side] = p
    low, high = values.min(axis=0), values.max(axis=0)
    lower, upper = limits[names].to_numpy()
    restricted = (lower > low) | (upper < high)
    peel = np.arange(len(trajectory))
    attrs = {"chosen_step": chosen, "paths": case.size, "cases": int(case.sum()),
             "base_rate": float(case.mean()), "threshold": threshold,
             "peel_alpha": peel_alpha, "mass_min": mass_min,
             "method": "PRIM (EMA Workbench), box of largest coverage - mass"
                       if step is None else f"PRIM (EMA Workbench), step {step}"}
    return xr.Dataset(
        {
            "coverage": ("step", coverage,
                         {"long_name": "share of all cases inside the box", "units": "1"}),
            "density": ("step", density,
                        {"long_name": "share of the box's paths that are cases", "units": "1"}),
            "mass": ("step", mass,
                     {"long_name": "share of all paths inside the box", "units": "1"}),
            "restricted_dimensions": ("step", trajectory["res_dim"].to_numpy().astype(int),
                                      {"long_name": "parameters the box restricts"}),
            "box_limit": (("parameter", "bound"), np.column_stack([lower, upper]),
                          {"long_name": "limits of the chosen box (in the parameters' "
                                        "units)"}),
            "box_restricted": ("parameter", restricted,
                               {"long_name": "whether the chosen box restricts the "
                                             "parameter"}),
            "quasi_p_value": (("parameter", "bound"), p_values,
                              {"long_name": "quasi-p-value of each restricted limit (NaN: "
                                            "not restricted)", "units": "1"}),
            "parameter_range": (("parameter", "bound"), np.column_stack([low, high]),
                                {"long_name": "range of the parameters' values PRIM saw"}),
        },
        coords={"step": peel, "parameter": list(names), "bound": list(BOUNDS)},
        attrs=attrs,
    )
