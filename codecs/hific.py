"""HiFiC-architecture generative codecs (rdpbench.learned.hific) from NeuralCompression's checkpoints.

Knob ``checkpoint``: a registered name or a path to a state-dict file. Registered names are
NeuralCompression's torch.hub entries: ``msillm_quality_1..6`` (MS-ILLM, GAN-trained) and
``noganms_quality_1..6`` (the same architecture trained without GAN, the MSE-like baseline), with
rate targets 0.035, 0.07, 0.14, 0.3, 0.45, 0.9 bpp; HiFiC Lo/Mi/Hi are the 0.14/0.30/0.45 targets
(quality 3/4/5). Files (CC-BY-NC 4.0) are found by their canonical names through rdpbench.weights.
No hash is published for them: runs record them as unverified with their sha256.

Memory: the generator runs on the whole latent; a 2048x1365 image needs about 6 GB of activations
on CPU (fp32). Larger images should be tiled outside rdpbench (tiling changes the bitstream).
"""

from functools import lru_cache
from pathlib import Path

from rdpbench.codec_api import Codec, CodecError, Param
from rdpbench.learned import stream
from rdpbench.learned.checkpoints import load_state_dict
from rdpbench.learned.tensors import to_tensor, to_uint8
from rdpbench.weights import WeightFile, register

TARGETS = ("0.035", "0.07", "0.14", "0.3", "0.45", "0.9")
BASE_URL = "https://dl.fbaipublicfiles.com/NeuralCompression/2023-muckley-msillm/"
CHECKPOINTS = {f"{family}_quality_{quality}": f"{family}_target_{target}bpp.ckpt"
               for family in ("msillm", "noganms") for quality, target in enumerate(TARGETS, start=1)}
for _name, _file in CHECKPOINTS.items():
    register(WeightFile(_file, BASE_URL + _file, f"hific checkpoint={_name}"))


def checkpoint_file(name: str) -> str | None:
    """Canonical weight-file name of a registered checkpoint, None for a path."""
    return CHECKPOINTS.get(name)


class HiFiCCodec(Codec):
    name = "hific"
    description = "HiFiC architecture (mean-scale hyperprior, GAN generator), NeuralCompression checkpoints"
    params = (
        Param("checkpoint", "str", "msillm_quality_3", "registered name (msillm_quality_1..6, "
              "noganms_quality_1..6) or path to a state-dict file", rate=True),
    )

    def version(self):
        from importlib.metadata import version

        return f"rdpbench HiFiC, compressai {version('compressai')} entropy models"

    def weight_names(self, setting):
        file = checkpoint_file(setting["checkpoint"])
        return [file] if file else []

    def state_dict(self, checkpoint: str) -> dict:
        file = checkpoint_file(checkpoint)
        if file:
            return load_state_dict(self.weights.locate(file).path)
        if not Path(checkpoint).is_file():
            raise CodecError(f"checkpoint {checkpoint!r} is neither a registered name "
                             f"({', '.join(CHECKPOINTS)}) nor an existing file")
        return load_state_dict(checkpoint)

    @lru_cache(maxsize=2)  # one model per setting, not per image
    def model(self, checkpoint: str, device: str):
        from rdpbench.learned.hific import HiFiC

        return HiFiC.from_state_dict(self.state_dict(checkpoint)).prepare(device)

    def encode(self, image, setting):
        strings, (height, width) = self.model(setting["checkpoint"], self.device).compress(to_tensor(image, self.device))
        return stream.pack(height, width, strings)

    def decode(self, data, setting):
        try:
            height, width, strings = stream.unpack(data)
        except stream.StreamError as error:
            raise CodecError(str(error)) from error
        return to_uint8(self.model(setting["checkpoint"], self.device).decompress(strings, (height, width)))
