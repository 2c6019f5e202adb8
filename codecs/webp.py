"""WebP (lossy, VP8 intra) through Pillow's libwebp, with Pillow's defaults as CompressAI used them."""

from rdpbench.codecs.api import Param
from rdpbench.codecs.pillow import PillowCodec


class WebP(PillowCodec):
    name = "webp"
    description = "WebP lossy via Pillow/libwebp"
    defaults_note = ("lossy, method 4, libwebp's 4:2:0: Pillow's defaults, as in CompressAI's Kodak WebP table "
                     "(`compressai.utils.bench webp`)")
    pillow_format = "WEBP"
    pillow_feature = "webp"
    params = (
        Param("quality", "int", 75, "libwebp quality", low=0, high=100, rate=True),
        Param("method", "int", 4, "speed/size trade-off, 0 fast .. 6 slow (Pillow default 4)", low=0, high=6),
    )

    def save_options(self, image, setting):
        return {"quality": setting["quality"], "method": setting["method"], "lossless": False}
