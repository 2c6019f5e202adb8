"""Where the benchmark scripts find the 24 Kodak images: ``RDPBENCH_KODAK_DIR`` if set, else the
folder `rdpbench datasets fetch kodak` writes (datasets/kodak/)."""

import os
from pathlib import Path


def kodak_folder() -> Path:
    return Path(os.environ.get("RDPBENCH_KODAK_DIR") or Path(__file__).resolve().parents[1] / "datasets" / "kodak")
