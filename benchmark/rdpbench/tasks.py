"""Units of work and their execution in a worker.

A :class:`Task` is one (codec, setting, image): plain data, picklable, so any executor can ship it to
a worker process (now) or a cluster node (later). :func:`execute_task` does encode once, decode
once, and fans the one uint8 reconstruction out to every requested metric. Failures of any step
become the result's ``error`` text; nothing propagates out of it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rdpbench import logs
from rdpbench.codec_api import Codec
from rdpbench.codec_registry import create_codec
from rdpbench.imageio import read_rgb8, write_png
from rdpbench.metrics.base import Metric, MetricContext, MetricValue, NoReferenceMetric
from rdpbench.matching import MatchTarget, search
from rdpbench.metrics.features import PatchFeatureExtractor, PatchFeatureSpec
from rdpbench.metrics.registry import create_metric
from rdpbench.rate import bits_per_pixel


@dataclass(frozen=True)
class Task:
    """Encode/decode ``image`` with ``codec_name`` at ``params``, compute the per-image ``metrics``
    and the patch ``features`` that distribution metrics (FID, KID) need.

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
    features: tuple[PatchFeatureSpec, ...] = ()
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
    features: dict[str, np.ndarray] = field(default_factory=dict)  # spec key -> float32 (n_patches, D)
    error: str = ""
    worker: str | None = None  # the Dask worker that ran the task (rdpbench.dask_executor); None on this machine


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class WorkerState:
    """What a worker keeps between tasks: codec and metric instances, and recently read originals
    (up to ``reference_cache_bytes``), so each original is decoded once per worker, not per task."""

    def __init__(self, context: MetricContext, reference_cache_bytes: int = 1 << 30):
        self.context = context
        self.codecs: dict[str, Codec] = {}
        self.metrics: dict[str, Metric] = {}
        self.extractors: dict[PatchFeatureSpec, PatchFeatureExtractor] = {}
        self.references: OrderedDict[str, np.ndarray] = OrderedDict()
        self.reference_cache_bytes = reference_cache_bytes

    def codec(self, name: str) -> Codec:
        if name not in self.codecs:
            codec = create_codec(name)
            codec.device, codec.weights = self.context.device, self.context.weights
            self.codecs[name] = codec
        return self.codecs[name]

    def metric(self, name: str) -> Metric:
        if name not in self.metrics:
            self.metrics[name] = create_metric(name, self.context)
        return self.metrics[name]

    def extractor(self, spec: PatchFeatureSpec) -> PatchFeatureExtractor:
        if spec not in self.extractors:
            self.extractors[spec] = PatchFeatureExtractor(spec, self.context)
        return self.extractors[spec]

    def reference(self, path: str) -> np.ndarray:
        if path in self.references:
            self.references.move_to_end(path)
            return self.references[path]
        image = read_rgb8(path)
        self.references[path] = image
        while sum(a.nbytes for a in self.references.values()) > self.reference_cache_bytes and len(self.references) > 1:
            self.references.popitem(last=False)
        return image


def execute_task(task: Task, state: WorkerState) -> TaskResult:
    """Run one task; never raises (errors are returned in ``TaskResult.error``)."""
    result = TaskResult(task)
    try:
        original = state.reference(task.image_path)
    except Exception as error:  # unreadable input: an error row, the run goes on
        result.error = f"input: {error}"
        return result
    result.height, result.width = original.shape[:2]
    setting = {**dict(task.params), "_image": task.image}
    try:
        codec = state.codec(task.codec_name)
        if task.match:
            def rate(value):
                return bits_per_pixel(len(codec.encode(original, {**setting, task.match.knob: value})), *original.shape[:2])

            chosen = search(task.match, rate)
            setting[task.match.knob] = chosen
            result.metrics[f"matched_{task.match.knob}"] = MetricValue(float(chosen))
        start = time.perf_counter()
        data = codec.encode(original, setting)
        result.encode_s = time.perf_counter() - start
        result.bytes = len(data)
        result.bpp = bits_per_pixel(len(data), result.height, result.width)
        start = time.perf_counter()
        reconstruction = codec.decode(data, setting)
        result.decode_s = time.perf_counter() - start
    except Exception as error:  # a crashing adapter or tool is one error row, not a dead run
        result.error = f"codec: {_describe(error)}"
        return result
    if not (isinstance(reconstruction, np.ndarray) and reconstruction.dtype == np.uint8
            and reconstruction.shape == original.shape):
        got = getattr(reconstruction, "shape", type(reconstruction).__name__), getattr(reconstruction, "dtype", "")
        result.error = f"codec: decode returned {got}, expected uint8 {original.shape}"
        return result
    if task.recon_path:
        write_png(task.recon_path, reconstruction)
    failures = []
    with logs.library_prints():  # model-loading messages of metric libraries go to the log
        _compute_metrics(task, state, original, reconstruction, result, failures)
    result.error = "; ".join(f"metric {failure}" for failure in failures)
    return result


def _compute_metrics(task: Task, state: WorkerState, original: np.ndarray, reconstruction: np.ndarray,
                     result: TaskResult, failures: list[str]) -> None:
    for name in task.metrics:
        try:
            metric = state.metric(name)
            if isinstance(metric, NoReferenceMetric):
                result.metrics[name] = metric.compute(reconstruction)
            else:
                result.metrics[name] = metric.compute(original, reconstruction)
        except Exception as error:  # one failing metric must not lose the codec result
            result.metrics[name] = MetricValue.undefined(f"failed: {_describe(error)}")
            failures.append(f"{name}: {_describe(error)}")
    for spec in task.features:
        try:
            result.features[spec.key] = state.extractor(spec).features(reconstruction)
        except Exception as error:  # e.g. out of GPU memory: the row records it, FID/KID skip it
            failures.append(f"features {spec.key}: {_describe(error)}")
