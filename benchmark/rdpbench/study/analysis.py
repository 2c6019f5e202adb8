"""Statistics of a 2AFC study. Conventions (each written next to its numbers in the outputs):

- **Sources**: every answer has a source, ``web``, ``static`` (imported answers file) or ``simulated``
  (:data:`rdpbench.study.session.SOURCES`). Simulated answers are left out of a study that has any
  real (web or static) answer unless ``include_simulated``; a study with simulated answers only is
  analysed as such, and says so.
- **Screening** (GC): a rater is *included* only when they answered every probe trial and chose the
  original in each; raters failing any probe are excluded and counted; raters who have not yet
  answered every probe are *unscreened* and left out too.
- **Speeders and straight-liners**: a rater whose median response time (all their answers with a
  recorded time, probes included; ms from when both pictures were displayed to the answer) is below
  ``min_median_rt_s`` (default ``MIN_MEDIAN_RT_S``) is excluded as a *speeder*; one who chose the same
  side (left or right) on more than ``max_same_side`` percent of their answers (default
  ``MAX_SAME_SIDE_PERCENT``; sides are randomised, so an attentive rater is near 50%) as a
  *straight-liner*. ``raters.csv`` has ``median_response_ms``, ``same_side_percent``, ``speeder`` and
  ``straight_liner`` for every rater; a rater without recorded times is not screened for speed.
  Order of the statuses: left out (simulated), failed a probe, speeder, straight-liner, unscreened, included.
- **Preference** of a pairing (entry_a, entry_b; a and b as in the design): per included rater, the
  fraction of that pairing's trials where a was chosen; ``pref_a`` is the mean of these per-rater means
  and ``se`` the standard error of the per-rater means, ``std(ddof=1) / sqrt(n_raters)`` (GC, Fig. 5).
- **Wilson score interval** (95%, z = 1.959964) of a pooled win fraction, and the two-sided **sign
  test** (exact binomial test against 1/2, ``scipy.stats.binomtest``) on the pooled answers. Pooled
  answers of one rater are not independent, so the Wilson interval and the sign test are too narrow
  and too small when raters differ; the per-rater SE above does not assume independence, and the
  bootstrap over raters and images (``boot_low``/``boot_high``, :mod:`rdpbench.study.intervals`) is
  the interval to quote.
- **Elo** (HiFiC): every answer is a game; ratings start at 1500, K = 32, expected score
  ``1 / (1 + 10^((R_loser - R_winner) / 400))``; replayed over ``ELO_ORDERS`` random orders of the
  answers (seed 0); reported as the median and the 2.5/97.5 percentiles over orders.
- **Bradley–Terry** (``choix.ilsr_pairwise``, regularisation ``BT_ALPHA``): log-strengths ``s`` with
  ``P(i beats j) = 1 / (1 + exp(s_j - s_i))``, centred to mean 0; 95% CIs are percentiles over
  ``BOOTSTRAP`` resamples of raters with replacement (seed 0).
- **50% crossing** (anchor ladder): the anchor bpp where the preference for the test entry falls to
  0.5, interpolated linearly in bpp between the two anchor settings around it (settings sorted by
  their mean bpp over the study's images); ``savings_percent = 100 (bpp_50 / bpp_test - 1)``: "the anchor
  needs +X% bits". Its interval (and that of matched-bitrate win rates) is the crossed bootstrap over
  raters and images of :mod:`rdpbench.study.intervals`; draws without a crossing are counted.
- **Metric agreement**: on each non-probe trial with a strict human majority (included raters), does
  the metric rate the majority's choice better (values of the whole image, even when raters saw a
  crop)? Ties of either kind are left out. Kendall's tau-b (``scipy.stats.kendalltau``) compares the
  method ranking of each metric (mean over the study's images, or FID/KID of the whole run) with the
  Bradley–Terry ranking.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from rdpbench.study.design import ORIGINAL, metric_columns

Z95 = 1.959963984540054
ELO_ORDERS = 1000
ELO_K = 32.0
ELO_START = 1500.0
BT_ALPHA = 1e-3
BOOTSTRAP = 200
MIN_MEDIAN_RT_S = 1.0
MAX_SAME_SIDE_PERCENT = 90.0


def responses_frame(session) -> pd.DataFrame:
    """Every stored answer with its trial: rater, trial, image, left, right, choice, chosen (entry),
    response_ms, answered_at, is_probe, entry_a, entry_b, a_won, position, source (the answer's
    source; an answer stored without one takes its rater's, see
    :func:`rdpbench.study.session.source_kind`)."""
    from rdpbench.study.session import source_kind
    from rdpbench.study.storage import ANSWER_COLUMNS

    frame = pd.DataFrame(session.responses.answers(), columns=ANSWER_COLUMNS)
    trials = {t["id"]: t for t in session.trials}
    sources = {rater: source for rater, _, _, source in session.responses.raters()}
    frame["source"] = [source_kind(stored, sources.get(rater)) for stored, rater in zip(frame["source"],
                                                                                        frame["rater"])]
    frame = frame.rename(columns={"left_entry": "left", "right_entry": "right"})
    frame["image"] = [trials[t]["image"] for t in frame["trial"]]
    frame["is_probe"] = [bool(trials[t]["is_probe"]) for t in frame["trial"]]
    frame["entry_a"] = [trials[t]["a"] for t in frame["trial"]]
    frame["entry_b"] = [trials[t]["b"] for t in frame["trial"]]
    frame["chosen"] = np.select([frame["choice"] == "left", frame["choice"] == "right"],  # "": not_sure (triplets)
                                [frame["left"], frame["right"]], "")
    frame["a_won"] = frame["chosen"] == frame["entry_a"]
    return frame[["rater", "trial", "image", "left", "right", "choice", "chosen", "response_ms", "answered_at",
                  "is_probe", "entry_a", "entry_b", "a_won", "position", "source"]]


def leaves_out_simulated(frame: pd.DataFrame, include_simulated: bool = False) -> bool:
    """Whether the analysis leaves the simulated answers out: unless ``include_simulated``, when
    the study has any real (non-simulated) answer."""
    return not include_simulated and bool((frame["source"] != "simulated").any())


RATER_COLUMNS = ["rater", "source", "answers", "probes_answered", "probes_failed", "median_response_ms",
                 "same_side_percent", "speeder", "straight_liner", "status"]


def screen(frame: pd.DataFrame, n_probes: int, include_simulated: bool = False,
           min_median_rt_s: float = MIN_MEDIAN_RT_S,
           max_same_side: float = MAX_SAME_SIDE_PERCENT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(answers of included raters without probes, one row per rater with ``RATER_COLUMNS``). A
    rater's source is that of their answers (``mixed`` if they differ); simulated answers left out
    (:func:`leaves_out_simulated`) give their raters the status ``left out: simulated``. A threshold
    of 0 (``min_median_rt_s``) or 100 (``max_same_side``) turns that screen off."""
    drop_simulated = leaves_out_simulated(frame, include_simulated)
    rows = []
    for rater, group in frame.groupby("rater", sort=True):
        sources, stored = group["source"].unique(), len(group)
        if drop_simulated:
            group = group[group["source"] != "simulated"]
        probes = group[group["is_probe"]]
        failed = int((probes["chosen"] != ORIGINAL).sum())
        times = group["response_ms"].dropna().to_numpy(float)
        median = float(np.median(times)) if len(times) else math.nan
        same = 100.0 * float(max((group["choice"] == "left").mean(), (group["choice"] == "right").mean())) \
            if len(group) else math.nan
        speeder = bool(median < 1000.0 * min_median_rt_s)
        straight = bool(same > max_same_side)
        status = ("left out: simulated (study analyze --include-simulated keeps them)" if group.empty else
                  "excluded: failed a probe" if failed else
                  f"excluded: speeder (median response under {min_median_rt_s:g} s)" if speeder else
                  f"excluded: straight-liner (same side on over {max_same_side:g}% of answers)" if straight else
                  "unscreened: probes not all answered" if len(probes) < n_probes else "included")
        rows.append({"rater": rater, "source": sources[0] if len(sources) == 1 else "mixed", "answers": stored,
                     "probes_answered": len(probes), "probes_failed": failed, "median_response_ms": median,
                     "same_side_percent": same, "speeder": speeder, "straight_liner": straight, "status": status})
    raters = pd.DataFrame(rows, columns=RATER_COLUMNS)
    included = set(raters.loc[raters["status"] == "included", "rater"])
    kept = frame["rater"].isin(included) & ~frame["is_probe"]
    if drop_simulated:
        kept &= frame["source"] != "simulated"
    return frame[kept].reset_index(drop=True), raters


def wilson(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of wins/n; (nan, nan) for n = 0."""
    if n == 0:
        return math.nan, math.nan
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def sign_test(wins: int, n: int) -> float:
    return float(stats.binomtest(wins, n, 0.5).pvalue) if n else math.nan


def preferences(answers: pd.DataFrame) -> pd.DataFrame:
    """One row per pairing: entry_a, entry_b, n, n_raters, pref_a, se, ci_low, ci_high, sign_p."""
    rows = []
    for (a, b), group in answers.groupby(["entry_a", "entry_b"], sort=False):
        per_rater = group.groupby("rater")["a_won"].mean().to_numpy(float)
        wins, n = int(group["a_won"].sum()), len(group)
        low, high = wilson(wins, n)
        se = float(per_rater.std(ddof=1) / math.sqrt(len(per_rater))) if len(per_rater) > 1 else math.nan
        rows.append({"entry_a": a, "entry_b": b, "n": n, "n_raters": len(per_rater), "pref_a": float(per_rater.mean()),
                     "se": se, "ci_low": low, "ci_high": high, "sign_p": sign_test(wins, n)})
    return pd.DataFrame(rows, columns=["entry_a", "entry_b", "n", "n_raters", "pref_a", "se", "ci_low", "ci_high",
                                       "sign_p"])


def win_rates(answers: pd.DataFrame, design: dict) -> pd.DataFrame:
    """Matched-bitrate designs: codec A's pooled win rate against codec B with Wilson CI and sign test,
    the mean |Δbpp| of the pairs shown, the images with answers, and what ``study create`` could not
    match (``design["unmatched"]``): settings of A without a B within the tolerance, and images left
    out of the study because none of their settings matched."""
    first, second = design["request"]["codecs"]
    values = design["values"]
    gaps = [abs(values[a][i]["bpp"] - values[b][i]["bpp"]) for a, b, i in
            zip(answers["entry_a"], answers["entry_b"], answers["image"])]
    wins, n = int(answers["a_won"].sum()), len(answers)
    low, high = wilson(wins, n)
    return pd.DataFrame([{"codec_a": first, "codec_b": second, "n": n, "wins_a": wins,
                          "win_rate_a": wins / n if n else math.nan, "ci_low": low, "ci_high": high,
                          "sign_p": sign_test(wins, n), "mean_abs_bpp_diff": float(np.mean(gaps)) if gaps else math.nan,
                          "max_bpp_diff": design["request"]["max_bpp_diff"], "images": answers["image"].nunique(),
                          "settings_unmatched": len(design.get("unmatched", [])),
                          "images_dropped": len({row["image"] for row in design.get("unmatched", [])
                                                 if row["image_dropped"]})}])


def elo(winners: np.ndarray, losers: np.ndarray, n_items: int, k: float = ELO_K,
        start: float = ELO_START) -> np.ndarray:
    """Elo ratings after playing the games in order; ``winners``/``losers`` are (orders, games) item
    indices, one row per order; returns (orders, n_items) ratings."""
    winners, losers = np.atleast_2d(winners), np.atleast_2d(losers)
    ratings = np.full((winners.shape[0], n_items), start)
    rows = np.arange(winners.shape[0])
    for game in range(winners.shape[1]):
        w, l = winners[:, game], losers[:, game]
        expected = 1.0 / (1.0 + 10.0 ** ((ratings[rows, l] - ratings[rows, w]) / 400.0))
        ratings[rows, w] += k * (1.0 - expected)
        ratings[rows, l] -= k * (1.0 - expected)
    return ratings


def _games(answers: pd.DataFrame, entries: list[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {entry: i for i, entry in enumerate(entries)}
    winners = np.array([index[c] for c in answers["chosen"]], dtype=int)
    losers = np.array([index[b if c == a else a] for a, b, c in
                       zip(answers["entry_a"], answers["entry_b"], answers["chosen"])], dtype=int)
    return winners, losers


def bradley_terry(answers: pd.DataFrame, entries: list[str]) -> np.ndarray:
    import choix

    winners, losers = _games(answers, entries)
    scores = choix.ilsr_pairwise(len(entries), list(zip(winners, losers)), alpha=BT_ALPHA)
    return scores - scores.mean()


def ranking(answers: pd.DataFrame, entries: list[str], orders: int = ELO_ORDERS,
            bootstrap: int = BOOTSTRAP) -> pd.DataFrame:
    """entry, bt_score, bt_ci_low, bt_ci_high, elo_median, elo_low, elo_high, n_answers; best first."""
    winners, losers = _games(answers, entries)
    rng = np.random.default_rng(0)
    permutations = np.array([rng.permutation(len(winners)) for _ in range(orders)]).reshape(orders, len(winners))
    ratings = elo(winners[permutations], losers[permutations], len(entries))
    scores = bradley_terry(answers, entries)
    raters = answers["rater"].unique()
    groups = {rater: group for rater, group in answers.groupby("rater")}
    samples = []
    for _ in range(bootstrap):
        drawn = rng.choice(raters, size=len(raters), replace=True)
        samples.append(bradley_terry(pd.concat([groups[r] for r in drawn], ignore_index=True), entries))
    low, high = np.percentile(np.array(samples), [2.5, 97.5], axis=0) if samples else (scores * np.nan,) * 2
    counts = pd.concat([answers["entry_a"], answers["entry_b"]]).value_counts()
    frame = pd.DataFrame({"entry": entries, "bt_score": scores, "bt_ci_low": low, "bt_ci_high": high,
                          "elo_median": np.median(ratings, axis=0), "elo_low": np.percentile(ratings, 2.5, axis=0),
                          "elo_high": np.percentile(ratings, 97.5, axis=0),
                          "n_answers": [int(counts.get(e, 0)) for e in entries]})
    return frame.sort_values("bt_score", ascending=False).reset_index(drop=True)


def mean_bpp(design: dict, entry: str) -> float:
    """The entry's stored bpp, averaged over the study's images (NaN where none is stored)."""
    values = [image.get("bpp") for image in design.get("values", {}).get(entry, {}).values()]
    values = [value for value in values if value is not None]
    return float(np.mean(values)) if values else math.nan


def crossing(bpp: np.ndarray, preference: np.ndarray) -> tuple[float, str]:
    """The bpp where ``preference`` (sorted by bpp) first falls from >= 0.5 to < 0.5, linearly
    interpolated; (nan, reason) when it never does."""
    order = np.argsort(bpp)
    bpp, preference = np.asarray(bpp, float)[order], np.asarray(preference, float)[order]
    for i in range(len(bpp) - 1):
        if preference[i] >= 0.5 > preference[i + 1]:
            fraction = (preference[i] - 0.5) / (preference[i] - preference[i + 1])
            return float(bpp[i] + fraction * (bpp[i + 1] - bpp[i])), ""
    if len(bpp) and (preference >= 0.5).all():
        return math.nan, f"the test entry is preferred at every anchor rate up to {bpp[-1]:.4f} bpp"
    if len(bpp) and (preference < 0.5).all():
        return math.nan, f"the anchor is preferred at every rate down to {bpp[0]:.4f} bpp"
    return math.nan, "the preference does not fall through 50% between anchor settings"


def bitrate_savings(prefs: pd.DataFrame, design: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ladder: anchor entry, anchor_bpp, pref_test, se, n_raters, n and, when ``prefs`` has them, the
    bootstrap columns of :func:`rdpbench.study.intervals.preference_intervals`; one-row savings table)."""
    test = design["request"]["test"]
    ladder = prefs[prefs["entry_a"] == test].copy()
    ladder["anchor_bpp"] = [mean_bpp(design, entry) for entry in ladder["entry_b"]]
    ladder = ladder.sort_values("anchor_bpp").rename(columns={"entry_b": "anchor_entry", "pref_a": "pref_test"})
    bpp50, note = crossing(ladder["anchor_bpp"].to_numpy(), ladder["pref_test"].to_numpy())
    test_bpp = mean_bpp(design, test)
    savings = pd.DataFrame([{"test": test, "anchor": design["request"]["anchor"], "test_bpp": test_bpp,
                             "anchor_bpp_at_50": bpp50,
                             "savings_percent": 100 * (bpp50 / test_bpp - 1) if not note else math.nan,
                             "interpolation": "linear in bpp between neighbouring anchor settings", "note": note}])
    shown = ["anchor_entry", "anchor_bpp", "pref_test", "se", "n_raters", "n", "boot_low", "boot_high", "interval"]
    return ladder[[c for c in shown if c in ladder]], savings


def entry_scores(design: dict, metric: str) -> dict[str, float]:
    """Each entry's value of ``metric`` oriented so higher is better (mean over the study's images,
    or the run's FID/KID); entries without a value are left out."""
    info = metric_columns(design)[metric]
    sign = 1.0 if info.higher_is_better else -1.0
    scores = {}
    for entry in design["entries"]:
        if not info.per_image:
            value = design["distribution"].get(entry, {}).get(metric)
        else:
            values = [v.get(metric) for v in design["values"][entry].values()]
            value = None if any(v is None for v in values) else float(np.mean(values))
        if value is not None and math.isfinite(value):
            scores[entry] = sign * value
    return scores


def metric_agreement(answers: pd.DataFrame, design: dict, rank: pd.DataFrame) -> pd.DataFrame:
    """metric, pairs, pair_agreement, ci_low, ci_high, kendall_tau, kendall_p, n_entries."""
    columns = metric_columns(design)
    metrics = [m for m, info in columns.items() if info.is_quality and (
        any(m in d for d in design["distribution"].values())
        or any(v.get(m) is not None for e in design["values"].values() for v in e.values()))]
    majority = []
    for (trial, a, b, image), group in answers.groupby(["trial", "entry_a", "entry_b", "image"]):
        wins = int(group["a_won"].sum())
        if 2 * wins != len(group):
            majority.append((a, b, image, 2 * wins > len(group)))
    human = dict(zip(rank["entry"], rank["bt_score"]))
    rows = []
    for metric in metrics:
        agree = total = 0
        if columns[metric].per_image:
            sign = 1.0 if columns[metric].higher_is_better else -1.0
            for a, b, image, a_preferred in majority:
                va, vb = design["values"][a][image].get(metric), design["values"][b][image].get(metric)
                if va is None or vb is None or va == vb:
                    continue
                total += 1
                agree += (sign * (va - vb) > 0) == a_preferred
        low, high = wilson(agree, total)
        scores = entry_scores(design, metric)
        shared = [e for e in scores if e in human]
        tau, p = (stats.kendalltau([scores[e] for e in shared], [human[e] for e in shared])
                  if len(shared) > 1 else (math.nan, math.nan))
        rows.append({"metric": metric, "pairs": total, "pair_agreement": agree / total if total else math.nan,
                     "ci_low": low, "ci_high": high, "kendall_tau": float(tau), "kendall_p": float(p),
                     "n_entries": len(shared)})
    return pd.DataFrame(rows, columns=["metric", "pairs", "pair_agreement", "ci_low", "ci_high", "kendall_tau",
                                       "kendall_p", "n_entries"])
