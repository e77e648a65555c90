"""Where the engine's time goes, by section of the model's step: perf on the compiled code.

numba's machine code has no symbols perf can read, so this compiles the engine with debug
information into an empty cache, runs it under `perf record`, takes the sample addresses
relative to the compiled functions' entry points and maps them to source lines through the
debug information of their object code (`objdump -dl --inlines`). Each sample is charged
to the line of `step` (sim/model.py) that called the code, or to the kernel's line outside
`step` (the reductions, the histogram counts). Usage (Linux with perf and binutils):

    .venv/bin/python tools/profile_engine.py [--scenario dotcom_crash] [--paths 200000]
    .venv/bin/python tools/profile_engine.py --override priors=wide   # any config override
    .venv/bin/python tools/profile_engine.py --section labs_cash    # lines within a section

It compiles for about a minute. A profile gives shares, which the noise of a shared
machine leaves alone; compare wall times only alternately and repeatedly.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("_simulate_block", "_record")

# run inside `perf record`: the engine, then each function's address and object code
_CHILD = """
import sys
from dataclasses import replace
sys.path.insert(0, {root!r})
from sim import kernel
from sim.app import compose
from sim.engine import simulate
from sim.params import model_vector, run_settings
cfg = compose(*{overrides!r})
settings = replace(run_settings(cfg), n_paths={paths}, quiet=True, per_path=False)
p = model_vector(cfg)
simulate(p, replace(settings, n_paths=1000))
simulate(p, settings)
# dumped after the run: its arrays may take a specialization the short run did not compile
for name in {functions!r}:
    for cres in getattr(kernel, name).overloads.values():
        library = cres.library
        try:
            code = library._get_compiled_object()
        except Exception:
            continue
        address = library.get_pointer_to_function(cres.fndesc.llvm_func_name)
        with open(f"{{name}}-{{address:x}}.o", "wb") as out:
            out.write(code)
"""


def _disassembly(obj: Path) -> list[tuple[int, list[tuple[str, int, str]]]]:
    """(offset, inline chain innermost first: (file, line, function)) per instruction."""
    text = subprocess.run(["objdump", "-dl", "--inlines", "--no-show-raw-insn", str(obj)],
                          capture_output=True, text=True, check=True).stdout
    rows, chain = [], []
    for line in text.splitlines():
        m = re.match(r"^\s+([0-9a-f]+):\s", line)
        if m:
            rows.append((int(m.group(1), 16), chain))
            continue
        m = re.match(r"^inlined by (\S+):(\d+) \((\S+)\)", line)
        if m:
            chain = [*chain, (Path(m.group(1)).name, int(m.group(2)), m.group(3))]
            continue
        m = re.match(r"^(/\S+):(\d+)", line)
        if m:
            chain = [(Path(m.group(1)).name, int(m.group(2)), "")]
    return rows


def _model_line(chain) -> str:
    """The innermost line of the model (model.py, equations.py) in an inline chain: a
    sample in exp or log is charged to the equation that called it."""
    file, line, _ = next((c for c in chain if c[0] in ("model.py", "equations.py")), chain[0])
    return f"{file}:{line}"


def _charge(chain, sections: list[str]) -> str | None:
    """The key a sample is charged to: step's calling line, else the kernel's line; inside
    one of ``sections``, the innermost line of the model."""
    for _, line, function in chain:
        if "5model4step" in function:
            caller = f"model.py:{line}"
            if not sections:
                return caller
            called = _SOURCE["model.py"][line - 1].strip()
            return (_model_line(chain)
                    if any(called.startswith(s + "(") for s in sections) else None)
    if sections:
        return None
    kernel = [f"kernel.py:{line}" for file, line, _ in chain if file == "kernel.py"]
    return kernel[0] if kernel else f"{chain[0][0]}:{chain[0][1]}" if chain else "?"


_SOURCE = {name: (ROOT / "sim" / name).read_text().splitlines()
           for name in ("model.py", "kernel.py", "equations.py", "vectorize.py",
                        "reductions.py", "histogram.py", "rng.py")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="dotcom_crash")
    parser.add_argument("--override", action="append", default=[],
                        help="a config override, e.g. priors=wide (repeatable)")
    parser.add_argument("--paths", type=int, default=200_000)
    parser.add_argument("--section", action="append", default=[],
                        help="a section of step (e.g. labs_cash): its lines (repeatable)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "NUMBA_DEBUGINFO": "1", "NUMBA_CACHE_DIR": str(work / "cache")}
        (work / "child.py").write_text(_CHILD.format(root=str(ROOT),
                                                       overrides=[f"scenario={args.scenario}",
                                                                  *args.override],
                                                     paths=args.paths, functions=FUNCTIONS))
        subprocess.run(["perf", "record", "-q", "-o", "perf.data", sys.executable, "child.py"],
                       cwd=work, env=env, check=True, capture_output=True)
        script = subprocess.run(["perf", "script", "-i", "perf.data", "-F", "ip"], cwd=work,
                                capture_output=True, text=True, check=True).stdout
        samples = collections.Counter(int(ip, 16) for ip in script.split())
        counts, total = collections.Counter(), 0
        for obj in work.glob("*.o"):
            function, address = obj.stem.rsplit("-", 1)
            base = int(address, 16)
            for offset, chain in _disassembly(obj):
                hits = samples.get(base + offset, 0)
                if not hits:
                    continue
                total += hits
                if function != "_simulate_block":
                    key = None if args.section else function
                else:
                    key = _charge(chain, args.section)
                if key is not None:
                    counts[key] += hits
    run = " ".join([args.scenario, *args.override])
    print(f"{run}, {args.paths:,} paths: {total:,} samples in the engine")
    for key, hits in counts.most_common(args.top):
        file, _, line = key.partition(":")
        text = _SOURCE[file][int(line) - 1].strip() if file in _SOURCE and line else ""
        print(f"{100 * hits / total:6.1f}%  {key:18s} {text[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
