"""Coverage and uncertainty in `rdpbench report`: every value carries its n, comparisons use the images
both codecs have, and the intervals (bootstrap BD-rates, distribution metrics, paired per-image tests)
agree with independent computations written here and cover the truth about 95% of the time."""

from __future__ import annotations

import math

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
