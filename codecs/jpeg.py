"""JPEG through Pillow's libjpeg-turbo; the setting CompressAI's `bench jpeg` uses by default."""

from rdpbench.codecs.api import Param
from rdpbench.codecs.pillow import PillowCodec


class JPEG(PillowCodec):
    name = "jpeg"
    description = "JPEG (baseline, Huffman tables not optimised) via Pillow/libjpeg-turbo"
    defaults_note = ("quality 75, 4:2:0, baseline Huffman: Pillow's defaults, as in CompressAI's Kodak JPEG table "
                     "(`compressai.utils.bench jpeg`, Pillow 7.1.2)")
    pillow_format = "JPEG"
    pillow_feature = "jpg"
    version_feature = "libjpeg_turbo"  # "jpg" reports the libjpeg API version (6.2), not the library's
    params = (
        Param("quality", "int", 75, "libjpeg quality factor", low=1, high=100, rate=True),
        Param("subsampling", "str", "4:2:0", "chroma subsampling (4:2:0 is Pillow's and libjpeg's default)",
              choices=("4:4:4", "4:2:2", "4:2:0")),
    )

    def save_options(self, image, setting):
        return {"quality": setting["quality"], "subsampling": setting["subsampling"]}
