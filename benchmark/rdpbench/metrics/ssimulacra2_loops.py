"""The compiled loops of rdpbench.metrics.ssimulacra2 (numba): the colour conversion, libjxl's recursive
Gaussian and the per-scale maps with their norms, in the tool's float32 operations and order.

Imported by rdpbench.metrics.ssimulacra2 only when a score is computed (numba and LLVM take about 0.5 s
to import). Arithmetic conventions, kept exact:

- float32 values stay float32 (``np.float32`` constants; a Python float literal would make float64);
- a fused multiply-add ``a * b + c`` of the tool is :func:`_fma`: float64 ``a * b`` (exact) plus ``c``,
  rounded to float32 once; no ``fastmath``, so LLVM neither contracts other products into FMAs nor
  reorders sums;
- ``error_model="numpy"``: a float division by zero gives inf/nan as in C++ instead of raising;
- the norms sum float64 values pixel by pixel, row by row, as the tool's scalar loops.

Compiled at the first score on a machine (about 14 s on this project's 2-core machine under load 3)
and cached: in ``NUMBA_CACHE_DIR`` when set, else next to this file (``__pycache__``), else, where
that is read-only (an installed package), in numba's user-wide cache ``~/.cache/numba``; later
processes load it in about 1.4 s (importing numba included). Where no folder is writable, every
process compiles anew (a warning says so).
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit

F32, F64 = np.float32, np.float64
ZERO, QUARTER, HALF, TWO, FOURTEEN = F32(0), F32(0.25), F32(0.5), F32(2), F32(14)
X_OFFSET, Y_OFFSET, B_OFFSET = F32(0.42), F32(0.01), F32(0.55)
THIRD, FOUR_THIRDS = F32(1.0 / 3), F32(4.0 / 3)
K_C2 = F32(0.0009)


def compiled(function):
    """numba's ``njit`` with the conventions above, cached where numba finds a writable folder."""
    try:
        return njit(cache=True, error_model="numpy")(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available for file ..."
        warnings.warn("SSIMULACRA 2's loops are compiled in every process (about 14 s): numba found no writable "
                      "cache folder; set NUMBA_CACHE_DIR to one")  # one location: shown once
        return njit(error_model="numpy")(function)


@compiled
def _fma(a, b, c):
    """float32 ``a * b + c`` with one rounding (see the module docstring)."""
    return F32(F64(a) * F64(b) + F64(c))


# --- recursive Gaussian ---------------------------------------------------------------------------
# The recursions run along axis 0 of a "padded" float32 array (2N + L + N - 1, M): the L lines x between
# 2N zero rows before and N - 1 after, so the input of output n, ``x[n + N - 1] + x[n - N - 1]`` with
# zeros outside (the tool's), is ``padded[t + 2N] + padded[t]`` for t = n + N - 1 (adding a 0 where one
# is missing changes at most the sign of a zero, which no later step can see). Each step is vectorised
# across the M lines.

@compiled
def _transpose_into(source, target, offset):
    """target[offset + j, i] = source[i, j] for a 2-D float32 source, by 16 x 16 tiles."""
    rows, columns = source.shape
    for j0 in range(0, columns, 16):
        for i0 in range(0, rows, 16):
            for j in range(j0, min(j0 + 16, columns)):
                for i in range(i0, min(i0 + 16, rows)):
                    target[offset + j, i] = source[i, j]


@compiled
def _single_step(padded, n, radius, n2, neg_d1, prev, prev2, result):
    """One output n of ``FastGaussian1D`` for every line m: per term k
    ``out = fma(-d1_k, prev, n2_k s - prev2)``; result[n] = out_0 + (out_1 + out_2) when n >= 0."""
    t = n + radius - 1
    for m in range(padded.shape[1]):
        s = padded[t + 2 * radius, m] + padded[t, m]
        o0 = _fma(neg_d1[0], prev[0, m], n2[0] * s - prev2[0, m])
        o1 = _fma(neg_d1[1], prev[1, m], n2[1] * s - prev2[1, m])
        o2 = _fma(neg_d1[2], prev[2, m], n2[2] * s - prev2[2, m])
        prev2[0, m], prev2[1, m], prev2[2, m] = prev[0, m], prev[1, m], prev[2, m]
        prev[0, m], prev[1, m], prev[2, m] = o0, o1, o2
        if n >= 0:
            result[n, m] = o0 + (o1 + o2)


@compiled
def _four_lanes(s0, s1, s2, s3, weigh_in, weigh_prev, weigh_prev2, p, p2):
    """One term of a four-output step: lane j weighs s[n..n+j] (``weigh_in[j - i]`` for s_i, added for
    i = 1, 2, 3 in turn), then the output before the previous one (p2) and the previous one (p)."""
    a0, a1, a2, a3 = weigh_in[0] * s0, weigh_in[1] * s0, weigh_in[2] * s0, weigh_in[3] * s0
    a1, a2, a3 = _fma(weigh_in[0], s1, a1), _fma(weigh_in[1], s1, a2), _fma(weigh_in[2], s1, a3)
    a2, a3 = _fma(weigh_in[0], s2, a2), _fma(weigh_in[1], s2, a3)
    a3 = _fma(weigh_in[0], s3, a3)
    a0, a1 = _fma(weigh_prev2[0], p2, a0), _fma(weigh_prev2[1], p2, a1)
    a2, a3 = _fma(weigh_prev2[2], p2, a2), _fma(weigh_prev2[3], p2, a3)
    a0, a1 = _fma(weigh_prev[0], p, a0), _fma(weigh_prev[1], p, a1)
    a2, a3 = _fma(weigh_prev[2], p, a2), _fma(weigh_prev[3], p, a3)
    return a0, a1, a2, a3


@compiled
def _four_step(padded, n, radius, mul_in, mul_prev, mul_prev2, prev, prev2, result):
    """Outputs n .. n + 3 of ``FastGaussian1D`` for every line (the tool's vector step)."""
    t, ahead = n + radius - 1, n + 3 * radius - 1
    for m in range(padded.shape[1]):
        s0, s1 = padded[ahead, m] + padded[t, m], padded[ahead + 1, m] + padded[t + 1, m]
        s2, s3 = padded[ahead + 2, m] + padded[t + 2, m], padded[ahead + 3, m] + padded[t + 3, m]
        x0, x1, x2, x3 = _four_lanes(s0, s1, s2, s3, mul_in[0], mul_prev[0], mul_prev2[0], prev[0, m], prev2[0, m])
        y0, y1, y2, y3 = _four_lanes(s0, s1, s2, s3, mul_in[1], mul_prev[1], mul_prev2[1], prev[1, m], prev2[1, m])
        z0, z1, z2, z3 = _four_lanes(s0, s1, s2, s3, mul_in[2], mul_prev[2], mul_prev2[2], prev[2, m], prev2[2, m])
        prev2[0, m], prev2[1, m], prev2[2, m] = x2, y2, z2
        prev[0, m], prev[1, m], prev[2, m] = x3, y3, z3
        result[n, m] = x0 + (y0 + z0)
        result[n + 1, m] = x1 + (y1 + z1)
        result[n + 2, m] = x2 + (y2 + z2)
        result[n + 3, m] = x3 + (y3 + z3)


@compiled
def _blur_rows(padded, radius, mul_in, mul_prev, mul_prev2, result):
    """libjxl's ``FastGaussian1D`` of the padded lines into float32 ``result`` (L, M): single steps up to
    n = 8 (the first multiple of 4 above N), four outputs per step while their inputs are inside, then
    single steps. Coefficients: per term k, 4-tuples of float32 (lane j of a four-output step)."""
    length, count = result.shape
    prev, prev2 = np.zeros((3, count), F32), np.zeros((3, count), F32)
    n2, neg_d1 = (mul_in[0][0], mul_in[1][0], mul_in[2][0]), (mul_prev[0][0], mul_prev[1][0], mul_prev[2][0])
    n = -radius + 1
    first = -(-(radius + 1) // 4) * 4
    while n < min(first, length):
        _single_step(padded, n, radius, n2, neg_d1, prev, prev2, result)
        n += 1
    while n < length - radius - 2:
        _four_step(padded, n, radius, mul_in, mul_prev, mul_prev2, prev, prev2, result)
        n += 4
    while n < length:
        _single_step(padded, n, radius, n2, neg_d1, prev, prev2, result)
        n += 1


@compiled
def _column_steps(padded, start, stop, radius, n2, neg_d1, y1, y2, result):
    """Steps t = start .. stop - 1 of libjxl's ``VerticalStrip`` down the padded columns, for every column
    m: per term ``y = fma(n2, s, NegMulSub(d1, y1, y2))`` with the states y1, y2 (3, M) of the previous
    steps; step t gives row t - N + 1 of ``result`` (L, M)."""
    for t in range(start, stop):
        for m in range(padded.shape[1]):
            s = F64(padded[t + 2 * radius, m] + padded[t, m])
            v0 = F32(F64(n2[0]) * s + F64(F32(F64(neg_d1[0]) * F64(y1[0, m]) - F64(y2[0, m]))))
            v1 = F32(F64(n2[1]) * s + F64(F32(F64(neg_d1[1]) * F64(y1[1, m]) - F64(y2[1, m]))))
            v2 = F32(F64(n2[2]) * s + F64(F32(F64(neg_d1[2]) * F64(y1[2, m]) - F64(y2[2, m]))))
            y2[0, m], y2[1, m], y2[2, m] = y1[0, m], y1[1, m], y1[2, m]
            y1[0, m], y1[1, m], y1[2, m] = v0, v1, v2
            if t >= radius - 1:
                result[t - radius + 1, m] = v0 + (v1 + v2)


@compiled
def _padded_in(arena, length, count, radius, stores):
    """A padded float32 array (2N + L + N - 1, M) inside ``arena`` (its size + 1024 floats), its zero rows
    set, placed against 4K aliasing: a pass reads its rows t and t + 2N while it writes row t - N + 1
    of an (L, M) array at byte address ``stores``; when a load's and a pending store's addresses agree
    in their low 12 bits, the CPU makes the load wait for the store ("4K aliasing"), which made the
    passes up to 5 times slower, depending on where the arrays happened to land. The array starts
    where both read streams are at least 1 KiB, modulo 4 KiB, away from the write stream."""
    rows, row_bytes = 3 * radius + length - 1, 4 * count
    behind = radius - 1  # reading row t (the nearer stream) goes with writing row t - (N - 1)
    between = (2 * radius * row_bytes) % 4096  # from the nearer read stream to the farther one
    gap = (4096 - between) // 2 if between <= 2048 else 4096 - between // 2  # the nearer one's distance
    shift = ((stores + gap - behind * row_bytes - arena.ctypes.data) % 4096) // 4
    padded = arena[shift:shift + rows * count].reshape(rows, count)
    padded[:2 * radius] = ZERO
    padded[2 * radius + length:] = ZERO
    return padded


BAND = 64  # image rows whose row pass runs together: its buffers and the columns' recent rows stay in L2


@compiled
def blur(planes, radius, mul_in, mul_prev, mul_prev2):
    """libjxl's ``FastGaussian`` (rows, then columns) of each float32 plane of (P, H, W) -> (P, H, W);
    ``mul_*``: per IIR term, a 4-tuple of float32 (rdpbench.metrics.ssimulacra2.BLUR). Bands of 64 image
    rows are transposed into lines, blurred along the row (vectorised across the band), written back
    into the padded columns, and the column recursion advances as far as those rows allow."""
    count, height, width = planes.shape
    n2, neg_d1 = (mul_in[0][0], mul_in[1][0], mul_in[2][0]), (mul_prev[0][0], mul_prev[1][0], mul_prev[2][0])
    result = np.empty((count, height, width), F32)
    blurred = np.empty((width, BAND), F32)
    lines = _padded_in(np.empty((3 * radius + width - 1) * BAND + 1024, F32), width, BAND, radius,
                       blurred.ctypes.data)
    lines[2 * radius:2 * radius + width] = ZERO  # the lines a last, narrower band leaves unused
    arena = np.empty((3 * radius + height - 1) * width + 1024, F32)
    y1, y2 = np.empty((3, width), F32), np.empty((3, width), F32)
    for p in range(count):
        columns = _padded_in(arena, height, width, radius, result[p].ctypes.data)
        y1[:], y2[:] = ZERO, ZERO
        for start in range(0, height, BAND):
            size = min(BAND, height - start)
            _transpose_into(planes[p, start:start + size], lines, 2 * radius)
            _blur_rows(lines, radius, mul_in, mul_prev, mul_prev2, blurred)
            _transpose_into(blurred[:, :size], columns, 2 * radius + start)
            _column_steps(columns, start, start + size, radius, n2, neg_d1, y1, y2, result[p])
        _column_steps(columns, height, height + radius - 1, radius, n2, neg_d1, y1, y2, result[p])
    return result


# --- colour ---------------------------------------------------------------------------------------

@compiled
def _opsin_mixed(red, green, blue, m0, m1, m2, bias, out):
    """out = max(fma(m0, red, fma(m1, green, fma(m2, blue, bias))), 0) of float32 (n,) arrays."""
    for i in range(out.size):
        value = _fma(m0, red[i], _fma(m1, green[i], _fma(m2, blue[i], bias)))
        out[i] = ZERO if value < ZERO else value


@compiled
def _cube_root_and_add(values, add, start):
    """In place, libjxl's ``CubeRootAndAdd`` of float32 values >= 0: an initial guess from the exponent
    bits (``start``: int32 scratch of the same size), 3 + 1 Newton steps, then ``fma(r^2, x, add)``."""
    bits = values.view(np.int32)
    for i in range(values.size):
        start[i] = 0 if bits[i] == 0 else 0x54800000 - (bits[i] >> 23) * 0x002AAAAA
    guess = start.view(F32)
    for i in range(values.size):
        r, value = guess[i], values[i]
        neg_x_third = -(THIRD * value)
        r2 = r * r  # the three Newton steps written out: the loop is vectorised
        r = _fma(neg_x_third, r2 * r2, FOUR_THIRDS * r)
        r2 = r * r
        r = _fma(neg_x_third, r2 * r2, FOUR_THIRDS * r)
        r2 = r * r
        r = _fma(neg_x_third, r2 * r2, FOUR_THIRDS * r)
        r2 = r * r
        r = _fma(THIRD, _fma(-value, r2 * r2, r), r)
        values[i] = _fma(r * r, value, add)


@compiled
def positive_xyb(linear, opsin, bias, neg_cbrt_bias):
    """Linear RGB float32 (3, H, W) -> positive XYB (3, H, W): per opsin row ``fma(m0, r, fma(m1, g,
    fma(m2, b, bias)))`` clamped at 0, libjxl's ``CubeRootAndAdd`` (exponent bit trick, 3 + 1 Newton
    steps, ``fma(r^2, x, -cbrt(bias))``), then X = 14 (L - M)/2 + 0.42, Y = (L + M)/2 + 0.01,
    B = (S - Y) + 0.55."""
    _, height, width = linear.shape
    red, green, blue = linear[0].ravel(), linear[1].ravel(), linear[2].ravel()
    mixed = np.empty((3, height * width), F32)
    scratch = np.empty(height * width, np.int32)
    for row in range(3):
        _opsin_mixed(red, green, blue, opsin[row, 0], opsin[row, 1], opsin[row, 2], bias, mixed[row])
        _cube_root_and_add(mixed[row], neg_cbrt_bias, scratch)
    ell, em, es = mixed[0], mixed[1], mixed[2]
    result = np.empty((3, height * width), F32)
    for i in range(height * width):
        y = HALF * (ell[i] + em[i])
        result[0, i] = HALF * (ell[i] - em[i]) * FOURTEEN + X_OFFSET
        result[1, i] = y + Y_OFFSET
        result[2, i] = (es[i] - y) + B_OFFSET
    return result.reshape(3, height, width)


@compiled
def downsample(linear):
    """2x2 mean of float32 (3, H, W) -> (3, ceil(H/2), ceil(W/2)), a last odd row/column repeated (the
    tool's ``Downsample(.., 2, 2)``): ``((top left + top right) + bottom left) + bottom right``, times 0.25."""
    planes, height, width = linear.shape
    result = np.empty((planes, (height + 1) // 2, (width + 1) // 2), F32)
    for c in range(planes):
        for y in range(result.shape[1]):
            top, bottom = linear[c, 2 * y], linear[c, min(2 * y + 1, height - 1)]
            for x in range(result.shape[2]):
                left, right = 2 * x, min(2 * x + 1, width - 1)
                result[c, y, x] = (((top[left] + top[right]) + bottom[left]) + bottom[right]) * QUARTER
    return result


# --- one scale ------------------------------------------------------------------------------------

@compiled
def scale_scores(img1, mu1, variance1, img2, mu2, sigma12, sigma22):
    """float64 (3 channels, 6) of one scale from its float32 (3, h, w) images and blurs: SSIM (mean,
    4-norm), artifact (mean, 4-norm), detail lost (mean, 4-norm). The tool's ``SSIMMap`` and
    ``EdgeDiffMap``: per pixel the SSIM error ``max(1 - num_m num_s / denom_s, 0)`` (float32 terms) and
    the edge difference ``(1 + |img2 - mu2|) / (1 + |img1 - mu1|) - 1`` (float64) split into artifact
    ``max(d, 0)`` and detail lost ``max(-d, 0)``; their values and 4th powers summed in float64 pixel
    after pixel, row after row, per channel; mean = sum / pixels, 4-norm = (sum / pixels)^(1/4)."""
    _, height, width = img1.shape
    one_per_pixels = 1.0 / (height * width)
    scores = np.empty((3, 6))
    terms = np.empty((6, width))  # one row's six summands, computed vectorised before the ordered sums
    for c in range(3):
        totals = np.zeros(6)
        for y in range(height):
            for x in range(width):
                m1, m2 = mu1[c, y, x], mu2[c, y, x]
                difference = m1 - m2
                num_m = F32(1.0 - F64(difference * difference))
                num_s = TWO * (sigma12[c, y, x] - m1 * m2) + K_C2
                denom_s = ((sigma22[c, y, x] - m2 * m2) + variance1[c, y, x]) + K_C2
                d = 1.0 - F64(num_s * num_m / denom_s)
                d = 0.0 if d < 0.0 else d  # std::max(d, 0.0)
                edge = (1.0 + F64(abs(img2[c, y, x] - m2))) / (1.0 + F64(abs(img1[c, y, x] - m1))) - 1.0
                artifact = 0.0 if edge < 0.0 else edge
                lost = 0.0 if -edge < 0.0 else -edge
                terms[0, x], terms[1, x] = d, (d * d) * (d * d)
                terms[2, x], terms[3, x] = artifact, (artifact * artifact) * (artifact * artifact)
                terms[4, x], terms[5, x] = lost, (lost * lost) * (lost * lost)
            for x in range(width):
                for k in range(6):
                    totals[k] += terms[k, x]
        for k in range(3):
            scores[c, 2 * k] = one_per_pixels * totals[2 * k]
            scores[c, 2 * k + 1] = np.sqrt(np.sqrt(one_per_pixels * totals[2 * k + 1]))
    return scores
