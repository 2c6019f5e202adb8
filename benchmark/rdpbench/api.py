"""The Python API: :func:`evaluate` a codec on images, :func:`load` a stored run, both giving a
:class:`Results`.

``evaluate`` is ``rdpbench run`` as a function: the same planning, store, resume rules, exports and
conventions (benchmark/docs/metrics.md). What it adds is the codecs a command line cannot name: any
object with ``encode``/``decode``, a CompressAI model, a :class:`rdpbench.codecs.api.Codec` instance,
or a dict of those (one curve, one point per entry).

Where the work runs: ``jobs=0`` (the default) runs every task in this process, which is how codec
objects in memory run (they cannot in general be pickled into other processes), and keeps what does
not change between calls (loaded networks of metrics, feature extractors and registered codecs, per
device, weight folder and metric options), so evaluating a checkpoint every N training steps costs
the codec and metric work only; originals' NIQE and patch features are cached on disk per dataset
(``RDPBENCH_CACHE``) as for the CLI. A task that raises is an error row, as on the command line, but
a codec library that crashes the interpreter takes this process with it. ``jobs=N >= 1`` runs the
tasks in N worker processes exactly as ``rdpbench run --jobs N`` (registered codec names only).
"""

from __future__ import annotations

import difflib
import sys
import tempfile
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from rdpbench.codecs.api import Codec, CodecError, Param
from rdpbench.paths import user_path

__all__ = ["evaluate", "load", "Results"]

# run options evaluate() takes as keywords: the RunSpec fields it does not set itself
_OWN = {"codecs", "images", "dataset", "metrics", "out", "jobs", "device"}
_LOCK = threading.Lock()
_STATES: dict[str, Any] = {}  # run context key -> rdpbench.worker.WorkerState kept between calls


class Results:
    """The results of one folder (read-only): what ``per_image.csv`` and ``summary.csv`` hold, and
    BD-rates and figures as ``rdpbench report`` computes them.

    ``per_image``: one row per (codec, setting, image): ``codec, setting, image, width, height, bytes,
    bpp, encode_s, decode_s``, one column per per-image metric, ``error`` ("" when none).
    ``summary``: one row per (codec, setting): ``codec, setting, n_images, n_failed, bpp``, metric means,
    ``encode_s, decode_s``, then distribution metrics with ``n_patches``, ``patch_protocol`` and
    ``distribution_note``. Both have the same columns and values as the CSV files of the folder.
    ``folder``: the results folder (None when :func:`evaluate` was given ``out=None``: the results
    then live in a temporary folder removed with this object)."""

    def __init__(self, folder: Path, temporary: tempfile.TemporaryDirectory | None = None):
        from rdpbench import export
        from rdpbench.report.data import ReportError
        from rdpbench.store import STORE_NAME, ResultsStore

        if not (folder / STORE_NAME).is_file():
            raise ReportError(f"no {STORE_NAME} in {folder}: not an rdpbench results folder")
        self._folder, self._temporary = folder, temporary
        with ResultsStore(folder, read_only=True) as store:
            self.per_image, self.summary = export.views(store)

    @property
    def folder(self) -> Path | None:
        return None if self._temporary is not None else self._folder

    def __repr__(self) -> str:
        where = self._folder if self._temporary is None else "a temporary folder"
        return (f"<rdpbench.Results: {self.summary['codec'].nunique()} codecs, {len(self.summary)} settings, "
                f"{len(self.per_image)} rows ({int((self.per_image['error'] != '').sum())} with errors) in {where}>")

    def report_data(self, published: Sequence[str | Path] = (), metrics: Sequence[str] | None = None):
        """What the report draws from (rdpbench.report.data.ReportData), with published curves
        (names from ``rdpbench published``, or CompressAI-format JSON files) overlaid."""
        from rdpbench.report.data import load as load_report

        return load_report(self._folder, _published_files(published), list(metrics) if metrics else None)

    def bd_rate(self, anchor: str, metrics: Sequence[str] | None = None, method: str = "akima",
                published: Sequence[str | Path] = ()) -> pd.DataFrame:
        """Bjøntegaard-delta rates of every other curve against ``anchor`` (a codec label, or a
        published curve's label), per metric: the columns and conventions of the report's
        ``bd_rate.csv`` (benchmark/docs/reports.md); ``bd_rate_percent`` < 0 is fewer bits."""
        from rdpbench.report import bd

        data = self.report_data(published, metrics)
        return bd.bd_rates(data, anchor, method)

    def plot(self, metrics: Sequence[str] | None = None, published: Sequence[str | Path] = (),
             bpp_range: Any = "shared"):
        """Rate–quality curves, one panel per metric (default: every metric with values), as the
        report draws them; returns a matplotlib Figure (not shown: display it, or ``.savefig()``).
        ``bpp_range``: "shared" (the rates all curves reach), "full", or (low, high)."""
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        from rdpbench.report import plots

        data = self.report_data(published, metrics)
        styles = plots.codec_styles(data.codecs())
        low, high, note = plots.x_range(data, bpp_range)
        with plt.rc_context(plots.STYLE):
            figure = Figure(figsize=(3.4 * len(data.metrics), 3.0))
            axes = figure.subplots(1, len(data.metrics), squeeze=False)
            for axis, metric in zip(axes.flat, data.metrics):
                plots.draw_panel(axis, data, metric, styles, (low, high))
            axes.flat[-1].legend(frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5))
            figure.tight_layout()
            plots.add_caption(figure, data, note)
        return figure


def load(folder: str | Path) -> Results:
    """The results of a stored run (an ``rdpbench run --out`` or ``evaluate(out=...)`` folder), read-only."""
    return Results(user_path(folder))


def evaluate(codec: Any, images: str | Path | Iterable[str | Path],
             metrics: Sequence[str | type] = ("psnr", "ms_ssim"), out: str | Path | None = None, device: str = "cpu",
             jobs: int = 0, *, sweep: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
             label: str | None = None, plugins: Sequence[str | Path | type] = (), **run_options: Any) -> Results:
    """Compress ``images`` with ``codec``, measure ``metrics``, and return the :class:`Results`.

    ``codec``, one of:

    - a registered codec name (``rdpbench codecs``) with ``sweep={"quality": [20, 50, 80]}`` (lists,
      or texts such as ``"5:95:10"``) and fixed ``options={...}``, as ``--codec/--sweep/--option``;
    - an object with ``encode(image) -> bytes`` and ``decode(bytes) -> image``, images uint8 (H, W, 3)
      RGB: the rate is 8 * len(bytes) / (H * W) bits per pixel, so the bytes must be all a decoder needs;
    - a CompressAI ``CompressionModel`` (an ``nn.Module`` with ``compress``/``decompress``), coded
      as the zoo adapter codes (rdpbench.learned.compressai_model: centred zero padding to 64, a few
      header bytes before ``compress()``'s own strings, reconstructions rounded to uint8) on the device
      of its parameters; it is put in eval mode and ``update(force=True)``-ed (as
      compressai.utils.eval_model does), and its training mode is restored afterwards;
    - a :class:`rdpbench.codecs.api.Codec` instance (a plug-in object), at its default setting;
    - a dict ``{point: one of the objects above}``: one curve (``label``) with one point per entry,
      its setting ``point=<key>``, e.g. ``{"step-1000": model_a, "step-2000": model_b}``.

    ``images``: a folder (every image under it), one image file, a fetched dataset's name
    (``"kodak"``; ``rdpbench datasets fetch kodak`` first), or image files (a list, or any iterable
    such as ``Path.glob``'s). Relative paths are taken from the current folder; an existing folder
    wins over a dataset of the same name.

    ``metrics``: names as ``--metrics`` takes them (``rdpbench metrics``), or metric classes (plug-in
    objects: subclasses of rdpbench.metrics.base's PairedMetric, NoReferenceMetric, DistributionMetric).
    ``plugins``: plug-in files or folders (as ``--plugin``), and classes of any kind (codecs, metrics,
    feature extractors) registered under their ``name`` for this process. ``out``: a results folder,
    the same store as ``rdpbench run --out``, with the same resume rules (a (codec label, setting,
    image) stored without error is not computed again: give each checkpoint its own label or
    folder); None: a temporary folder. ``device``: "cpu" or "cuda" for metrics and registered
    learned codecs. ``jobs``: 0 runs in this process (module docstring), N >= 1 in N worker processes
    (registered names only). ``label``: the curve's name in the results (default: the codec's name,
    or the object's type name). ``run_options``: other ``RunSpec`` fields, e.g. ``save_recon=True``,
    ``retry_errors=True``, ``weights_dir=...``, ``allow_unverified_weights=True``,
    ``metric_options={"lpips": {"net": "vgg"}}``, ``memory_budget=4 << 30``.

    Invalid requests raise (rdpbench.spec.SpecError, rdpbench.datasets.DatasetError,
    rdpbench.weights.WeightsError, ... : ValueError/RuntimeError subclasses with a one-line message)
    before any work; failures of single tasks are error rows (``per_image["error"]``).
    """
    from rdpbench import plugins as plugin_paths
    from rdpbench.runner import run
    from rdpbench.spec import RunSpec, SpecError, check_jobs

    unknown = sorted(set(run_options) - ({f.name for f in fields(RunSpec)} - _OWN))
    if unknown:
        close = difflib.get_close_matches(unknown[0], [f.name for f in fields(RunSpec) if f.name not in _OWN], n=1)
        raise TypeError(f"evaluate() got unknown option {unknown[0]!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
    if isinstance(metrics, str):
        metrics = [name for name in metrics.split(",") if name.strip()]
    given = [item for item in [*plugins, *metrics] if isinstance(item, type)]
    if given and jobs:
        raise SpecError("plug-in classes given in Python run in this process only (jobs=0); for worker processes "
                        "name their file in plugins=[...]")
    metrics = [_register(item) if isinstance(item, type) else item for item in metrics]
    for item in plugins:
        if isinstance(item, type):
            _register(item)
    codec_spec = _codec_spec(codec, sweep, options, label)
    image_folder, dataset = _images(images)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise SpecError(f"jobs must be 0 (this process) or a number of worker processes >= 1, not {jobs!r}")
    if jobs:
        check_jobs(jobs)
    if run_options.get("weights_dir") is not None:
        run_options["weights_dir"] = user_path(run_options["weights_dir"])
    temporary = None if out is not None else tempfile.TemporaryDirectory(prefix="rdpbench-")
    folder = user_path(out) if out is not None else Path(temporary.name)
    spec = RunSpec(codecs=[codec_spec], images=image_folder, dataset=dataset, metrics=list(metrics), out=folder,
                   jobs=max(jobs, 1), device=device, plugins=[user_path(p) for p in plugins if not isinstance(p, type)],
                   **run_options)
    named = repr(images) if isinstance(images, (str, Path)) else f"[{len(image_folder)} image files]"
    command = f"rdpbench.evaluate({codec_spec.column_label()!r}, {named}, metrics={list(metrics)!r}, out={out!r})"
    plugin_paths.add(spec.plugins)  # before any plug-in name is resolved
    models = _models(codec_spec.instance)
    with _LOCK:  # one evaluation at a time per process: they share the kept state
        for model in models:
            model.prepare()
        try:
            if jobs:
                outcome = run(spec, command)
            else:
                state = _state(spec)
                state.references.clear()  # files may change between calls; NIQE/features are content-keyed
                _drop_stale(state)
                try:
                    outcome = run(spec, command, state)
                finally:
                    for name in [n for n, c in state.codecs.items() if isinstance(c, _InMemory)]:
                        del state.codecs[name]  # the caller's objects are not kept alive by rdpbench
        finally:
            for model in models:
                model.restore()
    if outcome.n_failed:
        print(f"rdpbench: {outcome.n_failed} of {outcome.n_requested} tasks have errors: see the 'error' column "
              f"of Results.per_image" + (f" or of {folder}/per_image.csv" if out is not None else ""), file=sys.stderr)
    return Results(folder, temporary)


def _register(cls: type) -> str:
    """Register a plug-in class in its kind's registry (by its base class); returns its name."""
    from rdpbench.codecs.registry import CODECS
    from rdpbench.features.base import FeatureExtractor
    from rdpbench.features.registry import EXTRACTORS
    from rdpbench.metrics.base import Metric
    from rdpbench.metrics.registry import METRICS

    for base, registry in ((Metric, METRICS), (FeatureExtractor, EXTRACTORS), (Codec, CODECS)):
        if issubclass(cls, base):
            return registry.add_object(cls)
    raise TypeError(f"{cls.__name__} is not a codec, metric or feature extractor class")


def _state(spec):
    """The kept WorkerState for the spec's context (device, weights, metric options)."""
    import json

    from rdpbench.runner import run_context
    from rdpbench.worker import WorkerState

    context = run_context(spec)
    key = json.dumps([context.device, str(context.weights.directory), context.weights.allow_unverified,
                      context.options, str(context.cache)], sort_keys=True, default=str)
    if key not in _STATES:
        _STATES[key] = WorkerState(context)
    return _STATES[key]


def _drop_stale(state) -> None:
    """Forget kept instances whose registered class changed since (a plug-in file edited, a class
    defined again in a notebook): the next use creates them from the class registered now."""
    from rdpbench.codecs.registry import CODECS
    from rdpbench.features.registry import EXTRACTORS
    from rdpbench.metrics.registry import METRICS
    from rdpbench.registry import UnknownNameError

    for kept, registry in ((state.metrics, METRICS), (state.extractors, EXTRACTORS), (state.codecs, CODECS)):
        for name, instance in list(kept.items()):
            try:
                current = registry.load(name)
            except UnknownNameError:
                current = None
            if type(instance) is not current:
                del kept[name]


def _images(images: Any) -> tuple[Path | list[Path] | None, str | None]:
    """(folder or files, None) or (None, dataset name)."""
    from rdpbench.datasets import DatasetError, manifest_names

    if isinstance(images, Iterable) and not isinstance(images, (str, bytes, Path, Mapping)):
        return [user_path(path) for path in images], None  # a list, or a generator such as Path.glob's
    if isinstance(images, (str, Path)):
        path = user_path(images)
        if path.is_dir():
            return path, None
        if path.is_file():
            return [path], None
        if isinstance(images, str) and images in manifest_names():
            return None, images
        raise DatasetError(f"images={images!r}: no such folder, and no dataset of that name "
                           f"(datasets: {', '.join(manifest_names())})")
    raise TypeError(f"images must be a folder, a dataset name or image files (a list, or any iterable), "
                    f"not {type(images).__name__}")


class _InMemory:
    """Marks codecs made from objects handed to evaluate()."""


class ObjectCodec(_InMemory, Codec):
    """Any object with ``encode(uint8 (H, W, 3)) -> bytes`` and ``decode(bytes) -> uint8 (H, W, 3)``."""

    description = "Python object (in memory)"

    def __init__(self, target: Any, name: str):
        super().__init__()
        self.target, self.name = target, name

    def version(self) -> str:
        return f"{type(self.target).__module__}.{type(self.target).__qualname__} object"

    def encode(self, image, setting):
        data = self.target.encode(image)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise CodecError(f"encode returned {type(data).__name__}, expected bytes")
        return bytes(data)

    def decode(self, data, setting):
        return self.target.decode(data)


class PointsCodec(_InMemory, Codec):
    """One curve from a dict ``{point: codec}``: the knob ``point`` picks the entry."""

    description = "one curve, one point per entry (in memory)"

    def __init__(self, entries: dict[str, Codec], name: str):
        super().__init__()
        self.entries, self.name = entries, name
        self.params = (Param("point", "str", next(iter(entries)), "entry of the dict", choices=tuple(entries)),)

    def version(self) -> str:
        return "; ".join(dict.fromkeys(codec.version() for codec in self.entries.values()))

    def _inner(self, setting) -> tuple[Codec, dict]:
        codec = self.entries[setting["point"]]
        return codec, {**codec.resolve_setting({}), "_image": setting.get("_image")}

    def encode(self, image, setting):
        codec, inner = self._inner(setting)
        return codec.encode(image, inner)

    def decode(self, data, setting):
        codec, inner = self._inner(setting)
        return codec.decode(data, inner)


def _is_compressai_model(target: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return (torch is not None and isinstance(target, torch.nn.Module)
            and callable(getattr(target, "compress", None)) and callable(getattr(target, "decompress", None)))


def _as_codec(target: Any, name: str) -> Codec:
    if isinstance(target, Codec):
        return target
    if _is_compressai_model(target):
        from rdpbench.learned.compressai_model import ModelCodec

        return type("InMemoryModelCodec", (_InMemory, ModelCodec), {})(target, name)
    if callable(getattr(target, "encode", None)) and callable(getattr(target, "decode", None)):
        return ObjectCodec(target, name)
    raise TypeError(f"codec: {type(target).__name__} is neither a codec name, an object with encode/decode, "
                    "a CompressAI model, a rdpbench Codec nor a dict of those")


def _codec_spec(codec: Any, sweep: Mapping | None, options: Mapping | None, label: str | None):
    from rdpbench.spec import CodecSpec, parse_values

    if isinstance(codec, str):
        return CodecSpec(codec, options=dict(options or {}),
                         sweep={knob: parse_values(values) for knob, values in (sweep or {}).items()}, label=label)
    if sweep or options:
        raise TypeError("sweep and options apply to a registered codec name; give objects as a dict {point: object}")
    if isinstance(codec, Mapping):
        if not codec:
            raise ValueError("codec: the dict is empty")
        label = label or type(next(iter(codec.values()))).__name__
        entries = {str(key): _as_codec(value, f"{label} {key}") for key, value in codec.items()}
        instance = PointsCodec(entries, f"python:{label}")
        return CodecSpec(instance.name, sweep={"point": list(entries)}, label=label, instance=instance)
    label = label or getattr(codec, "name", None) or type(codec).__name__
    instance = _as_codec(codec, f"python:{label}")
    return CodecSpec(instance.name, label=label, instance=instance)


def _models(instance: Codec | None) -> list:
    """The CompressAI model codecs among the objects (prepared before, restored after the run)."""
    from rdpbench.learned.compressai_model import ModelCodec

    codecs = list(instance.entries.values()) if isinstance(instance, PointsCodec) else [instance]
    return [codec for codec in codecs if isinstance(codec, ModelCodec)]


def _published_files(names: Iterable[str | Path]) -> list[Path]:
    """CompressAI-format results files to overlay: published curves by name (rdpbench.published), or
    files (relative to the current folder)."""
    from rdpbench.published import resolve

    return [resolve(name) for name in names]

