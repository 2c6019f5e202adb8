"""HiFiC-architecture generative codec (Mentzer et al. 2020) on NeuralCompression's checkpoints.

Knob ``checkpoint``: a registered name (see rdpbench/learned/hific_codec.py: msillm_quality_1..6,
noganms_quality_1..6) or a path to a state-dict file. Architecture and bitstream: rdpbench/learned/hific.py.

Memory: the whole image goes through the networks at once (tiling would change the bitstream and is
not done): a 2048x1365 image peaks at about 4.6 GB resident on CPU (fp32, measured with the full
9-block generator), so 2 workers fit in 16 GB; use --jobs 1 on smaller machines.
"""

from rdpbench.codecs.api import Param
from rdpbench.learned.hific_codec import HiFiCAdapter


class HiFiC(HiFiCAdapter):
    name = "hific"
    description = "HiFiC architecture (mean-scale hyperprior, GAN generator), NeuralCompression checkpoints"
    defaults_note = ("msillm_quality_3 (about 0.14 bpp, HiFiC Lo's rate); NeuralCompression's MS-ILLM weights, "
                     "not the original TF HiFiC models (those run through the tfci codec)")
    params = (
        Param("checkpoint", "str", "msillm_quality_3", "registered name (msillm_quality_1..6, "
              "noganms_quality_1..6) or path to a state-dict file", rate=True),
    )

    def weight_names(self, setting):
        return self.checkpoint_files(setting["checkpoint"])

    def model_for(self, setting):
        return self.model(setting["checkpoint"], self.context.device)
