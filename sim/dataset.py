"""Raw results + analysis -> one self-describing xarray.Dataset (the output schema, in one place).

docs/outputs.md describes every variable; units and long names below are its source.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim import analysis, layout
from sim.layout import LINEAR, OUTSIDE
from sim.raw import ELASTICITY_BINS, ELASTICITY_RANGE, MDD_BINS, RawResults

SERIES = {
    layout.O_TOKEN_PRICE: ("token_price", "$/Mtok", "token price (per million tokens)"),
    layout.O_SPEND: ("spend", "$B/month", "end-user spend on tokens"),
    layout.O_COMPUTE_DEMAND: ("compute_demand", "bn GPU-h/month", "compute demanded"),
    layout.O_CAPACITY: ("capacity", "bn GPU-h/month", "installed compute capacity"),
    layout.O_CAPEX: ("capex", "$B/month", "capex orders"),
    layout.O_UTILIZATION: ("utilization", "1", "utilization of capacity"),
    layout.O_RENTAL_PRICE: ("rental_price", "$/GPU-h", "rental price of a GPU-hour"),
    layout.O_INDEX: ("index", "$B", "AI index: total equity of the three sectors"),
    layout.O_EQUITY_LABS: ("equity_labs", "$B", "equity of the labs sector"),
    layout.O_EQUITY_CLOUDS: ("equity_clouds", "$B", "equity of the clouds sector"),
    layout.O_EQUITY_VENDORS: ("equity_vendors", "$B", "equity of the vendors sector"),
    layout.O_CAPEX_TTM: ("capex_ttm", "$B", "trailing-12-month capex orders"),
    layout.O_TOKENS: ("tokens", "Ptok/month", "tokens demanded"),
    layout.O_POWER: ("power", "GW", "AI data-centre power energised"),
    layout.O_POWER_QUEUE: ("power_queue", "GW", "AI data-centre power requested, not yet "
                                               "energised"),
    layout.O_BACKLOG: ("backlog", "$B", "contracted backlog: remaining value of the labs' "
                                       "compute contracts"),
    layout.O_BOOK: ("book_value", "$B", "book value of the installed AI capacity (historical "
                                        "cost less depreciation and write-downs)"),
    layout.O_WRITEDOWN: ("write_down", "$B/month", "write-downs of AI capacity that failed "
                                                   "the impairment test"),
}
BAND_SERIES = tuple(range(layout.O_EQUITY_LABS))

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
    "months_underwater": ("months", "months the index spent below its running peak"),
    "realized_elasticity": ("1", "realized elasticity of compute demand to the token price "
                                 "(-slope of log H on log P over the path)"),
    "demand_rose_as_prices_fell": ("1", "1 if compute demand ended higher and token prices "
                                        "lower than at t=0"),
}

# name: (CF unit, label, unit in words) of each headline figure (report columns are a subset)
HEADLINE = {
    "median_max_drawdown": ("1", "median max drawdown", "fraction of the peak lost"),
    "p95_max_drawdown": ("1", "95th percentile of the max drawdown",
                         "fraction of the peak lost"),
    "prob_max_drawdown_gt_50pct": ("1", "P(max drawdown > 50%)", "share of paths"),
    "median_peak_to_trough_months": ("months", "median months from peak to trough", "months"),
    "median_months_underwater": ("months", "median months below the running peak", "months"),
    "prob_recovered_by_horizon": ("1", "P(index regained its peak by the horizon)",
                                  "share of paths"),
    "median_recovery_months": ("months", "median time to recovery (trough to regained peak)",
                               "months"),
    "survival_labs_at_horizon": ("1", "labs firms alive at the horizon", "share of firms"),
    "survival_clouds_at_horizon": ("1", "cloud firms alive at the horizon", "share of firms"),
    "survival_vendors_at_horizon": ("1", "vendor firms alive at the horizon", "share of firms"),
    "jevons_share": ("1", "P(compute demand rose as token prices fell)", "share of paths"),
    "median_realized_elasticity": ("1", "median realized elasticity of compute demand",
                                   "elasticity"),
    "median_terminal_index": ("1", "median index at the horizon", "ratio to its start"),
}


def _months(start: str, n: int) -> np.ndarray:
    return np.datetime64(start, "M") + np.arange(n).astype("timedelta64[M]")


def _elasticity_edges() -> np.ndarray:
    lo, hi = ELASTICITY_RANGE
    return np.linspace(lo, hi, ELASTICITY_BINS + 1)


def _share(successes: float, n: int) -> tuple[float, float, float, float]:
    p, se = analysis.proportion(successes, n)
    return (p, se, *analysis.wilson_interval(p, n))


def _symmetric(value: float, se: float) -> tuple[float, float, float, float]:
    return value, se, value - analysis.Z95 * se, value + analysis.Z95 * se


def _headline(raw: RawResults, recovery_km: dict, survival: dict) -> dict[str, tuple]:
    """name -> (value, standard error, 95% lower, 95% upper) of each headline figure."""
    pp = raw.per_path
    n = raw.n_paths
    # whole months: quantiles of the histogram with each month spread over [m - 1/2, m + 1/2),
    # so their standard errors are not 0 merely because many paths share one month
    months_edges = np.arange(raw.horizon + 2) - 0.5
    mdd = analysis.quantiles_with_ci((0.5, 0.95), values=pp.get("max_drawdown"),
                                     counts=raw.mdd_hist,
                                     edges=np.linspace(0.0, 1.0, MDD_BINS + 1))
    ptt = analysis.quantiles_with_ci((0.5,), counts=raw.peak_to_trough_hist, edges=months_edges)
    under = analysis.quantiles_with_ci((0.5,), counts=raw.underwater_hist, edges=months_edges)
    elasticity = analysis.quantiles_with_ci((0.5,), values=pp.get("realized_elasticity"),
                                            counts=raw.elasticity_hist,
                                            edges=_elasticity_edges())
    p50 = analysis.exceedance(pp.get("max_drawdown"), raw.mdd_hist, (0.5,))[0][0]
    recovery = analysis.median_time_with_se(recovery_km)
    out = {
        "median_max_drawdown": tuple(x[0] for x in mdd),
        "p95_max_drawdown": tuple(x[1] for x in mdd),
        "prob_max_drawdown_gt_50pct": _share(p50 * n, n),
        "median_peak_to_trough_months": tuple(x[0] for x in ptt),
        "median_months_underwater": tuple(x[0] for x in under),
        "prob_recovered_by_horizon": _share(raw.recovery_events.sum() + raw.no_drawdown_paths,
                                            n),
        "median_recovery_months": (*recovery, analysis.median_time(recovery_km["lower"]),
                                   analysis.median_time(recovery_km["upper"])),
        "jevons_share": _share(raw.jevons_paths, n),
        "median_realized_elasticity": tuple(x[0] for x in elasticity),
    }
    for k, sector in enumerate(layout.SECTORS):
        share, se = survival["survival"][k, -1], survival["horizon_se"][k]
        lower, upper = (analysis.wilson_interval(share, n) if se == 0
                        else _symmetric(share, se)[2:])
        out[f"survival_{sector}_at_horizon"] = (share, se, lower, upper)
    out["median_terminal_index"] = (
        tuple(x[0] for x in analysis.quantiles_with_ci((0.5,), values=pp["terminal_index"]))
        if pp else (np.nan,) * 4)
    return {name: tuple(float(v) for v in out[name]) for name in HEADLINE}


def _analysis_variables(raw: RawResults) -> dict:
    """Drawdown, recovery, survival and Jevons summaries, as (dims, data, attrs)."""
    pp = raw.per_path
    data = {}
    q, q_se = analysis.quantiles_with_se(
        analysis.DRAWDOWN_QUANTILES, values=pp.get("max_drawdown"), counts=raw.mdd_hist,
        edges=np.linspace(0.0, 1.0, MDD_BINS + 1))
    data["max_drawdown_quantiles"] = (("dd_quantile",), q, {
        "units": "1", "long_name": "quantiles of the max drawdown"})
    data["max_drawdown_quantiles_se"] = (("dd_quantile",), q_se, {
        "units": "1", "long_name": "Monte Carlo standard error of those quantiles"})
    p, p_se = analysis.exceedance(pp.get("max_drawdown"), raw.mdd_hist)
    data["exceedance"] = (("threshold",), p, {
        "units": "1", "long_name": "P(max drawdown > threshold)"})
    data["exceedance_se"] = (("threshold",), p_se, {
        "units": "1", "long_name": "Monte Carlo standard error of P(max drawdown > threshold)"})
    data["peak_to_trough_histogram"] = (("months",), raw.peak_to_trough_hist, {
        "units": "paths", "long_name": "paths by months from peak to trough"})
    data["underwater_histogram"] = (("months",), raw.underwater_hist, {
        "units": "paths", "long_name": "paths by months spent below the running peak"})
    data["recovery_events"] = (("months",), raw.recovery_events, {
        "units": "paths", "long_name": "recoveries by months after the trough"})
    data["recovery_censored"] = (("months",), raw.recovery_censored, {
        "units": "paths", "long_name": "drawdowns still open at the horizon, by months after "
                                       "the trough (censored)"})
    km = analysis.kaplan_meier(raw.recovery_events, raw.recovery_censored)
    data["recovery_km"] = (("months",), km["survival"], {
        "units": "1", "long_name": "Kaplan-Meier P(not yet recovered) by months after trough"})
    data["recovery_km_lower"] = (("months",), km["lower"], {
        "units": "1", "long_name": "pointwise 95% lower limit (Greenwood, log-log)"})
    data["recovery_km_upper"] = (("months",), km["upper"], {
        "units": "1", "long_name": "pointwise 95% upper limit (Greenwood, log-log)"})
    surv = analysis.firm_survival(raw.alive, raw.alive_sq_horizon, raw.n_paths, raw.n_firms)
    data["survival"] = (("sector", "time"), surv["survival"], {
        "units": "1", "long_name": "Kaplan-Meier survival of firms (share alive)"})
    for key, text in [("lower", "pointwise 95% lower limit (Greenwood, log-log)"),
                      ("upper", "pointwise 95% upper limit (Greenwood, log-log)"),
                      ("band_lower", "simultaneous 95% lower limit (equal precision, log-log)"),
                      ("band_upper", "simultaneous 95% upper limit (equal precision, log-log)")]:
        data[f"survival_{key}"] = (("sector", "time"), surv[key], {"units": "1",
                                                                  "long_name": text})
    data["median_survival_months"] = (("sector",), surv["median"], {
        "units": "months", "long_name": "median firm lifetime (NaN: beyond the horizon)"})
    data["annual_hazard"] = (("sector", "year"), surv["hazard"], {
        "units": "1/yr", "long_name": "share of surviving firms that default within the year"})
    data["elasticity_histogram"] = (("elasticity_bin",), raw.elasticity_hist, {
        "units": "paths", "long_name": "paths by realized elasticity (clipped to the range)"})
    figures = np.array(list(_headline(raw, km, surv).values()))
    for column, (suffix, text) in enumerate([
            ("", "headline figures"),
            ("_se", "Monte Carlo standard errors of the headline figures"),
            ("_lower", "95% lower limits of the headline figures"),
            ("_upper", "95% upper limits of the headline figures")]):
        data[f"headline{suffix}"] = (("figure",), figures[:, column], {
            "units": "see figure_units", "long_name": text})
    return data


def _bands(raw: RawResults) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles over time of every histogrammed series (N_HIST, quantile, time), and where
    they fall outside the histogram's range."""
    out = [analysis.band_quantiles(raw.hist[:, s, :], raw.hist_outside[:, s, :],
                                   raw.hist_edges[s], s not in LINEAR)
           for s in range(layout.N_HIST)]
    return np.stack([b for b, _ in out]), np.stack([c for _, c in out])


def build(raw: RawResults, attrs: dict, start_date: str,
          firm_names: list[list[str]]) -> xr.Dataset:
    """The run's dataset; ``attrs`` (config YAML, provenance) are attached last;
    ``firm_names`` by sector, as in the start."""
    months = np.arange(raw.horizon + 1)
    e_edges = _elasticity_edges()
    coords = {
        "time": ("time", months, {"units": "months", "long_name": "months since start"}),
        "date": ("time", _months(start_date, raw.horizon + 1).astype("datetime64[ns]"),
                 {"long_name": "calendar month"}),
        "months": ("months", months, {"units": "months", "long_name": "duration in months"}),
        "year": ("year", np.arange((raw.horizon) // 12),
                 {"units": "years", "long_name": "year of the horizon (0: months 0-12)"}),
        "quantile": ("quantile", np.array(analysis.QUANTILES),
                     {"units": "1", "long_name": "quantile across paths"}),
        "dd_quantile": ("dd_quantile", np.array(analysis.DRAWDOWN_QUANTILES),
                        {"units": "1", "long_name": "quantile of the max drawdown"}),
        "threshold": ("threshold", np.array(analysis.EXCEEDANCE_THRESHOLDS),
                      {"units": "1", "long_name": "max drawdown threshold"}),
        "sector": ("sector", np.array(layout.SECTORS), {"long_name": "sector"}),
        "firm": ("firm", np.arange(raw.n_firms),
                 {"long_name": "firm within its sector, in the order of start.SECTOR.names"}),
        "series": ("series", np.array([SERIES[s][0] for s in range(layout.N_HIST)]),
                   {"long_name": "histogrammed series"}),
        "sample": ("sample", raw.sample_index,
                   {"long_name": "global index of a sampled path"}),
        "mdd_bin": ("mdd_bin", (np.arange(MDD_BINS) + 0.5) / MDD_BINS,
                    {"units": "1", "long_name": "max drawdown (bin centre)"}),
        "elasticity_bin": ("elasticity_bin", (e_edges[:-1] + e_edges[1:]) / 2,
                           {"units": "1", "long_name": "realized elasticity (bin centre)"}),
        "figure": ("figure", np.array(list(HEADLINE)), {"long_name": "headline figure"}),
        "figure_units": ("figure", np.array([h[0] for h in HEADLINE.values()]),
                         {"long_name": "unit of the headline figure"}),
        "figure_label": ("figure", np.array([h[1] for h in HEADLINE.values()]),
                         {"long_name": "what the headline figure is"}),
        "figure_unit_text": ("figure", np.array([h[2] for h in HEADLINE.values()]),
                             {"long_name": "unit of the headline figure in words"}),
        "bin": ("bin", np.arange(raw.hist.shape[2]),
                {"long_name": "histogram bin (edges in histogram_edges)"}),
        "bin_edge": ("bin_edge", np.arange(raw.hist.shape[2] + 1),
                     {"long_name": "histogram bin edge"}),
        "outside": ("outside", np.array(OUTSIDE),
                    {"long_name": "values a histogram's bins do not hold"}),
        "firm_name": (("sector", "firm"), np.array(firm_names, dtype=str),
                      {"long_name": "firm's name in the start (start.SECTOR.names)"}),
    }
    data = {}
    bands, clipped = _bands(raw)
    for s in BAND_SERIES:
        name, unit, long_name = SERIES[s]
        data[name] = (("quantile", "time"), bands[s],
                      {"units": unit, "long_name": f"{long_name}, quantiles across paths"})
    data["sector_equity"] = (
        ("quantile", "time", "sector"),
        np.stack([bands[layout.O_EQUITY + k] for k in range(layout.N_SECTORS)], axis=-1),
        {"units": "$B", "long_name": "sector equity, quantiles across paths"})
    data["band_clipped"] = (("series", "quantile", "time"), clipped.astype(np.int8), {
        "units": "1", "long_name": "1 where the quantile lies outside the histogram range: "
                                   "the band value is that range's edge, a bound"})
    data.update(_analysis_variables(raw))
    data["firms_alive"] = (("time", "sector"), raw.alive,
                           {"units": "firms", "long_name": "firms alive summed over paths"})
    data["firms_alive_sq_horizon"] = (("sector",), raw.alive_sq_horizon, {
        "units": "firms^2", "long_name": "sum over paths of (firms alive at the horizon)^2"})
    data["histogram"] = (("time", "series", "bin"), raw.hist,
                         {"units": "paths", "long_name": "per-month histogram counts"})
    data["histogram_edges"] = (("series", "bin_edge"), raw.hist_edges,
                               {"units": "series units", "long_name": "histogram bin edges"})
    data["histogram_outside"] = (("time", "series", "outside"), raw.hist_outside, {
        "units": "paths", "long_name": "per-month counts of zero or NaN values (log-binned "
                                       "series), and of values below and above the range"})
    data["max_drawdown_histogram"] = (("mdd_bin",), raw.mdd_hist,
                                      {"units": "paths", "long_name": "max drawdown counts"})
    for s in range(layout.N_OBS):
        name, unit, long_name = SERIES[s]
        data[f"sample_{name}"] = (("sample", "time"), raw.trajectories[:, :, s],
                                  {"units": unit, "long_name": f"{long_name}, sampled paths"})
    dims = {"sector_max_drawdown": ("path", "sector"),
            "default_month": ("path", "sector", "firm")}
    for name, values in raw.per_path.items():
        unit, long_name = PER_PATH[name]
        data[name] = (dims.get(name, ("path",)), values, {"units": unit, "long_name": long_name})
    if raw.per_path:
        coords["path"] = ("path", raw.first_path + np.arange(raw.n_paths, dtype=np.int64),
                          {"long_name": "global path index"})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(attrs)
    ds.attrs["no_drawdown_paths"] = raw.no_drawdown_paths
    ds.attrs["jevons_paths"] = raw.jevons_paths
    return ds
