"""Weight-free full-reference metrics of the codec standards (JPEG AI's CTC: IW-SSIM, VIFp, FSIM,
NLPD; also GMSD, VSI and the wavelet-domain VIF) through maintained ports of the authors' MATLAB code:
pyiqa (IQA-PyTorch) and piq, each checked against the authors' values (tests/test_classic_metrics.py).

The luma metrics take MATLAB's ``rgb2gray`` of the uint8 image by default (rdpbench.metrics.colour),
the input of the authors' MATLAB code for the official values; pyiqa's metrics get it as a grey RGB
image (R = G = B), whose YIQ luma, the one they compute, is the grey image itself. FSIMc and VSI use
colour (YIQ and LMN of the RGB image, as their authors' code). All run in the library's own dtype
(float32 for pyiqa, float64 for piq here) on the run's device; inputs are scaled to 0..1.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import MetricOptionError, PairedMetric, Reference
from rdpbench.metrics.colour import LUMAS, luma
from rdpbench.tasks import MetricValue

CALIBRATION = "pyiqa's 5 TID2013 calibration pairs, ResultsCalibra/results_official.csv (tests/data/iqa_calibration)"
GOLDHILL = "goldhill and its JPEG (grey), MATLAB values from piq's tests (tests/data/iqa_calibration/goldhill)"
GROUP = "perceptual (full-reference)"


class _LumaMetric(PairedMetric):
    """A metric computed by ``self.function``, of the luma (option ``luma``: rgb2gray, bt709, bt601)
    unless it declares no ``luma`` option; images under ``min_side`` px on a side give NaN."""

    defaults = {"luma": "rgb2gray"}
    min_side = 32

    def __init__(self, context):
        super().__init__(context)
        if "luma" in self.settings and self.settings["luma"] not in LUMAS:
            raise MetricOptionError(f"metric {self.name!r} option 'luma': expected one of {', '.join(LUMAS)}, "
                                    f"got {self.settings['luma']!r}")

    def grey(self, image: np.ndarray, channels: int, dtype):
        """The luma in 0..1 as a (1, channels, H, W) tensor (channels 3: a grey RGB image)."""
        import torch

        plane = torch.from_numpy(luma(image, self.settings["luma"]) / 255.0).to(self.context.device, dtype)
        return plane[None, None].expand(1, channels, *plane.shape).contiguous()

    def compute(self, reference, reconstruction):
        import torch

        if min(reference.shape[:2]) < self.min_side:
            return MetricValue.undefined(f"{self.columns[0].label} needs >= {self.min_side} px on each side")
        with torch.no_grad():
            return MetricValue(float(self.function(reference, reconstruction)))


class IWSSIM(_LumaMetric):
    """IW-SSIM (Wang and Li 2011) by piq's ``information_weighted_ssim``, a port of ``iwssim.m``:
    5 scales of a Laplacian pyramid, information-content weights (GSM, 3x3 blocks with parent,
    sigma_nsq 0.4), Gaussian window 11, sigma 1.5, L = 255, in float64. Short side under 161 px: NaN."""

    name = "iw_ssim"
    columns = (Column("iw_ssim", "IW-SSIM", decimals=4),)
    group = "distortion"
    min_side = 161
    reference = Reference("Wang's iwssim.m (via piq 0.8.0)", GOLDHILL, abs_tol=1e-6,
                          why="the MATLAB value has 15 digits; piq agrees to 1e-15 in float64")

    def describe(self):
        return f"piq 0.8.0 information_weighted_ssim (iwssim.m), luma {self.settings['luma']}, L 255, float64"

    def function(self, reference, reconstruction):
        import piq
        import torch

        x, y = (self.grey(image, 1, torch.float64) for image in (reconstruction, reference))
        return piq.information_weighted_ssim(x, y, data_range=1.0)


class VIFp(_LumaMetric):
    """VIFp, the pixel-domain VIF (Sheikh and Bovik 2006, ``vifp_mscale.m``; JPEG AI's VIF) by
    piq's ``vif_p``: 4 scales, Gaussian windows, sigma_n^2 = 2 on the 0..255 scale, float64."""

    name = "vif"
    columns = (Column("vif", "VIFp", decimals=4),)
    min_side = 41  # piq: the 4th scale's 17-px window needs at least 41 px
    group = GROUP
    reference = Reference("LIVE's vifp_mscale.m (via piq 0.8.0)", GOLDHILL, abs_tol=5e-5,
                          why="the MATLAB value has 4 decimals")

    def describe(self):
        return f"piq 0.8.0 vif_p (vifp_mscale.m, pixel domain), luma {self.settings['luma']}, sigma_n^2 2, float64"

    def function(self, reference, reconstruction):
        import piq
        import torch

        x, y = (self.grey(image, 1, torch.float64) for image in (reconstruction, reference))
        return piq.vif_p(x, y, data_range=1.0)


class _Pyiqa(_LumaMetric):
    """A pyiqa architecture (``arch``: module and class in pyiqa.archs, with ``options``) called as
    pyiqa does: ``net(reconstruction, reference)`` on (1, 3, H, W) float32 in 0..1."""

    arch: tuple[str, str, dict] = ("", "", {})
    colour = False  # True: the RGB image (FSIMc, VSI); False: the grey RGB image of the luma

    @cached_property
    def net(self):
        import importlib

        module, cls, options = self.arch
        return getattr(importlib.import_module(f"pyiqa.archs.{module}"), cls)(**options).to(self.context.device).eval()

    def function(self, reference, reconstruction):
        import torch

        from rdpbench.metrics.base import image_tensor

        if self.colour:
            x, y = (image_tensor(image, self.context.device) for image in (reconstruction, reference))
        else:
            x, y = (self.grey(image, 3, torch.float32) for image in (reconstruction, reference))
        return self.net(x, y)

    def describe(self):
        from importlib.metadata import version

        view = "RGB" if self.colour else f"luma {self.settings['luma']}"
        return f"pyiqa {version('pyiqa')} {self.arch[1]} {self.arch[2] or ''}, {view}, float32"


class VIFWavelet(_Pyiqa):
    """The wavelet-domain VIF (Sheikh and Bovik 2006, ``vifvec.m``: steerable pyramid, 4 levels,
    6 orientations) by pyiqa's ``VIF``; the VIF of pyiqa's and of LIVE's tables."""

    name = "vif_wavelet"
    columns = (Column("vif_wavelet", "VIF (wavelet)", decimals=4),)
    group = GROUP
    arch = ("vif_arch", "VIF", {})
    reference = Reference("LIVE's vifvec.m on MATLAB rgb2gray (via pyiqa 0.1.16)", CALIBRATION, abs_tol=5e-5,
                          why="the official values have 4 decimals")


class FSIM(_Pyiqa):
    """FSIMc (Zhang et al. 2011, ``FeatureSIM.m``'s FSIMc: phase congruency, gradient magnitude and the
    I, Q chromatic similarity, after the authors' automatic downsampling) by pyiqa's ``FSIM``; option
    ``chromatic=false`` for FSIM on the luma alone."""

    name = "fsim"
    columns = (Column("fsim", "FSIMc", decimals=4),)
    group = GROUP
    defaults = {"luma": "rgb2gray", "chromatic": True}
    reference = Reference("Zhang's FeatureSIM.m (FSIMc) (via pyiqa 0.1.16)", CALIBRATION, abs_tol=5e-5,
                          rel_tol=2e-4, why="4 official decimals, plus pyiqa's float32 phase congruency "
                          "(0.012% off on I03)")

    @property
    def colour(self):
        return self.settings["chromatic"]

    @property
    def arch(self):
        return ("fsim_arch", "FSIM", {"chromatic": self.settings["chromatic"]})


class GMSD(_Pyiqa):
    """GMSD (Xue et al. 2014, ``GMSD.m``: Prewitt gradients after a 2x2 mean and 2x downsampling,
    T = 170, standard deviation of the similarity map) by pyiqa's ``GMSD``; lower is better."""

    name = "gmsd"
    columns = (Column("gmsd", "GMSD", higher_is_better=False, decimals=4),)
    group = GROUP
    arch = ("gmsd_arch", "GMSD", {"test_y_channel": True})
    reference = Reference("Xue's GMSD.m on MATLAB rgb2gray (via pyiqa 0.1.16)", CALIBRATION, abs_tol=1e-7,
                          rel_tol=1e-4, why="the official values have 15 digits; pyiqa runs in float32")


class NLPD(_Pyiqa):
    """NLPD (Laparra et al. 2016: normalised Laplacian pyramid, 6 levels, the authors' filters and
    constants for 0..1 grey images) by pyiqa's ``NLPD``; lower is better."""

    name = "nlpd"
    columns = (Column("nlpd", "NLPD", higher_is_better=False, decimals=4),)
    group = GROUP
    arch = ("nlpd_arch", "NLPD", {"channels": 1, "test_y_channel": True})
    reference = Reference("Laparra's NLP_dist.m on MATLAB rgb2gray (via pyiqa 0.1.16)", CALIBRATION, rel_tol=3e-3,
                          why="pyiqa mimics MATLAB's imfilter/conv2 borders but stays 0.11-0.26% above the "
                          "official values on all 5 pairs (0.26% at most)")


class VSI(_Pyiqa):
    """VSI (Zhang et al. 2014: SDSP saliency, gradient and LMN chromatic similarity) by pyiqa's ``VSI``.
    No authors' code is public; the reference values are IQA-Optimization's port."""

    name = "vsi"
    columns = (Column("vsi", "VSI", decimals=4),)
    group = GROUP
    colour = True
    defaults = {}
    arch = ("vsi_arch", "VSI", {})
    reference = Reference("IQA-Optimization's VSI port (the authors' code is not public) (via pyiqa 0.1.16)",
                          CALIBRATION, rel_tol=1.5e-2,
                          why="pyiqa differs from the port it is checked against by up to 1.28% (saliency map "
                          "resizing, rgb2lab, downsampling; pyiqa's ResultsCalibra notes)")
