"""No process of a run outlives it (Linux; elsewhere the functions here do nothing).

Three layers, each covering what the one before cannot:

1. **Worker processes** get ``PR_SET_PDEATHSIG`` = SIGKILL (:func:`as_worker`): the kernel kills a
   worker the moment the process that started it dies, even by ``kill -9``. (The signal follows the
   *thread* that started the worker, so it is set only for workers started by a main thread.)
2. **Tool calls** (:func:`rdpbench.codecs.command_line.run_tool`) run in their own process group,
   killed as a group after each call; a worker is also a *child subreaper*
   (``PR_SET_CHILD_SUBREAPER``): a helper that left the group with ``setsid`` (or any orphaned
   descendant) is re-parented to the worker instead of to init, and :class:`ToolCall` kills every
   child the worker gained during the call.
3. **The guard** (:func:`run_token`): a small process started once by the process that starts
   workers, in its own session (so a terminal's Ctrl-C or a group kill does not reach it). Workers
   (and a ``--cluster local`` LocalCluster's processes), and through them every tool and helper,
   inherit ``RDPBENCH_RUN=<token>`` in their environment (:func:`carrying_token`).
   The guard waits for its pipe from the starting process to close — that process exited or was
   killed, ``kill -9`` included — then kills every process whose environment holds the token,
   scanning ``/proc`` until three rounds in a row find none (50 ms apart), and exits. This reaches
   tools and helpers whose worker was killed with the run (they re-parent to init, out of any
   subreaper's reach). What it cannot see: a helper that clears its own environment (``env -i``)
   and is orphaned by a killed worker; and processes of another user.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

VARIABLE = "RDPBENCH_RUN"
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 1, 36, 37
_guard: tuple[str, int] | None = None  # (token, pid of the guard; 0 where there is none)
_pipes: list[int] = []
_lock = threading.Lock()


def _prctl(option: int, value) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, value, 0, 0, 0) == 0


def _running(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        return False


def run_token() -> str:
    """The token workers carry in ``RDPBENCH_RUN`` (see the module docstring); starts the guard on
    first use in this process (and again should it have died)."""
    global _guard
    with _lock:
        if _guard is None or (_guard[1] and not _running(_guard[1])):
            token, pid = secrets.token_hex(16), 0
            if sys.platform.startswith("linux"):
                read_end, write_end = os.pipe()  # the write end stays here, inherited by no child
                package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this rdpbench
                path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
                pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "rdpbench.lifetime", token],
                                     {**os.environ, "PYTHONPATH": path},
                                     file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0),
                                                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)],
                                     setsid=True)
                os.close(read_end)
                _pipes.append(write_end)  # closed by this process's exit, whatever ends it
            _guard = token, pid
        return _guard[0]


@contextmanager
def carrying_token() -> Iterator[None]:
    """Processes started inside carry the run's token (this process's environment has it meanwhile)."""
    previous = os.environ.get(VARIABLE)
    os.environ[VARIABLE] = run_token()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(VARIABLE, None)
        else:
            os.environ[VARIABLE] = previous


def parent_may_kill() -> bool:
    """Whether a worker started now may take a parent-death signal (only from the main thread: the
    signal follows the starting thread, and another thread may end before the run does)."""
    return threading.current_thread() is threading.main_thread()


def as_worker(parent: int, parent_death_signal: bool) -> None:
    """Called first in a worker: die with the parent (``parent``'s pid), adopt orphaned descendants."""
    if parent_death_signal:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the signal was set
            os._exit(0)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _is_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    flag = ctypes.c_int(0)
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value == 1


def children() -> set[int]:
    """The pids of this process's children (every thread's)."""
    found = set()
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as stream:
                found.update(int(pid) for pid in stream.read().split())
    except OSError:
        pass
    return found


class ToolCall:
    """``with ToolCall():`` around a tool's run: on leaving, in a worker (a subreaper), SIGKILL and
    reap every child that was not there on entering, until none is left (killing one re-parents its
    own children here). Skipped while another ToolCall of this process is still running (threads),
    and outside workers: other children there (a main process's workers) are not leftovers."""

    _active = 0
    _lock = threading.Lock()

    def __enter__(self) -> "ToolCall":
        with ToolCall._lock:
            ToolCall._active += 1
        self.keep = children() if _is_subreaper() else None
        return self

    def __exit__(self, *exc) -> None:
        with ToolCall._lock:
            ToolCall._active -= 1
            alone = ToolCall._active == 0
        if self.keep is None or not alone:
            return
        for _ in range(100):
            leftovers = children() - self.keep
            if not leftovers:
                return
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid in leftovers:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass


def _holding(token: bytes) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/environ", "rb") as stream:
                    if token in stream.read().split(b"\0"):
                        pids.append(int(name))
            except OSError:  # gone, or another user's
                pass
    return pids


def _guard_main(token: str) -> None:
    """The guard process: wait for the starting process to go, then kill the run's processes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.stdin.buffer.read()  # returns at end of file: the starting process closed the pipe or died
    marker = f"{VARIABLE}={token}".encode()
    quiet_rounds = 0
    deadline = time.monotonic() + 30
    while quiet_rounds < 3 and time.monotonic() < deadline:
        pids = _holding(marker)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        quiet_rounds = 0 if pids else quiet_rounds + 1
        time.sleep(0.05)


if __name__ == "__main__":
    _guard_main(sys.argv[1])
