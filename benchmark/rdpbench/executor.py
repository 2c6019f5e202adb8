"""Executors: run tasks and yield their results as they finish, in any order.

- :func:`run_in_process` runs tasks one after another in this process (``--jobs 1``), reusing the
  caller's WorkerState (its loaded networks).
- :func:`run_in_workers` runs them in N spawned worker processes, one task per worker at a time.
  The parent always knows which task each worker holds, so a worker that dies (a segfaulting
  codec library, the out-of-memory killer) turns exactly that task into an error row; a new worker
  takes its place and the run goes on.

A cluster executor would have the same shape: take picklable tasks, yield TaskResults.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Iterable, Iterator

from rdpbench.metrics.base import MetricContext
from rdpbench.tasks import Task, TaskResult, WorkerState, execute_task


def run_in_process(tasks: Iterable[Task], state: WorkerState) -> Iterator[TaskResult]:
    for task in tasks:
        yield execute_task(task, state)


def _worker_main(connection: Connection, context: MetricContext) -> None:
    """Worker loop: receive a task, send its result; stop on None. One torch thread per worker so
    N workers use N cores."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    state = WorkerState(context)
    while (task := connection.recv()) is not None:
        connection.send(execute_task(task, state))


class _Worker:
    def __init__(self, context: MetricContext):
        spawn = multiprocessing.get_context("spawn")  # no inherited torch/OpenMP state, as on a cluster
        self.connection, child_end = spawn.Pipe()
        self.process = spawn.Process(target=_worker_main, args=(child_end, context), daemon=True)
        self.process.start()
        child_end.close()
        self.task: Task | None = None

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except OSError:
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _died(task: Task, exitcode: int | None) -> TaskResult:
    how = f"was killed by signal {-exitcode}" if exitcode and exitcode < 0 else f"exited with code {exitcode}"
    return TaskResult(task, error=f"worker: the worker process {how} while running this task")


def run_in_workers(tasks: Iterable[Task], context: MetricContext, jobs: int) -> Iterator[TaskResult]:
    pending = deque(tasks)
    workers = [_Worker(context) for _ in range(min(jobs, len(pending)))]
    idle = list(workers)
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
                    worker = _Worker(context)
                    workers.append(worker)
                worker.task = None
                idle.append(worker)
                yield result
    finally:
        for worker in workers:
            worker.stop()
