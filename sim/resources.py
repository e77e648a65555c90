"""What a run will need, checked against what the machine has before any work starts.

A run's peak memory is the per-path outputs of the whole run (kept until results.nc is
written) plus a working set: the chunk's reductions, one 16-bit histogram slab per thread, the
int64 run totals and the sampled trajectories, and the interpreter with the compiled engine.
The estimate errs high: it counts the transient copies that analysis and writing make of the
per-path arrays (measured: 1e7 paths with per-path outputs peak at 1.17x their arrays' bytes).
results.nc is bounded by the bytes of its arrays (compression only makes it smaller).
"""

from __future__ import annotations

import resource
import shutil
from dataclasses import dataclass
from pathlib import Path

import psutil

from sim.layout import N_HIST as N_SERIES  # histogrammed series
from sim.layout import N_OBS as N_OBSERVABLES  # sampled series
from sim.schema import ConfigError

N_REDUCTIONS = 35    # per-path reductions in a chunk (sim.reductions.N_RED)
BASELINE = 400e6     # interpreter, numba, LLVM and the loaded engine (measured 340 MB RSS)
PER_PATH_COPIES = 1.4  # peak / bytes of the per-path arrays (measured 1.17)
GB = 1e9


class ResourceError(ConfigError):
    """The run would need more memory or disk than the machine has; says how much, and what
    to change."""


def per_path_bytes(n_firms: int) -> int:
    """Bytes of the per-path outputs of one path (sim.engine.PER_PATH_DTYPES, path coord)."""
    # drawdowns, recovery, terminal index, utilization; 3 sectors; the demand decomposition
    # (4 parts, the total), the implied elasticity, the shortest lab runway
    floats = 6 + 3 + 4 + 3
    # int16: peak-to-trough months, trough month, months under water, default months
    return 8 * floats + 2 * 3 + 2 * 3 * n_firms + 8


@dataclass(frozen=True)
class Estimate:
    per_path: float      # bytes of per-path outputs kept for the whole run
    working: float       # bytes of the working set (chunk, histograms, samples, engine)
    results_file: float  # upper bound on the size of results.nc

    @property
    def memory(self) -> float:
        return self.per_path * PER_PATH_COPIES + self.working


def estimate(n_paths: int, chunk_size: int, threads: int, horizon: int, hist_bins: int,
             n_firms: int, sample_paths: int, per_path: bool) -> Estimate:
    """Peak memory and results.nc size of a run of ``n_paths`` paths (this shard's)."""
    months = horizon + 1
    chunk = min(chunk_size, n_paths)
    kept = n_paths * per_path_bytes(n_firms) if per_path else 0.0
    hist = months * N_SERIES * (hist_bins + 2) * 8.0
    samples = min(sample_paths, n_paths) * months * N_OBSERVABLES * 8.0
    chunk_bytes = chunk * (8 * N_REDUCTIONS + 6 * n_firms + 2 * per_path_bytes(n_firms))
    # slabs (16-bit, one per thread), their int64 sum, the totals and one analysis transient
    working = BASELINE + chunk_bytes + hist * (max(threads, 1) / 4 + 3) + 2 * samples
    return Estimate(per_path=kept, working=working, results_file=kept + hist + samples + 1e6)


def available_memory() -> float:
    """Bytes this process may still allocate: the least of free RAM, the cgroup's limit and
    the address-space limit (ulimit -v)."""
    limits = [float(psutil.virtual_memory().available)]
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft - psutil.Process().memory_info().vms)
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = float(Path(usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and float(limit) < 2**60:
            limits.append(float(limit) - usage)
    return max(min(limits), 0.0)


def free_disk(directory: Path) -> float:
    """Free bytes on the file system that will hold ``directory`` (it may not exist yet)."""
    path = Path(directory).absolute()
    while not path.exists():
        path = path.parent
    return float(shutil.disk_usage(path).free)


def gigabytes(n: float) -> str:
    return f"{n / GB:,.1f} GB" if n >= 0.1 * GB else f"{n / 1e6:,.0f} MB"


def _memory_remedies(need: Estimate, memory: float) -> list[str]:
    if not need.per_path or memory <= need.working:
        return ["fewer engine.hist_bins, engine.sample_paths or model.horizon_months"]
    shards = max(2, int(-(-need.per_path * PER_PATH_COPIES // (memory - need.working))))
    return [f"output.per_path=false (needs about {gigabytes(need.working)})",
            f"engine.num_shards={shards} with engine.shard_index=0..{shards - 1} run one at a "
            "time or on several machines, then bubblesim-merge"]


def check(need: Estimate, n_paths: int, output_dir: Path, memory: float | None = None,
          disk: float | None = None) -> None:
    """Raise ResourceError if the run cannot fit in memory or on disk."""
    memory = available_memory() if memory is None else memory
    if need.memory > memory:
        parts = (f"per-path outputs {gigabytes(need.per_path * PER_PATH_COPIES)}, working set "
                 f"{gigabytes(need.working)}" if need.per_path else
                 "working set: histograms, samples and the engine")
        raise ResourceError(
            f"not enough memory: {n_paths:,} paths need about {gigabytes(need.memory)} "
            f"({parts}) but {gigabytes(memory)} is available; use "
            + " or ".join(_memory_remedies(need, memory)))
    disk = free_disk(output_dir) if disk is None else disk
    if need.results_file > disk:
        remedy = ("output.per_path=false" if need.per_path > need.results_file / 2 else
                  "fewer engine.hist_bins, engine.sample_paths or model.horizon_months")
        raise ResourceError(
            f"not enough disk space: results.nc may take up to "
            f"{gigabytes(need.results_file)} but {output_dir} has {gigabytes(disk)} free; "
            f"free some space, choose another hydra.run.dir, or use {remedy}")
