"""The per-image memory budget: estimate, from the image header alone, what one task will hold.

A task holds the decoded original and its reconstruction (uint8, 3 bytes per pixel each), the
codec's buffers and every metric's working memory. The estimate is ``3 * H * W`` bytes times
``BASE_FACTOR`` plus each metric's ``memory_factor()`` (declared by the metric, rdpbench.metrics.base).
The built-in factors are measured peaks: the growth of the process's peak resident memory while
computing the metric once on a 1024x768 image (CPU, one torch thread, model already loaded),
divided by the image's 3 * 1024 * 768 bytes, then rounded up by about 25%. Measured (rdpbench
0.1.0, torch 2.14, stand-in weights of the real shapes): PSNR 16, MS-SSIM 67, LPIPS-AlexNet at
most 93, LPIPS-VGG 849, DISTS 557, pyiqa's NIQE (``niqe_pyiqa``) 146, SSIMULACRA 2 47 (numba 0.68,
a reference's first pair). Not measured this way but estimated from their arrays: LIVE NIQE 60,
ColorVideoVDP 400, VMAF 40 (the float64 luma conversion, about 20, plus ffmpeg's frames in its own
process). Distribution metrics (whose feature extractors see
batches of 32 patches, bounded by the batch, not by the image) and plug-ins that declare nothing
get ``DEFAULT_METRIC_FACTOR`` = 40, which is not measured. An image whose estimate exceeds the budget
becomes an error row that states both numbers, before it is decoded.

The budget is ``--memory-budget`` (or ``memory_budget`` in a config), e.g. ``4G`` or ``512M``;
by default half of the machine's physical memory divided by the number of worker processes.
"""

from __future__ import annotations

import os
import re

BASE_FACTOR = 6  # original + reconstruction + encoder/decoder buffers and intermediate copies
DEFAULT_METRIC_FACTOR = 40
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class BudgetError(ValueError):
    """A memory budget text cannot be read; the message shows the accepted form."""


def parse_size(text: str | int) -> int:
    """``"4G"`` / ``"512M"`` / ``"1.5GiB"`` / ``4294967296`` -> bytes (binary units)."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise BudgetError(f"memory budget {text!r}: give a size such as 4G or 512M")
    if isinstance(text, int):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
        if not match:
            raise BudgetError(f"memory budget {text!r}: give a size such as 4G or 512M")
        value, unit = float(match.group(1)), match.group(2).upper()
    size = int(value * _UNITS[unit])
    if size < 1 << 20:
        raise BudgetError(f"memory budget {text!r} is under 1 MiB; give a size such as 4G or 512M")
    return size


def physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_budget(jobs: int) -> int:
    """Half of physical memory shared by ``jobs`` workers."""
    return physical_memory() // 2 // max(1, jobs)


def estimate(width: int, height: int, metric_factors: list[int]) -> int:
    """Bytes one task on a ``width`` x ``height`` image is expected to hold with metrics of these
    memory factors (bytes of working memory per byte of the uint8 RGB image)."""
    return 3 * width * height * (BASE_FACTOR + sum(metric_factors))


def describe(size: int) -> str:
    return f"{size / (1 << 30):.2f} GiB" if size >= 1 << 30 else f"{size / (1 << 20):.0f} MiB"
