"""The benchmark suite runs end to end and writes a valid record (speed is not asserted)."""

from __future__ import annotations

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
                     "rng_share", "priors_cost"}
    for row in data["rows"]:
        if row["kind"] == "throughput":
            assert row["path_steps_per_s"] > 0 and len(row["runs"]) == 3
        if row["kind"] == "peak_rss":
            assert row["bytes"] > 10_000_000
    page = (tmp_path / "BENCHMARKS.md").read_text()
    assert "M path-steps/s" in page and data["machine"]["commit"] in page
    assert "Parameters drawn per path (`priors=wide`" in page
