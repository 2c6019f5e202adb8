"""Coverage and uncertainty in `rdpbench report`: every value carries its n, comparisons use the images
both codecs have, and the intervals (bootstrap BD-rates, distribution metrics, paired per-image tests)
agree with independent computations written here and cover the truth about 95% of the time."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from metadata import record_metrics
from rdpbench import export
from rdpbench.report import bd
from rdpbench.report.data import load
from rdpbench.store import ResultsStore
from rdpbench.tasks import MetricValue, Task, TaskResult

SIZE = 32


def build_store(folder, codecs: dict, images: list[str], verified: dict | None = None):
    """A store from per-image arrays: ``codecs`` = {codec: (bpp (S, I), {metric: values (S, I)})},
    settings q=1..S, images in ``images`` order; a NaN metric value is not stored (as after an
    interrupted run)."""
    originals = folder / "images"
    originals.mkdir(parents=True, exist_ok=True)
    for name in images:
        Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(originals / name)
    out = folder / "results"
    with ResultsStore(out) as store:
        store.bind_dataset("synthetic", str(originals), "fingerprint", {name: "0" * 64 for name in images})
        weights = verified if verified is not None else {}
        run_id = store.start_run("2026-01-01T00:00:00", "rdpbench run", {}, {"weights": weights}, "", "host")
        record_metrics(store, run_id, *{m for _, values in codecs.values() for m in values})
        for codec, (rates, values) in codecs.items():
            for s in range(rates.shape[0]):
                for i, image in enumerate(images):
                    metrics = {m: MetricValue(float(v[s, i])) for m, v in values.items() if not math.isnan(v[s, i])}
                    task = Task(codec, codec, f"q={s + 1}", (), image, str(originals / image), tuple(metrics))
                    store.write_result(TaskResult(task, SIZE, SIZE, int(rates[s, i] * SIZE * SIZE / 8), float(rates[s, i]),
                                                  0.01, 0.01, metrics), run_id=run_id)
    return out


def curves(rng, n_images: int, shift: float = 0.0, settings: int = 4):
    """Per-image bpp (S, I) and PSNR (S, I): PSNR = a_i + 10 log10(bpp) (+ shift), with image offsets a_i."""
    offsets = rng.normal(30, 2, n_images)
    rates = np.outer(2.0 ** np.arange(settings) * 0.25, rng.uniform(0.8, 1.25, n_images))
    psnr = offsets + 10 * np.log10(rates) + shift + rng.normal(0, 0.3, rates.shape)
    return rates, psnr


# -- coverage ----------------------------------------------------------------------------------------
@pytest.fixture
def partial(tmp_path):
    """anchor and other on 4 images; other's LPIPS exists on a.png and b.png only (an interrupted run)."""
    rng = np.random.default_rng(1)
    images = ["a.png", "b.png", "c.png", "d.png"]
    rates, psnr = curves(rng, 4)
    lpips = 0.5 / (1 + rates) + rng.uniform(0, 0.02, rates.shape)
    other_rates, other_psnr = rates * 0.9, psnr + rng.normal(0, 0.2, psnr.shape)
    other_lpips = lpips * 0.95
    other_lpips[:, 2:] = np.nan
    folder = build_store(tmp_path, {"anchor": (rates, {"psnr": psnr, "lpips": lpips}),
                                    "other": (other_rates, {"psnr": other_psnr, "lpips": other_lpips})}, images)
    return folder, {"anchor": (rates, lpips), "other": (other_rates, other_lpips)}


def test_bd_rates_on_partial_coverage_use_the_images_both_codecs_have(partial):
    import bjontegaard

    folder, arrays = partial
    data = load(folder)
    frame = bd.bd_rates(data, "anchor").set_index("metric")
    (rates, lpips), (other_rates, other_lpips) = arrays["anchor"], arrays["other"]
    # by hand: the means over a.png and b.png only, on both sides; LPIPS is lower-is-better, so negated
    expected = bjontegaard.bd_rate(rates[:, :2].mean(1), -lpips[:, :2].mean(1), other_rates[:, :2].mean(1),
                                   -other_lpips[:, :2].mean(1), method="akima", require_matching_points=False,
                                   min_overlap=0)
    assert frame.loc["lpips", "bd_rate_percent"] == pytest.approx(expected, rel=1e-9)
    assert frame.loc["lpips", "n_images"] == 2 and "on the 2 images both have (of 4)" in frame.loc["lpips", "note"]
    assert frame.loc["psnr", "n_images"] == 4 and frame.loc["psnr", "note"] == ""
    matched = bd.matched_bitrates(data)
    assert set(matched.loc[matched.metric == "lpips", "n_images"]) == {2}


def test_n_reaches_every_output_where_it_is_below_the_image_count(partial, tmp_path, run_cli):
    folder, _ = partial
    report = tmp_path / "report"
    assert run_cli("report", folder, "--anchor", "anchor", "--out", report) == 0
    summary = pd.read_csv(report / "summary.csv")
    assert set(summary.loc[summary.codec == "other", "n_lpips"]) == {2}
    assert set(summary.loc[summary.codec == "anchor", "n_lpips"]) == {4} and set(summary["n_psnr"]) == {4}
    with ResultsStore(folder) as store:  # the store folder's own summary.csv, as `rdpbench run` writes it
        export.write_all(store)
    stored = pd.read_csv(folder / "summary.csv")
    assert list(stored.loc[stored.codec == "other", "n_lpips"]) == [2] * 4 and set(stored["n_bpp"]) == {4}
    markdown, latex, page = ((report / name).read_text() for name in ("summary.md", "summary.tex", "index.html"))
    other_lpips = summary.loc[summary.codec == "other", "lpips"]
    for value in other_lpips:
        cell = f"{value:.4f} (n=2)"
        assert cell in markdown and cell in latex and cell in page
    assert "(n=4)" not in markdown  # full coverage is not marked
    for name in ("summary.md", "summary.tex", "summary.csv", "bd_rate.csv", "matched_bitrates.csv", "index.html",
                 "rd_lpips.svg", "overview.svg"):
        text = (report / name).read_text()
        assert "PARTIAL COVERAGE: LPIPS" in text.replace("\n", " "), name
        assert "other 2" in text.replace("\n", " "), name


# -- intervals -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["akima", "pchip", "cubic"])
def test_the_vectorised_bd_equals_the_bjontegaard_package(method):
    import bjontegaard

    from rdpbench.report import bjontegaard_batch

    rng = np.random.default_rng(7)
    rows = []
    for _ in range(60):
        k_anchor, k_test = rng.integers(3, 7, 2)
        rows.append((np.sort(rng.uniform(0.05, 3, k_anchor)), np.sort(rng.uniform(20, 40, k_anchor)),
                     np.sort(rng.uniform(0.05, 3, k_test)), np.sort(rng.uniform(20, 40, k_test))))
    for rate_a, quality_a, rate_t, quality_t in rows:
        ours_rate, ours_metric = bjontegaard_batch.bd_rate_and_metric(rate_a, quality_a, rate_t, quality_t, method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rate = bjontegaard.bd_rate(rate_a, quality_a, rate_t, quality_t, method=method,
                                       require_matching_points=False, min_overlap=0)
            metric = bjontegaard.bd_psnr(rate_a, quality_a, rate_t, quality_t, method=method,
                                         require_matching_points=False, min_overlap=0)
        assert ours_rate[0] == pytest.approx(rate, rel=1e-7, abs=1e-7, nan_ok=True)
        assert ours_metric[0] == pytest.approx(metric, rel=1e-7, abs=1e-7, nan_ok=True)


@pytest.fixture
def twelve(tmp_path):
    """anchor and other on 12 images, other about 2 dB better at equal rate with image-to-image spread."""
    rng = np.random.default_rng(5)
    images = [f"{i:02d}.png" for i in range(12)]
    rates, psnr = curves(rng, 12)
    other = psnr + rng.normal(2.0, 1.0, 12)[None, :] + rng.normal(0, 0.2, psnr.shape)
    folder = build_store(tmp_path, {"anchor": (rates, {"psnr": psnr}), "other": (rates * 1.05, {"psnr": other})}, images)
    return folder, rates, psnr, rates * 1.05, other


def _package_bd(rate_a, psnr_a, rate_t, psnr_t):
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (bjontegaard.bd_rate(rate_a, psnr_a, rate_t, psnr_t, method="akima", require_matching_points=False,
                                    min_overlap=0),
                bjontegaard.bd_psnr(rate_a, psnr_a, rate_t, psnr_t, method="akima", require_matching_points=False,
                                    min_overlap=0))


def test_bd_intervals_agree_with_an_independent_paired_bootstrap(twelve):
    """An independent bootstrap written here (its own generator, the bjontegaard package on every
    resample's mean curves): the report's 95% bounds agree within Monte Carlo error (0.6 bootstrap
    standard deviations: about 4 standard errors of the difference of two percentile estimates at
    1000 and 400 resamples)."""
    from rdpbench.report.intervals import Bootstrap

    folder, rate_a, psnr_a, rate_t, psnr_t = twelve
    row = bd.bd_rates(load(folder), "anchor", bootstrap=Bootstrap(1000, 3)).set_index("metric").loc["psnr"]
    rng = np.random.default_rng(2024)
    draws = [rng.integers(0, 12, 12) for _ in range(400)]
    ours = np.array([_package_bd(rate_a[:, d].mean(1), psnr_a[:, d].mean(1), rate_t[:, d].mean(1),
                                 psnr_t[:, d].mean(1)) for d in draws])
    for column, values in (("bd_rate", ours[:, 0]), ("bd_metric", ours[:, 1])):
        low, high = np.percentile(values, [2.5, 97.5])
        tolerance = 0.6 * values.std()
        assert row[f"{column}_ci_low"] == pytest.approx(low, abs=tolerance)
        assert row[f"{column}_ci_high"] == pytest.approx(high, abs=tolerance)
    assert row["bd_rate_ci_high"] < 0 and row["significance"] == "significant"
    assert row["interval"] == "95% percentile bootstrap over 12 images, paired, 1000 resamples, seed 3"
    spread = [_package_bd_method(rate_a.mean(1), psnr_a.mean(1), rate_t.mean(1), psnr_t.mean(1), m)
              for m in ("akima", "pchip", "cubic")]
    assert row["bd_rate_methods_low"] == pytest.approx(min(spread)) and row["bd_rate_methods_high"] == pytest.approx(
        max(spread))


def _package_bd_method(rate_a, psnr_a, rate_t, psnr_t, method):
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bjontegaard.bd_rate(rate_a, psnr_a, rate_t, psnr_t, method=method, require_matching_points=False,
                                   min_overlap=0)


def test_a_bd_interval_that_includes_zero_is_marked_not_significant(tmp_path, run_cli):
    rng = np.random.default_rng(11)
    images = [f"{i}.png" for i in range(6)]
    rates, psnr = curves(rng, 6)
    other = psnr + rng.normal(0.0, 1.5, 6)[None, :] - 0.0
    folder = build_store(tmp_path, {"anchor": (rates, {"psnr": psnr}), "other": (rates, {"psnr": other})}, images)
    report = tmp_path / "report"
    assert run_cli("report", folder, "--anchor", "anchor", "--out", report, "--bootstrap", "300", "--seed", "1") == 0
    row = pd.read_csv(report / "bd_rate.csv").iloc[0]
    assert row.bd_rate_ci_low < 0 < row.bd_rate_ci_high and row.significance == "n.s.: interval includes 0"
    cell = f"{row.bd_rate_percent:.2f} [{row.bd_rate_ci_low:.2f}, {row.bd_rate_ci_high:.2f}] n.s."
    markdown, page = (report / "summary.md").read_text(), (report / "index.html").read_text()
    assert cell in markdown and cell in page
    assert "300 resamples, seed 1" in markdown and "300 resamples, seed 1" in page


def test_paired_per_image_comparison_at_equal_rate_matches_scipy(twelve, tmp_path, run_cli):
    from scipy import stats

    folder, rate_a, psnr_a, rate_t, psnr_t = twelve
    report = tmp_path / "report"
    assert run_cli("report", folder, "--anchor", "anchor", "--out", report, "--bootstrap", "50") == 0
    tests = pd.read_csv(report / "equal_rate_tests.csv")
    for row in tests.itertuples():
        # by hand: each image's PSNR at the rate on its own curve, linear in log10(bpp), inside its range only
        def at(rates, values):
            return np.array([np.interp(np.log10(row.bpp), np.log10(rates[:, i]), values[:, i])
                             if rates[0, i] <= row.bpp <= rates[-1, i] else np.nan for i in range(12)])

        difference = at(rate_t, psnr_t) - at(rate_a, psnr_a)
        difference = difference[np.isfinite(difference)]
        assert row.n_images == len(difference) and row.better_on == (difference > 0).sum()
        assert row.sign_test_p == pytest.approx(stats.binomtest(int((difference > 0).sum()),
                                                                int((difference != 0).sum())).pvalue)
        assert row.wilcoxon_p == pytest.approx(stats.wilcoxon(difference).pvalue)
        assert row.verdict == ("other better" if row.sign_test_p < 0.05 else "n.s.")
    assert f"{tests.better_on.iloc[0]} of {tests.n_images.iloc[0]} images" in (report / "summary.md").read_text()


def test_bootstrap_bd_intervals_cover_the_truth_about_95_percent_of_the_time():
    """Known truth: image i's PSNR is a_i + 10 log10(bpp) (+ c_i for the test codec, c_i ~ N(1, 1)),
    at rates shared by all images, plus N(0, 0.1) noise per point; the population BD-metric is
    E[c] = 1 dB and the BD-rate 10^(-1/10) - 1. Over 300 simulated 24-image folders, the paired
    bootstrap intervals (500 resamples, computed as the report does) must cover the truth in
    90-99% of them: 95% ± 4 binomial standard errors (1.26 points each), a little more room below
    because percentile intervals on 24 images run slightly narrow."""
    from rdpbench.report import bjontegaard_batch
    from rdpbench.report.intervals import Bootstrap, resampled_means

    rng = np.random.default_rng(0)
    truth_metric, truth_rate = 1.0, (10 ** (-1.0 / 10) - 1) * 100
    bootstrap = Bootstrap(500, 0)
    covered_metric = covered_rate = 0
    simulations, n, settings = 300, 24, np.array([0.125, 0.25, 0.5, 1.0, 2.0])
    for simulation in range(simulations):
        offsets = rng.normal(32, 3, n)
        gains = rng.normal(truth_metric, 1.0, n)
        rates = np.repeat(settings[:, None], n, axis=1)
        anchor = offsets + 10 * np.log10(rates) + rng.normal(0, 0.1, rates.shape)
        test = offsets + gains + 10 * np.log10(rates) + rng.normal(0, 0.1, rates.shape)
        draws = np.random.default_rng(simulation).integers(0, n, (bootstrap.resamples, n))
        bd_rate, bd_metric = bjontegaard_batch.bd_rate_and_metric(
            resampled_means(rates, draws), resampled_means(anchor, draws), resampled_means(rates, draws),
            resampled_means(test, draws))
        low, high, _ = bootstrap.interval(bd_metric)
        covered_metric += low <= truth_metric <= high
        low, high, _ = bootstrap.interval(bd_rate)
        covered_rate += low <= truth_rate <= high
    assert 0.90 <= covered_metric / simulations <= 0.99
    assert 0.90 <= covered_rate / simulations <= 0.99


# -- weight states ------------------------------------------------------------------------------------------
PREFIX_FILES = [f"mbt2018-mean-{q}-{'%08x' % (0x10000000 * q + 7)}.pth.tar" for q in range(1, 9)] + \
    [f"bmshj2018-factorized-prior-{q}-{'%08x' % (0x20000000 + q)}.pth.tar" for q in range(1, 8)]


def _weights(unverified: bool) -> dict:
    """Recorded weight entries as runs of every rdpbench version wrote them."""
    entries = {"alexnet-owt-7be5be79.pth": {"sha256": "7be5be79" + "1" * 56, "verified": True, "check": "sha256"},
               "msillm_target_0.14bpp.ckpt": {"sha256": "2" * 64, "verified": False, "check": "none"}}
    for name in PREFIX_FILES[:-1]:  # the prefix in the name matches: a genuine file known only by its digits
        digits = name.rsplit("-", 1)[1].split(".")[0]
        entries[name] = {"sha256": digits + "3" * 56, "verified": False, "check": "sha256-prefix"}
    digits = PREFIX_FILES[-1].rsplit("-", 1)[1].split(".")[0]
    entries[PREFIX_FILES[-1]] = {"sha256": digits + "4" * 56, "verified": False}  # an older run: no check recorded
    if unverified:
        entries["vgg16-397923af.pth"] = {"sha256": "5" * 64, "verified": False, "check": "mismatch"}
    return entries


@pytest.mark.parametrize("unverified", [False, True])
def test_weight_states_are_named_once_and_red_only_for_unverified_files(tmp_path, run_cli, unverified):
    rng = np.random.default_rng(2)
    rates, psnr = curves(rng, 3)
    stores = {}
    for label, weights in (("plain", {}), ("weights", _weights(unverified))):
        stores[label] = build_store(tmp_path / label, {"anchor": (rates, {"psnr": psnr}),
                                                       "other": (rates * 0.9, {"psnr": psnr})},
                                    ["a.png", "b.png", "c.png"], verified=weights)
        assert run_cli("report", stores[label], "--anchor", "anchor", "--out", tmp_path / label / "report",
                       "--bootstrap", "20") == 0
    report = tmp_path / "weights" / "report"
    states = pd.read_csv(report / "weights.csv").set_index("file")["state"]
    assert states["alexnet-owt-7be5be79.pth"] == "verified"
    assert states["msillm_target_0.14bpp.ckpt"] == "unpublished"
    assert all(states[name] == "prefix-checked" for name in PREFIX_FILES)
    assert (states.get("vgg16-397923af.pth") == "unverified") == unverified
    page = (report / "index.html").read_text()
    for name in ("summary.md", "summary.tex", "summary.csv", "bd_rate.csv", "index.html"):
        text = (report / name).read_text().replace("\n", " ")
        assert "1 verified (full sha256)" in text and "prefix-checked" in text and "unpublished hash" in text, name
        assert text.count(PREFIX_FILES[3]) == text.count("Weights: "), name  # each file named once per caveat block
        assert ("UNVERIFIED WEIGHTS (vgg16-397923af.pth)" in text) == unverified, name
    figure = (report / "overview.svg").read_text()  # one <text> per wrapped caption line: words, not phrases
    assert figure.count(PREFIX_FILES[3]) == 1 and "prefix-checked," in figure and ("UNVERIFIED" in figure) == unverified
    assert ('class="caveats warning"' in page) == unverified
    # a long caption wraps: the figure keeps the width it has without any weight files
    with Image.open(report / "overview.png") as ours, Image.open(tmp_path / "plain" / "report" / "overview.png") as plain:
        assert abs(ours.width - plain.width) <= 0.02 * plain.width


# -- paper outputs ---------------------------------------------------------------------------------------
def test_paper_outputs_bd_matrix_all_pairs_values_at_rates_and_ms_ssim_in_db(tmp_path, run_cli):
    rng = np.random.default_rng(9)
    images = [f"{i}.png" for i in range(5)]
    rates, psnr = curves(rng, 5, settings=6)
    ms_ssim = 1 - 0.1 / (1 + 4 * rates)  # rising with rate, per image
    codecs = {"anchor": (rates, {"psnr": psnr, "ms_ssim": ms_ssim}),
              "half": (rates * 0.5, {"psnr": psnr, "ms_ssim": ms_ssim}),  # the same quality at half the bits
              "other": (rates * 1.1, {"psnr": psnr + 1, "ms_ssim": ms_ssim})}
    folder = build_store(tmp_path, codecs, images)
    report = tmp_path / "report"
    assert run_cli("report", folder, "--anchor", "anchor", "--out", report, "--bootstrap", "100", "--bd-all-pairs",
                   "--at-bpp", "0.3,0.6,100") == 0
    # ms_ssim_db: -10 log10(1 - mean MS-SSIM), as CompressAI plots it, in tables, figures and BD-rates
    summary = pd.read_csv(report / "summary.csv")
    first = summary[(summary.codec == "anchor") & (summary.setting == "q=1")].iloc[0]
    assert first.ms_ssim_db == pytest.approx(-10 * np.log10(1 - ms_ssim[0].mean()))
    assert (report / "rd_ms_ssim_db.png").is_file() and "MS-SSIM [dB]" in (report / "summary.md").read_text()
    bd_rates = pd.read_csv(report / "bd_rate.csv").set_index(["codec", "metric"])
    for metric in ("psnr", "ms_ssim", "ms_ssim_db"):  # half the bits for the same quality: -50% whatever the axis
        assert bd_rates.loc[("half", metric), "bd_rate_percent"] == pytest.approx(-50.0, abs=1e-6)
    # the matrix: codecs x metrics against the anchor, with intervals
    matrix = pd.read_csv(report / "bd_matrix.csv", dtype=str).set_index("codec (vs anchor)")
    assert list(matrix.columns[:3]) == ["psnr", "ms_ssim", "ms_ssim_db"] and matrix.loc["half", "psnr"].startswith(
        "-50.0 [-50.0, -50.0]")
    assert r"\begin{tabular}" in (report / "bd_matrix.tex").read_text()
    pairs = pd.read_csv(report / "bd_all_pairs.csv").set_index(["codec", "anchor", "metric"])
    assert pairs.loc[("anchor", "half", "psnr"), "bd_rate_percent"] == pytest.approx(100.0, abs=1e-6)
    assert "codec \\ anchor" in (report / "bd_all_pairs.md").read_text()
    # values at chosen rates: interpolated on each curve (over the images every codec has), never extrapolated
    at = pd.read_csv(report / "at_bpp.csv").set_index(["metric", "codec", "bpp"])
    mean_rates, mean_psnr = rates.mean(1), psnr.mean(1)
    expected = np.interp(np.log10(0.6), np.log10(mean_rates * 1.1), mean_psnr + 1)
    assert at.loc[("psnr", "other", 0.6), "value"] == pytest.approx(expected)
    assert math.isnan(at.loc[("psnr", "other", 100.0), "value"])
    assert "| half |" in (report / "at_bpp.md").read_text() and r"\toprule" in (report / "at_bpp.tex").read_text()
    # summary.tex: one table per metric group, 4 of the 6 settings per codec by default
    latex = (report / "summary.tex").read_text()
    assert latex.count(r"\begin{tabular}") == 1 and latex.count(" & q=") == 3 * 4


def test_a_later_run_that_adds_a_metric_keeps_the_stored_timings(tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    with ResultsStore(tmp_path / "out") as store:
        first = Task("jpeg", "jpeg", "q=1", (), "a.png", str(image), ("psnr",))
        store.write_result(TaskResult(first, 8, 8, 10, 1.25, 0.5, 0.25, {"psnr": MetricValue(30.0)}), run_id=1)
        later = Task("jpeg", "jpeg", "q=1", (), "a.png", str(image), ("lpips",))  # only the new metric
        store.write_result(TaskResult(later, 8, 8, 10, 1.25, 9.0, 9.0, {"lpips": MetricValue(0.1)}), run_id=2)
        assert store.query("SELECT encode_s, decode_s, run_id FROM rows") == [(0.5, 0.25, 1)]
        assert sorted(store.query("SELECT metric, value FROM metric_values")) == [("lpips", 0.1), ("psnr", 30.0)]
        # a row that had failed is replaced whole by its retry
        failed = Task("jpeg", "jpeg", "q=2", (), "a.png", str(image), ("psnr",))
        store.write_result(TaskResult(failed, error="boom"), run_id=1)
        store.write_result(TaskResult(failed, 8, 8, 12, 1.5, 0.75, 0.5, {"psnr": MetricValue(31.0)}), run_id=3)
        assert store.query("SELECT encode_s, decode_s, run_id, error FROM rows WHERE setting = 'q=2'") == \
            [(0.75, 0.5, 3, None)]


# -- distribution metrics from stored features ----------------------------------------------------------------
def test_fid_and_kid_intervals_bootstrap_images_with_their_patches_from_stored_features(tmp_path, run_cli):
    """An independent bootstrap written here: draw images with replacement (own generator), stack their
    stored patch features on both sides, FID by the project's FID maths (itself checked against
    torch-fidelity) and KID by torch-fidelity (a subset of all 40 patches: every subset is the same);
    the report's bounds agree within 0.8 bootstrap standard deviations (about 3.5 standard errors of
    the difference of 2.5% quantiles estimated from 200 and 400 resamples)."""
    import torch
    from torch_fidelity.metric_kid import kid_features_to_metric

    from rdpbench.metrics.distribution import fid_from_few_features

    rng = np.random.default_rng(4)
    images, spec, dimension = [f"{i}.png" for i in range(10)], "inception-v3-compat-64/patch16-shift8", 64
    originals = {image: rng.normal(size=(4, dimension)).astype(np.float32) for image in images}
    folder = tmp_path / "originals"
    folder.mkdir()
    for image in images:
        Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(folder / image)
    out = tmp_path / "results"
    reconstructions = {}
    with ResultsStore(out) as store:
        store.bind_dataset("synthetic", str(folder), "fingerprint", {image: "0" * 64 for image in images})
        run_id = store.start_run("2026-01-01T00:00:00", "rdpbench run", {}, {}, "", "host")
        record_metrics(store, run_id, "psnr", "fid", "kid")
        store.write_original_features(spec, originals)
        for codec, noise in (("a", 0.5), ("b", 1.0)):
            for s, rate in enumerate((0.2, 0.4, 0.8)):
                setting = f"q={s + 1}"
                for image in images:
                    features = (originals[image] + rng.normal(0, noise / (s + 1), (4, dimension))).astype(np.float32)
                    reconstructions[codec, setting, image] = features
                    task = Task(codec, codec, setting, (), image, str(folder / image), ("psnr",))
                    store.write_result(TaskResult(task, SIZE, SIZE, 100, rate, 0.01, 0.01,
                                                  {"psnr": MetricValue(30.0 + 3 * s)}, features={spec: features}),
                                       run_id=run_id)
                first = np.concatenate([originals[i] for i in images])
                second = np.concatenate([reconstructions[codec, setting, i] for i in images])
                store.write_distribution(codec, setting, "fid", {"fid": fid_from_few_features(first, second)}, 40, 10,
                                         spec, "")
                store.write_distribution(codec, setting, "kid", {"kid": kid_features_to_metric(
                    torch.from_numpy(first), torch.from_numpy(second), kid_subset_size=40,
                    verbose=False)["kernel_inception_distance_mean"], "kid_std": 0.0}, 40, 10, spec, "")
    report = tmp_path / "report"
    assert run_cli("report", out, "--out", report, "--bootstrap", "1000", "--seed", "5") == 0
    summary = pd.read_csv(report / "summary.csv").set_index(["codec", "setting"])
    draws = np.random.default_rng(99).integers(0, 10, (400, 10))
    for codec, setting in (("a", "q=1"), ("b", "q=3")):
        fids, kids = [], []
        for draw in draws:
            first = np.concatenate([originals[images[i]] for i in draw])
            second = np.concatenate([reconstructions[codec, setting, images[i]] for i in draw])
            fids.append(fid_from_few_features(first, second))
            kids.append(kid_features_to_metric(torch.from_numpy(first), torch.from_numpy(second), kid_subset_size=40,
                                               kid_subsets=1, verbose=False)["kernel_inception_distance_mean"])
        for column, values in (("fid", np.array(fids)), ("kid", np.array(kids))):
            low, high = np.percentile(values, [2.5, 97.5])
            row = summary.loc[(codec, setting)]
            assert row[f"{column}_ci_low"] == pytest.approx(low, abs=0.8 * values.std()), (codec, setting, column)
            assert row[f"{column}_ci_high"] == pytest.approx(high, abs=0.8 * values.std()), (codec, setting, column)
    markdown = (report / "summary.md").read_text()
    row = summary.loc[("a", "q=1")]
    assert f"{row.fid:.2f} [{row.fid_ci_low:.2f}, {row.fid_ci_high:.2f}]" in markdown
    assert "200 resamples, seed 5" in markdown and "images with their patches" in markdown
    # BD-rate of FID: the same draws of images (with their patches) for both codecs' every setting
    import bjontegaard

    assert run_cli("report", out, "--out", tmp_path / "bd", "--anchor", "a", "--bootstrap", "200", "--seed", "2") == 0
    row = pd.read_csv(tmp_path / "bd" / "bd_rate.csv").set_index(["codec", "metric"]).loc[("b", "fid")]
    assert row.interval == "95% percentile bootstrap over 10 images with their patches, paired, 200 resamples, seed 2"
    rates = np.array([0.2, 0.4, 0.8])
    ours = []
    for draw in draws:
        fid = {codec: [fid_from_few_features(np.concatenate([originals[images[i]] for i in draw]),
                                             np.concatenate([reconstructions[codec, f"q={s + 1}", images[i]]
                                                             for i in draw])) for s in range(3)]
               for codec in ("a", "b")}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours.append(bjontegaard.bd_rate(rates, -np.array(fid["a"]), rates, -np.array(fid["b"]), method="akima",
                                            require_matching_points=False, min_overlap=0))
    ours = np.array(ours)
    ours = ours[np.isfinite(ours)]
    low, high = np.percentile(ours, [2.5, 97.5])
    assert row.bd_rate_ci_low == pytest.approx(low, abs=0.8 * ours.std())
    assert row.bd_rate_ci_high == pytest.approx(high, abs=0.8 * ours.std())
