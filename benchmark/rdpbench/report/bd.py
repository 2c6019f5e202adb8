"""Rate savings: Bjøntegaard-delta rates against an anchor, with their uncertainty, and bitrates
matched at equal quality.

BD-rate uses the ``bjontegaard`` package on the summary points (mean bpp and mean metric per
setting): log10-rate interpolated as a function of the metric, integrated over the overlap of the
two curves; ``bd_rate_percent`` < 0 means fewer bits than the anchor for the same quality, whatever
the metric. It is defined only when both curves have at least 3 points whose metric is strictly
monotonic in rate (a rate-quality curve); otherwise the row says "n/a" and why. The package expects
quality rising with rate, so lower-is-better metrics are passed negated (stated in
``interpolation``); neither number is reported in that negated space.

Uncertainty (rdpbench.report.intervals): ``bd_rate_ci_low/high`` and ``bd_metric_ci_low/high`` are
95% paired bootstrap intervals over the images both codecs have (each draw: the same images for
codec and anchor, every setting's mean bpp and metric over them, both deltas with the same
interpolation, vectorised in rdpbench.report.bjontegaard_batch), described in ``interval``;
``bd_rate_methods_low/high`` is the spread of the point estimate over the package's akima, pchip
and cubic interpolations (BD estimates from 4-5 points are fragile: Hang et al., "Rethinking
Bjøntegaard Delta", 2024); ``significance`` says "n.s.: interval includes 0" when the BD-rate
interval includes no difference.

``bd_metric`` is the mean metric difference codec - anchor at equal rate (BD-PSNR generalised), in
the metric's own unit (``unit``) and direction (``direction``): +0.5 for PSNR is 0.5 dB better,
-0.5 for FID is 0.5 FID better. ``better`` reads both numbers: the codec's name (or the anchor's)
when BD-rate and BD-metric agree, "same" when both are zero, and "mixed (curves cross)" when they
disagree, which happens when the curves cross (BD-rate averages over the metric overlap, BD-metric
over the rate overlap).

Matched bitrates: for each setting of each codec and each other codec, the bpp the other codec needs
to reach the same metric value, interpolated piecewise-linearly in log-rate on its curve, and the
ratio (HiFiC's "BPG needs 2x the bits"). Values outside the other curve's range are "n/a".
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from rdpbench.report import bjontegaard_batch
from rdpbench.report.data import ReportData
from rdpbench.report.intervals import (NOT_SIGNIFICANT, Bootstrap, distribution_curve_draws, excludes_zero,
                                      per_image_matrix, resampled_means)

MIN_POINTS = 3
DEFAULT_METHOD = "akima"


def _undefined(curve: pd.DataFrame, metric: str) -> str:
    values, rates = curve[metric].to_numpy(float), curve["bpp"].to_numpy(float)
    if len(curve) == 0:
        return f"no {metric} values"
    if len(curve) < MIN_POINTS:
        return f"fewer than {MIN_POINTS} points"
    if not (np.isfinite(values).all() and np.isfinite(rates).all() and (rates > 0).all()):
        return "infinite values or zero rate"
    steps = np.diff(values)
    if not ((steps > 0).all() or (steps < 0).all()) or (np.diff(rates) <= 0).any():
        return f"{metric} is not strictly monotonic in rate"
    return ""


def paired_curves(data: ReportData, codecs: list[str], metric: str) -> tuple[list[pd.DataFrame], list[str] | None,
                                                                             int, str]:
    """The curves of ``codecs`` for comparing them: per-image metrics averaged over the images all of
    them have (:meth:`ReportData.common_images`), distribution metrics as stored. Returns the curves,
    those images (None: summary values), the number of images compared and a note when that is fewer
    than the folder's images or the values come from different images."""
    total = data.context.n_images
    if set(codecs) & data.imported:
        return [data.curve(codec, metric) for codec in codecs], None, total, "imported curve: its own images"
    images = data.common_images(codecs, metric)
    if images is not None:
        note = "" if len(images) >= total else f"on the {len(images)} images both have (of {total})"
        return [data.curve(codec, metric, images) for codec in codecs], images, len(images), note
    curves = [data.curve(codec, metric) for codec in codecs]
    rows = data.summary[data.summary["codec"].isin(codecs) & data.summary[metric].notna()]
    if "n_feature_images" not in rows.columns or rows["n_feature_images"].isna().all():
        return curves, None, total, ""
    low = int(rows["n_feature_images"].min())
    note = "" if low >= total else (f"values from {low}–{int(rows['n_feature_images'].max())} of {total} images: "
                                    "not all on the same images")
    return curves, None, low, note


def bd_rates(data: ReportData, anchor: str, method: str = DEFAULT_METHOD,
             bootstrap: Bootstrap = Bootstrap()) -> pd.DataFrame:
    """Every codec against ``anchor`` for every metric (see the module docstring and BD_COLUMNS)."""
    data.check_codec(anchor)
    return bd_table(data, [(codec, anchor) for codec in data.codecs() if codec != anchor], method, bootstrap)


def bd_table(data: ReportData, pairs: list[tuple[str, str]], method: str = DEFAULT_METHOD,
             bootstrap: Bootstrap = Bootstrap()) -> pd.DataFrame:
    """One row per (codec, anchor) pair and metric: the point estimates (``method``), their paired
    bootstrap intervals over the images both have, the spread of the point estimate over the
    package's three interpolations, and whether the BD-rate interval excludes 0."""
    rows = []
    for codec, anchor in pairs:
        for metric in data.metrics:
            rows.append(_bd_row(data, codec, anchor, metric, method, bootstrap))
    return pd.DataFrame(rows, columns=BD_COLUMNS)


def _package(reference: pd.DataFrame, test: pd.DataFrame, metric: str, sign: float, method: str) -> tuple[float, float]:
    """(BD-rate %, BD-metric in the metric's own direction) from the bjontegaard package."""
    import bjontegaard

    arguments = (reference["bpp"], sign * reference[metric], test["bpp"], sign * test[metric])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rate = bjontegaard.bd_rate(*arguments, method=method, require_matching_points=False, min_overlap=0)
        delta = sign * bjontegaard.bd_psnr(*arguments, method=method, require_matching_points=False, min_overlap=0)
    return float(rate), float(delta)


def _bd_row(data: ReportData, codec: str, anchor: str, metric: str, method: str, bootstrap: Bootstrap) -> dict:
    (reference, test), images, n_images, coverage = paired_curves(data, [anchor, codec], metric)
    reason = "" if images is None or images else f"no image has {metric} for both codecs"
    reason = reason or (_undefined(reference, metric) and f"anchor: {_undefined(reference, metric)}")
    reason = reason or (_undefined(test, metric) and f"{codec}: {_undefined(test, metric)}")
    sign = 1.0 if data.columns[metric].higher_is_better else -1.0  # the package wants quality rising with rate
    row = {"codec": codec, "metric": metric, "anchor": anchor, "n_images": n_images, "unit": data.columns[metric].unit,
           "direction": data.columns[metric].direction,
           "interpolation": f"bjontegaard {method}, log10 rate" + ("" if sign > 0 else f", on -{metric}")}
    if not reason:
        rate, delta = _package(reference, test, metric, sign, method)
        if math.isnan(rate):
            reason = "the curves do not overlap"
    if reason:
        row["note"] = "; ".join(t for t in (f"n/a: {reason}", coverage) if t)
        return {**dict.fromkeys(BD_COLUMNS, math.nan), **row, "better": "", "significance": "", "interval": ""}
    spread = [_package(reference, test, metric, sign, other)[0] for other in bjontegaard_batch.METHODS]
    row.update(bd_rate_percent=rate, bd_metric=delta, bd_rate_methods_low=min(spread), bd_rate_methods_high=max(spread),
               better=better(codec, anchor, rate, sign * delta))
    interval, why = _bootstrap(data, codec, anchor, metric, reference, test, images, sign, method, bootstrap)
    row.update(interval)
    significant = excludes_zero(row["bd_rate_ci_low"], row["bd_rate_ci_high"])
    row["significance"] = ("" if significant is None else "significant" if significant
                           else f"{NOT_SIGNIFICANT}: interval includes 0")
    row["note"] = "; ".join(t for t in (why, coverage) if t)
    return row


def _bootstrap(data: ReportData, codec: str, anchor: str, metric: str, reference: pd.DataFrame, test: pd.DataFrame,
               images: list[str] | None, sign: float, method: str, bootstrap: Bootstrap) -> tuple[dict, str]:
    """The paired bootstrap intervals of BD-rate and BD-metric, and a note when there are none."""
    empty = dict.fromkeys(["bd_rate_ci_low", "bd_rate_ci_high", "bd_metric_ci_low", "bd_metric_ci_high"], math.nan)
    if images is None and (bootstrap.resamples < 2 or {codec, anchor} & data.imported
                           or data.columns[metric].per_image):
        return {**empty, "interval": ""}, "no interval: no per-image values"
    if images is None:  # a distribution metric: recomputed per draw from the stored features
        from rdpbench.store import ResultsStore

        pairs = [(anchor, list(reference["setting"])), (codec, list(test["setting"]))]
        with ResultsStore(data.results, read_only=True) as store:
            found = distribution_curve_draws(store, pairs, metric, bootstrap)
        if isinstance(found, str):
            return {**empty, "interval": ""}, found
        values, images, bootstrap = found
        draws = bootstrap.draws(len(images))
        unit = "images with their patches"
    else:
        if len(images) < 2 or bootstrap.resamples < 2:
            return {**empty, "interval": ""}, f"no interval: {len(images)} image(s)"
        draws, values, unit = bootstrap.draws(len(images)), None, "images"
    curves = []
    for index, (name, curve) in enumerate(((anchor, reference), (codec, test))):
        settings = list(curve["setting"])
        source, transform = data.source(metric)
        rates = resampled_means(per_image_matrix(data.per_image, name, settings, images, "bpp"), draws)
        curves.append([rates, values[index] if values is not None else
                       transform(resampled_means(per_image_matrix(data.per_image, name, settings, images, source),
                                                 draws))])
    (rate_a, value_a), (rate_t, value_t) = curves
    rates, deltas = bjontegaard_batch.bd_rate_and_metric(rate_a, sign * value_a, rate_t, sign * value_t, method)
    rate_low, rate_high, undefined = bootstrap.interval(rates)
    metric_low, metric_high, _ = bootstrap.interval(sign * deltas)
    return ({"bd_rate_ci_low": rate_low, "bd_rate_ci_high": rate_high, "bd_metric_ci_low": metric_low,
             "bd_metric_ci_high": metric_high, "interval": bootstrap.describe(len(images), undefined, unit)}, "")


BD_COLUMNS = ["codec", "metric", "anchor", "n_images", "bd_rate_percent", "bd_rate_ci_low", "bd_rate_ci_high",
              "bd_rate_methods_low", "bd_rate_methods_high", "bd_metric", "bd_metric_ci_low", "bd_metric_ci_high",
              "unit", "direction", "better", "significance", "interpolation", "interval", "note"]


def better(codec: str, anchor: str, rate_percent: float, gain: float, tolerance: float = 1e-9) -> str:
    """Who wins: ``rate_percent`` < 0 (fewer bits) and ``gain`` > 0 (metric difference signed so
    that positive is better) both favour ``codec``."""
    votes = {int(math.copysign(1, -rate_percent)) if abs(rate_percent) > tolerance else 0,
             int(math.copysign(1, gain)) if abs(gain) > tolerance else 0}
    if votes == {0}:
        return "same"
    votes.discard(0)
    if len(votes) > 1:
        return "mixed (curves cross)"
    return codec if votes == {1} else anchor


def matched_bitrates(data: ReportData) -> pd.DataFrame:
    """Per setting of each codec and each other codec: both curves on the images both have
    (:func:`paired_curves`; ``n_images``, and the note says when that is fewer than the folder's)."""
    rows = []
    for codec in data.codecs():
        if codec in data.imported:
            continue
        for metric in data.metrics:
            for other in data.codecs():
                if other == codec:
                    continue
                (own, curve), _, n_images, coverage = paired_curves(data, [codec, other], metric)
                for point in own.to_dict("records"):  # metric names need not be identifiers
                    value = point[metric]
                    needed, note = _rate_for(curve, metric, value, data.columns[metric].heading)
                    rows.append({"codec": codec, "setting": point["setting"], "bpp": point["bpp"], "metric": metric,
                                 "value": value, "other_codec": other, "n_images": n_images, "other_bpp": needed,
                                 "bpp_ratio": needed / point["bpp"] if not note else math.nan,
                                 "note": "; ".join(t for t in (note, coverage) if t)})
    return pd.DataFrame(rows, columns=["codec", "setting", "bpp", "metric", "value", "other_codec", "n_images",
                                       "other_bpp", "bpp_ratio", "note"])


def _rate_for(curve: pd.DataFrame, metric: str, value: float, label: str) -> tuple[float, str]:
    reason = _undefined(curve, metric) if len(curve) >= 2 else "fewer than 2 points"
    if reason and "fewer than 3" not in reason:
        return math.nan, f"n/a: {reason}"
    values, log_rates = curve[metric].to_numpy(float), np.log10(curve["bpp"].to_numpy(float))
    if values[0] > values[-1]:
        values, log_rates = values[::-1], log_rates[::-1]
    if not values[0] <= value <= values[-1]:
        return math.nan, f"n/a: {label} {value:.4g} outside this curve's range"
    return float(10 ** np.interp(value, values, log_rates)), ""
