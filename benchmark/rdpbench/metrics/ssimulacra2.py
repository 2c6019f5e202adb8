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
``c``, rounded to float32 (:func:`_fma`); this differs from one rounding only when the float64 sum
lies exactly halfway between two float32 numbers after its own rounding (not seen in the check above).
The recursions run in Python loops over rows / groups of four columns, each step vectorised over all
planes and lines; the reference image's side of every scale (:func:`reference_side`) can be computed
once for all reconstructions of that image.
"""

from __future__ import annotations

import math

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import PairedMetric, Reference
from rdpbench.tasks import MetricValue

F32, F64 = np.float32, np.float64
K_C2 = F32(0.0009)
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


def _fma(a, b, c, out=None):
    """float32 ``a * b + c`` with one rounding, as the tool's FMA instructions (see the module docstring)."""
    return np.add(np.multiply(a, b, dtype=F64), c, out=out, dtype=F64, casting="same_kind") if out is not None \
        else (np.multiply(a, b, dtype=F64) + c).astype(F32)


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
_CHUNK = 4  # recursion steps whose input terms are computed together (bounds the temporaries)


def _input_sums(lines: np.ndarray) -> np.ndarray:
    """(L, ...) -> (L + N - 1, M), M the product of the other sides: row t is x[n - N - 1] + x[n + N - 1]
    for n = t - N + 1, i.e. x[t - 2N] + x[t] (zeros outside). ``lines`` may be any view."""
    length = lines.shape[0]
    sums = np.zeros((length + RADIUS - 1,) + lines.shape[1:], F32)
    sums[:length] = lines
    sums = sums.reshape(len(sums), -1)
    if length > RADIUS + 1:
        sums[2 * RADIUS:] += sums[:length - RADIUS - 1]  # numpy reads the overlapping rows before writing
    return sums


def _blur_rows(lines: np.ndarray) -> np.ndarray:
    """libjxl's ``FastGaussian1D`` along axis 0 of float32 (W, ...), for every column at once: single
    steps up to n = 8 (the first multiple of 4 above N), then four outputs per step while their inputs
    are inside, then single steps. Returns float32 (W, M), M the product of the other sides."""
    width = lines.shape[0]
    sums = _input_sums(lines)  # sums[n + N - 1]
    count = sums.shape[1]
    result = np.empty((width, count), F32)
    prev, prev2 = np.zeros((3, count), F32), np.zeros((3, count), F32)
    mul_in0, mul_prev0 = MUL_IN[:, :1], MUL_PREV[:, :1].astype(F64)

    def single(n):
        nonlocal prev, prev2
        out = mul_in0 * sums[n + RADIUS - 1]  # float32 product
        out = out - prev2  # fma(-1, prev2, out): exact product, one rounding
        out = _fma(mul_prev0, prev, out)
        prev2, prev = prev, out
        if n >= 0:
            result[n] = out[0] + (out[1] + out[2])

    n = -RADIUS + 1
    first = -(-(RADIUS + 1) // 4) * 4
    while n < min(first, width):
        single(n)
        n += 1
    last = width - RADIUS + 1 - 3  # four-output steps while n < last
    mul_prev2, mul_prev = MUL_PREV2.T[:, :, None].astype(F64), MUL_PREV.T[:, :, None].astype(F64)  # (lane, term, 1)
    product = np.empty((4, 3, count), F64)
    while n < last:
        steps = min(_CHUNK, (last - n + 3) // 4)
        block = sums[n + RADIUS - 1:n + RADIUS - 1 + 4 * steps].reshape(steps, 4, 1, count)
        out = np.multiply(MUL_IN.T[None, :, :, None], block[:, 0:1])  # (steps, lane j, term, M): the s[n] part
        for i in range(1, 4):  # s[n + i] enters lanes j >= i, in the tool's order
            _fma(MUL_IN.T[None, :4 - i, :, None], block[:, i:i + 1], out[:, i:], out=out[:, i:])
        for current in out:  # (lane, term, M); then the previous two outputs, as the tool adds them
            np.multiply(mul_prev2, prev2, out=product)
            np.add(product, current, out=current, casting="same_kind")
            np.multiply(mul_prev, prev, out=product)
            np.add(product, current, out=current, casting="same_kind")
            prev2, prev = current[2], current[3]
        result[n:n + 4 * steps] = (out[:, :, 0] + (out[:, :, 1] + out[:, :, 2])).reshape(4 * steps, count)
        n += 4 * steps
    while n < width:
        single(n)
        n += 1
    return result


def _blur_columns(lines: np.ndarray) -> np.ndarray:
    """libjxl's ``VerticalStrip`` along axis 0 of float32 (H, ...): per term
    ``y[n] = fma(n2, s[n], -(d1 y[n-1]) - y[n-2])``, from n = -N + 1. Returns float32 (H, M)."""
    sums = _input_sums(lines)
    count = sums.shape[1]
    n2 = MUL_IN[:, 0].astype(F64)[None, :, None]
    neg_d1 = MUL_PREV[:, 0].astype(F64)[:, None]  # -d1 in float32
    result = np.empty((len(sums) - RADIUS + 1, count), F32)
    y1, y2 = np.zeros((3, count), F32), np.zeros((3, count), F32)
    product = np.empty((3, count), F64)
    feedback = np.empty((3, count), F32)
    for start in range(0, len(sums), _CHUNK):
        inputs = n2 * sums[start:start + _CHUNK, None]  # exact float64 products
        terms = np.empty((len(inputs), 3, count), F32)
        for k in range(len(inputs)):
            np.multiply(neg_d1, y1, out=product)
            np.subtract(product, y2, out=feedback, casting="same_kind")  # NegMulSub(d1, y1, y2)
            np.add(inputs[k], feedback, out=terms[k], casting="same_kind")
            y2, y1 = y1, terms[k]
        first = max(start, RADIUS - 1)  # outputs start at n = 0
        terms = terms[first - start:]
        result[first - RADIUS + 1:first - RADIUS + 1 + len(terms)] = terms[:, 0] + (terms[:, 1] + terms[:, 2])
    return result


def blur(planes: np.ndarray) -> np.ndarray:
    """libjxl's ``FastGaussian`` (rows, then columns) of each float32 plane of (P, H, W)."""
    count, height, width = planes.shape
    rows = _blur_rows(planes.transpose(2, 0, 1)).reshape(width, count, height)
    return _blur_columns(rows.transpose(2, 1, 0)).reshape(height, count, width).transpose(1, 0, 2)


# --- colour ---------------------------------------------------------------------------------------

def _srgb_table() -> np.ndarray:
    """libjxl's ``TF_SRGB::DisplayFromEncoded`` of ``v * (1/255)`` (float32) for v = 0..255: ``x / 12.92``
    up to 0.04045, else its rational polynomial (Horner with FMAs; within 1e-6 of the sRGB curve)."""
    p = F32([2.200248328e-04, 1.043637593e-02, 1.624820318e-01, 7.961564959e-01, 8.210152774e-01])
    q = F32([2.631846970e-01, 1.076976492e+00, 4.987528350e-01, -5.512498495e-02, 6.521209011e-03])
    x = np.arange(256, dtype=F32) * F32(1.0 / 255)
    numerator, denominator = np.full(256, p[4]), np.full(256, q[4])
    for k in (3, 2, 1, 0):
        numerator, denominator = _fma(numerator, x, p[k]), _fma(denominator, x, q[k])
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
    return SRGB_TO_LINEAR[image.transpose(2, 0, 1)]


def _cube_root_and_add(x: np.ndarray, add: np.float32) -> np.ndarray:
    """libjxl's ``CubeRootAndAdd`` of float32 x >= 0: exponent trick, 3 + 1 Newton steps, ``r^2 x + add``."""
    bits = x.view(np.int32)
    r = np.where(bits == 0, np.int32(0), np.int32(0x54800000) - (bits >> 23) * np.int32(0x002AAAAA)).view(F32)
    third, four_thirds = F32(1.0 / 3), F32(4.0 / 3)
    neg_x_third = -(third * x)
    for _ in range(3):
        r2 = r * r
        r = _fma(neg_x_third, r2 * r2, four_thirds * r)
    r2 = r * r
    r = _fma(third, _fma(-x, r2 * r2, r), r)
    return _fma(r * r, x, add)


def positive_xyb(linear: np.ndarray) -> np.ndarray:
    """Linear RGB float32 (3, H, W) -> libjxl XYB, rescaled to about 0..1 as ``MakePositiveXYB``."""
    red, green, blue = linear
    mixed = []
    for row in OPSIN:
        value = _fma(row[0], red, _fma(row[1], green, _fma(row[2], blue, BIAS)))
        mixed.append(_cube_root_and_add(np.maximum(value, F32(0)), NEG_CBRT_BIAS))
    half = F32(0.5)
    x, y = half * (mixed[0] - mixed[1]), half * (mixed[0] + mixed[1])
    return np.stack([x * F32(14) + F32(0.42), y + F32(0.01), (mixed[2] - y) + F32(0.55)])


def downsample(linear: np.ndarray) -> np.ndarray:
    """2x2 mean of float32 (3, H, W), the last odd row/column repeated (``Downsample(.., 2, 2)``:
    ``((a + b) + c) + d`` along the two rows, times 0.25)."""
    _, h, w = linear.shape
    padded = np.pad(linear, [(0, 0), (0, h % 2), (0, w % 2)], mode="edge")
    total = padded[:, 0::2, 0::2] + padded[:, 0::2, 1::2]
    total += padded[:, 1::2, 0::2]
    total += padded[:, 1::2, 1::2]
    return total * F32(0.25)


# --- one scale ------------------------------------------------------------------------------------

def _norms(values: np.ndarray) -> list[np.ndarray]:
    """Per plane of float64 (3, H, W): the mean and the 4-norm (mean of 4th powers)^(1/4)."""
    mean = values.mean(axis=(1, 2))
    np.square(values, out=values)
    np.square(values, out=values)
    return [mean, np.sqrt(np.sqrt(values.mean(axis=(1, 2))))]


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


def _scale_scores(img1, mu1, variance1, img2) -> np.ndarray:
    """(3 channels, 6 numbers) of one scale: SSIM (1-norm, 4-norm), artifact (1, 4), detail lost (1, 4).
    The tool's float32 expressions, in place where that keeps their order (float64 where it uses double)."""
    mu2 = blur(img2)
    num_s = blur(img1 * img2)
    num_s -= mu1 * mu2
    num_s *= F32(2)
    num_s += K_C2  # 2 (sigma12 - mu1 mu2) + kC2
    denom_s = blur(img2 * img2)
    denom_s -= mu2 * mu2
    denom_s += variance1
    denom_s += K_C2  # (sigma11 - mu1^2) + (sigma22 - mu2^2) + kC2
    num_m = mu1 - mu2
    num_m *= num_m
    np.subtract(1.0, num_m, out=num_m, dtype=F64, casting="same_kind")  # float(1.0 - (mu1 - mu2)^2)
    num_s *= num_m
    num_s /= denom_s
    del num_m, denom_s
    ssim = np.subtract(1.0, num_s, dtype=F64)
    del num_s
    scores = _norms(np.maximum(ssim, 0.0, out=ssim))
    del ssim
    edge = np.add(np.abs(img2 - mu2), 1.0, dtype=F64)
    edge /= np.add(np.abs(img1 - mu1), 1.0, dtype=F64)
    edge -= 1.0  # (1 + |img2 - mu2|) / (1 + |img1 - mu1|) - 1
    detail_lost = np.maximum(-edge, 0.0)
    scores += _norms(np.maximum(edge, 0.0, out=edge)) + _norms(detail_lost)
    return np.stack(scores, axis=1)


def ssimulacra2(reference: np.ndarray | list, distorted: np.ndarray) -> float:
    """The SSIMULACRA 2.1 score of two uint8 sRGB (H, W, 3) images of equal size (>= 8 px a side);
    ``reference`` may be its :func:`reference_side`."""
    side = reference_side(reference) if isinstance(reference, np.ndarray) else reference
    linear = linear_from_srgb(distorted)
    per_scale = []
    for scale, (img1, mu1, variance1) in enumerate(side):
        if scale:
            linear = downsample(linear)
        per_scale.append(_scale_scores(img1, mu1, variance1, positive_xyb(linear)))
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
        """Measured (tracemalloc) on kodim01 at 768x512: peak 53 bytes per byte of the uint8 image for the
        first pair of a reference (its kept side is 16 of them), rounded up by 25%."""
        return 66

    def describe(self):
        return ("rdpbench.metrics.ssimulacra2 (numpy float32 emulation of cloudinary/ssimulacra2 81feacf, "
                "SSIMULACRA 2.1)")

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
