"""The numeric core against hand computations: the rate, PSNR's formula, the patch grid, the bpp
search, the summary means and exports, and BD-rates on curves whose answer is known in closed form.
Fast unit tests (no CLI runs): `make mutation` runs them against every mutant of these modules."""

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rdpbench import export
from rdpbench.matching import MatchTarget, reference_bpp, search, setting_text
from metadata import declared_columns, record_metrics
from rdpbench.tasks import MetricValue
from rdpbench.context import RunContext
from rdpbench.features.patches import extract_patches, patch_origins
from rdpbench.metrics.registry import create_metric
from rdpbench.rate import bits_per_pixel
from rdpbench.report.bd import bd_rates, matched_bitrates
from rdpbench.report.data import ReportData
from rdpbench.store import ResultsStore
from rdpbench.tasks import Task, TaskResult

rng = np.random.default_rng(12)


# -- rate ------------------------------------------------------------------------------------------
def test_bits_per_pixel_counts_every_byte_over_height_times_width():
    assert bits_per_pixel(1000, 40, 50) == 4.0
    assert bits_per_pixel(3, 2, 3) == 4.0  # 24 bits over 6 pixels
    assert bits_per_pixel(1, 1, 3) == pytest.approx(8 / 3, abs=1e-15)  # true division, no rounding


def test_a_run_row_has_the_bpp_of_the_libraries_own_stream(tmp_path):
    """The row's bpp is 8 * len(Pillow's PNG bytes of the same image) / (H * W), for a non-square image."""
    from rdpbench.worker import WorkerState, execute_task

    image = rng.integers(0, 256, (30, 70, 3), dtype=np.uint8)
    path = tmp_path / "i.png"
    Image.fromarray(image).save(path)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=6)
    task = Task("png", "png", "compress_level=6", (("compress_level", 6),), "i.png", str(path), ())
    result = execute_task(task, WorkerState(RunContext()))
    assert result.bytes == len(buffer.getvalue())
    assert result.bpp == 8 * len(buffer.getvalue()) / (30 * 70)


# -- PSNR ------------------------------------------------------------------------------------------
def test_psnr_by_hand_including_the_uint8_extremes():
    psnr = create_metric("psnr", RunContext())
    black, white = np.zeros((4, 6, 3), np.uint8), np.full((4, 6, 3), 255, np.uint8)
    assert psnr.compute(black, white).value == 0.0  # MSE 255^2 (no uint8 wrap-around)
    assert psnr.compute(white, black).value == 0.0
    one_off = black.copy()
    one_off[0, 0, 0] = 12  # MSE = 144 / 72 = 2
    assert psnr.compute(black, one_off).value == pytest.approx(10 * math.log10(255**2 / 2), abs=1e-12)


def test_metric_descriptions_state_the_conventions():
    from importlib.metadata import version

    assert create_metric("psnr", RunContext()).describe() == "RGB, 10*log10(255^2/MSE) per image, mean over images"
    assert create_metric("ms_ssim", RunContext()).describe() == (
        f"pytorch_msssim {version('pytorch_msssim')}, RGB, data_range 255, win 11, sigma 1.5")


# -- FID and KID (values: test_distribution_reference.py) ----------------------------------------
def test_fid_and_kid_are_silent_and_use_the_hific_patch_protocol(capfd):
    """Runs print their own progress: torch-fidelity's verbose output stays off."""
    from rdpbench.tasks import FeatureSpec

    reference, reconstruction = rng.normal(0, 1, (50, 16)), rng.normal(0.2, 1, (50, 16))
    create_metric("fid", RunContext()).compute(reference, reconstruction)
    create_metric("kid", RunContext()).compute(reference, reconstruction)
    assert capfd.readouterr() == ("", "")
    for name in ("fid", "kid"):
        assert create_metric(name, RunContext()).feature_spec() == FeatureSpec("inception-v3-compat", 2048, 256, 128)
        options = RunContext(options={name: {"patch_size": "128", "patch_shift": "64"}})
        assert create_metric(name, options).feature_spec() == FeatureSpec("inception-v3-compat", 2048, 128, 64)


# -- patches ---------------------------------------------------------------------------------------
def test_patch_origins_are_the_grid_then_the_shifted_grid():
    assert patch_origins(512, 768) == [(0, 0), (0, 256), (0, 512), (256, 0), (256, 256), (256, 512),
                                       (128, 128), (128, 384)]
    assert patch_origins(10, 9, size=4, shift=2) == [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (6, 2)]
    assert patch_origins(10, 9, size=4, shift=0) == [(0, 0), (0, 4), (4, 0), (4, 4)]
    assert patch_origins(6, 6, size=4, shift=2) == [(0, 0), (2, 2)]  # exactly size + shift: shifted grid too
    assert patch_origins(5, 6, size=4, shift=2) == [(0, 0)]  # one side under size + shift: no shifted grid
    assert patch_origins(6, 5, size=4, shift=2) == [(0, 0)]
    assert patch_origins(3, 9, size=4, shift=2) == []
    assert patch_origins(4, 7, size=4, shift=2) == [(0, 0)]  # 3 px left over on the right: no partial patch
    assert patch_origins(9, 6, size=4, shift=2) == [(0, 0), (4, 0), (2, 2)]  # shifted grid: 3 px left below


def test_default_patches_are_256_px_with_a_128_px_shift():
    image = rng.integers(0, 256, (384, 640, 3), dtype=np.uint8)
    patches = extract_patches(image)
    assert patches.shape == (4, 3, 256, 256)  # grid (0, 0), (0, 256); shifted (128, 128), (128, 384)
    np.testing.assert_array_equal(patches[3], image[128:384, 384:640].transpose(2, 0, 1))


def test_extracted_patches_are_the_pixels_at_those_origins_channels_first():
    image = rng.integers(0, 256, (10, 9, 3), dtype=np.uint8)
    patches = extract_patches(image, size=4, shift=2)
    expected = [image[y:y + 4, x:x + 4] for y, x in [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (6, 2)]]
    assert patches.dtype == np.uint8 and patches.shape == (6, 3, 4, 4)
    np.testing.assert_array_equal(patches, np.stack([np.moveaxis(p, 2, 0) for p in expected]))


# -- matching --------------------------------------------------------------------------------------
def _counting(function):
    calls = []

    def rate(value):
        calls.append(value)
        return function(value)

    return rate, calls


@pytest.mark.parametrize("target, side, expected", [(3.04, "above", 31), (3.04, "below", 30), (3.04, "closest", 30),
                                                    (3.06, "closest", 31)])
def test_int_search_lands_on_the_neighbours_of_the_target(target, side, expected):
    rate, calls = _counting(lambda q: q / 10)  # bpp rises with the knob: 3.04 lies between q=30 and q=31
    assert search(MatchTarget("quality", "int", 1, 100, target, side), rate) == expected
    assert len(calls) == len(set(calls)) <= 2 + 7  # both ends, then bisection of 99 steps; each value once


def test_int_search_with_a_falling_rate_and_an_exact_hit():
    assert search(MatchTarget("q", "int", 1, 64, 8.0, "above"), lambda q: 64 / q) == 8
    assert search(MatchTarget("q", "int", 1, 64, 8.0, "below"), lambda q: 64 / q) == 8
    assert search(MatchTarget("q", "int", 1, 64, 7.0, "above"), lambda q: 64 / q) == 9  # 7.11 >= 7
    assert search(MatchTarget("q", "int", 1, 64, 7.0, "below"), lambda q: 64 / q) == 10  # 6.4 <= 7
    assert search(MatchTarget("q", "int", 1, 64, 7.0, "closest"), lambda q: 64 / q) == 9  # |0.11| < |0.6|


def test_float_search_meets_the_target_from_the_requested_side():
    """JPEG 2000's ratio: bpp = 24 / ratio falls as the knob rises; bpp 0.7 needs ratio 34.2857...;
    30 halvings of [1, 10000] leave an interval of 10000 / 2**30."""
    rate, calls = _counting(lambda r: 24 / r)
    above = search(MatchTarget("ratio", "float", 1.0, 10000.0, 0.7, "above"), rate)
    below = search(MatchTarget("ratio", "float", 1.0, 10000.0, 0.7, "below"), lambda r: 24 / r)
    assert 24 / above >= 0.7 >= 24 / below
    assert above == pytest.approx(24 / 0.7, abs=10000 / 2**29) and below == pytest.approx(24 / 0.7, abs=10000 / 2**29)
    assert 0 < below - above <= 9999 / 2**30 * 1.0001
    assert isinstance(above, float) and len(calls) == 2 + 30


@pytest.mark.parametrize("side", ["above", "below", "closest"])
def test_out_of_range_targets_give_the_nearest_end(side):
    assert search(MatchTarget("q", "int", 1, 100, 50.0, side), lambda q: q / 10) == 100  # the most it can spend
    assert search(MatchTarget("q", "int", 1, 100, 0.01, side), lambda q: q / 10) == 1  # the least it can spend
    assert search(MatchTarget("q", "int", 1, 100, 0.01, side), lambda q: 10 / q) == 100
    assert search(MatchTarget("q", "int", 1, 100, 0.1, side), lambda q: q / 10) == 1  # the cheap end hits exactly


def test_a_flat_rate_counts_as_rising_and_gives_the_low_end():
    assert search(MatchTarget("q", "int", 1, 100, 0.5, "above"), lambda q: 1.0) == 1
    assert search(MatchTarget("q", "int", 1, 100, 2.0, "below"), lambda q: 1.0) == 100


def test_reference_bpp_keeps_only_successful_finite_rows_and_the_setting_text():
    rows = [("a", 1.5, None), ("b", None, None), ("c", 2.0, "codec: boom"), ("d", math.nan, None),
            ("e", math.inf, None), ("f", 0.25, None)]
    assert reference_bpp(rows) == {"a": 1.5, "f": 0.25}
    assert setting_text("hific:checkpoint=x", "above") == "bpp>=hific:checkpoint=x"
    assert setting_text("jpeg:quality=5", "below") == "bpp<=jpeg:quality=5"
    assert setting_text("jpeg:quality=5", "closest") == "bpp~jpeg:quality=5"


# -- summaries and exports -------------------------------------------------------------------------
def _row(store, codec, setting, image, bpp, metrics, error="", size=(10, 20)):
    task = Task(codec, codec, setting, (), image, image, tuple(metrics))
    nbytes = None if bpp is None else int(round(bpp * size[0] * size[1] / 8))
    store.write_result(TaskResult(task, size[1], size[0], nbytes, bpp, 0.5, 0.25,
                                  {name: MetricValue(value) for name, value in metrics.items()}, error=error), 1)


@pytest.fixture
def store(tmp_path):
    with ResultsStore(tmp_path / "out") as opened:
        opened.record_codec(1, "jpeg", "jpeg", {}, "JPEG via Pillow", "Pillow 1")
        record_metrics(opened, 1, "psnr", "ms_ssim", "fid", "kid", "niqe")
        _row(opened, "jpeg", "quality=10", "b.png", 0.4, {"psnr": 30.0, "ms_ssim": 0.9})
        _row(opened, "jpeg", "quality=10", "a.png", 0.8, {"psnr": 34.0, "ms_ssim": math.nan})
        _row(opened, "jpeg", "quality=10", "c.png", None, {}, error="codec: boom")
        _row(opened, "jpeg", "quality=5", "a.png", 0.2, {"psnr": 25.0, "ms_ssim": 0.7})
        _row(opened, "jpeg", "quality=5", "b.png", 0.1, {"psnr": math.inf, "ms_ssim": 0.8})
        _row(opened, "png", "compress_level=6", "a.png", 12.0, {"psnr": math.inf})
        opened.write_distribution("jpeg", "quality=10", "fid", {"fid": 12.5}, 40, 2, "inception/patch256", "")
        opened.write_distribution("jpeg", "quality=10", "kid", {"kid": 0.25, "kid_std": 0.0625}, 40, 2,
                                  "inception/patch256", "small sample")
        opened.write_original_values("niqe", {"a.png": 3.5, "b.png": 4.5})
        yield opened


def test_per_image_rows_are_sorted_numerically_with_nans_and_errors(store):
    rows = export.per_image(store)  # niqe was requested but no reconstruction has a value: an empty column
    assert list(rows.columns) == [*export.ROW_COLUMNS, "psnr", "ms_ssim", "niqe", "error"]
    assert rows["niqe"].isna().all()
    assert list(zip(rows.codec, rows.setting, rows.image)) == [
        ("jpeg", "quality=5", "a.png"), ("jpeg", "quality=5", "b.png"), ("jpeg", "quality=10", "a.png"),
        ("jpeg", "quality=10", "b.png"), ("jpeg", "quality=10", "c.png"), ("png", "compress_level=6", "a.png")]
    assert rows.loc[3, "bpp"] == 0.4 and rows.loc[3, "bytes"] == 10 and rows.loc[3, "width"] == 20
    assert rows.loc[3, "height"] == 10 and rows.loc[3, "encode_s"] == 0.5 and rows.loc[3, "decode_s"] == 0.25
    assert math.isnan(rows.loc[2, "ms_ssim"]) and rows.loc[1, "psnr"] == math.inf
    assert rows.loc[4, "error"] == "codec: boom" and math.isnan(rows.loc[4, "bpp"]) and rows.loc[0, "error"] == ""
    assert rows["bpp"].dtype == float and rows["psnr"].dtype == float


def test_setting_order_is_numeric_per_knob_then_text():
    settings = ["q=10,m=2", "q=9,m=3", "q=9,m=10", "mode=b", "mode=a", "q=100"]
    assert sorted(settings, key=export._setting_sort_key) == ["q=9,m=3", "q=9,m=10", "q=10,m=2", "q=100",
                                                             "mode=a", "mode=b"]


def test_metric_columns_follow_the_registry_order_then_columns_without_metadata_by_name(tmp_path):
    """Recorded in any order, built-in metrics come in the registry's order (psnr, ms_ssim, lpips,
    dists, niqe); columns no metric declared (matched_quality of --match-bpp) follow alphabetically."""
    with ResultsStore(tmp_path / "order") as order:
        record_metrics(order, 1, "niqe", "dists", "lpips", "ms_ssim", "psnr")
        _row(order, "jpeg", "q=1", "a.png", 0.2, dict.fromkeys(["zeta", "niqe", "dists", "alpha", "lpips",
                                                                 "ms_ssim", "psnr"], 1.0))
        columns = list(export.per_image(order).columns)
    assert columns[len(export.ROW_COLUMNS):-1] == ["psnr", "ms_ssim", "lpips", "dists", "niqe", "alpha", "zeta"]


def test_a_setting_value_with_an_equals_sign_is_text():
    assert sorted(["f=x=9", "f=x=10"], key=export._setting_sort_key) == ["f=x=10", "f=x=9"]  # value "x=9" is text


def test_summary_means_over_the_images_where_a_value_exists(store):
    table = export.summary(export.per_image(store)).set_index("setting")
    assert list(table.columns) == ["codec", "n_images", "n_failed", "bpp", "psnr", "ms_ssim", "niqe", "encode_s",
                                   "decode_s", "n_bpp", "n_psnr", "n_ms_ssim", "n_niqe"]
    assert table["niqe"].isna().all() and (table["n_niqe"] == 0).all()  # requested, never computed: kept, n=0
    q10 = table.loc["quality=10"]
    assert (q10.n_images, q10.n_failed) == (3, 1)
    assert (q10.n_bpp, q10.n_psnr, q10.n_ms_ssim) == (2, 2, 1)  # each mean's own count: failed and NaN left out
    assert q10.bpp == pytest.approx((0.4 + 0.8) / 2)  # the failed image has no bpp
    assert q10.psnr == pytest.approx(32.0)  # mean of per-image PSNR, not PSNR of the mean MSE
    assert q10.ms_ssim == pytest.approx(0.9)  # NaN (image too small) left out
    assert q10.encode_s == 0.5 and q10.decode_s == 0.25
    assert table.loc["quality=5", "psnr"] == math.inf  # a lossless image makes the mean infinite, as stated
    assert table.loc["quality=5", "n_failed"] == 0 and table.loc["quality=5", "ms_ssim"] == pytest.approx(0.75)
    assert math.isnan(table.loc["compress_level=6", "ms_ssim"]) and table.loc["compress_level=6", "n_ms_ssim"] == 0


def test_distribution_and_originals_tables(store):
    table = export.distribution(store).set_index("setting")
    assert list(table.columns) == ["codec", "fid", "kid", "kid_std", "n_patches", "n_feature_images", "patch_protocol",
                                   "distribution_note", "n_fid", "n_kid", "n_kid_std"]
    row = table.loc["quality=10"]
    assert (row.fid, row.kid, row.kid_std, row.n_patches) == (12.5, 0.25, 0.0625, 40)
    assert row.patch_protocol == "inception/patch256" and row.distribution_note == "small sample"
    assert (row.n_fid, row.n_kid) == (40, 40)  # a distribution value's n counts its patches
    originals = export.originals(store).set_index("image")
    assert originals.loc["a.png", "niqe"] == 3.5 and originals.loc["b.png", "niqe"] == 4.5


def test_compressai_json_and_every_written_file(store):
    assert export.write_all(store) == ["per_image.csv", "summary.csv", "originals.csv", "compressai/*.json"]
    out = store.folder
    document = json.loads((out / "compressai" / "jpeg.json").read_text())
    assert document["name"] == "jpeg" and document["description"] == "JPEG via Pillow (Pillow 1)"
    assert document["settings"] == ["quality=5", "quality=10"]
    results = document["results"]
    assert results["bpp"] == pytest.approx([0.15, 0.6]) and results["psnr-rgb"][1] == pytest.approx(32.0)
    assert results["ms-ssim-rgb"] == pytest.approx([0.75, 0.9]) and results["fid"] == [None, 12.5]
    assert results["encoding_time"] == [0.5, 0.5] and results["decoding_time"] == [0.25, 0.25]
    assert "n_images" not in results and "n_patches" not in results and "n_failed" not in results
    png = json.loads((out / "compressai" / "png.json").read_text())
    assert png["results"]["bpp"] == [12.0] and png["description"] == ""
    summary = pd.read_csv(out / "summary.csv").set_index("setting")
    assert summary.loc["quality=10", "kid_std"] == 0.0625 and summary.loc["quality=10", "bpp"] == pytest.approx(0.6)
    assert pd.read_csv(out / "per_image.csv").shape == (6, 13)
    assert pd.read_csv(out / "originals.csv").set_index("image").loc["b.png", "niqe"] == 4.5
    assert not list(out.glob("*.tmp"))


def test_a_store_without_distribution_or_originals_writes_neither(tmp_path):
    with ResultsStore(tmp_path / "plain") as plain:
        record_metrics(plain, 1, "psnr")
        _row(plain, "jpeg", "quality=5", "a.png", 0.2, {"psnr": 25.0})
        assert export.distribution(plain).empty and export.originals(plain).empty
        assert list(export.distribution(plain).columns) == ["codec", "setting"]
        assert export.write_all(plain) == ["per_image.csv", "summary.csv", "compressai/*.json"]
        assert "fid" not in pd.read_csv(plain.folder / "summary.csv").columns


# -- BD-rate and matched bitrates on curves with closed-form answers --------------------------------
# On a curve where log10(bpp) is linear in the metric, shifting the metric by d at equal rates
# saves a constant factor 10**(-slope * d) of the rate: BD-rate = 10**(-slope * d) - 1 for any
# interpolation that reproduces straight lines (akima, pchip), and BD-metric = d.
LOG_RATES = np.log10([0.125, 0.25, 0.5, 1.0, 2.0])


def _data(curves: dict, imported=()) -> ReportData:
    rows = [{"codec": codec, "setting": f"q={i}", "bpp": bpp, **{m: v[i] for m, v in metrics.items()}}
            for codec, (rates, metrics) in curves.items() for i, bpp in enumerate(rates)]
    summary = pd.DataFrame(rows)
    metrics = [m for m in ("psnr", "lpips") if m in summary]
    return ReportData(summary, pd.DataFrame(), pd.DataFrame(), metrics, declared_columns("psnr", "lpips"),
                      set(imported), None)


def _curves():
    rates = list(10 ** LOG_RATES)
    psnr = 30 + 10 * (LOG_RATES - LOG_RATES[0])        # slope: log10 rate rises 0.1 per dB
    lpips = 0.4 - 0.25 * (LOG_RATES - LOG_RATES[0])    # log10 rate rises 4 per LPIPS unit lost
    return {"anchor": (rates, {"psnr": psnr, "lpips": lpips}),
            "shifted": (rates, {"psnr": psnr + 1.5, "lpips": lpips - 0.02}),
            "cheaper": ([0.8 * r for r in rates], {"psnr": psnr, "lpips": lpips}),
            "four": ([0.8 * r for r in rates[1:]], {"psnr": psnr[1:], "lpips": lpips[1:]})}  # fewer points


@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_bd_rate_of_a_shifted_straight_log_curve_is_known(method):
    table = bd_rates(_data(_curves()), "anchor", method=method).set_index(["codec", "metric"])
    assert table.loc[("shifted", "psnr"), "bd_rate_percent"] == pytest.approx(100 * (10**-0.15 - 1), abs=1e-9)
    assert table.loc[("shifted", "lpips"), "bd_rate_percent"] == pytest.approx(100 * (10**(-4 * 0.02) - 1), abs=1e-9)
    assert table.loc[("shifted", "psnr"), "bd_metric"] == pytest.approx(1.5, abs=1e-9)
    assert table.loc[("cheaper", "psnr"), "bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
    assert table.loc[("cheaper", "lpips"), "bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
    assert table.loc[("cheaper", "psnr"), "bd_metric"] == pytest.approx(10 * -math.log10(0.8), abs=1e-9)
    assert abs(table.loc[("shifted", "lpips"), "bd_metric"]) == pytest.approx(0.02, abs=1e-9)  # LPIPS units
    assert table.loc[("four", "psnr"), "bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
    assert table.loc[("four", "lpips"), "bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
    assert table.loc[("shifted", "psnr"), "interpolation"] == f"bjontegaard {method}, log10 rate"
    assert table.loc[("shifted", "lpips"), "interpolation"].endswith(", on -lpips")  # falling metric negated
    assert ("anchor", "psnr") not in table.index
    assert (table["anchor"] == "anchor").all()
    assert (table["note"] == "no interval: no per-image values").all()  # summary curves only: no n/a


def test_swapping_anchor_and_test_inverts_the_rate_ratio():
    table = bd_rates(_data(_curves()), "cheaper").set_index(["codec", "metric"])
    assert table.loc[("anchor", "psnr"), "bd_rate_percent"] == pytest.approx(25.0, abs=1e-9)  # 1 / 0.8 - 1


@pytest.mark.parametrize("rates, values, reason", [
    ([0.1, 0.2], [30.0, 31.0], "fewer than 3 points"),
    ([0.1], [30.0], "fewer than 3 points"),
    ([0.1, 0.2, 0.4], [31.0, 30.0, 30.0], "psnr is not strictly monotonic in rate"),
    ([0.1, 0.2, 0.4], [30.0, 29.0, 31.0], "psnr is not strictly monotonic in rate"),
    ([0.1, 0.2, 0.4], [30.0, 30.0, 31.0], "psnr is not strictly monotonic in rate"),
    ([0.1, 0.1, 0.4], [30.0, 31.0, 32.0], "psnr is not strictly monotonic in rate"),
    ([0.0, 0.2, 0.4], [30.0, 31.0, 32.0], "infinite values or zero rate"),
    ([0.1, 0.2, 0.4], [30.0, 31.0, math.inf], "infinite values or zero rate"),
])
def test_curves_that_are_not_rate_quality_curves_get_no_bd_rate(rates, values, reason):
    rates_ok = list(10 ** LOG_RATES)
    curves = {"anchor": (rates_ok, {"psnr": 30 + 10 * (LOG_RATES - LOG_RATES[0])}),
              "odd": (rates, {"psnr": np.array(values)})}
    row = bd_rates(_data(curves), "anchor").iloc[0]
    assert math.isnan(row.bd_rate_percent) and math.isnan(row.bd_metric)
    assert row.note == f"n/a: odd: {reason}"
    flipped = bd_rates(_data(curves), "odd").iloc[0]
    assert flipped.note == f"n/a: anchor: {reason}"


def test_curves_that_do_not_overlap_get_no_bd_rate():
    rates = list(10 ** LOG_RATES)
    curves = {"anchor": (rates, {"psnr": 30 + 10 * (LOG_RATES - LOG_RATES[0])}),
              "far": (rates, {"psnr": 60 + 10 * (LOG_RATES - LOG_RATES[0])})}
    row = bd_rates(_data(curves), "anchor").iloc[0]
    assert math.isnan(row.bd_rate_percent) and row.note == "n/a: the curves do not overlap"
    assert math.isnan(row.bd_metric)


def test_small_quality_steps_are_a_curve_and_a_lone_anchor_gives_an_empty_table():
    rates = list(10 ** LOG_RATES)
    curves = {"anchor": (rates, {"psnr": 30 + 0.5 * np.arange(5.0)}), "ms": (rates, {"psnr": 30.2 + 0.5 * np.arange(5.0)})}
    row = bd_rates(_data(curves), "anchor").iloc[0]
    assert row.note == "no interval: no per-image values" and row.bd_rate_percent < 0
    alone = bd_rates(_data({"anchor": curves["anchor"]}), "anchor")
    assert alone.empty and list(alone.columns) == [
        "codec", "metric", "anchor", "n_images", "bd_rate_percent", "bd_rate_ci_low", "bd_rate_ci_high",
        "bd_rate_methods_low", "bd_rate_methods_high", "bd_metric", "bd_metric_ci_low", "bd_metric_ci_high", "unit",
        "direction", "better", "significance", "interpolation", "interval", "note"]


def test_an_unknown_anchor_is_named_with_the_choices():
    with pytest.raises(ValueError, match=r"--anchor 'x' is not a codec of .*: choose one of anchor, shifted, cheaper, four"):
        bd_rates(_data(_curves()), "x")


def test_matched_bitrates_interpolate_log_rate_linearly():
    curves = {"a": ([0.25, 0.5, 1.0], {"psnr": np.array([30.0, 33.0, 36.0])}),
              "b": ([0.5, 1.0, 2.0], {"psnr": np.array([31.0, 34.0, 37.0])}),
              "paper": ([0.3, 0.6], {"psnr": np.array([29.0, 32.0])})}
    curves = {"paper": curves.pop("paper"), **curves}  # an imported curve first: the others still count
    table = matched_bitrates(_data(curves, imported=["paper"]))
    assert set(table.codec) == {"a", "b"}  # imported curves are only looked up, never looked from
    row = table[(table.codec == "b") & (table.setting == "q=0") & (table.other_codec == "a")].iloc[0]
    # 31 dB lies 1/3 of the way from 30 (0.25 bpp) to 33 (0.5 bpp) in log-rate: 0.25 * 2**(1/3)
    assert row.bpp == 0.5 and row.value == 31.0
    assert row.other_bpp == pytest.approx(0.25 * 2 ** (1 / 3), rel=1e-12)
    assert row.bpp_ratio == pytest.approx(0.25 * 2 ** (1 / 3) / 0.5, rel=1e-12) and row.note == ""
    row = table[(table.codec == "a") & (table.setting == "q=0") & (table.other_codec == "paper")].iloc[0]
    assert row.other_bpp == pytest.approx(0.3 * 2 ** (1 / 3), rel=1e-12)  # 2-point curves are fine here
    row = table[(table.codec == "b") & (table.setting == "q=2") & (table.other_codec == "a")].iloc[0]
    assert math.isnan(row.other_bpp) and math.isnan(row.bpp_ratio)
    assert row.note == "n/a: PSNR [dB] 37 outside this curve's range"


def test_matched_bitrates_read_falling_curves_and_refuse_non_monotonic_ones():
    curves = {"a": ([0.25, 0.5, 1.0], {"lpips": np.array([0.3, 0.2, 0.1])}),
              "b": ([0.25, 0.5, 1.0], {"lpips": np.array([0.25, 0.3, 0.1])})}
    table = matched_bitrates(_data(curves))
    row = table[(table.codec == "b") & (table.setting == "q=0")].iloc[0]
    assert row.other_bpp == pytest.approx(0.25 * 2**0.5, rel=1e-12)  # 0.25 is halfway from 0.3 to 0.2
    row = table[(table.codec == "a") & (table.setting == "q=0")].iloc[0]
    assert math.isnan(row.other_bpp) and row.note == "n/a: lpips is not strictly monotonic in rate"


def test_matched_bitrates_on_short_curves():
    curves = {"a": ([0.25, 0.5, 1.0], {"lpips": np.array([0.3, 0.2, 0.1])}),
              "falling2": ([0.5, 1.0], {"lpips": np.array([0.4, 0.2])}),
              "ends": ([0.5, 1.0], {"lpips": np.array([0.3, 0.2])}),
              "one": ([0.7], {"lpips": np.array([0.3])})}
    table = matched_bitrates(_data(curves))
    row = table[(table.codec == "a") & (table.setting == "q=0") & (table.other_codec == "falling2")].iloc[0]
    assert row.other_bpp == pytest.approx(0.5 * 2**0.5, rel=1e-12)  # 0.3 is halfway from 0.4 to 0.2
    for setting, expected in (("q=0", 0.5), ("q=1", 1.0)):  # both ends of a curve are inside its range
        row = table[(table.codec == "a") & (table.setting == setting) & (table.other_codec == "ends")].iloc[0]
        assert row.other_bpp == pytest.approx(expected, rel=1e-12), setting
    row = table[(table.codec == "a") & (table.setting == "q=0") & (table.other_codec == "one")].iloc[0]
    assert math.isnan(row.other_bpp) and row.note == "n/a: fewer than 2 points"  # even at its exact value
    assert list(matched_bitrates(_data({"p": curves["a"]}, imported=["p"])).columns) == [
        "codec", "setting", "bpp", "metric", "value", "other_codec", "n_images", "other_bpp", "bpp_ratio", "note"]


def test_files_are_rewritten_readable_and_named_safely(store):
    _row(store, "JPEG-XL q", "quality=5", "a.png", 0.3, {"psnr": 28.0})
    _row(store, "paper/v2", "quality=5", "a.png", 0.3, {"psnr": 28.0})
    export.write_all(store)
    export.write_all(store)  # a second run rewrites the same files
    folder = store.folder / "compressai"
    assert sorted(p.name for p in folder.iterdir()) == ["JPEG-XL_q.json", "jpeg.json", "paper_v2.json", "png.json"]
    text = (folder / "jpeg.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2)  # indented for people reading it
    for name in ("summary.csv", "per_image.csv", "originals.csv"):
        assert not pd.read_csv(store.folder / name).columns[0].startswith("Unnamed")  # no index column


def test_a_summary_of_nothing_keeps_its_columns():
    rows = pd.DataFrame(columns=[*export.ROW_COLUMNS, "psnr", "error"])
    assert list(export.summary(rows).columns) == ["codec", "setting", "n_images", "n_failed", "bpp", "psnr",
                                                  "encode_s", "decode_s", "n_bpp", "n_psnr"]


def test_all_nan_metrics_settings_and_images_keep_their_place(tmp_path):
    """A metric undefined everywhere (MS-SSIM on tiny images), a setting whose KID is undefined and an
    original without NIQE stay in the tables as NaN; known metrics keep their fixed order."""
    with ResultsStore(tmp_path / "nan") as nan_store:
        record_metrics(nan_store, 1, "lpips", "kid", "ms_ssim", "psnr", "niqe")
        _row(nan_store, "jpeg", "quality=5", "a.png", 0.2, {"lpips": 0.25, "ms_ssim": math.nan, "psnr": 25.0})
        nan_store.write_distribution("jpeg", "quality=5", "kid", {"kid": math.nan, "kid_std": math.nan}, 1, 1, "s", "")
        nan_store.write_distribution("jpeg", "quality=9", "kid", {"kid": 0.5, "kid_std": 0.1}, 1, 1, "s", "")
        nan_store.write_original_values("niqe", {"a.png": math.nan, "b.png": 4.0})
        rows = export.per_image(nan_store)
        assert list(rows.columns) == [*export.ROW_COLUMNS, "psnr", "ms_ssim", "lpips", "niqe", "error"]
        assert math.isnan(rows.loc[0, "ms_ssim"]) and rows.loc[0, "lpips"] == 0.25
        table = export.distribution(nan_store).set_index("setting")
        assert math.isnan(table.loc["quality=5", "kid"]) and table.loc["quality=9", "kid"] == 0.5
        assert table.loc["quality=5", "distribution_note"] == ""
        originals = export.originals(nan_store).set_index("image")
        assert math.isnan(originals.loc["a.png", "niqe"]) and originals.loc["b.png", "niqe"] == 4.0
