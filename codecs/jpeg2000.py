"""JPEG 2000 (irreversible 9/7 wavelet) through Pillow's OpenJPEG, rate set by compression ratio.

The colour transform is on by default (``mct=1``: OpenJPEG's irreversible YCbCr transform before the
wavelet). Without it the three RGB planes are coded independently and Kodak PSNR drops by 3-4 dB at
0.5-1 bpp, ranking JPEG 2000 below JPEG. CompressAI's published Kodak JPEG 2000 table (ffmpeg's
libopenjpeg on yuv444p, ``-compression_level`` = ratio 10..190) also codes luma and chroma, not RGB;
tests/test_calibration_kodak.py checks this adapter against that table at equal bpp.
"""

from rdpbench.codec_api import Param
from rdpbench.pillow_codec import PillowCodec


class JPEG2000(PillowCodec):
    name = "jpeg2000"
    description = "JPEG 2000 codestream (lossy, 9/7 wavelet) via Pillow/OpenJPEG"
    defaults_note = ("colour transform on (mct=1), one quality layer, no tiling: CompressAI's Kodak JPEG 2000 "
                     "table (ffmpeg libopenjpeg, yuv444p, -compression_level = ratio)")
    pillow_format = "JPEG2000"
    pillow_feature = "jpg_2000"
    params = (
        Param("ratio", "float", 40.0, "compression ratio against 24-bit RGB (bpp = 24 / ratio, approx.)",
              low=1.0, high=10000.0, rate=True),
        Param("mct", "int", 1, "multiple component (RGB -> YCbCr) transform: 1 on (default), 0 codes R, G, B apart",
              low=0, high=1),
    )

    def save_options(self, image, setting):
        return {"quality_mode": "rates", "quality_layers": [setting["ratio"]], "irreversible": True,
                "mct": setting["mct"], "no_jp2": True}
