"""Mutation testing of the numeric core (``make mutation``; not part of CI).

mutmut 3 (config: ``[tool.mutmut]`` in pyproject.toml) changes one operator, constant, argument or
string at a time inside the functions of the modules listed there (distortion and distribution
metrics, patches, rate, summaries and exports, BD-rate, matching) and runs the selected tests that
cover the changed function; a mutant is killed when a test fails. mutmut expects the package under
``src/``, so the run works in a scratch copy, ``.mutation/`` (``src/rdpbench`` = ``benchmark/rdpbench``,
plus ``tests/`` and ``pyproject.toml``); ``RDPBENCH_HOME`` points the copy at this checkout's codecs/
and datasets/.

``python benchmark/mutation.py``: a full run from a fresh copy.
``python benchmark/mutation.py --recheck-survivors``: copy the current tests into the last run's
scratch folder and run only its surviving mutants again (after adding tests that should kill them).

Prints the diff of every surviving mutant, the runtime, and ``mutation score: K/N killed``
(timeouts count as killed, as mutmut counts them). Survivors judged equivalent are listed with the
reason in benchmark/MUTATION.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / ".mutation"
MUTMUT = [sys.executable, "-m", "mutmut"]
# One torch/OpenMP thread: mutmut forks a worker per mutant, and a forked child of a process whose
# thread pool is running deadlocks in its first parallel torch op (MS-SSIM).
ENVIRONMENT = {**os.environ, "RDPBENCH_HOME": str(ROOT), "PYTHONPATH": "", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}


def _mutmut(*args: str, capture: bool = False) -> str:
    done = subprocess.run([*MUTMUT, *args], cwd=SCRATCH, env=ENVIRONMENT, check=True, text=True,
                          stdout=subprocess.PIPE if capture else None)
    return done.stdout or ""


def _copy_tests() -> None:
    for target in (SCRATCH, SCRATCH / "mutants"):
        if target.is_dir():
            shutil.rmtree(target / "tests", ignore_errors=True)
            shutil.copytree(ROOT / "tests", target / "tests", ignore=shutil.ignore_patterns("__pycache__"))


def survivors(statuses=("survived", "no tests")) -> list[str]:
    """Mutants of the last run that no test killed (survived, or no selected test covers them)."""
    listing = _mutmut("results", capture=True)
    return [name.strip() for name, _, status in (line.rpartition(": ") for line in listing.splitlines())
            if status.strip() in statuses]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recheck-survivors", action="store_true",
                        help="run the last run's surviving mutants again against the current tests")
    options = parser.parse_args()
    jobs = os.environ.get("MUTATION_JOBS", str(os.cpu_count() or 2))
    if options.recheck_survivors:
        names = survivors(("survived", "no tests", "timeout", "not checked"))  # and those a stop left open
        _copy_tests()
        print(f"rechecking {len(names)} mutants")
    else:
        names = []
        shutil.rmtree(SCRATCH, ignore_errors=True)
        shutil.copytree(ROOT / "benchmark" / "rdpbench", SCRATCH / "src" / "rdpbench",
                        ignore=shutil.ignore_patterns("__pycache__"))
        _copy_tests()
        shutil.copy(ROOT / "pyproject.toml", SCRATCH)
    start = time.perf_counter()
    _mutmut("run", "--max-children", jobs, *names)
    minutes = (time.perf_counter() - start) / 60
    _mutmut("export-cicd-stats", capture=True)
    stats = json.loads((SCRATCH / "mutants" / "mutmut-cicd-stats.json").read_text())
    for name in survivors():
        print(_mutmut("show", name, capture=True))
    print(json.dumps(stats))
    print(f"runtime: {minutes:.1f} min with {jobs} workers")
    print(f"mutation score: {stats['killed'] + stats['timeout']}/{stats['total']} killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
