"""Where the project's folders are: codecs/, datasets/, results/, benchmark/configs/."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The rdpbench checkout: ``RDPBENCH_HOME`` if set, else the source tree this package was
    installed from in editable mode (benchmark/rdpbench/ -> the checkout), else the current folder."""
    if os.environ.get("RDPBENCH_HOME"):
        return Path(os.environ["RDPBENCH_HOME"]).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "codecs").is_dir():
        return checkout
    return Path.cwd()
