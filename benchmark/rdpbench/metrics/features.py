"""Feature extractors shared by distribution metrics: torch-fidelity's Inception-v3 on patches.

A :class:`PatchFeatureSpec` names everything the features depend on (extractor, patch protocol);
its ``key`` identifies them in the store and in the reference cache, together with the sha256 of
the weight file. FID and KID with the same spec share one extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rdpbench.metrics.base import MetricContext
from rdpbench.metrics.patches import extract_patches
from rdpbench.weights import load_torch_file, weights_only_everywhere

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
BATCH = 32


@dataclass(frozen=True)
class PatchFeatureSpec:
    """torch-fidelity ``inception-v3-compat`` pool3 (2048-d) features of ``size``-px patches."""

    patch_size: int = 256
    patch_shift: int = 128
    extractor: str = "inception-v3-compat"

    @property
    def key(self) -> str:
        return f"{self.extractor}-2048/patch{self.patch_size}-shift{self.patch_shift}"


class PatchFeatureExtractor:
    """Batched Inception features of an image's patches, on the context's device."""

    def __init__(self, spec: PatchFeatureSpec, context: MetricContext):
        self.spec, self.context = spec, context

    @cached_property
    def weights(self):
        return self.context.weights.locate(INCEPTION_WEIGHTS)

    @cached_property
    def model(self):
        """torch-fidelity's extractor built around the state dict rdpbench loaded (weights_only=True):
        given a path it would unpickle the file with weights_only=False, so it is given none and its
        download function returns the loaded state instead."""
        from unittest import mock

        from torch_fidelity import feature_extractor_inceptionv3 as fidelity

        state = load_torch_file(self.weights)
        with mock.patch.object(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: state), \
                weights_only_everywhere():
            model = fidelity.FeatureExtractorInceptionV3(self.spec.extractor, ["2048"])
        return model.to(self.context.device)

    def features(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) -> float32 (n_patches, 2048); (0, 2048) when the image has no patch."""
        import torch

        patches = extract_patches(image, self.spec.patch_size, self.spec.patch_shift)
        if len(patches) == 0:
            return np.zeros((0, 2048), dtype=np.float32)
        chunks = []
        with torch.no_grad():
            for start in range(0, len(patches), BATCH):
                batch = torch.from_numpy(patches[start:start + BATCH]).to(self.context.device)
                chunks.append(self.model(batch)[0].cpu().numpy().astype(np.float32))
        return np.concatenate(chunks)
