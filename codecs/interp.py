"""Network interpolation (Iwai et al. 2020) between two HiFiC-architecture checkpoints.

Two models that share encoder and entropy model (e.g. an MSE-trained decoder and a GAN-trained one)
give a family of decoders with parameters (1 - alpha) * A + alpha * B: one bitstream, a
distortion-perception knob at a fixed rate. Knob ``alpha`` (0 = A, 1 = B). If the encoders or entropy
models differ the codec refuses, unless ``interpolate=all``: then every parameter is mixed, the
encoder too, so the rate changes with alpha as well (it is no longer the paper's fixed-rate knob).
"""

from functools import lru_cache

from rdpbench.codecs.api import CodecError, Param
from rdpbench.learned.hific_codec import HiFiCAdapter


class Interpolation(HiFiCAdapter):
    name = "interp"
    description = "HiFiC decoders interpolated in parameter space (Iwai et al. 2020)"
    defaults_note = ("alpha 0.5 between noganms_quality_3 (MSE-trained) and msillm_quality_3 (GAN-trained), decoder "
                     "only: Iwai et al.'s fixed-rate distortion-perception knob on NeuralCompression's weights")
    params = (
        Param("alpha", "float", 0.5, "mixing weight: 0 gives checkpoint_a, 1 gives checkpoint_b", low=0.0, high=1.0,
              rate=True),
        Param("checkpoint_a", "str", "noganms_quality_3", "first model (registered name or path), e.g. MSE-trained"),
        Param("checkpoint_b", "str", "msillm_quality_3", "second model, e.g. GAN-trained"),
        Param("interpolate", "str", "decoder", "decoder (shared encoder required) or all", choices=("decoder", "all")),
    )

    def weight_names(self, setting):
        return self.checkpoint_files(setting["checkpoint_a"], setting["checkpoint_b"])

    @lru_cache(maxsize=2)
    def mixed_model(self, checkpoint_a: str, checkpoint_b: str, alpha: float, everything: bool, device: str):
        from rdpbench.learned.hific import HiFiC, interpolate

        try:
            state = interpolate(self.state_dict(checkpoint_a), self.state_dict(checkpoint_b), alpha, everything)
        except ValueError as error:
            raise CodecError(str(error)) from error
        return HiFiC.from_state_dict(state).prepare(device, rebuild_tables=everything)

    def model_for(self, setting):
        return self.mixed_model(setting["checkpoint_a"], setting["checkpoint_b"], setting["alpha"],
                                setting["interpolate"] == "all", self.context.device)
