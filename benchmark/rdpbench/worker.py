"""A task's execution in a worker (a process of this machine's pool or a Dask worker).

:func:`execute_task` does encode once, decode once, and fans the one uint8 reconstruction out to
every requested metric and feature extractor. Failures of any step become the result's ``error``
text; nothing propagates out of it.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

from rdpbench import logs
from rdpbench.codecs.api import Codec
from rdpbench.codecs.registry import create_codec
from rdpbench.context import RunContext
from rdpbench.features.base import FeatureExtractor
from rdpbench.features.registry import create_extractor
from rdpbench.imageio import read_rgb8, write_png
from rdpbench.matching import search
from rdpbench.metrics.base import Metric, NoReferenceMetric
from rdpbench.metrics.registry import create_metric
from rdpbench.rate import bits_per_pixel
from rdpbench.tasks import MetricValue, Task, TaskResult, error_text


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class WorkerState:
    """What a worker keeps between tasks: codec, metric and feature-extractor instances (created once,
    with the run's context), and recently read originals
    (up to ``reference_cache_bytes``), so each original is decoded once per worker, not per task."""

    def __init__(self, context: RunContext, reference_cache_bytes: int = 1 << 30):
        self.context = context
        self.codecs: dict[str, Codec] = {}
        self.metrics: dict[str, Metric] = {}
        self.extractors: dict[str, FeatureExtractor] = {}
        self.references: OrderedDict[str, np.ndarray] = OrderedDict()
        self.reference_cache_bytes = reference_cache_bytes

    def codec(self, name: str) -> Codec:
        if name not in self.codecs:
            self.codecs[name] = create_codec(name, self.context)
        return self.codecs[name]

    def metric(self, name: str) -> Metric:
        if name not in self.metrics:
            self.metrics[name] = create_metric(name, self.context)
        return self.metrics[name]

    def extractor(self, name: str) -> FeatureExtractor:
        if name not in self.extractors:
            self.extractors[name] = create_extractor(name, self.context)
        return self.extractors[name]

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
        return _codec_failed(result, error_text("codec", error))
    if not (isinstance(reconstruction, np.ndarray) and reconstruction.dtype == np.uint8
            and reconstruction.shape == original.shape):
        got = getattr(reconstruction, "shape", type(reconstruction).__name__), getattr(reconstruction, "dtype", "")
        return _codec_failed(result, f"codec: decode returned {got}, expected uint8 {original.shape}")
    # a view ([..., ::-1] of a BGR decode) or a read-only array (np.asarray of a PIL image) is a valid
    # image; torch.from_numpy refuses negative strides and warns on read-only arrays, so copy those
    reconstruction = np.require(reconstruction, requirements=["C_CONTIGUOUS", "WRITEABLE"])
    if task.recon_path:
        try:
            write_png(task.recon_path, reconstruction)
        except OSError as error:  # e.g. a full disk: the row records the cause, the run goes on
            result.error = error_text("output", error)
            return result
    failures = []
    with logs.library_prints():  # model-loading messages of metric libraries go to the log
        _compute_metrics(task, state, original, reconstruction, result, failures)
    result.error = "; ".join(failures)
    return result


def _codec_failed(result: TaskResult, error: str) -> TaskResult:
    """An image the codec failed on (encode, decode or its output) has no rate either (rdpbench.export:
    a failed image has no bpp), so a setting's bpp and metric means are over the same images."""
    result.error, result.bytes, result.bpp = error, None, None
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
            failures.append(f"metric {name}: {_describe(error)}")
    for spec in task.features:
        try:
            result.features[spec.key] = state.extractor(spec.extractor).image_features(
                reconstruction, spec.patch_size, spec.patch_shift)
        except Exception as error:  # e.g. out of GPU memory: the row records it, FID/KID skip it
            failures.append(f"features {spec.key}: {_describe(error)}")
