"""Units of work and their results: plain, picklable data that any executor ships to a worker
(rdpbench.worker runs them) and the store records. A leaf module: it imports no codec, metric or
runner code, so the store and the report do not either."""

from __future__ import annotations

import errno
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rdpbench.matching import MatchTarget


# An error row whose cause lies outside the task (a full disk, an exceeded quota) starts with this:
# the store reports such a row as absent, so a plain re-run computes it again.
RETRIED = "retried by the next run: "
RETRIED_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def error_text(step: str, error: BaseException) -> str:
    """The error column's text for ``error`` in ``step`` ("codec", "output", ...), with the real cause;
    prefixed with ``RETRIED`` when the cause is a full disk or quota."""
    text = f"{step}: {type(error).__name__}: {error}"
    return RETRIED + text if isinstance(error, OSError) and error.errno in RETRIED_ERRNOS else text


@dataclass(frozen=True)
class MetricValue:
    """A per-image metric's value: a float, or NaN with a ``note`` saying why it is undefined."""

    value: float
    note: str = ""

    @classmethod
    def undefined(cls, reason: str) -> "MetricValue":
        return cls(math.nan, reason)


@dataclass(frozen=True)
class FeatureSpec:
    """Features of ``extractor`` (a registered feature extractor, ``dimension`` wide) on HiFiC's
    patches of ``patch_size`` px, shifted grid at ``patch_shift`` (rdpbench.features.patches).
    ``key`` names them in the store and the reference cache."""

    extractor: str
    dimension: int
    patch_size: int
    patch_shift: int

    @property
    def key(self) -> str:
        return f"{self.extractor}-{self.dimension}/patch{self.patch_size}-shift{self.patch_shift}"


@dataclass(frozen=True)
class Task:
    """Encode/decode ``image`` with ``codec_name`` at ``params``, compute the per-image ``metrics``
    and the patch ``features`` that distribution metrics (FID, KID, ...) need.

    ``codec`` is the label in the results (usually the codec name), ``setting`` the swept knobs as
    text (``quality=25``), ``params`` the full parameter values handed to the codec.
    """

    codec: str
    codec_name: str
    setting: str
    params: tuple[tuple[str, Any], ...]
    image: str
    image_path: str
    metrics: tuple[str, ...]
    recon_path: str | None = None
    features: tuple[FeatureSpec, ...] = ()
    match: MatchTarget | None = None  # search the rate knob to meet another codec's bpp (matching.py)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.codec, self.setting, self.image)


@dataclass
class TaskResult:
    task: Task
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    bpp: float | None = None
    encode_s: float | None = None
    decode_s: float | None = None
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)  # FeatureSpec.key -> float32 (n_patches, D)
    error: str = ""
    worker: str | None = None  # the Dask worker that ran the task (rdpbench.dask_executor); None on this machine
