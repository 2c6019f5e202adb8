"""Where rdpbench's files are: the files it ships (codec adapters and cards, dataset manifests,
benchmark configs, the published-results catalogue), the per-user home where datasets are fetched,
and where a results folder keeps its reconstructions.

One source of truth for shipped files: the checkout's top-level ``codecs/``, ``datasets/`` and
``benchmark/configs/``. Running from the checkout (an editable install, or ``PYTHONPATH=benchmark``)
they are read there; a wheel carries copies made when it is built (``benchmark/build_support.py``)
under ``rdpbench/_shipped/``.

Relative paths given by a user (command line, config file, Python API) are relative to the current
folder; nothing is resolved against the checkout or the home folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rdpbench.safe_paths import inside

HOME_VARIABLE = "RDPBENCH_HOME"
# Shipped kinds: their folder in a checkout, relative to its root. A wheel keeps each under _shipped/KIND.
SHIPPED = {"codecs": "codecs", "datasets": "datasets", "configs": "benchmark/configs"}


def _is_checkout(folder: Path) -> bool:
    return (folder / "pyproject.toml").is_file() and (folder / "codecs").is_dir() and (folder / "datasets").is_dir()


def checkout() -> Path | None:
    """The rdpbench checkout this code runs from (benchmark/rdpbench/ -> the checkout), or the one
    ``RDPBENCH_HOME`` names; None for an installed wheel."""
    home = os.environ.get(HOME_VARIABLE)
    if home and _is_checkout(Path(home).expanduser()):
        return Path(home).expanduser().resolve()
    source = Path(__file__).resolve().parents[2]
    return source if _is_checkout(source) else None


def user_data_dir() -> Path:
    """The platform's per-user data folder for rdpbench: ``$XDG_DATA_HOME/rdpbench`` or
    ``~/.local/share/rdpbench`` (Linux), ``~/Library/Application Support/rdpbench`` (macOS),
    ``%LOCALAPPDATA%\\rdpbench`` (Windows)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "rdpbench"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "rdpbench"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "rdpbench"


def home() -> Path:
    """Where fetched datasets live (``HOME/datasets/NAME/``): ``RDPBENCH_HOME`` if set, else the
    checkout, else :func:`user_data_dir`."""
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE]).expanduser().resolve()
    return checkout() or user_data_dir()


def shipped(kind: str) -> Path:
    """The folder of a kind of shipped file ("codecs", "datasets" (manifests), "configs"): the
    checkout's, else the copy inside the installed package."""
    root = checkout()
    return root / SHIPPED[kind] if root else Path(__file__).resolve().parent / "_shipped" / kind


def user_path(path: str | os.PathLike) -> Path:
    """A path a user gave: ``~`` expanded, relative paths taken from the current folder (absolute)."""
    return Path(path).expanduser().absolute()


def recon_path(out: Path, label: str, setting: str, image: str) -> Path:
    """``OUT/recon/<label>/<setting>/<image>.png``; UnsafePathError unless it stays inside OUT/recon
    (labels, setting texts and image names are text from configs, knobs and file names)."""
    return inside(out / "recon", f"{label}/{setting}/{Path(image).with_suffix('.png').as_posix()}",
                  f"reconstruction path of codec {label!r}, setting {setting!r}, image")
