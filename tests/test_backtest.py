"""The 1995-2007 backtest (issue 13, item 4): the 1995q1 start and its identities, the
telecom_1995 scenario, priors and run-up targets, the backtest table by hand, and the NASDAQ
figures read from data/ (a copy of ../shared/calibration/'s) against REFERENCE.md A1."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import CONF, config_keys, run_small, schema
from sim import backtest, model
from sim import layout as L
from sim.params import model_vector
from sim.targets import check_targets

START = "start=1995q1"
SCENARIO = "scenario=telecom_1995"
# figures the start is built from (docs/sources/1995q1.md)
CARRIERS_DATA_REVENUE = 12.6  # $B/yr of private lines, frame relay and transit [T3]
ONLINE_REVENUE = 1.2  # $B/yr of end-user spend on online services and ISPs [T5]
LEASED_LINE_1995 = 200_000.0 / 12 / 2048  # seeds/002: $ per kbit/s-month of a 2 Mbit/s line


def _yaml(group: str, name: str) -> dict:
    return yaml.safe_load((CONF / group / f"{name}.yaml").read_text())


def test_the_1995q1_start_has_the_keys_of_2026q1_and_five_firms_a_sector():
    old, new = _yaml("start", "2026q1"), _yaml("start", "1995q1")
    assert config_keys(new) == config_keys(old)  # every key, in the same order
    assert (new["start_name"], new["start"]["date"]) == ("1995q1", "1995-01")
    for sector in ("labs", "clouds", "vendors"):
        assert len(new["start"][sector]["names"]) == 5


def test_the_1995q1_start_derives_the_1995_figures():
    """The carriers' data revenue, the online services' revenue, a price per MB, rents
    below a small circuit's and above cost, earning carriers and vendors."""
    cfg = schema(START, SCENARIO)
    c, tok = cfg.start.compute, cfg.start.tokens
    p = model.initial_conditions(model_vector(cfg))
    revenue, earnings = model.start_sectors(p)
    assert revenue[L.CLOUDS] == pytest.approx(CARRIERS_DATA_REVENUE, rel=0.01)
    assert revenue[L.LABS] == pytest.approx(ONLINE_REVENUE, rel=0.01)
    assert p[model.P_PRICE0] == pytest.approx(tok.spend / tok.tokens)  # $ per MB
    # the average rent lies between cost and the 2 Mbit/s line's (DS3s cost less per kbit/s)
    assert c.unit_cost < c.rent < LEASED_LINE_1995
    assert earnings[L.CLOUDS] > 0.0 and earnings[L.VENDORS] > 0.0
    # Internet traffic is a small part of the leased capacity; its load factor under 100%:
    # bytes per kbit/s-month below the 329 MB a kbit/s carries in a month at full load
    tau0 = tok.tokens / (tok.inference_share * c.capacity * c.utilization)
    assert tok.inference_share < 0.05 and tau0 < 2.63e6 * 1e3 / 8 / 1e6
    assert p[model.P_POWER_USED0] <= cfg.start.power.energised  # power never the limit
    assert -5.0 < p[model.P_GROWTH0] < 5.0


def test_the_story_does_not_break_at_the_start():
    """The market's story must lie within the disappointment threshold of the trailing
    growth of end-user revenue, or the narrative breaks within months of 1995-01, which the
    NASDAQ's +40% of 1995 rules out (REFERENCE.md A1); the priors keep it there too."""
    cfg = schema(START, SCENARIO, "priors=telecom_1995")
    s, trailing = cfg.model.sentiment, cfg.start.labs.revenue_growth
    # a month disappoints when growth falls short of the story by more than the threshold
    assert s.narrative_growth - trailing < s.disappointment_threshold
    assert cfg.priors["narrative_growth"]["high"] - trailing <= s.disappointment_threshold + 1e-9


def test_telecom_1995_sets_only_assumptions_and_runs_finite_from_1995q1():
    keys = _yaml("scenario", "telecom_1995")
    assert set(keys) <= {"scenario_name", "model"}
    cfg = schema(START, SCENARIO, "priors=telecom_1995")
    assert (cfg.start_name, cfg.scenario_name, cfg.model.horizon_months) == (
        "1995q1", "telecom_1995", 155)
    assert cfg.start == schema(START).start
    raw = run_small(START, SCENARIO, "priors=telecom_1995", n_paths=200)
    assert raw.horizon == 155 and raw.nonfinite_paths == 0
    assert np.isfinite(raw.trajectories[:, :, :L.N_HIST]).all()


def test_the_runup_targets_hold_data_to_1999_only_and_the_nasdaqs_closes():
    cfg = schema(START, SCENARIO, "priors=telecom_1995", "targets=runup_1995_1999")
    targets = check_targets(cfg)
    assert max(d for t in targets for d in t.dates) == "1999-12"
    months, closes = backtest.read_nasdaq()
    csv = dict(zip(months.astype(str), closes, strict=True))
    trend = next(t for t in targets if t.name == "nasdaq_trend")
    assert len(trend.dates) == 60
    assert [csv[d] for d in trend.dates] == pytest.approx(trend.values)
    runup = next(t for t in targets if t.name == "nasdaq_runup")
    assert runup.observed == pytest.approx(np.log(4069.31 / 755.20))


def test_episodes_of_a_hand_built_series():
    """Peak 4 at month 2, trough 1 at month 4 (-75% in 2 months), back above 4 at month 6;
    a rising series never falls; a later equal high is not a new peak."""
    ep = backtest.episodes(np.array([[1.0, 2.0, 4.0, 3.0, 1.0, 2.0, 4.5],
                                     [1.0, 1.5, 2.0, 3.0, 3.5, 4.0, 5.0],
                                     [2.0, 4.0, 2.0, 4.0, 3.0, 3.0, 3.5]]))
    assert ep.peak.tolist() == [2, 0, 1] and ep.trough.tolist() == [4, 0, 2]
    assert ep.drawdown == pytest.approx([0.75, 0.0, 0.5])
    assert ep.to_trough.tolist() == [2, 0, 1]
    assert ep.runup == pytest.approx([4.0, 1.0, 2.0])
    assert ep.recovered.tolist() == [True, True, True]
    assert ep.recovery[0] == 6 and ep.recovery[2] == 3
    assert not backtest.episodes(np.array([3.0, 1.0, 2.0])).recovered[0]
    with pytest.raises(ValueError, match="values"):
        backtest.episodes(np.array([1.0, 0.0]))


def _tiny_run(paths: np.ndarray, rent: np.ndarray) -> xr.Dataset:
    """A results.nc-like dataset: sampled index paths and rent quantiles from 1995-01."""
    t = np.arange(paths.shape[1])
    dates = (np.datetime64("1995-01") + t).astype("datetime64[ns]")
    quantiles = [0.05, 0.25, 0.5, 0.75, 0.95]
    return xr.Dataset(
        {"sample_index": (("sample", "time"), paths),
         "rental_price": (("quantile", "time"), np.outer([0.5, 0.8, 1.0, 1.2, 2.0], rent)),
         "index": (("quantile", "time"), np.outer([0.5, 0.8, 1.0, 1.2, 2.0], paths[0])),
         "initial_value": (("observable",), [rent[0], paths[0, 0]])},
        coords={"time": t, "date": ("time", dates), "quantile": quantiles,
                "observable": ["rental_price", "index"]},
        attrs={"total_paths": 1000, "overrides": "tiny"})


def test_the_backtest_table_by_hand():
    """Two sampled paths against a known 'NASDAQ': the table's figures are those computed by
    hand, with the median and band over the paths."""
    months = np.datetime64("1995-01") + np.arange(80)
    nasdaq = np.concatenate([np.linspace(1, 6, 62), np.linspace(6, 1.5, 18)])  # peak 1999-02
    up = np.concatenate([np.linspace(1, 4, 41), np.full(39, 2.0)])   # peak 1998-05, -50%
    flat = np.full(80, 1.0)                                         # never falls
    rent = np.geomspace(5.0, 0.5, 80)                               # -90% by 2001-07
    rows = backtest.table_rows(months, nasdaq, {"tiny": _tiny_run(np.stack([up, flat]), rent)})
    table = {row[0]: row[1:] for row in rows[1:]}
    assert rows[0] == ("figure", "NASDAQ / leased line", "tiny")
    assert table["run-up to the peak (peak / 1995-01)"][0] == "6.00x"
    assert table["peak (month-end)"][0] == "2000-02"
    assert table["largest drawdown (month-end)"][0] == "75.0%"
    assert table["months from peak to trough"][0] == "18"
    # the band over the two paths: inverted-CDF quantiles take the lower one at 5% and 50%
    assert table["run-up to the peak (peak / 1995-01)"][1] == "1.00x [1.00x, 4.00x]"
    assert table["largest drawdown (month-end)"][1] == "0% [0%, 50%]"
    assert table["peak (month-end)"][1] == "1995-01 [1995-01, 1998-05]"
    assert table["peak regained by 2001-08"][1] == "50% of paths"
    assert table["paths with a drawdown at least the NASDAQ's"][1] == "0.0% of paths"
    rent_2001 = rent[int(np.datetime64("2001-06") - np.datetime64("1995-01"))] / rent[0]
    assert table["leased-capacity price 2001-06 / 1995-01"][1] == (
        f"{rent_2001:.3f} [{0.5 * rent_2001:.3f}, {2 * rent_2001:.3f}]")
    text = backtest.report(months, nasdaq, {"tiny": _tiny_run(np.stack([up, flat]), rent)})
    assert text.count("\n|") == len(rows) + 1  # header, rule and one line a row
    with pytest.raises(ValueError, match="1995q1"):
        backtest.table_rows(months + 12, nasdaq, {"tiny": _tiny_run(np.stack([up]), rent)})


def test_columns_are_named_for_the_runs_they_show():
    """A run and its calibrated counterpart are "prior" and "calibrated on 1995-1999"; a
    calibration's re-runs (every path's index kept) go by their labels, so the kept paths'
    column does not pass for new draws from the posterior."""
    run = _tiny_run(np.ones((2, 80)), np.ones(80))
    assert list(backtest.named_runs([run, run])) == ["prior", "calibrated on 1995-1999"]
    kept, other = (run.assign(index_by_path=run["sample_index"]).assign_attrs(label=label)
                   for label in ("kept paths from 2000-01", "unconditioned paths from 2000-01"))
    assert list(backtest.named_runs([other, kept])) == [
        "unconditioned paths from 2000-01", "kept paths from 2000-01"]
    assert list(backtest.named_runs([kept, kept])) == ["prior", "calibrated on 1995-1999"]
    months = np.datetime64("1995-01") + np.arange(80)
    rows = backtest.table_rows(months, np.ones(80), backtest.named_runs([other, kept]))
    assert rows[-1] == ("paths", "", "all 2 paths", "all 2 paths")


def test_the_nasdaq_series_matches_reference_a1():
    """REFERENCE.md A1: month-end peak 2000-02 at 4,696.69, trough 2002-09 at 1,172.06,
    -75.0% over 31 months, the peak not regained by 2007-12 (only in 2014-11)."""
    months, closes = backtest.read_nasdaq()
    assert (str(months[0]), str(months[-1]), len(months)) == ("1995-01", "2007-12", 156)
    ep = backtest.episodes(closes)
    peak, trough = int(ep.peak[0]), int(ep.trough[0])
    assert (str(months[peak]), closes[peak]) == ("2000-02", 4696.69)
    assert (str(months[trough]), closes[trough]) == ("2002-09", 1172.06)
    assert round(float(ep.drawdown[0]), 3) == 0.750 and int(ep.to_trough[0]) == 31
    assert not ep.recovered[0]
    assert closes[0] == 755.20 and closes[months.astype(str).tolist().index("1999-12")] == 4069.31
