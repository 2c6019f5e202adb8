"""The run-wide context every codec, metric and feature extractor is handed once, when it is created.

Plain data and picklable, so each worker process (or Dask worker) gets the same context.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdpbench.weights import Weights


def default_cache() -> Path:
    """``RDPBENCH_CACHE`` or ``~/.cache/rdpbench``: reference-side results (NIQE and features of the originals)."""
    return Path(os.environ.get("RDPBENCH_CACHE") or Path.home() / ".cache" / "rdpbench")


@dataclass(frozen=True)
class RunContext:
    """``device``: torch device ("cpu" or "cuda"). ``weights``: where pretrained files are found and
    how they are checked. ``options``: per metric name, its options (``--option lpips.net=vgg``).
    ``cache``: the folder of reference-side results shared between runs (rdpbench.reference)."""

    device: str = "cpu"
    weights: Weights = field(default_factory=Weights)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache: Path = field(default_factory=default_cache)
