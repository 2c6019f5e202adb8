"""Pixel conversions at the boundary of learned codecs."""

from __future__ import annotations

import numpy as np


def to_tensor(image: np.ndarray, device: str = "cpu"):
    """uint8 (H, W, 3) -> float32 (1, 3, H, W) in [0, 1] (x / 255, torchvision's ToTensor)."""
    import torch

    return torch.from_numpy(image).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def to_uint8(tensor) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> uint8 (H, W, 3), clamped and rounded to the nearest level
    (the README's convention: reconstructions are rounded to uint8 before any metric)."""
    import torch

    return (tensor[0].clamp(0, 1) * 255).round().to("cpu", dtype=torch.uint8).permute(1, 2, 0).numpy()
