"""VMAF (Netflix; Li et al. 2016) and VMAF NEG by libvmaf, on an image pair as a one-frame video.

Input convention (rdpbench's, stated because VMAF is defined on Y'CbCr video, not on RGB): the uint8
sRGB image becomes limited-range 8-bit luma, ``Y' = round(16 + 219 Y / 255)`` with ``Y = Kr R + (1 -
Kr - Kb) G + Kb B`` of ``matrix`` (default BT.601: what ffmpeg's swscale does to an RGB PNG given to
its libvmaf filter, so the values match common practice up to swscale's fixed-point rounding), rounded
half up; the two chroma planes are a constant 128 (libvmaf's models read only the luma plane). The
planes are written as one 8-bit 4:4:4 raw frame and scored by ffmpeg's ``libvmaf`` filter with the
model built into libvmaf (``vmaf_v0.6.1``, or ``vmaf_v0.6.1neg`` for VMAF NEG, the variant that does
not reward enhancement), one thread, the JSON log's pooled mean.

ffmpeg comes from the ``imageio-ffmpeg`` package (a static build with libvmaf), or the file named by
``IMAGEIO_FFMPEG_EXE``, or ``ffmpeg`` on PATH. Values are 0..100, higher is better (the models clip
their prediction to that range: a strongly distorted pair scores exactly 0). Both sides must be at
least 17 px (libvmaf crashes below).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import MetricOptionError, PairedMetric, Reference
from rdpbench.metrics.colour import MATRICES, luma
from rdpbench.tasks import MetricValue

INSTALL = ("pip install imageio-ffmpeg==0.8.1 (its static ffmpeg has libvmaf), or set IMAGEIO_FFMPEG_EXE to an "
           "ffmpeg built with --enable-libvmaf")
MIN_SIDE = 17
TIMEOUT_S = 300


def limited_range_luma(image: np.ndarray, matrix: str) -> np.ndarray:
    """uint8 (H, W, 3) sRGB -> uint8 (H, W) limited-range Y' (16..235) by ``matrix`` (bt601, bt709)."""
    return np.floor(16.0 + 219.0 * luma(image, matrix) / 255.0 + 0.5).astype(np.uint8)


@functools.cache
def ffmpeg() -> str | None:
    """The ffmpeg binary to use (see the module docstring), or None."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()  # honours IMAGEIO_FFMPEG_EXE
    except (ImportError, RuntimeError):
        return os.environ.get("IMAGEIO_FFMPEG_EXE") or shutil.which("ffmpeg")


@functools.cache
def _output(binary: str, option: str) -> str:
    """What ``ffmpeg -hide_banner OPTION`` prints (``-filters``, ``-version``), or the error."""
    from rdpbench.codecs.command_line import run_tool

    try:
        return run_tool([binary, "-hide_banner", option], 30)[1].decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"({error})"


class VMAF(PairedMetric):
    """VMAF of the pair (see the module docstring): ``vmaf_v0.6.1`` on the limited-range luma."""

    name = "vmaf"
    model = "vmaf_v0.6.1"
    columns = (Column("vmaf", "VMAF", decimals=2),)
    group = "perceptual (full-reference)"
    defaults = {"matrix": "bt601"}
    reference = Reference(
        "libvmaf's `vmaf` tool (Netflix/vmaf v3.2.0-13-gf85a8536, built here) on the same 8-bit 4:4:4 frame",
        "the tool's pooled score on 7 Kodak JPEG pairs and the 5 calibration pairs (tests/data/vmaf)",
        abs_tol=1e-6,
        why="the same libvmaf computation (ffmpeg's build reports libvmaf 86da14d); both print 6 decimals")

    def __init__(self, context):
        super().__init__(context)
        if self.settings["matrix"] not in MATRICES:
            raise MetricOptionError(f"metric {self.name!r} option 'matrix': {self.settings['matrix']!r} is not one of "
                                    f"{', '.join(MATRICES)}")

    def unavailable_reason(self):
        binary = ffmpeg()
        if binary is None:
            return f"no ffmpeg found: {INSTALL}"
        if "libvmaf" not in _output(binary, "-filters"):
            return f"{binary} has no libvmaf filter: {INSTALL}"
        return None

    def memory_factor(self):
        return 40  # the float64 luma conversion (about 20), plus ffmpeg's frames in its own process

    def describe(self):
        version = (_output(ffmpeg(), "-version").split() or ["?"] * 3)[2]  # "ffmpeg version N ..."
        return (f"libvmaf {self.model} through ffmpeg {version}'s libvmaf filter, limited-range "
                f"{self.settings['matrix']} luma, one frame, pooled mean")

    def _frame(self, image: np.ndarray) -> bytes:
        """The 8-bit 4:4:4 planar frame of ``image``: limited-range luma, chroma planes 128."""
        luma = limited_range_luma(image, self.settings["matrix"])
        return luma.tobytes() + bytes([128]) * (2 * luma.size)

    def _reference_frame(self, reference: np.ndarray) -> bytes:
        """:meth:`_frame`, kept with a copy of the last reference: a worker runs one image's settings in
        a row and converts that original once."""
        last = getattr(self, "_last_reference", None)
        if last is None or last[0].shape != reference.shape or not np.array_equal(last[0], reference):
            self._last_reference = (reference.copy(), self._frame(reference))
        return self._last_reference[1]

    def compute(self, reference, reconstruction):
        from rdpbench.codecs.command_line import run_tool

        height, width = reference.shape[:2]
        if min(height, width) < MIN_SIDE:
            return MetricValue.undefined(f"VMAF needs both sides >= {MIN_SIDE} px, not {width}x{height}")
        with tempfile.TemporaryDirectory(prefix="rdpbench-vmaf-") as folder:
            frames = []
            for side, frame in (("reconstruction", self._frame(reconstruction)),
                                ("reference", self._reference_frame(reference))):
                path = Path(folder) / f"{side}.yuv"
                path.write_bytes(frame)
                frames += ["-f", "rawvideo", "-pix_fmt", "yuv444p", "-s", f"{width}x{height}", "-i", str(path)]
            argv = [ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", *frames, "-lavfi",
                    f"[0:v][1:v]libvmaf=model=version={self.model}:log_fmt=json:log_path=/dev/stdout:n_threads=1",
                    "-f", "null", "-"]
            try:
                code, stdout, stderr = run_tool(argv, TIMEOUT_S)
            except subprocess.TimeoutExpired:
                return MetricValue.undefined(f"ffmpeg (libvmaf) timed out after {TIMEOUT_S} s")
        try:
            return MetricValue(float(json.loads(stdout)["pooled_metrics"]["vmaf"]["mean"]))
        except (ValueError, KeyError, TypeError):
            return MetricValue.undefined(f"ffmpeg (libvmaf) exited with {code}: "
                                         f"{stderr.decode(errors='replace').strip()[-300:] or 'no score printed'}")


class VMAFNEG(VMAF):
    """VMAF NEG (``vmaf_v0.6.1neg``: no gain from enhancement; JPEG AIC-4's VMAF-NEG) of the pair."""

    name = "vmaf_neg"
    model = "vmaf_v0.6.1neg"
    columns = (Column("vmaf_neg", "VMAF NEG", decimals=2),)
