"""The run's stages around the per-image tasks: reference-side work before, distribution metrics after.

Before: no-reference metrics of the originals (NIQE's "Original" line) and the patch features of the
originals, each once per dataset, cached under a content key (rdpbench.reference) and so shared by
every codec, setting and later run. After: FID/KID of each codec setting from the features the tasks
stored, so Inception sees (k + 1) * n patches for k settings, never the originals twice.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from rdpbench.metrics.base import DistributionMetric, Metric, NoReferenceMetric
from rdpbench.metrics.features import PatchFeatureSpec
from rdpbench.reference import cache_key, per_image_cached
from rdpbench.store import ResultsStore
from rdpbench.tasks import WorkerState

FEATURE_DIMENSION = 2048


@dataclass
class Reference:
    """Patch features of the originals per feature spec: {spec: {image: float32 (n, 2048)}}."""

    features: dict[PatchFeatureSpec, dict[str, np.ndarray]]


def prepare_reference(store: ResultsStore, dataset, metrics: dict[str, Metric], state: WorkerState,
                      weight_hashes: dict[str, str]) -> Reference:
    images = {name: dataset.root / name for name in dataset.images}
    for name, metric in metrics.items():
        if isinstance(metric, NoReferenceMetric):
            key = cache_key(kind="no-reference", dataset=dataset.fingerprint, metric=name,
                            convention=metric.describe(), weights=str([weight_hashes[w] for w in metric.weight_names()]))
            values = per_image_cached(key, images, lambda image, m=metric: np.float64(m.compute(image).value),
                                      f"{name} of the originals")
            store.write_original_values(name, {image: float(value) for image, value in values.items()})
    features = {}
    specs = dict.fromkeys(m.feature_spec() for m in metrics.values() if isinstance(m, DistributionMetric))
    for spec in specs:
        extractor = state.extractor(spec)
        key = cache_key(kind="features", dataset=dataset.fingerprint, spec=spec.key, weights=extractor.weights.sha256)
        features[spec] = per_image_cached(key, images, extractor.features, "patch features of the originals")
    return Reference(features)


def _note(n_patches: int) -> str:
    if n_patches < FEATURE_DIMENSION:
        return (f"small sample: {n_patches} patches < {FEATURE_DIMENSION} feature dimensions; the covariance is "
                "rank-deficient and FID/KID are biased: compare only values with equal n_patches")
    return ""


def compute_distribution(store: ResultsStore, settings: list[tuple[str, str]], touched: set[tuple[str, str]],
                         metrics: dict[str, DistributionMetric], reference: Reference) -> None:
    """FID/KID for every (codec, setting) whose features changed in this run or that has none yet."""
    if not metrics:
        return
    done = {tuple(row) for row in store.query("SELECT DISTINCT codec, setting, metric FROM distribution_values")}
    work = [(codec, setting, name, metric) for codec, setting in settings for name, metric in metrics.items()
            if (codec, setting) in touched or (codec, setting, name) not in done]
    for codec, setting, name, metric in tqdm(work, desc="distribution metrics", unit="value", file=sys.stderr,
                                             leave=False):
        spec = metric.feature_spec()
        originals = reference.features[spec]
        reconstructions = store.features_of(codec, setting, spec.key)
        images = sorted(set(reconstructions) & set(originals))  # the same images on both sides
        reference_features = np.concatenate([originals[i] for i in images]) if images else np.zeros((0, 1))
        features = np.concatenate([reconstructions[i] for i in images]) if images else np.zeros((0, 1))
        n_patches = len(features)
        if n_patches < 2:
            values = {column: math.nan for column in metric.columns}
            note = f"{n_patches} patches: images smaller than {spec.patch_size} px give none"
        else:
            values = metric.compute(reference_features, features)
            note = _note(n_patches)
        store.write_distribution(codec, setting, name, values, n_patches, len(images), spec.key, note)
