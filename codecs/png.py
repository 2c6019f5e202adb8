"""Lossless PNG: the "original" reference row (PSNR = inf, NIQE of the originals, bpp of lossless)."""

from rdpbench.codecs.api import Param
from rdpbench.codecs.pillow import PillowCodec


class PNG(PillowCodec):
    name = "png"
    description = "PNG (lossless) via Pillow/zlib"
    defaults_note = "zlib level 6 (Pillow's default); lossless, so only the size depends on it"
    pillow_format = "PNG"
    pillow_feature = "zlib"
    params = (Param("compress_level", "int", 6, "zlib level 0..9 (size only; pixels are exact)", low=0, high=9),)

    def save_options(self, image, setting):
        return {"compress_level": setting["compress_level"]}
