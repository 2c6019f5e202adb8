"""JPEG 2000 through Pillow's OpenJPEG, rate set by compression ratio.

Defaults: the lossy 9/7 wavelet with the colour transform on (``mct=1``: OpenJPEG's YCbCr transform
before the wavelet), one quality layer, no tiling. Without the colour transform the three RGB planes
are coded independently and Kodak PSNR drops by 3-4 dB at 0.5-1 bpp, ranking JPEG 2000 below JPEG.

CompressAI's published Kodak JPEG 2000 table comes from ffmpeg's libopenjpeg wrapper
(``-pix_fmt yuv444p -compression_level N``), which codes 8-bit limited-range YCbCr with OpenJPEG's
default *reversible* 5/3 wavelet: at equal bpp it is 0.8-1.5 dB below this adapter's defaults, and
``wavelet=5-3`` comes within 0.7 dB of it (tests/test_calibration_kodak.py states the measured bands).
"""

from rdpbench.codecs.api import Param
from rdpbench.codecs.pillow import PillowCodec


class JPEG2000(PillowCodec):
    name = "jpeg2000"
    description = "JPEG 2000 codestream via Pillow/OpenJPEG"
    defaults_note = ("9/7 wavelet, colour transform on (mct=1), one layer: the lossy path of JPEG 2000 Part 1; "
                     "0.8-1.5 dB above CompressAI's Kodak table (ffmpeg libopenjpeg, yuv444p, reversible 5/3), "
                     "which wavelet=5-3 approaches within 0.7 dB")
    pillow_format = "JPEG2000"
    pillow_feature = "jpg_2000"
    params = (
        Param("ratio", "float", 40.0, "compression ratio against 24-bit RGB (bpp = 24 / ratio, approx.)",
              low=1.0, high=10000.0, rate=True),
        Param("mct", "int", 1, "multiple component (RGB -> YCbCr) transform: 1 on (default), 0 codes R, G, B apart",
              low=0, high=1),
        Param("wavelet", "str", "9-7", "9/7 (irreversible, lossy; default) or 5/3 (reversible, ffmpeg's default)",
              choices=("9-7", "5-3")),
    )

    def save_options(self, image, setting):
        return {"quality_mode": "rates", "quality_layers": [setting["ratio"]], "mct": setting["mct"],
                "irreversible": setting["wavelet"] == "9-7", "no_jp2": True}
