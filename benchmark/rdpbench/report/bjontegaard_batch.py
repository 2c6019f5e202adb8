"""Bjøntegaard deltas of many curve pairs at once (the bootstrap's resamples), in numpy.

For each row b of the (B, K) arrays, :func:`delta` is what the ``bjontegaard`` package's ``bd_linear``
returns for that one pair of curves: the mean difference test - anchor of the interpolated y over
the overlap of the two x ranges (NaN without overlap). The interpolants are the package's: scipy's
``Akima1DInterpolator`` (method "akima", the original Akima slopes) and ``PchipInterpolator`` (Fritsch-
Carlson slopes with the one-sided three-point end rule), both piecewise cubic Hermite and integrated
exactly, and "cubic", ``np.polyfit(x, y, 3)`` (VCEG-M33's one cubic through all points). x must be
strictly increasing along each row (rows that are not give NaN); K >= 3.
"""

from __future__ import annotations

import numpy as np

METHODS = ("akima", "pchip", "cubic")


def _akima_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scipy's Akima1DInterpolator(method="akima") slopes at the knots, per row (B, K)."""
    m = np.empty((x.shape[0], x.shape[1] + 3))
    m[:, 2:-2] = np.diff(y, axis=1) / np.diff(x, axis=1)
    m[:, 1] = 2 * m[:, 2] - m[:, 3]
    m[:, 0] = 2 * m[:, 1] - m[:, 2]
    m[:, -2] = 2 * m[:, -3] - m[:, -4]
    m[:, -1] = 2 * m[:, -2] - m[:, -3]
    slopes = 0.5 * (m[:, 3:] + m[:, :-3])
    dm = np.abs(np.diff(m, axis=1))
    f1, f2 = dm[:, 2:], dm[:, :-2]
    f12 = f1 + f2
    defined = f12 > 1e-9 * f12.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        weighted = m[:, 1:-2] + f2 / f12 * (m[:, 2:-1] - m[:, 1:-2])
    return np.where(defined, weighted, slopes)


def _pchip_end(h0, h1, m0, m1):
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    d = np.where(np.sign(d) != np.sign(m0), 0.0,
                 np.where((np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3 * np.abs(m0)), 3 * m0, d))
    return d


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scipy's PchipInterpolator slopes at the knots, per row (B, K)."""
    h = np.diff(x, axis=1)
    m = np.diff(y, axis=1) / h
    flat = (np.sign(m[:, 1:]) != np.sign(m[:, :-1])) | (m[:, 1:] == 0) | (m[:, :-1] == 0)
    w1, w2 = 2 * h[:, 1:] + h[:, :-1], h[:, 1:] + 2 * h[:, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (w1 + w2) / (w1 / m[:, :-1] + w2 / m[:, 1:])
    d = np.empty_like(y)
    d[:, 1:-1] = np.where(flat, 0.0, inner)
    d[:, 0] = _pchip_end(h[:, 0], h[:, 1], m[:, 0], m[:, 1])
    d[:, -1] = _pchip_end(h[:, -1], h[:, -2], m[:, -1], m[:, -2])
    return d


def _hermite_antiderivative(x, y, d, z):
    """Integral from x[:, 0] to z (B,) of the piecewise cubic Hermite interpolant with slopes d."""
    h = np.diff(x, axis=1)
    full = h * (y[:, :-1] + y[:, 1:]) / 2 + h ** 2 * (d[:, :-1] - d[:, 1:]) / 12
    before = np.concatenate([np.zeros((len(x), 1)), np.cumsum(full, axis=1)], axis=1)
    rows = np.arange(len(x))
    j = np.clip((x[:, 1:-1] <= z[:, None]).sum(axis=1), 0, x.shape[1] - 2)
    hj = h[rows, j]
    t = (z - x[rows, j]) / hj
    partial = hj * (y[rows, j] * (t ** 4 / 2 - t ** 3 + t) + hj * d[rows, j] * (t ** 4 / 4 - 2 * t ** 3 / 3 + t ** 2 / 2)
                    + y[rows, j + 1] * (-t ** 4 / 2 + t ** 3) + hj * d[rows, j + 1] * (t ** 4 / 4 - t ** 3 / 3))
    return before[rows, j] + partial


def _cubic_antiderivative(x, y, z_low, z_high):
    """Integral from z_low to z_high of np.polyfit(x, y, 3) per row, solved as np.polyfit does
    (columns scaled to unit norm, minimum-norm least squares with rcond = K * eps)."""
    vander = x[:, :, None] ** np.arange(3, -1, -1)
    scale = np.sqrt((vander ** 2).sum(axis=1, keepdims=True))
    coefficients = (np.linalg.pinv(vander / scale, rcond=x.shape[1] * np.finfo(float).eps) @ y[:, :, None])[:, :, 0]
    coefficients = coefficients / scale[:, 0, :]
    powers = np.arange(4, 0, -1)

    def primitive(z):
        return (coefficients / powers * z[:, None] ** powers).sum(axis=1)

    return primitive(z_high) - primitive(z_low)


def _integral(x, y, low, high, method):
    if method == "cubic":
        return _cubic_antiderivative(x, y, low, high)
    d = _akima_slopes(x, y) if method == "akima" else _pchip_slopes(x, y)
    return _hermite_antiderivative(x, y, d, high) - _hermite_antiderivative(x, y, d, low)


def delta(x_anchor: np.ndarray, y_anchor: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
          method: str = "akima") -> np.ndarray:
    """Mean of y_test - y_anchor over the overlap of the x ranges, per row: (B,) from (B, K) arrays
    (anchor and test may have different K). NaN where x is not strictly increasing or the ranges
    do not overlap."""
    if method not in METHODS:
        raise ValueError(f"unknown interpolation {method!r}: choose one of {', '.join(METHODS)}")
    arrays = [np.asarray(a, float) for a in (x_anchor, y_anchor, x_test, y_test)]
    x_anchor, y_anchor, x_test, y_test = (a[None, :] if a.ndim == 1 else a for a in arrays)
    valid = ((np.diff(x_anchor, axis=1) > 0).all(axis=1) & (np.diff(x_test, axis=1) > 0).all(axis=1)
             & np.isfinite(y_anchor).all(axis=1) & np.isfinite(y_test).all(axis=1))
    low = np.maximum(x_anchor[:, 0], x_test[:, 0])
    high = np.minimum(x_anchor[:, -1], x_test[:, -1])
    valid &= high > low
    result = np.full(len(valid), np.nan)
    if valid.any():
        low, high = low[valid], high[valid]
        with np.errstate(all="ignore"):
            difference = (_integral(x_test[valid], y_test[valid], low, high, method)
                          - _integral(x_anchor[valid], y_anchor[valid], low, high, method))
        result[valid] = difference / (high - low)
    return result


def bd_rate_and_metric(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "akima"):
    """(BD-rate in percent, BD-metric) per row, as the package's ``bd_rate`` and ``bd_psnr`` give
    them: quality must rise with rate (pass a lower-is-better metric negated). Points of each row are
    taken in rate order; a row whose quality is not strictly rising with rate is NaN for BD-rate."""
    arrays = [np.atleast_2d(np.asarray(a, float)) for a in (rate_anchor, quality_anchor, rate_test, quality_test)]
    rate_anchor, quality_anchor, rate_test, quality_test = arrays
    order_a, order_t = np.argsort(rate_anchor, axis=1), np.argsort(rate_test, axis=1)
    log_a = np.log10(np.take_along_axis(rate_anchor, order_a, axis=1))
    log_t = np.log10(np.take_along_axis(rate_test, order_t, axis=1))
    q_a, q_t = np.take_along_axis(quality_anchor, order_a, axis=1), np.take_along_axis(quality_test, order_t, axis=1)
    log_delta = delta(q_a, log_a, q_t, log_t, method)
    with np.errstate(over="ignore"):
        return (10 ** log_delta - 1) * 100, delta(log_a, q_a, log_t, q_t, method)
