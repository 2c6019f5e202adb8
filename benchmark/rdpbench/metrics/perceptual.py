"""Learned per-image metrics: LPIPS (lpips package), DISTS and NIQE (pyiqa), on their official weights.

Networks load on first use from files located by rdpbench.weights (never downloaded here).
"""

from __future__ import annotations

from functools import cached_property
from importlib.metadata import version

from rdpbench.metrics.base import MetricValue, NoReferenceMetric, PairedMetric, image_tensor
from rdpbench.weights import torch_hub_with

_BACKBONES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


class LPIPS(PairedMetric):
    """LPIPS v0.1 (Zhang et al. 2018) by the ``lpips`` package: AlexNet backbone by default
    (``--option lpips.net=vgg`` for VGG-16), inputs scaled to [-1, 1], whole image, lower is better."""

    name = "lpips"
    higher_is_better = False
    defaults = {"net": "alex"}

    def weight_names(self):
        if self.settings["net"] not in _BACKBONES:
            raise ValueError(f"lpips: net must be one of {', '.join(_BACKBONES)}")
        return [_BACKBONES[self.settings["net"]]]

    def describe(self):
        return f"lpips {version('lpips')}, net={self.settings['net']}, version 0.1, inputs in [-1, 1], full image"

    @cached_property
    def model(self):
        import lpips

        located = [self.context.weights.locate(name) for name in self.weight_names()]
        with torch_hub_with(located):  # torchvision finds the backbone by its canonical name
            model = lpips.LPIPS(net=self.settings["net"], version="0.1", verbose=False)
        return model.eval().to(self.context.device)

    def compute(self, reference, reconstruction):
        import torch

        device = self.context.device
        with torch.no_grad():
            value = self.model(image_tensor(reference, device, "-1..1"), image_tensor(reconstruction, device, "-1..1"))
        return MetricValue(float(value))


class DISTS(PairedMetric):
    """DISTS (Ding et al. 2020) by pyiqa's implementation with its official weights; inputs in [0, 1]."""

    name = "dists"
    higher_is_better = False

    def weight_names(self):
        return ["vgg16-397923af.pth", "DISTS_weights-f5e65c96.pth"]

    def describe(self):
        return f"pyiqa {version('pyiqa')} DISTS, VGG-16 backbone, inputs in [0, 1]"

    @cached_property
    def model(self):
        from pyiqa.archs.dists_arch import DISTS as PyiqaDISTS

        vgg, dists = (self.context.weights.locate(name) for name in self.weight_names())
        with torch_hub_with([vgg]):
            model = PyiqaDISTS(pretrained_model_path=str(dists.path))
        return model.eval().to(self.context.device)

    def compute(self, reference, reconstruction):
        import torch

        device = self.context.device
        with torch.no_grad():
            value = self.model(image_tensor(reconstruction, device), image_tensor(reference, device))
        return MetricValue(float(value))


class NIQE(NoReferenceMetric):
    """NIQE (Mittal et al. 2013) by pyiqa's ``niqe`` metric with the official LIVE model parameters
    (``niqe_modelparameters.mat``), computed on the Y channel; lower is better."""

    name = "niqe"
    higher_is_better = False

    def weight_names(self):
        return ["niqe_modelparameters.mat"]

    def describe(self):
        return f"pyiqa {version('pyiqa')} niqe, niqe_modelparameters.mat (LIVE), Y channel, inputs in [0, 1]"

    @cached_property
    def model(self):
        import pyiqa

        path = self.context.weights.locate("niqe_modelparameters.mat").path
        return pyiqa.create_metric("niqe", device=self.context.device, pretrained_model_path=str(path))

    def compute(self, image):
        import torch

        with torch.no_grad():
            value = self.model(image_tensor(image, self.context.device))
        return MetricValue(float(value))
