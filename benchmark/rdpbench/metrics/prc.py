"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019) between the originals' and a
codec setting's HiFiC patches, on Inception features (``inception-v3-compat``, as FID).

Each set's manifold is the union of balls around its feature vectors, each ball's radius the
distance to that vector's k-th nearest neighbour in its own set (k = 3, the paper's and
torch-fidelity's default; option ``k``). Precision: the fraction of reconstruction patches inside
the originals' manifold (are the reconstructions realistic?); recall: the fraction of original
patches inside the reconstructions' manifold (is their variety kept?). Both lie in 0..1, higher
is better; a point on a ball's boundary counts as inside.

The computation is torch-fidelity's own ``metric_prc.prc_features_to_metric`` (generated =
reconstructions, real = originals; ``save_cpu_ram=True``: distance matrices in blocks of 10000
rows, identical values). ``precision`` and ``recall`` are two metric names, so each can be
requested, plotted and BD-rated on its own; requesting both computes the neighbourhoods twice,
which costs little next to the feature extraction. With k or fewer patches on either side the
k-th neighbour does not exist and the value is NaN. Few patches inflate both values (each ball
is large): compare values with equal ``n_patches``.
"""

from __future__ import annotations

import math

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import DistributionMetric, MetricOptionError
from rdpbench.metrics.distribution import GROUP


class _PrecisionRecall(DistributionMetric):
    extractor = "inception-v3-compat"
    libraries = ("torch_fidelity.metric_prc",)
    defaults = {**DistributionMetric.defaults, "k": 3}
    group = GROUP  # subclasses' names are torch-fidelity's result keys

    def __init__(self, context):
        super().__init__(context)
        if self.settings["k"] < 1:
            raise MetricOptionError(f"{self.name}.k must be at least 1, got {self.settings['k']}")

    def describe(self):
        return (f"improved {self.name} (Kynkäänniemi et al. 2019), torch-fidelity prc, k={self.settings['k']}, "
                f"{self.feature_spec().key}")

    def compute(self, reference_features, reconstruction_features):
        return {self.name: precision_recall(reference_features, reconstruction_features, self.settings["k"])[self.name]}


class Precision(_PrecisionRecall):
    name = "precision"
    columns = (Column("precision", "Precision", higher_is_better=True, decimals=3),)


class Recall(_PrecisionRecall):
    name = "recall"
    columns = (Column("recall", "Recall", higher_is_better=True, decimals=3),)


def precision_recall(reference: np.ndarray, reconstruction: np.ndarray, k: int = 3) -> dict[str, float]:
    """{"precision": .., "recall": ..} of the reconstructions against the originals (both (n, D)
    float arrays), or NaN for both when either set has k patches or fewer."""
    import torch
    from torch_fidelity.metric_prc import prc_features_to_metric

    if min(len(reference), len(reconstruction)) <= k:
        return {"precision": math.nan, "recall": math.nan}
    values = prc_features_to_metric(torch.from_numpy(np.ascontiguousarray(reconstruction)),
                                    torch.from_numpy(np.ascontiguousarray(reference)),
                                    prc_neighborhood=k, save_cpu_ram=True, verbose=False)
    return {"precision": values["precision"], "recall": values["recall"]}
