"""FID and KID between the patch features of the originals and of one codec setting.

The maths is torch-fidelity's (``fid_features_to_statistics``/``fid_statistics_to_metric``,
``kid_features_to_metric``); only the patch plumbing is ours. KID uses torch-fidelity's defaults
(polynomial kernel of degree 3, gamma 1/2048, coef0 1, 100 subsets, seed 2020) with subset size
min(1000, n_patches), so that small sets such as Kodak (192 patches) get a value instead of an error.
"""

from __future__ import annotations


from rdpbench.metrics.base import DistributionMetric
from rdpbench.metrics.features import PatchFeatureSpec

KID_SUBSET_SIZE = 1000


class _PatchDistribution(DistributionMetric):
    higher_is_better = False
    defaults = {"patch_size": 256, "patch_shift": 128}

    def feature_spec(self) -> PatchFeatureSpec:
        return PatchFeatureSpec(self.settings["patch_size"], self.settings["patch_shift"])

    def weight_names(self):
        from rdpbench.metrics.features import INCEPTION_WEIGHTS

        return [INCEPTION_WEIGHTS]


class FID(_PatchDistribution):
    """Fréchet Inception Distance on patches (HiFiC protocol), torch-fidelity statistics."""

    name = "fid"
    columns = ("fid",)

    def describe(self):
        return f"torch-fidelity FID, {self.feature_spec().key}"

    def compute(self, reference_features, reconstruction_features):
        import torch
        from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

        statistics = [fid_features_to_statistics(torch.from_numpy(f)) for f in (reference_features, reconstruction_features)]
        return {"fid": fid_statistics_to_metric(*statistics, verbose=False)["frechet_inception_distance"]}


class KID(_PatchDistribution):
    """Kernel Inception Distance on patches: mean and standard deviation over subsets."""

    name = "kid"
    columns = ("kid", "kid_std")

    def describe(self):
        return f"torch-fidelity KID (poly 3, 100 subsets, subset size min(1000, n)), {self.feature_spec().key}"

    def compute(self, reference_features, reconstruction_features):
        import torch
        from torch_fidelity.metric_kid import kid_features_to_metric

        subset = min(KID_SUBSET_SIZE, len(reference_features), len(reconstruction_features))
        values = kid_features_to_metric(torch.from_numpy(reference_features), torch.from_numpy(reconstruction_features),
                                        kid_subset_size=subset, verbose=False)
        return {"kid": values["kernel_inception_distance_mean"], "kid_std": values["kernel_inception_distance_std"]}
