"""What a repeated ``rdpbench.evaluate`` costs beyond its tasks: the training-loop use of the Python API.

A first ``evaluate`` of the images (JPEG quality 50; LPIPS, NIQE, FID and KID) loads the networks and
computes the originals' NIQE and patch features (cached on disk per dataset). The second call, a new
"checkpoint" (JPEG quality 40) on the same images, is timed as a whole and against its tasks' own
work: the sum of ``execute_task`` (encode, decode, LPIPS, NIQE, Inception features of the
reconstruction's patches) and of the distribution stage (FID, KID from the stored features), both
timed inside the call. Goal: wall / own work <= 1.1 (the rest: planning, the store, weight
verification, exports).

Weights are seeded random stand-ins with the real architectures (tests/standins.py), as in
bench_perceptual.py; NIQE needs the real ``niqe_modelparameters.mat`` (``--niqe FILE``,
RDPBENCH_NIQE or the weights lookup), else it is left out. Images: ``--images DIR`` or
RDPBENCH_KODAK_DIR (the 24 Kodak PNGs), first ``--count``. Run it on an otherwise idle machine:
``nice .venv/bin/python benchmark/bench_api.py``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench_perceptual import build_weights, find_niqe
from kodak_location import kodak_folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=kodak_folder())
    parser.add_argument("--count", type=int, default=8, help="images (default 8)")
    parser.add_argument("--niqe", help="niqe_modelparameters.mat (default: RDPBENCH_NIQE or the weights lookup)")
    args = parser.parse_args()
    images = sorted(Path(args.images).glob("*.png"))[:args.count] if args.images else []
    if not images:
        parser.error(f"no PNG images in {args.images}: pass --images DIR or set RDPBENCH_KODAK_DIR")
    niqe = find_niqe(args.niqe)
    metrics = ["lpips", "niqe", "fid", "kid"] if niqe else ["lpips", "fid", "kid"]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ["RDPBENCH_CACHE"] = str(scratch / "cache")
        weights = build_weights(scratch / "weights", niqe)

        import rdpbench
        from rdpbench import runner, stages

        own = {"tasks": 0.0, "distribution": 0.0}

        def timed(function, key):
            def wrapper(*arguments, **keywords):
                start = time.perf_counter()
                try:
                    return function(*arguments, **keywords)
                finally:
                    own[key] += time.perf_counter() - start
            return wrapper

        runner.execute_task = timed(runner.execute_task, "tasks")
        stages.compute_distribution = timed(stages.compute_distribution, "distribution")
        options = dict(metrics=metrics, weights_dir=weights, allow_unverified_weights=True)
        start = time.perf_counter()
        rdpbench.evaluate("jpeg", images, sweep={"quality": [50]}, **options)
        first = time.perf_counter() - start
        own.update(tasks=0.0, distribution=0.0)
        start = time.perf_counter()
        results = rdpbench.evaluate("jpeg", images, sweep={"quality": [40]}, **options)
        second = time.perf_counter() - start
    assert (results.per_image["error"] == "").all(), results.per_image["error"]
    work = own["tasks"] + own["distribution"]
    print(f"{len(images)} images from {args.images}; metrics {','.join(metrics)}; stand-in weights; torch threads "
          f"{__import__('torch').get_num_threads()}")
    print(f"first evaluate (loads networks, originals' NIQE and features): {first:.1f} s")
    print(f"second evaluate: {second:.2f} s; its tasks {own['tasks']:.2f} s + distribution metrics "
          f"{own['distribution']:.2f} s = {work:.2f} s own work; ratio {second / work:.2f} (goal <= 1.1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
