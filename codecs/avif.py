"""AVIF (AV1 intra) through Pillow's built-in libavif plugin."""

from rdpbench.codecs.api import Param
from rdpbench.codecs.pillow import PillowCodec


class AVIF(PillowCodec):
    name = "avif"
    description = "AVIF (AV1 intra) via Pillow/libavif"
    defaults_note = ("speed 6, 4:2:0: Pillow's defaults; no published table uses them (CompressAI's av1.json is "
                     "libaom's reference encoder): use subsampling=4:4:4 to compare with 4:4:4 BPG/HEIC")
    pillow_format = "AVIF"
    pillow_feature = "avif"
    install_hint = "pip install 'pillow>=11.3' (wheels include libavif)"
    params = (
        Param("quality", "int", 75, "libavif quality", low=0, high=100, rate=True),
        Param("speed", "int", 6, "encoder speed, 0 slowest .. 10 fastest (Pillow default 6)", low=0, high=10),
        Param("subsampling", "str", "4:2:0", "chroma subsampling", choices=("4:4:4", "4:2:2", "4:2:0")),
    )

    def save_options(self, image, setting):
        return {"quality": setting["quality"], "speed": setting["speed"], "subsampling": setting["subsampling"]}
