"""Wall time of `rdpbench run` against CompressAI's `python -m compressai.utils.bench` on the same
job, run one after the other on this machine: JPEG at quality 5..95 step 10 on Kodak, PSNR and
MS-SSIM, 2 workers. Prints both wall times, their ratio (goal: <= 0.2), the CPU time each used (its
processes and their workers; on a busy machine the ratio of wall times moves with the load, CPU times
much less) and the largest difference of the two tools' per-quality means (they should agree: same
libraries, same conventions).

    .venv/bin/python benchmark/bench_vs_compressai.py [--images DIR] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from kodak_location import kodak_folder

DEFAULT_IMAGES = kodak_folder()
QUALITIES = list(range(5, 100, 10))


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the command and its waited-for children), stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="Kodak folder")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if not args.images.is_dir():
        parser.error("no Kodak folder found: pass --images, set RDPBENCH_KODAK_DIR, or run `rdpbench datasets fetch kodak`")
    qualities = ",".join(map(str, QUALITIES))

    peer_s, peer_cpu, peer_out = timed([sys.executable, "-m", "compressai.utils.bench", "jpeg", str(args.images),
                                        "-q", qualities, "-j", str(args.jobs)])
    with tempfile.TemporaryDirectory() as out:
        ours_s, ours_cpu, _ = timed([sys.executable, "-m", "rdpbench", "run", "--images", str(args.images),
                                     "--codec", "jpeg", "--sweep", f"quality={qualities}", "--metrics", "psnr,ms_ssim",
                                     "--jobs", str(args.jobs), "--out", out])
        summary = pd.read_csv(Path(out) / "summary.csv")
    peer = json.loads(peer_out)["results"]
    differences = {
        "bpp": max(abs(a - b) for a, b in zip(summary["bpp"], peer["bpp"])),
        "psnr": max(abs(a - b) for a, b in zip(summary["psnr"], peer["psnr-rgb"])),
        "ms_ssim": max(abs(a - b) for a, b in zip(summary["ms_ssim"], peer["ms-ssim-rgb"])),
    }
    print(f"compressai.utils.bench jpeg: {peer_s:7.1f} s  (CPU {peer_cpu:6.1f} s)")
    print(f"rdpbench run:                {ours_s:7.1f} s  (CPU {ours_cpu:6.1f} s)")
    print(f"ratio rdpbench / compressai: {ours_s / peer_s:7.2f}  (goal <= 0.20; CPU time ratio {ours_cpu / peer_cpu:.2f})")
    print("largest difference of the means: " + ", ".join(f"{k} {v:.2e}" for k, v in differences.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
