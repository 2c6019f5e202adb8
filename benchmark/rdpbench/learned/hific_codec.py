"""Codec-adapter plumbing shared by the ``hific`` and ``interp`` codecs (codecs/hific.py, codecs/interp.py).

Registered checkpoints are NeuralCompression's torch.hub entries: ``msillm_quality_1..6`` (MS-ILLM,
GAN-trained) and ``noganms_quality_1..6`` (the same architecture trained without GAN), rate targets
0.035, 0.07, 0.14, 0.3, 0.45, 0.9 bpp; HiFiC Lo/Mi/Hi are the 0.14/0.30/0.45 targets (quality 3/4/5).
Files (CC-BY-NC 4.0) are found by their canonical names through rdpbench.weights. No hash is
published for them: runs record them as unverified, with their sha256, in the provenance.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from rdpbench.codecs.api import Codec, CodecError
from rdpbench.learned import stream
from rdpbench.learned.checkpoints import load_state_dict
from rdpbench.learned.tensors import to_tensor, to_uint8
from rdpbench.weights import WeightFile, register

TARGETS = ("0.035", "0.07", "0.14", "0.3", "0.45", "0.9")
BASE_URL = "https://dl.fbaipublicfiles.com/NeuralCompression/2023-muckley-msillm/"
CHECKPOINTS = {f"{family}_quality_{quality}": f"{family}_target_{target}bpp.ckpt"
               for family in ("msillm", "noganms") for quality, target in enumerate(TARGETS, start=1)}
CHECKPOINT_BYTES = 725_924_440  # float32 state dict of rdpbench.learned.hific.HiFiC (181.5 M values), counted
for _name, _file in CHECKPOINTS.items():
    register(WeightFile(_file, BASE_URL + _file, f"hific checkpoint={_name}", size=CHECKPOINT_BYTES))


class HiFiCAdapter(Codec):
    """Encode/decode with a HiFiC model chosen by :meth:`model_for` (one model per setting)."""

    def version(self):
        return f"rdpbench HiFiC, compressai {version('compressai')} entropy models"

    @staticmethod
    def checkpoint_files(*checkpoints: str) -> list[str]:
        """Canonical weight-file names of the registered checkpoints among ``checkpoints`` (paths need none)."""
        return [CHECKPOINTS[c] for c in checkpoints if c in CHECKPOINTS]

    def state_dict(self, checkpoint: str) -> dict:
        if checkpoint in CHECKPOINTS:
            return load_state_dict(self.context.weights.read(CHECKPOINTS[checkpoint]))
        if not Path(checkpoint).is_file():
            raise CodecError(f"checkpoint {checkpoint!r} is neither a registered name "
                             f"({', '.join(CHECKPOINTS)}) nor an existing file")
        return load_state_dict(checkpoint)

    @lru_cache(maxsize=2)  # one model per setting, not per image
    def model(self, checkpoint: str, device: str):
        from rdpbench.learned.hific import HiFiC

        return HiFiC.from_state_dict(self.state_dict(checkpoint)).prepare(device)

    def model_for(self, setting):
        raise NotImplementedError

    def encode(self, image, setting):
        strings, (height, width) = self.model_for(setting).compress(to_tensor(image, self.context.device))
        return stream.pack(height, width, strings)

    def decode(self, data, setting):
        try:
            height, width, strings = stream.unpack(data)
        except stream.StreamError as error:
            raise CodecError(str(error)) from error
        return to_uint8(self.model_for(setting).decompress(strings, (height, width)))
