"""Published reconstructions of another method, evaluated as if they were a codec.

Knob ``folder``: a folder of reconstructions (any format rdpbench reads) whose file names match the
dataset's images by stem (``kodim01.png`` <- ``kodim01.png`` or ``kodim01.jpg``), in the same
sub-folders. Its manifest (option ``manifest``, default ``sizes.csv`` in that folder) gives each
image's size: columns ``image`` and ``bytes`` (preferred) or ``bpp``.

There is no bitstream: the "stream" is a placeholder of the manifest's size (zero bytes), so the
runner's bpp = 8 * bytes / (H * W) is the published rate. From a ``bpp`` column the size is rounded to
whole bytes (an error of at most 4 / (H * W) bpp). One folder per rate point: sweep ``folder``.
"""

import csv
from functools import lru_cache
from pathlib import Path, PurePosixPath

from rdpbench.codecs.api import Codec, CodecError, Param
from rdpbench.imageio import IMAGE_SUFFIXES, ImageReadError, read_rgb8


class Precomputed(Codec):
    name = "precomputed"
    description = "reconstructions and sizes published by another method (no bitstream)"
    defaults_note = "no defaults of its own: the rate and pixels are the publisher's (folder and sizes.csv)"
    params = (
        Param("folder", "str", "", "folder of reconstructions, one per rate point", rate=True),
        Param("manifest", "str", "sizes.csv", "CSV with columns image and bytes or bpp (relative to folder)"),
    )

    def version(self):
        return "precomputed (rate from manifest)"

    @lru_cache(maxsize=8)
    def sizes(self, folder: str, manifest: str) -> dict[str, tuple[str, float]]:
        """{image stem path: ("bytes" | "bpp", value)} from the manifest."""
        path = Path(folder) / manifest
        try:
            with open(path, newline="") as stream:
                rows = list(csv.DictReader(stream))
        except OSError as error:
            raise CodecError(f"cannot read manifest {path}: {error}") from error
        kind = "bytes" if rows and "bytes" in rows[0] else "bpp"
        if not rows or "image" not in rows[0] or kind not in rows[0]:
            raise CodecError(f"{path} needs columns image and bytes (or bpp)")
        return {str(PurePosixPath(row["image"]).with_suffix("")): (kind, float(row[kind])) for row in rows}

    def _stem(self, setting) -> str:
        return str(PurePosixPath(setting["_image"]).with_suffix(""))

    def encode(self, image, setting):
        entry = self.sizes(setting["folder"], setting["manifest"]).get(self._stem(setting))
        if entry is None:
            raise CodecError(f"{setting['_image']} is not in the manifest of {setting['folder']}")
        kind, value = entry
        count = value if kind == "bytes" else value * image.shape[0] * image.shape[1] / 8
        return bytes(round(count))

    def decode(self, data, setting):
        stem = Path(setting["folder"]) / self._stem(setting)
        candidates = [stem.with_suffix(s) for s in sorted(IMAGE_SUFFIXES) if stem.with_suffix(s).is_file()]
        if not candidates:
            raise CodecError(f"no reconstruction {stem}.* in {setting['folder']}")
        try:
            return read_rgb8(candidates[0])
        except ImageReadError as error:
            raise CodecError(str(error)) from error
