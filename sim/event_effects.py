"""`bubblesim-events [KEY=VALUE ...] --out DIR`: each dated event's effect on the headline
per-path figures, as paired differences against the same run without events.

The config is composed as `bubblesim` composes it (scenario, events=NAME, any override).
Then the run is simulated without its events (the base), with each event alone and, if
there are several, with all of them, on the same seed and paths: the random numbers are a
pure function of (seed, path, month, draw), so every variant sees the same shocks path by
path (common random numbers) and the difference of a figure on one path is the event's
effect on that path alone. Reported per event and figure: the mean of (event - base) over
the paths and its standard error, sd(event - base) / sqrt(n). Written atomically to
DIR/events.nc and DIR/events.md (docs/cli.md#bubblesim-events); a directory that already
holds them is refused unless --overwrite.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
import xarray as xr
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sim import io, layout, overrides
from sim.params import event_month, model_vector, run_settings
from sim.schema import Config, ConfigError

EVENTS_NC, EVENTS_MD = "events.nc", "events.md"
TITLE = "bubblesim event effects"
BASE, ALL = "base", "all"
# (name, unit, meaning): the per-path figures an event's effect is reported on
FIGURES = (
    ("max_drawdown", "fraction", "index max drawdown"),
    ("terminal_index", "ratio to start", "index at the horizon"),
    ("defaults_labs", "firms per path", "lab defaults by the horizon"),
    ("defaults_clouds", "firms per path", "cloud defaults by the horizon"),
    ("defaults_vendors", "firms per path", "vendor defaults by the horizon"),
    ("capex_max_drawdown", "fraction", "fall of trailing-12-month capex"),
    ("rental_price_max_drawdown", "fraction", "fall of the rent"),
    ("min_utilization", "fraction", "lowest utilization"),
    ("max_drawdown_labs", "fraction", "labs' equity max drawdown"),
    ("max_drawdown_clouds", "fraction", "clouds' equity max drawdown"),
    ("max_drawdown_vendors", "fraction", "vendors' equity max drawdown"),
)


def path_figures(per_path: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reported figures of each path, from the engine's per-path outputs."""
    defaulted = (per_path["default_month"] >= 0).sum(axis=2)
    out = {name: per_path[name].astype(float) for name in (
        "max_drawdown", "terminal_index", "capex_max_drawdown", "rental_price_max_drawdown",
        "min_utilization")}
    for k, sector in enumerate(layout.SECTORS):
        out[f"defaults_{sector}"] = defaulted[:, k].astype(float)
        out[f"max_drawdown_{sector}"] = per_path["sector_max_drawdown"][:, k].astype(float)
    return out


def paired_difference(event: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """Mean of (event - base) over paths and its standard error sd / sqrt(n)."""
    diff = np.asarray(event, dtype=float) - np.asarray(base, dtype=float)
    n = diff.size
    se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(diff.mean()), se


def variants(cfg: Config) -> dict[str, Config]:
    """The runs to compare: the base (no events), each event alone, and all of them."""
    runs = {BASE: replace(cfg, events={})}
    for name, event in cfg.events.items():
        runs[name] = replace(cfg, events={name: event})
    if len(cfg.events) > 1:
        runs[ALL] = cfg
    return runs


def simulate_figures(cfg: Config) -> dict[str, np.ndarray]:
    """The per-path figures of one variant (per-path outputs kept, whatever the config)."""
    from sim.engine import simulate

    settings = replace(run_settings(cfg), per_path=True, quiet=True)
    return path_figures(simulate(model_vector(cfg), settings,
                                 backend=settings.backend).per_path)


def effects(cfg: Config, say=None) -> xr.Dataset:
    """Every event's paired effect on every figure, against the base run."""
    runs = variants(cfg)
    figures = {}
    for k, (name, variant) in enumerate(runs.items(), start=1):
        if say:
            say(f"simulating {name} ({k}/{len(runs)})")
        figures[name] = simulate_figures(variant)
    base = figures.pop(BASE)
    names = [f for f, _, _ in FIGURES]
    shape = (len(figures), len(names))
    effect, effect_se, mean = np.empty(shape), np.empty(shape), np.empty(shape)
    for e, run in enumerate(figures.values()):
        for f, figure in enumerate(names):
            effect[e, f], effect_se[e, f] = paired_difference(run[figure], base[figure])
            mean[e, f] = run[figure].mean()
    kinds = [cfg.events[n].kind if n in cfg.events else ALL for n in figures]
    months = [event_month(cfg, n, cfg.events[n]) if n in cfg.events else -1 for n in figures]
    return xr.Dataset(
        {"effect": (("event", "figure"), effect,
                    {"long_name": "mean over paths of (event run - base run)"}),
         "effect_se": (("event", "figure"), effect_se,
                       {"long_name": "standard error of effect: sd of the differences / sqrt(n)"}),
         "event_mean": (("event", "figure"), mean, {"long_name": "mean with the event"}),
         "base_mean": (("figure",), np.array([base[f].mean() for f in names]),
                       {"long_name": "mean without events"})},
        coords={"event": list(figures), "figure": names,
                "unit": ("figure", [u for _, u, _ in FIGURES]),
                "meaning": ("figure", [m for _, _, m in FIGURES]),
                "kind": ("event", kinds), "month": ("event", months)},
        attrs={"title": TITLE, "scenario": cfg.scenario_name,
               "n_paths": run_settings(cfg).shard_range()[1], "seed": cfg.engine.seed,
               "horizon_months": cfg.model.horizon_months,
               "events": OmegaConf.to_yaml(OmegaConf.structured(cfg).events),
               "config": OmegaConf.to_yaml(OmegaConf.structured(cfg)),
               "package": f"bubblesim {version('bubblesim')}",
               "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def markdown(ds: xr.Dataset, command: str = "") -> str:
    """The table of events.md: a row per figure, the base mean, then each event's effect
    ± its standard error."""
    events = [str(e) for e in ds["event"].values]
    lines = [f"# bubblesim-events: {ds.attrs['scenario']}", "",
             f"{ds.attrs['n_paths']:,} paths, seed {ds.attrs['seed']}, "
             f"{ds.attrs['horizon_months']} months; each event run and the base run (no "
             "events) share their random numbers path by path. Each cell is the mean over "
             "paths of (event - base) ± its standard error (sd of the differences / sqrt(n)).",
             ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["| event | kind | month |", "|---|---|---:|"]
    lines += [f"| {e} | {k} | {m if m >= 0 else ''} |" for e, k, m in
              zip(events, ds["kind"].values, ds["month"].values, strict=True)]
    lines += ["", "| figure | unit | base | " + " | ".join(events) + " |",
              "|---|---|---:|" + "---:|" * len(events)]
    for f, figure in enumerate(ds["figure"].values):
        cells = [f"{_number(ds['effect'].values[e, f])} ± "
                 f"{_number(ds['effect_se'].values[e, f])}" for e in range(len(events))]
        lines.append(f"| {ds['meaning'].values[f]} (`{figure}`) | {ds['unit'].values[f]} | "
                     f"{_number(ds['base_mean'].values[f])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def refuse_finished(out_dir: Path) -> None:
    """io.OutputError if out_dir already holds a report (events.nc or events.md)."""
    done = [name for name in (EVENTS_NC, EVENTS_MD) if (Path(out_dir) / name).exists()]
    if done:
        raise io.OutputError(f"{out_dir} already holds {', '.join(done)}; choose another "
                             "--out or pass --overwrite to replace them")


def write(ds: xr.Dataset, text: str, out_dir: Path, overwrite: bool = False) -> Path:
    """events.md, then events.nc into out_dir, each atomically (temporary file and rename),
    out_dir locked meanwhile; if either fails, neither is left. io.OutputError if out_dir
    already holds them and not ``overwrite``."""
    out_dir = Path(out_dir)
    held = io.lock(out_dir, "--out DIR")
    try:
        if not overwrite:
            refuse_finished(out_dir)
        try:
            io.write_text(text, out_dir / EVENTS_MD)
            io.write_dataset(ds, out_dir / EVENTS_NC)
        except BaseException:
            for name in (EVENTS_MD, EVENTS_NC):
                (out_dir / name).unlink(missing_ok=True)
            raise
    finally:
        held.release()
    return out_dir


def compose_with_events(args: list[str]) -> Config:
    """The validated config of ``bubblesim ARGS``; ConfigError if it has no events."""
    from sim.app import CONF_DIR, compose

    overrides.check(args, CONF_DIR)
    try:
        cfg = compose(*args)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None
    if not cfg.events:
        files = ", ".join(overrides.group_options(CONF_DIR, "events"))
        raise ConfigError(f"the config has no events; select some with events=NAME "
                          f"(conf/events/: {files})")
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bubblesim-events",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE as for bubblesim, e.g. "
                        "scenario=excess_capacity events=hyperscaler_sale engine.n_paths=20000")
    parser.add_argument("--out", type=Path, required=True,
                        help="directory for events.nc and events.md")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace events.nc and events.md if --out holds them")
    args = parser.parse_args(argv)
    try:
        cfg = compose_with_events(args.overrides)
        if not args.overwrite:  # before simulating; checked again under the lock
            refuse_finished(args.out)
        quiet = cfg.output.quiet
        ds = effects(cfg, None if quiet else lambda s: print(f"bubblesim-events: {s}",
                                                            file=sys.stderr))
        text = markdown(ds, " ".join(["bubblesim-events", *args.overrides]))
        write(ds, text, args.out, args.overwrite)
    except ConfigError as exc:
        print(f"bubblesim-events: invalid config: {exc}", file=sys.stderr)
        return 2
    except io.OutputError as exc:
        print(f"bubblesim-events: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"bubblesim-events: {io.write_failure(args.out, exc, '--out DIR')}",
              file=sys.stderr)
        return 1
    if not quiet:
        print(text, end="")
        print(f"\nwrote {args.out / EVENTS_NC} and {EVENTS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
