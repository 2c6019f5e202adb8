"""MS-SSIM on the CPU in half the time of ``pytorch_msssim.ms_ssim``, with its float32 value bit for bit.

``pytorch_msssim.ms_ssim`` filters the tensors in whatever memory layout they come in. For the
(1, 3, H, W) view of a uint8 (H, W, 3) array that ``image_tensor`` makes, oneDNN copies the first
scale to NCHW and every coarser scale runs in NCHW, where its depthwise 11-tap filters are 3-4 times
slower than in channels-last. :func:`ms_ssim` runs the same operations as pytorch_msssim 1.0's
``ms_ssim`` and ``_ssim`` (default window 11, sigma 1.5, K = (0.01, 0.03), the five standard weights)
on channels-last tensors. Filters, pooling and element-wise operations give the same float32 values
in either layout; only a mean over a map depends on the layout (its summation order), so each map is
averaged in the layout pytorch_msssim averages it in for ``image_tensor`` input: NCHW, except the
contrast map of the finest scale (channels-last). tests/test_metrics.py checks equality (==) with
``pytorch_msssim.ms_ssim``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d, gaussian_filter

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """MS-SSIM of two float32 (1, 3, H, W) CPU tensors, both sides over 160 px: a 0-d tensor."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    window = _fspecial_gauss_1d(11, 1.5).repeat(x.shape[1], 1, 1, 1)
    x, y = (t.clone(memory_format=torch.channels_last) for t in (x, y))
    contrasts = []
    for scale in range(len(WEIGHTS)):
        mu1, mu2 = gaussian_filter(x, window), gaussian_filter(y, window)
        mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
        sigma1_sq = gaussian_filter(x * x, window) - mu1_sq
        sigma2_sq = gaussian_filter(y * y, window) - mu2_sq
        sigma12 = gaussian_filter(x * y, window) - mu1_mu2
        cs_map = (2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2)
        ssim_map = ((2 * mu1_mu2 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
        ssim = torch.flatten(ssim_map.contiguous(), 2).mean(-1)
        cs = torch.flatten(cs_map if scale == 0 else cs_map.contiguous(), 2).mean(-1)
        if scale < len(WEIGHTS) - 1:
            contrasts.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x, y = F.avg_pool2d(x, kernel_size=2, padding=padding), F.avg_pool2d(y, kernel_size=2, padding=padding)
    values = torch.stack(contrasts + [torch.relu(ssim)], dim=0)  # (scale, batch, channel)
    return torch.prod(values ** x.new_tensor(WEIGHTS).view(-1, 1, 1), dim=0).mean()
