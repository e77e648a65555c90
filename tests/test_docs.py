"""docs/model.md stays in sync with the code: every parameter with its unit, default and
range, the start's figures, the scenarios' departures, the mutation record, and no stale
names of functions, tests or files; and every command the README and docs show gets past
the checks before a run."""

from __future__ import annotations

import ast
import importlib.util
import json
import re

import pytest
import yaml

from conftest import ROOT, SCENARIOS
from sim.schema import EVENT_KINDS, leaf_fields, range_text

MODEL_MD = (ROOT / "docs" / "model.md").read_text()


def _table_rows(text: str) -> dict[str, list[str]]:
    """Rows of every markdown table whose first cell is a backticked key: key -> cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"`[a-z0-9_.]+`", cells[0]):
            rows.setdefault(cells[0].strip("`"), cells[1:])
    return rows


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


def _section(title: str) -> str:
    """The text of one '## ' section of docs/model.md."""
    return MODEL_MD.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


ROWS = _table_rows(_section("Parameters"))
# conf/start/NAME.yaml, each with a section "The start (NAME)"
STARTS = ("2026q1", "2023q1", "1995q1")
SCENARIO_ROWS = _table_rows(_section("Scenarios"))


@pytest.mark.parametrize("key, field", [(k, f) for k, f in leaf_fields()
                                        if k.startswith("model.")])
def test_every_model_parameter_is_documented_with_its_unit_default_and_range(key, field):
    assert key in ROWS, f"{key} is missing from docs/model.md#parameters"
    unit, default, allowed = ROWS[key][:3]
    meta = field.metadata
    assert unit == f"`{meta['unit']}`", key
    assert _number(default) == pytest.approx(field.default), key
    assert allowed == range_text(meta), key


def _start_file(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / "start" / f"{name}.yaml").read_text())["start"]


@pytest.mark.parametrize("name", STARTS)
def test_every_start_figure_is_documented_with_the_start_files_value(name):
    start, rows = _start_file(name), _table_rows(_section(f"The start ({name})"))
    for key, field in leaf_fields():
        group, *rest = key.split(".")
        if group != "start" or field.type not in (float, int, "float", "int"):
            continue
        value = start
        for part in rest:
            value = value[part]
        assert key in rows, f"{key} is missing from docs/model.md#the-start-{name}"
        assert _number(rows[key][0]) == pytest.approx(value), key


@pytest.mark.parametrize("name", STARTS)
def test_the_per_firm_table_is_the_start_files(name):
    start = _start_file(name)
    documented = [line for line in _section(f"The start ({name})").splitlines()
                  if re.match(r"\| (labs|clouds|vendors): ", line)]
    expected = []
    for sector, last in (("labs", "training_share"), ("clouds", "debt_share"),
                         ("vendors", None)):
        firms = start[sector]
        for j in range(len(firms["names"])):
            expected.append([firms[f][j] for f in ("share", "cash", "debt", "value",
                                                   "other_cash")]
                            + ([firms[last][j]] if last else [])
                            + ([firms["stake"][j]] if "stake" in firms else [])
                            + ([firms["contracted_share"][j]] if "contracted_share" in firms
                               else []))
    assert len(documented) == len(expected)
    for line, values in zip(documented, expected, strict=True):
        cells = [c.strip() for c in line.strip().strip("|").split("|")][1:]
        assert [_number(c) for c in cells if c] == pytest.approx(values), line


def test_the_scenario_table_is_the_scenario_files():
    """Each scenario's column holds exactly the values its file sets (blank: the default)."""
    header = next(line for line in _section("Scenarios").splitlines()
                  if line.startswith("| key | default | soft_landing"))
    names = [c.strip() for c in header.strip("|").split("|")][2:]
    assert names == list(SCENARIOS)
    files = {name: yaml.safe_load((ROOT / "conf" / "scenario" / f"{name}.yaml").read_text())
             .get("model", {}) for name in names}
    keys = {f"model.{group}.{field}" for model in files.values()
            for group, fields in model.items() for field in fields}
    for key in keys:
        group, field = key.split(".")[1:]
        assert _number(SCENARIO_ROWS[key][0]) == pytest.approx(_number(ROWS[key][1])), key
        for column, name in enumerate(names, start=2):
            cell = SCENARIO_ROWS[key][column - 1]
            value = files[name].get(group, {}).get(field)
            if value is None:
                assert cell == "", (name, key)
            else:
                assert _number(cell) == pytest.approx(value), (name, key)


def _defined_names() -> set[str]:
    """Every function, class and module-level name defined in sim/ and tests/."""
    names = set()
    for path in [*ROOT.glob("sim/*.py"), *ROOT.glob("tests/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_function_and_test_the_docs_name_exists():
    """A backticked snake_case name in docs/model.md is a function, test or constant of the
    code, a parameter's last part, a kind of dated event or an output variable; a renamed
    function fails here."""
    defined = _defined_names()
    keys = {part for key, _ in leaf_fields() for part in key.split(".")}
    keys |= set(EVENT_KINDS)  # kinds of dated events
    outputs = set(re.findall(r"^\| `([a-z_]+)` \|", MODEL_MD, re.M))
    # names of code, not symbols of equations (w_j, mu_bust): every part 3+ characters
    cited = set(re.findall(r"`([a-z][a-z0-9]{2,}(?:_[a-z0-9]{3,})+)`", MODEL_MD))
    mutations = {r["id"] for r in _mutation_record()}
    unknown = sorted(n for n in cited - keys - outputs - mutations if n not in defined)
    assert not unknown, f"docs/model.md names what the code does not define: {unknown}"


def _mutation_record() -> list[dict]:
    return json.loads((ROOT / "tools" / "mutations.json").read_text())


def _mutate_module():
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
    mutate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutate)
    return mutate


def test_every_scripted_mutation_still_applies():
    """Each mutation's original text occurs exactly once in its file, so a rewrite of the
    model cannot silently stop tools/mutate.py halfway."""
    for name, _, path, original, _ in _mutate_module().MUTATIONS:
        assert (ROOT / path).read_text().count(original) == 1, name


def test_the_mutation_table_is_the_record_of_the_last_run():
    """docs/model.md shows tools/mutations.json as tools/mutate.py prints it; the record
    covers every scripted mutation, and every one is killed."""
    mutate = _mutate_module()
    record = _mutation_record()
    assert [r["id"] for r in record] == [m[0] for m in mutate.MUTATIONS]
    assert mutate.table(record) in MODEL_MD
    assert all(r["killed"] for r in record), [r["id"] for r in record if not r["killed"]]


def test_every_file_the_docs_name_exists():
    pattern = r"((?:sim|tests|conf|docs|benchmarks|tools)/[a-z0-9_/.-]+\.(?:py|yaml|md))"
    for path in set(re.findall(pattern, MODEL_MD)):
        assert (ROOT / path).exists(), path


APPS = {"bubblesim": "config", "bubblesim-calibrate": "calibrate"}
# a value the reader fills in (a run directory, a count, a shard, an address)
PLACEHOLDER = re.compile(r"\b(RUN|N|K|i|HOST:PORT)\b")


def _documented_commands() -> list:
    """The overrides of every `bubblesim` and `bubblesim-calibrate` command in the README's
    and the docs' code blocks (continuation lines joined; the words after the overrides are
    the docs' comment), except those that need a file a run makes (priors=posterior) or a
    value the reader fills in."""
    commands = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```[a-z]*\n(.*?)```", path.read_text(), re.S):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                words = line.split()
                app = words[0].rsplit("/", 1)[-1] if words else ""
                if app not in APPS:
                    continue
                args = []
                for word in words[1:]:
                    if word in ("-m", "--multirun"):
                        continue
                    if not re.match(r"['\"]?[+~]?[a-z][\w./@-]*=", word):
                        break
                    args.append(word.strip("'\""))
                if "priors=posterior" in args or any(PLACEHOLDER.search(a) for a in args):
                    continue
                commands.setdefault((app, tuple(args)), path.name)
    return [pytest.param(app, args, id=f"{where}: {app} {' '.join(args)}")
            for (app, args), where in commands.items()]


def _first_job(args: tuple[str, ...]) -> list[str]:
    """The overrides of a sweep's first job (each swept key at its first value), without
    Hydra's own (hydra.*, hydra/...)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    job = []
    for arg in args:
        if arg.startswith(("hydra.", "hydra/")):
            continue
        override = parser.parse_override(arg)
        if override.is_sweep_override():
            arg = f"{override.get_key_element()}={next(override.sweep_string_iterator())}"
        job.append(arg)
    return job


@pytest.mark.parametrize("app, args", _documented_commands())
def test_every_documented_command_passes_the_checks_before_its_run(app, args):
    """What a reader copies from the docs gets past every check made before the engine
    starts: the command-line check, Hydra's composition, the schema's ranges, the priors, the
    start's derivation and, for a calibration, its targets and forecast month (a calibration
    default that moved once made the 1995 backtest's documented command fail)."""
    from conftest import compose_config
    from sim import calibrate, overrides
    from sim.app import CONF_DIR, to_config
    from sim.params import model_vector, run_settings

    overrides.check(list(args), CONF_DIR)
    cfg = compose_config(*_first_job(args), config_name=APPS[app])
    if app == "bubblesim-calibrate":
        schema = calibrate.checked(cfg)[0]
    else:
        schema = to_config(cfg)
        run_settings(schema)
    model_vector(schema)
