"""How sure the report's comparisons are: bootstrap intervals over images and paired per-image tests.

Conventions (each output that carries an interval names its method, resample count and seed in an
``interval`` column or caption):

- **Bootstrap** (:class:`Bootstrap`): ``resamples`` draws (``rdpbench report --bootstrap``, default
  1000) of the compared images with replacement from ``numpy.random.default_rng(seed)`` (``--seed``,
  default 0); the 95% interval is the 2.5th and 97.5th percentile of the statistic over the draws
  where it is defined (a resampled curve that is no longer monotonic has no BD-rate: such draws are
  counted in the description). A comparison of two codecs is **paired**: each draw takes the same
  images for both (and, for distribution metrics, the same images' patches for the originals and
  the reconstructions).
- **BD-rate / BD-metric**: each draw averages bpp and the metric of every setting over the drawn
  images and computes both deltas on those curves (rdpbench.report.bjontegaard_batch: the
  ``bjontegaard`` package's interpolants, vectorised).
- **Per-image comparison at equal rate** (:func:`paired_at_rate`): each image's value at the rate is
  interpolated linearly in log10(bpp) on that image's own curve (images whose curve does not reach the
  rate are left out, never extrapolated); "better on k of n images"; two-sided sign test
  (``scipy.stats.binomtest``, p = 1/2, ties left out) and Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``, zero differences left out).
- **Distribution metrics** (:func:`distribution_intervals`): FID-type and KID values are bootstrapped
  over images, each draw taking whole images with all their patches on both sides, recomputed from
  the stored features (the originals' too: ``original_features``) without any network, with at most
  ``MAX_DISTRIBUTION_RESAMPLES`` draws and up to ``MAX_PATCHES`` patches; other distribution metrics
  get no interval, and say so.
- **No difference**: an interval that includes 0, or a test with p >= 0.05, is reported as
  "no significant difference" (``NOT_SIGNIFICANT``) in tables and on the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

LEVEL = 0.95
NOT_SIGNIFICANT = "n.s."


@dataclass(frozen=True)
class Bootstrap:
    resamples: int = 1000
    seed: int = 0

    def draws(self, n: int) -> np.ndarray:
        """(resamples, n) indices into the n compared images, the same for every comparison on n images."""
        return np.random.default_rng(self.seed).integers(0, n, (self.resamples, n))

    def interval(self, values: np.ndarray) -> tuple[float, float, int]:
        """(low, high, number of draws where the statistic is undefined) of the 95% percentile interval."""
        values = np.asarray(values, float)
        defined = values[np.isfinite(values)]
        if len(defined) < max(2, 0.5 * len(values)):  # mostly undefined: no interval
            return math.nan, math.nan, len(values) - len(defined)
        tail = 100 * (1 - LEVEL) / 2
        low, high = np.percentile(defined, [tail, 100 - tail])
        return float(low), float(high), len(values) - len(defined)

    def describe(self, n: int, undefined: int = 0, unit: str = "images") -> str:
        """The method, as every interval states it."""
        dropped = f"; {undefined} draws undefined, left out" if undefined else ""
        return (f"{LEVEL:.0%} percentile bootstrap over {n} {unit}, paired, {self.resamples} resamples, "
                f"seed {self.seed}{dropped}")


def excludes_zero(low: float, high: float) -> bool | None:
    """Whether an interval excludes 0 (a significant difference); None without an interval."""
    if math.isnan(low) or math.isnan(high):
        return None
    return low > 0 or high < 0


def resampled_means(matrix: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """(resamples, K) means of each row of ``matrix`` (K, n) over each draw's images (resamples, n)."""
    return matrix[:, draws].mean(axis=2).T


def per_image_matrix(per_image: pd.DataFrame, codec: str, settings: list[str], images: list[str],
                     column: str) -> np.ndarray:
    """(len(settings), len(images)) values of ``column`` for one codec, rows and columns in the given order."""
    rows = per_image[(per_image["codec"] == codec) & (per_image["error"] == "")]
    table = rows.pivot_table(index="setting", columns="image", values=column, aggfunc="first")
    return table.reindex(index=settings, columns=images).to_numpy(float)


def value_at_rate(rates: np.ndarray, values: np.ndarray, bpp: float) -> np.ndarray:
    """Per image (columns of the (K, n) arrays), the value at ``bpp``, linear in log10(bpp) on that
    image's own points (sorted by its bpp); NaN where its points do not reach ``bpp``."""
    result = np.full(rates.shape[1], np.nan)
    for i in range(rates.shape[1]):
        keep = np.isfinite(rates[:, i]) & np.isfinite(values[:, i]) & (rates[:, i] > 0)
        r, v = rates[keep, i], values[keep, i]
        order = np.argsort(r)
        r, v = r[order], v[order]
        if len(r) >= 2 and r[0] <= bpp <= r[-1]:
            result[i] = np.interp(np.log10(bpp), np.log10(r), v)
    return result


def paired_at_rate(codec_values: np.ndarray, anchor_values: np.ndarray, higher_is_better: bool) -> dict:
    """The paired comparison of two codecs' per-image values at one rate (NaNs left out): n, better,
    worse, ties, sign-test and Wilcoxon p-values, the mean difference codec - anchor, and the verdict."""
    from scipy import stats

    both = np.isfinite(codec_values) & np.isfinite(anchor_values)
    difference = codec_values[both] - anchor_values[both]
    gain = difference if higher_is_better else -difference
    better, worse = int((gain > 0).sum()), int((gain < 0).sum())
    sign_p = stats.binomtest(better, better + worse, 0.5).pvalue if better + worse else math.nan
    wilcoxon_p = (float(stats.wilcoxon(difference[difference != 0]).pvalue)
                  if (difference != 0).sum() >= 2 else math.nan)
    significant = sign_p < 1 - LEVEL if not math.isnan(sign_p) else None
    verdict = ("" if significant is None else
               NOT_SIGNIFICANT if not significant else "codec better" if better > worse else "anchor better")
    return {"n_images": int(both.sum()), "better_on": better, "worse_on": worse,
            "ties": int(both.sum()) - better - worse, "sign_test_p": float(sign_p), "wilcoxon_p": wilcoxon_p,
            "mean_difference": float(difference.mean()) if len(difference) else math.nan, "verdict": verdict}


# -- distribution metrics ---------------------------------------------------------------------------------
FRECHET = {"fid", "fd_dinov2"}  # torch-fidelity's Fréchet distance of the two feature sets
KERNEL = {"kid"}                # torch-fidelity's KID: polynomial kernel (x.y / D + 1)^3, unbiased MMD^2
MAX_PATCHES = 1000              # up to KID's subset size its value is the MMD^2 of the whole sets, as here
MAX_DISTRIBUTION_RESAMPLES = 200  # each Fréchet draw needs an eigen-decomposition: at most this many


def distribution_draws(reference: list[np.ndarray], reconstruction: list[np.ndarray], weights: np.ndarray,
                       columns: set[str]) -> dict[str, np.ndarray]:
    """FID-type and KID values of resampled feature sets, from the stored features alone.

    ``reference``/``reconstruction``: per image, its patches' features (p_i, D), the same p_i on both
    sides; ``weights``: (B, n_images) how often each draw takes each image (with all its patches).
    Each value equals the metric of the feature sets with every image's patches repeated that often:
    the n x n products of the patches (n = all patches) are formed once and each draw reweights them
    (the Fréchet distance's tr sqrt(S1 S2) is the nuclear norm of the weighted, centred cross product,
    as in rdpbench.metrics.distribution.fid_from_few_features). Returns {column: (B,)}."""
    owner = np.repeat(np.arange(len(reference)), [len(f) for f in reference])
    first, second = (np.concatenate(f).astype(np.float64) for f in (reference, reconstruction))
    dimension = first.shape[1]
    g11, g22, g12 = first @ first.T, second @ second.T, first @ second.T
    out = {column: np.empty(len(weights)) for column in columns & (FRECHET | KERNEL)}
    chunk = max(1, int(2e7 // len(owner) ** 2))
    for start in range(0, len(weights), chunk):
        w = weights[start:start + chunk][:, owner].astype(np.float64)  # (b, n) patch weights
        total = w.sum(axis=1)

        def quadratic(matrix):
            return np.einsum("bp,pq,bq->b", w, matrix, w)

        if columns & FRECHET:
            m11, m22, m12 = quadratic(g11) / total ** 2, quadratic(g22) / total ** 2, quadratic(g12) / total ** 2
            traces = [((w * np.diag(g)).sum(axis=1) - total * m) / (total - 1) for g, m in ((g11, m11), (g22, m22))]
            rows_mean, columns_mean = w @ g12.T / total[:, None], w @ g12 / total[:, None]
            covmean = np.empty(len(w))
            for b, weight in enumerate(w):  # patches the draw does not take drop out of the product
                taken = np.flatnonzero(weight)
                centred = (g12[np.ix_(taken, taken)] - rows_mean[b][taken][:, None] - columns_mean[b][taken][None, :]
                           + m12[b])
                root = np.sqrt(weight[taken])
                scaled = root[:, None] * centred * root[None, :]
                covmean[b] = np.sqrt(np.clip(np.linalg.eigvalsh(scaled @ scaled.T), 0, None)).sum()
            covmean /= total - 1
            value = m11 + m22 - 2 * m12 + traces[0] + traces[1] - 2 * covmean
            for column in columns & FRECHET:
                out[column][start:start + chunk] = value
        if columns & KERNEL:
            kernels = [(g / dimension + 1) ** 3 for g in (g11, g22, g12)]
            within = [(quadratic(k) - (w * np.diag(k)).sum(axis=1)) / (total * (total - 1)) for k in kernels[:2]]
            value = within[0] + within[1] - 2 * quadratic(kernels[2]) / total ** 2
            for column in columns & KERNEL:
                out[column][start:start + chunk] = value
    return out


def distribution_intervals(store, bootstrap: Bootstrap) -> pd.DataFrame:
    """95% bootstrap intervals over images (each with its patches, the same images on the originals'
    side) of every stored FID-type and KID value, from the stored features: codec, setting, column,
    ci_low, ci_high, interval (the method), note (why a value has none)."""
    values = store.query("SELECT codec, setting, column_name, spec, n_patches FROM distribution_values "
                         "WHERE value IS NOT NULL")
    rows, cache = [], {}
    for codec, setting, column, spec, n_patches in values:
        row = {"codec": codec, "setting": setting, "column": column, "ci_low": math.nan, "ci_high": math.nan,
               "interval": "", "note": ""}
        rows.append(row)
        if column not in FRECHET | KERNEL:
            row["note"] = "no interval: no resampling formula for this metric in the report"
            continue
        if spec not in cache:
            cache[spec] = store.original_features(spec)
        originals = cache[spec]
        reconstructions = store.features_of(codec, setting, spec)
        images = sorted(set(originals) & set(reconstructions))
        if not originals:
            row["note"] = "no interval: the originals' features are not in this store (a run with this rdpbench adds them)"
        elif (n_patches or 0) > MAX_PATCHES:
            row["note"] = f"no interval: {n_patches} patches (the report resamples up to {MAX_PATCHES})"
        elif len(images) < 2 or bootstrap.resamples < 2:
            row["note"] = f"no interval: {len(images)} image(s)"
        if row["note"]:
            continue
        fewer = Bootstrap(min(bootstrap.resamples, MAX_DISTRIBUTION_RESAMPLES), bootstrap.seed)
        draws = fewer.draws(len(images))
        weights = np.zeros((len(draws), len(images)), np.int64)
        np.add.at(weights, (np.arange(len(draws))[:, None], draws), 1)
        resampled = distribution_draws([originals[i] for i in images], [reconstructions[i] for i in images], weights,
                                       {column})[column]
        row["ci_low"], row["ci_high"], undefined = fewer.interval(resampled)
        row["interval"] = fewer.describe(len(images), undefined, "images with their patches")
    return pd.DataFrame(rows, columns=["codec", "setting", "column", "ci_low", "ci_high", "interval", "note"])


def distribution_curve_draws(store, curves: list[tuple[str, list[str]]], column: str,
                             bootstrap: Bootstrap) -> tuple[list[np.ndarray], list[str], Bootstrap] | str:
    """For a paired BD bootstrap of a distribution metric: per (codec, its settings) in ``curves``,
    the (B, K) values of ``column`` at each setting for each draw, all draws taking the same images
    (those every setting of every curve has features of, and the originals); also those images and
    the Bootstrap used (at most MAX_DISTRIBUTION_RESAMPLES). A string says why there are none."""
    if column not in FRECHET | KERNEL:
        return "no interval: no resampling formula for this metric in the report"
    specs = {}
    for codec, settings in curves:
        for setting in settings:
            found = store.query("SELECT spec, n_patches FROM distribution_values WHERE codec = ? AND setting = ? "
                                "AND column_name = ?", (codec, setting, column))
            if not found:
                return f"no interval: no stored {column} of {codec} {setting}"
            specs[codec, setting] = found[0]
    if len({spec for spec, _ in specs.values()}) != 1:
        return "no interval: the settings' features differ in extractor or patches"
    spec = next(iter(specs.values()))[0]
    originals = store.original_features(spec)
    if not originals:
        return "no interval: the originals' features are not in this store (a run with this rdpbench adds them)"
    features = {key: store.features_of(*key, spec) for key in specs}
    images = sorted(set(originals).intersection(*(set(f) for f in features.values())))
    if sum(len(originals[i]) for i in images) > MAX_PATCHES:
        return f"no interval: more than {MAX_PATCHES} patches (the report resamples up to {MAX_PATCHES})"
    fewer = Bootstrap(min(bootstrap.resamples, MAX_DISTRIBUTION_RESAMPLES), bootstrap.seed)
    if len(images) < 2 or fewer.resamples < 2:
        return f"no interval: {len(images)} image(s) with features"
    draws = fewer.draws(len(images))
    weights = np.zeros((len(draws), len(images)), np.int64)
    np.add.at(weights, (np.arange(len(draws))[:, None], draws), 1)
    reference = [originals[i] for i in images]
    values = [np.stack([distribution_draws(reference, [features[codec, setting][i] for i in images], weights,
                                           {column})[column] for setting in settings], axis=1)
              for codec, settings in curves]
    return values, images, fewer
