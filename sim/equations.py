r"""The model's equations, one function each (docs/model.md gives each its units and source).

Every function is elementwise: its arguments are scalars or NumPy arrays of paths, and it
returns the same. ``sim.model`` calls them inside its lane loops (a path at a time when
compiled, all paths at once in the NumPy reference), and the tests call them directly with
hand-computed numbers. No function here knows about rows, lanes or parameter indices.
"""

from __future__ import annotations

import numpy as np

from sim.layout import DT, HOURS_PER_MONTH, MAX_JUMPS_PER_MONTH
from sim.vectorize import exp, log, power, where


# --- exogenous progress --------------------------------------------------------------------
def fill_poisson_cdf(out, offset, mean):
    """P(N <= k) for k = 0 .. MAX_JUMPS_PER_MONTH - 1 of a Poisson(mean) count, into
    ``out[offset:]`` (in place: it runs once per path under priors)."""
    log_mean = np.log(max(mean, 1e-300))
    log_factorial, cdf = 0.0, 0.0
    for k in range(MAX_JUMPS_PER_MONTH):
        log_factorial += np.log(max(k, 1))
        cdf += np.exp(-mean + k * log_mean - log_factorial)
        out[offset + k] = min(cdf, 1.0)


def poisson_cdf(mean):
    """P(N <= k) for k = 0 .. MAX_JUMPS_PER_MONTH - 1 of a Poisson(mean) count."""
    out = np.empty(MAX_JUMPS_PER_MONTH)
    fill_poisson_cdf(out, 0, mean)
    return out


def monthly_retention(rate_per_year):
    """Share kept after one month of exponential decay at a yearly rate."""
    return np.exp(-rate_per_year * DT)


def log_efficiency_step(log_tau, growth, vol, jumps, jump_mean, jump_std, z, z_jump):
    """Log-random-walk with drift and compound-Poisson jumps (tokens per GPU-hour)."""
    diffusion = (growth - 0.5 * vol * vol) * DT + vol * np.sqrt(DT) * z
    return log_tau + diffusion + jumps * jump_mean + np.sqrt(jumps) * jump_std * z_jump


def log_cost_step(log_cost, growth, vol, z):
    """Geometric Brownian motion of the all-in cost of a GPU-hour."""
    return log_cost + (growth - 0.5 * vol * vol) * DT + vol * np.sqrt(DT) * z


def margin_step(margin, floor, retention):
    """Competition pulls the labs' markup towards its floor (retention = e^{-kappa_m dt})."""
    return floor + (margin - floor) * retention


def adoption_step(adoption, p, q, vol, z):
    """Bass diffusion with a multiplicative log-normal shock on the monthly increment."""
    increment = (p + q * adoption) * (1.0 - adoption) * DT
    shock = exp(vol * np.sqrt(DT) * z - 0.5 * vol * vol * DT)
    return np.minimum(adoption + increment * shock, 1.0)


# --- prices and demand ---------------------------------------------------------------------
def rent_markup(util, floor, cap, curvature):
    """phi(U): rental price over cost; below 1 when spare capacity is dumped."""
    return floor + (cap - floor) * power(util, curvature)


def rental_price(cost, util, floor, cap, curvature, fire_discount, overhang):
    """Market-clearing rent r* = c phi(U) (1 - fire-sale discount): $ per GPU-hour."""
    markup = rent_markup(util, floor, cap, curvature)
    return cost * markup * (1.0 - fire_discount * np.minimum(overhang, 1.0))


def sticky_rent(previous, clearing, adjustment):
    """Contracted rents move a share of the way (in logs) to the clearing rent each month."""
    return previous * power(clearing / previous, adjustment)


def token_price(rental, tau, margin):
    """P = r / tau (1 + m): $ per million tokens."""
    return rental / tau * (1.0 + margin)


def token_demand(tokens0, adoption, adoption0, price, price0, elasticity):
    """Jevons demand Q = Q0 (A / A0) (P / P0)^-eps: quadrillion tokens per month."""
    return tokens0 * (adoption / adoption0) * power(price / price0, -elasticity)


def exponential_trend(level0, growth, t):
    """A level growing at a constant rate from t = 0 (t in months)."""
    return level0 * exp(growth * t * DT)


def e_folding_years(halflife_years):
    """The time constant T of a decay with the given half-life: e^{-t/T} halves every
    ``halflife_years``."""
    return halflife_years / np.log(2.0)


def maturing_trend(level0, growth0, growth_end, halflife_years, t):
    """A level whose growth rate decays from ``growth0`` towards ``growth_end`` with the
    given half-life (a young industry's budgets: fast growth that slows as it matures):
    level0 exp(g_end t + (g0 - g_end) T (1 - e^{-t/T})), T = halflife / ln 2, t in years."""
    years = t * DT
    scale = e_folding_years(halflife_years)
    excess = (growth0 - growth_end) * scale * (1.0 - exp(-years / scale))
    return level0 * exp(growth_end * years + excess)

# --- labs ----------------------------------------------------------------------------------
def training_funding(cash, support, planned, runway_target, cut):
    """Share of its planned training a lab keeps: all of it while its cash and a parent's
    support cover ``runway_target`` months of the plan, down to 1 - cut with nothing left."""
    covered = (cash + runway_target * np.maximum(support, 0.0)) / np.maximum(
        runway_target * planned, 1e-12)
    return 1.0 - cut * (1.0 - np.minimum(np.maximum(covered, 0.0), 1.0))


def parent_support(committed, deficit):
    """What a parent (or a backer such as SpaceX for xAI) pays a lab this month ($B): its
    deficit, up to the support committed; a parent does not hand over cash the lab does not
    need, so an in-house lab does not pile up cash."""
    return np.minimum(committed, np.maximum(deficit, 0.0))


def funding_round(cash, burn, gate, trigger_months, round_months, value, dilution):
    """A funding round ($B): when cash covers fewer than ``trigger_months`` of burn, a round
    worth ``round_months`` of burn, but no more than the share ``dilution`` of the lab's
    value that investors will buy, scaled by how open investors are (gate in [0, 1])."""
    short = (cash < trigger_months * burn) & (burn > 0.0)
    size = np.minimum(round_months * burn, dilution * np.maximum(value, 0.0))
    return where(short, size * gate, 0.0)


# --- compute contracts -----------------------------------------------------------------------
def take_or_pay_premium(value, volume, use, rent):
    """What a lab pays under its contracts beyond the spot value of the compute it uses on
    them ($B/month): the contracts' monthly value (volume at locked rents), less the spot
    value of the contracted compute it uses. Positive when spot rents fall below the locked
    ones or when it uses less than it contracted (take-or-pay)."""
    return value - np.minimum(use, rent * volume)


def cash_distress(kept, cut):
    """How far a lab has cut its training for want of cash: 0 while it keeps its plan, 1
    when it has cut as far as it goes (kept = 1 - cut)."""
    return np.minimum(np.maximum((1.0 - kept) / np.maximum(cut, 1e-12), 0.0), 1.0)


def contracts_signed(target_share, use, rent, volume):
    """Volume of new contracts (bn GPU-h/month) a lab signs to keep ``target_share`` of its
    compute (spot value ``use``) under contract."""
    return np.maximum(target_share * use / rent - volume, 0.0)


# --- capacity and orders -------------------------------------------------------------------
def expected_growth(previous, weight, value, previous_value):
    """Adaptive expectations of an annual log growth rate from monthly values."""
    return previous + weight * (log(value / previous_value) / DT - previous)


def planning_tilt(sentiment, optimism, caution):
    """Log scaling of the capacity planners want: sentiment-driven optimism, less the caution
    a bust leaves behind."""
    return optimism * sentiment - caution


def caution_step(caution, breaks, jump, keep):
    """The planners' caution after a bust (log): it jumps when the narrative breaks and fades
    by ``keep`` = e^(-1 / months) a month, an e-folding time of ``months`` (belief scarring: a
    bust raises the odds planners put on the next one, and the memory fades slowly)."""
    return caution * keep + where(breaks, jump, 0.0)


def desired_orders(demand, capacity, pipeline, growth_exp, tilt, lag, target_util,
                   adjust_months, depreciation, maintenance):
    """Supply-line ordering rule: replacement and expected growth, plus a share of the gap.

    The target capacity is what forecast demand needs when today's orders arrive (L months
    ahead, scaled by the planning tilt); the target supply line holds L - 1 months of that
    need, so in steady growth orders equal the need and utilization stays on target. Even
    with spare capacity, a share ``maintenance`` of retirements is always replaced.
    """
    target = demand * exp(tilt) / target_util
    need = target * (depreciation + growth_exp) * DT
    gap = target * exp(growth_exp * lag * DT) + (lag - 1.0) * need - capacity - pipeline
    return np.maximum(maintenance * depreciation * DT * capacity, need + gap / adjust_months)


def capex_per_capacity(unit_cost0, cost, cost0):
    """Capex per unit of monthly capacity follows the all-in cost: $ per GPU-h/month."""
    return unit_cost0 * cost / cost0


# --- hardware vintages ----------------------------------------------------------------------
def straight_line(basis, book, life_months):
    """Accounting depreciation this month ($B): the cohort's historical cost over its useful
    life, until its book value is gone."""
    return np.minimum(basis / life_months, book)


def recoverable_amount(capacity, margin, remaining_years):
    """The impairment test's recoverable amount of a cohort ($B): its cash margin of this
    month ($ per GPU-h of capacity) held flat over its remaining useful life, undiscounted
    (the recoverability test of US GAAP, ASC 360, on management's flat forecast)."""
    return 12.0 * capacity * np.maximum(margin, 0.0) * remaining_years


# --- power ---------------------------------------------------------------------------------
def power_per_capacity(kw_per_h100e):
    """GW drawn by one bn GPU-h/month of capacity (10^9 / 730 H100e) at kW per H100e."""
    return kw_per_h100e * 1000.0 / HOURS_PER_MONTH


def cash_opex(other_share, cost, capacity, price, power_used):
    """Clouds' cash operating costs ($B/month): staff, cooling and the rest as a share of the
    all-in cost, plus the power bill ($/kWh x GW x 730 h = 0.73 price x GW, in $B)."""
    return other_share * cost * capacity + price * power_used * HOURS_PER_MONTH / 1000.0


def energisation(queue, queue_months, build_rate):
    """GW energised this month: the queue drains with a mean wait of ``queue_months``, at
    most at the build rate of the grid and the builders."""
    return np.minimum(queue / queue_months, build_rate)


def powered_share(energised, used):
    """Share of the installed capacity that has power to run."""
    return np.minimum(energised / np.maximum(used, 1e-300), 1.0)


def power_headroom(energised, queue, used, pipe_power, served_by_delivery, lag, build_rate,
                   retained):
    """GW free for an order placed now when it is delivered L months on: what is energised,
    plus what the queue energises by then (a share of it, at most L months of the build
    rate), less what the installed base still running (``retained``) and the capacity on
    order will draw."""
    arriving = np.minimum(served_by_delivery * queue, lag * build_rate)
    return np.maximum(energised + arriving - retained * used - pipe_power, 0.0)


def forecast_capacity(demand, growth_exp, tilt, months, target_util):
    """Capacity the planners expect to need ``months`` ahead (the target of desired_orders,
    grown at the expected growth)."""
    return demand * exp(tilt + growth_exp * months * DT) / target_util


def power_request(energised, queue, used, pipe_power, capacity, pipeline, target, per_unit,
                  retained, reserve, queue_delivered, adjust_months):
    """GW/month added to the queue (negative: requests withdrawn). Power requested now is
    used by capacity ordered when it is energised: the clouds ask for the power that the
    capacity they expect then (``target``) will draw (the installed base still running, the
    capacity on order, new hardware for the rest), plus a reserve, less what is energised
    and what the queue delivers by then (``queue_delivered``), the gap closed over
    ``adjust_months``."""
    new = per_unit * np.maximum(target - retained * capacity - pipeline, 0.0)
    need = (1.0 + reserve) * (retained * used + pipe_power + new)
    return (need - energised - queue_delivered) / adjust_months


# --- financing -----------------------------------------------------------------------------
def funding_gate(sentiment, center, width):
    """Share of outside funding and credit still open: logistic in sentiment."""
    return 1.0 / (1.0 + exp(-(sentiment - center) / width))


def spread_mood(sensitivity, sentiment):
    """How far sentiment moves every firm's credit spread: a factor e^(-sensitivity *
    sentiment), wider as sentiment falls (one per path and month, shared by its firms)."""
    return exp(-sensitivity * sentiment)


def spread(spread0, mood, leverage_beta, leverage):
    """A firm's credit spread (1/yr): ``spread0`` times the sentiment's factor ``mood``
    (spread_mood), wider as its debt grows relative to its earnings (leverage = debt /
    annual EBITDA, capped at 10)."""
    capped = np.minimum(np.maximum(leverage, 0.0), 10.0)
    return spread0 * mood * (1.0 + leverage_beta * capped)


def distress(previous, keep, lost, debt):
    """A sector's credit distress: the share of its debt that lenders lost in this month's
    defaults (net of recoveries), added to what is left of earlier losses (``keep`` per
    month)."""
    return keep * previous + lost / np.maximum(debt, 1e-12)


def leverage(debt, ebitda_month):
    """Debt over annual EBITDA; 10 (the cap) when EBITDA is not positive."""
    annual = 12.0 * ebitda_month
    return where(annual > 0.0, debt / np.maximum(annual, 1e-12), 10.0)


def credit_room(multiple, ebitda_month, collateral, gate, debt):
    """Unused credit ($B): lenders lend a multiple of annual EBITDA plus what the firm's
    assets secure (collateral: loan-to-value x book value of its capacity), as far as the
    gate is open."""
    limit = multiple * np.maximum(12.0 * ebitda_month, 0.0) + collateral
    return np.maximum(limit * gate - debt, 0.0)


def capex_funds(cash_flow, spare_cash, room, pacing_months, debt_share):
    """The most a firm can spend on capex this month ($B). Its own funds are its operating
    cash flow plus its cash above the buffer (less, when below it) spread over
    ``pacing_months``; they pay the share ``1 - debt_share`` of capex, and borrowing (the
    rest) cannot exceed the unused credit ``room``."""
    own = np.maximum(cash_flow + spare_cash / pacing_months, 0.0)
    return np.minimum(own / np.maximum(1.0 - debt_share, 1e-12), own + room)


def payout(cash, buffer, rate):
    """Dividends and buybacks ($B/month): a share of the cash above the buffer."""
    return rate * np.maximum(cash - buffer, 0.0)


def share_after_defaults(share, alive, lost):
    """Survivors take the defaulters' customers in proportion to their shares: a survivor's
    share grows by 1 / (1 - lost), a defaulter's falls to 0 (``lost``: the sector's share
    that defaulted this month; unchanged when none did, or when no firm is left)."""
    kept = 1.0 - lost
    return where((lost > 0.0) & (kept > 0.0), alive * share / np.maximum(kept, 1e-300), share)


# --- sentiment and valuation ---------------------------------------------------------------
def sentiment_step(s, persistence, mean, growth_surprise, util_gap, a_growth, a_util, vol, z):
    """AR(1) sentiment driven by growth surprises, utilization and noise."""
    drive = (a_growth * growth_surprise + a_util * util_gap) * DT
    return persistence * s + (1.0 - persistence) * mean + drive + vol * np.sqrt(DT) * z


def mood_step(mood, persistence, surprise, sensitivity, vol, z):
    """A sector's own mood: AR(1) around 0, lifted by revenue growth above expectations."""
    return persistence * mood + sensitivity * surprise * DT + vol * np.sqrt(DT) * z


def smoothed_run_rate(previous, monthly, weight):
    """Annual run-rate, exponentially smoothed: previous + w (12 monthly - previous)."""
    return previous + weight * (12.0 * monthly - previous)


def enterprise_value(multiple, revenue, growth, earnings, floor, mood):
    """A sector's enterprise value ($B): revenue x multiple x (expected growth + operating
    margin), the 'rule of 40' of growth-company valuation; losses lower it, down to ``floor``
    growth-plus-margin; the mood scales it (mood = beta (common + sector sentiment))."""
    margin = earnings / np.maximum(revenue, 1e-12)
    return multiple * revenue * np.maximum(growth + margin, floor) * exp(mood)


def stake_bought(invested, value):
    """Share of a company's equity that ``invested`` ($B) buys at its pre-money ``value``:
    the post-money share, never above 1."""
    return invested / np.maximum(value + invested, 1e-12)


def firm_equity(enterprise, cash, debt, alive):
    """Equity of one firm ($B): its enterprise value plus net cash, never below 0 (limited
    liability); 0 once it has defaulted."""
    return alive * np.maximum(enterprise + cash - debt, 0.0)


# --- dated events ----------------------------------------------------------------------------
def sale_proceeds(sold, capacity, unit_capex, fire_discount):
    """What a cloud receives ($B) for ``sold`` of the installed base ``capacity`` (a share):
    the replacement value at this month's unit capex, half of it still on the books (the
    average of capacity of uniform age, as its collateral), at the fire-sale discount."""
    return sold * capacity * unit_capex * 0.5 * (1.0 - fire_discount)


# --- analyst outputs -------------------------------------------------------------------------
def return_on_capital(earnings, capital):
    """Operating earnings of a month ($B/month), annualized, over invested capital ($B): 1/yr."""
    return 12.0 * earnings / capital


def runway(cash, burn, alive, cap):
    """Months a living lab's cash lasts at this month's burn; ``cap`` when it burns nothing
    (or is dead, so that the shortest runway is that of the living labs)."""
    burning = (alive > 0.0) & (burn > 0.0)
    return where(burning, cash / np.maximum(burn, 1e-300), cap)


def log_mean(a, b, d):
    """The logarithmic mean (a - b) / (ln a - ln b) of two positive numbers, given
    d = ln a - ln b: with it, ln(H_t / H_{t-1}) = sum_k (H_k,t - H_k,t-1) / L(H_t, H_{t-1})
    exactly for a sum H = sum_k H_k (the log-mean Divisia index, Ang 2004). Near a = b the
    quotient loses digits; there the arithmetic mean, which differs from it by d^2 / 12
    relative, is used."""
    close = np.abs(d) < 1e-6
    return where(close, 0.5 * (a + b), (a - b) / where(close, 1.0, d))
