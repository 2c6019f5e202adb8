"""Resizing and normalisation of uint8 patches as the reference implementations of the newer
distribution metrics do it: Pillow's bicubic resize of each uint8 image (dgm-eval's
``TF.Resize(..., BICUBIC)`` on a PIL image; CMMD's ``io_util._center_crop_and_resize``), which
antialiases when shrinking and rounds back to uint8, then ``x / 255`` and per-channel
``(x - mean) / std`` in float32 (torchvision's ``to_tensor`` and ``normalize``)."""

from __future__ import annotations

import numpy as np


def pil_bicubic(batch, size: int, mean: tuple[float, float, float], std: tuple[float, float, float]):
    """uint8 torch tensor (B, 3, S, S) on any device -> float32 CPU tensor (B, 3, size, size),
    resized by Pillow (``Image.BICUBIC``), scaled to 0..1 and normalised with ``mean``/``std``."""
    import torch
    from PIL import Image
    from torchvision.transforms import functional

    images = batch.cpu().numpy().transpose(0, 2, 3, 1)
    resized = np.stack([np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC)) for image in images])
    tensor = torch.from_numpy(resized.transpose(0, 3, 1, 2).copy()).float() / 255.0
    return functional.normalize(tensor, mean, std)
