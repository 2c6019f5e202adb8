"""NIQE (Mittal, Soundararajan and Bovik 2013) as LIVE's release ``niqe.m`` computes it, in float64
numpy, with the official model parameters (``niqe_modelparameters.mat``: ``mu_prisparam`` (1, 36),
``cov_prisparam`` (36, 36)).

Step by step as ``computequality.m`` / ``computefeature.m`` / ``estimateaggdparam.m``:

1. MATLAB ``rgb2gray`` of the uint8 image (rounded to uint8; rdpbench.metrics.colour), cropped to
   whole 96x96 blocks from the top-left.
2. Two scales (the second: MATLAB ``imresize(im, 0.5)``, bicubic with antialiasing, by pyiqa's port):
   MSCN coefficients ``(im - mu) / (sigma + 1)``, ``mu`` and ``sigma`` from ``imfilter`` with a 7x7
   Gaussian (sigma 7/6, normalised), 'replicate' borders, ``sigma = sqrt(|filter(im^2) - mu^2|)``.
   The numerator ``im - mu`` is computed as the window-weighted sum of ``im - neighbour``, which is
   exactly 0 where the window is flat: subtracting a separately filtered ``mu`` leaves +-1e-14 there,
   which the AGGD fit would count as negative and positive samples (that alone moved I19 of pyiqa's
   calibration set +5%).
3. Per 96/s block: 18 features, the AGGD fit of the coefficients (alpha, mean beta) and of their
   products with the 4 circularly shifted neighbours (alpha, mean, beta_l, beta_r); the shape alpha
   is the first minimiser of (r(gamma) - r_hat)^2 over gamma = 0.2:0.001:10 (MATLAB's colon values).
   A block with no negative or positive sample has NaN features, as in MATLAB.
4. ``nanmean`` of the 36 features over blocks; ``nancov`` (rows with a NaN dropped, normalised by
   n - 1); quality ``sqrt(d pinv((cov_pris + cov) / 2) d')`` with MATLAB's ``pinv`` tolerance.
"""

from __future__ import annotations

import io
from functools import cached_property

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import NoReferenceMetric, Reference
from rdpbench.metrics.colour import rgb2gray
from rdpbench.tasks import MetricValue
from rdpbench.weights import read_verified

BLOCK = 96
CALIBRATION_NIQE = ("the official niqe row of pyiqa's results_official.csv, the 5 distorted calibration images "
                    "(tests/data/iqa_calibration/dist)")


def _matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's ``start:step:stop``: the first half counted from ``start``, the second back from the end."""
    n = int(np.floor((stop - start) / step + 1e-10)) + 1
    k = np.arange(n)
    values = start + k * step
    back = k >= n // 2
    values[back] = (start + (n - 1) * step) - (n - 1 - k[back]) * step
    return values


def _gamma_table():
    from scipy.special import gamma

    shapes = _matlab_colon(0.2, 0.001, 10.0)
    return shapes, gamma(2.0 / shapes) ** 2 / (gamma(1.0 / shapes) * gamma(3.0 / shapes))


SHAPES, RATIOS = _gamma_table()


def _gaussian_window() -> np.ndarray:
    """``fspecial('gaussian', 7, 7/6)`` normalised to sum 1."""
    x = np.arange(7) - 3.0
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7.0 / 6.0) ** 2))
    return window / window.sum()


WINDOW = _gaussian_window()


def _shifted(padded: np.ndarray, i: int, j: int, shape) -> np.ndarray:
    return padded[i:i + shape[0], j:j + shape[1]]


def mscn(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(MSCN coefficients, sigma) of a float64 (H, W) image, as niqe.m (see the module docstring)."""
    padded = np.pad(image, 3, mode="edge")
    mu = np.zeros_like(image)
    square = np.zeros_like(image)
    centred = np.zeros_like(image)
    for i in range(7):
        for j in range(7):
            neighbour = _shifted(padded, i, j, image.shape)
            mu += WINDOW[i, j] * neighbour
            square += WINDOW[i, j] * neighbour * neighbour
            centred += WINDOW[i, j] * (image - neighbour)
    sigma = np.sqrt(np.abs(square - mu * mu))
    return centred / (sigma + 1.0), sigma


def aggd(values: np.ndarray) -> tuple[float, float, float]:
    """``estimateaggdparam.m``: (alpha, beta_left, beta_right) of a 1-D float64 sample."""
    from scipy.special import gamma

    with np.errstate(invalid="ignore", divide="ignore"):
        left, right = values[values < 0], values[values > 0]
        left_std = np.sqrt(np.mean(left * left)) if left.size else np.nan
        right_std = np.sqrt(np.mean(right * right)) if right.size else np.nan
        gammahat = left_std / right_std
        rhat = np.mean(np.abs(values)) ** 2 / np.mean(values * values)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
        distance = (RATIOS - rhatnorm) ** 2
        position = 0 if np.isnan(rhatnorm) else int(np.argmin(distance))  # MATLAB's min of all-NaN: index 1
        alpha = SHAPES[position]
        scale = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
    return alpha, left_std * scale, right_std * scale


def block_features(block: np.ndarray) -> list[float]:
    """``computefeature.m``: the 18 features of one block of MSCN coefficients."""
    from scipy.special import gamma

    alpha, beta_left, beta_right = aggd(block.ravel(order="F"))
    features = [alpha, (beta_left + beta_right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        pair = block * np.roll(block, shift, axis=(0, 1))
        alpha, beta_left, beta_right = aggd(pair.ravel(order="F"))
        with np.errstate(invalid="ignore"):
            mean = (beta_right - beta_left) * (gamma(2.0 / alpha) / gamma(1.0 / alpha))
        features += [alpha, mean, beta_left, beta_right]
    return features


def _imresize_half(image: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(image, 0.5)`` (bicubic, antialiased) by pyiqa's port, in float64."""
    import torch
    from pyiqa.matlab_utils import imresize

    return imresize(torch.from_numpy(image)[None, None], scale=0.5, antialiasing=True)[0, 0].numpy()


def niqe(grey: np.ndarray, mu_pristine: np.ndarray, cov_pristine: np.ndarray) -> float:
    """NIQE of a float64 (H, W) grey image in 0..255 (both sides >= 96 px) given the pristine model."""
    rows, cols = (grey.shape[0] // BLOCK) * BLOCK, (grey.shape[1] // BLOCK) * BLOCK
    image = grey[:rows, :cols]
    features = []
    for scale in (1, 2):
        coefficients, _ = mscn(image)
        size = BLOCK // scale
        features.append([block_features(coefficients[r:r + size, c:c + size])
                         for c in range(0, coefficients.shape[1], size) for r in range(0, coefficients.shape[0], size)])
        if scale == 1:
            image = _imresize_half(image)
    table = np.hstack([np.asarray(features[0]), np.asarray(features[1])])
    mu = np.nanmean(table, axis=0)
    complete = table[~np.isnan(table).any(axis=1)]
    cov = np.cov(complete, rowvar=False)
    matrix = (cov_pristine + cov) / 2
    inverse = np.linalg.pinv(matrix, rcond=max(matrix.shape) * np.finfo(np.float64).eps)
    difference = (mu_pristine - mu).reshape(1, -1)
    return float(np.sqrt((difference @ inverse @ difference.T).item()))


def load_parameters(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(mu_prisparam (36,), cov_prisparam (36, 36)) float64 from the bytes of LIVE's
    ``niqe_modelparameters.mat`` (parsed in memory: the bytes that were hashed, rdpbench.weights)."""
    from scipy.io import loadmat

    parameters = loadmat(io.BytesIO(data))
    return (np.asarray(parameters["mu_prisparam"], dtype=np.float64).ravel(),
            np.asarray(parameters["cov_prisparam"], dtype=np.float64))


class NIQE(NoReferenceMetric):
    """NIQE as LIVE's ``niqe.m`` (see the module docstring) with ``niqe_modelparameters.mat``; lower is
    better. Images under 96 px on a side give NaN (niqe.m needs one whole 96x96 block)."""

    name = "niqe"
    columns = (Column("niqe", "NIQE", higher_is_better=False, decimals=3),)
    group = "no-reference"
    reference = Reference(
        "LIVE's niqe.m on MATLAB rgb2gray of the uint8 image", CALIBRATION_NIQE, rel_tol=6e-3,
        why="4 of 5 within 0.33% (I04 to 1e-7, I03 -0.05%, I06 -0.04%, I19 +0.33%); I08 +0.57%: MATLAB's "
            "imfilter leaves float noise in some flat regions (it depends on the grey value), which the AGGD "
            "fit counts; here every flat window gives exact zeros")

    def memory_factor(self):
        return 60  # float64 planes: about 20 bytes per RGB byte in mscn, with margin

    def weight_names(self):
        return ["niqe_modelparameters.mat"]

    def describe(self):
        return "LIVE niqe.m in float64 numpy (rdpbench.metrics.niqe), MATLAB rgb2gray, niqe_modelparameters.mat"

    @cached_property
    def parameters(self):
        return load_parameters(read_verified(self.context.weights.read("niqe_modelparameters.mat")))

    def compute(self, image):
        if min(image.shape[:2]) < BLOCK:
            return MetricValue.undefined(f"NIQE needs >= {BLOCK} px on each side (one {BLOCK}x{BLOCK} block)")
        return MetricValue(niqe(rgb2gray(image), *self.parameters))
