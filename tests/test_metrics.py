"""PSNR and MS-SSIM conventions (those of CompressAI's evaluation) against formulas and other libraries."""

import io
import math

import numpy as np
import pytest
import skimage.metrics
from PIL import Image

from rdpbench.context import RunContext
from rdpbench.metrics.registry import METRICS, create_metric
from rdpbench.registry import UnknownNameError

rng = np.random.default_rng(1)


def _noisy(image, sigma):
    return np.clip(image.astype(float) + rng.normal(0, sigma, image.shape), 0, 255).round().astype(np.uint8)


def test_psnr_is_the_rgb_formula_and_agrees_with_scikit_image(photo):
    reconstruction = _noisy(photo, 8)
    got = create_metric("psnr", RunContext()).compute(photo, reconstruction).value
    mse = np.mean((photo.astype(float) - reconstruction.astype(float)) ** 2)
    assert got == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)
    assert got == pytest.approx(skimage.metrics.peak_signal_noise_ratio(photo, reconstruction, data_range=255), abs=1e-9)


def test_psnr_of_identical_images_is_infinite(photo):
    assert create_metric("psnr", RunContext()).compute(photo, photo.copy()).value == math.inf


def test_ms_ssim_matches_compressai_evaluation(photo):
    """CompressAI's bench computes MS-SSIM on (1, 3, H, W) float RGB with data_range 255."""
    from compressai.utils.bench.codecs import compute_metrics

    reconstruction = _noisy(photo, 12)
    got = create_metric("ms_ssim", RunContext()).compute(photo, reconstruction).value
    reference = compute_metrics(reconstruction, photo, ["ms-ssim-rgb"])["ms-ssim-rgb"]
    assert got == pytest.approx(reference, abs=1e-7)
    assert 0.5 < got < 1.0
    assert create_metric("ms_ssim", RunContext()).compute(photo, photo.copy()).value == pytest.approx(1.0, abs=1e-6)


def _jpeg(image, quality):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_ms_ssim_on_cpu_is_pytorch_msssims_value_bit_for_bit(photo):
    """rdpbench.metrics.msssim_cpu changes the memory layout for speed; the value must stay exactly the
    library's on the tensor the release built: the (1, 3, H, W) view of the uint8 (H, W, 3) array.
    JPEG quality 38 of this photo is a case where averaging a map in the other layout changes the last bit;
    the odd-sized crop makes the pooling pad. One metric object serves all pairs, as in a worker: it keeps
    the last reference's side, which must serve that reference only (not the next one of the same size)."""
    import torch
    from pytorch_msssim import ms_ssim

    odd = np.ascontiguousarray(photo[7:170, :301])
    other = photo.copy()
    other[200:210, 300:310] = 0
    metric = create_metric("ms_ssim", RunContext())
    for image, reconstruction in [(photo, _jpeg(photo, 38)), (photo, _jpeg(photo, 10)), (photo, photo.copy()),
                                  (other, _jpeg(photo, 38)), (odd, _noisy(odd, 6))]:
        got = metric.compute(image, reconstruction).value
        x, y = (torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).float() for a in (image, reconstruction))
        assert got == float(ms_ssim(x, y, data_range=255.0))


@pytest.mark.parametrize("shape, defined", [((160, 400, 3), False), ((400, 160, 3), False), ((161, 161, 3), True)])
def test_ms_ssim_needs_161_pixels_on_the_short_side(shape, defined):
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    value = create_metric("ms_ssim", RunContext()).compute(image, _noisy(image, 5))
    assert math.isnan(value.value) != defined
    if not defined:
        assert "161" in value.note


def test_metric_names_accept_hyphens_and_suggest_on_typos():
    assert METRICS.resolve("ms-ssim") == "ms_ssim"
    with pytest.raises(UnknownNameError, match="did you mean psnr"):
        METRICS.resolve("psnrr")
