"""Reference-side work, done once per dataset and cached on disk under a content key.

The key is the sha256 of everything the result depends on: the dataset fingerprint (every image's
path and sha256), the metric or feature extractor with its options, and the sha256 of its weight
file. So a cache entry can never be stale: other images, weights or protocol give another key.
The cache folder is the run context's ``cache`` (``RDPBENCH_CACHE`` or ``~/.cache/rdpbench``:
rdpbench.context); entries are .npz files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np


def cache_key(**parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def per_image_cached(folder: Path, key: str, compute: Callable[[], dict[str, np.ndarray]],
                     expected: set[str]) -> dict[str, np.ndarray]:
    """The per-image arrays stored as ``folder/<key>.npz``, or ``compute()``'s, stored there only when
    they cover every image of ``expected``: a pass that left some out (an unreadable image, a
    failing computation) is computed again by the next run instead of being reused."""
    path = folder / f"{key}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    results = compute()
    if set(results) != expected:
        return results
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.stem + ".tmp.npz")
    np.savez(temporary, **results)
    os.replace(temporary, path)
    return results
