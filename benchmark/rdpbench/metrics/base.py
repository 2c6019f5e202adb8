"""Metric kinds (DESIGN.md §3), split by the shape of the data they need.

- :class:`PairedMetric`: full-reference, per image (PSNR, MS-SSIM, LPIPS, DISTS). The runner calls it
  with the original and the reconstruction of one image, both uint8 RGB of shape (H, W, 3), the
  reconstruction already rounded to uint8 by the codec.
- :class:`NoReferenceMetric`: per image, the reconstruction alone (NIQE); the runner also evaluates
  it once per dataset on the originals, for the "Original" reference line.

A per-image metric returns a :class:`MetricValue`: a float, or NaN with a ``note`` saying why the
value is undefined (e.g. an image too small for MS-SSIM). Metrics are instantiated once per worker
process and reused, so they may hold a loaded network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class MetricValue:
    value: float
    note: str = ""

    @classmethod
    def undefined(cls, reason: str) -> "MetricValue":
        return cls(math.nan, reason)


@dataclass(frozen=True)
class MetricContext:
    """What a metric may need from the run: the torch device ("cpu" or "cuda")."""

    device: str = "cpu"


class Metric:
    """Common attributes: ``name`` is the column (snake_case), ``higher_is_better`` the direction."""

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True

    def __init__(self, context: MetricContext):
        self.context = context

    def describe(self) -> str:
        """Convention and implementation, recorded in the run's provenance."""
        return ""


class PairedMetric(Metric):
    def compute(self, reference: np.ndarray, reconstruction: np.ndarray) -> MetricValue:
        raise NotImplementedError


class NoReferenceMetric(Metric):
    def compute(self, image: np.ndarray) -> MetricValue:
        raise NotImplementedError
