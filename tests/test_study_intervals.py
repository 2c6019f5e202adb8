"""Intervals and breakdowns of `study analyze` (rdpbench.study.intervals, rdpbench.study.breakdowns)
against independent computations written here: a closed-form crossing, the crossed bootstrap redone
by a plain loop over duplicated answers, scipy's binomial test and Wilson interval."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rdpbench.report.intervals import Bootstrap
from rdpbench.study import analysis, breakdowns, figures, intervals

ANCHORS = ["jpeg:q=1", "jpeg:q=2", "jpeg:q=3", "jpeg:q=4"]
IMAGES = ["a.png", "b.png", "c.png"]
TEST = "webp:q=1"


def _ladder_design(bpp_shift=(0.0, 0.01, -0.02)) -> dict:
    """Anchors at 0.2, 0.4, 0.6, 0.8 bpp (shifted per image), the test entry at 0.25 bpp (+ shift)."""
    values = {e: {i: {"bpp": 0.2 * (k + 1) + s} for i, s in zip(IMAGES, bpp_shift)} for k, e in enumerate(ANCHORS)}
    values[TEST] = {i: {"bpp": 0.25 + s} for i, s in zip(IMAGES, bpp_shift)}
    return {"design": "anchor-ladder", "request": {"test": TEST, "anchor": "jpeg"}, "images": IMAGES,
            "entries": [TEST, *ANCHORS], "values": values}


def _answers(won: dict) -> pd.DataFrame:
    """``won``: {(rater, image, anchor): list of bools (test entry won)} -> analysis answers."""
    rows = []
    for (rater, image, anchor), outcomes in won.items():
        for k, w in enumerate(outcomes):
            rows.append({"rater": rater, "trial": f"{image}/{anchor}/{k}", "image": image, "entry_a": TEST,
                         "entry_b": anchor, "a_won": bool(w), "chosen": TEST if w else anchor})
    return pd.DataFrame(rows)


def test_the_crossing_and_savings_equal_a_closed_form_and_never_crossing_draws_are_counted():
    # every rater prefers the test entry on 4/4, 3/4, 1/4, 0/4 answers against the four anchors, on each image:
    # pref = 1, 0.75, 0.25, 0 at 0.2..0.8 bpp (no shift), so the 50% crossing is 0.4 + 0.25/0.5 * 0.2 = 0.5 bpp
    # and the anchor needs 0.5 / 0.25 - 1 = +100% bits. Every resample of these answers gives the same.
    pattern = dict(zip(ANCHORS, ([1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0])))
    design = _ladder_design((0.0, 0.0, 0.0))
    answers = _answers({(r, i, a): pattern[a] for r in ("r1", "r2") for i in IMAGES for a in ANCHORS})
    _, savings = analysis.bitrate_savings(analysis.preferences(answers), design)
    row = intervals.savings_intervals(savings, answers, design, Bootstrap(50, 3)).iloc[0]
    assert row["anchor_bpp_at_50"] == pytest.approx(0.5) and row["savings_percent"] == pytest.approx(100.0)
    assert (row["bpp50_low"], row["bpp50_high"]) == pytest.approx((0.5, 0.5))
    assert (row["savings_low"], row["savings_high"]) == pytest.approx((100.0, 100.0))
    assert row["no_crossing"] == 0 and "50 resamples, seed 3" in row["interval"]
    # the test entry always preferred: no draw crosses 50%; counted, and the interval is undefined
    always = _answers({(r, i, a): [1, 1] for r in ("r1", "r2") for i in IMAGES for a in ANCHORS})
    _, savings = analysis.bitrate_savings(analysis.preferences(always), design)
    row = intervals.savings_intervals(savings, always, design, Bootstrap(40, 0)).iloc[0]
    assert row["no_crossing"] == 40 and math.isnan(row["savings_low"]) and math.isnan(row["bpp50_high"])
    assert "40 of 40 draws had no 50% crossing (over half: interval undefined)" in row["interval"]
    row = intervals.savings_intervals(savings, always, design, Bootstrap(0, 0)).iloc[0]
    assert row["interval"] == "no bootstrap (--bootstrap 0)" and math.isnan(row["savings_low"])


def _hand_crossing(bpp: np.ndarray, pref: np.ndarray) -> float:
    """First fall from >= 0.5 to < 0.5 in bpp order, interpolated linearly; NaN without one."""
    order = np.argsort(bpp)
    bpp, pref = bpp[order], pref[order]
    for k in range(len(bpp) - 1):
        if pref[k] >= 0.5 > pref[k + 1]:
            return bpp[k] + (pref[k] - 0.5) / (pref[k] - pref[k + 1]) * (bpp[k + 1] - bpp[k])
    return math.nan


def _random_ladder(seed: int = 11, n_raters: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = dict(zip(ANCHORS, (0.85, 0.6, 0.45, 0.2)))
    return _answers({(f"r{r}", i, a): list(rng.random(int(rng.integers(1, 4))) < truth[a])
                     for r in range(n_raters) for i in IMAGES for a in ANCHORS})


def _loop_draws(answers: pd.DataFrame, resamples: int, seed: int):
    """The documented scheme by brute force: draw raters, then images, from default_rng(seed); copy the
    answers of each drawn (rater, image) pair, a rater drawn twice becoming two raters."""
    raters = sorted(answers["rater"].unique())
    rng = np.random.default_rng(seed)
    rater_draws = rng.integers(0, len(raters), (resamples, len(raters)))
    image_draws = rng.integers(0, len(IMAGES), (resamples, len(IMAGES)))
    for drawn_raters, drawn_images in zip(rater_draws, image_draws):
        parts = [answers[(answers["rater"] == raters[r]) & (answers["image"] == IMAGES[i])].assign(rater=f"copy{k}")
                 for k, r in enumerate(drawn_raters) for i in drawn_images]
        yield pd.concat(parts, ignore_index=True), [IMAGES[i] for i in drawn_images]


def test_the_crossed_bootstrap_equals_a_plain_loop_over_resampled_answers():
    answers, design, resamples, seed = _random_ladder(), _ladder_design(), 60, 5
    savings_by_loop, pref_by_loop, pooled_by_loop = [], [], []
    for sample, images in _loop_draws(answers, resamples, seed):
        per_rater = sample.groupby(["entry_b", "rater"])["a_won"].mean().groupby("entry_b").mean()
        pref = per_rater.reindex(ANCHORS).to_numpy(float)
        bpp = np.array([np.mean([design["values"][a][i]["bpp"] for i in images]) for a in ANCHORS])
        test_bpp = np.mean([design["values"][TEST][i]["bpp"] for i in images])
        savings_by_loop.append(100 * (_hand_crossing(bpp, pref) / test_bpp - 1))
        pref_by_loop.append(pref)
        pooled_by_loop.append(sample["a_won"].mean())
    _, savings = analysis.bitrate_savings(analysis.preferences(answers), design)
    row = intervals.savings_intervals(savings, answers, design, Bootstrap(resamples, seed)).iloc[0]
    savings_by_loop = np.array(savings_by_loop)
    defined = savings_by_loop[np.isfinite(savings_by_loop)]
    assert 0 < row["no_crossing"] == resamples - len(defined)  # this seed has draws without a crossing
    assert (row["savings_low"], row["savings_high"]) == pytest.approx(tuple(np.percentile(defined, [2.5, 97.5])))
    assert f"{row['no_crossing']} of {resamples} draws had no 50% crossing, left out" in row["interval"]
    prefs = intervals.preference_intervals(analysis.preferences(answers), answers, Bootstrap(resamples, seed))
    prefs = prefs.set_index("entry_b").reindex(ANCHORS)
    expected = np.percentile(np.array(pref_by_loop), [2.5, 97.5], axis=0)
    assert prefs["boot_low"].to_numpy() == pytest.approx(expected[0])
    assert prefs["boot_high"].to_numpy() == pytest.approx(expected[1])
    assert "6 raters x 3 images, crossed" in prefs["interval"].iloc[0]
    # the matched-bitrate win rate is the pooled share: the same draws, pooled
    rates = pd.DataFrame([{"codec_a": "webp"}])
    rates = intervals.win_rate_intervals(rates, answers, Bootstrap(resamples, seed)).iloc[0]
    assert (rates["boot_low"], rates["boot_high"]) == pytest.approx(tuple(np.percentile(pooled_by_loop, [2.5, 97.5])))


def test_side_bias_matches_scipy_and_a_loop_over_raters():
    rng = np.random.default_rng(4)
    answers = pd.DataFrame({"rater": np.repeat(["p", "q", "s"], [10, 14, 9]),
                            "choice": np.where(rng.random(33) < 0.65, "left", "right")})
    probes = pd.DataFrame({"rater": ["p", "q", "s"], "choice": ["left", "left", "right"]})
    table = breakdowns.side_bias(answers, probes, Bootstrap(80, 2))
    pooled, probe_row = table.iloc[0], table.iloc[1]
    left = int((answers["choice"] == "left").sum())
    assert (pooled["answers"], pooled["left"]) == (33, left)
    assert pooled["binom_p"] == pytest.approx(stats.binomtest(left, 33, 0.5).pvalue)
    assert probe_row["left"] == 2 and probe_row["binom_p"] == pytest.approx(stats.binomtest(2, 3, 0.5).pvalue)
    raters = ["p", "q", "s"]
    draws = np.random.default_rng(2).integers(0, 3, (80, 3))
    shares = [pd.concat([answers[answers["rater"] == raters[r]] for r in draw])["choice"].eq("left").mean()
              for draw in draws]
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx(tuple(np.percentile(shares, [2.5, 97.5])))
    for row in table.iloc[2:].itertuples():
        mine = answers[answers["rater"] == row.rater]["choice"].eq("left")
        wilson = stats.binomtest(int(mine.sum()), len(mine)).proportion_ci(method="wilson")
        assert (row.ci_low, row.ci_high) == pytest.approx((wilson.low, wilson.high))
        assert row.binom_p == pytest.approx(stats.binomtest(int(mine.sum()), len(mine), 0.5).pvalue)


def test_per_image_and_per_position_tables_match_hand_counts():
    answers = _random_ladder(seed=3, n_raters=5)
    by_image = breakdowns.per_image(answers, Bootstrap(30, 1))
    expected = answers.groupby(["image", "entry_b", "rater"])["a_won"].mean().groupby(["image", "entry_b"]).mean()
    got = by_image.set_index(["image", "entry_b"])["pref_a"]
    assert got.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy())
    assert (by_image["boot_low"] <= by_image["pref_a"] + 1e-12).all()
    assert (by_image["pref_a"] <= by_image["boot_high"] + 1e-12).all()
    # positions: trials at positions 0, 1 (block 1) and 3 (block 2) of a 4-trial session, 2 blocks
    rows = [("r1", "t0", 0, True), ("r2", "t0", 0, True), ("r3", "t0", 0, True), ("r4", "t0", 0, False),
            ("r1", "t1", 1, True), ("r2", "t1", 1, False),                          # each alone against one
            ("r1", "t2", 3, False), ("r2", "t2", 3, False), ("r3", "t2", 3, False)]  # all agree
    frame = pd.DataFrame(rows, columns=["rater", "trial", "position", "a_won"]).assign(
        image="x", choice=["left"] * 8 + ["right"], response_ms=[1000, 2000, 3000, 4000, 1500, 2500, 900, 1100, 1300])
    table = breakdowns.per_position(frame, n_trials=4, bootstrap=Bootstrap(20, 0), blocks=2)
    assert list(table["first_position"]) == [1, 3] and list(table["last_position"]) == [2, 4]
    # block 1: t0 -> r1..r3 agree with the others' majority (2 of 3), r4 does not; t1 -> each answer's one
    # other answer is the opposite: both disagree. Block 2: all three agree.
    assert (table.loc[0, "answers"], table.loc[0, "with_majority"], table.loc[0, "agreement"]) == (6, 6, 0.5)
    assert (table.loc[1, "with_majority"], table.loc[1, "agreement"]) == (3, 1.0)
    assert table.loc[0, "median_response_ms"] == 2250 and table.loc[1, "left_share"] == pytest.approx(2 / 3)
    # ties among the others are not counted: r1 and r2 alone on t0 (1 vs 1 for a third answer)
    tie = breakdowns.majority_agreement(frame[frame["trial"] == "t0"].iloc[[0, 1, 3]])
    assert list(tie) == [None, None, False]


def test_metric_means_and_their_bootstrap_over_images():
    design = {"entries": ["A", "B"], "images": IMAGES,
              "values": {"A": {i: {"psnr": v} for i, v in zip(IMAGES, (30.0, 32.0, 35.0))},
                         "B": {i: {"psnr": v} for i, v in zip(IMAGES, (28.0, 31.0, 29.5))}},
              "distribution": {"A": {"fid": 12.0}, "B": {"fid": 20.0}},
              "columns": {"psnr": {"name": "psnr", "label": "PSNR", "unit": "dB", "higher_is_better": True},
                          "fid": {"name": "fid", "label": "FID", "higher_is_better": False, "kind": "distribution"}}}
    table = intervals.metric_means(design, "psnr", Bootstrap(100, 7)).set_index("entry")
    draws = np.random.default_rng(7).integers(0, 3, (100, 3))
    for entry in ("A", "B"):
        values = np.array([design["values"][entry][i]["psnr"] for i in IMAGES])
        assert table.loc[entry, "value"] == pytest.approx(values.mean())
        low, high = np.percentile(values[draws].mean(axis=1), [2.5, 97.5])
        assert (table.loc[entry, "low"], table.loc[entry, "high"]) == pytest.approx((low, high))
    fid = intervals.metric_means(design, "fid", Bootstrap(100, 7)).set_index("entry")
    assert fid["value"].to_dict() == {"A": 12.0, "B": 20.0} and fid["low"].isna().all()


def test_human_vs_metrics_draws_raw_scores_of_two_methods_with_their_bpp(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(figures, "save", lambda figure, folder, stem: drawn.setdefault("figure", figure) and [stem])
    rank = pd.DataFrame({"entry": ["B", "A"], "bpp": [0.5, 0.25], "bt_score": [0.4, -0.4],
                         "bt_ci_low": [0.1, -0.9], "bt_ci_high": [0.9, -0.1]})
    psnr = pd.DataFrame({"entry": ["A", "B"], "value": [31.0, 33.5], "low": [30.0, 32.0], "high": [32.0, 35.0]})
    figures.human_vs_metrics(rank, [("PSNR [dB]", True, psnr)], tmp_path)
    human, metric = drawn["figure"].axes
    assert [t.get_text() for t in human.get_yticklabels()] == ["B (0.500 bpp)", "A (0.250 bpp)"]
    points = [line for line in metric.lines if line.get_marker() == "o"][0]
    assert list(points.get_xdata()) == [33.5, 31.0]  # raw values, not 1 and 0
    assert list(points.get_ydata()) == [1, 0]  # B (best human score) on top
    assert "higher is better" in metric.get_title() and not human.get_legend()
