"""ColorVideoVDP (Mantiuk et al., SIGGRAPH 2024) by the authors' package ``cvvdp`` (``pycvvdp``), on
an image pair as a one-frame video: the quality in JOD (just-objectionable-difference units; 10 for
identical images, higher is better) under a named display model.

The display model (``--option cvvdp.display=NAME``) says how the uint8 sRGB pixels become light and how
large they look: the package's default ``standard_4k`` is a 30-inch 4K SDR display, 200 cd/m² peak,
viewed from 60 cm in a dim room (75.4 pixels per degree); the names are those of the package's
``vvdp_data/display_models.json`` (e.g. ``standard_fhd``, ``standard_hdr_pq``).
"""

from __future__ import annotations

import importlib.util
import json
from functools import cached_property
from pathlib import Path

from rdpbench.columns import Column
from rdpbench.metrics.base import MetricOptionError, PairedMetric, Reference
from rdpbench.tasks import MetricValue

INSTALL = "pip install cvvdp==0.5.7 (the authors' package)"


def display_models() -> list[str] | None:
    """The display model names the installed package knows; None when cvvdp is not installed."""
    spec = importlib.util.find_spec("pycvvdp")
    if spec is None or not spec.origin:
        return None
    return list(json.loads((Path(spec.origin).parent / "vvdp_data" / "display_models.json").read_text()))


class CVVDP(PairedMetric):
    """ColorVideoVDP JOD by ``pycvvdp.cvvdp(display_name=display).predict(reconstruction, reference)``
    on the uint8 (H, W, 3) images (display-encoded sRGB); higher is better, at most 10."""

    name = "cvvdp"
    columns = (Column("cvvdp", "ColorVideoVDP", unit="JOD", decimals=3),)
    group = "perceptual (full-reference)"
    defaults = {"display": "standard_4k"}
    reference = Reference("the authors' cvvdp 0.5.7 package (its `cvvdp` command line)",
                          "the command line's --result JOD on the same pair (tests/test_cvvdp.py)", abs_tol=1e-5,
                          why="the same package code on the same pixels; float32 sums may differ in the last digits")

    def __init__(self, context):
        super().__init__(context)
        known = display_models()
        if known is not None and self.settings["display"] not in known:
            raise MetricOptionError(f"metric 'cvvdp' option 'display': unknown display model "
                                    f"{self.settings['display']!r}; known: {', '.join(known)}")

    def unavailable_reason(self):
        return None if display_models() is not None else f"the cvvdp package is not installed: {INSTALL}"

    def memory_factor(self):
        return 400  # float32 Laplacian pyramids of both images in several channels

    def describe(self):
        from importlib.metadata import version

        return f"cvvdp {version('cvvdp')}, display model {self.settings['display']}, one-frame video, JOD"

    @cached_property
    def model(self):
        import pycvvdp
        import torch

        return pycvvdp.cvvdp(display_name=self.settings["display"], device=torch.device(self.context.device), quiet=True)

    def compute(self, reference, reconstruction):
        import torch

        with torch.no_grad():
            quality, _ = self.model.predict(reconstruction, reference, dim_order="HWC")
        return MetricValue(float(quality))
