"""PSNR and SSIM in the conventions of the codec standards and of the authors' MATLAB code:
``psnr_y`` and ``psnr_yuv`` (JPEG AI's common test conditions), ``ssim`` and ``ms_ssim_y`` (Wang et
al.'s ``ssim_index.m`` and ``msssim.m``), computed here in float64 (numpy, torch).

Colour conversions are those of rdpbench.metrics.colour; each metric states its own in ``describe``.
"""

from __future__ import annotations

import math

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import MetricOptionError, PairedMetric, Reference
from rdpbench.metrics.colour import LUMAS, MATRICES, luma, ycbcr
from rdpbench.metrics.distortion import MS_SSIM_MIN_SIDE
from rdpbench.tasks import MetricValue

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, msssim.m
CALIBRATION = "pyiqa's 5 TID2013 calibration pairs, ResultsCalibra/results_official.csv (tests/data/iqa_calibration)"


def _check_choice(metric: str, key: str, value: str, choices) -> None:
    if value not in choices:
        raise MetricOptionError(f"metric {metric!r} option {key!r}: expected one of {', '.join(choices)}, got {value!r}")


def psnr(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    """``10 log10(255^2 / MSE)`` of two float arrays of equal shape in 0..255; +inf when equal."""
    mse = float(np.mean((reference - reconstruction) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


class _YCbCrPSNR(PairedMetric):
    """PSNR on full-range Y'CbCr (``matrix``: bt709 or bt601; float64, not rounded), peak 255."""

    group = "distortion"
    defaults = {"matrix": "bt709"}

    def __init__(self, context):
        super().__init__(context)
        _check_choice(self.name, "matrix", self.settings["matrix"], MATRICES)


class PSNRY(_YCbCrPSNR):
    """PSNR of the luma Y' (full-range BT.709 by default, ``matrix=bt601``; float, not rounded),
    peak 255, per image then the mean over images (JPEG AI CTC's PSNR-Y)."""

    name = "psnr_y"
    columns = (Column("psnr_y", "PSNR-Y", unit="dB", decimals=2),)
    reference = Reference("10·log10(255²/MSE) of full-range Y' (ITU-R BT.709 by default; BT.601 as an option)",
                          "the formula on the calibration pairs, written out in the test", abs_tol=1e-9,
                          why="float64 rounding only")

    def describe(self):
        return f"Y' of full-range {self.settings['matrix'].upper()} Y'CbCr in float64, peak 255, per image"

    def compute(self, reference, reconstruction):
        matrix = self.settings["matrix"]
        return MetricValue(psnr(luma(reference, matrix), luma(reconstruction, matrix)))  # Y' only: no Cb, Cr


class PSNRYUV(_YCbCrPSNR):
    """``(6 PSNR_Y + PSNR_Cb + PSNR_Cr) / 8`` (JPEG AI CTC's 6:1:1 weighting; with a lossless
    component its PSNR is +inf and so is the mean), full-range 4:4:4 Y'CbCr, BT.709 by default."""

    name = "psnr_yuv"
    columns = (Column("psnr_yuv", "PSNR-YUV", unit="dB", decimals=2),)
    reference = Reference("(6·PSNR_Y + PSNR_Cb + PSNR_Cr)/8 on full-range 4:4:4 Y'CbCr (JPEG AI CTC, BT.709)",
                          "the formula on the calibration pairs, written out in the test", abs_tol=1e-9,
                          why="float64 rounding only")

    def describe(self):
        return (f"(6 PSNR_Y + PSNR_Cb + PSNR_Cr)/8, full-range {self.settings['matrix'].upper()} Y'CbCr 4:4:4 "
                "in float64, peak 255, per image")

    def compute(self, reference, reconstruction):
        a, b = ycbcr(reference, self.settings["matrix"]), ycbcr(reconstruction, self.settings["matrix"])
        y, cb, cr = (psnr(a[..., i], b[..., i]) for i in range(3))
        return MetricValue((6.0 * y + cb + cr) / 8.0)


def _gaussian_window():
    """Wang's ``fspecial('gaussian', 11, 1.5)`` as a separable 1-D kernel (sums to 1), float64 torch."""
    import torch

    x = torch.arange(11, dtype=torch.float64) - 5
    kernel = torch.exp(-(x**2) / (2 * 1.5**2))
    return kernel / kernel.sum()


def ssim_maps(x, y, data_range: float = 255.0):
    """SSIM and contrast-structure (cs) means of (N, C, H, W) float64 tensors as Wang's
    ``ssim_index_new.m``: 11x11 Gaussian window (sigma 1.5), 'valid' filtering, K = (0.01, 0.03),
    no clipping of cs. Returns two (N, C) tensors."""
    import torch.nn.functional as F

    kernel = _gaussian_window().to(x.device)
    channels = x.shape[1]
    rows, cols = kernel.view(1, 1, 11, 1).repeat(channels, 1, 1, 1), kernel.view(1, 1, 1, 11).repeat(channels, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, rows, groups=channels), cols, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu1, mu2 = blur(x), blur(y)
    sigma1, sigma2, sigma12 = blur(x * x) - mu1**2, blur(y * y) - mu2**2, blur(x * y) - mu1 * mu2
    cs = (2 * sigma12 + c2) / (sigma1 + sigma2 + c2)
    ssim = (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1) * cs
    return ssim.mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def _tensor(plane: np.ndarray):
    """float64 (H, W) or (H, W, C) -> float64 torch (1, C, H, W)."""
    import torch

    array = plane[..., None] if plane.ndim == 2 else plane
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


class SSIM(PairedMetric):
    """SSIM (Wang et al. 2004) as ``ssim_index.m`` computes it, without its downsampling of images over
    256 px (as pyiqa's official values): 11x11 Gaussian window, sigma 1.5, 'valid' filtering, K =
    (0.01, 0.03), L = 255. ``view=y`` (default): on the luma ``luma`` (MATLAB rgb2gray by default);
    ``view=rgb``: the mean of the R, G and B channels' SSIM (pytorch_msssim's and scikit-image's
    multichannel convention). Images under 11 px on a side give NaN."""

    name = "ssim"
    columns = (Column("ssim", "SSIM", decimals=4),)
    group = "distortion"
    defaults = {"view": "y", "luma": "rgb2gray"}
    reference = Reference("Wang's ssim_index.m on MATLAB rgb2gray, no downsampling", CALIBRATION, abs_tol=5e-5,
                          why="the official values have 4 decimals")

    def __init__(self, context):
        super().__init__(context)
        _check_choice(self.name, "view", self.settings["view"], ("y", "rgb"))
        _check_choice(self.name, "luma", self.settings["luma"], LUMAS)

    def describe(self):
        view = f"luma {self.settings['luma']}" if self.settings["view"] == "y" else "mean of R, G, B"
        return f"ssim_index.m (Gaussian 11, sigma 1.5, valid, K 0.01/0.03, L 255, no downsampling), {view}, float64"

    def compute(self, reference, reconstruction):
        import torch

        if min(reference.shape[:2]) < 11:
            return MetricValue.undefined("SSIM needs >= 11 px on each side (11x11 window)")
        if self.settings["view"] == "y":
            a, b = (_tensor(luma(image, self.settings["luma"])) for image in (reference, reconstruction))
        else:
            a, b = (_tensor(image.astype(np.float64)) for image in (reference, reconstruction))
        with torch.no_grad():
            value, _ = ssim_maps(a, b)
        return MetricValue(float(value.mean()))


def ms_ssim(x, y, pooling: str = "product") -> float:
    """MS-SSIM of (1, 1, H, W) float64 tensors in 0..255 as Wang's ``msssim.m``: 5 scales, each
    halved by a 2x2 mean (``imfilter(.., ones(2)/4, 'symmetric')`` then every other pixel: an odd side
    repeats its last row/column); ``product``: prod(cs_j^w_j, j<5) * ssim_5^w_5 (the paper's formula
    and msssim.m's default); ``sum``: msssim.m's 'wtd_sum', sum(w_j cs_j, j<5) + w_5 ssim_5 over sum(w)."""
    import torch.nn.functional as F

    values, css = [], []
    for level in range(len(MS_SSIM_WEIGHTS)):
        value, cs = ssim_maps(x, y)
        values.append(float(value))
        css.append(float(cs))
        padding = (0, x.shape[3] % 2, 0, x.shape[2] % 2)
        x, y = (F.avg_pool2d(F.pad(t, padding, mode="replicate"), 2) for t in (x, y))
    weights = MS_SSIM_WEIGHTS
    if pooling == "sum":
        return (sum(w * c for w, c in zip(weights[:-1], css[:-1])) + weights[-1] * values[-1]) / sum(weights)
    return math.prod(c ** w for w, c in zip(weights[:-1], css[:-1])) * values[-1] ** weights[-1]


class MSSSIMY(PairedMetric):
    """MS-SSIM (Wang et al. 2003) of the luma, as ``msssim.m`` computes it (see :func:`ms_ssim`):
    MATLAB rgb2gray by default (``luma``), L = 255, product pooling (``pooling=sum`` for msssim.m's
    weighted sum, the form of pyiqa's official values). Short side under 161 px: NaN."""

    name = "ms_ssim_y"
    columns = (Column("ms_ssim_y", "MS-SSIM-Y", decimals=4),)
    group = "distortion"
    defaults = {"luma": "rgb2gray", "pooling": "product"}
    reference = Reference("Wang's msssim.m on MATLAB rgb2gray", CALIBRATION + " with pooling=sum (the official "
                          "row's form); the product form against pytorch_msssim on the same grey image",
                          abs_tol=5e-5, why="the official values have 4 decimals")

    def __init__(self, context):
        super().__init__(context)
        _check_choice(self.name, "luma", self.settings["luma"], LUMAS)
        _check_choice(self.name, "pooling", self.settings["pooling"], ("product", "sum"))

    def describe(self):
        return (f"msssim.m (5 scales, Gaussian 11, sigma 1.5, valid, 2x2 mean downsampling, L 255), "
                f"{self.settings['pooling']} pooling, luma {self.settings['luma']}, float64")

    def compute(self, reference, reconstruction):
        import torch

        if min(reference.shape[:2]) < MS_SSIM_MIN_SIDE:
            return MetricValue.undefined(f"MS-SSIM needs >= {MS_SSIM_MIN_SIDE} px on the short side")
        a, b = (_tensor(luma(image, self.settings["luma"])) for image in (reference, reconstruction))
        with torch.no_grad():
            return MetricValue(ms_ssim(a, b, self.settings["pooling"]))
