"""MS-SSIM on the CPU in a third of the time of ``pytorch_msssim.ms_ssim``, with its float32 value bit for bit.

``pytorch_msssim.ms_ssim`` filters the tensors in whatever memory layout they come in. For the
(1, 3, H, W) view of a uint8 (H, W, 3) array that ``image_tensor`` makes, oneDNN copies the first
scale to NCHW and every coarser scale runs in NCHW, where its depthwise 11-tap filters are 3-4 times
slower than in channels-last. This module runs the same operations as pytorch_msssim 1.0's
``ms_ssim`` and ``_ssim`` (default window 11, sigma 1.5, K = (0.01, 0.03), the five standard weights)
on channels-last tensors. Filters, pooling and element-wise operations give the same float32 values
in either layout; only a mean over a map depends on the layout (its summation order), so each map is
averaged in the layout pytorch_msssim averages it in for ``image_tensor`` input: NCHW, except the
contrast map of the finest scale (channels-last). tests/test_metrics.py checks equality (==) with
``pytorch_msssim.ms_ssim``.

The reference image's side of every scale (its pyramid, local means and variances) depends on the
reference alone: :func:`reference_side` computes it once, and :func:`ms_ssim` can take it for every
reconstruction of that image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d, gaussian_filter

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW = _fspecial_gauss_1d(11, 1.5)  # (1, 1, 11), repeated per channel


def _pool(image: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(image, kernel_size=2, padding=[s % 2 for s in image.shape[2:]])


def reference_side(x: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """Per scale, finest first: the reference (1, C, h, w), its local mean, squared mean and variance."""
    x = x.clone(memory_format=torch.channels_last)
    window = _WINDOW.repeat(x.shape[1], 1, 1, 1)
    scales = []
    for scale in range(len(WEIGHTS)):
        mu1 = gaussian_filter(x, window)
        mu1_sq = mu1.pow(2)
        scales.append((x, mu1, mu1_sq, gaussian_filter(x * x, window).sub_(mu1_sq)))
        if scale < len(WEIGHTS) - 1:
            x = _pool(x)
    return scales


def ms_ssim(reference: torch.Tensor | list[tuple[torch.Tensor, ...]], y: torch.Tensor,
            data_range: float) -> torch.Tensor:
    """MS-SSIM of a float32 (1, 3, H, W) CPU tensor (or its :func:`reference_side`) and a
    reconstruction of the same shape, both sides over 160 px: a 0-d tensor."""
    scales = reference_side(reference) if isinstance(reference, torch.Tensor) else reference
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    y = y.clone(memory_format=torch.channels_last)
    window = _WINDOW.repeat(y.shape[1], 1, 1, 1)
    contrasts = []
    for scale, (x, mu1, mu1_sq, sigma1_sq) in enumerate(scales):
        # pytorch_msssim's _ssim, in place where a tensor is not needed again: the same operations, fewer buffers
        mu2 = gaussian_filter(y, window)
        mu2_sq = mu2.pow(2)
        mu1_mu2 = mu2.mul_(mu1)
        sigma2_sq = gaussian_filter(y * y, window).sub_(mu2_sq)
        sigma12 = gaussian_filter(x * y, window).sub_(mu1_mu2)
        cs_map = sigma12.mul_(2).add_(c2).div_(sigma2_sq.add_(sigma1_sq).add_(c2))
        if scale < len(scales) - 1:
            cs = torch.flatten(cs_map if scale == 0 else cs_map.contiguous(), 2).mean(-1)
            contrasts.append(torch.relu(cs))
            y = _pool(y)
    # The SSIM map of the coarsest scale (the maps of this last iteration): pytorch_msssim makes one at
    # every scale but uses only this one.
    ssim_map = mu1_mu2.mul_(2).add_(c1).div_(mu2_sq.add_(mu1_sq).add_(c1)).mul_(cs_map)
    ssim = torch.flatten(ssim_map.contiguous(), 2).mean(-1)
    values = torch.stack(contrasts + [torch.relu(ssim)], dim=0)  # (scale, batch, channel)
    return torch.prod(values ** y.new_tensor(WEIGHTS).view(-1, 1, 1), dim=0).mean()
