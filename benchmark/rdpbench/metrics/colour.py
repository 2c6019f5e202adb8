"""Colour conversions of uint8 RGB images for the luma-based metrics, each the convention of a
reference implementation (benchmark/docs/metrics.md, "Colour conversions").

- ``rgb2gray``: MATLAB's ``rgb2gray`` on a uint8 image: ``0.298936021293775 R + 0.587043074451121 G
  + 0.114020904255103 B`` (the first row of the inverse NTSC matrix), rounded half away from zero to
  uint8. The authors' MATLAB releases of SSIM, MS-SSIM, IW-SSIM, VIF, GMSD, NLPD and NIQE were run on
  this image for the official values pyiqa publishes.
- ``bt709`` / ``bt601``: full-range Y'CbCr in float64, without rounding: ``Y = Kr R + (1 - Kr - Kb) G
  + Kb B``, ``Cb = (B - Y) / (2 (1 - Kb)) + 128``, ``Cr = (R - Y) / (2 (1 - Kr)) + 128``, values in
  0..255 (BT.709: Kr 0.2126, Kb 0.0722; BT.601: Kr 0.299, Kb 0.114).
"""

from __future__ import annotations

import numpy as np

MATLAB_GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
MATRICES = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}
LUMAS = ("rgb2gray", *MATRICES)


def rgb2gray(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float64 (H, W) of whole numbers 0..255, as MATLAB's rgb2gray (uint8 out)."""
    return np.floor(image.astype(np.float64) @ MATLAB_GRAY + 0.5)


def ycbcr(image: np.ndarray, matrix: str) -> np.ndarray:
    """uint8 (H, W, 3) -> float64 (H, W, 3) full-range Y, Cb, Cr in 0..255 by ``matrix`` (bt709, bt601)."""
    kr, kb = MATRICES[matrix]
    rgb = image.astype(np.float64)
    y = _y(rgb, matrix)
    cb = (rgb[..., 2] - y) / (2.0 * (1.0 - kb)) + 128.0
    cr = (rgb[..., 0] - y) / (2.0 * (1.0 - kr)) + 128.0
    return np.stack([y, cb, cr], axis=-1)


def _y(rgb: np.ndarray, matrix: str) -> np.ndarray:
    """float64 (H, W, 3) -> float64 (H, W): ``Kr R + (1 - Kr - Kb) G + Kb B`` of ``matrix``."""
    if matrix not in MATRICES:
        raise ValueError(f"unknown matrix {matrix!r}; known: {', '.join(MATRICES)}")
    kr, kb = MATRICES[matrix]
    return rgb @ np.array([kr, 1.0 - kr - kb, kb])


def luma(image: np.ndarray, kind: str) -> np.ndarray:
    """uint8 (H, W, 3) -> float64 (H, W) in 0..255: ``rgb2gray`` (MATLAB, rounded) or the Y of ``bt709`` / ``bt601``."""
    if kind == "rgb2gray":
        return rgb2gray(image)
    if kind in MATRICES:
        return _y(image.astype(np.float64), kind)
    raise ValueError(f"unknown luma {kind!r}; known: {', '.join(LUMAS)}")
