"""A tiny results folder with saved reconstructions for the study tests (two 96x64 photo crops,
jpeg at four qualities and webp at two, PSNR), made by running rdpbench in-process."""

from __future__ import annotations

from pathlib import Path

import skimage.data
from PIL import Image

from rdpbench.cli import main

JPEG = ["jpeg:quality=10", "jpeg:quality=30", "jpeg:quality=60", "jpeg:quality=90"]
WEBP = ["webp:quality=30", "webp:quality=60"]


def make_results(folder: Path) -> Path:
    photos = folder / "photos"
    photos.mkdir(parents=True)
    Image.fromarray(skimage.data.astronaut()[100:164, 150:246]).save(photos / "astronaut.png")
    Image.fromarray(skimage.data.coffee()[50:114, 100:196]).save(photos / "coffee.png")
    out = folder / "results"
    for codec, qualities in (("jpeg", "10,30,60,90"), ("webp", "30,60")):
        assert main(["run", "--images", str(photos), "--codec", codec, "--sweep", f"quality={qualities}",
                     "--metrics", "psnr", "--out", str(out), "--save-recon"]) == 0
    return out


def make_large_results(folder: Path) -> Path:
    """Results on two full-size photos (astronaut 512x512, coffee 600x400), jpeg at qualities 10 and 60:
    pictures larger than a third of a 1280-pixel-wide window, for the viewer's layout."""
    photos = folder / "large-photos"
    photos.mkdir(parents=True)
    Image.fromarray(skimage.data.astronaut()).save(photos / "astronaut.png")
    Image.fromarray(skimage.data.coffee()).save(photos / "coffee.png")
    out = folder / "large-results"
    assert main(["run", "--images", str(photos), "--codec", "jpeg", "--sweep", "quality=10,60", "--metrics", "psnr",
                 "--out", str(out), "--save-recon"]) == 0
    return out
