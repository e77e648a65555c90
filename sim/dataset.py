"""Raw results + analysis -> one self-describing xarray.Dataset (the output schema, in one place).

docs/outputs.md describes every variable; units and long names below are its source.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim import analysis, model
from sim.engine import MDD_BINS, RawResults
from sim.histogram import LINEAR

SERIES = {
    model.O_TOKEN_PRICE: ("token_price", "$/Mtok", "token price (per million tokens)"),
    model.O_SPEND: ("spend", "$B/month", "end-user spend on tokens"),
    model.O_COMPUTE_DEMAND: ("compute_demand", "bn GPU-h/month", "compute demanded"),
    model.O_CAPACITY: ("capacity", "bn GPU-h/month", "installed compute capacity"),
    model.O_CAPEX: ("capex", "$B/month", "capex orders"),
    model.O_UTILIZATION: ("utilization", "1", "utilization of capacity"),
    model.O_RENTAL_PRICE: ("rental_price", "$/GPU-h", "rental price of a GPU-hour"),
    model.O_INDEX: ("index", "$B", "AI index: total equity of the three sectors"),
    model.O_EQUITY_LABS: ("equity_labs", "$B", "equity of the labs sector"),
    model.O_EQUITY_CLOUDS: ("equity_clouds", "$B", "equity of the clouds sector"),
    model.O_EQUITY_VENDORS: ("equity_vendors", "$B", "equity of the vendors sector"),
    model.O_CAPEX_TTM: ("capex_ttm", "$B", "trailing-12-month capex orders"),
    model.O_TOKENS: ("tokens", "Ptok/month", "tokens demanded"),
}
BAND_SERIES = tuple(range(model.O_EQUITY_LABS))

PER_PATH = {
    "max_drawdown": ("1", "maximum drawdown of the index (fraction of its running peak lost)"),
    "peak_to_trough_months": ("months", "months from the peak to the trough of the max drawdown"),
    "recovery_months": ("months", "months from the trough until the index regained its peak "
                                  "(NaN: not regained by the horizon, censored)"),
    "terminal_index": ("1", "index at the horizon relative to t=0"),
    "min_utilization": ("1", "lowest monthly utilization"),
    "rental_price_max_drawdown": ("1", "maximum drawdown of the GPU-hour rental price"),
    "capex_max_drawdown": ("1", "largest fall of trailing-12-month capex from its running peak"),
    "sector_max_drawdown": ("1", "maximum drawdown of each sector's equity"),
    "default_month": ("months", "month the firm defaulted (-1: survived the horizon)"),
}


def _months(start: str, n: int) -> np.ndarray:
    return np.datetime64(start, "M") + np.arange(n).astype("timedelta64[M]")


def build(raw: RawResults, attrs: dict, start_date: str) -> xr.Dataset:
    """The run's dataset; ``attrs`` (config YAML, provenance) are attached last."""
    months = np.arange(raw.horizon + 1)
    coords = {
        "time": ("time", months, {"units": "months", "long_name": "months since start"}),
        "date": ("time", _months(start_date, raw.horizon + 1).astype("datetime64[ns]"),
                 {"long_name": "calendar month"}),
        "quantile": ("quantile", np.array(analysis.QUANTILES),
                     {"units": "1", "long_name": "quantile across paths"}),
        "sector": ("sector", np.array(model.SECTORS), {"long_name": "sector"}),
        "firm": ("firm", np.arange(raw.n_firms),
                 {"long_name": "firm within its sector (0: least levered, cheapest)"}),
        "series": ("series", np.array([SERIES[s][0] for s in range(model.N_HIST)]),
                   {"long_name": "histogrammed series"}),
        "sample": ("sample", raw.sample_index,
                   {"long_name": "global index of a sampled path"}),
        "mdd_bin": ("mdd_bin", (np.arange(MDD_BINS) + 0.5) / MDD_BINS,
                    {"units": "1", "long_name": "max drawdown (bin centre)"}),
    }
    data = {}
    for s in BAND_SERIES:
        name, unit, long_name = SERIES[s]
        bands = analysis.histogram_quantiles(raw.hist[:, s, :], raw.hist_edges[s],
                                             s not in LINEAR)
        data[name] = (("quantile", "time"), bands,
                      {"units": unit, "long_name": f"{long_name}, quantiles across paths"})
    equity = np.stack([
        analysis.histogram_quantiles(raw.hist[:, model.O_EQUITY + k, :],
                                     raw.hist_edges[model.O_EQUITY + k], True)
        for k in range(model.N_SECTORS)], axis=-1)
    data["sector_equity"] = (("quantile", "time", "sector"), equity,
                             {"units": "$B", "long_name": "sector equity, quantiles across paths"})
    data["survival"] = (("sector", "time"),
                        analysis.survival_curves(raw.alive, raw.n_paths, raw.n_firms),
                        {"units": "1", "long_name": "share of firms alive"})
    data["firms_alive"] = (("time", "sector"), raw.alive,
                           {"units": "firms", "long_name": "firms alive summed over paths"})
    data["histogram"] = (("time", "series", "bin"), raw.hist,
                         {"units": "paths", "long_name": "per-month histogram counts"})
    data["histogram_edges"] = (("series", "bin_edge"), raw.hist_edges,
                               {"units": "series units", "long_name": "histogram bin edges"})
    data["max_drawdown_histogram"] = (("mdd_bin",), raw.mdd_hist,
                                      {"units": "paths", "long_name": "max drawdown counts"})
    for s in range(model.N_OBS):
        name, unit, long_name = SERIES[s]
        data[f"sample_{name}"] = (("sample", "time"), raw.trajectories[:, :, s],
                                  {"units": unit, "long_name": f"{long_name}, sampled paths"})
    dims = {"sector_max_drawdown": ("path", "sector"),
            "default_month": ("path", "sector", "firm")}
    for name, values in raw.per_path.items():
        unit, long_name = PER_PATH[name]
        data[name] = (dims.get(name, ("path",)), values, {"units": unit, "long_name": long_name})
    if raw.per_path:
        coords["path"] = ("path", np.arange(raw.n_paths, dtype=np.int64),
                          {"long_name": "global path index"})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(attrs)
    return ds
