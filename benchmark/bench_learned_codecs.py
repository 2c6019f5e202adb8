"""Encode and decode seconds per megapixel of each learned codec, on this machine's CPU (or --device cuda).

Weights: the real files where rdpbench.weights finds them, else random stand-ins of the same
architecture and size (same compute; rates and images meaningless). Images: the first --images
Kodak pictures (768x512). Each codec is timed after one warm-up image (model loading excluded).

    .venv/bin/python benchmark/bench_learned_codecs.py [--images 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from kodak_location import kodak_folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
KODAK = kodak_folder()
CODECS = [  # (codec, setting, stand-in builder arguments)
    ("compressai-bmshj2018-factorized", {"quality": 3}, ("bmshj2018-factorized", 3)),
    ("compressai-bmshj2018-hyperprior", {"quality": 3}, ("bmshj2018-hyperprior", 3)),
    ("compressai-mbt2018-mean", {"quality": 3}, ("mbt2018-mean", 3)),
    ("compressai-mbt2018", {"quality": 3}, ("mbt2018", 3)),
    ("compressai-cheng2020-anchor", {"quality": 3}, ("cheng2020-anchor", 3)),
    ("compressai-cheng2020-attn", {"quality": 3}, ("cheng2020-attn", 3)),
    ("hific", {"checkpoint": "msillm_quality_3"}, None),
]


def main() -> int:
    import standins
    import torch

    from rdpbench.codecs.registry import create_codec
    from rdpbench.context import RunContext
    from rdpbench.imageio import read_rgb8
    from rdpbench.weights import Weights

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights-dir")
    args = parser.parse_args()
    if not KODAK.is_dir():
        sys.exit(f"no Kodak folder at {KODAK}: set RDPBENCH_KODAK_DIR or run `rdpbench datasets fetch kodak`")
    images = [read_rgb8(path) for path in sorted(KODAK.glob("*.png"))[:args.images + 1]]
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.images} Kodak images (768x512)")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        found = Weights.from_options(args.weights_dir)
        for name, params, zoo in CODECS:
            codec = create_codec(name, RunContext(device=args.device))
            setting = codec.resolve_setting(params)
            needed = codec.weight_names(setting)
            real = all(found.find(file) for file in needed)
            if real:
                codec.context = RunContext(args.device, found)
            else:
                if zoo:
                    standins.compressai_zoo(scratch, *zoo)
                else:
                    standins.hific(scratch, needed[0], residual_blocks=9)
                codec.context = RunContext(args.device, Weights(scratch, allow_unverified=True))
            codec.decode(codec.encode(images[0], setting), setting)  # warm-up: loads the model
            encode_s = decode_s = megapixels = 0.0
            for image in images[1:]:
                start = time.perf_counter()
                data = codec.encode(image, setting)
                middle = time.perf_counter()
                codec.decode(data, setting)
                if args.device == "cuda":
                    torch.cuda.synchronize()
                encode_s, decode_s = encode_s + middle - start, decode_s + time.perf_counter() - middle
                megapixels += image.shape[0] * image.shape[1] / 1e6
            print(f"{name:34s} {'real' if real else 'stand-in':8s} encode {encode_s / megapixels:7.2f} s/MP   "
                  f"decode {decode_s / megapixels:7.2f} s/MP")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
