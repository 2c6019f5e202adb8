"""The codec standards' metrics per image pair against their reference implementation's own call.

For each metric, rdpbench's ``Metric.compute(reference, reconstruction)`` on uint8 arrays is timed
against the reference's own call on the same pair, in one process with everything loaded:

- ``psnr_y``: scikit-image ``peak_signal_noise_ratio`` on the BT.709 Y' planes (conversion included);
- ``ssim``, ``ms_ssim_y``, ``vif_wavelet``, ``fsim``, ``gmsd``, ``nlpd``, ``vsi``: ``pyiqa.create_metric(NAME)``
  (``ms_ssim`` for ms_ssim_y) on [0, 1] tensors;
- ``iw_ssim``, ``vif``: piq's ``information_weighted_ssim`` / ``vif_p`` on the same grey image;
- ``niqe``: ``pyiqa.create_metric("niqe")`` (pyiqa's NIQE; LIVE's MATLAB code cannot run here);
- ``ssimulacra2``: the C++ tool (``--ssimulacra2 PATH``, cloudinary/ssimulacra2) on PNG files of the pair;
- ``butteraugli``: ``butteraugli_main`` on PNG files (the card writes the PNGs itself: included on its side);
- ``cvvdp``: ``pycvvdp.cvvdp().predict`` (the same call: the ratio is rdpbench's overhead);
- ``vmaf``: libvmaf's own ``vmaf`` tool (``--vmaf PATH``, built from Netflix/vmaf) on 8-bit 4:4:4 frames
  of the pair written before the clock starts (rdpbench's side converts and writes its frames, and
  starts ffmpeg); without ``--vmaf``, ffmpeg's libvmaf filter on the PNG files (the common practice).

The two sides alternate; the ratio is the median of rdpbench over the median of the reference.
Goal: <= 1.15. rdpbench's ``ssimulacra2`` keeps the reference's side (its XYB planes and blurs)
between calls on the same reference, as a run over one image's settings does; ``--fresh-reference``
drops it before every call, so that it computes both images as the tool does. Pairs: the first
``--count`` Kodak images (``--images DIR`` or RDPBENCH_KODAK_DIR) and their Pillow JPEG at quality 30. NIQE needs ``--niqe FILE`` (the real niqe_modelparameters.mat).
Run it on an otherwise idle machine: ``nice .venv/bin/python benchmark/bench_codec_metrics.py``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmark"))

from kodak_location import kodak_folder  # noqa: E402


def _tensor(image):
    import torch

    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


def _grey(image):
    import torch

    from rdpbench.metrics.colour import rgb2gray

    return torch.from_numpy(rgb2gray(image) / 255.0)[None, None]


def _libvmaf_tool(binary: str):
    """The reference call of ``vmaf``: libvmaf's tool on frames written once per pair (untimed warm-up)."""
    from rdpbench.metrics.vmaf import limited_range_luma

    frames = {}

    def call(reference, reconstruction, files):
        if files not in frames:
            frames[files] = []
            for image, path in ((reference, files[0] + ".yuv"), (reconstruction, files[1] + ".yuv")):
                luma = limited_range_luma(image, "bt601")
                Path(path).write_bytes(luma.tobytes() + bytes([128]) * (2 * luma.size))
                frames[files].append(path)
        height, width = reference.shape[:2]
        subprocess.run([binary, "-r", frames[files][0], "-d", frames[files][1], "-w", str(width), "-h", str(height),
                        "-p", "444", "-b", "8", "--threads", "1", "-q", "--json", "-o", "/dev/null"],
                       capture_output=True, check=True)
    return call


def references(niqe: Path | None, ssimulacra2: str | None, vmaf: str | None = None) -> dict:
    """name -> function(reference, reconstruction, files) of the reference's own call."""
    import piq
    import pyiqa
    import skimage.metrics
    import torch

    from rdpbench.metrics.colour import ycbcr

    calls = {"psnr_y": lambda r, d, f: skimage.metrics.peak_signal_noise_ratio(
        ycbcr(r, "bt709")[..., 0], ycbcr(d, "bt709")[..., 0], data_range=255)}
    for ours, theirs in [("ssim", "ssim"), ("ms_ssim_y", "ms_ssim"), ("vif_wavelet", "vif"), ("fsim", "fsim"),
                         ("gmsd", "gmsd"), ("nlpd", "nlpd"), ("vsi", "vsi")]:
        model = pyiqa.create_metric(theirs, device="cpu")
        calls[ours] = lambda r, d, f, model=model: float(model(_tensor(d), _tensor(r)))
    calls["iw_ssim"] = lambda r, d, f: float(piq.information_weighted_ssim(_grey(d), _grey(r), data_range=1.0))
    calls["vif"] = lambda r, d, f: float(piq.vif_p(_grey(d), _grey(r), data_range=1.0))
    if niqe:
        model = pyiqa.create_metric("niqe", device="cpu", pretrained_model_path=str(niqe))
        calls["niqe"] = lambda r, d, f, model=model: float(model(_tensor(d)))
    if ssimulacra2:
        calls["ssimulacra2"] = lambda r, d, f: float(subprocess.run([ssimulacra2, f[0], f[1]], capture_output=True,
                                                                    text=True, check=True).stdout)
    if shutil.which("butteraugli_main"):
        calls["butteraugli"] = lambda r, d, f: subprocess.run(["butteraugli_main", f[0], f[1], "--pnorm", "3"],
                                                              capture_output=True, check=True)
    if vmaf:
        calls["vmaf"] = _libvmaf_tool(vmaf)
    else:
        from rdpbench.metrics.vmaf import ffmpeg

        if ffmpeg():
            calls["vmaf"] = lambda r, d, f: subprocess.run(
                [ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", f[1], "-i", f[0], "-lavfi",
                 "[0:v][1:v]libvmaf=n_threads=1", "-f", "null", "-"], capture_output=True, check=True)
    try:
        import pycvvdp

        model = pycvvdp.cvvdp(display_name="standard_4k", device=torch.device("cpu"), quiet=True)
        calls["cvvdp"] = lambda r, d, f, model=model: float(model.predict(d, r, dim_order="HWC")[0])
    except ImportError:
        pass
    return calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", help="folder of PNGs (default: Kodak)")
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--niqe", help="niqe_modelparameters.mat")
    parser.add_argument("--ssimulacra2", help="the reference ssimulacra2 binary")
    parser.add_argument("--vmaf", help="libvmaf's reference `vmaf` binary")
    parser.add_argument("--metrics", help="comma-separated subset (default: all available)")
    parser.add_argument("--fresh-reference", action="store_true",
                        help="ssimulacra2: recompute the reference's side in every call (as the tool)")
    args = parser.parse_args()

    from rdpbench.context import RunContext
    from rdpbench.metrics.command_line import _last_run
    from rdpbench.metrics.registry import create_metric
    from rdpbench.weights import Weights

    folder = Path(args.images) if args.images else kodak_folder()
    pairs = []
    for path in sorted(folder.glob("*.png"))[:args.count]:
        reference = np.array(Image.open(path).convert("RGB"))
        buffer = io.BytesIO()
        Image.fromarray(reference).save(buffer, format="JPEG", quality=30)
        pairs.append((reference, np.array(Image.open(buffer).convert("RGB"))))
    weights = Weights.from_options(Path(args.niqe).parent if args.niqe else None)
    calls = references(Path(args.niqe) if args.niqe else None, args.ssimulacra2, args.vmaf)
    print(f"{len(pairs)} pairs, {args.repeats} repeats; median seconds per pair")
    print(f"{'metric':14s} {'rdpbench':>9s} {'reference':>9s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory() as temporary:
        for name, reference_call in calls.items():
            if args.metrics and name not in args.metrics.split(","):
                continue
            metric = create_metric(name, RunContext(weights=weights))
            compute = metric.compute if metric.kind == "paired" else lambda r, d: metric.compute(d)
            ours, theirs = [], []
            for index, (reference, reconstruction) in enumerate(pairs):
                files = (f"{temporary}/r{index}.png", f"{temporary}/d{index}.png")
                Image.fromarray(reference).save(files[0])
                Image.fromarray(reconstruction).save(files[1])
                compute(reference, reconstruction)  # warm-up: models, imports
                reference_call(reference, reconstruction, files)
                for _ in range(args.repeats):
                    _last_run.clear()  # card metrics reuse the tool's output of the last pair: run it each time
                    if args.fresh_reference and hasattr(metric, "_last_reference"):
                        metric._last_reference = None  # ssimulacra2 keeps the last reference's side
                    started = time.perf_counter()
                    compute(reference, reconstruction)
                    ours.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    reference_call(reference, reconstruction, files)
                    theirs.append(time.perf_counter() - started)
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"{name:14s} {a:9.3f} {b:9.3f} {a / b:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
