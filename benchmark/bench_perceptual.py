"""The perceptual pipeline per task against the reference libraries' own calls, and the fixed start-up.

Per task (one image: JPEG quality 50 encode and decode, LPIPS, DISTS, NIQE and the Inception
features of its FID/KID patches) rdpbench's ``execute_task`` is timed against the sum of each
reference library's own call on the same image and the same patches, in one process with every
model already loaded:

- Pillow JPEG encode and decode (the same library call rdpbench's jpeg codec makes);
- ``lpips.LPIPS(net="alex", version="0.1")`` on [-1, 1] tensors;
- ``pyiqa.create_metric("dists")`` and ``pyiqa.create_metric("niqe")`` on [0, 1] tensors;
- torch-fidelity's ``FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])`` on the uint8
  patches of HiFiC's protocol (rdpbench.features.patches; cutting them is a numpy slice).

The two sides alternate image by image; the ratio is the median per-task time of rdpbench over the
median of the reference sum. Goal: <= 1.15.

Start-up: the wall time of ``python -m rdpbench run`` on one image with every metric (originals'
features not cached), minus one task, split into the imports (torch, lpips, pyiqa, torch-fidelity),
the run's own preparation and model loading.

Weights are seeded random stand-ins with the real architectures (tests/standins.py), so the compute
cost is real and the values are meaningless; NIQE needs the real ``niqe_modelparameters.mat``
(``--niqe FILE`` or RDPBENCH_NIQE, else found like any weight file), without it NIQE is left out
of both sides. Images: ``--images DIR`` or RDPBENCH_KODAK_DIR (24 Kodak PNGs), first ``--count``.
Run it on an otherwise idle machine, e.g. ``nice .venv/bin/python benchmark/bench_perceptual.py``.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kodak_location import kodak_folder

ROOT = Path(__file__).resolve().parents[1]


def build_weights(folder: Path, niqe: Path | None) -> Path:
    """Stand-ins for Inception, AlexNet, VGG-16, DISTS; the real NIQE parameters if given."""
    sys.path.insert(0, str(ROOT / "tests"))
    import standins

    standins.inception(folder)
    standins.alexnet(folder)
    standins.dists(folder, standins.vgg16(folder))
    if niqe:
        shutil.copy(niqe, folder / "niqe_modelparameters.mat")
    return folder


def find_niqe(given: str | None) -> Path | None:
    from rdpbench.weights import Weights

    if given or os.environ.get("RDPBENCH_NIQE"):
        return Path(given or os.environ["RDPBENCH_NIQE"])
    return Weights.from_options(None).find("niqe_modelparameters.mat")


class References:
    """Each reference library's own model and call, loaded once."""

    def __init__(self, weights: Path, with_niqe: bool):
        import lpips
        import pyiqa
        import torch
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        sys.path.insert(0, str(ROOT / "tests"))
        import standins

        hub = standins.torch_home_with(weights / "torch_home", [weights / "alexnet-owt-7be5be79.pth",
                                                                 weights / "vgg16-397923af.pth"])
        torch.hub.set_dir(str(hub / "hub"))
        self.lpips = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval()
        self.dists = pyiqa.create_metric("dists", device="cpu",
                                         pretrained_model_path=str(weights / "DISTS_weights-f5e65c96.pth"))
        self.niqe = (pyiqa.create_metric("niqe", device="cpu",
                                         pretrained_model_path=str(weights / "niqe_modelparameters.mat"))
                     if with_niqe else None)
        self.inception = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                     feature_extractor_weights_path=str(
                                                         weights / "weights-inception-2015-12-05-6726825d.pth")).eval()
        self.torch = torch

    def task(self, original, timings: dict[str, float]) -> None:
        """One image through every reference call; adds each call's seconds to ``timings``."""
        import numpy as np
        from PIL import Image

        from rdpbench.features.patches import extract_patches

        torch = self.torch
        start = time.perf_counter()
        buffer = io.BytesIO()
        Image.fromarray(original).save(buffer, format="JPEG", quality=50, subsampling="4:2:0")
        with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
            reconstruction = np.asarray(decoded.convert("RGB"))
        timings["jpeg (Pillow)"] += time.perf_counter() - start
        with torch.no_grad():
            start = time.perf_counter()
            x = torch.from_numpy(original).permute(2, 0, 1)[None].float()
            y = torch.from_numpy(reconstruction).permute(2, 0, 1)[None].float()
            self.lpips(x / 127.5 - 1, y / 127.5 - 1)
            timings["lpips"] += time.perf_counter() - start
            start = time.perf_counter()
            self.dists(y / 255, x / 255)
            timings["dists (pyiqa)"] += time.perf_counter() - start
            if self.niqe is not None:
                start = time.perf_counter()
                self.niqe(y / 255)
                timings["niqe (pyiqa)"] += time.perf_counter() - start
            start = time.perf_counter()
            patches = torch.from_numpy(extract_patches(reconstruction))
            for first in range(0, len(patches), 32):
                self.inception(patches[first:first + 32])
            timings["inception (torch-fidelity)"] += time.perf_counter() - start


def rdpbench_state(weights: Path, metrics: tuple[str, ...]):
    from rdpbench.context import RunContext
    from rdpbench.worker import WorkerState
    from rdpbench.weights import Weights

    state = WorkerState(RunContext("cpu", Weights(weights, allow_unverified=True)))
    for name in metrics:
        _ = state.metric(name).model  # load now, as the reference side does
    _ = state.extractor("inception-v3-compat").model
    return state


def rdpbench_task(state, path: Path, metrics: tuple[str, ...]) -> float:
    from rdpbench.tasks import FeatureSpec, Task
    from rdpbench.worker import execute_task

    codec = state.codec("jpeg")
    params = tuple(codec.resolve_setting({"quality": 50}).items())
    features = (FeatureSpec("inception-v3-compat", 2048, 256, 128),)
    task = Task("jpeg", "jpeg", "quality=50", params, path.name, str(path), metrics, features=features)
    start = time.perf_counter()
    result = execute_task(task, state)
    elapsed = time.perf_counter() - start
    assert not result.error, result.error
    return elapsed


def startup(images: list[Path], weights: Path, metrics: str, scratch: Path) -> tuple[float, float]:
    """(wall time of `rdpbench run` on one image with every metric, time of the imports alone)."""
    folder = scratch / "one"
    folder.mkdir()
    shutil.copy(images[0], folder / images[0].name)
    env = {**os.environ, "RDPBENCH_CACHE": str(scratch / "cache")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, lpips, pyiqa, torch_fidelity, rdpbench.cli"],
                   check=True, env=env)
    imports = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rdpbench", "run", "--images", str(folder), "--codec", "jpeg", "--sweep",
                    "quality=50", "--metrics", metrics, "--out", str(scratch / "run"), "--weights-dir", str(weights),
                    "--allow-unverified-weights"], check=True, env=env, capture_output=True)
    return time.perf_counter() - start, imports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=kodak_folder())
    parser.add_argument("--count", type=int, default=4, help="images to time (default 4)")
    parser.add_argument("--niqe", help="niqe_modelparameters.mat (default: RDPBENCH_NIQE or the weights lookup)")
    args = parser.parse_args()
    images = sorted(p for p in Path(args.images).glob("*.png"))[:args.count]
    if not images:
        parser.error(f"no PNG images in {args.images}: pass --images DIR or set RDPBENCH_KODAK_DIR")
    niqe = find_niqe(args.niqe)
    # niqe_pyiqa: the same implementation as the reference side (rdpbench's `niqe` is LIVE's niqe.m in numpy)
    metrics = ("lpips", "dists", "niqe_pyiqa") if niqe else ("lpips", "dists")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        weights = build_weights(scratch / "weights", niqe)
        references = References(weights, niqe is not None)
        state = rdpbench_state(weights, metrics)
        from rdpbench.imageio import read_rgb8

        ours, theirs, parts = [], [], {}
        for index, path in enumerate([images[0], *images]):  # the first image warms both sides up, untimed
            timings = dict.fromkeys(["jpeg (Pillow)", "lpips", "dists (pyiqa)", "niqe (pyiqa)",
                                     "inception (torch-fidelity)"], 0.0)
            start = time.perf_counter()
            references.task(read_rgb8(path), timings)
            reference = time.perf_counter() - start
            mine = rdpbench_task(state, path, metrics)
            if index:
                ours.append(mine)
                theirs.append(reference)
                for key, value in timings.items():
                    parts.setdefault(key, []).append(value)
        wall, imports = startup(images, weights, ",".join(metrics + ("fid", "kid")), scratch)
    per_task, reference = statistics.median(ours), statistics.median(theirs)
    print(f"{len(images)} images from {args.images}; stand-in weights (real architectures); NIQE "
          f"{'with the real parameters' if niqe else 'left out (no niqe_modelparameters.mat)'}; torch threads "
          f"{__import__('torch').get_num_threads()}")
    print("reference calls per task (median s): " + ", ".join(f"{k} {statistics.median(v):.2f}"
                                                               for k, v in parts.items() if any(v)))
    print(f"per task: rdpbench {per_task:.2f} s, sum of the reference calls {reference:.2f} s, "
          f"ratio {per_task / reference:.2f} (goal <= 1.15)")
    print(f"start-up: `rdpbench run` on 1 image with {','.join(metrics)},fid,kid took {wall:.1f} s; minus one task: "
          f"{wall - per_task:.1f} s fixed (with the original's NIQE and features, once per dataset), of which "
          f"{imports:.1f} s interpreter and imports")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
