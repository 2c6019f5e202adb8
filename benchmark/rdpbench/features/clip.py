"""CLIP ViT-L/14 at 336 px (Radford et al. 2021) image embeddings, as CMMD (Jayasumana et al.,
CVPR 2024) computes them.

CMMD's reference (google-research ``cmmd``) reads each image with Pillow, centre-crops it to a
square and resizes it to 336 px with ``Image.BICUBIC`` (``io_util._center_crop_and_resize``,
antialiased when shrinking, rounded to uint8), divides by 255, normalises with CLIP's mean
(0.48145466, 0.4578275, 0.40821073) and std (0.26862954, 0.26130258, 0.27577711) and takes the
projected image embedding of OpenAI's ViT-L/14-336px (768-d). Patches are square, so the crop is
a no-op; this extractor does the rest the same way (rdpbench.features.preprocessing). The
embeddings are returned as the network gives them; CMMD normalises them to unit length.

The network is torch-fidelity 0.4's port of OpenAI's visual tower (``feature_extractor_clip.build_model``,
architecture read from the checkpoint), on the state dict rdpbench reads itself from OpenAI's
TorchScript file (rdpbench.weights.load_torchscript_tensors: no TorchScript, no code run).
torch-fidelity's own ``FeatureExtractorCLIP.forward`` is not used: it resizes TensorFlow-1-style
bilinearly without antialiasing (``interpolate_bilinear_2d_like_tensorflow1x``), which changes the
values against CMMD's bicubic resize.
"""

from __future__ import annotations

from rdpbench.features.base import FeatureExtractor
from rdpbench.features.preprocessing import pil_bicubic
from rdpbench.weights import load_torchscript_tensors

CLIP_SHA256 = "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02"
CLIP_WEIGHTS = f"clip-vit-l-14-336px-{CLIP_SHA256}.pt"  # torch-fidelity's name in the torch hub cache
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CLIPViTL14336(FeatureExtractor):
    name = "clip-vit-l-14-336px"
    dimension = 768
    input_size = 336
    weight_files = (CLIP_WEIGHTS,)
    batch_size = 8  # activations of 32 patches at 336 px peak at about 1.2 GB on CPU; 8 at about 0.35 GB
    convention = ("OpenAI CLIP ViT-L/14-336px projected image embedding (not normalised), as CMMD's reference: "
                  "uint8 patch resized to 336 px by Pillow bicubic, /255, CLIP mean/std; torch-fidelity's "
                  "port of the visual tower")

    def build(self):
        import torch
        from torch_fidelity.feature_extractor_clip import build_model

        state = load_torchscript_tensors(self.context.weights.read(CLIP_WEIGHTS))
        network = build_model(state, torch.float32).visual
        if network.output_dim != self.dimension or network.input_resolution != self.input_size:
            raise ValueError(f"{CLIP_WEIGHTS} holds a {network.input_resolution} px, {network.output_dim}-d CLIP, "
                             f"not ViT-L/14-336px; replace it with the upstream file")
        network = network.to(self.context.device)
        device = self.context.device
        return lambda batch: network(pil_bicubic(batch, self.input_size, CLIP_MEAN, CLIP_STD).to(device))
