"""Where the project's folders are (codecs/, datasets/, results/, benchmark/configs/), and where a
results folder keeps its reconstructions."""

from __future__ import annotations

import os
from pathlib import Path

from rdpbench.safe_paths import inside


def project_root() -> Path:
    """The rdpbench checkout: ``RDPBENCH_HOME`` if set, else the source tree this package was
    installed from in editable mode (benchmark/rdpbench/ -> the checkout), else the current folder."""
    if os.environ.get("RDPBENCH_HOME"):
        return Path(os.environ["RDPBENCH_HOME"]).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "codecs").is_dir():
        return checkout
    return Path.cwd()


def recon_path(out: Path, label: str, setting: str, image: str) -> Path:
    """``OUT/recon/<label>/<setting>/<image>.png``; UnsafePathError unless it stays inside OUT/recon
    (labels, setting texts and image names are text from configs, knobs and file names)."""
    return inside(out / "recon", f"{label}/{setting}/{Path(image).with_suffix('.png').as_posix()}",
                  f"reconstruction path of codec {label!r}, setting {setting!r}, image")
