"""Metric names to implementations (one :class:`rdpbench.registry.Registry`), imported only when a
metric is used.

Built-in metrics are listed here in the order results show them, then the columns of the metric
cards (command-line tools: rdpbench.metrics.command_line); other packages add metrics through the
``rdpbench.metrics`` entry-point group (name -> ``module:Class``). Names are snake_case
column names; the command line also accepts hyphens (``ms-ssim``).
"""

from __future__ import annotations

from rdpbench.context import RunContext
from rdpbench.metrics.base import Metric
from rdpbench.metrics.command_line import card_entries
from rdpbench.registry import Registry


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


METRICS = Registry("metric", "rdpbench.metrics", normalize=_normalize, listing="rdpbench metrics",
                   plugin_base="rdpbench.metrics.base:Metric", discover=card_entries, builtin={
    "psnr": "rdpbench.metrics.distortion:PSNR",
    "ms_ssim": "rdpbench.metrics.distortion:MSSSIM",
    "psnr_y": "rdpbench.metrics.luma:PSNRY",
    "psnr_yuv": "rdpbench.metrics.luma:PSNRYUV",
    "ssim": "rdpbench.metrics.luma:SSIM",
    "ms_ssim_y": "rdpbench.metrics.luma:MSSSIMY",
    "iw_ssim": "rdpbench.metrics.iqa:IWSSIM",
    "vif": "rdpbench.metrics.iqa:VIFp",
    "vif_wavelet": "rdpbench.metrics.iqa:VIFWavelet",
    "fsim": "rdpbench.metrics.iqa:FSIM",
    "gmsd": "rdpbench.metrics.iqa:GMSD",
    "nlpd": "rdpbench.metrics.iqa:NLPD",
    "vsi": "rdpbench.metrics.iqa:VSI",
    "ssimulacra2": "rdpbench.metrics.ssimulacra2:SSIMULACRA2",
    "cvvdp": "rdpbench.metrics.cvvdp:CVVDP",
    "vmaf": "rdpbench.metrics.vmaf:VMAF",
    "vmaf_neg": "rdpbench.metrics.vmaf:VMAFNEG",
    "lpips": "rdpbench.metrics.perceptual:LPIPS",
    "dists": "rdpbench.metrics.perceptual:DISTS",
    "niqe": "rdpbench.metrics.niqe:NIQE",
    "niqe_pyiqa": "rdpbench.metrics.perceptual:NIQEPyiqa",
    "fid": "rdpbench.metrics.distribution:FID",
    "kid": "rdpbench.metrics.distribution:KID",
    "fd_dinov2": "rdpbench.metrics.distribution:FDDINOv2",
    "cmmd": "rdpbench.metrics.cmmd:CMMD",
    "precision": "rdpbench.metrics.prc:Precision",
    "recall": "rdpbench.metrics.prc:Recall",
})


def create_metric(name: str, context: RunContext) -> Metric:
    """A new instance of the metric ``name`` (hyphens allowed); UnknownNameError with a did-you-mean."""
    return METRICS.create(name, context)


def position(name: str) -> int:
    """Where the metric's columns go in results: built-ins in the order above, then plug-ins."""
    names = list(METRICS.entries())
    return names.index(name) if name in names else len(names)
