"""Where a study's answers come from: per image, per position in the session, and left/right bias.

Conventions (each table also states its interval in an ``interval`` column):

- **Per image** (:func:`per_image`): per (image, entry_a, entry_b), ``pref_a`` as in
  :func:`rdpbench.study.analysis.preferences` but on that image's answers only, with a 95% percentile
  bootstrap over raters (:func:`rdpbench.study.intervals.rater_weights`; the image is fixed).
- **Per position** (:func:`per_position`): a learning/fatigue check. ``position`` is the trial's place in
  the rater's session (probes included; 1 = first); the session is cut into ``POSITION_BLOCKS``
  blocks of equal length. Per block: the answers' ``agreement``, the share of answers that choose
  what the *other* included raters' majority chose on the same trial (leave-one-out; answers whose
  trial has no other answer or a tie among the others are not counted), pooled over the block's
  answers with a 95% bootstrap over raters (the majorities stay fixed); also the share of left choices
  and the median response time. Agreement that falls in later blocks suggests fatigue, rising agreement
  learning.
- **Left/right bias** (:func:`side_bias`): the share of answers choosing the left side. Sides are
  random per trial, so an unbiased rater is at 1/2 whatever they prefer. Rows: all included raters'
  test answers (pooled; 95% bootstrap over raters, since one rater's answers are not independent; the
  two-sided binomial test against 1/2, ``scipy.stats.binomtest``, treats them as independent and is
  the optimistic one), their probe answers separately (on a probe the side of the original is random,
  so this checks the randomisation, not the rater), and each included rater's test answers (95% Wilson
  interval and binomial test of that rater's answers).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from rdpbench.report.intervals import Bootstrap
from rdpbench.study import intervals
from rdpbench.study.analysis import wilson

POSITION_BLOCKS = 4
PER_IMAGE_COLUMNS = ["image", "entry_a", "entry_b", "n", "n_raters", "pref_a", *intervals.INTERVAL_COLUMNS]
POSITION_COLUMNS = ["block", "first_position", "last_position", "answers", "n_raters", "with_majority",
                    "agreement", *intervals.INTERVAL_COLUMNS, "left_share", "median_response_ms"]
SIDE_COLUMNS = ["scope", "rater", "answers", "left", "left_share", "ci_low", "ci_high", "binom_p", "interval"]


def per_image(answers: pd.DataFrame, bootstrap: Bootstrap) -> pd.DataFrame:
    """One row per (image, pairing) with answers: ``PER_IMAGE_COLUMNS``; images sorted, pairings in
    order of first appearance."""
    wins, counts, raters, images, groups = intervals.cells(answers, ["entry_a", "entry_b"])
    weights = intervals.rater_weights(len(raters), bootstrap)
    one = np.ones((1, 1))
    rows = []
    for i, image in enumerate(images):
        w, c = wins[:, i:i + 1], counts[:, i:i + 1]
        point = intervals.rater_mean_share(w, c, np.ones((1, len(raters))), one)[0]
        draws = intervals.rater_mean_share(w, c, weights, np.ones((len(weights), 1)))
        spread = intervals.interval_columns(draws, bootstrap, len(raters))
        for g, (a, b) in enumerate(groups):
            if c[:, 0, g].sum():
                rows.append({"image": image, "entry_a": a, "entry_b": b, "n": int(c[:, 0, g].sum()),
                             "n_raters": int((c[:, 0, g] > 0).sum()), "pref_a": float(point[g]), **spread[g]})
    return pd.DataFrame(rows, columns=PER_IMAGE_COLUMNS)


def majority_agreement(answers: pd.DataFrame) -> pd.Series:
    """Per answer: True/False whether it chose what the other answers on its trial mostly chose, NaN
    (as None) where the trial has no other answer or the others tie."""
    wins = answers.groupby("trial")["a_won"].transform("sum") - answers["a_won"].astype(int)
    others = answers.groupby("trial")["a_won"].transform("size") - 1
    share = np.divide(wins, others, out=np.full(len(answers), 0.5), where=others > 0)
    agree = pd.Series(answers["a_won"].to_numpy() == (share > 0.5), index=answers.index, dtype=object)
    agree[share == 0.5] = None
    return agree


def per_position(answers: pd.DataFrame, n_trials: int, bootstrap: Bootstrap,
                 blocks: int = POSITION_BLOCKS) -> pd.DataFrame:
    """``POSITION_COLUMNS`` per block of the session (``n_trials`` trials per rater, probes included;
    ``answers`` with 0-based ``position``); first/last_position are 1-based, blocks 1..``blocks``."""
    blocks = max(1, min(blocks, n_trials))
    block = answers["position"].to_numpy(int) * blocks // n_trials
    agree = majority_agreement(answers)
    counted = answers.assign(block=block, agree=agree.fillna(False).astype(bool), image="all")[agree.notna()]
    wins, counts, counted_raters, _, groups = (intervals.cells(counted, "block", ["all"], won="agree")
                                               if len(counted) else (None, None, [], [], []))
    weights = intervals.rater_weights(len(counted_raters), bootstrap)
    draws = (intervals.pooled_share(wins, counts, weights, np.ones((len(weights), 1))) if groups
             else np.empty((0, 0)))
    spread = dict(zip(groups, intervals.interval_columns(draws, bootstrap, len(counted_raters))))
    rows = []
    for k in range(blocks):
        here = answers[block == k]
        kept = counted[counted["block"] == k]
        times = here["response_ms"].dropna().to_numpy(float)
        no_interval = {"boot_low": math.nan, "boot_high": math.nan, "interval": "no answers with a majority"}
        rows.append({"block": k + 1, "first_position": -(-k * n_trials // blocks) + 1,
                     "last_position": -(-(k + 1) * n_trials // blocks), "answers": len(here),
                     "n_raters": here["rater"].nunique(), "with_majority": len(kept),
                     "agreement": float(kept["agree"].mean()) if len(kept) else math.nan,
                     **spread.get(k, no_interval),
                     "left_share": float((here["choice"] == "left").mean()) if len(here) else math.nan,
                     "median_response_ms": float(np.median(times)) if len(times) else math.nan})
    return pd.DataFrame(rows, columns=POSITION_COLUMNS)


def side_bias(answers: pd.DataFrame, probes: pd.DataFrame, bootstrap: Bootstrap) -> pd.DataFrame:
    """``SIDE_COLUMNS``: the pooled test answers, the probe answers (when there are any), then one
    row per rater (sorted) of the test answers. ``answers``/``probes``: included raters' rows with
    ``rater`` and ``choice`` (left/right)."""
    rows = []
    for scope, frame in (("test trials, all included raters", answers),
                         ("probe trials, all included raters (side of the original is random)", probes)):
        if frame.empty and scope.startswith("probe"):
            continue
        left = frame.assign(left=frame["choice"] == "left", image="all")
        wins, counts, raters, _, _ = (intervals.cells(left.assign(all="all"), "all", ["all"], won="left")
                                      if len(left) else (None, None, [], [], []))
        draws = (intervals.pooled_share(wins, counts, intervals.rater_weights(len(raters), bootstrap),
                                        np.ones((bootstrap.resamples, 1))) if len(left) else np.empty((0, 1)))
        spread = intervals.interval_columns(draws, bootstrap, len(raters))[0]
        rows.append(_side_row(scope, "", left["left"], spread["boot_low"], spread["boot_high"], spread["interval"]))
    for rater, group in answers.groupby("rater", sort=True):
        left = group["choice"] == "left"
        low, high = wilson(int(left.sum()), len(left))
        rows.append(_side_row("test trials, one rater", rater, left, low, high, "95% Wilson (this rater's answers)"))
    return pd.DataFrame(rows, columns=SIDE_COLUMNS)


def _side_row(scope: str, rater: str, left: pd.Series, low: float, high: float, interval: str) -> dict:
    n, k = len(left), int(left.sum())
    return {"scope": scope, "rater": rater, "answers": n, "left": k, "left_share": k / n if n else math.nan,
            "ci_low": low, "ci_high": high, "binom_p": float(stats.binomtest(k, n, 0.5).pvalue) if n else math.nan,
            "interval": interval}
