"""Run the tasks of `rdpbench run` on a Dask cluster (``distributed``; ``dask-jobqueue`` for batch systems).

Chosen by ``--scheduler ADDRESS|FILE`` (an existing ``dask scheduler``), ``--cluster local --jobs N``
(a LocalCluster of N single-threaded worker processes) or ``--cluster slurm|pbs|sge|lsf`` (worker jobs
submitted by dask-jobqueue), or the same keys in a config's ``[executor]`` table (see README, "Running
on a cluster", and rdpbench.dask_cluster). Without them the runner keeps its own executors (rdpbench.executor).

What stays as on one machine: the client (the ``rdpbench run`` process) is the only writer of
``results.sqlite``; results are stored one by one as tasks finish; resuming is the runner's.

- Data: no shared filesystem is needed. Every task carries its image file's bytes (the file as
  stored, so a task is self-contained and any idle worker can take it); the worker checks them against
  their sha256, keeps one copy per image and decodes it with the same code as a local run. One task
  per worker thread is in flight, so the cluster holds only the images being worked on.
  Reconstructions asked for with ``--save-recon`` come back as PNG bytes and are written by the client.
- Weights: every worker locates the weight files by their canonical names (rdpbench.weights) in its
  own ``RDPBENCH_WEIGHTS`` folder if set, else in the client's ``--weights-dir`` path (the same path
  on a shared filesystem), then its torch hub cache, and verifies them there before any task runs; a
  missing file stops the run naming the file and the worker.
- Networks load once per worker: a worker plugin holds one WorkerState (codecs, metrics, feature
  extractors) for the whole run. A worker runs one task at a time.
- GPUs: with ``--device cuda``, tasks that run a network (a codec or metric with weight files, patch
  features) ask for one unit of the worker resource ``GPU``; other tasks run on any worker. Workers
  offer it with ``dask worker --resources GPU=1``.
- Failures: a task whose worker dies (kill -9, out of memory) is run again on another worker, at most
  ``allowed_failures`` times (the scheduler's ``distributed.scheduler.allowed-failures``), then
  stored as an error row naming the last worker. Losing the scheduler stops the run with an error
  after ``timeout_s``, and so does having no worker for ``worker_wait_s``; finished rows are kept and
  the same command resumes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid
from concurrent.futures import CancelledError
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from rdpbench import provenance
from rdpbench.codecs.registry import create_codec
from rdpbench.context import RunContext
from rdpbench.tasks import FeatureSpec
from rdpbench.metrics.registry import create_metric
from rdpbench.dask_cluster import JOB_QUEUES, ClusterConfig, has_dashboard, job_queue_cluster, local_cluster, parse_config
from rdpbench.tasks import Task, TaskResult
from rdpbench.weights import KNOWN, LocatedWeight, WeightsError

class ExecutorError(RuntimeError):
    """The cluster cannot be reached or used; the message says what to do."""


# -- the client side ---------------------------------------------------------------------------------------
def needs_gpu(context: RunContext, codec_name: str, params: dict, metrics: Iterable[str], features: bool) -> bool:
    """Whether a task asks for the ``GPU`` worker resource: with --device cuda, when it runs a network
    (a codec or metric with weight files, or patch features for FID/KID)."""
    if context.device != "cuda":
        return False
    if features or (codec_name and create_codec(codec_name, context).weight_names(params)):
        return True
    return any(create_metric(name, context).weight_names() for name in metrics)


class DaskExecutor:
    """Connected to a scheduler with at least one worker and the worker plugin registered.

    Same shape as the runner's other executors: :meth:`run` takes tasks and yields TaskResults as
    they finish. :meth:`locate_weights` and :meth:`map_originals` do the weight checks and the
    reference-side work on the workers."""

    def __init__(self, client, config: ClusterConfig, context: RunContext, cluster=None):
        from rdpbench import dask_worker  # imports distributed: only when a cluster is used

        self.remote = dask_worker  # the functions the workers run
        self.client, self.config, self.context, self.cluster = client, config, context, cluster
        token = hashlib.sha256(repr(context).encode()).hexdigest()[:12]
        self.plugin = f"rdpbench-{token}-{uuid.uuid4().hex[:8]}"
        self.facts: dict[str, dict] = {}
        self._wait_for_workers(1)
        client.register_plugin(self.remote.RdpbenchWorker(context, self.plugin), name=self.plugin)
        self._gpu_seen = False

    # -- provenance --------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """For the run's provenance: executor, scheduler address, workers when the run started, and the
        library versions of workers that differ from the client's."""
        mine = provenance.library_versions()
        differing = {address: {k: v for k, v in facts["versions"].items() if mine.get(k) != v}
                     for address, facts in self.facts.items()}
        return {"executor": "dask", "cluster": self.config.mode, "scheduler": self.client.scheduler.address,
                "dashboard": self.client.dashboard_link if has_dashboard() else None,
                "workers": len(self._workers()), "allowed_failures": self._allowed_failures(),
                "worker_versions_differing": {a: d for a, d in differing.items() if d}}

    def _allowed_failures(self) -> int | None:
        if self.cluster is not None:
            return self.config.allowed_failures
        try:
            return int(self.client.run_on_scheduler(
                lambda: __import__("dask").config.get("distributed.scheduler.allowed-failures")))
        except Exception:  # a scheduler that refuses to run client code: its setting is unknown here
            return None

    # -- workers -----------------------------------------------------------------------------------------
    def _workers(self) -> dict[str, dict]:
        self._check_connection()
        try:
            return self.client.scheduler_info(n_workers=-1)["workers"]
        except (OSError, TimeoutError) as error:
            raise self._lost() from error

    def _lost(self) -> ExecutorError:
        return ExecutorError(f"lost the connection to the Dask scheduler at {self.config.address or 'its address'} "
                             "(it stopped or is unreachable); finished rows are saved: run the same command again "
                             "when the scheduler is back to resume")

    def _wait_for_workers(self, n: int, resource: str | None = None) -> None:
        deadline = time.monotonic() + self.config.worker_wait_s
        while True:
            workers = self._workers()
            if sum(1 for w in workers.values() if resource is None or w.get("resources", {}).get(resource)) >= n:
                return
            if time.monotonic() > deadline:
                what = f"offering the {resource} resource (`dask worker ... --resources {resource}=1`)" if resource else ""
                raise ExecutorError(f"no worker {what} joined the Dask scheduler at {self.client.scheduler.address} "
                                    f"within {self.config.worker_wait_s:g} s; start workers, or raise "
                                    "[executor] worker_wait_s")
            time.sleep(0.5)

    def _check_connection(self) -> None:
        if self.client.status not in ("running", "connecting"):
            raise self._lost()

    def locate_weights(self, names: list[str]) -> dict[str, LocatedWeight]:
        """Locate and verify ``names`` on every worker; the same hashes everywhere, else WeightsError."""
        self.facts = self.client.run(self.remote.worker_facts, self.plugin, [KNOWN[name] for name in names])
        problems, located = [], {}
        for address, facts in sorted(self.facts.items()):
            for name, found in facts["weights"].items():
                if isinstance(found, str):
                    problems.append(f"worker {address}: {found}")
                elif name in located and located[name].sha256 != found.sha256:
                    problems.append(f"worker {address}: {name} has sha256 {found.sha256}, another worker's has "
                                    f"{located[name].sha256}; give every worker the same file")
                else:
                    located.setdefault(name, found)
        if problems:
            raise WeightsError("\n".join(problems))
        return located

    # -- work --------------------------------------------------------------------------------------------
    def _resources(self, gpu: bool) -> dict[str, int] | None:
        if not gpu:
            return None
        if not self._gpu_seen:
            self._wait_for_workers(1, "GPU")  # else GPU tasks would wait forever
            self._gpu_seen = True
        return {"GPU": 1}

    def _stream(self, jobs: Iterable[tuple[Any, str, Callable, tuple, bool]]) -> Iterator[tuple[Any, Any]]:
        """For each job ``(tag, image path, function, arguments, gpu)``, run ``function(plugin name,
        *arguments, image bytes, their sha256)`` on a worker; yield ``(tag, value)`` as jobs finish.
        ``value`` is the function's result, a TaskResult whose error says the workers died, or the
        OSError of an image file this process cannot read.

        Each job carries its image's bytes and has no dependency, so Dask gives it to an idle worker;
        one job per worker thread is in flight, so a worker that dies held exactly the job it was
        running (Dask counts a death against every task a worker holds) and the cluster holds only the
        images of running jobs."""
        jobs = iter(jobs)
        pending: dict[Any, Any] = {}
        window, window_at, more = 1, 0.0, True
        while more or pending:
            if time.monotonic() - window_at > 2:  # workers come and go
                window = max(1, sum(w.get("nthreads", 1) for w in self._workers().values()))
                window_at = time.monotonic()
            while more and len(pending) < window:
                job = next(jobs, None)
                if job is None:
                    more = False
                    break
                tag, path, function, arguments, gpu = job
                try:
                    data = Path(path).read_bytes()
                except OSError as error:
                    yield tag, error
                    continue
                future = self.client.submit(function, self.plugin, *arguments, data, hashlib.sha256(data).hexdigest(),
                                            resources=self._resources(gpu), pure=False,
                                            key=f"rdpbench-{function.__name__}-{uuid.uuid4().hex}")
                pending[future] = tag
            for future in self._as_completed(pending, first_only=True):
                yield pending.pop(future), self._value(future)

    def map_originals(self, work: Callable, argument: Any, images: dict[str, Path], label: str) -> dict[str, np.ndarray]:
        """``work(state, argument, pixels)`` on every original, on the workers; unreadable ones left out."""
        features = isinstance(argument, FeatureSpec)
        gpu = needs_gpu(self.context, "", {}, [] if features else [argument], features)
        jobs = ((image, str(path), self.remote.run_original, (work, argument, image), gpu) for image, path in images.items())
        values = {}
        for image, value in tqdm(self._stream(jobs), total=len(images), desc=label, unit="image", file=sys.stderr,
                                 leave=False):
            if isinstance(value, TaskResult):
                raise ExecutorError(f"{label}, {image}: {value.error}")
            if value is not None and not isinstance(value, OSError):
                values[image] = value
        return dict(sorted(values.items()))

    def run(self, tasks: Iterable[Task]) -> Iterator[TaskResult]:
        """Run the tasks on the workers; yield their results as they finish."""
        gpu: dict[tuple, bool] = {}

        def jobs():
            for task in tasks:
                kind = (task.codec_name, task.params, task.metrics, bool(task.features))
                if kind not in gpu:
                    gpu[kind] = needs_gpu(self.context, task.codec_name, dict(task.params), task.metrics,
                                          bool(task.features))
                yield task, task.image_path, self.remote.run_task, (task,), gpu[kind]

        for task, value in self._stream(jobs()):
            yield self._result(task, value)

    def _as_completed(self, futures: dict, first_only: bool = False) -> Iterator[Any]:
        """Futures as they finish; raises ExecutorError when the scheduler is lost or no worker is left
        for ``worker_wait_s`` (never waits forever)."""
        from distributed import wait

        left = set(futures)
        no_worker_since = None
        while left:
            try:
                with self.client.as_current():
                    done = wait(list(left), timeout=2, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            except CancelledError:  # wait() raises when futures were cancelled; looked at below
                done = {future for future in left if future.done()}
            if not done:
                self._check_connection()
                if self._workers():
                    no_worker_since = None
                elif no_worker_since is None:
                    no_worker_since = time.monotonic()
                elif time.monotonic() - no_worker_since > self.config.worker_wait_s:
                    raise ExecutorError(f"no worker left on the Dask scheduler at {self.client.scheduler.address} "
                                        f"for {self.config.worker_wait_s:g} s; finished rows are saved: start "
                                        "workers and run the same command again to resume")
                continue
            for future in done:
                if future.status == "cancelled":
                    if self.client.status != "running":
                        raise self._lost()
                    raise ExecutorError(f"the Dask scheduler at {self.client.scheduler.address} dropped the "
                                        "run's tasks (scheduler restarted or connection lost); finished rows are "
                                        "saved: run the same command again to resume")
                left.discard(future)
                yield future
            if first_only:
                return

    def _value(self, future):
        if future.status == "finished":
            return future.result()
        error = future.exception()
        last = getattr(getattr(error, "last_worker", None), "address", None)
        if last is not None:  # distributed.scheduler.KilledWorker
            return TaskResult(None, error=f"worker: the worker died while running this task, "
                                          f"{error.allowed_failures + 1} times (the last was {last}); see that "
                                          "worker's log (out of memory? a crashing library?)", worker=last)
        return TaskResult(None, error=f"worker: {type(error).__name__}: {error}")

    def _result(self, task: Task, value) -> TaskResult:
        if isinstance(value, OSError):  # worded as a local run words it
            return TaskResult(task, error=f"input: {value}")
        if isinstance(value, TaskResult):
            value.task = task
            return value
        result, recon = value
        if recon is not None:
            target = Path(task.recon_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(recon)
        return result

    def close(self) -> None:
        try:
            if self.cluster is None and self.client.status == "running":
                self.client.unregister_worker_plugin(self.plugin)  # free the workers' networks
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


@contextmanager
def open_executor(spec, context: RunContext) -> Iterator[DaskExecutor | None]:
    """The Dask executor that ``spec.executor`` (and --jobs) asks for, closed afterwards; None when the
    run stays on this machine's own executors."""
    config = parse_config(dict(spec.executor), spec.jobs)
    if config is None:
        yield None
        return
    from distributed import Client

    cluster = None
    try:
        if config.mode == "local":
            cluster = local_cluster(config, spec.device)
        elif config.mode in JOB_QUEUES:
            cluster = job_queue_cluster(config)
            if "minimum_jobs" in config.job or "maximum_jobs" in config.job:  # at least one job: weights are
                minimum = config.job.get("minimum_jobs", 1)                     # checked on a worker first
                cluster.adapt(minimum_jobs=minimum, maximum_jobs=max(minimum, config.job.get("maximum_jobs", minimum)))
            else:
                cluster.scale(jobs=config.job.get("jobs", 1))
        address = cluster if cluster is not None else _scheduler_address(config.address)
        client = Client(address, timeout=config.timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        raise ExecutorError(f"cannot reach the Dask scheduler at {config.address}: {error}; is it running "
                            f"(`dask scheduler`), and is the address right?") from error
    try:
        executor = DaskExecutor(client, config, context, cluster)
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    where = client.scheduler.address + (f", dashboard {client.dashboard_link}" if has_dashboard() else "")
    print(f"rdpbench: Dask {config.mode} at {where}, {len(executor._workers())} workers", file=sys.stderr)
    try:
        yield executor
    finally:
        executor.close()


def _scheduler_address(text: str) -> str:
    """``tcp://HOST:PORT`` as given, or the address inside a scheduler file (``dask scheduler
    --scheduler-file``)."""
    if "://" in text:
        return text
    try:
        return json.loads(Path(text).read_text())["address"]
    except (OSError, ValueError, KeyError) as error:
        raise ExecutorError(f"--scheduler {text}: neither tcp://HOST:PORT nor a readable scheduler file ({error})") from error
