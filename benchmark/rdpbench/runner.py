"""`rdpbench run`: plan the tasks of a RunSpec, skip what the store already has, execute the rest,
stream every result into the store, then export the CSV/JSON views.

Resuming: a (codec, setting, image) whose row is stored without error and holds every requested
metric is never recomputed; a stored row that lacks some requested metrics is recomputed for those
metrics only; a row with an error is kept as it is unless ``--retry-errors``.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rdpbench import datasets, export, provenance
from rdpbench.codec_api import Codec, ParamError
from rdpbench.codec_registry import create_codec
from rdpbench.executor import run_in_process, run_in_workers
from rdpbench.imageio import find_images
from rdpbench.metrics.base import MetricContext
from rdpbench.metrics.registry import create_metric, normalize
from rdpbench.spec import RunSpec, SpecError
from rdpbench.store import ResultsStore
from rdpbench.tasks import Task


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    images: dict[str, str]  # relative path -> sha256 of the file

    @property
    def fingerprint(self) -> str:
        lines = "".join(f"{image}\t{digest}\n" for image, digest in sorted(self.images.items()))
        return hashlib.sha256(lines.encode()).hexdigest()


@dataclass(frozen=True)
class PlannedCodec:
    label: str
    codec: Codec
    options: dict[str, Any]
    settings: list[tuple[str, dict[str, Any]]]  # (setting text, full parameter values)


def load_dataset(spec: RunSpec) -> Dataset:
    if spec.images and spec.dataset:
        raise SpecError("give either --images DIR or --dataset NAME, not both")
    if spec.dataset:
        root, hashes = datasets.local_copy(spec.dataset)
        return Dataset(spec.dataset, root, hashes)
    if not spec.images:
        raise SpecError("no images: give --images DIR or --dataset NAME (or set one in the config)")
    images = find_images(spec.images)
    if not images:
        raise SpecError(f"no image files in {spec.images}")
    return Dataset(spec.images.resolve().name, spec.images,
                   {image: datasets.sha256_file(spec.images / image) for image in images})


def format_value(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def plan_codecs(spec: RunSpec) -> list[PlannedCodec]:
    """Instantiate and check every codec, resolve its settings; unavailable non-optional codecs and
    invalid parameters stop the run here, before any work."""
    planned, labels = [], set()
    for codec_spec in spec.codecs:
        codec = create_codec(codec_spec.name)
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
        settings = []
        for combination in itertools.product(*grids):
            text = ",".join(f"{k}={format_value(v)}" for k, v in zip(knobs, combination)) or "default"
            settings.append((text, {**options, **dict(zip(knobs, combination))}))
        planned.append(PlannedCodec(label, codec, dict(codec_spec.options), settings))
    if not planned:
        raise SpecError("no codec to run: name one with --codec or in the config's [[codec]] tables")
    return planned


def recon_path(out: Path, label: str, setting: str, image: str) -> Path:
    return out / "recon" / label / setting / Path(image).with_suffix(".png")


def plan_tasks(spec: RunSpec, dataset: Dataset, codecs: list[PlannedCodec], metrics: list[str],
               existing: dict) -> tuple[list[Task], list[tuple[str, str, str]]]:
    """Tasks still to do, and the keys of every task the spec asks for (done or not)."""
    todo, keys = [], []
    for planned in codecs:
        for setting, params in planned.settings:
            for image in dataset.images:
                key = (planned.label, setting, image)
                keys.append(key)
                has_error, stored_metrics = existing.get(key, (False, None))
                target = recon_path(spec.out, planned.label, setting, image) if spec.save_recon else None
                if stored_metrics is None or (has_error and spec.retry_errors):
                    needed = metrics
                elif has_error:
                    continue
                else:
                    needed = [m for m in metrics if m not in stored_metrics]
                    if not needed and (target is None or target.is_file()):
                        continue
                todo.append(Task(planned.label, planned.codec.name, setting, tuple(params.items()), image,
                                 str(dataset.root / image), tuple(needed), str(target) if target else None))
    return todo, keys


def run(spec: RunSpec, command: str) -> int:
    """Execute the run; return 0 when every requested task has a result without error, else 1."""
    metrics = [normalize(name) for name in spec.metrics]
    context = MetricContext(device=spec.device)
    metric_descriptions = {name: create_metric(name, context).describe() for name in metrics}
    codecs = plan_codecs(spec)
    dataset = load_dataset(spec)
    spec.out = spec.out or Path("results") / dataset.name

    with ResultsStore(spec.out) as store:
        store.bind_dataset(dataset.name, str(dataset.root.resolve()), dataset.fingerprint, dataset.images)
        tasks, keys = plan_tasks(spec, dataset, codecs, metrics, store.existing())
        print(f"rdpbench: {len(dataset.images)} images, {sum(len(c.settings) for c in codecs)} codec settings, "
              f"{len(keys)} tasks, {len(keys) - len(tasks)} already in {store.path}", file=sys.stderr)
        run_id = store.start_run(provenance.now(), command, spec.as_config(), provenance.library_versions(),
                                 provenance.git_commit(), provenance.hostname(), len(tasks))
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
        for name, description in metric_descriptions.items():
            store.record_metric(run_id, name, description)

        status = "interrupted"
        try:
            results = run_in_process(tasks, context) if spec.jobs <= 1 else run_in_workers(tasks, context, spec.jobs)
            with tqdm(total=len(tasks), unit="task", desc="rdpbench", file=sys.stderr, smoothing=0.1,
                      mininterval=0.2 if sys.stderr.isatty() else 10) as progress:
                failed_now = 0
                for result in results:
                    store.write_result(result, run_id)
                    failed_now += bool(result.error)
                    progress.update(1)
                    progress.set_postfix(failed=failed_now, refresh=False)
            status = "finished"
        finally:
            requested = set(keys)
            n_failed = sum(1 for key, (has_error, _) in store.existing().items() if has_error and key in requested)
            store.finish_run(run_id, provenance.now(), status, n_failed)
            written = export.write_all(store)
    print(f"results: {spec.out}/ ({', '.join(written)})")
    if n_failed:
        print(f"{n_failed} of {len(keys)} tasks have errors: see the 'error' column of {spec.out}/per_image.csv",
              file=sys.stderr)
    return 1 if n_failed else 0
