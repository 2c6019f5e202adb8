"""Wall time of `rdpbench run` on a Dask LocalCluster against the built-in worker pool, and its scaling.

Workload: Kodak (24 images), JPEG at quality 5..95 step 10 (10 settings, 240 tasks), PSNR and MS-SSIM.
Each configuration is a whole `rdpbench run` command into a fresh output folder (process start,
cluster start and export included, as a user sees it), run in turn, ``--repeats`` times; the best
time of each is compared:

- ``--cluster local --jobs 2`` against ``--jobs 2`` (the pool): goal <= 1.2x;
- ``--cluster local --jobs 1`` against ``--cluster local --jobs 2``: the speed-up from one to two
  workers (at most 2; a machine with fewer than 2 free cores shows less).

    .venv/bin/python benchmark/bench_dask.py [KODAK_FOLDER] [--repeats N]

Without a folder it uses the fetched dataset (`rdpbench datasets fetch kodak`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGURATIONS = {
    "pool, --jobs 2": ["--jobs", "2"],
    "dask local, --jobs 2": ["--cluster", "local", "--jobs", "2"],
    "dask local, --jobs 1": ["--cluster", "local", "--jobs", "1"],
}


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", type=Path, help="Kodak folder (default: the fetched kodak dataset)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    source = ["--images", str(args.images)] if args.images else ["--dataset", "kodak"]
    base = [sys.executable, "-m", "rdpbench", "run", *source, "--codec", "jpeg", "--sweep", "quality=5:95:10",
            "--metrics", "psnr,ms_ssim"]
    times: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for name, flags in CONFIGURATIONS.items():
                out = Path(scratch) / f"{repeat}-{len(times[name])}-{name.replace(' ', '').replace(',', '-')}"
                times[name].append(seconds(base + ["--out", str(out), *flags]))
                print(f"{name:24s} {times[name][-1]:7.2f} s", flush=True)
    best = {name: min(values) for name, values in times.items()}
    print(f"\nbest of {args.repeats} on {os.cpu_count()} cores:")
    for name, value in best.items():
        print(f"  {name:24s} {value:7.2f} s")
    ratio = best["dask local, --jobs 2"] / best["pool, --jobs 2"]
    speedup = best["dask local, --jobs 1"] / best["dask local, --jobs 2"]
    print(f"dask local / pool at 2 workers: {ratio:.2f}x (goal <= 1.2x) {'OK' if ratio <= 1.2 else 'MISSED'}")
    print(f"dask local, 1 -> 2 workers: {speedup:.2f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
