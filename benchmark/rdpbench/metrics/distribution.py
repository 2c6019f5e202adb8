"""FID, FD-DINOv2 and KID between the patch features of the originals and of one codec setting.

The maths is torch-fidelity's (``fid_features_to_statistics``/``fid_statistics_to_metric``,
``kid_features_to_metric``); only the patch plumbing is ours. One shortcut, exact in exact
arithmetic: with fewer patches than feature dimensions (n < 2048, e.g. Kodak's 192) the covariances
are rank-deficient and tr sqrt(S1 S2) — torch-fidelity's eigenvalues of a 2048x2048 product, seconds
of CPU per setting — equals the sum of the singular values of A1 A2^T / sqrt((n1-1)(n2-1)), with A
the centred features (n x 2048): the non-zero eigenvalues of A1^T A1 A2^T A2 are those of
(A1 A2^T)(A1 A2^T)^T. tests/test_fid_small_sample.py checks it against torch-fidelity. KID uses torch-fidelity's defaults
(polynomial kernel of degree 3, gamma 1/2048, coef0 1, 100 subsets, seed 2020) with subset size
min(1000, n_patches), so that small sets such as Kodak (192 patches) get a value instead of an error.
"""

from __future__ import annotations

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import DistributionMetric

KID_SUBSET_SIZE = 1000
GROUP = "distribution (patches)"


class FID(DistributionMetric):
    """Fréchet Inception Distance on patches (HiFiC protocol), torch-fidelity statistics."""

    name = "fid"
    extractor = "inception-v3-compat"
    libraries = ("torch_fidelity.metric_fid",)
    columns = (Column("fid", "FID", higher_is_better=False, decimals=2),)
    group = GROUP

    def describe(self):
        return f"torch-fidelity FID, {self.feature_spec().key}"

    def compute(self, reference_features, reconstruction_features):
        return {self.columns[0].name: frechet_distance(reference_features, reconstruction_features)}


class FDDINOv2(FID):
    """Fréchet distance on DINOv2 ViT-L/14 features (FD-DINOv2, Stein et al. 2023, dgm-eval): FID's
    maths (torch-fidelity statistics, the same few-sample shortcut) on the ``dinov2-vit-l-14``
    extractor's 1024-d CLS tokens (rdpbench.features.dinov2) of HiFiC's patches."""

    name = "fd_dinov2"
    extractor = "dinov2-vit-l-14"
    columns = (Column("fd_dinov2", "FD-DINOv2", higher_is_better=False, decimals=2),)

    def describe(self):
        return ("Fréchet distance (torch-fidelity statistics) on dgm-eval's DINOv2 ViT-L/14 features, "
                f"{self.feature_spec().key}")


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """torch-fidelity's Fréchet distance of two float32 (n, D) feature sets; through
    :func:`fid_from_few_features` when either set has fewer rows than D."""
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    if min(len(first), len(second)) < first.shape[1]:
        return fid_from_few_features(first, second)
    statistics = [fid_features_to_statistics(torch.from_numpy(f)) for f in (first, second)]
    return fid_statistics_to_metric(*statistics, verbose=False)["frechet_inception_distance"]


def fid_from_few_features(first: np.ndarray, second: np.ndarray) -> float:
    """torch-fidelity's FID of two float32 (n, D) feature sets with n < D, through the n1 x n2 matrix
    of centred feature products instead of D x D covariances (see the module docstring). Means in
    float32 and covariances in float64, as torch-fidelity computes them."""
    difference = first.mean(axis=0) - second.mean(axis=0)
    centred = [f.astype(np.float64) - f.astype(np.float64).mean(axis=0) for f in (first, second)]
    traces = [float((c ** 2).sum()) / (len(c) - 1) for c in centred]
    singular = np.linalg.svd(centred[0] @ centred[1].T, compute_uv=False)
    tr_covmean = float(singular.sum()) / np.sqrt((len(first) - 1) * (len(second) - 1))
    return float(difference.dot(difference) + traces[0] + traces[1] - 2 * tr_covmean)


class KID(DistributionMetric):
    """Kernel Inception Distance on patches: mean and standard deviation over subsets."""

    name = "kid"
    libraries = ("torch_fidelity.metric_kid",)
    extractor = "inception-v3-compat"
    columns = (Column("kid", "KID", higher_is_better=False, decimals=4),
               Column("kid_std", "KID std", higher_is_better=None, decimals=4))
    group = GROUP

    def describe(self):
        return f"torch-fidelity KID (poly 3, 100 subsets, subset size min(1000, n)), {self.feature_spec().key}"

    def compute(self, reference_features, reconstruction_features):
        import torch
        from torch_fidelity.metric_kid import kid_features_to_metric

        subset = min(KID_SUBSET_SIZE, len(reference_features), len(reconstruction_features))
        values = kid_features_to_metric(torch.from_numpy(reference_features), torch.from_numpy(reconstruction_features),
                                        kid_subset_size=subset, verbose=False)
        return {"kid": values["kernel_inception_distance_mean"], "kid_std": values["kernel_inception_distance_std"]}
