"""What a run records about where its numbers came from."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

from rdpbench import __version__
from rdpbench.paths import checkout

LIBRARIES = ("numpy", "pillow", "torch", "pytorch_msssim", "pandas", "pillow_heif", "torch-fidelity",
             "lpips", "pyiqa", "compressai", "scipy")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "platform": platform.platform(), "rdpbench": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def git_commit() -> str:
    """HEAD of the project checkout, with "+dirty" when tracked files are modified; "" outside git
    (an installed wheel)."""
    root = checkout()
    if root is None:
        return ""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if head.returncode != 0:
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def hostname() -> str:
    return socket.gethostname()
