"""Mutation testing of the numeric core (``make mutation``; not part of CI).

mutmut 3 (config: ``[tool.mutmut]`` in pyproject.toml) changes one operator, constant or call at a
time inside the functions of the modules listed there (distortion and distribution metrics, patches,
rate, summaries and exports, BD-rate, matching) and runs the tests that cover the changed function;
a mutant is killed when a test fails. mutmut expects the package under ``src/``, so the run works in a
scratch copy, ``.mutation/`` (``src/rdpbench`` = ``benchmark/rdpbench``, plus ``tests/`` and
``pyproject.toml``); ``RDPBENCH_HOME`` points the copy at this checkout's codecs/ and datasets/.

Prints ``mutation score: K/N killed`` (timeouts count as killed, as mutmut does), the runtime and the
diff of every surviving mutant. Surviving mutants judged equivalent are listed with the reason in
benchmark/MUTATION.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / ".mutation"


def main() -> int:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    shutil.copytree(ROOT / "benchmark" / "rdpbench", SCRATCH / "src" / "rdpbench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", SCRATCH / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", SCRATCH)
    environment = {**os.environ, "RDPBENCH_HOME": str(ROOT), "PYTHONPATH": ""}
    mutmut = [sys.executable, "-m", "mutmut"]
    jobs = os.environ.get("MUTATION_JOBS", str(os.cpu_count() or 2))
    start = time.perf_counter()
    subprocess.run([*mutmut, "run", "--max-children", jobs], cwd=SCRATCH, env=environment, check=True)
    minutes = (time.perf_counter() - start) / 60
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=SCRATCH, env=environment, check=True,
                   stdout=subprocess.DEVNULL)
    stats = json.loads((SCRATCH / "mutants" / "mutmut-cicd-stats.json").read_text())
    listing = subprocess.run([*mutmut, "results"], cwd=SCRATCH, env=environment, check=True,
                             capture_output=True, text=True).stdout
    survivors = [line.strip().split(":")[0] for line in listing.splitlines() if line.strip()]
    for name in survivors:
        shown = subprocess.run([*mutmut, "show", name], cwd=SCRATCH, env=environment, capture_output=True, text=True)
        print(shown.stdout)
    print(json.dumps(stats))
    print(f"runtime: {minutes:.1f} min with {jobs} workers")
    print(f"mutation score: {stats['killed'] + stats['timeout']}/{stats['total']} killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
