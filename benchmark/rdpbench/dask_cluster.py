"""Which Dask cluster `rdpbench run` uses: the ``[executor]`` table (with ``--scheduler``,
``--cluster`` and ``--jobs``) checked into a :class:`ClusterConfig`, and the clusters rdpbench
starts itself: a LocalCluster, or a dask-jobqueue cluster (Slurm, PBS, SGE, LSF). The keys are
described in the README, "Running on a cluster"; rdpbench.dask_executor runs the tasks on them.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rdpbench import lifetime
from rdpbench.spec import SpecError

JOB_QUEUES = ("slurm", "pbs", "sge", "lsf")
CLUSTERS = ("local",) + JOB_QUEUES
# [executor] keys: what they mean is in the README ("Running on a cluster").
KEYS = {
    "scheduler": str, "cluster": str, "allowed_failures": int, "timeout_s": float, "worker_wait_s": float,
    # job queues (dask-jobqueue): one job = `processes` single-threaded workers on `cores` cores
    "queue": str, "account": str, "cores": int, "memory": str, "gpus": int, "walltime": str, "processes": int,
    "jobs": int, "minimum_jobs": int, "maximum_jobs": int, "job_extra_directives": list,
    "job_script_prologue": list, "interface": str, "local_directory": str, "python": str,
}
_GPU_DIRECTIVES = {"slurm": "--gres=gpu:{n}", "lsf": '-gpu "num={n}"'}  # pbs, sge: site-specific, see README


@dataclass(frozen=True)
class ClusterConfig:
    """The validated ``[executor]`` table plus ``--scheduler``/``--cluster``/``--jobs``.

    ``mode``: "scheduler" (connect to ``address``), "local" (``workers`` processes) or a job queue.
    ``job``: the job-queue keys as given.
    """

    mode: str
    address: str | None = None
    workers: int = 1
    allowed_failures: int = 2
    timeout_s: float = 30.0
    worker_wait_s: float = 120.0
    job: dict[str, Any] = field(default_factory=dict)


def parse_config(table: dict[str, Any], jobs: int) -> ClusterConfig | None:
    """The cluster to run on, or None for the runner's own executors. Raises SpecError on bad keys."""
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise SpecError(f"[executor]: unknown key {', '.join(unknown)} (known: {', '.join(KEYS)})")
    for key, value in table.items():
        wanted = (int, float) if KEYS[key] is float else KEYS[key]
        if isinstance(value, bool) or not isinstance(value, wanted):
            kind = {str: "text", int: "an integer", float: "a number", list: "a list"}[KEYS[key]]
            raise SpecError(f"[executor] {key} = {value!r}: expected {kind}")
        if KEYS[key] in (int, float) and value < (0 if key == "allowed_failures" else 1):
            raise SpecError(f"[executor] {key} = {value!r}: must be {'>= 0' if key == 'allowed_failures' else '>= 1'}")
    scheduler, cluster = table.get("scheduler"), table.get("cluster")
    if scheduler and cluster:
        raise SpecError("give either --scheduler (an existing Dask cluster) or --cluster, not both")
    if not scheduler and not cluster:
        extra = sorted(set(table) - {"allowed_failures", "timeout_s", "worker_wait_s"})
        if extra:
            raise SpecError(f"[executor] {', '.join(extra)} need cluster = \"slurm\" (or pbs, sge, lsf)")
        return None
    if cluster and cluster not in CLUSTERS:
        raise SpecError(f"--cluster {cluster!r}: choose one of {', '.join(CLUSTERS)}")
    job = {key: value for key, value in table.items() if key not in
           ("scheduler", "cluster", "allowed_failures", "timeout_s", "worker_wait_s")}
    if job and cluster not in JOB_QUEUES:
        raise SpecError(f"[executor] {', '.join(sorted(job))} apply to job queues ({', '.join(JOB_QUEUES)}) only")
    if cluster in JOB_QUEUES:
        for key in ("cores", "memory"):
            if key not in job:
                raise SpecError(f"--cluster {cluster} needs [executor] {key} (per job), e.g. cores = 8, memory = \"32GB\"")
        if job.get("gpus", 0) not in (0, 1):
            raise SpecError("[executor] gpus: 0 or 1 GPU per job (one worker per GPU); scale with jobs/maximum_jobs")
        if "jobs" in job and ("minimum_jobs" in job or "maximum_jobs" in job):
            raise SpecError("[executor]: give jobs (a fixed number) or minimum_jobs/maximum_jobs (adaptive), not both")
    if cluster == "local" and jobs < 1:
        raise SpecError("--cluster local needs --jobs N >= 1 (the number of worker processes)")
    return ClusterConfig(mode="scheduler" if scheduler else cluster, address=scheduler, workers=jobs,
                         allowed_failures=table.get("allowed_failures", 2), timeout_s=float(table.get("timeout_s", 30)),
                         worker_wait_s=float(table.get("worker_wait_s", 3600 if cluster in JOB_QUEUES else 120)),
                         job=job)


# -- clusters ------------------------------------------------------------------------------------------------
def job_queue_cluster(config: ClusterConfig):
    """A dask-jobqueue cluster (jobs not yet submitted): ``job_script()`` shows what each job asks for.

    One job runs ``processes`` worker processes (default: ``cores``, or 1 with a GPU), each with one
    thread, and with ``gpus = 1`` offers the worker resource ``GPU=1``."""
    import dask_jobqueue

    classes = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster,
               "sge": dask_jobqueue.SGECluster, "lsf": dask_jobqueue.LSFCluster}
    job = config.job
    gpus = job.get("gpus", 0)
    processes = job.get("processes", 1 if gpus else job["cores"])
    directives = list(job.get("job_extra_directives", []))
    worker_args = ["--nthreads", "1"]
    if gpus:
        if config.mode in _GPU_DIRECTIVES:
            directives.append(_GPU_DIRECTIVES[config.mode].format(n=gpus))
        worker_args += ["--resources", f"GPU={gpus}"]
    options = {"cores": job["cores"], "memory": job["memory"], "processes": processes,
               "job_extra_directives": directives, "worker_extra_args": worker_args,
               "job_script_prologue": list(job.get("job_script_prologue", []))}
    for key in ("queue", "account", "walltime", "interface", "local_directory", "python"):
        if key in job:
            options[key] = job[key]
    if config.mode == "sge" and "account" in options:
        options["project"] = options.pop("account")
    with _scheduler_settings(config):
        return classes[config.mode](**options)


def local_cluster(config: ClusterConfig, device: str):
    """A LocalCluster whose nannies and workers carry the run's token (:mod:`rdpbench.lifetime`): a
    ``kill -9`` of the run takes them, and their tools, with it."""
    from distributed import LocalCluster

    with _scheduler_settings(config), lifetime.carrying_token():
        return LocalCluster(n_workers=config.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address="127.0.0.1:0" if has_dashboard() else None,
                            resources={"GPU": 1} if device == "cuda" else None, silence_logs=40)


@contextmanager
def _scheduler_settings(config: ClusterConfig):
    """For a cluster we start: the retry bound of its scheduler; and, for workers started on this
    machine (LocalCluster; job-queue workers read their node's Dask config), workers that keep glibc's default
    malloc trimming (Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536, which returns every freed image
    buffer to the system: the next task page-faults it back in, doubling the time of a JPEG task), and
    that do not sample their own stacks for the dashboard's profile page."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": config.allowed_failures,
                          "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                          "distributed.worker.profile.enabled": False}):
        yield


def has_dashboard() -> bool:
    try:
        import bokeh  # noqa: F401  (the dashboard needs it; distributed does not)
    except ImportError:
        return False
    return True
