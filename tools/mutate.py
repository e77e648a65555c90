"""Break each mechanism of the model on purpose and see which test notices (issue 10).

A scripted list of hand mutations, at least one per mechanism of docs/model.md: each replaces
one exact piece of sim/equations.py, sim/model.py or sim/params.py in a copy of the project,
then runs the mechanism tests (tests/test_model.py, NumPy only, seconds) and, if they all
pass, the dated events' tests and the economics and scenario tests (tests/test_events.py,
tests/test_economics.py, tests/test_scenarios.py, compiled).
A mutant is killed when a test fails. Usage:

    .venv/bin/python tools/mutate.py                  # every mutation, 2 at a time
    .venv/bin/python tools/mutate.py --only payout    # the mutations whose id contains 'payout'
    .venv/bin/python tools/mutate.py --only sale_,rate_shock   # ... one of these

Writes tools/mutations.json (--only updates its own entries there, e.g. after a new test
kills a survivor) and prints the markdown table of docs/model.md (kill rate per mechanism).
Slow (a compile per surviving mutant): not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQ, MODEL, PARAMS = "sim/equations.py", "sim/model.py", "sim/params.py"
STAGES = (["tests/test_model.py"],
          ["tests/test_path_priors.py", "tests/test_sensitivity.py", "tests/test_events.py",
           "tests/test_economics.py", "tests/test_scenarios.py", "-m", "not slow"])

# mechanisms whose tests live elsewhere: their mutants run these stages instead
OWN_STAGES = {"calibration": (["tests/test_calibration.py", "tests/test_forecast.py",
                               "tests/test_abc.py"],)}

# (id, mechanism, file, exact original, replacement)
MUTATIONS = [
    ("ito_sign", "exogenous progress", EQ,
     "diffusion = (growth - 0.5 * vol * vol) * DT", "diffusion = (growth + 0.5 * vol * vol) * DT"),
    ("jumps_ignore_count", "exogenous progress", EQ,
     "jumps * jump_mean + np.sqrt(jumps)", "jump_mean + np.sqrt(jumps)"),
    ("cost_drift_sign", "exogenous progress", EQ,
     "return log_cost + (growth - 0.5 * vol * vol) * DT",
     "return log_cost - (growth - 0.5 * vol * vol) * DT"),
    ("markup_to_zero", "exogenous progress", EQ,
     "return floor + (margin - floor) * retention", "return margin * retention"),
    ("bass_no_saturation", "exogenous progress", EQ,
     "increment = (p + q * adoption) * (1.0 - adoption) * DT",
     "increment = (p + q * adoption) * DT"),
    ("rent_linear_in_utilization", "capacity and prices", EQ,
     "return floor + (cap - floor) * power(util, curvature)",
     "return floor + (cap - floor) * util"),
    ("no_fire_sale_discount", "capacity and prices", EQ,
     "return cost * markup * (1.0 - fire_discount * np.minimum(overhang, 1.0))",
     "return cost * markup"),
    ("rent_not_sticky", "capacity and prices", EQ,
     "return previous * power(clearing / previous, adjustment)", "return clearing"),
    ("token_price_no_markup", "capacity and prices", EQ,
     "return rental / tau * (1.0 + margin)", "return rental / tau"),
    ("no_depreciation", "capacity and prices", MODEL,
     "capacity = x[X_CAPACITY, i] * (1.0 - par(q, P_DEPRECIATION, i) * DT) + tmp[T_ARRIVALS, i]",
     "capacity = x[X_CAPACITY, i] + tmp[T_ARRIVALS, i]"),
    ("defaulted_capacity_not_dumped", "capacity and prices", MODEL,
     "x[X_OVERHANG, i] = tmp[T_OVERHANG, i] + tmp[T_LOST, i]",
     "x[X_OVERHANG, i] = tmp[T_OVERHANG, i]"),
    ("jevons_sign", "demand", EQ,
     "power(price / price0, -elasticity)", "power(price / price0, elasticity)"),
    ("no_rationing", "demand", MODEL,
     "served = np.minimum(wanted, tmp[T_POWERED, i] * obs[O_CAPACITY, i])",
     "served = wanted"),
    ("spend_not_rationed", "demand", MODEL,
     "obs[O_SPEND, i] = price * tokens * share", "obs[O_SPEND, i] = price * tokens"),
    ("budgets_never_mature", "labs", EQ,
     "return level0 * exp(growth_end * years + excess)", "return level0 * exp(growth0 * years)"),
    ("runway_ignores_parent", "labs", EQ,
     "covered = (cash + runway_target * np.maximum(support, 0.0))",
     "covered = (cash + 0.0 * np.maximum(support, 0.0))"),
    ("rounds_ignore_investors", "labs", EQ,
     "return where(short, size * gate, 0.0)", "return where(short, size, 0.0)"),
    ("rounds_unbounded_by_value", "labs", EQ,
     "size = np.minimum(round_months * burn, dilution * np.maximum(value, 0.0))",
     "size = round_months * burn"),
    ("dead_labs_keep_training", "labs", MODEL,
     "live = x[r + F_ALIVE, i] * planned", "live = planned"),
    ("funding_ignores_growth", "labs", MODEL,
     "x[X_SENTIMENT, i] + beta * (x[X_GROWTH, i] - par(q, P_LABS_GROWTH0, i)),",
     "x[X_SENTIMENT, i],"),
    ("parents_pay_whatever_is_committed", "labs", MODEL,
     "flow = operating - training + parent_support(support, training - operating)",
     "flow = operating - training + support"),
    ("labs_pay_no_staff", "labs", MODEL,
     "operating = w * obs[O_SPEND, i] - inference - x[r + F_PREMIUM, i] - kept * fixed",
     "operating = w * obs[O_SPEND, i] - inference - x[r + F_PREMIUM, i]"),
    ("labs_get_free_inference", "labs", MODEL,
     "inference = w * tmp[T_INFERENCE, i] * obs[O_RENTAL_PRICE, i]", "inference = 0.0 * w"),
    ("growth_expectation_not_annual", "orders and capex", EQ,
     "return previous + weight * (log(value / previous_value) / DT - previous)",
     "return previous + weight * (log(value / previous_value) - previous)"),
    ("orders_ignore_pipeline", "orders and capex", EQ,
     "- capacity - pipeline", "- capacity"),
    ("no_maintenance_floor", "orders and capex", EQ,
     "return np.maximum(maintenance * depreciation * DT * capacity, need + gap / adjust_months)",
     "return need + gap / adjust_months"),
    ("no_optimism", "orders and capex", EQ,
     "return optimism * sentiment - caution", "return -caution"),
    ("caution_ignored", "caution after a bust", EQ,
     "return optimism * sentiment - caution", "return optimism * sentiment"),
    ("caution_never_fades", "caution after a bust", EQ,
     "return caution * keep + where(breaks, jump, 0.0)",
     "return caution + where(breaks, jump, 0.0)"),
    ("caution_grows_while_broken", "caution after a bust", MODEL,
     "caution_step(x[X_CAUTION, i], breaks,", "caution_step(x[X_CAUTION, i], broken > 0.0,"),
    ("power_plan_ignores_caution", "caution after a bust", MODEL,
     "target = forecast_capacity(obs[O_COMPUTE_DEMAND, i], tmp[T_GROWTH_EXP, i], tilt,",
     "target = forecast_capacity(obs[O_COMPUTE_DEMAND, i], tmp[T_GROWTH_EXP, i], "
     "tilt + x[X_CAUTION, i],"),
    ("capex_per_unit_fixed", "orders and capex", EQ,
     "return unit_cost0 * cost / cost0", "return unit_cost0"),
    ("capex_not_limited_by_funds", "orders and capex", MODEL,
     "capex = x[r + F_ALIVE, i] * np.minimum(w * tmp[T_WANTED, i] * tmp[T_UNIT_CAPEX, i], funds)",
     "capex = x[r + F_ALIVE, i] * w * tmp[T_WANTED, i] * tmp[T_UNIT_CAPEX, i]"),
    ("labs_pay_no_premium", "compute contracts", MODEL,
     "operating = w * obs[O_SPEND, i] - inference - x[r + F_PREMIUM, i] - kept * fixed",
     "operating = w * obs[O_SPEND, i] - inference - kept * fixed"),
    ("clouds_collect_no_premium", "compute contracts", MODEL,
     "tmp[T_RENT_REVENUE, i] = tmp[T_RENT_REVENUE, i] + tmp[T_PREMIUM, i]",
     "tmp[T_RENT_REVENUE, i] = tmp[T_RENT_REVENUE, i]"),
    ("pay_only_what_is_used", "compute contracts", EQ,
     "return value - np.minimum(use, rent * volume)", "return value - rent * volume"),
    ("contracts_never_run_off", "compute contracts", MODEL,
     "p[P_CONTRACT_KEEP] = 1.0 - 1.0 / p[P_CONTRACT_TERM]", "p[P_CONTRACT_KEEP] = 1.0"),
    ("no_termination_fee", "compute contracts", MODEL,
     "fee = par(q, P_TERMINATION_FEE, i) * ended * par(q, P_CONTRACT_TERM, i) * value",
     "fee = 0.0 * value"),
    ("distressed_labs_keep_signing", "compute contracts", MODEL,
     "signed = x[r + F_ALIVE, i] * (1.0 - short) * contracts_signed(",
     "signed = x[r + F_ALIVE, i] * contracts_signed("),
    ("new_contracts_at_the_start_rent", "compute contracts", MODEL,
     "x[r + F_CONTRACT_VALUE, i] = keep * value + signed * rent",
     "x[r + F_CONTRACT_VALUE, i] = keep * value + signed * q[P_R0]"),
    ("dead_labs_keep_contracts", "compute contracts", MODEL,
     "value, volume = alive * x[r + F_CONTRACT_VALUE, i], alive * x[r + F_CONTRACT, i]",
     "value, volume = x[r + F_CONTRACT_VALUE, i], x[r + F_CONTRACT, i]"),
    ("termination_event_ignored", "dated events", MODEL,
     "ended = ended + par(q, P_TERMINATION, i) * (1.0 - ended)  # exact when there is none",
     "ended = ended + 0.0 * (1.0 - ended)"),
    ("power_shortfall_ignored", "dated events", MODEL,
     "x[X_POWER, i] = np.maximum(x[X_POWER, i] + energised - par(q, P_POWER_LOSS, i), 0.0)",
     "x[X_POWER, i] = np.maximum(x[X_POWER, i] + energised, 0.0)"),
    ("no_depreciation_in_earnings", "hardware vintages", MODEL,
     """tmp[T_EARN + CLOUDS, i] = tmp[T_RENT_REVENUE, i] - tmp[T_OPEX, i] - tmp[
            T_DEPRECIATION, i]""",
     "tmp[T_EARN + CLOUDS, i] = tmp[T_RENT_REVENUE, i] - tmp[T_OPEX, i]"),
    ("depreciation_below_zero_book", "hardware vintages", EQ,
     "return np.minimum(basis / life_months, book)", "return basis / life_months"),
    ("never_impaired", "hardware vintages", MODEL,
     "x[X_BOOK + s, i] = book - impaired", "x[X_BOOK + s, i] = book"),
    ("recoverable_ignores_remaining_life", "hardware vintages", EQ,
     "return 12.0 * capacity * np.maximum(margin, 0.0) * remaining_years",
     "return 12.0 * capacity * np.maximum(margin, 0.0) * 6.0"),
    ("arrivals_not_booked", "hardware vintages", MODEL,
     "book = x[X_BOOK + s, i] - depreciation + arriving * tmp[T_ARRIVAL_VALUE, i]",
     "book = x[X_BOOK + s, i] - depreciation"),
    ("old_cohort_dropped_at_new_year", "hardware vintages", MODEL,
     "x[row + into, i] = x[row + into, i] + x[row + new, i]",
     "x[row + into, i] = x[row + into, i]"),
    ("cohort_cost_ignores_trend", "hardware vintages", MODEL,
     "basis = capacity * p[P_UNIT_CAPEX0] * np.exp(-p[P_COST_GROWTH] * age)",
     "basis = capacity * p[P_UNIT_CAPEX0]"),
    ("no_power_cap", "power", MODEL,
     "tmp[T_WANTED, i] = np.minimum(wanted, headroom / par(q, P_POWER_NEW, i))",
     "tmp[T_WANTED, i] = wanted"),
    ("queue_ignores_build_rate", "power", EQ,
     "return np.minimum(queue / queue_months, build_rate)", "return queue / queue_months"),
    ("unpowered_capacity_runs", "power", MODEL,
     "tmp[T_POWERED, i] = powered_share(x[X_POWER, i], x[X_POWER_USED, i])",
     "tmp[T_POWERED, i] = 1.0"),
    ("retirements_keep_their_power", "power", MODEL,
     "x[X_POWER_USED, i] = x[X_POWER_USED, i] * (1.0 - par(q, P_DEPRECIATION, i) * DT) + drawn",
     "x[X_POWER_USED, i] = x[X_POWER_USED, i] + drawn"),
    ("no_power_bill", "power", EQ,
     "+ price * power_used * HOURS_PER_MONTH / 1000.0", "+ 0.0 * power_used"),
    ("requests_never_withdrawn", "power", MODEL,
     "x[X_POWER_QUEUE, i] = np.maximum(x[X_POWER_QUEUE, i] + requested, 0.0)",
     "x[X_POWER_QUEUE, i] = x[X_POWER_QUEUE, i] + np.maximum(requested, 0.0)"),
    ("headroom_ignores_order_book", "power", EQ,
     "- retained * used - pipe_power, 0.0)", "- retained * used, 0.0)"),
    ("new_hardware_not_frugal", "power", MODEL,
     "exponential_trend(p[P_POWER_PER_UNIT0], -p[P_POWER_GAIN], t),\n"
     "            exponential_trend(p[P_POWER_PER_UNIT0], -p[P_POWER_GAIN], t - build_lag(p)),",
     "p[P_POWER_PER_UNIT0],\n            p[P_POWER_PER_UNIT0],"),
    ("requests_ignore_expected_growth", "power", EQ,
     "new = per_unit * np.maximum(target - retained * capacity - pipeline, 0.0)",
     "new = 0.0 * target"),
    ("borrowing_ignores_credit", "orders and capex", EQ,
     "return np.minimum(own / np.maximum(1.0 - debt_share, 1e-12), own + room)",
     "return own / np.maximum(1.0 - debt_share, 1e-12)"),
    ("no_target_leverage", "debt that bites", MODEL,
     "funds = capex_funds(ebitda - committed, spare, np.minimum(room, headroom),",
     "funds = capex_funds(ebitda - committed, spare, room,"),
    ("gate_inverted", "debt that bites", EQ,
     "return 1.0 / (1.0 + exp(-(sentiment - center) / width))",
     "return 1.0 / (1.0 + exp((sentiment - center) / width))"),
    ("spread_ignores_leverage", "debt that bites", EQ,
     "* (1.0 + leverage_beta * capped)", "* (1.0 + 0.0 * capped)"),
    ("spread_sentiment_sign", "debt that bites", EQ,
     "return exp(-sensitivity * sentiment)", "return exp(sensitivity * sentiment)"),
    ("losses_count_as_low_leverage", "debt that bites", EQ,
     "debt / np.maximum(annual, 1e-12), 10.0)", "debt / np.maximum(annual, 1e-12), 0.0)"),
    ("credit_ignores_gate", "debt that bites", EQ,
     "return np.maximum(limit * gate - debt, 0.0)", "return np.maximum(limit - debt, 0.0)"),
    ("no_collateral", "debt that bites", EQ,
     "limit = multiple * np.maximum(12.0 * ebitda_month, 0.0) + collateral",
     "limit = multiple * np.maximum(12.0 * ebitda_month, 0.0)"),
    ("no_interest", "debt that bites", MODEL,
     "interest = borrowing_rate(q, mood, distress, debt, ebitda, i) * DT * (",
     "interest = 0.0 * debt * ("),
    ("no_rollover", "debt that bites", MODEL,
     "borrowed = np.minimum(repaid + borrow_wanted, room)",
     "borrowed = np.minimum(borrow_wanted, room)"),
    ("never_default", "defaults and shares", MODEL,
     "fails = (alive > 0.0) & (new_cash + room - borrowed < 0.0)",
     "fails = (alive > 0.0) & (new_cash + room - borrowed < -1e12)"),
    ("default_month_not_recorded", "defaults and shares", MODEL,
     "x[r + F_DEFAULT, i] = where(fails, 1.0 * t, x[r + F_DEFAULT, i])",
     "x[r + F_DEFAULT, i] = where(fails, 0.0, x[r + F_DEFAULT, i])"),
    ("survivors_keep_their_shares", "defaults and shares", EQ,
     "alive * share / np.maximum(kept, 1e-300)", "alive * share"),
    ("no_payout", "valuation and payout", EQ,
     "return rate * np.maximum(cash - buffer, 0.0)", "return 0.0 * cash"),
    ("clouds_pay_no_circular", "circular financing", MODEL,
     "outlay = capex + invested", "outlay = capex"),
    ("vendors_pay_no_circular", "circular financing", MODEL,
     "outlay = invested + w * tmp[T_VENDOR_LOSS, i]", "outlay = w * tmp[T_VENDOR_LOSS, i]"),
    ("circular_ignores_gate", "circular financing", MODEL,
     "circular = theta * tmp[T_GATE, i] * live", "circular = theta * live"),
    ("sentiment_ignores_growth", "sentiment and narrative", EQ,
     "drive = (a_growth * growth_surprise + a_util * util_gap) * DT",
     "drive = (a_util * util_gap) * DT"),
    ("break_lifts_sentiment", "sentiment and narrative", MODEL,
     "x[X_SENTIMENT, i] = s - where(breaks, par(q, P_BREAK_JUMP, i), 0.0)",
     "x[X_SENTIMENT, i] = s + where(breaks, par(q, P_BREAK_JUMP, i), 0.0)"),
    ("no_bust_regime", "sentiment and narrative", MODEL,
     "broken * par(q, P_BUST_MEAN, i)", "0.0 * par(q, P_BUST_MEAN, i)"),
    ("story_never_adapts", "sentiment and narrative", MODEL,
     "x[X_NARRATIVE, i] = narrative + par(q, P_NARRATIVE_WEIGHT, i) * surprise",
     "x[X_NARRATIVE, i] = narrative"),
    ("mood_surprise_sign", "sector moods and run-rates", EQ,
     "persistence * mood + sensitivity * surprise * DT",
     "persistence * mood - sensitivity * surprise * DT"),
    ("run_rate_not_annual", "sector moods and run-rates", EQ,
     "previous + weight * (12.0 * monthly - previous)", "previous + weight * (monthly - previous)"),
    ("growth_expectations_frozen", "sector moods and run-rates", MODEL,
     "x[X_GROWTH + k, i] = x[X_GROWTH + k, i] + par(q, P_GROWTH_WEIGHT, i) * surprise",
     "x[X_GROWTH + k, i] = x[X_GROWTH + k, i]"),
    ("valuation_ignores_margin", "valuation and payout", EQ,
     "np.maximum(growth + margin, floor)", "np.maximum(growth, floor)"),
    ("mood_lowers_value", "valuation and payout", EQ,
     "* exp(mood)", "* exp(-mood)"),
    ("unlimited_liability", "valuation and payout", EQ,
     "alive * np.maximum(enterprise + cash - debt, 0.0)", "alive * (enterprise + cash - debt)"),
    ("no_value_weights", "valuation and payout", MODEL,
     "weight * x[r + F_SHARE, i] * tmp[T_EV, i]", "x[r + F_SHARE, i] * tmp[T_EV, i]"),
    ("no_sector_mood_in_value", "valuation and payout", MODEL,
     "mood = par(q, P_MULT_SENT_BETA, i) * (x[X_SENTIMENT, i] + x[X_MOOD + k, i])",
     "mood = par(q, P_MULT_SENT_BETA, i) * x[X_SENTIMENT, i]"),
    ("vendor_costs_ignored", "valuation and payout", MODEL,
     "return p[P_VENDOR_MARGIN] - p[P_VENDOR_FIXED] / (",
     "return p[P_VENDOR_MARGIN] + 0.0 * ("),
    ("no_recovery_netting", "contagion", MODEL,
     "lost = (1.0 - par(q, P_RECOVERY, i)) * tmp[T_LOST_DEBT, i]", "lost = tmp[T_LOST_DEBT, i]"),
    ("distress_never_fades", "contagion", MODEL,
     "x[X_DISTRESS + sector, i] = distress(x[X_DISTRESS + sector, i], par(q, P_DISTRESS_KEEP, i),",
     "x[X_DISTRESS + sector, i] = distress(x[X_DISTRESS + sector, i], 1.0,"),
    ("distress_share_of_nothing", "contagion", EQ,
     "return keep * previous + lost / np.maximum(debt, 1e-12)", "return keep * previous + lost"),
    ("spread_ignores_distress", "contagion", MODEL,
     "        1.0 + par(q, P_SPREAD_JUMP, i) * distress)", "        1.0 + 0.0 * distress)"),
    ("lost_debt_not_counted", "contagion", MODEL,
     "tmp[T_LOST_DEBT, i] = tmp[T_LOST_DEBT, i] + where(fails, x[r + F_DEBT, i], 0.0)",
     "tmp[T_LOST_DEBT, i] = tmp[T_LOST_DEBT, i] + 0.0 * x[r + F_DEBT, i]"),
    ("vendors_lose_nothing", "contagion", MODEL,
     "outlay = invested + w * tmp[T_VENDOR_LOSS, i]", "outlay = invested + 0.0 * w"),
    ("labs_owe_vendors", "contagion", MODEL,
     "vendors_finance = 1.0 if sector == CLOUDS else 0.0",
     "vendors_finance = 1.0"),
    ("stakes_not_marked", "circular stakes", MODEL,
     "x[r + F_CASH, i] + x[r + F_STAKE, i] * obs[O_EQUITY + LABS, i],", "x[r + F_CASH, i],"),
    ("stake_bought_pre_money", "circular stakes", EQ,
     "return invested / np.maximum(value + invested, 1e-12)",
     "return invested / np.maximum(value, 1e-12)"),
    ("dead_investors_keep_stakes", "circular stakes", MODEL,
     "x[r + F_STAKE, i] = where(fails, 0.0, x[r + F_STAKE, i])",
     "x[r + F_STAKE, i] = x[r + F_STAKE, i]"),
    ("dead_investors_buy", "circular stakes", MODEL,
     "x[r + F_STAKE, i] + x[r + F_ALIVE, i] * stake_bought(", "x[r + F_STAKE, i] + stake_bought("),
    ("stakes_in_enterprise_value", "circular stakes", MODEL,
     "- firm_value(p, FP_STAKE, sector, j) + firm_value(p, FP_DEBT, sector, j)",
     "+ firm_value(p, FP_DEBT, sector, j)"),
    ("no_start_stakes", "circular stakes", MODEL,
     "v[r + F_STAKE] = firm_value(p, FP_STAKE, k, j) / labs_value",
     "v[r + F_STAKE] = 0.0 * labs_value"),
    ("draws_ignored", "priors per path", MODEL,
     "own[base[k]] = draws[k, i]", "own[base[k]] = own[base[k]]"),
    ("drawn_trends_stand_still", "priors per path", MODEL,
     "q[T_PARAMS + P_BUILD_NOW, i] = par(q, P_BUILD_NOW, i) * par(q, P_BUILD_STEP, i)",
     "q[T_PARAMS + P_BUILD_NOW, i] = par(q, P_BUILD_NOW, i)"),
    ("drawn_start_not_written", "priors per path", MODEL,
     "        if column[r] != start[r]:\n", "        if column[r] != column[r]:\n"),
    ("start_not_derived_per_path", "priors per path", MODEL,
     "initial_conditions(own)  # sets every derived slot", "own = own  # sets every derived slot"),
    ("replicates_share_any_draw", "priors per path", MODEL,
     "        if draws[k, i] != draws[k, i - 1]:\n            return False",
     "        if draws[k, i] != draws[k, i - 1]:\n            return True"),
    ("lanes_read_the_first_path", "priors per path", "sim/vectorize.py",
     "return lambda q, k, i: q[T_PARAMS + k, i]", "return lambda q, k, i: q[T_PARAMS + k, 0]"),
    ("design_rows_own_shocks", "Saltelli design", "sim/rng.py",
     "return np.uint64(2) * (path // p) + (path % p + np.uint64(2)) // p", "return path"),
    ("design_b_rows_take_a_shocks", "Saltelli design", "sim/rng.py",
     "(path % p + np.uint64(2)) // p", "np.uint64(0) * path"),
    ("design_ab_rows_not_swapped", "Saltelli design", "sim/priors.py",
     "out[swap, block[swap] - 1] = b[swap, block[swap] - 1]",
     "out[swap, block[swap] - 1] = a[swap, block[swap] - 1]"),
    ("variance_split_keeps_the_noise_in_the_means", "Saltelli design", "sim/sensitivity.py",
     "parameters = max(means.var(ddof=1) - shocks / replicates, 0.0)",
     "parameters = max(means.var(ddof=1), 0.0)"),
    ("jansen_without_the_half", "Saltelli design", "sim/sensitivity.py",
     "return means[..., :k] / var, 0.5 * means[..., k:2 * k] / var",
     "return means[..., :k] / var, means[..., k:2 * k] / var"),
    ("snapshot_a_month_late", "calibration", "sim/kernel.py",
     "        _snapshot(t, obs, snap_obs, snap_month, snap_out, offset, n)",
     "        _snapshot(t - 1, obs, snap_obs, snap_month, snap_out, offset, n)"),
    ("subset_runs_consecutive_paths", "calibration", "sim/kernel.py",
     "paths[i] = path_ids[offset + min(i, n - 1)]", "paths[i] = path_ids[0] + offset + i"),
    ("log_slope_per_month", "calibration", "sim/targets.py",
     "years = (months - months.mean()) / 12.0", "years = months - months.mean()"),
    ("tolerance_box_ignored", "calibration", "sim/calibration.py",
     "    candidates = inside.all(axis=1)\n", "    candidates = inside.any(axis=1) | True\n"),
    ("adjusted_on_the_bounded_scale", "calibration", "sim/calibration.py",
     "    theta = _bounded(fit.theta, priors)", "    theta = fit.theta"),
    ("empirical_priors_drawn_independently", "calibration", "sim/priors.py",
     "        u[joint] = u[joint[0]]", "        u[joint] = u[joint]"),
    ("forecast_keeps_the_first_paths", "calibration", "sim/calibrate.py",
     'chosen = {"forecast": forecast.evenly(kept, n),',
     'chosen = {"forecast": sims.paths[:len(forecast.evenly(kept, n))],'),
    ("forecast_drawdown_without_running_peak", "calibration", "sim/forecast.py",
     "peak = np.maximum.accumulate(index, axis=1)", "peak = index[:, :1] + 0 * index"),
    ("survival_counts_firms_dead_before", "calibration", "sim/forecast.py",
     "alive = (default_month < 0) | (default_month > month)", "alive = default_month > -2"),
    ("events_not_read_each_month", "dated events", MODEL,
     "return p[event_index(series, min(t, horizon), n_firms(p), horizon)]",
     "return p[event_index(series, 0, n_firms(p), horizon)]"),
    ("efficiency_jump_ignored", "dated events", MODEL,
     "        ) + par(q, P_EFFICIENCY_SHOCK, i)", "        )"),
    ("rate_shock_ignored", "dated events", MODEL,
     "return par(q, P_RISK_FREE, i) + par(q, P_RATE_SHOCK, i) + widening * (",
     "return par(q, P_RISK_FREE, i) + widening * ("),
    ("rate_shock_never_ends", "dated events", PARAMS,
     "end = horizon + 1 if event.months == 0 else t + event.months", "end = horizon + 1"),
    ("freeze_leaves_credit_open", "dated events", MODEL,
     "tmp[T_GATE, i] = gate * par(q, P_GATE_SCALE, i)", "tmp[T_GATE, i] = gate"),
    ("freeze_leaves_rounds_open", "dated events", MODEL,
     ") * par(q, P_GATE_SCALE, i)  # shut in a funding freeze", ")"),
    ("sale_all_at_once", "dated events", PARAMS,
     "per_month = event.share * cfg.start.clouds.share[j] / event.months",
     "per_month = event.share * cfg.start.clouds.share[j]"),
    ("sale_not_dumped", "dated events", MODEL,
     "tmp[T_LOST, i] = tmp[T_LOST, i] + sold", "tmp[T_LOST, i] = tmp[T_LOST, i]"),
    ("seller_keeps_its_share", "dated events", MODEL,
     "x[r + F_SHARE, i] = x[r + F_SHARE, i] - sold", "x[r + F_SHARE, i] = x[r + F_SHARE, i]"),
    ("sale_pays_nothing", "dated events", MODEL,
     "ebitda - outlay + tmp[T_PROCEEDS, i]", "ebitda - outlay"),
    ("sale_at_replacement_value", "dated events", EQ,
     "return sold * capacity * unit_capex * 0.5 * (1.0 - fire_discount)",
     "return sold * capacity * unit_capex"),
    ("dead_holders_sell", "dated events", MODEL,
     "sold = x[r + F_ALIVE, i] * np.minimum(on_sale, x[r + F_SHARE, i])",
     "sold = np.minimum(on_sale, x[r + F_SHARE, i])"),
    ("order_book_root_missed", "the start", MODEL,
     "        growth -= step_size\n", "        growth += step_size\n"),
    ("multiples_ignore_margin", "the start", MODEL,
     "growth_margin = max(p[P_GROWTH_START[k]] + earnings[k] / revenue[k], p[P_VALUE_FLOOR])",
     "growth_margin = max(p[P_GROWTH_START[k]], p[P_VALUE_FLOOR])"),
]


def project_copy(tmp: Path) -> Path:
    """What the tests need of the project, copied into tmp."""
    for part in ("sim", "tests", "conf", "docs", "tools"):
        shutil.copytree(ROOT / part, tmp / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def mutated_copy(mutation: tuple, tmp: Path) -> Path:
    """A copy of the project with one mutation applied (the original must occur once)."""
    _, _, path, old, new = mutation
    project_copy(tmp)
    source = (tmp / path).read_text()
    if source.count(old) != 1:
        raise SystemExit(f"mutation {mutation[0]}: the original occurs {source.count(old)} "
                         f"times in {path}")
    (tmp / path).write_text(source.replace(old, new))
    return tmp


def run_tests(tmp: Path, args: list[str]) -> tuple[bool, str]:
    """(all passed, the first failing test) of pytest ARGS in the mutated copy."""
    env = {**os.environ, "PYTHONPATH": str(tmp), "NUMBA_CACHE_DIR": str(tmp / "numba")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                          *args], cwd=tmp, env=env, capture_output=True, text=True)
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", out.stdout, re.M)
    return out.returncode == 0, failed.group(1) if failed else ""


def check_copy_is_imported(tmp: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tmp)}
    where = subprocess.run([sys.executable, "-c", "import sim; print(sim.__file__)"], cwd=tmp,
                           env=env, capture_output=True, text=True).stdout.strip()
    if not where.startswith(str(tmp)):
        raise SystemExit(f"the mutated copy is not what Python imports ({where})")


def run_mutation(mutation: tuple) -> dict:
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutant-") as name:
        tmp = mutated_copy(mutation, Path(name))
        check_copy_is_imported(tmp)
        killed_by = ""
        for stage in OWN_STAGES.get(mutation[1], STAGES):
            passed, failed = run_tests(tmp, stage)
            if not passed:
                killed_by = failed or "collection or import error"
                break
    result = {"id": mutation[0], "mechanism": mutation[1], "file": mutation[2],
              "killed": bool(killed_by), "killed_by": killed_by,
              "seconds": round(time.perf_counter() - tic, 1)}
    print(f"{result['id']:34s} {'killed by ' + killed_by if killed_by else 'SURVIVED'}",
          flush=True)
    return result


def table(results: list[dict]) -> str:
    by_mechanism = defaultdict(list)
    for r in results:
        by_mechanism[r["mechanism"]].append(r)
    lines = ["| mechanism | mutations | killed | kill rate | mutations (killed by) |",
             "|---|---:|---:|---:|---|"]
    for mechanism, rows in by_mechanism.items():
        killed = sum(r["killed"] for r in rows)
        detail = "; ".join(f"`{r['id']}` ({r['killed_by'].split('::')[-1] or 'survived'})"
                           for r in rows)
        lines.append(f"| {mechanism} | {len(rows)} | {killed} | {killed / len(rows):.0%} | "
                     f"{detail} |")
    total = sum(r["killed"] for r in results)
    lines.append(f"| **all** | {len(results)} | {total} | {total / len(results):.0%} | |")
    return "\n".join(lines)


def check_baseline() -> None:
    """The unmutated copy must pass every stage, or every mutant would count as killed."""
    with tempfile.TemporaryDirectory(prefix="baseline-") as name:
        tmp = project_copy(Path(name))
        for stage in (*STAGES, *(s for own in OWN_STAGES.values() for s in own)):
            passed, failed = run_tests(tmp, stage)
            if not passed:
                raise SystemExit(f"the unmutated code fails {failed or stage}: fix it first")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the mutations whose id contains this "
                        "(or one of several, comma-separated)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--out", type=Path, default=ROOT / "tools" / "mutations.json")
    args = parser.parse_args(argv)
    parts = args.only.split(",")
    chosen = [m for m in MUTATIONS if any(part in m[0] for part in parts)]
    check_baseline()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_mutation, chosen))
    if args.only and args.out.exists():  # rerun after a new test: update those entries
        fresh = {r["id"]: r for r in results}
        saved = {r["id"]: r for r in json.loads(args.out.read_text())}
        results = [fresh.get(m[0], saved.get(m[0])) for m in MUTATIONS
                   if m[0] in fresh or m[0] in saved]
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(args.out)
    print(table(results))
    return 0 if all(r["killed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
