"""Feature extractor names to implementations (one :class:`rdpbench.registry.Registry`).

Built-in extractors are listed here; other packages add extractors through the
``rdpbench.feature_extractors`` entry-point group (name -> ``module:Class``, a
:class:`rdpbench.features.base.FeatureExtractor` subclass).
"""

from __future__ import annotations

from rdpbench.context import RunContext
from rdpbench.features.base import FeatureExtractor
from rdpbench.registry import Registry

EXTRACTORS = Registry("feature extractor", "rdpbench.feature_extractors",
                      plugin_base="rdpbench.features.base:FeatureExtractor", builtin={
    "inception-v3-compat": "rdpbench.features.inception:InceptionV3",
    "dinov2-vit-l-14": "rdpbench.features.dinov2:DINOv2ViTL14",
    "clip-vit-l-14-336px": "rdpbench.features.clip:CLIPViTL14336",
})


def create_extractor(name: str, context: RunContext) -> FeatureExtractor:
    return EXTRACTORS.create(name, context)
