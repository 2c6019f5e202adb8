"""Image pairs behind the recorded outputs of reference tools (tests/data/ssimulacra2, tests/data/vmaf):
an image file read as uint8 RGB and cut as the outputs' ``crop`` column says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def rgb(path: Path, crop: str = "") -> np.ndarray:
    """uint8 (H, W, 3) of ``path`` decoded by Pillow; ``crop`` "y0:y1 x0:x1" keeps rows y0..y1-1 and
    columns x0..x1-1 (numpy slices), "" the whole image."""
    image = np.array(Image.open(path).convert("RGB"))
    if crop:
        (y0, y1), (x0, x1) = (map(int, part.split(":")) for part in crop.split())
        image = image[y0:y1, x0:x1]
    return image
