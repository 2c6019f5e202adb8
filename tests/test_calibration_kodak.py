"""Calibration against CompressAI's published Kodak tables (the catalogue of published results,
rdpbench.published: ``compressai:kodak/jpeg``, ``webp``, ``bpg_444_x265_ycbcr``; the tolerances are
stated in benchmark/docs/published.md).

Runs where the Kodak images are available (the `kodak_dir` fixture: ``RDPBENCH_KODAK_DIR`` or
`rdpbench datasets fetch kodak`, checked against the manifest's published hashes); skips elsewhere. Tolerances per codec:
- WebP: libwebp's output has not changed since the tables were made: bpp, PSNR and MS-SSIM agree
  to float precision (MS-SSIM to 1e-5: pytorch_msssim versions differ in float rounding).
- JPEG: the tables used Pillow 7.1.2's libjpeg-turbo; newer libjpeg-turbo encodes a few bytes
  differently (bpp within 0.3%) and decodes differently (PSNR up to 0.12 dB, MS-SSIM up to 0.004 higher,
  largest at mid qualities). On identical libraries our numbers equal CompressAI's own `bench jpeg`
  to 1e-7 (tests/test_codecs.py::test_jpeg_matches_compressai_bench_on_identical_libraries).
- BPG (where bpgenc and bpgdec are installed): bpgenc 0.9.8 as the table's, with whatever x265 it was
  built with: bpp within 2%, PSNR within 0.2 dB, MS-SSIM within 0.005.
"""

import shutil

import pandas as pd
import pytest

from rdpbench.published import curve

# codec: (published curve, knob, the settings checked, (bpp relative, PSNR dB, MS-SSIM absolute))
CASES = {
    "webp": ("compressai:kodak/webp", "quality", [5, 25, 50, 75, 95], (1e-9, 1e-6, 1e-5)),
    "jpeg": ("compressai:kodak/jpeg", "quality", [5, 25, 50, 75, 95], (4e-3, 0.15, 5e-3)),
    "bpg": ("compressai:kodak/bpg_444_x265_ycbcr", "qp", [47, 32, 17], (2e-2, 0.2, 5e-3)),
}


@pytest.mark.parametrize("codec", list(CASES))
def test_kodak_sweep_reproduces_the_published_compressai_table(codec, tmp_path, run_cli, kodak_dir):
    name, knob, values, (bpp_tol, psnr_tol, ms_ssim_tol) = CASES[codec]
    if codec == "bpg" and not (shutil.which("bpgenc") and shutil.which("bpgdec")):
        pytest.skip("bpgenc/bpgdec not installed")
    published = curve(name)
    out = tmp_path / "out"
    assert run_cli("run", "--images", kodak_dir, "--codec", codec, "--sweep", f"{knob}={','.join(map(str, values))}",
                   "--out", out, "--jobs", "2") == 0
    summary = pd.read_csv(out / "summary.csv").set_index("setting")
    for value in values:
        index = published.settings[knob].index(value)
        row = summary.loc[f"{knob}={value}"]
        assert row["n_images"] == 24 and row["n_failed"] == 0
        assert row["bpp"] == pytest.approx(published.points["bpp"][index], rel=bpp_tol), value
        assert row["psnr"] == pytest.approx(published.points["psnr"][index], abs=psnr_tol), value
        assert row["ms_ssim"] == pytest.approx(published.points["ms_ssim"][index], abs=ms_ssim_tol), value
