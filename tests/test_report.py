"""`rdpbench report` on synthetic results stores: numbers in tables, BD-rates against cases with a
known answer and against the bjontegaard package, the meaning of BD signs for every metric, caveats
on every output, legends, axes, error handling, figures, and the page in headless Chromium."""

import json
import math
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rdpbench.report import plots
from metadata import declared_columns, record_metrics
from rdpbench.metrics.registry import METRICS
from rdpbench.report.data import load
from rdpbench.store import ResultsStore
from rdpbench.tasks import MetricValue, Task, TaskResult

ANCHOR_BPP = [0.25, 0.5, 1.0, 2.0]
ANCHOR_PSNR = [30.0, 33.0, 36.0, 39.0]
ANCHOR_LPIPS = [0.30, 0.20, 0.12, 0.06]
CURVES = {  # codec: (bpp per setting, {metric: values})
    "anchor": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR, "lpips": ANCHOR_LPIPS}),
    "better": ([0.8 * b for b in ANCHOR_BPP], {"psnr": ANCHOR_PSNR, "lpips": ANCHOR_LPIPS}),  # 80% of the bits
    "zigzag": (ANCHOR_BPP, {"psnr": [30.0, 29.0, 34.0, 38.0], "lpips": ANCHOR_LPIPS}),      # not monotonic
    "two": (ANCHOR_BPP[:2], {"psnr": ANCHOR_PSNR[:2], "lpips": ANCHOR_LPIPS[:2]}),          # too few points
}
# One anchor curve per metric, in its better direction (rising for higher-is-better, falling otherwise).
ANCHOR_VALUES = {"psnr": ANCHOR_PSNR, "ms_ssim": [0.90, 0.94, 0.97, 0.99], "lpips": ANCHOR_LPIPS,
                 "dists": [0.25, 0.18, 0.12, 0.08], "niqe": [8.0, 6.0, 5.0, 4.5], "fid": [60.0, 30.0, 15.0, 8.0],
                 "kid": [0.05, 0.02, 0.01, 0.004]}
IMAGES = ["a.png", "b.png"]
SIZE = 64


def make_store(folder, curves, error_rows=False, unverified=False, n_patches=16, recon=True):
    """A store with 2 images per setting whose means are the curves (per-image values mean ± 1% of the
    value), FID/KID as distribution values over ``n_patches``, settings named q=1, q=2, ..."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in IMAGES:
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(images / name)
    out = folder / "results"
    with ResultsStore(out) as store:
        store.bind_dataset("synthetic", str(images), "fingerprint", {name: "0" * 64 for name in IMAGES})
        weights = {"alexnet-owt-7be5be79.pth": {"sha256": "0" * 64, "verified": not unverified}}
        run_id = store.start_run("2026-01-01T00:00:00", "rdpbench run", {}, {"weights": weights}, "", "host")
        metrics = {column.metric for _, values in curves.values() for column in _columns(values).values()}
        record_metrics(store, run_id, *metrics)
        for codec, (rates, values) in curves.items():
            for index, bpp in enumerate(rates):
                setting = f"q={index + 1}"
                per_image = {m: v[index] for m, v in values.items() if not math.isnan(v[index]) and
                             _columns(values)[m].per_image}
                for offset, image in zip((-1, 1), IMAGES):
                    task = Task(codec, codec, setting, (), image, str(images / image), tuple(per_image))
                    metrics = {m: MetricValue(v * (1 + 0.01 * offset)) for m, v in per_image.items()}
                    result = (TaskResult(task, error="boom") if error_rows else
                              TaskResult(task, SIZE, SIZE, int(bpp * SIZE * SIZE / 8), bpp, 0.01, 0.01, metrics))
                    store.write_result(result, run_id=run_id)
                    if recon:
                        path = out / "recon" / codec / setting / image
                        path.parent.mkdir(parents=True, exist_ok=True)
                        Image.fromarray(np.full((SIZE, SIZE, 3), 10 * index, np.uint8)).save(path)
                for metric, column in _columns(values).items():
                    if not column.per_image and not math.isnan(values[metric][index]):
                        store.write_distribution(codec, setting, column.metric, {metric: values[metric][index]}, n_patches,
                                                 len(IMAGES), "inception-v3-compat/256/128", "small sample")
    return out


@pytest.fixture
def results(tmp_path):
    return make_store(tmp_path, CURVES)


def test_bd_rates_match_known_answers_and_the_bjontegaard_package(results, tmp_path, run_cli):
    import bjontegaard

    report = tmp_path / "report"
    assert run_cli("report", results, "--anchor", "anchor", "--out", report) == 0
    bd = pd.read_csv(report / "bd_rate.csv", dtype={"note": str}, keep_default_na=False).set_index(["codec", "metric"])
    # same quality at 80% of the rate: -20% whatever the interpolation
    assert float(bd.loc[("better", "psnr"), "bd_rate_percent"]) == pytest.approx(-20.0, abs=1e-9)
    assert float(bd.loc[("better", "lpips"), "bd_rate_percent"]) == pytest.approx(-20.0, abs=1e-9)
    assert bd.loc[("better", "psnr"), "interpolation"].startswith("bjontegaard akima")
    expected_delta = bjontegaard.bd_psnr(ANCHOR_BPP, ANCHOR_PSNR, CURVES["better"][0], ANCHOR_PSNR, method="akima",
                                         require_matching_points=False, min_overlap=0)
    assert float(bd.loc[("better", "psnr"), "bd_metric"]) == pytest.approx(expected_delta, abs=1e-9)
    assert bd.loc[("better", "psnr"), "unit"] == "dB"
    assert bd.loc[("zigzag", "psnr"), "bd_rate_percent"] == ""
    assert bd.loc[("zigzag", "psnr"), "note"] == "n/a: zigzag: psnr is not strictly monotonic in rate"
    assert float(bd.loc[("zigzag", "lpips"), "bd_rate_percent"]) == pytest.approx(0.0, abs=1e-9)
    assert bd.loc[("zigzag", "lpips"), "better"] == "same"
    assert bd.loc[("two", "psnr"), "note"] == "n/a: two: fewer than 3 points"


QUALITY_COLUMNS = {name: column for name, column in declared_columns(*METRICS.entries()).items() if column.is_quality}


def _columns(values: dict) -> dict:
    """The declared metadata of the metric columns in ``values``."""
    return {name: QUALITY_COLUMNS[name] for name in values}


@pytest.mark.parametrize("metric", list(QUALITY_COLUMNS))
def test_every_registered_metric_reaches_the_tables_a_figure_and_bd_rates_in_its_meaning(metric, tmp_path, run_cli):
    """For every column of every registered metric: it reaches the report's summary.csv, the Markdown,
    LaTeX and HTML tables with its declared label and unit, and its own figure. Curves built to be
    better (same quality at 80% of the bits) or worse (at 125%): BD-rate is -20% / +25% exactly,
    BD-metric is the codec minus the anchor in the metric's unit, so its sign follows the metric's
    direction, and `better` names the same winner in the CSV, Markdown and page."""
    up = QUALITY_COLUMNS[metric].higher_is_better
    values = ANCHOR_VALUES.get(metric, [1.0, 2.0, 3.0, 4.0] if up else [4.0, 3.0, 2.0, 1.0])
    curves = {"anchor": (ANCHOR_BPP, {metric: values}), "better": ([0.8 * b for b in ANCHOR_BPP], {metric: values}),
              "worse": ([1.25 * b for b in ANCHOR_BPP], {metric: values})}
    report = tmp_path / "report"
    assert run_cli("report", make_store(tmp_path, curves, recon=False), "--anchor", "anchor", "--out", report) == 0
    bd = pd.read_csv(report / "bd_rate.csv")
    bd = bd[bd["metric"] == metric].set_index("codec")  # MS-SSIM also has its dB view (ms_ssim_db)
    assert bd.loc["better", "bd_rate_percent"] == pytest.approx(-20.0, abs=1e-6)
    assert bd.loc["worse", "bd_rate_percent"] == pytest.approx(25.0, abs=1e-6)
    assert (bd.loc["better", "bd_metric"] > 0) == up and (bd.loc["worse", "bd_metric"] > 0) != up
    # at equal rate the better curve sits where the anchor is at 1/0.8 the rate: its value is between
    # the anchor's neighbouring points, so |BD-metric| is below the largest step of the curve
    assert abs(bd.loc["better", "bd_metric"]) < max(abs(np.diff(values)))
    assert bd.loc["better", "better"] == "better" and bd.loc["worse", "better"] == "anchor"
    assert bd.loc["better", "direction"] == ("higher is better" if up else "lower is better")
    markdown, page = (report / "summary.md").read_text(), (report / "index.html").read_text()
    rate = f"{bd.loc['worse', 'bd_rate_percent']:.2f}"
    assert f"| worse | {metric} | 2 | {rate}" in markdown and f"<td>{rate}" in page
    column = QUALITY_COLUMNS[metric]
    heading = column.label + (f" [{column.unit}]" if column.unit else "")
    assert f"{heading} {'↑' if up else '↓'}" in markdown and heading in page
    assert heading.replace("%", r"\%") in (report / "summary.tex").read_text()
    assert pd.read_csv(report / "summary.csv")[metric].notna().sum() == 12
    assert (report / f"rd_{metric}.svg").is_file()


def test_tables_are_grouped_unbolded_and_compare_codecs_at_equal_rate(results, tmp_path, run_cli):
    report = tmp_path / "report"
    assert run_cli("report", results, "--anchor", "anchor", "--out", report) == 0
    matched = pd.read_csv(report / "matched_bitrates.csv")
    row = matched[(matched.codec == "anchor") & (matched.setting == "q=2") & (matched.metric == "psnr")
                  & (matched.other_codec == "better")].iloc[0]
    assert row.other_bpp == pytest.approx(0.4) and row.bpp_ratio == pytest.approx(0.8)
    summary = pd.read_csv(report / "summary.csv")
    assert list(summary.columns) == ["codec", "setting", "n_images", "bpp", "psnr", "lpips", "n_bpp", "n_psnr",
                                     "n_lpips", "caveats"]
    assert summary.loc[(summary.codec == "anchor") & (summary.setting == "q=3"), "psnr"].item() == pytest.approx(36.0)
    markdown = (report / "summary.md").read_text()
    assert "### Distortion: PSNR [dB]" in markdown and "### Perceptual (full-reference): LPIPS" in markdown
    assert "| anchor | q=4 | 2 | 2.0000 | 39.00 |" in markdown  # the distortion table has no LPIPS column
    latex = (report / "summary.tex").read_text()
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"\textbf" not in latex
    # equal-rate rows: the shared range of the 4 codecs is 0.25..0.5 bpp (two: 0.25..0.5, better: 0.2..1.6)
    rates = 10 ** (np.log10(0.25) + (np.arange(3) + 0.5) / 3 * np.log10(2))
    better = np.interp(np.log10(rates), np.log10(CURVES["better"][0]), ANCHOR_PSNR)
    anchor = np.interp(np.log10(rates), np.log10(ANCHOR_BPP), ANCHOR_PSNR)
    for rate, ours, theirs in zip(rates, better, anchor):
        assert f"| {rate:.4f} | {theirs:.2f} | **{ours:.2f}** |" in markdown


def test_caveats_reach_every_figure_table_and_page(tmp_path, run_cli):
    curves = {"anchor": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR, "fid": ANCHOR_VALUES["fid"]}),
              "other": ([0.8 * b for b in ANCHOR_BPP], {"psnr": ANCHOR_PSNR, "fid": ANCHOR_VALUES["fid"]})}
    report = tmp_path / "report"
    assert run_cli("report", make_store(tmp_path, curves, unverified=True, n_patches=16, recon=False),
                   "--anchor", "anchor", "--out", report) == 0
    for name in ("summary.md", "summary.tex", "summary.csv", "bd_rate.csv", "matched_bitrates.csv", "index.html",
                 "rd_fid.svg", "rd_psnr.svg", "overview.svg"):
        text = (report / name).read_text()
        if name.endswith(".svg"):  # the caption wraps to the figure's width: one <text> per line
            text = " ".join(re.findall(r">([^<>]*)</text>", text))
        for phrase in ("synthetic, 2 images", "UNVERIFIED WEIGHTS (alexnet-owt-7be5be79.pth)",
                       "not comparable with published values", "FID on 16 patches", "SMALL SAMPLE"):
            assert phrase in text, (name, phrase)
    assert 'class="caveats warning"' in (report / "index.html").read_text()


def test_a_verified_run_has_no_warning(results, tmp_path, run_cli):
    report = tmp_path / "report"
    assert run_cli("report", results, "--out", report) == 0
    page = (report / "index.html").read_text()
    assert "synthetic, 2 images" in page and "UNVERIFIED" not in page and "caveats warning" not in page


def test_legends_name_the_settings_plotted_for_each_metric(tmp_path):
    nan = math.nan
    curves = {"jpeg": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR, "fid": [60.0, 30.0, nan, nan]})}
    data = load(make_store(tmp_path, curves, recon=False))
    assert plots.legend_label(data, "jpeg", "psnr") == "jpeg (q 1–4)"
    assert plots.legend_label(data, "jpeg", "fid") == "jpeg (q 1–2)"


def test_the_bpp_axis_defaults_to_the_shared_range(tmp_path, run_cli):
    curves = {"a": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR}), "b": ([0.3, 0.6, 6.0], {"psnr": [31.0, 34.0, 45.0]}),
              "png": ([12.0], {"psnr": [math.inf]})}  # lossless: one point, does not set the range
    data = load(make_store(tmp_path, curves, recon=False))
    low, high, note = plots.x_range(data)
    assert (low, high) == (0.0, pytest.approx(2.0 * 1.04))  # a reaches 2 bpp, b 6, png has one point
    assert "2 points above it not shown" in note and "--bpp-range full" in note
    assert plots.x_range(data, "full")[1] == pytest.approx(12.0 * 1.04)
    assert plots.x_range(data, (0.1, 1.0))[:2] == (0.1, 1.0)
    report = tmp_path / "report"
    assert run_cli("report", tmp_path / "results", "--out", report, "--bpp-range", "0:3") == 0
    assert "bpp axis 0–3 (given)" in (report / "rd_psnr.svg").read_text()


def test_report_errors_are_one_line_and_write_nothing(tmp_path, run_cli, capsys):
    results = make_store(tmp_path / "ok", {"anchor": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR}),
                                           "jpeg": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR})}, recon=False)
    report = tmp_path / "report"
    assert run_cli("report", results, "--anchor", "ancor", "--out", report) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "did you mean 'anchor'?" in error and "choose one of anchor, jpeg" in error
    assert not report.exists() and not list(tmp_path.glob(".report.*"))
    # an existing report is left as it was
    report.mkdir()
    (report / "keep.txt").write_text("mine")
    assert run_cli("report", results, "--anchor", "nope", "--out", report) == 2
    assert [p.name for p in report.iterdir()] == ["keep.txt"]
    failed = make_store(tmp_path / "failed", {"jpeg": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR})}, error_rows=True)
    capsys.readouterr()
    assert run_cli("report", failed, "--out", tmp_path / "report2") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no successful rows" in error and "--retry-errors" in error
    assert not (tmp_path / "report2").exists()
    # only PSNR is a valid report, with BD-rates for PSNR
    assert run_cli("report", results, "--anchor", "anchor", "--out", report) == 0
    assert set(pd.read_csv(report / "bd_rate.csv")["metric"]) == {"psnr"} and (report / "keep.txt").exists()


def test_figures_are_written_in_three_formats(results, tmp_path, run_cli):
    report = tmp_path / "report"
    assert run_cli("report", results, "--out", report, "--preset", "hific2020") == 0
    for stem in ("overview", "rd_psnr", "rd_lpips"):
        for extension in ("png", "pdf", "svg"):
            assert (report / f"{stem}.{extension}").stat().st_size > 1000
    with Image.open(report / "overview.png") as image:
        assert image.info["dpi"][0] == pytest.approx(300, abs=1)


def test_imported_curves_are_overlaid_and_labelled(results, tmp_path, run_cli):
    imported = tmp_path / "paper.json"
    imported.write_text(json.dumps({"name": "Paper", "results": {"bpp": [0.3, 0.6, 1.2], "psnr-rgb": [31, 34, 37]}}))
    report = tmp_path / "report"
    assert run_cli("report", results, "--anchor", "anchor", "--out", report, "--import", imported) == 0
    bd = pd.read_csv(report / "bd_rate.csv").set_index(["codec", "metric"])
    assert not math.isnan(bd.loc[("Paper (imported)", "psnr"), "bd_rate_percent"])
    assert "Paper (imported)" in (report / "summary.md").read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make setup installs it)")
def test_the_page_loads_in_headless_chromium_with_every_image(results, tmp_path, run_cli):
    report = tmp_path / "report"
    assert run_cli("report", results, "--anchor", "anchor", "--out", report) == 0
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
         (report / "index.html").as_uri()], capture_output=True, text=True, timeout=120).stdout
    body = dom[dom.index("<body"):dom.index(">", dom.index("<body"))]
    assert 'data-ready="yes"' in body and 'data-errors="0"' in body and 'data-broken=""' in body
    # the overview figure plus, for 2 images, the original and 4 codecs
    assert 'data-images="11"' in body
    assert "better</b> q=" in dom and "bpp" in dom


def test_a_report_with_only_the_anchor_says_there_is_nothing_to_compare(tmp_path, run_cli):
    curves = {"anchor": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR})}
    report = tmp_path / "report"
    assert run_cli("report", make_store(tmp_path, curves, recon=False), "--anchor", "anchor", "--out", report) == 0
    page = (report / "index.html").read_text()
    assert "No other codec to compare with the anchor anchor." in page and "No anchor given" not in page
