"""Reference-side work, done once per dataset and cached on disk under a content key.

The key is the sha256 of everything the result depends on: the dataset fingerprint (every image's
path and sha256), the metric or feature extractor with its options, and the sha256 of its weight
file. So a cache entry can never be stale: other images, weights or protocol give another key.
The cache folder is ``RDPBENCH_CACHE`` or ``~/.cache/rdpbench``; entries are .npz files.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from rdpbench.imageio import read_rgb8


def cache_dir() -> Path:
    return Path(os.environ.get("RDPBENCH_CACHE") or Path.home() / ".cache" / "rdpbench")


def cache_key(**parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def per_image_cached(key: str, images: dict[str, Path], compute: Callable[[np.ndarray], np.ndarray],
                     label: str) -> dict[str, np.ndarray]:
    """``compute(image)`` for every readable image, from the cache entry ``key`` when it exists.
    Unreadable images, and images the computation fails on (NIQE of a 1x1 image), are left out:
    their tasks record why as error rows or metric notes."""
    path = cache_dir() / f"{key}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    results = {}
    for name, file in tqdm(images.items(), desc=label, unit="image", file=sys.stderr, leave=False):
        try:
            results[name] = np.asarray(compute(read_rgb8(file)))
        except Exception:  # noqa: BLE001 - one bad original must not stop the run (see docstring)
            continue
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.stem + ".tmp.npz")
    np.savez(temporary, **results)
    os.replace(temporary, path)
    return results
