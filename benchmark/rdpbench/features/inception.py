"""torch-fidelity's ``inception-v3-compat``: the TF-Inception-v3 port FID and KID are defined on."""

from __future__ import annotations

from rdpbench.features.base import FeatureExtractor
from rdpbench.weights import load_torch_file, weights_only_everywhere

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


class InceptionV3(FeatureExtractor):
    name = "inception-v3-compat"
    dimension = 2048
    input_size = 299
    weight_files = (INCEPTION_WEIGHTS,)
    convention = ("torch-fidelity FeatureExtractorInceptionV3, pool3 features; uint8 input resized to 299 px "
                  "bilinearly as TensorFlow 1 does, then scaled to -1..1 inside the network")

    def build(self):
        """torch-fidelity's extractor built around the state dict rdpbench loaded (weights_only=True):
        given a path it would unpickle the file with weights_only=False, so it is given none and its
        download function returns the loaded state instead."""
        from unittest import mock

        from torch_fidelity import feature_extractor_inceptionv3 as fidelity

        state = load_torch_file(self.context.weights.read(INCEPTION_WEIGHTS))
        with mock.patch.object(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: state), \
                weights_only_everywhere():
            network = fidelity.FeatureExtractorInceptionV3(self.name, ["2048"])
        network = network.to(self.context.device)
        return lambda batch: network(batch)[0]
