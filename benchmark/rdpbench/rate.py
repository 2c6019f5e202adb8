"""The rate of an encoded image, measured by the harness from the stream (never by an adapter)."""

from __future__ import annotations


def bits_per_pixel(n_bytes: int, height: int, width: int) -> float:
    """``8 * n_bytes / (height * width)``: every byte of the stream (headers included) per pixel of
    the original image, whatever its channel count (CompressAI's convention)."""
    return 8.0 * n_bytes / (height * width)
