"""The codec standards' full-reference metrics against their authors' values: pyiqa's official
calibration table (the authors' MATLAB code on MATLAB rgb2gray, ResultsCalibra/results_official.csv)
and MATLAB values from piq's tests, on the committed image pairs (tests/data/iqa_calibration, with
provenance). Each metric is checked within the tolerance it declares (``Metric.reference``: the one
table, shown by `rdpbench metrics`, with the reason for each tolerance); the formula metrics
(PSNR-Y, PSNR-YUV) against formulas written out here, the other conventions against other libraries."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdpbench.context import RunContext
from rdpbench.metrics.base import MetricOptionError
from rdpbench.metrics.registry import create_metric

DATA = Path(__file__).parent / "data" / "iqa_calibration"
PAIRS = ["I03", "I04", "I06", "I08", "I19"]
# rdpbench metric (with options) -> row of results_official.csv
OFFICIAL_ROWS = {"ssim": ("ssim", {}), "ms_ssim_y": ("ms_ssim", {"pooling": "sum"}), "vif_wavelet": ("vif", {}),
                 "fsim": ("fsim", {}), "gmsd": ("gmsd", {}), "nlpd": ("nlpd", {}), "vsi": ("vsi", {})}
# The heavy metrics (about 1-2 s a pair) are checked on two pairs: I04 (nearly lossless: small values,
# where a colour-conversion slip shows most, e.g. NLPD 30% off on pyiqa's YCbCr luma) and I19 (the pair
# where MS-SSIM's pooling and NIQE differ most); the fast ones on all five.
FAST = {"ssim", "gmsd"}
GOLDHILL_MATLAB = {"iw_ssim": 0.886297251092821, "vif": 0.2665}  # piq's tests: iwssim.m, vifp_mscale.m


def _rgb(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


def official() -> dict[str, list[float]]:
    with open(DATA / "results_official.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1:] == [f"{name}.bmp" for name in PAIRS]
    return {row[0]: [float(v) for v in row[1:]] for row in rows[1:]}


@pytest.fixture(scope="module")
def pairs():
    return {name: (_rgb(DATA / "ref" / f"{name}.png"), _rgb(DATA / "dist" / f"{name}.png")) for name in PAIRS}


@pytest.mark.parametrize("metric", sorted(OFFICIAL_ROWS))
def test_official_values_of_the_authors_code(metric, pairs):
    row, options = OFFICIAL_ROWS[metric]
    instance = create_metric(metric, RunContext(options={metric: options}))
    check = instance.reference
    assert check is not None and check.why
    for name, expected in zip(PAIRS, official()[row]):
        if metric not in FAST and name not in ("I04", "I19"):
            continue
        got = instance.compute(*pairs[name]).value
        assert check.allows(got, expected), f"{metric} on {name}: {got} vs official {expected} ({check.tolerance()})"


@pytest.mark.parametrize("metric", sorted(GOLDHILL_MATLAB))
def test_matlab_values_on_goldhill(metric):
    reference, reconstruction = (_rgb(DATA / "goldhill" / f"{name}.png") for name in ("goldhill", "goldhill_jpeg"))
    instance = create_metric(metric, RunContext())
    got = instance.compute(reference, reconstruction).value
    assert instance.reference.allows(got, GOLDHILL_MATLAB[metric]), (got, instance.reference.tolerance())


def _ycbcr709(image):
    r, g, b = (image[..., i].astype(float) for i in range(3))
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return y, (b - y) / 1.8556 + 128, (r - y) / 1.5748 + 128


def _psnr(a, b):
    return 10 * math.log10(255**2 / np.mean((a - b) ** 2))


def test_psnr_y_and_psnr_yuv_are_jpeg_ai_formulas_on_bt709(pairs):
    for reference, reconstruction in pairs.values():
        planes = [_psnr(a, b) for a, b in zip(_ycbcr709(reference), _ycbcr709(reconstruction))]
        psnr_y = create_metric("psnr_y", RunContext()).compute(reference, reconstruction).value
        psnr_yuv = create_metric("psnr_yuv", RunContext()).compute(reference, reconstruction).value
        assert psnr_y == pytest.approx(planes[0], abs=1e-9)
        assert psnr_yuv == pytest.approx((6 * planes[0] + planes[1] + planes[2]) / 8, abs=1e-9)
    bt601 = create_metric("psnr_y", RunContext(options={"psnr_y": {"matrix": "bt601"}}))
    reference, reconstruction = pairs["I08"]
    luma = [image.astype(float) @ [0.299, 0.587, 0.114] for image in (reference, reconstruction)]
    assert bt601.compute(reference, reconstruction).value == pytest.approx(_psnr(*luma), abs=1e-9)
    assert create_metric("psnr_yuv", RunContext()).compute(reference, reference.copy()).value == math.inf


def test_ssim_rgb_view_and_ms_ssim_product_equal_pytorch_msssim(pairs):
    """The RGB view is the mean of the channels' SSIM, as pytorch_msssim (same window, valid filtering);
    MS-SSIM's product form on the grey image equals pytorch_msssim.ms_ssim on that image (to 1e-5:
    pytorch_msssim builds its Gaussian window in float32, 3e-6 apart in SSIM here)."""
    import torch
    from pytorch_msssim import ms_ssim, ssim

    reference, reconstruction = pairs["I19"]
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).double().reshape(1, -1, *a.shape[:2]) \
        if a.ndim == 2 else torch.from_numpy(a).permute(2, 0, 1)[None].double()
    got = create_metric("ssim", RunContext(options={"ssim": {"view": "rgb"}})).compute(reference, reconstruction).value
    assert got == pytest.approx(float(ssim(as_tensor(reference), as_tensor(reconstruction), data_range=255)), abs=1e-5)
    grey = [np.floor(image.astype(float) @ [0.298936021293775, 0.587043074451121, 0.114020904255103] + 0.5)
            for image in (reference, reconstruction)]
    got = create_metric("ms_ssim_y", RunContext()).compute(reference, reconstruction).value
    assert got == pytest.approx(float(ms_ssim(as_tensor(grey[0]), as_tensor(grey[1]), data_range=255)), abs=1e-5)


def test_identical_images_and_bad_options():
    image = _rgb(DATA / "ref" / "I04.png")[:192, :192]
    for name, perfect in [("ssim", 1.0), ("ms_ssim_y", 1.0), ("iw_ssim", 1.0), ("vif", 1.0), ("gmsd", 0.0), ("nlpd", 0.0)]:
        assert create_metric(name, RunContext()).compute(image, image.copy()).value == pytest.approx(perfect, abs=1e-6)
    with pytest.raises(MetricOptionError, match="bt709"):
        create_metric("ssim", RunContext(options={"ssim": {"luma": "bt2020"}}))
    small = image[:160, :100]
    assert math.isnan(create_metric("ms_ssim_y", RunContext()).compute(small, small).value)
