"""`rdpbench run`: plan the tasks of a RunSpec, skip what the store already has, execute the rest,
stream every result into the store, then export the CSV/JSON views.

Order: metrics and weight files are checked first (a missing file stops the run before any codec
work); reference-side work (NIQE of the originals, patch features of the originals) is done once per
dataset (rdpbench.stages); then the tasks; then FID/KID per codec setting from stored features.

Limits, checked before any work: ``--jobs`` is capped at the CPUs this process may use (with a
warning); ``--device cuda`` without CUDA is refused; with ``--save-recon`` every reconstruction path
must stay inside ``OUT/recon`` (rdpbench.safe_paths); an image whose estimated memory need exceeds
the budget (rdpbench.memory) is an error row, judged from its header, never decoded. On the command
line tasks always run in worker processes (one at ``--jobs 1``), so a crash or the out-of-memory
killer takes one task, not the run. The Python API (rdpbench.api) may instead hand :func:`run` a
:class:`WorkerState` to run the tasks in its own process: codec objects that exist only in memory,
and networks kept loaded between calls; a failing task is still an error row.

Resuming: a (codec, setting, image) whose row is stored without error and holds every requested
metric is never recomputed; a stored row that lacks some requested metrics is recomputed for those
metrics only; a row with an error is kept as it is unless ``--retry-errors`` — except a row whose
error was a full disk or quota (``rdpbench.tasks.RETRIED``), which a plain re-run computes again.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rdpbench import export, memory, plugins, provenance, stages
from rdpbench.codecs.api import Codec, ParamError
from rdpbench.codecs.registry import create_codec
from rdpbench.context import RunContext
from rdpbench.dask_cluster import parse_config
from rdpbench.dask_executor import DaskExecutor, open_executor
from rdpbench.datasets import Dataset, load_dataset
from rdpbench.executor import run_in_workers, start_workers, stop_workers
from rdpbench.imageio import ImageReadError, image_size
from rdpbench.matching import MatchTarget, reference_bpp, setting_text
from rdpbench.metrics.base import DistributionMetric, Metric, MetricOptionError
from rdpbench.metrics.registry import METRICS, create_metric, position
from rdpbench.paths import recon_path
from rdpbench.safe_paths import UnsafePathError
from rdpbench.spec import MAX_SETTINGS, MAX_TASKS, RunSpec, SpecError, check_device, check_jobs
from rdpbench.store import ResultsStore
from rdpbench.tasks import FeatureSpec, Task, TaskResult
from rdpbench.weights import LocatedWeight, Weights, WeightsError
from rdpbench.worker import WorkerState, execute_task


@dataclass
class PlannedCodec:
    label: str
    codec: Codec
    options: dict[str, Any]
    settings: list[tuple[str, dict[str, Any]]]  # (setting text, full parameter values)
    matches: dict[str, MatchTarget] | None = None  # --match-bpp: per image, the bpp to meet
    in_memory: bool = False  # an object handed over by the Python API, not created from the registry


def format_value(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def plan_codecs(spec: RunSpec, context: RunContext) -> list[PlannedCodec]:
    """Instantiate and check every codec, resolve its settings; unavailable non-optional codecs and
    invalid parameters stop the run here, before any work."""
    planned, labels = [], set()
    for codec_spec in spec.codecs:
        codec = codec_spec.instance or create_codec(codec_spec.name, context)
        reason = codec.unavailable_reason()
        if reason:
            message = f"codec {codec.name!r} is not available: {reason}"
            message += f"\n  install: {codec.install_hint}" if codec.install_hint else ""
            if codec_spec.optional:
                print(f"warning: skipping optional {message}", file=sys.stderr)
                continue
            raise SpecError(message)
        label = codec_spec.column_label()
        if label in labels:
            raise SpecError(f"two codec entries share the label {label!r}; give one a distinct label")
        labels.add(label)
        try:
            options = codec.resolve_setting(codec_spec.options)
            knobs = list(codec_spec.sweep)
            grids = [[codec.param(k).parse(v) for v in codec_spec.sweep[k]] for k in knobs]
        except ParamError as error:
            raise SpecError(f"codec {codec.name!r}: {error}") from error
        count = 1
        for grid in grids:
            count *= len(grid)
        if count > MAX_SETTINGS:
            raise SpecError(f"codec {label!r}: the sweep makes {count} settings, more than {MAX_SETTINGS}; "
                            "sweep fewer values")
        if spec.match_bpp:
            if knobs or len(spec.codecs) != 1:
                raise SpecError("--match-bpp takes one codec and no --sweep: the codec's rate knob is searched")
            if codec.rate_knob() is None or codec.param(codec.rate_knob()).kind == "str":
                raise SpecError(f"codec {codec.name!r} has no numeric rate knob to search")
            planned.append(PlannedCodec(label, codec, dict(codec_spec.options),
                                        [(setting_text(spec.match_bpp, spec.match_side), options)],
                                        in_memory=codec_spec.instance is not None))
            continue
        settings = []
        for combination in itertools.product(*grids):
            text = ",".join(f"{k}={format_value(v)}" for k, v in zip(knobs, combination)) or "default"
            settings.append((text, {**options, **dict(zip(knobs, combination))}))
        planned.append(PlannedCodec(label, codec, dict(codec_spec.options), settings,
                                    in_memory=codec_spec.instance is not None))
    if not planned:
        raise SpecError("no codec to run: name one with --codec or in the config's [[codec]] tables")
    return planned


def check_recon_paths(spec: RunSpec, codecs: list[PlannedCodec], dataset: Dataset) -> None:
    """With --save-recon, refuse the run before any work if a reconstruction would land outside OUT/recon."""
    if not spec.save_recon:
        return
    for planned in codecs:
        for setting, _ in planned.settings:
            for image in dataset.images:
                try:
                    recon_path(spec.out, planned.label, setting, image)
                except UnsafePathError as error:
                    raise SpecError(f"--save-recon: {error}") from None


def cap_jobs(jobs: int) -> int:
    """``jobs`` limited to the CPUs this process may run on, with a warning when it is lowered."""
    check_jobs(jobs)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if jobs > cpus:
        print(f"warning: --jobs {jobs} is more than the {cpus} CPUs available here; using {cpus}", file=sys.stderr)
        return cpus
    return jobs


def require_device(device: str) -> None:
    """Refuse --device cuda at the start when torch sees no CUDA device."""
    check_device(device)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SpecError(f"--device cuda: torch {torch.__version__} sees no CUDA device here "
                            f"(built for CUDA {torch.version.cuda or 'none'}); use --device cpu or run on a GPU machine")


def screen_memory(dataset: Dataset, budget: int, metrics: dict[str, Metric]) -> dict[str, str]:
    """{image: error text} for the images whose estimated memory need (from the header, not decoded)
    exceeds ``budget`` bytes. Unreadable headers are left to the task, which records why."""
    refused = {}
    for image in dataset.images:
        try:
            width, height = image_size(dataset.root / image)
        except ImageReadError:
            continue
        need = memory.estimate(width, height, [metric.memory_factor() for metric in metrics.values()])
        if need > budget:
            refused[image] = (f"memory: a {width}x{height} image needs about {memory.describe(need)} with metrics "
                              f"{', '.join(metrics) or 'none'}, over the memory budget of {memory.describe(budget)} "
                              "per task; raise --memory-budget, lower --jobs, or downscale the image")
    return refused


def plan_tasks(spec: RunSpec, dataset: Dataset, codecs: list[PlannedCodec], per_image_metrics: list[str],
               feature_specs: list[FeatureSpec], existing: dict) -> tuple[list[Task], list[tuple[str, str, str]]]:
    """Tasks still to do, and the keys of every task the spec asks for (done or not).

    What a task must produce is named like the store's existing() reports it: metric names, and
    ``features:<spec key>`` for the patch features of distribution metrics."""
    wanted = per_image_metrics + [f"features:{f.key}" for f in feature_specs]
    todo, keys = [], []
    for planned in codecs:
        for setting, params in planned.settings:
            for image in dataset.images:
                key = (planned.label, setting, image)
                keys.append(key)
                has_error, stored = existing.get(key, (False, None))
                target = recon_path(spec.out, planned.label, setting, image) if spec.save_recon else None
                if stored is None or (has_error and spec.retry_errors):
                    needed = wanted
                elif has_error:
                    continue
                else:
                    needed = [m for m in wanted if m not in stored]
                    if not needed and (target is None or target.is_file()):
                        continue
                match = planned.matches.get(image) if planned.matches is not None else None
                if planned.matches is not None and match is None:
                    continue  # no reference bpp for this image: recorded as an error row by plan_matches
                todo.append(Task(planned.label, planned.codec.name, setting, tuple(params.items()), image,
                                 str(dataset.root / image), tuple(m for m in needed if m in per_image_metrics),
                                 str(target) if target else None,
                                 tuple(f for f in feature_specs if f"features:{f.key}" in needed), match))
    return todo, keys


def plan_matches(spec: RunSpec, codecs: list[PlannedCodec], dataset: Dataset, store: ResultsStore,
                 run_id: int) -> None:
    """--match-bpp: give the one codec a per-image bpp target from the reference rows in this store;
    images without a successful reference row get an error row saying so."""
    if not spec.match_bpp:
        return
    reference_codec, _, reference_setting = spec.match_bpp.partition(":")
    planned = codecs[0]
    knob = planned.codec.rate_knob()
    param = planned.codec.param(knob)
    rows = store.query("SELECT image, bpp, error FROM rows WHERE codec = ? AND setting = ?",
                       (reference_codec, reference_setting))
    targets = reference_bpp(rows)
    if not targets:
        raise SpecError(f"--match-bpp {spec.match_bpp}: no rows of codec {reference_codec!r} at setting "
                        f"{reference_setting!r} in {spec.out}; run that codec into this --out first")
    planned.matches = {image: MatchTarget(knob, param.kind, param.low, param.high, targets[image], spec.match_side)
                       for image in dataset.images if image in targets}
    setting = planned.settings[0][0]
    existing = store.existing()
    for image in dataset.images:
        if image not in targets and (planned.label, setting, image) not in existing:
            task = Task(planned.label, planned.codec.name, setting, (), image, str(dataset.root / image), ())
            store.write_result(TaskResult(task, error=f"match: {reference_codec} {reference_setting} has no bpp "
                                                       "for this image"), run_id)


def run_context(spec: RunSpec) -> RunContext:
    """The context every codec, metric and extractor of the run is created with."""
    options = {METRICS.resolve(name): values for name, values in spec.metric_options.items()}  # did-you-mean
    return RunContext(device=spec.device,
                      weights=Weights.from_options(spec.weights_dir, spec.allow_unverified_weights), options=options)


def prepare_metrics(spec: RunSpec, state: WorkerState | None = None) -> tuple[RunContext, dict[str, Metric]]:
    """Create the metrics (cheap: networks load lazily) with the run's context, or take them from
    ``state`` (created there once, with its context, which must be :func:`run_context` of ``spec``)."""
    context = state.context if state is not None else run_context(spec)
    options = context.options
    try:
        names = dict.fromkeys(METRICS.resolve(name) for name in spec.metrics)
        metrics = {name: state.metric(name) if state is not None else create_metric(name, context) for name in names}
    except (MetricOptionError, ValueError) as error:
        raise SpecError(str(error)) from error
    for name, metric in metrics.items():  # a command-line metric whose tool is missing stops the run here
        reason = metric.unavailable_reason() if hasattr(metric, "unavailable_reason") else None
        if reason:
            raise SpecError(f"metric {name!r} is not available: {reason}")
    unused = sorted(set(options) - set(metrics))
    if unused:
        raise SpecError(f"options given for {', '.join(unused)}, which this run does not compute "
                        f"(--metrics {','.join(metrics)}): add the metric or drop its options")
    return context, metrics


def locate_weights(context: RunContext, metrics: dict[str, Metric], codecs: list[PlannedCodec],
                   executor: DaskExecutor | None = None) -> dict[str, LocatedWeight]:
    """Locate every weight file the metrics and codec settings need (on every worker of a Dask
    executor), so that a missing file stops the run before any codec work, naming all missing files at once."""
    try:
        names = [name for metric in metrics.values() for name in metric.weight_names()]
    except ValueError as error:  # an invalid metric option, e.g. lpips.net=bogus
        raise SpecError(str(error)) from error
    names += [name for planned in codecs for _, params in planned.settings for name in planned.codec.weight_names(params)]
    if executor is not None:
        located = executor.locate_weights(list(dict.fromkeys(names)))
    else:
        located, problems = {}, []
        for name in dict.fromkeys(names):
            try:
                located[name] = context.weights.locate(name, progress=True)
            except WeightsError as error:
                problems.append(str(error))
        if problems:
            raise WeightsError("\n".join(dict.fromkeys(problems)))
    for weight in located.values():
        if weight.state == "unverified":  # prefix-checked and unpublished files are footnotes, not warnings
            print(f"warning: {weight.path} is not verified ({weight.provenance()['meaning']}); "
                  "the run's provenance records it as unverified", file=sys.stderr)
    return located


def execute(tasks: list[Task], spec: RunSpec, state: WorkerState, store: ResultsStore, run_id: int,
            executor: DaskExecutor | None = None, workers: list = (), in_process: bool = False) -> None:
    """Run the tasks (on a Dask executor, in the worker processes of this machine, ``workers``
    started ahead, or ``in_process`` with ``state``) and stream each result into the store as it arrives."""
    if in_process:
        results = (execute_task(task, state) for task in tasks)
    elif executor is not None:
        results = executor.run(tasks)
    else:
        results = run_in_workers(tasks, state.context, spec.jobs, workers)
    with tqdm(total=len(tasks), unit="task", desc="rdpbench", file=sys.stderr, smoothing=0.1,
              mininterval=0.2 if sys.stderr.isatty() else 10) as progress:
        failed = 0
        for result in results:
            store.write_result(result, run_id)
            failed += bool(result.error)
            progress.update(1)
            progress.set_postfix(failed=failed, refresh=False)


def preload(metrics) -> None:
    """Import the ``libraries`` the distribution metrics' compute() needs in a background thread (it
    only imports; a failure is left for compute() to report)."""
    modules = list(dict.fromkeys(module for metric in metrics for module in metric.libraries))

    def load() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - compute() imports it again and reports the error where it counts
                pass

    if modules:
        threading.Thread(target=load, name="rdpbench-preload", daemon=True).start()


@dataclass(frozen=True)
class Outcome:
    """What a run left: its folder, the views written there (``per_image.csv``, ...) and how many
    of the ``n_requested`` tasks have an error row. The front ends say it (the CLI, the API)."""

    folder: Path
    written: list[str]
    n_failed: int
    n_requested: int

    @property
    def exit_code(self) -> int:
        """``rdpbench run``'s exit code: 0 when every requested task has a result without error, else 1."""
        return 1 if self.n_failed else 0


def run(spec: RunSpec, command: str, state: WorkerState | None = None) -> Outcome:
    """Execute the run and return its :class:`Outcome`.
    With ``state`` (created with :func:`run_context` of ``spec``) the tasks run in this process with
    its codecs, metrics and extractors, which it keeps for the next run; codecs the spec hands over as
    objects (``CodecSpec.instance``) run only so."""
    plugins.add(spec.plugins)
    if state is not None:
        require_device(spec.device)
        context, metrics = prepare_metrics(spec, state)
        return _run(spec, command, context, metrics, plan_codecs(spec, context), None, [], state)
    if any(codec.instance is not None for codec in spec.codecs):
        raise SpecError("codec objects in memory run in this process only (rdpbench.evaluate with jobs=0)")
    cluster = parse_config(dict(spec.executor), spec.jobs)
    if cluster is None or cluster.mode == "local":
        require_device(spec.device)  # elsewhere the workers' GPUs count: their tasks ask for the GPU resource
    else:
        check_device(spec.device)
    spec.jobs = cap_jobs(spec.jobs)
    context, metrics = prepare_metrics(spec)
    with open_executor(spec, context) as executor:  # None: this machine's executors
        workers = start_workers(context, spec.jobs) if executor is None else []  # they load while we plan
        try:
            return _run(spec, command, context, metrics, plan_codecs(spec, context), executor, workers)
        finally:
            stop_workers(workers)


def _run(spec: RunSpec, command: str, context: RunContext, metrics: dict[str, Metric],
         codecs: list[PlannedCodec], executor: DaskExecutor | None, workers: list,
         state: WorkerState | None = None) -> Outcome:
    located = locate_weights(context, metrics, codecs, executor)
    dataset = load_dataset(spec.images, spec.dataset)
    spec.out = spec.out or Path("results") / dataset.name
    folder = spec.images if isinstance(spec.images, (str, Path)) else None  # a list of files names no folder
    if folder and Path(spec.out).resolve().is_relative_to(Path(folder).resolve()):
        raise SpecError(f"--out {spec.out} is inside --images {spec.images}: the results (and saved reconstructions) "
                        "would be read as images by the next run; give an --out outside the images folder")
    check_recon_paths(spec, codecs, dataset)
    n_tasks = len(dataset.images) * sum(len(c.settings) for c in codecs)
    if n_tasks > MAX_TASKS:
        raise SpecError(f"this run would have {n_tasks} tasks, more than {MAX_TASKS}; split it into smaller runs")
    budget = spec.memory_budget or memory.default_budget(spec.jobs)
    oversized = screen_memory(dataset, budget, metrics)
    per_image = [name for name, metric in metrics.items() if not isinstance(metric, DistributionMetric)]
    distribution = {name: metric for name, metric in metrics.items() if isinstance(metric, DistributionMetric)}
    in_process = state is not None
    state = state or WorkerState(context)
    state.metrics.update(metrics)
    state.codecs.update({planned.codec.name: planned.codec for planned in codecs if planned.in_memory})

    with ResultsStore(spec.out) as store:
        store.bind_dataset(dataset.name, str(dataset.root.resolve()), dataset.fingerprint, dataset.images)
        screened = dataclasses.replace(dataset, images={i: d for i, d in dataset.images.items() if i not in oversized})
        reference = stages.prepare_reference(store, screened, metrics, state,
                                             {name: weight.sha256 for name, weight in located.items()},
                                             executor.map_originals if executor else None)
        for feature_spec, features in reference.features.items():  # for the report's bootstrap of FID/KID
            store.write_original_features(feature_spec.key, features)
        versions = {**provenance.library_versions(),
                    "weights": {name: weight.provenance() for name, weight in located.items()}}
        run_id = store.start_run(provenance.now(), command, spec.as_config(), versions, provenance.git_commit(),
                                 provenance.hostname())
        if executor is not None:
            store.record_executor(run_id, executor.describe())
        plan_matches(spec, codecs, dataset, store, run_id)
        retried = store.retried()  # error rows of a full disk or quota: computed again like missing ones
        existing = {key: value for key, value in store.existing().items() if key not in retried}
        tasks, keys = plan_tasks(spec, dataset, codecs, per_image, list(reference.features), existing)
        for task in (task for task in tasks if task.image in oversized):
            store.write_result(TaskResult(task, error=oversized[task.image]), run_id)
        tasks = [task for task in tasks if task.image not in oversized]
        store.set_run_tasks(run_id, len(tasks))
        stored = len(keys) - len(tasks)
        print(f"rdpbench: {len(dataset.images)} images, {sum(len(c.settings) for c in codecs)} codec settings, "
              f"{len(keys)} tasks, " + (f"{stored} already in {store.path}" if stored else "none stored yet"),
              file=sys.stderr)
        for planned in codecs:
            version = planned.codec.version()
            previous = store.previous_codec_version(planned.label, run_id)
            if previous and previous != version:
                print(f"warning: {planned.label} was {previous} in an earlier run of this folder, now {version}",
                      file=sys.stderr)
            store.record_codec(run_id, planned.label, planned.codec.name, planned.options,
                               planned.codec.description, version)
            for setting, params in planned.settings:
                store.record_setting(planned.label, setting, params)
        for name, metric in metrics.items():
            store.record_metric(run_id, name, metric.describe(), metric.settings, metric.weight_names(),
                                metric.column_info(), position(name))

        status = "interrupted"
        if tasks and not in_process:  # the workers compute; meanwhile this process loads what comes next
            preload(distribution.values())
        try:
            execute(tasks, spec, state, store, run_id, executor, workers, in_process)
            touched = {(task.codec, task.setting) for task in tasks}
            settings = [(c.label, setting) for c in codecs for setting, _ in c.settings]
            stages.compute_distribution(store, settings, touched, distribution, reference)
            status = "finished"
        finally:
            requested = set(keys)
            n_failed = sum(1 for key, (has_error, _) in store.existing().items() if has_error and key in requested)
            store.finish_run(run_id, provenance.now(), status, n_failed)
            written = export.write_all(store)
    return Outcome(Path(spec.out), written, n_failed, len(keys))
