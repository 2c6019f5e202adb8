"""Executor: run tasks and yield their results as they finish, in any order.

:func:`run_in_workers` runs them in N spawned worker processes (one at ``--jobs 1``: the work never
runs in the process that owns the store), one task per worker at a time. The parent always knows
which task each worker holds, so a worker that dies (a segfaulting codec library, the out-of-memory
killer) turns exactly that task into an error row; a new worker takes its place and the run goes on.

Workers ignore SIGINT and SIGTERM: an interrupt reaches the parent, which stops them and records the
run as interrupted (no task is marked failed by it). A worker whose parent has gone exits quietly.

A cluster executor would have the same shape: take picklable tasks, yield TaskResults.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Iterable, Iterator

from rdpbench.metrics.base import MetricContext
from rdpbench.tasks import Task, TaskResult, WorkerState, execute_task


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _worker_main(connection: Connection, context: MetricContext) -> None:
    """Worker loop: receive a task, send its result; stop on None or when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    state = WorkerState(context)
    try:
        while (task := connection.recv()) is not None:
            connection.send(execute_task(task, state))
    except (EOFError, OSError):  # the parent stopped or was killed: nothing to report to
        pass


class _Worker:
    def __init__(self, context: MetricContext, single_thread: bool):
        """With ``single_thread`` torch, numpy's BLAS and MKL use one thread, so N workers use N cores: the
        limits are in the environment the worker starts with, since numpy loads before its code runs."""
        spawn = multiprocessing.get_context("spawn")  # no inherited torch/OpenMP state, as on a cluster
        self.connection, child_end = spawn.Pipe()
        self.process = spawn.Process(target=_worker_main, args=(child_end, context), daemon=True)
        saved = {variable: os.environ.get(variable) for variable in THREAD_VARIABLES}
        if single_thread:
            os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
        try:
            self.process.start()
        finally:
            for variable, value in saved.items():
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value
        child_end.close()
        self.task: Task | None = None

    def ask_to_stop(self) -> None:
        """Tell the worker to exit once it reads this (it is idle when the run has finished)."""
        try:
            self.connection.send(None)
        except OSError:  # it is gone already
            pass

    def stop(self, now: bool = False) -> None:
        """Wait up to 5 s for a worker asked to stop, then kill it (``now``: at once, e.g. on an interrupt)."""
        self.process.join(timeout=0 if now else 5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _died(task: Task, exitcode: int | None) -> TaskResult:
    how = f"was killed by signal {-exitcode}" if exitcode and exitcode < 0 else f"exited with code {exitcode}"
    return TaskResult(task, error=f"worker: the worker process {how} while running this task")


def run_in_workers(tasks: Iterable[Task], context: MetricContext, jobs: int) -> Iterator[TaskResult]:
    # One image's tasks in a row, so a worker reuses what it keeps of that original (its pixels, the
    # reference side of MS-SSIM) instead of cycling through the whole dataset once per setting.
    pending = deque(sorted(tasks, key=lambda task: task.image_path))
    single_thread = jobs > 1
    workers = [_Worker(context, single_thread) for _ in range(min(jobs, len(pending)))]
    idle = list(workers)
    finished = False
    try:
        while pending or len(idle) < len(workers):
            while idle and pending:
                worker = idle.pop()
                worker.task = pending.popleft()
                worker.connection.send(worker.task)
            busy = {w.connection: w for w in workers if w.task is not None}
            for connection in wait(list(busy)):
                worker = busy[connection]
                try:
                    result = connection.recv()
                except (EOFError, OSError):
                    worker.process.join()
                    result = _died(worker.task, worker.process.exitcode)
                    workers.remove(worker)
                    worker = _Worker(context, single_thread)
                    workers.append(worker)
                worker.task = None
                if pending:  # hand out the next task before the caller stores this result: no idle gap
                    worker.task = pending.popleft()
                    worker.connection.send(worker.task)
                else:
                    idle.append(worker)
                yield result
        finished = True
    finally:
        if finished:
            for worker in workers:  # all asked first, so they shut down (unload torch, ...) side by side
                worker.ask_to_stop()
        for worker in workers:
            worker.stop(now=not finished)
