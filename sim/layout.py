"""Where every number of the model lives: the parameter vector and the rows of the arrays.

The parameter vector is generated from the schema: every numeric key of ``start.*`` and
``model.*`` in schema order, then the quantities derived from them once per run (``DERIVED``,
computed by :func:`sim.model.initial_conditions`), then the Poisson CDF of efficiency shocks,
then one block per sector and firm field (``FIRM_FIELDS``). A parameter added to the schema
gets its slot here without any edit; the model names the ones it reads with ``param(key)``.

The rows: a block of paths is one array with the observables, reductions, uniforms and
scratch rows first (fixed sizes) and the state last; the state is its scalar rows, the order
pipeline (``build_lag`` slots), the 12-month capex ring and the firms, each firm's fields in
adjacent rows. Imports neither numba nor the engine.
"""

from __future__ import annotations

from sim.schema import leaf_fields

DT = 1.0 / 12.0
HOURS_PER_MONTH = 730.0  # a GPU-hour a month is 1/730 of a GPU
LABS, CLOUDS, VENDORS = 0, 1, 2
SECTORS = ("labs", "clouds", "vendors")
N_SECTORS = 3
TTM_MONTHS = 12
MAX_JUMPS_PER_MONTH = 20
COHORTS = 6  # hardware cohorts by purchase year: this year's, the four before, and older

# --- parameters ---------------------------------------------------------------------------
SCALARS = tuple(key for key, f in leaf_fields() if key.split(".")[0] in ("start", "model")
                and str(f.type) in ("int", "float"))
# derived once per run from the start and the assumptions (sim.model.initial_conditions)
DERIVED = (
    "tau0", "margin0", "price0", "rent_cap", "training0", "demand0",
    "growth0", "orders0", "margin_keep", "overhang_keep", "distress_keep", "n_firms",
    "opex_other_share", "power_per_unit0", "power_used0", "power_pipe0",
    "served_by_delivery", "retained_by_delivery", "served_by_energising", "contract_keep",
    "retained_by_energising", "caution_keep", "vendor_margin",
    "multiple_labs", "multiple_clouds", "multiple_vendors",
    "revenue_labs0", "revenue_clouds0", "revenue_vendors0",
    "earnings_labs0", "earnings_clouds0", "earnings_vendors0",
    # the trends' monthly factors, for paths whose parameters are drawn (sim.model.lane_params)
    "build_step", "power_step", "power_lag", "maturity_step", "maturity_excess",
)
# this month's deterministic trends (sim.model.month_trends): the labs' budget growth since
# t=0, the grid's build rate (GW/month), GW per unit of capacity ordered now and per unit
# ordered L months ago, the share of the budgets' excess growth still to come; t=0's values
# in the vector
TRENDS = ("budget", "build_rate", "power_new", "power_arriving", "maturity")
# this month's values of the dated events' series that sections without the month read from
# the parameter tuple (sim.model.month_params); last, and neutral (0, 1, 0) in the vector
MONTHLY = ("rate_shock", "gate_scale", "efficiency_shock", "power_loss", "termination")
_INDEX = {key: i for i, key in enumerate((*SCALARS, *(f"derived.{d}" for d in DERIVED),
                                          *(f"trend.{m}" for m in TRENDS),
                                          *(f"event.{m}" for m in MONTHLY)))}
N_SCALAR_PARAMS = len(_INDEX)
P_MONTHLY = N_SCALAR_PARAMS - len(MONTHLY)
P_JUMP_CDF = N_SCALAR_PARAMS
P_COHORT_SHARES = P_JUMP_CDF + MAX_JUMPS_PER_MONTH  # start.compute.cohort_shares
P_FIRMS = P_COHORT_SHARES + COHORTS - 1
# per sector and firm (start.<sector>.<field>, missing fields are 0), then derived per firm
FIRM_FIELDS = ("share", "cash", "debt", "value", "other_cash", "training_share",
               "debt_share", "stake", "contracted_share", "value_weight")
(FP_SHARE, FP_CASH, FP_DEBT, FP_VALUE, FP_OTHER_CASH, FP_TRAINING_SHARE, FP_DEBT_SHARE,
 FP_STAKE, FP_CONTRACTED, FP_VALUE_WEIGHT) = range(len(FIRM_FIELDS))
FIRM_DATA = FIRM_FIELDS[:-1]  # read from the start file; value_weight is derived


def param(key: str) -> int:
    """Index of a schema key ('model.demand.elasticity') or a derived quantity
    ('derived.tau0') in the parameter vector."""
    return _INDEX[key]


def firm_param(field: int, sector: int, firm: int, n_firms: int) -> int:
    """Index of one firm's value of a per-firm field."""
    return P_FIRMS + (sector * len(FIRM_FIELDS) + field) * n_firms + firm


# the dated events (docs/model.md#dated-events) as series over months t = 0 .. horizon, after
# the firms: the risk-free rate's addition (1/yr), the funding gates' multiplier, the log
# efficiency added, the GW of energised power lost (negative: restored), the share of the
# labs' contracts ended, then per cloud firm the share of the installed base it sells.
# A new kind of event is one more series here (and in sim.params.event_series).
E_RATE_SHOCK, E_GATE_SCALE, E_EFFICIENCY_SHOCK, E_POWER_LOSS, E_TERMINATION, E_SALE = range(6)
NEUTRAL = (0.0, 1.0, 0.0, 0.0, 0.0)  # the values of the MONTHLY series without events


def events_offset(n_firms: int) -> int:
    return P_FIRMS + N_SECTORS * len(FIRM_FIELDS) * n_firms


def n_event_series(n_firms: int) -> int:
    return E_SALE + n_firms


def event_index(series: int, t: int, n_firms: int, horizon: int) -> int:
    """Index of month t's value of an event series in the parameter vector."""
    return events_offset(n_firms) + series * (horizon + 1) + t


def vector_length(n_firms: int, horizon: int) -> int:
    return events_offset(n_firms) + n_event_series(n_firms) * (horizon + 1)


# --- state rows -----------------------------------------------------------------------------
(
    X_LOG_TAU, X_LOG_COST, X_MARGIN, X_ADOPTION, X_CAPACITY, X_UTIL, X_OVERHANG, X_RENT,
    X_GROWTH_EXP, X_DEMAND, X_SENTIMENT, X_BROKEN, X_DISAPPOINTED, X_RECOVERING,
    X_PIPELINE, X_CAPEX_TTM,
    X_REV_LABS, X_REV_CLOUDS, X_REV_VENDORS,
    X_EARN_LABS, X_EARN_CLOUDS, X_EARN_VENDORS,
    X_GROWTH_LABS, X_GROWTH_CLOUDS, X_GROWTH_VENDORS,
    X_MOOD_LABS, X_MOOD_CLOUDS, X_MOOD_VENDORS, X_NARRATIVE,
    X_DISTRESS_LABS, X_DISTRESS_CLOUDS, X_DISTRESS_VENDORS,
    X_POWER, X_POWER_QUEUE, X_POWER_USED, X_POWER_PIPE,
    X_PIPE_VALUE, X_SPEND_TTM, X_LABS_PAID_IN, X_CAUTION,
) = range(40)
# per hardware cohort (slot = purchase year mod COHORTS): capacity (bn GPU-h/month), its
# historical cost and its book value ($B)
X_COHORT = X_CAUTION + 1
X_BASIS = X_COHORT + COHORTS
X_BOOK = X_BASIS + COHORTS
N_SCALAR_STATE = X_BOOK + COHORTS
X_REV = X_REV_LABS          # + sector: revenue run-rate ($B/yr), smoothed
X_EARN = X_EARN_LABS        # + sector: operating-earnings run-rate ($B/yr), smoothed
X_GROWTH = X_GROWTH_LABS    # + sector: expected log growth of revenue (1/yr)
X_MOOD = X_MOOD_LABS        # + sector: the sector's own mood (beside the common sentiment)
X_DISTRESS = X_DISTRESS_LABS  # + sector: share of its debt lost in defaults, fading
# power (GW): energised, queued, drawn by the installed base, to be drawn by capacity on order
# analyst outputs: trailing-12-month end-user spend ($B; its ring follows the capex ring) and
# the labs' invested capital, the funding paid into them since the start plus their start
# cash and debt ($B); X_CAUTION: the planners' caution after a bust (log)

# each firm's fields sit in adjacent rows: firm_row(p, f) + F_*
(F_CASH, F_DEBT, F_ALIVE, F_SHARE, F_DEFAULT, F_STAKE, F_CONTRACT, F_CONTRACT_VALUE, F_USE,
 F_PREMIUM, F_FLOW, F_FUNDED, N_FIRM_ROWS) = range(13)
F_CAPEX = F_FLOW  # clouds: this month's capex, planned in orders, paid in clouds_cash ($B)
# F_STAKE: the share of the labs' equity a cloud or vendor holds (circular stakes)
# labs only: compute under contract (bn GPU-h/month) and its value at locked rents ($B/month);
# this month's compute at spot ($B/month, training first, then with inference) and the
# take-or-pay premium plus termination fees it pays ($B/month); for the analyst outputs, the
# month's flow after its parent's support and the funding paid in (a round and that support)

# --- observables (the first N_HIST get per-month histograms) --------------------------------
(
    O_TOKEN_PRICE, O_SPEND, O_COMPUTE_DEMAND, O_CAPACITY, O_CAPEX, O_UTILIZATION,
    O_RENTAL_PRICE, O_INDEX, O_EQUITY_LABS, O_EQUITY_CLOUDS, O_EQUITY_VENDORS,
    # analyst outputs with bands (sim.model.analyst_outputs, docs/outputs.md)
    O_CIRCULARITY, O_REVENUE_GAP, O_ROIC_LABS, O_ROIC_CLOUDS, O_BACKLOG, O_LAB_BURN,
    O_LAB_RUNWAY,
    O_CAPEX_TTM, O_TOKENS, O_POWER, O_POWER_QUEUE, O_BOOK, O_WRITEDOWN,
    # analyst outputs without histograms (sampled paths only; the decomposition of compute
    # demand reads adoption and efficiency in sim.reductions)
    O_ROIC_VENDORS, O_CIRCULAR_RENT_SHARE, O_BACKLOG_TO_RENT, O_ADOPTION, O_EFFICIENCY,
    N_OBS,
) = range(30)
N_HIST = O_CAPEX_TTM
O_EQUITY = O_EQUITY_LABS  # + sector
O_ROIC = (O_ROIC_LABS, O_ROIC_CLOUDS, O_ROIC_VENDORS)  # by sector

# --- scratch rows that carry values from one lane loop to the next -------------------------
(
    T_TAU, T_COST, T_OVERHANG, T_GATE, T_SPREAD_MOOD, T_ARRIVALS, T_JUMPS,
    T_Z_SENT, T_Z_MOOD_LABS, T_Z_MOOD_CLOUDS, T_Z_MOOD_VENDORS,
    T_TRAINING, T_INFERENCE, T_SERVED_SHARE, T_RENT_REVENUE, T_CIRCULAR,
    T_GROWTH_EXP, T_UNIT_CAPEX, T_WANTED, T_COLLATERAL,
    T_REV_LABS, T_REV_CLOUDS, T_REV_VENDORS,
    T_EARN_LABS, T_EARN_CLOUDS, T_EARN_VENDORS,
    T_LOST, T_LAB_GATE, T_EV, T_EQUITY, T_OPEX,
    T_LOST_DEBT, T_SECTOR_DEBT, T_VENDOR_LOSS, T_POWERED, T_PREMIUM,
    T_SOLD, T_PROCEEDS, T_DEPRECIATION, T_ARRIVAL_VALUE, T_LAB_BURN, T_LAB_RUNWAY, T_RAISED,
    N_SCRATCH,
) = range(44)
# with parameters drawn per path, each path's scalar parameters follow the scratch rows
# (sim.model.drawn_state): the lane loops then read them from the array they already use
T_PARAMS = N_SCRATCH
T_Z_MOOD = T_Z_MOOD_LABS    # + sector
T_REV = T_REV_LABS          # + sector: this month's revenue ($B/month)
T_EARN = T_EARN_LABS        # + sector: this month's operating earnings ($B/month)

# histograms: utilization is binned linearly, every other series in log10; beside the bins,
# three counters per series and month (sim.histogram)
LINEAR = (O_UTILIZATION, O_ROIC_LABS, O_ROIC_CLOUDS)  # ROIC can be negative
OUTSIDE = ("zero_or_nan", "below_range", "above_range")
EXTRA_BINS = len(OUTSIDE)

N_UNIFORMS = 9  # uniforms drawn per path and month: four Box-Muller pairs and a Poisson draw
