"""Raw results + analysis -> one self-describing xarray.Dataset (the output schema, in one place).

docs/outputs.md describes every variable; units and long names below are its source.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim import analysis, layout, sensitivity
from sim.layout import LINEAR, OUTSIDE
from sim.raw import (
    ELASTICITY_BINS,
    ELASTICITY_RANGE,
    GROWTH_BINS,
    GROWTH_PARTS,
    GROWTH_RANGE,
    MDD_BINS,
    RUNWAY_SHORT,
    RawResults,
)

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
    layout.O_CIRCULARITY: ("circularity", "1", "recognized revenue along the chain (labs, "
                                               "clouds' rent, vendors) per dollar of end-user "
                                               "spend"),
    layout.O_REVENUE_GAP: ("revenue_gap", "1", "revenue gap: trailing-12-month capex over "
                                               "trailing-12-month end-user spend"),
    layout.O_ROIC_LABS: ("roic_labs", "1/yr", "labs' return on invested capital"),
    layout.O_ROIC_CLOUDS: ("roic_clouds", "1/yr", "clouds' return on invested capital"),
    layout.O_ROIC_VENDORS: ("roic_vendors", "1/yr", "vendors' return on invested capital"),
    layout.O_LAB_BURN: ("lab_burn", "$B/month", "labs' cash burn (deficits after parents' "
                                                "support)"),
    layout.O_LAB_RUNWAY: ("lab_runway", "months", "shortest runway of a lab (cash / burn)"),
    layout.O_CIRCULAR_RENT_SHARE: ("circular_rent_share", "1", "share of the clouds' rent "
                                   "revenue paid by the suppliers' circular investment"),
    layout.O_BACKLOG_TO_RENT: ("backlog_to_rent", "yr", "contracted backlog over the clouds' "
                                                        "annual rent revenue"),
    layout.O_ADOPTION: ("adoption", "1", "adoption (position on the Bass curve)"),
    layout.O_EFFICIENCY: ("efficiency", "Mtok/GPU-h", "tokens served per GPU-hour"),
}
BAND_SERIES = tuple(range(layout.O_EQUITY_LABS)) + (
    layout.O_CIRCULARITY, layout.O_REVENUE_GAP, layout.O_BACKLOG, layout.O_LAB_BURN,
    layout.O_LAB_RUNWAY)

PER_PATH = {
    "max_drawdown": ("1", "maximum drawdown of the index (fraction of its running peak lost)"),
    "peak_to_trough_months": ("months", "months from the peak to the trough of the max drawdown"),
    "trough_month": ("months", "month of the trough of the max drawdown (0: never fell)"),
    "recovery_months": ("months", "months from the trough until the index regained its peak "
                                  "(NaN: not regained by the horizon, censored)"),
    "terminal_index": ("1", "index at the horizon relative to t=0"),
    "min_utilization": ("1", "lowest monthly utilization"),
    "rental_price_max_drawdown": ("1", "maximum drawdown of the GPU-hour rental price"),
    "capex_max_drawdown": ("1", "largest fall of trailing-12-month capex from its running peak"),
    "sector_max_drawdown": ("1", "maximum drawdown of each sector's equity"),
    "default_month": ("months", "month the firm defaulted (-1: survived the horizon)"),
    "months_underwater": ("months", "months the index spent below its running peak"),
    "demand_growth": ("1", "contributions to ln(H_T / H_0), the log growth of compute "
                           "demand over the run (log-mean Divisia decomposition)"),
    "demand_log_growth": ("1", "ln(H_T / H_0): log growth of compute demand over the run"),
    "implied_elasticity": ("1", "implied elasticity of token demand: -price response / "
                                "inference-weighted change of ln token price"),
    "min_lab_runway": ("months", "shortest runway of any lab in any month (cash / burn; "
                                 "600: no lab burned cash)"),
}
GROWTH_LABELS = {"price_response": "price response (cheaper tokens)",
                 "adoption": "adoption", "efficiency": "efficiency (tokens per GPU-hour)",
                 "training": "training", "total": "total"}

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
    "median_terminal_index": ("1", "median index at the horizon", "ratio to its start"),
    "median_circularity_start": ("1", "median circularity at t=0 (revenue along the chain "
                                      "per $ of end-user spend)", "ratio"),
    "peak_median_circularity": ("1", "peak of the median circularity", "ratio"),
    "peak_median_revenue_gap": ("1", "peak of the median revenue gap (trailing capex / "
                                     "trailing end-user spend)", "ratio"),
    "median_roic_labs_at_horizon": ("1/yr", "median labs' ROIC at the horizon", "per year"),
    "median_roic_clouds_at_horizon": ("1/yr", "median clouds' ROIC at the horizon",
                                      "per year"),
    "median_roic_vendors_at_horizon": ("1/yr", "median vendors' ROIC at the horizon",
                                       "per year"),
    "median_backlog_at_horizon": ("$B", "median contracted backlog at the horizon", "$B"),
    "backlog_to_rent_start": ("yr", "contracted backlog over a year of the clouds' rent at "
                                    "t=0", "years of rent"),
    "prob_lab_runway_below_6_months": ("1", "P(a lab's runway fell below 6 months)",
                                       "share of paths"),
    "prob_lab_default": ("1", "P(a lab defaulted by the horizon)", "share of paths"),
    "median_growth_price_response": ("1", "median contribution of the price response to "
                                          "ln compute-demand growth", "log points"),
    "median_growth_adoption": ("1", "median contribution of adoption to ln compute-demand "
                                    "growth", "log points"),
    "median_growth_efficiency": ("1", "median contribution of efficiency to ln "
                                      "compute-demand growth", "log points"),
    "median_growth_training": ("1", "median contribution of training to ln compute-demand "
                                    "growth", "log points"),
    "price_response_share_of_growth": ("1", "share of the mean log growth of compute demand "
                                            "due to cheaper tokens", "share"),
    "median_implied_elasticity": ("1", "median implied elasticity of token demand",
                                  "elasticity"),
}
# the per-path outcome (sim.sensitivity.path_outcomes) whose spread each headline figure
# summarizes; the others are read off bands or are the same on every path
SPREAD_OUTCOME = {
    "median_max_drawdown": "max_drawdown", "p95_max_drawdown": "max_drawdown",
    "prob_max_drawdown_gt_50pct": "crash",
    "median_peak_to_trough_months": "peak_to_trough_months",
    "median_months_underwater": "months_underwater",
    "prob_recovered_by_horizon": "recovered", "median_recovery_months": "recovery_months",
    **{f"survival_{s}_at_horizon": f"survival_{s}" for s in layout.SECTORS},
    "median_terminal_index": "terminal_index",
    "prob_lab_runway_below_6_months": "lab_runway_short", "prob_lab_default": "lab_default",
    **{f"median_growth_{part}": f"growth_{part}" for part in GROWTH_PARTS[:-1]},
    "median_implied_elasticity": "implied_elasticity",
}


def _months(start: str, n: int) -> np.ndarray:
    return np.datetime64(start, "M") + np.arange(n).astype("timedelta64[M]")


def _elasticity_edges() -> np.ndarray:
    lo, hi = ELASTICITY_RANGE
    return np.linspace(lo, hi, ELASTICITY_BINS + 1)


def _growth_edges() -> np.ndarray:
    lo, hi = GROWTH_RANGE
    return np.linspace(lo, hi, GROWTH_BINS + 1)


def _band_figure(value: float) -> tuple[float, float, float, float]:
    """A figure read off a quantile band: the bands carry no standard error."""
    return value, np.nan, np.nan, np.nan


def _growth_parts(raw: RawResults) -> dict[str, np.ndarray] | None:
    """Per-path contributions to the log growth of compute demand and its total (None
    without per-path outputs)."""
    pp = raw.per_path
    if "demand_growth" not in pp:
        return None
    parts = {name: pp["demand_growth"][:, k] for k, name in enumerate(GROWTH_PARTS[:-1])}
    parts["total"] = pp["demand_log_growth"]
    return parts


def _analyst_headline(raw: RawResults, bands: np.ndarray) -> dict[str, tuple]:
    """The analyst figures: read off the bands (median row), shares of paths, and the
    demand decomposition from per-path values or their histograms."""
    n = raw.n_paths
    median = list(analysis.QUANTILES).index(0.5)
    roic = _roic_bands(raw, bands)
    out = {
        # every path starts alike: the value at t=0 is the median, exactly
        "median_circularity_start": _band_figure(raw.observables0[layout.O_CIRCULARITY]),
        "peak_median_circularity": _band_figure(np.nanmax(bands[layout.O_CIRCULARITY,
                                                                median])),
        "peak_median_revenue_gap": _band_figure(np.nanmax(bands[layout.O_REVENUE_GAP,
                                                                median])),
        "median_backlog_at_horizon": _band_figure(bands[layout.O_BACKLOG, median, -1]),
        "backlog_to_rent_start": _band_figure(raw.observables0[layout.O_BACKLOG_TO_RENT]),
        "prob_lab_runway_below_6_months": _share(raw.short_runway_paths, n),
        "prob_lab_default": _share(raw.lab_default_paths, n),
    }
    for k, sector in enumerate(layout.SECTORS):
        out[f"median_roic_{sector}_at_horizon"] = _band_figure(roic[median, -1, k])
    parts = _growth_parts(raw)
    edges = _growth_edges()
    for k, name in enumerate(GROWTH_PARTS[:-1]):
        out[f"median_growth_{name}"] = tuple(x[0] for x in analysis.quantiles_with_ci(
            (0.5,), values=None if parts is None else parts[name],
            counts=raw.growth_hist[k], edges=edges))
    if parts is None:  # bin centres: a close approximation, no standard error
        share = (analysis.histogram_mean(raw.growth_hist[0], edges)
                 / analysis.histogram_mean(raw.growth_hist[-1], edges), np.nan)
    else:
        share = analysis.ratio_of_means(parts["price_response"], parts["total"])
    out["price_response_share_of_growth"] = _symmetric(*share)
    out["median_implied_elasticity"] = tuple(x[0] for x in analysis.quantiles_with_ci(
        (0.5,), values=raw.per_path.get("implied_elasticity"), counts=raw.elasticity_hist,
        edges=_elasticity_edges()))
    return out


def _roic_bands(raw: RawResults, bands: np.ndarray) -> np.ndarray:
    """ROIC by sector (quantile, time, sector). The vendors' is their operating margin on
    the chips in capex over a fixed capital, so proportional to capex: its quantiles are the
    capex band scaled by the ratio at t=0, exactly, with no histogram of its own."""
    o0 = raw.observables0
    vendors = bands[layout.O_CAPEX] * (o0[layout.O_ROIC_VENDORS] / o0[layout.O_CAPEX])
    return np.stack([bands[layout.O_ROIC_LABS], bands[layout.O_ROIC_CLOUDS], vendors],
                    axis=-1)


def _share(successes: float, n: int) -> tuple[float, float, float, float]:
    p, se = analysis.proportion(successes, n)
    return (p, se, *analysis.wilson_interval(p, n))


def _symmetric(value: float, se: float) -> tuple[float, float, float, float]:
    return value, se, value - analysis.Z95 * se, value + analysis.Z95 * se


def _headline(raw: RawResults, recovery_km: dict, survival: dict,
              bands: np.ndarray) -> dict[str, tuple]:
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
    }
    out.update(_analyst_headline(raw, bands))
    for k, sector in enumerate(layout.SECTORS):
        share, se = survival["survival"][k, -1], survival["horizon_se"][k]
        lower, upper = (analysis.wilson_interval(share, n) if se == 0
                        else _symmetric(share, se)[2:])
        out[f"survival_{sector}_at_horizon"] = (share, se, lower, upper)
    out["median_terminal_index"] = (
        tuple(x[0] for x in analysis.quantiles_with_ci((0.5,), values=pp["terminal_index"]))
        if pp else (np.nan,) * 4)
    return {name: tuple(float(v) for v in out[name]) for name in HEADLINE}


def _analysis_variables(raw: RawResults, bands: np.ndarray) -> dict:
    """Drawdown, recovery, survival and demand-growth summaries, as (dims, data, attrs)."""
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
    data["implied_elasticity_histogram"] = (("elasticity_bin",), raw.elasticity_hist, {
        "units": "paths", "long_name": "paths by implied elasticity (clipped to the range; "
                                       "NaN in the first bin)"})
    data["demand_growth_histogram"] = (("growth_part", "growth_bin"), raw.growth_hist, {
        "units": "paths", "long_name": "paths by contribution to ln compute-demand growth "
                                       "over the run (clipped to the range)"})
    data["roic"] = (("quantile", "time", "sector"), _roic_bands(raw, bands), {
        "units": "1/yr", "long_name": "return on invested capital by sector (annualized "
                                      "operating earnings / invested capital), quantiles "
                                      "across paths"})
    figures = np.array(list(_headline(raw, km, surv, bands).values()))
    for column, (suffix, text) in enumerate([
            ("", "headline figures"),
            ("_se", "Monte Carlo standard errors of the headline figures"),
            ("_lower", "95% lower limits of the headline figures"),
            ("_upper", "95% upper limits of the headline figures")]):
        data[f"headline{suffix}"] = (("figure",), figures[:, column], {
            "units": "see figure_units", "long_name": text})
    split = _spread_from_parameters(raw)
    if split is not None:
        for column, (suffix, text) in enumerate([
                ("", "share of the spread across paths of the outcome behind each headline "
                     "figure that parameter uncertainty explains, Var E[Y | parameters] / "
                     "Var Y (the rest is shock noise; NaN: no per-path outcome)"),
                ("_se", "standard error of that share")]):
            data[f"headline_parameter_share{suffix}"] = (("figure",), split[:, column], {
                "units": "1", "long_name": text})
    return data


def _spread_from_parameters(raw: RawResults) -> np.ndarray | None:
    """(figure, [share, SE]) of each headline figure's outcome variance that the priors
    explain (law of total variance over paths that share their draws); None without priors,
    per-path outputs or paths that share draws."""
    if not raw.parameters or "max_drawdown" not in raw.per_path or raw.path_ids is not None:
        return None
    groups = sensitivity.shared_draw_groups(raw.first_path, raw.n_paths, raw.prior_replicates,
                                            raw.design_period)
    if groups is None:
        return None
    outcomes = sensitivity.path_outcomes(raw.per_path, raw.horizon)
    out = np.full((len(HEADLINE), 2), np.nan)
    for row, figure in enumerate(HEADLINE):
        values = outcomes[SPREAD_OUTCOME[figure]][0] if figure in SPREAD_OUTCOME else None
        if values is not None and np.isfinite(values[groups]).all():
            split = sensitivity.variance_split(values[groups].ravel(), groups.shape[1])
            out[row] = split["parameter_share"], split["parameter_share_se"]
    return out


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
    g_edges = _growth_edges()
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
                           {"units": "1", "long_name": "implied elasticity (bin centre)"}),
        "growth_part": ("growth_part", np.array(GROWTH_PARTS),
                        {"long_name": "part of the log growth of compute demand"}),
        "growth_component": ("growth_component", np.array(GROWTH_PARTS[:-1]),
                             {"long_name": "contribution to the log growth of compute "
                                           "demand"}),
        "growth_bin": ("growth_bin", (g_edges[:-1] + g_edges[1:]) / 2,
                       {"units": "1", "long_name": "log points (bin centre)"}),
        "observable": ("observable", np.array([SERIES[s][0] for s in range(layout.N_OBS)]),
                       {"long_name": "observable (every series of the model)"}),
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
    data.update(_analysis_variables(raw, bands))
    data["initial_value"] = (("observable",), raw.observables0, {
        "units": "units of the observable", "long_name": "value of each observable at t=0 "
                                                       "(the same on every path)"})
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
            "default_month": ("path", "sector", "firm"),
            "demand_growth": ("path", "growth_component")}
    for name, values in raw.per_path.items():
        if name in PER_PATH:
            unit, long_name = PER_PATH[name]
            data[name] = (dims.get(name, ("path",)), values,
                          {"units": unit, "long_name": long_name})
    if raw.parameters and "parameter_value" in raw.per_path:
        names, keys, units = zip(*raw.parameters, strict=True)
        data["parameter_value"] = (("path", "parameter"), raw.per_path["parameter_value"], {
            "units": "the parameter's own (parameter_units)",
            "long_name": "each path's draw of each prior (docs/priors.md)"})
        coords["parameter"] = ("parameter", list(names), {"long_name": "prior name"})
        coords["parameter_key"] = ("parameter", list(keys), {"long_name": "config key"})
        coords["parameter_units"] = ("parameter", list(units), {"long_name": "units"})
    if raw.per_path:
        coords["path"] = ("path", raw.path_index(), {"long_name": "global path index"})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(attrs)
    ds.attrs["no_drawdown_paths"] = raw.no_drawdown_paths
    ds.attrs["short_runway_paths"] = raw.short_runway_paths
    ds.attrs["lab_default_paths"] = raw.lab_default_paths
    ds.attrs["runway_short_months"] = RUNWAY_SHORT
    if raw.parameters:
        ds.attrs["prior_replicates"] = raw.prior_replicates
        ds.attrs["design_period"] = raw.design_period
    return ds
