"""Calibration targets: observed series, and the same statistic from the data and from a path.

A target (``targets.NAME``, conf/targets/) is a series of one model observable at dated
months, with the statistic that summarizes it (docs/calibration.md):

- ``log_slope``: the least-squares slope of ln(value) on time in years, over the series'
  months (a growth or decline rate, 1/yr);
- ``log_ratio``: ln(last / first).

A path's statistic is computed by the same function from the path's values at the same months
(the engine records them: RunSettings.snapshots), so data and model are summarized alike and
levels whose units differ (Google's tokens against all tokens) compare as growth rates.
Pure functions of validated configs and arrays; reads and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.dataset import SERIES
from sim.schema import TARGET_STATISTICS, Config, ConfigError, TargetConfig

OBSERVABLES = {name: index for index, (name, _, _) in SERIES.items()}


@dataclass(frozen=True)
class Target:
    """A validated target: the observable's index, the run months of the data and their
    values, the statistic, its scale and tolerance."""

    name: str
    observable: str
    index: int
    statistic: str
    months: np.ndarray   # run months (0 = start.date) of the observations
    dates: tuple[str, ...]
    values: np.ndarray   # the observed values, > 0
    scale: float
    tolerance: float
    unit: str
    source: str

    @property
    def observed(self) -> float:
        """The data's statistic."""
        return float(statistic(self.statistic, self.months, self.values[None, :])[0])


def statistic(kind: str, months: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The statistic of each row of ``values`` (rows x len(months)); NaN where a value is not
    positive and finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.where(values > 0.0, values, np.nan))
    if kind == "log_ratio":
        return logs[:, -1] - logs[:, 0]
    years = (months - months.mean()) / 12.0
    return logs @ years / (years @ years)


def run_month(cfg: Config, where: str, date: str) -> int:
    """Month of the run (0 = start.date) of ``date`` (YYYY-MM); ConfigError naming
    ``where`` if it is not a month of the run."""
    try:
        t = int((np.datetime64(str(date), "M") - np.datetime64(cfg.start.date, "M"))
                .astype(int))
    except ValueError:
        raise ConfigError(f"{where}: {date!r} is not a month; allowed: YYYY-MM") from None
    horizon = cfg.model.horizon_months
    if not 0 <= t <= horizon:
        last = np.datetime64(cfg.start.date, "M") + horizon
        raise ConfigError(f"{where}: {date} is outside the run; allowed: months from "
                          f"start.date ({cfg.start.date}) to {last} (model.horizon_months)")
    return t


def check_target(cfg: Config, name: str, spec: TargetConfig) -> Target:
    """A validated Target; ConfigError names the key and what is allowed."""
    where = f"targets.{name}"
    if spec.observable not in OBSERVABLES:
        raise ConfigError(f"{where}.observable = {spec.observable!r} is not a series; allowed: "
                          f"{', '.join(OBSERVABLES)}")
    if spec.statistic not in TARGET_STATISTICS:
        raise ConfigError(f"{where}.statistic = {spec.statistic!r}; allowed: "
                          f"{', '.join(TARGET_STATISTICS)}")
    for field_ in ("scale", "tolerance"):
        if getattr(spec, field_) is None:
            raise ConfigError(f"{where}.{field_} is missing; allowed: a number > 0 in the "
                              "statistic's units")
    observed = dict(spec.observed or {})
    if len(observed) < 2:
        raise ConfigError(f"{where}.observed has {len(observed)} values; allowed: at least 2 "
                          "(YYYY-MM: value)")
    dates = sorted(observed, key=lambda d: run_month(cfg, f"{where}.observed", d))
    values = np.array([observed[d] for d in dates], dtype=float)
    if not (np.isfinite(values) & (values > 0)).all():
        raise ConfigError(f"{where}.observed: every value must be a number > 0 (the "
                          "statistics are in logarithms)")
    months = np.array([run_month(cfg, f"{where}.observed", d) for d in dates], dtype=np.int64)
    if len(set(months.tolist())) < len(months):
        raise ConfigError(f"{where}.observed gives one month twice; allowed: distinct months")
    return Target(name=name, observable=spec.observable, index=OBSERVABLES[spec.observable],
                  statistic=spec.statistic, months=months, dates=tuple(map(str, dates)),
                  values=values, scale=float(spec.scale), tolerance=float(spec.tolerance),
                  unit=spec.unit, source=spec.source)


def check_targets(cfg: Config) -> list[Target]:
    """The config's targets validated, in name order; none is an error."""
    if not cfg.targets:
        raise ConfigError("targets is empty; allowed: targets=NAME (conf/targets/) with at "
                          "least one target")
    return [check_target(cfg, name, cfg.targets[name]) for name in sorted(cfg.targets)]


def snapshots(targets: list[Target]) -> tuple[tuple[int, int], ...]:
    """The (observable, month) pairs the engine records for these targets, target by target
    (the columns of ``path_statistics``' input)."""
    return tuple((t.index, int(m)) for t in targets for m in t.months)


def last_month(targets: list[Target]) -> int:
    """The last month any target observes: a calibration run needs no more."""
    return max(int(t.months.max()) for t in targets)


def path_statistics(targets: list[Target], recorded: np.ndarray) -> np.ndarray:
    """(paths, targets): each path's statistics from its recorded values (paths x snapshots,
    in the order of ``snapshots``)."""
    out = np.empty((recorded.shape[0], len(targets)))
    column = 0
    for k, target in enumerate(targets):
        n = len(target.months)
        out[:, k] = statistic(target.statistic, target.months, recorded[:, column:column + n])
        column += n
    return out


def observed_statistics(targets: list[Target]) -> np.ndarray:
    return np.array([t.observed for t in targets])
