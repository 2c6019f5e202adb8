"""File hashing shared by datasets (verification) and weights (verification, cache keys)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: str | Path, progress: str | None = None) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks; with ``progress`` (a label) a progress bar
    in bytes goes to stderr (for files large enough to take seconds)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=os.fstat(stream.fileno()).st_size, unit="B", unit_scale=True, desc=progress,
                       file=sys.stderr, leave=False)
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
    return digest.hexdigest()
