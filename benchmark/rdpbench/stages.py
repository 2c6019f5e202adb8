"""The run's stages around the per-image tasks: reference-side work before, distribution metrics after.

Before: no-reference metrics of the originals (NIQE's "Original" line) and the patch features of the
originals, each once per dataset, cached under a content key (rdpbench.reference) and so shared by
every codec, setting and later run. After: FID/KID of each codec setting from the features the tasks
stored, so Inception sees (k + 1) * n patches for k settings, never the originals twice.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from rdpbench.imageio import read_rgb8
from rdpbench.metrics.base import DistributionMetric, Metric, NoReferenceMetric
from rdpbench.reference import cache_key, per_image_cached
from rdpbench.store import ResultsStore
from rdpbench.tasks import FeatureSpec
from rdpbench.worker import WorkerState


@dataclass
class Reference:
    """Patch features of the originals per feature spec: {spec: {image: float32 (n, dimension)}}."""

    features: dict[FeatureSpec, dict[str, np.ndarray]]


def original_value(state: WorkerState, metric: str, image: np.ndarray) -> np.float64:
    """A no-reference metric of one original, uint8 (H, W, 3)."""
    return np.float64(state.metric(metric).compute(image).value)


def original_features(state: WorkerState, spec: FeatureSpec, image: np.ndarray) -> np.ndarray:
    """Patch features of one original: float32 (n_patches, spec.dimension)."""
    return state.extractor(spec.extractor).image_features(image, spec.patch_size, spec.patch_shift)


def originals_here(state: WorkerState, work: Callable, argument, images: dict[str, Path],
                   label: str) -> dict[str, np.ndarray]:
    """``work(state, argument, pixels)`` for every readable original, in this process. Unreadable
    images, and images the computation fails on (NIQE of a 1x1 image), are left out, with the reason
    in the log: their tasks record why as error rows or metric notes, and the incomplete pass is not
    cached (rdpbench.reference). A cluster executor has a ``map_originals`` with the same arguments
    less ``state``."""
    results = {}
    for name, file in tqdm(images.items(), desc=label, unit="image", file=sys.stderr, leave=False):
        try:
            results[name] = np.asarray(work(state, argument, read_rgb8(file)))
        except Exception as error:  # noqa: BLE001 - one bad original must not stop the run (see docstring)
            logging.getLogger("rdpbench").warning("%s: %s left out: %s: %s", label, name, type(error).__name__, error)
    return results


def prepare_reference(store: ResultsStore, dataset, metrics: dict[str, Metric], state: WorkerState,
                      weight_hashes: dict[str, str], originals: Callable | None = None) -> Reference:
    """``originals(work, argument, images, label)`` computes on the originals: in this process by
    default, on the workers of a cluster executor."""
    originals = originals or partial(originals_here, state)
    images = {name: dataset.root / name for name in dataset.images}
    subset = json.dumps(sorted(images))  # images screened out (memory budget) must not shrink a shared entry
    for name, metric in metrics.items():
        if isinstance(metric, NoReferenceMetric):
            key = cache_key(kind="no-reference", dataset=dataset.fingerprint, images=subset, metric=name,
                            convention=metric.describe(), weights=str([weight_hashes[w] for w in metric.weight_names()]))
            values = per_image_cached(state.context.cache, key, partial(originals, original_value, name, images,
                                                                        f"{name} of the originals"), set(images))
            store.write_original_values(name, {image: float(value) for image, value in values.items()})
    features = {}
    specs = {m.feature_spec(): m.weight_names() for m in metrics.values() if isinstance(m, DistributionMetric)}
    for spec, weight_names in specs.items():
        key = cache_key(kind="features", dataset=dataset.fingerprint, images=subset, spec=spec.key,
                        convention=state.extractor(spec.extractor).describe(),
                        weights=str([weight_hashes[name] for name in weight_names]))
        features[spec] = per_image_cached(state.context.cache, key, partial(
            originals, original_features, spec, images, f"{spec.extractor} features of the originals"), set(images))
    return Reference(features)


def _note(n_patches: int, dimension: int) -> str:
    if n_patches < dimension:
        return (f"small sample: {n_patches} patches < {dimension} feature dimensions; covariances are "
                "rank-deficient (Fréchet distances biased) and every distribution metric depends on the "
                "sample size: compare only values with equal n_patches")
    return ""


def compute_distribution(store: ResultsStore, settings: list[tuple[str, str]], touched: set[tuple[str, str]],
                         metrics: dict[str, DistributionMetric], reference: Reference) -> None:
    """Distribution metrics for every (codec, setting) whose features changed in this run or that has
    none yet. A metric that returns other columns than it declares gets NaN with a note saying so."""
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
        declared = [column.name for column in metric.columns]
        values = dict.fromkeys(declared, math.nan)
        if not originals:
            note = f"no {spec.extractor} features of the originals: their extraction failed (see the log)"
        elif n_patches < 2:
            note = f"{n_patches} patches: images smaller than {spec.patch_size} px give none"
        else:
            computed = metric.compute(reference_features, features)
            if sorted(computed) == sorted(declared):
                values, note = computed, _note(n_patches, spec.dimension)
            else:
                note = f"metric {name} returned columns {sorted(computed)}, but declares {declared}"
        store.write_distribution(codec, setting, name, values, n_patches, len(images), spec.key, note)
