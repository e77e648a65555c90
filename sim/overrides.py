"""Command-line overrides checked against the schema before Hydra composes anything.

Hydra accepts ``+model.not_a_key=1`` silently (``+`` adds keys even to a structured config),
stops a bare ``dotcom_crash`` with "missing EQUAL at '<EOF>'", and reports an unknown key or
a wrong type in several lines with exit code 1. Every override is checked here first: its
key must be a key of the schema (sim/schema.py) or a config group, its values must have the
field's type (as OmegaConf converts them), and a mistake ends in one line, exit code 2, that
names the key and suggests the closest valid one. Ranges are checked later, on the composed
config (sim/params.py: validate), so that one bad value in a sweep fails only its own job.
``hydra.*`` and ``hydra/...`` overrides are Hydra's own and left to it.
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path

import yaml
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sim.schema import (
    Config,
    ConfigError,
    EventConfig,
    PriorConfig,
    TargetConfig,
    allowed_text,
    leaf_fields,
    readable_number,
)

GROUPS = ("start", "scenario", "engine", "output", "events", "priors",
          "targets")  # hydra/... aside
OPTIONAL_GROUPS = ("events", "priors", "targets")  # null by default: ~GROUP removes them
EVENT_FIELDS = {f.name: f for f in fields(EventConfig)}
PRIOR_FIELDS = [f.name for f in fields(PriorConfig)]
TARGET_FIELDS = [f.name for f in fields(TargetConfig)]


def group_options(conf_dir: Path, group: str, extra: tuple[Path, ...] = ()) -> list[str]:
    """The options of a config group: the YAML files of conf/<group>/ (and of the ``extra``
    directories on Hydra's search path) and the defaults the schema registers
    (sim.schema.register_configs)."""
    from hydra.core.config_store import ConfigStore

    stored = ConfigStore.instance().repo.get(group, {})
    names = {p.stem for d in (Path(conf_dir), *extra) for p in (d / group).glob("*.yaml")}
    return sorted(names | {name.removesuffix(".yaml") for name in stored})


def search_path(argv: list[str]) -> tuple[Path, ...]:
    """The directories a ``hydra.searchpath=[file://DIR,...]`` override adds (where, e.g., a
    calibration's posterior priors file lives)."""
    dirs: list[Path] = []
    for arg in override_args(argv):
        if arg.lstrip("+").startswith("hydra.searchpath="):
            value = OverridesParser.create().parse_override(arg.lstrip("+")).value()
            for entry in value if isinstance(value, list) else [value]:
                if str(entry).startswith("file://"):
                    dirs.append(Path(str(entry)[len("file://"):]))
    return tuple(dirs)


def event_names(conf_dir: Path) -> list[str]:
    """The names of the events defined in conf/events/*.yaml and in the scenario files."""
    names = set()
    for path in Path(conf_dir).glob("events/*.yaml"):
        names |= set(yaml.safe_load(path.read_text()) or {})
    for path in Path(conf_dir).glob("scenario/*.yaml"):
        names |= set((yaml.safe_load(path.read_text()) or {}).get("events") or {})
    return sorted(names)


def override_args(argv: list[str]) -> list[str]:
    """The overrides among command-line arguments (flags such as -m or --cfg job left out)."""
    known, rest = get_args_parser().parse_known_args(argv)
    return [*known.overrides, *(a for a in rest if not a.startswith("-"))]


def _closest(word: str, candidates: list[str]) -> str | None:
    """The valid key or option a mistyped ``word`` most likely meant."""
    leaf = word.rsplit(".", 1)[-1]
    same_leaf = [c for c in candidates if c.rsplit(".", 1)[-1] == leaf]
    if len(same_leaf) == 1:
        return same_leaf[0]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.8)
    if close:
        return close[0]
    leaves = {c.rsplit(".", 1)[-1]: c for c in candidates}
    close = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.7)
    return leaves[close[0]] if close else None


def _did_you_mean(word: str, candidates: list[str]) -> str:
    best = _closest(word, candidates)
    return f"; did you mean {best}?" if best else ""


class _Checker:
    def __init__(self, conf_dir: Path, extra: tuple[Path, ...] = ()):
        self.fields = dict(leaf_fields())
        self.options = {g: group_options(conf_dir, g, extra) for g in GROUPS}
        self.typed = OmegaConf.structured(Config)  # OmegaConf's own type conversion
        self.events = event_names(conf_dir)

    def check(self, arg: str) -> None:
        if "=" not in arg and not arg.startswith("~"):
            self._bare(arg)
        try:
            override = OverridesParser.create().parse_override(arg)
        except HydraException as exc:
            raise ConfigError(f"cannot read the override '{arg}': "
                              f"{str(exc).splitlines()[0]}") from None
        key = override.key_or_group
        if key.startswith("hydra"):
            return
        if key in self.options:
            return self._group(key, override)
        if key.startswith("events."):
            return self._event(key, override)
        if key.startswith("priors."):
            return self._prior(key)
        if key.startswith("targets."):
            return self._target(key)
        if key not in self.fields:
            raise ConfigError(self._unknown(key))
        if override.is_delete():
            raise ConfigError(f"{key} cannot be deleted (every key of the schema has a value)")
        if override.is_add():
            raise ConfigError(f"{key} already exists, so '+' cannot add it; set it without the "
                              f"'+': {arg.lstrip('+')}")
        if override.is_interval_sweep():
            return  # a continuous range for a sweeper plugin; its bounds are checked per job
        values = list(override.sweep_iterator()) if override.is_sweep_override() else [
            override.value()]
        for value in values:
            self._typed(key, value)

    def _bare(self, arg: str) -> None:
        if arg in self.options["scenario"]:
            raise ConfigError(f"'{arg}' is not an override; did you mean scenario={arg}?")
        if arg in self.fields:
            raise ConfigError(f"'{arg}' has no value; did you mean {arg}=VALUE?")
        raise ConfigError(f"'{arg}' is not an override KEY=VALUE"
                          + _did_you_mean(arg, [*self.options["scenario"], *self.fields]))

    def _group(self, group: str, override) -> None:
        if override.is_delete() and group in OPTIONAL_GROUPS:
            return  # ~priors: none
        choices = self.options[group]
        values = list(override.sweep_iterator()) if override.is_sweep_override() else [
            override.value()]
        for value in values:
            if group == "events" and isinstance(value, list):  # events=[a,b]: several files
                self._group(group, OverridesParser.create().parse_override(
                    f"{group}={','.join(map(str, value))}"))
                continue
            if str(value) not in choices:
                raise ConfigError(f"{group}={value}: no such {group}; choose one of "
                                  f"{', '.join(choices)}"
                                  + _did_you_mean(str(value), choices))

    def _event(self, key: str, override) -> None:
        """events.NAME.FIELD=VALUE: a parameter of an event that a file defines."""
        parts = key.split(".")
        if len(parts) != 3 or parts[1] not in self.events:
            raise ConfigError(f"{key}: events are defined in conf/events/NAME.yaml (or a scenario "
                              "file) and selected with events=NAME; then set one of their keys "
                              f"with events.EVENT.KEY=VALUE (events defined: "
                              f"{', '.join(self.events)})")
        if parts[2] not in EVENT_FIELDS:
            raise ConfigError(f"{key}: an event has no key {parts[2]}; its keys: "
                              f"{', '.join(EVENT_FIELDS)}"
                              + _did_you_mean(parts[2], list(EVENT_FIELDS)))
        if override.is_sweep_override() or override.is_interval_sweep():
            return
        typed = OmegaConf.structured(EventConfig)
        try:
            OmegaConf.update(typed, parts[2], override.value(), merge=False)
        except (OmegaConfBaseException, ValueError) as exc:
            f = EVENT_FIELDS[parts[2]]
            allowed = (allowed_text(f.metadata) if "lo" in f.metadata
                       else f"allowed: {f.metadata['allowed']}")
            raise ConfigError(f"{key} = {override.value()!r} is of the wrong type; "
                              f"{allowed}") from exc

    def _prior(self, key: str) -> None:
        """priors.NAME={...} (a whole prior) or priors.NAME.FIELD=VALUE; what the values
        may be depends on the key the prior varies, so sim.priors checks them composed."""
        parts = key.split(".")
        if len(parts) == 3 and parts[2] in PRIOR_FIELDS or len(parts) == 2:
            return
        raise ConfigError(f"{key}: a prior has no key {'.'.join(parts[2:])}; its keys: "
                          f"{', '.join(PRIOR_FIELDS)}"
                          + _did_you_mean(parts[-1], PRIOR_FIELDS))

    def _target(self, key: str) -> None:
        """targets.NAME={...}, targets.NAME.FIELD=VALUE or targets.NAME.observed.YYYY-MM=V;
        sim.targets checks the values composed."""
        parts = key.split(".")
        if (len(parts) == 2 or len(parts) == 3 and parts[2] in TARGET_FIELDS
                or len(parts) == 4 and parts[2] == "observed"):
            return
        raise ConfigError(f"{key}: a target has no key {'.'.join(parts[2:])}; its keys: "
                          f"{', '.join(TARGET_FIELDS)}"
                          + _did_you_mean(parts[-1], TARGET_FIELDS))

    def _unknown(self, key: str) -> str:
        sections = sorted({k.rsplit(".", 1)[0] for k in self.fields if "." in k})
        if key in sections:
            example = next(k for k in self.fields if k.startswith(key + "."))
            return f"{key} is a section, not a key; set one of its keys, e.g. {example}=..."
        return (f"unknown key {key}" + _did_you_mean(key, [*self.fields, *self.options])
                + " (bubblesim --help lists the keys; docs/model.md#parameters all of them)")

    def _typed(self, key: str, value) -> None:
        try:
            OmegaConf.update(self.typed, key, value, merge=False)
        except (OmegaConfBaseException, ValueError) as exc:
            f = self.fields[key]
            kind = KINDS.get(str(f.type), str(f.type))
            allowed = (allowed_text(f.metadata) if "lo" in f.metadata
                       else f"allowed: {f.metadata['allowed']}")
            shown = readable_number(value) if value is not None else "null"
            raise ConfigError(f"{key} = {shown} is not {kind}; {allowed}") from exc


# the schema's field types (annotations are strings) as an error message names them
KINDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
         "Backend": "a backend", "list[float]": "a list of numbers, one per firm ([a,b,...])",
         "list[str]": "a list of names, one per firm"}


def check(argv: list[str], conf_dir: Path) -> None:
    """Raise ConfigError (one line) for the first override that the schema does not accept."""
    checker = _Checker(conf_dir, search_path(argv))
    for arg in override_args(argv):
        checker.check(arg)
