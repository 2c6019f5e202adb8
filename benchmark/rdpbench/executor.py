"""Executor: run tasks and yield their results as they finish, in any order.

:func:`run_in_workers` runs them in N spawned worker processes (one at ``--jobs 1``: the work never
runs in the process that owns the store), one task per worker at a time, handed out image by image
(:class:`_ImageQueue`) so that a worker prepares each original once. The parent always knows
which task each worker holds, so a worker that dies (a segfaulting codec library, the out-of-memory
killer) turns exactly that task into an error row; a new worker takes its place and the run goes on.

Workers ignore SIGINT and SIGTERM: an interrupt reaches the parent, which stops them and records the
run as interrupted (no task is marked failed by it). A worker whose parent has gone exits quietly; a
parent killed with SIGKILL takes its workers, their tools and the tools' helpers with it within
about a second (:mod:`rdpbench.lifetime`).

A cluster executor would have the same shape: take picklable tasks, yield TaskResults.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Iterable, Iterator

from rdpbench import lifetime
from rdpbench.context import RunContext
from rdpbench.tasks import Task, TaskResult
from rdpbench.worker import WorkerState, execute_task


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _worker_main(connection: Connection, context: RunContext, parent: int, parent_death_signal: bool) -> None:
    """Worker loop: receive a task, send its result; stop on None or when the parent is gone.
    It exits without tearing down the interpreter (unloading torch and its libraries takes about a
    second, which the parent would wait for): results are sent and output is flushed, nothing is lost.
    It dies with its parent and takes its tools' leftovers with it (:mod:`rdpbench.lifetime`)."""
    lifetime.as_worker(parent, parent_death_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    state = WorkerState(context)
    try:
        while (task := connection.recv()) is not None:
            connection.send(execute_task(task, state))
    except (EOFError, OSError):  # the parent stopped or was killed: nothing to report to
        pass
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class _Worker:
    def __init__(self, context: RunContext, single_thread: bool):
        """With ``single_thread`` torch, numpy's BLAS and MKL use one thread, so N workers use N cores: the
        limits are in the environment the worker starts with, since numpy loads before its code runs
        (as is the run's token, :mod:`rdpbench.lifetime`)."""
        spawn = multiprocessing.get_context("spawn")  # no inherited torch/OpenMP state, as on a cluster
        self.connection, child_end = spawn.Pipe()
        self.process = spawn.Process(target=_worker_main, daemon=True,
                                     args=(child_end, context, os.getpid(), lifetime.parent_may_kill()))
        saved = {variable: os.environ.get(variable) for variable in THREAD_VARIABLES}
        if single_thread:
            os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
        try:
            with lifetime.carrying_token():  # inherited by its tools too: see rdpbench.lifetime
                self.process.start()
        finally:
            for variable, value in saved.items():
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value
        child_end.close()
        self.task: Task | None = None
        self.image: str | None = None  # the original of its latest task (rdpbench.executor._ImageQueue)

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


class _ImageQueue:
    """The tasks still to hand out, grouped by original image. A worker keeps taking tasks of the image
    it worked on, so it reads and prepares each original once (it keeps the last one: its pixels, the
    reference side of MS-SSIM); when that image is done it starts one no other worker is on, or, at the
    end, helps with the image that has the most tasks left."""

    def __init__(self, tasks: Iterable[Task]):
        self.groups: dict[str, deque[Task]] = {}
        for task in tasks:
            self.groups.setdefault(task.image_path, deque()).append(task)

    def __len__(self) -> int:
        return sum(len(group) for group in self.groups.values())

    def __bool__(self) -> bool:
        return bool(self.groups)

    def take(self, worker: _Worker, workers: list[_Worker]) -> Task:
        image = worker.image
        if image not in self.groups:
            others = {other.image for other in workers if other is not worker}
            image = next((path for path in self.groups if path not in others), None)
            image = image or max(self.groups, key=lambda path: len(self.groups[path]))
        group = self.groups[image]
        task = group.popleft()
        if not group:
            del self.groups[image]
        worker.image = image
        return task


def start_workers(context: RunContext, jobs: int) -> list[_Worker]:
    """``jobs`` worker processes, started ahead of the tasks: each spends about two seconds importing
    torch and the libraries, which then overlaps the planning of the run. Hand them to
    :func:`run_in_workers`, and to :func:`stop_workers` in any case."""
    return [_Worker(context, jobs > 1) for _ in range(jobs)]


def stop_workers(workers: list[_Worker]) -> None:
    """Kill workers that never got a task (a run that stopped early or had nothing to do); they hold
    no state. Workers that :func:`run_in_workers` used are stopped by it already."""
    for worker in workers:
        worker.stop(now=True)


def run_in_workers(tasks: Iterable[Task], context: RunContext, jobs: int,
                   started: list[_Worker] = ()) -> Iterator[TaskResult]:
    """Results of ``tasks`` as they finish, from ``jobs`` worker processes (the ``started`` ones first)."""
    pending = _ImageQueue(tasks)
    single_thread = jobs > 1
    wanted = min(jobs, len(pending))
    workers = list(started[:wanted]) + [_Worker(context, single_thread) for _ in range(wanted - len(started))]
    stop_workers(list(started[wanted:]))
    idle = list(workers)
    finished = False

    def hand_out(worker: _Worker) -> None:
        worker.task = pending.take(worker, workers)
        worker.connection.send(worker.task)

    try:
        while pending or len(idle) < len(workers):
            while idle and pending:
                hand_out(idle.pop())
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
                    hand_out(worker)
                else:
                    idle.append(worker)
                yield result
        finished = True
    finally:
        if finished:
            for worker in workers:  # all asked first, so they shut down side by side
                worker.ask_to_stop()
        for worker in workers:
            worker.stop(now=not finished)
