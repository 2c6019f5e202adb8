"""The worker side of rdpbench.dask_executor: a worker plugin and the functions Dask runs on workers.

The plugin (registered by the client under a name unique to the run) holds one WorkerState per
worker for the whole run, so codecs and metrics load their networks once per worker, never per task;
a lock makes a worker run one rdpbench task at a time (WorkerState is not thread-safe). Images
arrive as bytes and are written once per worker as ``<local directory>/<plugin name>/<sha256>/<relative
path>`` after their sha256 is checked, then read by the same code as in a local run; the folder is
removed when the plugin is (end of the run, or the worker's exit).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from rdpbench import provenance
from rdpbench.imageio import ImageReadError, read_rgb8
from rdpbench.context import RunContext
from rdpbench.tasks import Task, TaskResult
from rdpbench.worker import WorkerState, execute_task
from rdpbench.weights import LocatedWeight, WeightFile, Weights, WeightsError, register


class RdpbenchWorker(WorkerPlugin):
    """Worker plugin: one WorkerState per worker for the run, image files in the worker's scratch folder."""

    def __init__(self, context: RunContext, name: str):
        self.context, self.name = context, name

    def setup(self, worker) -> None:
        try:
            import torch

            torch.set_num_threads(1)  # one task per worker: N workers use N cores, as in the local pool
        except ImportError:
            pass
        folder = os.environ.get("RDPBENCH_WEIGHTS")  # the worker's own weights folder wins
        weights = Weights.from_options(folder, self.context.weights.allow_unverified) if folder else self.context.weights
        self.address = worker.address
        self.state = WorkerState(replace(self.context, weights=weights))
        self.scratch = Path(worker.local_directory) / self.name  # this run's images, removed at teardown
        self.lock = threading.Lock()  # WorkerState is not thread-safe: one task at a time on a worker

    def teardown(self, worker) -> None:
        self.state = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    def image_file(self, data: bytes, digest: str, image: str) -> str:
        """Write the image's bytes as ``scratch/<sha256>/<relative path>`` (once) and return that path,
        so it is read by the same code and its errors name the same file as in a local run."""
        target = (self.scratch / digest / PurePosixPath(image)).resolve()
        if not target.is_relative_to((self.scratch / digest).resolve()):
            raise ValueError(f"image path {image!r} leaves its folder")
        if not target.is_file():
            if hashlib.sha256(data).hexdigest() != digest:
                raise ValueError(f"{image}: the bytes received do not match their sha256 {digest}")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
            partial.write_bytes(data)
            os.replace(partial, target)
        return str(target)

    def run(self, task: Task, data: bytes, digest: str) -> tuple[TaskResult, bytes | None]:
        recon = None
        with self.lock:
            try:
                local = replace(task, image_path=self.image_file(data, digest, task.image),
                                recon_path=str(self.scratch / "recon.png") if task.recon_path else None)
                if local.recon_path:
                    Path(local.recon_path).unlink(missing_ok=True)
                result = execute_task(local, self.state)
                if local.recon_path and Path(local.recon_path).is_file():  # written by this task
                    recon = Path(local.recon_path).read_bytes()
            except Exception as error:  # never lose the row: anything unexpected is its error
                result = TaskResult(task, error=f"worker {self.address}: {type(error).__name__}: {error}")
        result.task, result.worker = task, self.address
        return result, recon

    def original(self, work: Callable, argument: Any, data: bytes, digest: str, image: str) -> np.ndarray | None:
        with self.lock:
            try:
                pixels = read_rgb8(self.image_file(data, digest, image))
            except (ImageReadError, ValueError):
                return None  # as in a local run: unreadable originals are left out
            return np.asarray(work(self.state, argument, pixels))

    def locate(self, files: list[WeightFile]) -> dict[str, LocatedWeight | str]:
        """Each weight file located and verified here, or the error text saying what is missing."""
        found: dict[str, LocatedWeight | str] = {}
        for file in files:
            register(file)  # as the client knows it (codec adapters register their checkpoints on use)
            try:
                found[file.name] = self.state.context.weights.locate(file.name)
            except WeightsError as error:
                found[file.name] = str(error)
        return found


def _plugin(name: str) -> RdpbenchWorker:
    return get_worker().plugins[name]


def run_task(name: str, task: Task, data: bytes, digest: str) -> tuple[TaskResult, bytes | None]:
    return _plugin(name).run(task, data, digest)


def run_original(name: str, work: Callable, argument: Any, image: str, data: bytes, digest: str):
    return _plugin(name).original(work, argument, data, digest, image)


def worker_facts(name: str, files: list[WeightFile], dask_worker=None) -> dict[str, Any]:
    """The worker's weight files (located, or why not), library versions and resources."""
    plugin = dask_worker.plugins[name]
    return {"weights": plugin.locate(files), "versions": provenance.library_versions(),
            "resources": dict(dask_worker.state.total_resources)}
