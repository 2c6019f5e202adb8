"""HEVC intra (HEIC) through pillow-heif's libheif + x265: BPG's coding tools without bpgenc.

Defaults to 4:4:4 chroma like the BPG setting of CompressAI and HiFiC; HEIF container overhead
(a few hundred bytes) is part of the rate, as the file is what a user would store.
"""

from rdpbench.codecs.api import Param
from rdpbench.codecs.pillow import PillowCodec


def _pillow_heif():
    """Import pillow-heif and register its Pillow opener (idempotent)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    return pillow_heif


class HEIC(PillowCodec):
    name = "heic"
    description = "HEIC (HEVC intra, x265) via pillow-heif/libheif"
    defaults_note = ("4:4:4 chroma, x265 through libheif's defaults: the chroma format of BPG in CompressAI's and "
                     "HiFiC's comparisons (bpgenc -f 444 -e x265); not byte-identical to bpgenc")
    pillow_format = "HEIF"
    install_hint = "pip install pillow-heif"
    params = (
        Param("quality", "int", 50, "libheif quality (x265 QP is derived from it)", low=0, high=100, rate=True),
        Param("chroma", "str", "444", "chroma subsampling", choices=("444", "422", "420")),
    )

    def unavailable_reason(self):
        try:
            encoders = _pillow_heif().libheif_info().get("encoders", {})
        except ImportError:
            return "pillow-heif is not installed"
        return None if "x265" in encoders else "this pillow-heif has no x265 HEVC encoder"

    def version(self):
        heif = _pillow_heif()
        info = heif.libheif_info()
        return f"pillow-heif {heif.__version__}, libheif {info.get('libheif')}, {info.get('HEIF')}"

    def save_options(self, image, setting):
        _pillow_heif()
        return {"quality": setting["quality"], "chroma": int(setting["chroma"])}

    def decode(self, data, setting):
        _pillow_heif()
        return super().decode(data, setting)
