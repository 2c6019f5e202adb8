"""Library chatter goes to a log file, not across the progress bar.

:func:`setup` sends Python warnings (``warnings.warn`` of torch, torchvision, pyiqa, scikit-image,
...) and every log record that reaches the root logger to ``path`` (appended, one line each with
time, process and source; at 5 MB it is rotated to ``rdpbench.log.1``), and quiets pyiqa's model-loading messages (its own logger prints INFO
records to stderr through a handler of its own; WARNING and above still show). rdpbench's own
messages are plain ``print``s to stderr and are not affected. :func:`library_prints` sends what
libraries ``print`` to stdout while they compute (pyiqa's "Loading pretrained model ...") to the
same log. The path is exported as
``RDPBENCH_LOG`` so that worker processes, which import rdpbench afresh, do the same
(rdpbench/__init__.py).
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import os
import warnings
from pathlib import Path
from typing import Iterator

ENVIRONMENT = "RDPBENCH_LOG"
QUIET_LOGGERS = ("pyiqa",)
MAX_BYTES = 5_000_000  # then rdpbench.log moves to rdpbench.log.1 (one old file kept)  # libraries that print INFO records to stderr with handlers of their own


def default_path() -> Path:
    """``$RDPBENCH_CACHE/rdpbench.log`` (default ``~/.cache/rdpbench/rdpbench.log``)."""
    cache = os.environ.get("RDPBENCH_CACHE") or Path.home() / ".cache" / "rdpbench"
    return Path(cache) / "rdpbench.log"


def setup(path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=1, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s pid %(process)d %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:  # one log at a time
        root.removeHandler(previous)
        previous.close()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # warnings.warn -> logger "py.warnings" -> the root's file handler
    warnings.simplefilter("default")  # each distinct warning once per location, as Python does by default
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ[ENVIRONMENT] = str(path)


def from_environment() -> None:
    """In a worker process: log where the parent logs, if it set RDPBENCH_LOG."""
    if os.environ.get(ENVIRONMENT):
        setup(Path(os.environ[ENVIRONMENT]))


class _LogLines(io.TextIOBase):
    """A text stream whose complete lines become INFO records of the logger "stdout"."""

    def __init__(self):
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            if line.strip():
                logging.getLogger("stdout").info(line)
        return len(text)


@contextlib.contextmanager
def library_prints() -> Iterator[None]:
    """Inside: ``print`` to stdout goes to the log (see :func:`setup`), not the terminal."""
    stream = _LogLines()
    with contextlib.redirect_stdout(stream):
        yield
    stream.write("\n")
