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
    """pyiqa's DISTS (alpha, beta and its VGG stages) built on the VGG stand-in."""
    from pyiqa.archs.dists_arch import DISTS

    from rdpbench.weights import LocatedWeight, torch_hub_with

    torch.manual_seed(seed)
    with torch_hub_with([LocatedWeight(vgg_file.name, vgg_file, "", False)]):
        model = DISTS(pretrained=False)
    return _save(model.state_dict(), folder / "DISTS_weights-f5e65c96.pth")


def torch_home_with(folder: Path, files: list[Path]) -> Path:
    """A TORCH_HOME whose hub/checkpoints holds links to ``files`` (for the reference libraries)."""
    checkpoints = folder / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    for file in files:
        (checkpoints / file.name).symlink_to(file)
    return folder
