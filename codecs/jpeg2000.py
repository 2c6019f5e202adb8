"""JPEG 2000 (irreversible 9/7 wavelet) through Pillow's OpenJPEG, rate set by compression ratio."""

from rdpbench.codec_api import Param
from rdpbench.pillow_codec import PillowCodec


class JPEG2000(PillowCodec):
    name = "jpeg2000"
    description = "JPEG 2000 codestream (lossy, 9/7 wavelet) via Pillow/OpenJPEG"
    pillow_format = "JPEG2000"
    pillow_feature = "jpg_2000"
    params = (
        Param("ratio", "float", 40.0, "compression ratio against 24-bit RGB (bpp = 24 / ratio, approx.)",
              low=1.0, high=10000.0, rate=True),
    )

    def save_options(self, image, setting):
        return {"quality_mode": "rates", "quality_layers": [setting["ratio"]], "irreversible": True,
                "no_jp2": True}
