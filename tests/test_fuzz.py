"""Property-based fuzzing of the command line: random overrides of the schema's keys with
valid, out-of-range, wrong-type, NaN and huge values. Every outcome is a finished run (exit 0)
or one readable line with exit 2, never a traceback, never a results file after an error."""

from __future__ import annotations

import math
import sys
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.__main__ as entry
from sim import io, resources
from sim.schema import leaf_fields

FIELDS = dict(leaf_fields())
FUZZED = sorted(k for k in FIELDS if k not in ("engine.n_paths", "output.quiet"))
BAD_TEXT = ["abc", "[1,2]", "{a: 1}", "null", "nan", "inf", "-inf", "1e400", "''", "1.5.2"]


def _numbers(meta: dict, integer: bool) -> st.SearchStrategy:
    lo, hi = max(meta["lo"], -1e6), meta["hi"]
    inside_hi = min(hi, lo + 1e6) if math.isfinite(hi) else lo + 1e6
    inside = (st.integers(int(lo), int(min(inside_hi, 2**62))) if integer else
              st.floats(lo, inside_hi, allow_nan=False, allow_infinity=False))
    outside = st.sampled_from([lo - 1, -abs(hi) - 1 if math.isfinite(hi) else -1e300,
                               hi + 1 if math.isfinite(hi) else 1e308, 2**70, -(2**70)])
    return st.one_of(inside, outside, st.just(0), st.just(1))


def _value(key: str) -> st.SearchStrategy:
    f = FIELDS[key]
    if str(f.type).startswith("list"):  # a per-firm list: five values, or too few
        one = _numbers(f.metadata, False).map(str) if "lo" in f.metadata else st.just("x")
        good = st.lists(one, min_size=1, max_size=5).map(lambda v: "[" + ",".join(v) + "]")
    elif "lo" in f.metadata:
        good = _numbers(f.metadata, f.type == "int")
    elif f.type == "bool":
        good = st.sampled_from(["true", "false", "yes", "0"])
    else:
        good = st.sampled_from(["numba", "numpy", "2026-01", "1999-12", "2026-13", "soon"])
    return st.one_of(good.map(str), st.sampled_from(BAD_TEXT))


@st.composite
def overrides(draw) -> list[str]:
    keys = draw(st.lists(st.sampled_from(FUZZED), min_size=1, max_size=3, unique=True))
    chosen = [f"{key}={draw(_value(key))}" for key in keys]
    paths = draw(st.sampled_from(["1", "17", "64", "0", "-3", "2^41", "many", "1e12"]))
    plus = draw(st.booleans())
    unknown = ["+model.demand.not_a_key=1"] if draw(st.integers(0, 9)) == 0 else []
    prefix = "+" if plus and draw(st.integers(0, 4)) == 0 else ""
    return [*(prefix + c for c in chosen), f"engine.n_paths={paths}", *unknown]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    with mock.patch.object(sys, "argv", ["bubblesim", *argv]):
        try:
            entry.main()
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, capsys.readouterr().err


def _check(args: list[str], run_dir, capsys) -> None:
    # a 2 GB machine: runs too big for it must stop before they start, and quickly
    with mock.patch.object(resources, "available_memory", lambda: 2e9):
        code, err = _run([*args, "output.quiet=true", f"hydra.run.dir={run_dir}"], capsys)
    assert code in (0, 2), (args, code, err)
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bubblesim: "), (args, err)
        assert not (run_dir / io.RESULTS).exists(), args
        assert not run_dir.exists() or not any(run_dir.iterdir()) or {
            p.name for p in run_dir.iterdir()} <= {io.LOCK}, args
    else:
        assert (run_dir / io.RESULTS).is_file(), args
        io.read_results(run_dir)


def _fuzz(examples: int):
    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(args=overrides())
    def fuzz(args, tmp_path_factory, capsys):
        _check(args, tmp_path_factory.mktemp("fuzz") / "run", capsys)
    return fuzz


test_random_overrides_finish_or_fail_in_one_line = _fuzz(40)
test_random_overrides_many = pytest.mark.slow(_fuzz(300))


@pytest.mark.parametrize("args", [
    ["engine.n_paths=2^41"], ["engine.n_paths=1e12"], ["model.horizon_months=600",
                                                       "engine.hist_bins=65536",
                                                       "engine.n_paths=10"],
    ["engine.n_paths=1099511627776"], ["model.demand.elasticity=1e400", "engine.n_paths=5"],
    ["+model.demand.not_a_key=1", "engine.n_paths=5"], ["dotcom_crash"],
    ["engine.seed=-1", "engine.n_paths=5"], ["model.start_date=2026-13", "engine.n_paths=5"],
])
def test_known_hard_cases(args, tmp_path, capsys):
    _check(args, tmp_path / "run", capsys)
    assert not (tmp_path / "run" / io.RESULTS).exists()
