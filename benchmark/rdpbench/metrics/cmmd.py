"""CMMD (Jayasumana et al., "Rethinking FID", CVPR 2024): the maximum mean discrepancy between the
CLIP ViT-L/14-336px embeddings (rdpbench.features.clip) of the originals' and a codec setting's
HiFiC patches.

As in the reference (google-research ``cmmd/distance.py``, ``mmd``): embeddings normalised to unit
length; Gaussian RBF kernel k(x, y) = exp(-||x - y||² / (2 σ²)) with σ = 10; the biased
(minimum-variance) estimator MMD² = mean(K_xx) + mean(K_yy) - 2 mean(K_xy), plain means over all
pairs *including* the diagonals k(x, x) = 1 (Gretton et al. 2012, Eq. 5; not KID's unbiased
estimator), scaled by 1000. Here in float64 and over 1024 x 1024 tiles of the kernel matrices, so
memory stays bounded for any number of patches. Unlike FID, CMMD makes no normality assumption
and has no few-sample bias from covariance estimation, but its value still depends on the
number of patches through the diagonal terms (about (1 - mean off-diagonal kernel) / n each):
compare values with equal ``n_patches``.
"""

from __future__ import annotations

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import DistributionMetric, MetricOptionError
from rdpbench.metrics.distribution import GROUP

TILE = 1024


class CMMD(DistributionMetric):
    """CLIP-MMD on patches; options ``sigma`` (kernel bandwidth, default 10) and ``scale`` (default
    1000), the reference's values."""

    name = "cmmd"
    extractor = "clip-vit-l-14-336px"
    columns = (Column("cmmd", "CMMD", higher_is_better=False, decimals=4),)
    group = GROUP
    defaults = {**DistributionMetric.defaults, "sigma": 10.0, "scale": 1000.0}

    def __init__(self, context):
        super().__init__(context)
        if not self.settings["sigma"] > 0:
            raise MetricOptionError(f"cmmd.sigma must be positive, got {self.settings['sigma']}")

    def describe(self):
        return (f"CMMD as google-research cmmd: unit-normalised CLIP embeddings, RBF sigma={self.settings['sigma']:g}, "
                f"biased MMD² (diagonals included) x {self.settings['scale']:g}, {self.feature_spec().key}")

    def compute(self, reference_features, reconstruction_features):
        sigma, scale = self.settings["sigma"], self.settings["scale"]
        return {"cmmd": cmmd(reference_features, reconstruction_features, sigma, scale)}


def cmmd(first: np.ndarray, second: np.ndarray, sigma: float = 10.0, scale: float = 1000.0) -> float:
    """Scaled biased MMD² between two embedding sets (n1, D) and (n2, D), each row normalised to
    unit length first (see the module docstring)."""
    x, y = (unit_rows(f) for f in (first, second))
    gamma = 1.0 / (2.0 * sigma ** 2)
    k_xx, k_yy, k_xy = mean_rbf_kernel(x, x, gamma), mean_rbf_kernel(y, y, gamma), mean_rbf_kernel(x, y, gamma)
    return float(scale * (k_xx + k_yy - 2.0 * k_xy))


def unit_rows(features: np.ndarray) -> np.ndarray:
    """float64 copy with every row divided by its Euclidean norm."""
    rows = np.asarray(features, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def mean_rbf_kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> float:
    """Mean of exp(-gamma ||a_i - b_j||²) over all (i, j), with ||a - b||² = |a|² + |b|² - 2 a·b as
    the reference computes it, tile by tile."""
    norms_a, norms_b = (a * a).sum(axis=1), (b * b).sum(axis=1)
    total = 0.0
    for i in range(0, len(a), TILE):
        for j in range(0, len(b), TILE):
            squared = norms_a[i:i + TILE, None] + norms_b[None, j:j + TILE] - 2.0 * a[i:i + TILE] @ b[j:j + TILE].T
            total += float(np.exp(-gamma * squared).sum())
    return total / (len(a) * len(b))
