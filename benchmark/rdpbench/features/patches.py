"""HiFiC's patch protocol for FID/KID (Mentzer et al. 2020, as NeuralCompression implements it).

Each image is cut into non-overlapping ``size`` x ``size`` patches on a grid from the top-left
corner (remainders dropped); if both sides are at least ``size + shift`` (384 for 256/128), the
image shifted by ``shift`` pixels in both directions is cut again the same way. Kodak (768x512)
gives 6 + 2 = 8 patches per image; a 2048x1365 image gives 40 + 28 = 68.
"""

from __future__ import annotations

import numpy as np


def patch_origins(height: int, width: int, size: int = 256, shift: int = 128) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of the patches of an image of the given size."""
    origins = [(y, x) for y in range(0, height - size + 1, size) for x in range(0, width - size + 1, size)]
    if shift and height >= size + shift and width >= size + shift:
        origins += [(y, x) for y in range(shift, height - size + 1, size) for x in range(shift, width - size + 1, size)]
    return origins


def extract_patches(image: np.ndarray, size: int = 256, shift: int = 128) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (N, 3, size, size), in the order of :func:`patch_origins`."""
    origins = patch_origins(image.shape[0], image.shape[1], size, shift)
    patches = np.empty((len(origins), 3, size, size), dtype=np.uint8)
    for index, (y, x) in enumerate(origins):
        patches[index] = image[y:y + size, x:x + size].transpose(2, 0, 1)
    return patches
