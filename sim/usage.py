"""The text of `bubblesim --help`, generated from the schema and the scenario files.

Hydra prints ``hydra.help.template`` for ``--help``; conf/config.yaml sets it to the resolver
``${bubblesim_help:}``, which returns :func:`help_text`. A scenario's one-line story is the
first comment line of its file after ``# @package _global_``.
"""

from __future__ import annotations

from dataclasses import MISSING
from pathlib import Path

from sim.overrides import group_options
from sim.schema import leaf_fields, range_text, readable_number

# the keys a first-time user reaches for; every key is in docs/model.md#parameters
MAIN_KEYS = (
    "engine.n_paths", "engine.seed", "engine.threads", "engine.backend",
    "model.horizon_months",
    "model.demand.elasticity", "model.efficiency.growth", "model.efficiency.jump_rate",
    "model.labs.training_growth", "model.capacity.optimism", "model.finance.circular_share",
    "model.sentiment.narrative_growth", "model.sentiment.s0",
    "output.per_path", "output.quiet", "output.overwrite",
)
COMMANDS = (
    ("bubblesim [KEY=VALUE ...]", "one run (soft_landing, 1,000,000 paths by default)"),
    ("bubblesim -m KEY=A,B ...", "a sweep: one run per combination; sweep.nc at the end"),
    ("bubblesim --cfg job [KEY=VALUE ...]", "print the composed config, run nothing"),
    ("bubblesim-plot PATH [--out DIR]", "figures of a saved run or sweep"),
    ("bubblesim-report PATH ...", "headline table of saved runs or sweeps"),
    ("bubblesim-merge SHARD_DIR ... --out DIR", "join the shards of one run"),
    ("bubblesim-events [KEY=VALUE ...] --out DIR",
     "each dated event's effect (events=NAME), paired against no events"),
    ("bubblesim-sensitivity RUN [--case 'max_drawdown>0.5']",
     "Sobol' indices and PRIM of a run sampled with engine.prior_sampling=saltelli"),
    ("bubblesim-calibrate [KEY=VALUE ...]",
     "ABC against 2023-2026 data (start=2023q1): posterior, priors file, conditioned forecast"),
    ("bubblesim-backtest RUN [--calibrated RUN2]",
     "a telecom_1995 run beside the NASDAQ and leased-line prices, 1995-2007"),
    ("bubblesim --hydra-help", "Hydra's own options (launchers, sweepers, logging)"),
)


def story(scenario_file: Path) -> str:
    """The scenario's one-line story: its first comment line after the package line."""
    for line in Path(scenario_file).read_text().splitlines():
        text = line.lstrip("# ").strip()
        if line.startswith("#") and text and not text.startswith("@package"):
            return text
    return ""


def _default(f) -> str:
    value = f.default if f.default is not MISSING else ""
    value = getattr(value, "value", value)  # an Enum's value
    if isinstance(value, bool):
        return str(value).lower()
    return readable_number(value) if isinstance(value, (int, float)) else str(value)


def _parameter_rows() -> list[tuple[str, str, str, str, str]]:
    fields = dict(leaf_fields())
    rows = []
    for key in MAIN_KEYS:
        meta = fields[key].metadata
        unit = meta.get("unit", "")
        rows.append((key, "" if unit == "1" else unit, _default(fields[key]),
                     range_text(meta) if "lo" in meta else meta["allowed"], meta["doc"]))
    return rows


def _table(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  "
            + r[-1] for r in rows]


def help_text(conf_dir: Path) -> str:
    """The whole --help page."""
    scenarios = [(name, story(Path(conf_dir) / "scenario" / f"{name}.yaml"))
                 for name in group_options(conf_dir, "scenario")]
    starts = [(name, story(Path(conf_dir) / "start" / f"{name}.yaml"))
              for name in group_options(conf_dir, "start")]
    events = [(name, story(Path(conf_dir) / "events" / f"{name}.yaml"))
              for name in group_options(conf_dir, "events")]
    priors = [(name, story(Path(conf_dir) / "priors" / f"{name}.yaml"))
              for name in group_options(conf_dir, "priors")]
    targets = [(name, story(Path(conf_dir) / "targets" / f"{name}.yaml"))
               for name in group_options(conf_dir, "targets")]
    lines = ["bubblesim: Monte Carlo simulation of AI-infrastructure boom-and-bust scenarios",
             "", "Commands:", *_table(COMMANDS), "",
             "Starting states (start=NAME: the world at t=0, from data):", *_table(starts), "",
             "Scenarios (scenario=NAME: assumptions about what comes next):",
             *_table(scenarios), "",
             "Dated events (events=NAME or events=[A,B]; their effects: bubblesim-events):",
             *_table(events), "",
             "Priors (priors=NAME: parameter uncertainty, drawn per path):",
             *_table(priors), "",
             "Calibration targets (targets=NAME: observed series, for bubblesim-calibrate):",
             *_table(targets), "",
             "Main parameters (KEY=VALUE; unit, default, allowed range, meaning):",
             *_table(_parameter_rows()), "",
             f"All {len(dict(leaf_fields()))} keys with units, defaults, ranges and sources: "
             "docs/model.md#parameters;",
             "the command line, sweeps, launchers and errors: docs/cli.md.",
             "Example: bubblesim scenario=dotcom_crash engine.n_paths=2_000_000 engine.seed=7"]
    return "\n".join(lines)
