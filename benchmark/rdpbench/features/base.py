"""The feature-extractor plug-in interface.

An extractor turns uint8 patches (N, 3, S, S) into float32 features (N, D). It declares its
``name`` (the registry key, part of the feature key in the store and the cache), ``dimension`` D,
``input_size`` (the side in px its network sees after its own preprocessing: patches of another
size are resized by the extractor as its reference implementation does), the canonical names of
its ``weight_files`` (rdpbench.weights), and its ``convention`` (preprocessing, layer, reference
implementation) recorded in each run's provenance.

Extractors are created once per worker process with the run's context; the network is built on
first use (:meth:`FeatureExtractor.build`), from weight files read with ``weights_only=True``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from rdpbench.context import RunContext
from rdpbench.features.patches import extract_patches


class FeatureExtractor:
    name: ClassVar[str] = ""
    dimension: ClassVar[int] = 0
    input_size: ClassVar[int] = 0
    weight_files: ClassVar[tuple[str, ...]] = ()
    convention: ClassVar[str] = ""
    batch_size: ClassVar[int] = 32

    def __init__(self, context: RunContext):
        self.context = context

    def weight_names(self) -> list[str]:
        return list(self.weight_files)

    def describe(self) -> str:
        return f"{self.name} ({self.dimension}-d, {self.input_size} px): {self.convention}"

    def build(self) -> Any:
        """The network on ``self.context.device``, in eval mode; a callable (B, 3, S, S) uint8 tensor
        -> (B, D) float tensor."""
        raise NotImplementedError

    @cached_property
    def model(self) -> Any:
        return self.build()

    def features(self, patches: np.ndarray) -> np.ndarray:
        """uint8 (N, 3, S, S) -> float32 (N, dimension), in batches of ``batch_size``."""
        import torch

        if len(patches) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        chunks = []
        with torch.no_grad():
            for start in range(0, len(patches), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(patches[start:start + self.batch_size]))
                chunks.append(self.model(batch.to(self.context.device)).cpu().numpy().astype(np.float32))
        features = np.concatenate(chunks)
        if features.shape != (len(patches), self.dimension):
            raise ValueError(f"feature extractor {self.name!r} returned features of shape {features.shape} for "
                             f"{len(patches)} patches; it declares dimension {self.dimension}")
        return features

    def image_features(self, image: np.ndarray, patch_size: int, patch_shift: int) -> np.ndarray:
        """uint8 (H, W, 3) -> float32 (n_patches, dimension) of HiFiC's patches (rdpbench.features.patches);
        (0, dimension) when the image is smaller than one patch."""
        return self.features(extract_patches(image, patch_size, patch_shift))
