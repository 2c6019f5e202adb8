"""Metric kinds, split by the shape of the data they need.

- :class:`PairedMetric`: full-reference, per image (PSNR, MS-SSIM, LPIPS, DISTS). Called with the
  original and the reconstruction of one image, both uint8 RGB of shape (H, W, 3), the
  reconstruction already rounded to uint8 by the codec.
- :class:`NoReferenceMetric`: per image, one image alone (NIQE). The runner applies it to every
  reconstruction and, once per dataset, to the originals (the "Original" reference line).
- :class:`DistributionMetric`: a pure function of two feature sets (FID, KID), the original
  patches' features against a codec setting's; features come from a shared extractor
  (rdpbench.metrics.features), so FID and KID of one run use one Inception pass.

A per-image metric returns a :class:`MetricValue`: a float, or NaN with a ``note`` saying why the
value is undefined. Metrics are created once per worker process; networks load lazily on first
use, so creating one to check its options and weight files is cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rdpbench.weights import Weights


class MetricOptionError(ValueError):
    """An option given to a metric is unknown or invalid."""


@dataclass(frozen=True)
class MetricValue:
    value: float
    note: str = ""

    @classmethod
    def undefined(cls, reason: str) -> "MetricValue":
        return cls(math.nan, reason)


@dataclass(frozen=True)
class MetricContext:
    """What metrics may need from the run; picklable, sent to every worker.

    ``device``: torch device ("cpu" or "cuda"). ``weights``: where pretrained files are found.
    ``options``: per metric name, its options (``--option lpips.net=vgg``).
    """

    device: str = "cpu"
    weights: Weights = field(default_factory=Weights)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


class Metric:
    """Common attributes: ``name`` is the column (snake_case), ``higher_is_better`` the direction,
    ``defaults`` the options a metric accepts with their default values."""

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, context: MetricContext):
        self.context = context
        given = context.options.get(self.name, {})
        unknown = set(given) - set(self.defaults)
        if unknown:
            known = ", ".join(self.defaults) or "none"
            raise MetricOptionError(f"metric {self.name!r} has no option {', '.join(sorted(unknown))} (known: {known})")
        self.settings = {key: type(default)(given.get(key, default)) for key, default in self.defaults.items()}

    def weight_names(self) -> list[str]:
        """Canonical names of the pretrained files this metric needs (rdpbench.weights.KNOWN)."""
        return []

    def describe(self) -> str:
        """Convention and implementation, recorded in the run's provenance."""
        return ""


class PairedMetric(Metric):
    def compute(self, reference: np.ndarray, reconstruction: np.ndarray) -> MetricValue:
        raise NotImplementedError


class NoReferenceMetric(Metric):
    def compute(self, image: np.ndarray) -> MetricValue:
        raise NotImplementedError


class DistributionMetric(Metric):
    """``columns`` are the result columns it fills; :meth:`feature_spec` names the features it needs."""

    columns: ClassVar[tuple[str, ...]] = ()

    def feature_spec(self):
        raise NotImplementedError

    def compute(self, reference_features: np.ndarray, reconstruction_features: np.ndarray) -> dict[str, float]:
        """Both arrays (N, D) float32, rows are patches; returns a value per column."""
        raise NotImplementedError


def image_tensor(image: np.ndarray, device: str, value_range: str = "0..1"):
    """uint8 (H, W, 3) -> float32 torch tensor (1, 3, H, W) on ``device`` in ``value_range``:
    "0..255" (as is), "0..1" (x / 255, pyiqa's convention) or "-1..1" (x / 127.5 - 1, lpips'
    ``im2tensor``). The formulas are the libraries' own, so values match them bit for bit."""
    import torch

    tensor = torch.from_numpy(image).to(device).permute(2, 0, 1).unsqueeze(0).float()
    if value_range == "0..255":
        return tensor
    if value_range == "0..1":
        return tensor / 255.0
    if value_range == "-1..1":
        return tensor / 127.5 - 1.0
    raise ValueError(f"unknown value range {value_range!r}")
