"""Bootstrap intervals of a study's derived claims, resampling raters and images (crossed).

**Scheme** (:func:`crossed_weights`): each of ``B`` draws (``study analyze --bootstrap``, default
1000; 0: no intervals) takes R raters with replacement from the R included raters and, independently,
I images with replacement from the study's I images, from ``numpy.random.default_rng(seed)``
(``--seed``, default 0; the R rater indices of every draw first, then the I image indices). An answer
of rater r on image i then counts ``w_r * v_i`` times, where ``w_r`` and ``v_i`` are how often the draw
took r and i (the two-way, "crossed" random-effects bootstrap; every answer of one rater moves together,
and so does every answer on one image). The statistic is recomputed from these weighted answers
exactly as from the answers themselves (and an image's stored bpp counts ``v_i`` times in a mean bpp);
the 95% interval is the 2.5th and 97.5th percentile over the draws where the statistic is defined
(:class:`rdpbench.report.intervals.Bootstrap`'s rule: with fewer than half of the draws defined there is
no interval, and the undefined draws are always counted in the ``interval`` column).

Statistics (arrays ``wins``/``counts`` of shape (R, I, G): per rater, image and group of answers, e.g.
a pairing, the answers won by the group's first entry and all answers):

- :func:`rater_mean_share`: per group, the mean over raters (with answers in the group) of each
  rater's share of wins: the GC preference ``pref_a`` of :func:`rdpbench.study.analysis.preferences`;
- :func:`pooled_share`: per group, all wins over all answers (a pooled win rate).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rdpbench.report.intervals import LEVEL, Bootstrap

INTERVAL_COLUMNS = ["boot_low", "boot_high", "interval"]


def crossed_weights(n_raters: int, n_images: int, bootstrap: Bootstrap) -> tuple[np.ndarray, np.ndarray]:
    """(rater weights (B, n_raters), image weights (B, n_images)): how often each draw takes each rater
    and each image (non-negative integers summing to n_raters and n_images per row)."""
    rng = np.random.default_rng(bootstrap.seed)
    raters = rng.integers(0, n_raters, (bootstrap.resamples, n_raters))
    images = rng.integers(0, n_images, (bootstrap.resamples, n_images))
    return _counts(raters, n_raters), _counts(images, n_images)


def rater_weights(n_raters: int, bootstrap: Bootstrap) -> np.ndarray:
    """(B, n_raters) weights of a one-way bootstrap over raters (the rater draws of :func:`crossed_weights`)."""
    return crossed_weights(n_raters, 0, bootstrap)[0]


def _counts(draws: np.ndarray, n: int) -> np.ndarray:
    weights = np.zeros((len(draws), n))
    np.add.at(weights, (np.arange(len(draws))[:, None], draws), 1)
    return weights


def cells(answers: pd.DataFrame, group: list[str] | str, images: list[str] | None = None,
          won: str = "a_won") -> tuple[np.ndarray, np.ndarray, list, list, list]:
    """(wins (R, I, G), counts (R, I, G), raters, images, groups) of ``answers`` (columns rater, image,
    the ``group`` column(s) and the boolean ``won``); ``images`` fixes the image axis (images without
    answers get zero counts), else the answers' images. Raters, images and groups in sorted order
    (groups: in order of first appearance)."""
    keys = answers[group].apply(tuple, axis=1) if isinstance(group, list) else answers[group]
    raters = sorted(answers["rater"].unique())
    images = sorted(answers["image"].unique()) if images is None else list(images)
    groups = list(dict.fromkeys(keys))
    index = [pd.Index(raters).get_indexer(answers["rater"]), pd.Index(images).get_indexer(answers["image"]),
             pd.Index(groups).get_indexer(keys)]
    wins, counts = (np.zeros((len(raters), len(images), len(groups))) for _ in range(2))
    np.add.at(wins, tuple(index), answers[won].to_numpy(float))
    np.add.at(counts, tuple(index), 1.0)
    return wins, counts, raters, images, groups


def _per_rater(wins: np.ndarray, counts: np.ndarray, image_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, R, G) weighted wins and answers of each rater over the images."""
    return (np.einsum("bi,rig->brg", image_weights, wins), np.einsum("bi,rig->brg", image_weights, counts))


def rater_mean_share(wins: np.ndarray, counts: np.ndarray, rater_weights: np.ndarray,
                     image_weights: np.ndarray) -> np.ndarray:
    """(B, G) mean over raters of each rater's share of wins, raters weighted by ``rater_weights``
    (B, R), answers by ``image_weights`` (B, I) of their image; NaN where no drawn rater has an
    answer on a drawn image of the group. Weights of ones give the plain statistic."""
    won, answered = _per_rater(wins, counts, image_weights)
    has = answered > 0
    share = np.divide(won, answered, out=np.zeros_like(won), where=has)
    weight = rater_weights[:, :, None] * has
    total = weight.sum(axis=1)
    return np.divide((weight * share).sum(axis=1), total, out=np.full(total.shape, np.nan), where=total > 0)


def pooled_share(wins: np.ndarray, counts: np.ndarray, rater_weights: np.ndarray,
                 image_weights: np.ndarray) -> np.ndarray:
    """(B, G) weighted wins over weighted answers (each answer weighted by its rater's and its image's
    weight); NaN where a draw has no answer of the group."""
    won, answered = _per_rater(wins, counts, image_weights)
    won, answered = np.einsum("br,brg->bg", rater_weights, won), np.einsum("br,brg->bg", rater_weights, answered)
    return np.divide(won, answered, out=np.full(won.shape, np.nan), where=answered > 0)


def ones(n_raters: int, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the answers as they are (one draw taking everything once)."""
    return np.ones((1, n_raters)), np.ones((1, n_images))


def describe(bootstrap: Bootstrap, n_raters: int, n_images: int | None = None, undefined: int = 0,
             what: str = "statistic") -> str:
    """The method of an interval, as the ``interval`` column states it; ``n_images`` None: over raters only."""
    over = (f"{n_raters} raters x {n_images} images, crossed (raters and images drawn independently)"
            if n_images is not None else f"{n_raters} raters (clusters: all their answers move together)")
    dropped = (f"; {undefined} of {bootstrap.resamples} draws had no {what}"
               + (" (over half: interval undefined)" if undefined > bootstrap.resamples / 2 else ", left out")
               if undefined else "")
    return (f"{LEVEL:.0%} percentile bootstrap over {over}, {bootstrap.resamples} resamples, "
            f"seed {bootstrap.seed}{dropped}")


def interval_columns(draws: np.ndarray, bootstrap: Bootstrap, n_raters: int, n_images: int | None = None,
                     what: str = "statistic") -> list[dict]:
    """Per column of ``draws`` (B, G): {boot_low, boot_high, interval}; without draws (B = 0) NaN and
    "no bootstrap (--bootstrap 0)"."""
    if bootstrap.resamples == 0 or draws.size == 0:
        return [{"boot_low": math.nan, "boot_high": math.nan, "interval": "no bootstrap (--bootstrap 0)"}
                for _ in range(draws.shape[1] if draws.ndim == 2 else 0)]
    rows = []
    for column in np.asarray(draws, float).T:
        low, high, undefined = bootstrap.interval(column)
        rows.append({"boot_low": low, "boot_high": high,
                     "interval": describe(bootstrap, n_raters, n_images, undefined, what)})
    return rows


# -- the claims of `study analyze` with their intervals -------------------------------------------------------

def preference_intervals(prefs: pd.DataFrame, answers: pd.DataFrame, bootstrap: Bootstrap) -> pd.DataFrame:
    """``prefs`` (:func:`rdpbench.study.analysis.preferences`) with ``boot_low, boot_high, interval``:
    the crossed bootstrap of each pairing's ``pref_a`` (:func:`rater_mean_share`)."""
    wins, counts, raters, images, groups = cells(answers, ["entry_a", "entry_b"])
    draws = rater_mean_share(wins, counts, *crossed_weights(len(raters), len(images), bootstrap))
    found = dict(zip(groups, interval_columns(draws, bootstrap, len(raters), len(images))))
    extra = pd.DataFrame([found[(a, b)] for a, b in zip(prefs["entry_a"], prefs["entry_b"])],
                         columns=INTERVAL_COLUMNS, index=prefs.index)
    return pd.concat([prefs, extra], axis=1)


def image_bpp(design: dict, entries: list[str], images: list[str]) -> np.ndarray:
    """(len(entries), len(images)) stored bpp of each entry on each image (NaN where none is stored)."""
    values = design.get("values", {})
    return np.array([[(values.get(e, {}).get(i) or {}).get("bpp", math.nan) for i in images] for e in entries],
                    dtype=float).reshape(len(entries), len(images))


def savings_draws(answers: pd.DataFrame, design: dict, rater_weights: np.ndarray,
                  image_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anchor ladder: per draw (rows of the (B, R) and (B, I) weights over the ladder answers' sorted
    raters and the study's images, ``design["images"]``), the anchor bpp at the 50% crossing and the
    savings in percent (B,) each, NaN where the preference never falls through 50% (or a setting has no
    answer in the draw). Recomputed as :func:`rdpbench.study.analysis.bitrate_savings` does: the
    rater-mean preference for the test entry per anchor setting, each setting's and the test entry's
    mean bpp over the drawn images, :func:`rdpbench.study.analysis.crossing`."""
    from rdpbench.study.analysis import crossing

    test = design["request"]["test"]
    ladder = answers[answers["entry_a"] == test]
    wins, counts, _, images, anchors = cells(ladder, "entry_b", design["images"])
    pref = rater_mean_share(wins, counts, rater_weights, image_weights)
    total = image_weights.sum(axis=1)
    anchor_bpp = image_weights @ image_bpp(design, anchors, images).T / total[:, None]
    test_bpp = image_weights @ image_bpp(design, [test], images)[0] / total
    bpp50 = np.full(len(pref), np.nan)
    for b in range(len(pref)):
        if np.isfinite(pref[b]).all() and np.isfinite(anchor_bpp[b]).all():
            bpp50[b] = crossing(anchor_bpp[b], pref[b])[0]
    return bpp50, 100 * (bpp50 / test_bpp - 1)


def savings_intervals(savings: pd.DataFrame, answers: pd.DataFrame, design: dict,
                      bootstrap: Bootstrap) -> pd.DataFrame:
    """The one-row ``savings`` table (:func:`rdpbench.study.analysis.bitrate_savings`) with the crossed
    bootstrap's ``bpp50_low, bpp50_high, savings_low, savings_high``, ``no_crossing`` (draws whose
    preference never falls through 50%: counted, and without an interval when over half) and
    ``interval``."""
    ladder = answers[answers["entry_a"] == design["request"]["test"]]
    n_raters, n_images = ladder["rater"].nunique(), len(design["images"])
    bpp50, percent = savings_draws(answers, design, *crossed_weights(n_raters, n_images, bootstrap))
    out = savings.copy()
    (low, high), (s_low, s_high) = ((bootstrap.interval(d)[:2] if bootstrap.resamples else (math.nan, math.nan))
                                    for d in (bpp50, percent))
    missing = int(np.isnan(bpp50).sum())
    out["bpp50_low"], out["bpp50_high"], out["savings_low"], out["savings_high"] = low, high, s_low, s_high
    out["no_crossing"] = missing
    out["interval"] = (describe(bootstrap, n_raters, n_images, missing, "50% crossing") if bootstrap.resamples
                       else "no bootstrap (--bootstrap 0)")
    return out


def win_rate_intervals(rates: pd.DataFrame, answers: pd.DataFrame, bootstrap: Bootstrap) -> pd.DataFrame:
    """The one-row matched-bitrate ``rates`` (:func:`rdpbench.study.analysis.win_rates`) with the
    crossed bootstrap of the pooled win rate of codec A (:func:`pooled_share`)."""
    wins, counts, raters, images, _ = cells(answers.assign(all="all"), "all")
    draws = pooled_share(wins, counts, *crossed_weights(len(raters), len(images), bootstrap))
    extra = pd.DataFrame(interval_columns(draws, bootstrap, len(raters), len(images)), columns=INTERVAL_COLUMNS,
                         index=rates.index)
    return pd.concat([rates, extra], axis=1)


def metric_means(design: dict, metric: str, bootstrap: Bootstrap) -> pd.DataFrame:
    """Per entry, the raw mean of ``metric`` over the study's images in its own unit and direction,
    with a 95% percentile bootstrap over images (the report's :meth:`Bootstrap.draws`, the same images
    for every entry); a distribution metric (FID, KID: one value per entry and run) has no interval.
    Columns: entry, value, low, high, interval; entries without a value are left out."""
    from rdpbench.report.intervals import resampled_means
    from rdpbench.study.design import metric_columns

    info, images = metric_columns(design)[metric], list(design["images"])
    rows = []
    if not info.per_image:
        for entry in design["entries"]:
            value = design["distribution"].get(entry, {}).get(metric)
            if value is not None and math.isfinite(value):
                rows.append({"entry": entry, "value": value, "low": math.nan, "high": math.nan,
                             "interval": "none: one value per entry over all images of the run"})
        return pd.DataFrame(rows, columns=["entry", "value", "low", "high", "interval"])
    matrix = np.array([[(design["values"][e].get(i) or {}).get(metric) for i in images] for e in design["entries"]],
                      dtype=float).reshape(len(design["entries"]), len(images))
    draws = resampled_means(matrix, bootstrap.draws(len(images))) if bootstrap.resamples else np.empty((0, len(matrix)))
    for k, entry in enumerate(design["entries"]):
        if not np.isfinite(matrix[k]).all():
            continue
        low, high, _ = bootstrap.interval(draws[:, k]) if bootstrap.resamples else (math.nan, math.nan, 0)
        rows.append({"entry": entry, "value": float(matrix[k].mean()), "low": low, "high": high,
                     "interval": bootstrap.describe(len(images)) if bootstrap.resamples else "no bootstrap"})
    return pd.DataFrame(rows, columns=["entry", "value", "low", "high", "interval"])
