"""Cost of adding one more codec setting to a FID run on Kodak, against its floor: the Inception
forward time of that setting's patches alone (192 patches of 256x256 for Kodak's 24 images).

The marginal cost is the wall time of a run with two settings (JPEG quality 50 and 60, FID and KID)
minus that of the same run with one, both into fresh folders with the originals' features cached,
so process start, imports and model loading cancel out. Target: <= 1.15x the floor.
Uses the real Inception weights if found (--weights-dir / RDPBENCH_WEIGHTS / torch hub), else a
random stand-in of the same architecture (same compute cost, meaningless values).

    .venv/bin/python benchmark/bench_fid_setting_cost.py [--images DIR] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kodak_location import kodak_folder

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = kodak_folder()


def inception_weights(folder: Path, weights_dir: str | None) -> tuple[str, bool]:
    from rdpbench.features.inception import INCEPTION_WEIGHTS
    from rdpbench.weights import Weights

    found = Weights.from_options(weights_dir).find(INCEPTION_WEIGHTS)
    if found:
        return str(found.parent), True
    sys.path.insert(0, str(ROOT / "tests"))
    import standins

    return str(standins.inception(folder).parent), False


def floor_seconds(images: Path, recon: Path, weights: str, device: str) -> float:
    """Inception forward of the reconstructions' patches, model already loaded (best of 2)."""
    import torch

    from rdpbench.imageio import read_rgb8
    from rdpbench.context import RunContext
    from rdpbench.features.inception import InceptionV3
    from rdpbench.weights import Weights

    extractor = InceptionV3(RunContext(device, Weights(Path(weights), True)))
    reconstructions = [read_rgb8(path) for path in sorted(recon.glob("*.png"))]
    _ = extractor.model  # load outside the timing
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        for image in reconstructions:
            extractor.image_features(image, 256, 128)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def run_seconds(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights-dir")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not args.images.is_dir():
        parser.error(f"no Kodak folder at {args.images}: pass --images, set RDPBENCH_KODAK_DIR, or run `rdpbench datasets fetch kodak`")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        weights, real = inception_weights(scratch / "weights", args.weights_dir)
        env = {**os.environ, "RDPBENCH_CACHE": str(scratch / "cache")}

        def command(out: str, sweep: str) -> list[str]:
            return [sys.executable, "-m", "rdpbench", "run", "--images", str(args.images), "--codec", "jpeg",
                    "--metrics", "fid,kid", "--out", str(scratch / out), "--weights-dir", weights,
                    "--allow-unverified-weights", "--device", args.device, "--sweep", sweep]

        subprocess.run(command("warm", "quality=50") + ["--save-recon"], check=True, env=env, capture_output=True)
        one, two = np.inf, np.inf
        for repeat in range(args.repeats):  # fresh output folders; the originals' features come from the cache
            one = min(one, run_seconds(command(f"one{repeat}", "quality=50"), env))
            two = min(two, run_seconds(command(f"two{repeat}", "quality=50,60"), env))
        floor = floor_seconds(args.images, scratch / "warm" / "recon" / "jpeg" / "quality=50", weights, args.device)
    added = two - one
    print(f"Inception weights: {'real' if real else 'random stand-in (same architecture and cost)'}; "
          f"device {args.device}; best of {args.repeats}")
    print(f"run with 1 setting: {one:6.1f} s, with 2 settings: {two:6.1f} s")
    print(f"cost of the added setting (JPEG, features, FID/KID, store): {added:6.1f} s")
    print(f"floor (Inception forward of its 192 patches alone):         {floor:6.1f} s")
    print(f"ratio: {added / floor:.2f}  (target <= 1.15)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
