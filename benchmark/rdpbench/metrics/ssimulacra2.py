"""SSIMULACRA 2.1 (Sneyers, Cloudinary 2023): a port of the reference C++ (cloudinary/ssimulacra2 at
81feacf, ``ssimulacra2.cc`` with libjxl's ``gauss_blur.cc``, ``enc_xyb.cc``, ``fast_math-inl.h`` and
``transfer_functions-inl.h``) that repeats its float32 arithmetic operation by operation, so its
intermediate images equal the tool's bit for bit (checked on kodim01 at JPEG quality 90 against an
instrumented build: the linear images, XYB planes and blurs of every scale, and the 108 sub-scores to
the 12 digits the tool prints). Scores: 100 identical, about 90 visually lossless, 70 high, 50 medium,
30 low quality, negative for very strong distortion (the tool's own help text).

Why float32 matters: libjxl's recursive Gaussian runs three undamped second-order resonators (poles on
the unit circle), so every float32 rounding stays in its state for the rest of the row or column; the
variances ``sigma - mu^2`` then carry float32 noise of about 1e-6. On near-lossless pairs the SSIM error
``max(1 - ..., 0)`` at coarse scales is of the same order, so that noise (made positive by the clamp)
is part of the tool's score: a float64 port scores kodim01 at JPEG q90 0.11 points higher.

1. uint8 sRGB -> linear RGB: ``v * (1/255)`` in float32 through libjxl's rational-polynomial sRGB curve
   (``TF_SRGB::DisplayFromEncoded``, evaluated with fused multiply-adds): a 256-entry table.
2. Six scales (1:1 .. 1:32; stop when a side is under 8 px); each next scale is the 2x2 mean of the
   previous *linear* image (a last odd row/column is repeated; the tool's summation order).
3. Per scale, linear RGB -> XYB: ``mixed = M rgb + 0.0037930732552754493`` (libjxl's float opsin
   absorbance matrix M), clamped at 0, ``cbrt(mixed) - cbrt(bias)`` by libjxl's ``CubeRootAndAdd``
   (bit trick + Newton steps); X = (L - M)/2, Y = (L + M)/2, B = S; then "positive XYB":
   B = B - Y + 0.55, X = 14 X + 0.42, Y = Y + 0.01.
4. Blur: libjxl's recursive Gaussian (Charalampidis 2016, sigma 1.5, radius 5: three second-order
   IIR filters on ``x[n - N - 1] + x[n + N - 1]``, zero outside the image), rows (``FastGaussian1D``,
   four outputs per step) then columns (``VerticalStrip``), with the tool's float32 coefficients.
5. Maps per channel: SSIM without the luminance denominator (``1 - (mu1 - mu2)^2`` times the
   contrast-structure term, kC2 = 0.0009, clamped at 0), and the edge maps
   ``(1 + |img2 - mu2|) / (1 + |img1 - mu1|) - 1`` split into artifacts (> 0) and detail lost (< 0);
   each pooled by its mean and its 4-norm (in float64, as the tool): 108 numbers, weighted by the
   tool's weights and mapped by its polynomial and power to the score.

A fused multiply-add ``a * b + c`` of float32 numbers is computed as float64 ``a * b`` (exact) plus
``c``, rounded to float32; this differs from one rounding only when the float64 sum lies exactly
halfway between two float32 numbers after its own rounding (not seen in the check above).

This module holds the constants and the order of the steps; the per-pixel loops (steps 3 to 5) are
compiled by numba in rdpbench.metrics.ssimulacra2_loops, imported at the first score (compiled once
per machine and cached; see there). The reference image's side of every scale
(:func:`reference_side`) can be computed once for all reconstructions of that image.
"""

from __future__ import annotations

import math

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import PairedMetric, Reference
from rdpbench.tasks import MetricValue

F32, F64 = np.float32, np.float64
SCALES = 6
WEIGHTS = np.array([
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0, 0.0004371155730107379, 0.0,
    1.1041726426657346, 0.00066284834129271, 0.00015231632783718752, 0.0, 0.0016406437456599754, 0.0,
    1.8422455520539298, 11.441172603757666, 0.0, 0.0007989109436015163, 0.000176816438078653, 0.0,
    1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072, 0.9677937080626833, 0.0,
    0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053, 0.0004550992113792063, 0.0, 0.0,
    0.0013648766163243398, 0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0, 0.0,
    0.0, 34.77906344483772, 44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0008680556573291698, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0004179171803251336, 0.0017290828234722833, 0.0, 0.0020827005846636437,
    0.0, 0.0, 8.826982764996862, 23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682,
    0.9834382792465353, 0.0012286405048278493, 171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0,
    0.0005130064588990679, 0.0, 0.00010854057858411537])


# --- recursive Gaussian ---------------------------------------------------------------------------

def _recursive_gaussian(sigma: float = 1.5):
    """libjxl's ``CreateRecursiveGaussian``: radius N and, per IIR term k = 1, 3, 5, (n2_k, d1_k) in float64."""
    radius = float(round(3.2795 * sigma + 0.2546))
    omega = np.array([1.0, 3.0, 5.0]) * math.pi / (2.0 * radius)
    p = np.array([1.0 / math.tan(0.5 * omega[0]), -1.0 / math.tan(0.5 * omega[1]), 1.0 / math.tan(0.5 * omega[2])])
    r = np.array([p[0] ** 2 / math.sin(omega[0]), -p[1] ** 2 / math.sin(omega[1]), p[2] ** 2 / math.sin(omega[2])])
    rho = np.exp(-0.5 * sigma * sigma * omega**2) / radius
    d13 = p[0] * r[1] - r[0] * p[1]
    zeta15, zeta35 = (p[1] * r[2] - r[1] * p[2]) / d13, (p[2] * r[0] - r[2] * p[0]) / d13
    matrix = np.array([p, r, [zeta15, zeta35, 1.0]])
    gamma = np.array([1.0, radius * radius - sigma * sigma, zeta15 * rho[0] + zeta35 * rho[1] + rho[2]])
    beta = np.linalg.solve(matrix, gamma)
    return int(radius), -beta * np.cos(omega * (radius + 1.0)), -2.0 * np.cos(omega)


RADIUS, _N2, _D1 = _recursive_gaussian()
_D2 = _D1 * _D1
# the tool's float32 tables (3 terms x 4 lanes): lane j of a 4-output step weighs the inputs s[n..n+j]
# (MUL_IN[:, j - i] for s[n + i]) and the two previous outputs (MUL_PREV2, MUL_PREV)
MUL_IN = np.stack([_N2, -_D1 * _N2, _D2 * _N2 - _N2, -_D2 * _D1 * _N2 + 2.0 * _D1 * _N2], 1).astype(F32)
MUL_PREV = np.stack([-_D1, _D2 - 1.0, -_D2 * _D1 + 2.0 * _D1, _D2 * _D2 - 3.0 * _D2 + 1.0], 1).astype(F32)
MUL_PREV2 = np.stack([-np.ones(3), _D1, -_D2 + 1.0, _D2 * _D1 - 2.0 * _D1], 1).astype(F32)
# the compiled blur's arguments: coefficients as tuples (per term, 4 float32), constants in its loops
BLUR = (RADIUS, *(tuple(tuple(row) for row in table) for table in (MUL_IN, MUL_PREV, MUL_PREV2)))


def _loops():
    """rdpbench.metrics.ssimulacra2_loops, imported on first use (numba is heavy to import)."""
    from rdpbench.metrics import ssimulacra2_loops

    return ssimulacra2_loops


def blur(planes: np.ndarray) -> np.ndarray:
    """libjxl's ``FastGaussian`` (rows, then columns) of each float32 plane of (P, H, W)."""
    return _loops().blur(planes, *BLUR)


# --- colour ---------------------------------------------------------------------------------------

def _srgb_table() -> np.ndarray:
    """libjxl's ``TF_SRGB::DisplayFromEncoded`` of ``v * (1/255)`` (float32) for v = 0..255: ``x / 12.92``
    up to 0.04045, else its rational polynomial (Horner with FMAs; within 1e-6 of the sRGB curve)."""
    p = F32([2.200248328e-04, 1.043637593e-02, 1.624820318e-01, 7.961564959e-01, 8.210152774e-01])
    q = F32([2.631846970e-01, 1.076976492e+00, 4.987528350e-01, -5.512498495e-02, 6.521209011e-03])
    x = np.arange(256, dtype=F32) * F32(1.0 / 255)
    numerator, denominator = np.full(256, p[4]), np.full(256, q[4])
    for k in (3, 2, 1, 0):  # fma(value, x, coefficient) as in ssimulacra2_loops: float64 product and sum, one rounding
        numerator = (np.multiply(numerator, x, dtype=F64) + p[k]).astype(F32)
        denominator = (np.multiply(denominator, x, dtype=F64) + q[k]).astype(F32)
    return np.where(x > F32(0.04045), numerator / denominator, x * (F32(1) / F32(12.92)))


SRGB_TO_LINEAR = _srgb_table()
_M02, _M00, _M12, _M10, _M20, _M21 = (F32(v) for v in (0.078, 0.30, 0.078, 0.23, 0.24342268924547819,
                                                        0.20476744424496821))
OPSIN = np.array([[_M00, F32(1) - _M02 - _M00, _M02],  # libjxl's kOpsinAbsorbanceMatrix (float arithmetic)
                  [_M10, F32(1) - _M12 - _M10, _M12],
                  [_M20, _M21, F32(1) - _M20 - _M21]], F32)
BIAS = F32(0.0037930732552754493)
NEG_CBRT_BIAS = -F32(np.cbrt(F64(BIAS)))  # -cbrtf(bias)


def linear_from_srgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> linear RGB float32 (3, H, W) in 0..1 (the table above)."""
    return np.take(SRGB_TO_LINEAR, image.transpose(2, 0, 1))  # C-contiguous, as the compiled loops want


def positive_xyb(linear: np.ndarray) -> np.ndarray:
    """Linear RGB float32 (3, H, W) -> libjxl XYB, rescaled to about 0..1 as ``MakePositiveXYB``."""
    return _loops().positive_xyb(np.ascontiguousarray(linear, F32), OPSIN, BIAS, NEG_CBRT_BIAS)


def downsample(linear: np.ndarray) -> np.ndarray:
    """2x2 mean of float32 (3, H, W), the last odd row/column repeated (``Downsample(.., 2, 2)``)."""
    return _loops().downsample(linear)


# --- one scale ------------------------------------------------------------------------------------

def reference_side(reference: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """What the reference uint8 (H, W, 3) alone decides, per scale: its XYB planes, their blur ``mu1``
    and ``blur(img1^2) - mu1^2`` (float32 (3, h, w) each)."""
    linear = linear_from_srgb(reference)
    side = []
    for scale in range(SCALES):
        if min(linear.shape[1:]) < 8:
            break
        if scale:  # the size check is on the previous scale, as in the tool: the last one may be under 8 px
            linear = downsample(linear)
        img1 = positive_xyb(linear)
        mu1 = blur(img1)
        side.append((img1, mu1, blur(img1 * img1) - mu1 * mu1))
    return side


def ssimulacra2(reference: np.ndarray | list, distorted: np.ndarray) -> float:
    """The SSIMULACRA 2.1 score of two uint8 sRGB (H, W, 3) images of equal size (>= 8 px a side);
    ``reference`` may be its :func:`reference_side`."""
    side = reference_side(reference) if isinstance(reference, np.ndarray) else reference
    linear = linear_from_srgb(distorted)
    per_scale = []
    for scale, (img1, mu1, variance1) in enumerate(side):
        if scale:
            linear = downsample(linear)
        img2 = positive_xyb(linear)
        per_scale.append(_loops().scale_scores(img1, mu1, variance1, img2, blur(img2), blur(img1 * img2),
                                               blur(img2 * img2)))
    # the tool's order: channel, scale, norm, then (ssim, artifact, detail lost)
    total = 0.0
    index = 0
    for channel in range(3):
        for scores in per_scale:
            for norm in range(2):
                for kind in range(3):
                    total += WEIGHTS[index] * abs(scores[channel, 2 * kind + norm])
                    index += 1
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0 else 100.0


class SSIMULACRA2(PairedMetric):
    """SSIMULACRA 2.1 by :func:`ssimulacra2` (this module's port of cloudinary/ssimulacra2 at 81feacf);
    higher is better, 100 for identical images. Images under 8 px on a side give NaN (the tool refuses them)."""

    name = "ssimulacra2"
    columns = (Column("ssimulacra2", "SSIMULACRA 2", decimals=2),)
    group = "perceptual (full-reference)"
    reference = Reference(
        "cloudinary/ssimulacra2 at 81feacf (the C++ tool)",
        "the tool's outputs on 7 Kodak JPEG pairs, the 5 calibration pairs and 5 odd-sized crops of them "
        "(tests/data/ssimulacra2)", abs_tol=1e-6,
        why="the port repeats the tool's float32 operations and equals all 17 outputs to the 8 decimals the tool "
            "prints (largest difference 5e-9); 1e-6 leaves room for a float64-emulated FMA that rounds "
            "differently from the tool's in a halfway case")

    def memory_factor(self):
        """Measured (growth of the peak resident memory, rdpbench.memory) at 1024x768: 47 bytes per byte of
        the uint8 image for the first pair of a reference (its kept side included), rounded up by 25%."""
        return 59

    def describe(self):
        return ("rdpbench.metrics.ssimulacra2 (float32 emulation of cloudinary/ssimulacra2 81feacf compiled by "
                "numba, SSIMULACRA 2.1)")

    def compute(self, reference, reconstruction):
        if min(reference.shape[:2]) < 8:
            return MetricValue.undefined("SSIMULACRA 2 needs >= 8 px on each side")
        return MetricValue(ssimulacra2(self._reference_side(reference), reconstruction))

    def _reference_side(self, reference):
        """:func:`reference_side`, kept with a copy of the last reference: a worker runs one image's
        settings in a row and computes that original's side once (about 5 float32 planes of its size)."""
        last = getattr(self, "_last_reference", None)
        if last is not None and last[0].shape == reference.shape and np.array_equal(last[0], reference):
            return last[1]
        self._last_reference = None  # freed first: at most one side is held
        side = reference_side(reference)
        self._last_reference = (reference.copy(), side)
        return side
