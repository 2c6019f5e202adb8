"""FID with fewer patches than feature dimensions: the n x n shortcut equals torch-fidelity's D x D
eigenvalue computation (metrics/distribution.py). 256 feature dimensions instead of Inception's 2048
keep torch-fidelity's side fast; the identity does not depend on D."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from rdpbench.context import RunContext
from rdpbench.metrics.distribution import FID


@pytest.mark.parametrize("n1, n2, shift", [(192, 192, 0.3), (60, 130, 0.0), (100, 100, 2.0)])  # all < D = 256
def test_fid_of_few_features_equals_torch_fidelity(n1, n2, shift):
    rng = np.random.default_rng(n1 + n2)
    mixing = rng.normal(size=(64, 256)).astype(np.float32)  # correlated, Inception-like non-negative features
    first = np.maximum(rng.normal(size=(n1, 64)).astype(np.float32) @ mixing, 0)
    second = np.maximum((rng.normal(size=(n2, 64)).astype(np.float32) + shift) @ mixing, 0)
    reference = fid_statistics_to_metric(*(fid_features_to_statistics(torch.from_numpy(f)) for f in (first, second)),
                                         verbose=False)["frechet_inception_distance"]
    ours = FID(RunContext()).compute(first, second)["fid"]
    assert ours == pytest.approx(reference, rel=1e-6)
    assert abs(FID(RunContext()).compute(first, first)["fid"]) < 1e-6 * reference + 1e-6
