"""Learned per-image metrics: LPIPS (lpips package), DISTS and pyiqa's NIQE, on their official weights.

Networks load on first use from files located by rdpbench.weights (never downloaded here). The
libraries' own loaders unpickle with ``weights_only=False`` (torchvision through torch.hub, pyiqa's
``load_pretrained_network``, lpips' linear layers), so the models are built *empty* and rdpbench
hands them state dicts it loaded itself with ``weights_only=True`` (rdpbench.weights.load_torch_file).
"""

from __future__ import annotations

import io
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

from rdpbench.columns import Column
from rdpbench.metrics.base import NoReferenceMetric, PairedMetric, image_tensor
from rdpbench.tasks import MetricValue
from rdpbench.weights import LocatedWeight, load_torch_file, read_verified, weights_only_everywhere

_BACKBONES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def _slices_from_features(module, features: dict) -> dict:
    """lpips and pyiqa keep torchvision's ``features`` layers under their own slice names with the
    original index (``slice2.4.weight`` / ``stage2.5.weight`` is ``features.4`` / ``features.5``):
    the state dict of ``module``'s torchvision layers taken from a torchvision ``features`` dict."""
    names = {key: "features." + key.split(".", 1)[-1] for key in module.state_dict() if "." in key}
    return {key: features[name] for key, name in names.items() if name in features}


def build_lpips(net: str, backbone: dict):
    """lpips.LPIPS v0.1 with the torchvision ``backbone`` state dict and the linear layers the lpips
    package ships (``lpips/weights/v0.1/<net>.pth``), both loaded with weights_only=True."""
    import lpips
    import torch

    with weights_only_everywhere():
        model = lpips.LPIPS(net=net, version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    model.net.load_state_dict(_slices_from_features(model.net, backbone))
    linear_file = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    linear = torch.load(linear_file, map_location="cpu", weights_only=True)
    needed = {key for key in model.state_dict() if key.startswith("lin") and not key.startswith("lins.")}
    _, unexpected = model.load_state_dict(linear, strict=False)  # the rest: backbone, constants
    if unexpected or not needed <= set(linear):
        raise RuntimeError(f"{linear_file} does not fit lpips {net}: needs {sorted(needed)}, has {sorted(linear)}")
    return model.eval()


def build_dists(vgg: dict, dists: dict | None):
    """pyiqa's DISTS with the torchvision VGG-16 state dict ``vgg`` in its stages, then pyiqa's
    DISTS file ``dists`` (alpha, beta; loaded non-strictly over it, as pyiqa does). pyiqa's
    constructor asks torchvision for ImageNet weights; it is given an empty VGG-16 instead."""
    from unittest import mock

    import torchvision
    from pyiqa.archs import dists_arch
    from pyiqa.archs.arch_util import clean_state_dict

    empty = type("EmptyTorchvision", (), {"vgg16": staticmethod(lambda **_: torchvision.models.vgg16(weights=None))})
    with mock.patch.object(dists_arch, "models", empty), weights_only_everywhere():
        model = dists_arch.DISTS(pretrained=False)
    stages = _slices_from_features(model, vgg)
    missing, unexpected = model.load_state_dict(stages, strict=False)
    if len(stages) != 26 or unexpected:  # VGG-16's 13 convolutions, weight and bias
        raise RuntimeError(f"the VGG-16 file does not fit DISTS ({len(stages)} tensors, unexpected {unexpected})")
    if dists is not None:
        model.load_state_dict(clean_state_dict(dists), strict=False)
    return model.eval()


class LPIPS(PairedMetric):
    """LPIPS v0.1 (Zhang et al. 2018) by the ``lpips`` package: AlexNet backbone by default
    (``--option lpips.net=vgg`` for VGG-16), inputs scaled to [-1, 1], whole image, lower is better."""

    name = "lpips"
    columns = (Column("lpips", "LPIPS", higher_is_better=False, decimals=4),)
    group = "perceptual (full-reference)"
    defaults = {"net": "alex"}

    def memory_factor(self):
        return 1100 if self.settings["net"] == "vgg" else 120  # measured 849 and 93 (rdpbench.memory)

    def weight_names(self):
        if self.settings["net"] not in _BACKBONES:
            raise ValueError(f"lpips: net must be one of {', '.join(_BACKBONES)}")
        return [_BACKBONES[self.settings["net"]]]

    def describe(self):
        return f"lpips {version('lpips')}, net={self.settings['net']}, version 0.1, inputs in [-1, 1], full image"

    @cached_property
    def model(self):
        backbone: LocatedWeight = self.context.weights.read(self.weight_names()[0])
        return build_lpips(self.settings["net"], load_torch_file(backbone)).to(self.context.device)

    def compute(self, reference, reconstruction):
        import torch

        device = self.context.device
        with torch.no_grad():
            value = self.model(image_tensor(reference, device, "-1..1"), image_tensor(reconstruction, device, "-1..1"))
        return MetricValue(float(value))


class DISTS(PairedMetric):
    """DISTS (Ding et al. 2020) by pyiqa's implementation with its official weights; inputs in [0, 1]."""

    name = "dists"
    columns = (Column("dists", "DISTS", higher_is_better=False, decimals=4),)
    group = "perceptual (full-reference)"

    def memory_factor(self):
        return 700  # measured 557 (rdpbench.memory)

    def weight_names(self):
        return ["vgg16-397923af.pth", "DISTS_weights-f5e65c96.pth"]

    def describe(self):
        return f"pyiqa {version('pyiqa')} DISTS, VGG-16 backbone, inputs in [0, 1]"

    @cached_property
    def model(self):
        vgg, dists = (load_torch_file(self.context.weights.read(name)) for name in self.weight_names())
        return build_dists(vgg, dists).to(self.context.device)

    def compute(self, reference, reconstruction):
        import torch

        device = self.context.device
        with torch.no_grad():
            value = self.model(image_tensor(reconstruction, device), image_tensor(reference, device))
        return MetricValue(float(value))


class NIQEPyiqa(NoReferenceMetric):
    """NIQE (Mittal et al. 2013) by pyiqa's ``niqe`` metric with the official LIVE model parameters
    (``niqe_modelparameters.mat``), on the YIQ luma (0.299, 0.587, 0.114) rounded to whole numbers
    (pyiqa's convention); lower is better. This was rdpbench's ``niqe`` until ``niqe`` followed LIVE's
    niqe.m (rdpbench.metrics.niqe): they are up to 5% apart (pyiqa's calibration image I19)."""

    name = "niqe_pyiqa"
    columns = (Column("niqe_pyiqa", "NIQE (pyiqa)", higher_is_better=False, decimals=3),)
    group = "no-reference"

    def memory_factor(self):
        return 185  # measured 146 (rdpbench.memory)

    def weight_names(self):
        return ["niqe_modelparameters.mat"]

    def describe(self):
        return f"pyiqa {version('pyiqa')} niqe, niqe_modelparameters.mat (LIVE), YIQ Y rounded, inputs in [0, 1]"

    @cached_property
    def model(self):
        import pyiqa

        # scipy.io.loadmat reads the very bytes that were hashed (never the path again): no pickle involved
        parameters = io.BytesIO(read_verified(self.context.weights.read("niqe_modelparameters.mat")))
        with weights_only_everywhere():
            return pyiqa.create_metric("niqe", device=self.context.device, pretrained_model_path=parameters)

    def compute(self, image):
        import torch

        with torch.no_grad():
            value = self.model(image_tensor(image, self.context.device))
        return MetricValue(float(value))
