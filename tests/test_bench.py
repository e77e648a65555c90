"""The benchmark suite runs end to end and writes a valid record (speed is not asserted)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_quick_benchmark_writes_json_and_table(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick",
                             "--paths", "2000", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    (record,) = tmp_path.glob("*.json")
    data = json.loads(record.read_text())
    assert {"host", "numba", "numpy", "commit", "date"} <= set(data["machine"])
    kinds = {row["kind"] for row in data["rows"]}
    assert kinds == {"throughput", "engine_vs_numpy", "peak_rss", "start", "sweep_layout",
                     "rng_share", "priors_cost", "uncertainty", "calibration"}
    for row in data["rows"]:
        if row["kind"] == "throughput":
            assert row["path_steps_per_s"] > 0 and len(row["runs"]) == 3
        if row["kind"] == "peak_rss":
            assert row["bytes"] > 10_000_000
        if row["kind"] == "uncertainty":  # the Saltelli run with 10 priors, then its indices
            assert row["paths"] == 2000 and row["priors"] == 10 and 1 <= row["threads"] <= 2
            assert min(row["run_peak_rss"], row["sensitivity_peak_rss"]) > 10_000_000
            assert 0 < row["engine_seconds"] < row["run_seconds"] < row["total_seconds"]
        if row["kind"] == "calibration":  # bubblesim-calibrate with its defaults
            assert row["paths"] == 2000 and 0 < row["engine_seconds"] < row["seconds"]
            assert 0 < row["accepted"] < 2000 and row["peak_rss"] > 10_000_000
    page = (tmp_path / "BENCHMARKS.md").read_text()
    assert "M path-steps/s" in page and data["machine"]["commit"] in page
    assert "Parameters drawn per path (`priors=wide`" in page
    assert "uncertainty end to end (2,000 paths, 10 priors, 2 threads)" in page
    assert "under 3 minutes end to end" in page
    assert "`bubblesim-calibrate` end to end (2,000 draws" in page


def test_markdown_of_one_part_and_of_records_without_it():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    machine = {"date": "2026-12-02T00:00:00Z", "host": "h", "commit": "abc1234", "cpu": "c",
               "cores": 2, "python": "3", "numpy": "2", "numba": "0"}
    row = {"kind": "uncertainty", "scenario": "dotcom_crash", "paths": 1_000_000, "priors": 10,
           "threads": 2, "run_seconds": 120.0, "run_peak_rss": 2e9, "engine_seconds": 60.0,
           "sensitivity_seconds": 80.0, "sensitivity_peak_rss": 3e9, "total_seconds": 200.0}
    page = bench.markdown([{"machine": machine, "rows": [row]}])
    assert "| total | 200.0 | 3000 |" in page and "missed (3.3 min)" in page
    assert "M path-steps/s" not in page  # no empty tables for the parts not measured
    calibration = {"kind": "calibration", "paths": 10_000_000, "threads": 2, "seconds": 250.0,
                   "engine_seconds": 150.0, "peak_rss": 8e9, "accepted": 30_000,
                   "acceptance_rate": 0.003}
    page = bench.markdown([{"machine": machine, "rows": [calibration]}])
    assert ("`bubblesim-calibrate` end to end (10,000,000 draws, 2 threads): 250.0 s (engine "
            "150.0 s), peak RSS 8000 MB; kept 30,000 (0.30%)") in page
    assert "met (4.2 min)" in page
    older = bench.markdown([{"machine": machine, "rows": []}])
    assert "uncertainty" not in older and "Target" not in older


@pytest.mark.slow
def test_engine_only_record_takes_the_priors_runs_in_turn_with_the_point_value_runs(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick",
                             "--only", "engine", "--paths", "2000", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    (record,) = tmp_path.glob("*.json")
    rows = json.loads(record.read_text())["rows"]
    assert {row["kind"] for row in rows} == {"throughput", "engine_vs_numpy", "rng_share",
                                             "priors_cost"}
    (priors,) = [row for row in rows if row["kind"] == "priors_cost"]
    assert len(priors["runs"]) == len(priors["runs_with_priors"]) == 3
    assert priors["ratio"] == pytest.approx(priors["seconds_with_priors"] / priors["seconds"])
    assert "Parameters drawn per path" in (tmp_path / "BENCHMARKS.md").read_text()
