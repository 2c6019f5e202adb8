"""Pixel-fidelity metrics, with the conventions of CompressAI's evaluation (README, "Conventions")."""

from __future__ import annotations

import math

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import PairedMetric, image_tensor
from rdpbench.tasks import MetricValue

MS_SSIM_MIN_SIDE = 161  # 5 scales, 11-px window: the short side must exceed (11 - 1) * 2**4 = 160


class PSNR(PairedMetric):
    """RGB PSNR of one image: ``10 * log10(255**2 / MSE)``, MSE over all pixels and the 3 channels
    in float64. The summary averages per-image PSNR (not the PSNR of the mean MSE). Identical images
    give +inf."""

    name = "psnr"
    columns = (Column("psnr", "PSNR", unit="dB", decimals=2),)
    group = "distortion"

    def memory_factor(self):
        return 20  # measured 16 (rdpbench.memory)

    def describe(self):
        return "RGB, 10*log10(255^2/MSE) per image, mean over images"

    def compute(self, reference, reconstruction):
        # In integers: the sum of squares is exact, as is np.mean's float64 sum of these integers (below
        # 2**53 for images under 4.6e10 pixels), so the MSE is the same float64, five times faster.
        squares = np.subtract(reference, reconstruction, dtype=np.int32)
        np.multiply(squares, squares, out=squares)
        mse = float(squares.sum(dtype=np.int64)) / squares.size
        return MetricValue(math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse))


class MSSSIM(PairedMetric):
    """RGB MS-SSIM by ``pytorch_msssim.ms_ssim``: data_range 255, 5 scales with the standard weights
    (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), Gaussian window 11 with sigma 1.5, channels averaged.
    On the CPU the same value comes from rdpbench.metrics.msssim_cpu, three times faster.
    Images with a short side under 161 px give NaN with the reason."""

    name = "ms_ssim"
    columns = (Column("ms_ssim", "MS-SSIM", decimals=4),)
    group = "distortion"

    def memory_factor(self):
        return 85  # measured 67 (rdpbench.memory)

    def describe(self):
        from importlib.metadata import version

        return f"pytorch_msssim {version('pytorch_msssim')}, RGB, data_range 255, win 11, sigma 1.5"

    def compute(self, reference, reconstruction):
        import torch

        if min(reference.shape[:2]) < MS_SSIM_MIN_SIDE:
            return MetricValue.undefined(f"MS-SSIM needs >= {MS_SSIM_MIN_SIDE} px on the short side")
        device = self.context.device
        with torch.no_grad():
            if device != "cpu":
                from pytorch_msssim import ms_ssim

                value = ms_ssim(image_tensor(reference, device, "0..255"),
                                image_tensor(reconstruction, device, "0..255"), data_range=255.0)
            else:  # the same value, three times as fast (rdpbench.metrics.msssim_cpu)
                from rdpbench.metrics.msssim_cpu import ms_ssim

                value = ms_ssim(self._reference_side(reference), image_tensor(reconstruction, "cpu", "0..255"), 255.0)
        return MetricValue(float(value))

    def _reference_side(self, reference):
        """The reference's per-scale tensors (msssim_cpu.reference_side), kept with a copy of the last
        reference: a worker runs one image's settings in a row and filters that original once."""
        from rdpbench.metrics.msssim_cpu import reference_side

        last = getattr(self, "_last_reference", None)
        if last is not None and last[0].shape == reference.shape and np.array_equal(last[0], reference):
            return last[1]
        self._last_reference = None  # freed first: at most one side is held (rdpbench.memory's MS-SSIM share)
        side = reference_side(image_tensor(reference, "cpu", "0..255"))
        self._last_reference = (reference.copy(), side)
        return side
