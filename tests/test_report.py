"""`rdpbench report` on a synthetic results store: numbers in tables, BD-rates against cases with a
known answer and against the bjontegaard package, figures, and the page in headless Chromium."""

import math
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rdpbench.metrics.base import MetricValue
from rdpbench.store import ResultsStore
from rdpbench.tasks import Task, TaskResult

ANCHOR_BPP = [0.25, 0.5, 1.0, 2.0]
ANCHOR_PSNR = [30.0, 33.0, 36.0, 39.0]
ANCHOR_LPIPS = [0.30, 0.20, 0.12, 0.06]
CURVES = {  # codec: (bpp per setting, psnr, lpips)
    "anchor": (ANCHOR_BPP, ANCHOR_PSNR, ANCHOR_LPIPS),
    "better": ([0.8 * b for b in ANCHOR_BPP], ANCHOR_PSNR, ANCHOR_LPIPS),   # same quality at 80% of the bits
    "zigzag": (ANCHOR_BPP, [30.0, 29.0, 34.0, 38.0], ANCHOR_LPIPS),        # not monotonic in PSNR
    "two": (ANCHOR_BPP[:2], ANCHOR_PSNR[:2], ANCHOR_LPIPS[:2]),            # too few points
}
IMAGES = ["a.png", "b.png"]
SIZE = 64


@pytest.fixture
def results(tmp_path):
    """A store with 2 images per setting whose means are the curves above (values mean ± 1, ± 0.01)."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in IMAGES:
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(images / name)
    out = tmp_path / "results"
    with ResultsStore(out) as store:
        store.bind_dataset("synthetic", str(images), "fingerprint", {name: "0" * 64 for name in IMAGES})
        for codec, (rates, psnrs, lpipses) in CURVES.items():
            for index, (bpp, psnr, lpips) in enumerate(zip(rates, psnrs, lpipses)):
                setting = f"q={index + 1}"
                for offset, image in zip((-1, 1), IMAGES):
                    task = Task(codec, codec, setting, (), image, str(images / image), ("psnr", "lpips"))
                    nbytes = bpp * SIZE * SIZE / 8
                    store.write_result(TaskResult(task, SIZE, SIZE, int(nbytes), bpp, 0.01, 0.01, {
                        "psnr": MetricValue(psnr + offset), "lpips": MetricValue(lpips + 0.01 * offset)}), run_id=1)
                    recon = out / "recon" / codec / setting / image
                    recon.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(np.full((SIZE, SIZE, 3), 10 * index, np.uint8)).save(recon)
    return out


def test_bd_rates_match_known_answers_and_the_bjontegaard_package(results, tmp_path, run_cli):
    import bjontegaard

    report = tmp_path / "report"
    assert run_cli("report", results, "--anchor", "anchor", "--out", report) == 0
    bd = pd.read_csv(report / "bd_rate.csv", dtype={"note": str}).set_index(["codec", "metric"])
    # same quality at 80% of the rate: -20% whatever the interpolation
    assert bd.loc[("better", "psnr"), "bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
    assert bd.loc[("better", "lpips"), "bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
    assert bd.loc[("better", "psnr"), "interpolation"].startswith("bjontegaard akima")
    expected_delta = bjontegaard.bd_psnr(ANCHOR_BPP, ANCHOR_PSNR, CURVES["better"][0], ANCHOR_PSNR, method="akima",
                                         require_matching_points=False, min_overlap=0)
    assert bd.loc[("better", "psnr"), "bd_metric"] == pytest.approx(expected_delta, abs=1e-9)
    assert bd.loc[("better", "psnr"), "bd_metric"] > 0 > bd.loc[("better", "lpips"), "bd_metric"]
    assert math.isnan(bd.loc[("zigzag", "psnr"), "bd_rate_percent"])
    assert bd.loc[("zigzag", "psnr"), "note"] == "n/a: zigzag: psnr is not strictly monotonic in rate"
    assert bd.loc[("zigzag", "lpips"), "bd_rate_percent"] == pytest.approx(0.0, abs=1e-9)
    assert bd.loc[("two", "psnr"), "note"] == "n/a: two: fewer than 3 points"


def test_matched_bitrates_and_tables(results, tmp_path, run_cli):
    report = tmp_path / "report"
    assert run_cli("report", results, "--anchor", "anchor", "--out", report) == 0
    matched = pd.read_csv(report / "matched_bitrates.csv")
    row = matched[(matched.codec == "anchor") & (matched.setting == "q=2") & (matched.metric == "psnr")
                  & (matched.other_codec == "better")].iloc[0]
    assert row.other_bpp == pytest.approx(0.4) and row.bpp_ratio == pytest.approx(0.8)
    row = matched[(matched.codec == "zigzag") & (matched.setting == "q=1") & (matched.metric == "psnr")
                  & (matched.other_codec == "anchor")].iloc[0]
    assert row.other_bpp == pytest.approx(0.25)  # 30 dB is the anchor's first point
    summary = pd.read_csv(report / "summary.csv")
    assert list(summary.columns) == ["codec", "setting", "n_images", "bpp", "psnr", "lpips"]
    assert summary.loc[(summary.codec == "anchor") & (summary.setting == "q=3"), "psnr"].item() == pytest.approx(36.0)
    markdown = (report / "summary.md").read_text()
    assert "| anchor | q=4 | 2 | 2.0000 | 39.00 | 0.0600 |" in markdown and "PSNR [dB] ↑" in markdown
    latex = (report / "summary.tex").read_text()
    assert r"\toprule" in latex and r"\bottomrule" in latex
    assert latex.count(r"\textbf{39.00}") == 2  # best PSNR: anchor and better reach 39 dB (zigzag ends at 38)
    assert r"\textbf{0.0600}" in latex  # best LPIPS is the lowest


def test_figures_are_written_in_three_formats(results, tmp_path, run_cli):
    report = tmp_path / "report"
    assert run_cli("report", results, "--out", report, "--preset", "hific2020") == 0
    for stem in ("overview", "rd_psnr", "rd_lpips"):
        for extension in ("png", "pdf", "svg"):
            assert (report / f"{stem}.{extension}").stat().st_size > 1000
    with Image.open(report / "overview.png") as image:
        assert image.info["dpi"][0] == pytest.approx(300, abs=1)


def test_imported_curves_are_overlaid_and_labelled(results, tmp_path, run_cli):
    import json

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
