"""Stand-in weight files: seeded random networks saved under the upstream canonical file names.

No real Inception, AlexNet or VGG weights exist on these machines; the project's code and the
reference libraries load these stand-ins through the same paths as the real files, so comparisons
between them are meaningful. Stand-ins never match the canonical hash prefixes: runs that use them
need ``--allow-unverified-weights``.
"""

from __future__ import annotations

from pathlib import Path

import torch


def _save(state: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def inception(folder: Path, seed: int = 0) -> Path:
    """torch-fidelity's Inception-v3 with kaiming-normal convolutions (its default init is degenerate:
    all features nearly equal, FID = 0)."""
    import torch_fidelity.feature_extractor_inceptionv3 as module

    original_loader, original_load = module.load_state_dict_from_url, module.FeatureExtractorInceptionV3.load_state_dict
    module.load_state_dict_from_url = lambda *args, **kwargs: {}
    module.FeatureExtractorInceptionV3.load_state_dict = lambda self, state, *a, **k: None
    try:
        torch.manual_seed(seed)
        model = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        module.load_state_dict_from_url, module.FeatureExtractorInceptionV3.load_state_dict = original_loader, original_load
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight)
    return _save(model.state_dict(), folder / "weights-inception-2015-12-05-6726825d.pth")


def _features_only(state: dict) -> dict:
    """The classifier of torchvision's AlexNet/VGG (unused by LPIPS and DISTS, most of the
    parameters) as broadcast constants, so the file stays small and still loads strictly."""
    return {k: torch.zeros(1).expand(v.shape) if k.startswith("classifier") else v for k, v in state.items()}


def alexnet(folder: Path, seed: int = 0) -> Path:
    import torchvision

    torch.manual_seed(seed)
    return _save(_features_only(torchvision.models.alexnet().state_dict()), folder / "alexnet-owt-7be5be79.pth")


def vgg16(folder: Path, seed: int = 0) -> Path:
    import torchvision

    torch.manual_seed(seed)
    return _save(_features_only(torchvision.models.vgg16().state_dict()), folder / "vgg16-397923af.pth")


def dists(folder: Path, vgg_file: Path, seed: int = 0) -> Path:
    """pyiqa's DISTS file: its ``alpha`` and ``beta`` (1, 1475, 1, 1), as in the DISTS release's
    weights.pt (about 12 KB; the VGG stages come from the VGG-16 file), drawn as pyiqa initialises them."""
    from rdpbench.metrics.perceptual import build_dists

    torch.manual_seed(seed)
    model = build_dists(torch.load(vgg_file, weights_only=True), None)
    return _save({"alpha": model.alpha.detach(), "beta": model.beta.detach()}, folder / "DISTS_weights-f5e65c96.pth")


def torch_home_with(folder: Path, files: list[Path]) -> Path:
    """A TORCH_HOME whose hub/checkpoints holds links to ``files`` (for the reference libraries)."""
    checkpoints = folder / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    for file in files:
        (checkpoints / file.name).symlink_to(file)
    return folder


def compressai_zoo(folder: Path, architecture: str, quality: int, metric: str = "mse", seed: int = 0) -> Path:
    """A random CompressAI zoo model (updated CDFs) under the zoo's canonical file name."""
    from compressai.zoo.image import _load_model, model_urls

    torch.manual_seed(seed)
    model = _load_model(architecture, metric, quality, pretrained=False)
    model.update(force=True)
    return _save(model.state_dict(), folder / model_urls[architecture][metric][quality].rsplit("/", 1)[1])


def hific(folder: Path, name: str, residual_blocks: int = 1, seed: int = 0, like: Path | None = None) -> Path:
    """A random NeuralCompression HiFiCAutoencoder saved as ``name`` (a plain state dict, as the
    published checkpoints are). Fewer residual blocks than the published 9 keep the file small; the
    loaders read the count from the checkpoint. ``like``: copy every non-decoder tensor from that
    checkpoint (a second decoder sharing encoder and entropy model, for network interpolation)."""
    from neuralcompression.models import HiFiCAutoencoder

    torch.manual_seed(seed)
    model = HiFiCAutoencoder(num_residual_blocks=residual_blocks)
    for module in model.modules():  # ChannelNorm's gamma=1, beta=0 init hides mistakes: randomise them
        if hasattr(module, "gamma") and hasattr(module, "beta"):
            torch.nn.init.normal_(module.gamma, 1.0, 0.2)
            torch.nn.init.normal_(module.beta, 0.0, 0.2)
    state = model.state_dict()
    if like is not None:
        shared = torch.load(like, weights_only=True)
        state = {k: v if k.startswith("decoder.") else shared[k] for k, v in state.items()}
    return _save(state, folder / name)


def niqe(folder: Path, seed: int = 0) -> Path:
    """NIQE model parameters (pyiqa's ``mu_prisparam`` (1, 36), ``cov_prisparam`` (36, 36)): a random
    mean and a random symmetric positive definite covariance."""
    import numpy as np
    import scipy.io

    generator = np.random.default_rng(seed)
    factor = generator.normal(size=(36, 36))
    path = folder / "niqe_modelparameters.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"mu_prisparam": generator.normal(size=(1, 36)),
                            "cov_prisparam": factor @ factor.T / 36 + np.eye(36)})
    return path


def _randomise_norms(model: torch.nn.Module) -> None:
    """LayerNorm weight 1 / bias 0 and equal layer scales would hide swapped or missing tensors."""
    for name, parameter in model.named_parameters():
        if "norm" in name or name.endswith("gamma") or name.startswith("ln_"):
            torch.nn.init.normal_(parameter, 1.0 if name.endswith(("weight", "gamma")) else 0.0, 0.2)


def dinov2_vitl14(folder: Path, depth: int = 1, seed: int = 0) -> Path:
    """A DINOv2 ViT-L/14 checkpoint as Meta publishes it (its parameter names, width 1024, 16 heads,
    518 px = 37x37 position grid, ``mask_token``) with only ``depth`` of the 24 blocks: the
    extractor reads the depth from the file, so one block tests every code path in ~60 MB."""
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    model = VisionTransformer(img_size=518, patch_size=14, embed_dim=1024, depth=depth, num_heads=16,
                              init_values=1.0, num_classes=0)
    _randomise_norms(model)
    torch.nn.init.normal_(model.cls_token, 0.0, 1.0)
    state = {**model.state_dict(), "mask_token": torch.zeros(1, 1024)}
    return _save(state, folder / "dinov2_vitl14_pretrain.pth")


def clip_vit_l14_336px(folder: Path, layers: int = 1, seed: int = 0) -> Path:
    """OpenAI's ViT-L-14-336px.pt format: a TorchScript archive of a module holding ``visual``
    (torch-fidelity's port of OpenAI's VisionTransformer: 336 px, patch 14, width 1024, 768-d
    output) and text-tower tensors that the loader drops (``text_projection``, ``logit_scale``,
    ``ln_final``), half-precision weights as OpenAI stores them; only ``layers`` of the 24 blocks
    (torch-fidelity reads the depth from the file). Saved under torch-fidelity's cache name."""
    from torch_fidelity.feature_extractor_clip import LayerNorm, VisionTransformer, convert_weights

    class CLIP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = VisionTransformer(336, 14, 1024, layers, 16, 768)
            self.text_projection = torch.nn.Parameter(torch.randn(768, 768) / 768 ** 0.5)
            self.logit_scale = torch.nn.Parameter(torch.tensor(4.6052))
            self.ln_final = LayerNorm(768)

        def forward(self, image):
            return self.visual(image) @ self.text_projection.float()

    torch.manual_seed(seed)
    model = CLIP()
    _randomise_norms(model)
    convert_weights(model)
    half = {name for name, parameter in model.named_parameters() if parameter.dtype == torch.float16}
    model = model.float()  # traced in float32, then stored in half precision where OpenAI's file is
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.trace(model, torch.zeros(1, 3, 336, 336))
        for name, parameter in scripted.named_parameters():
            if name in half:
                parameter.data = parameter.data.half()
        path = folder / "clip-vit-l-14-336px-3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.jit.save(scripted, str(path))
    return path
