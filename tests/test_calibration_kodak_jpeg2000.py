"""JPEG 2000 against CompressAI's published Kodak table (``compressai:kodak/jpeg2000`` of rdpbench.published).

The table was made with ffmpeg's libopenjpeg wrapper (`-pix_fmt yuv444p -compression_level N`):
8-bit limited-range YCbCr coded with OpenJPEG's reversible 5/3 wavelet and no colour transform
inside the codec (the COD marker of ffmpeg's codestream says so). ffmpeg 5.1 with OpenJPEG 2.5
reproduces that table to 1e-7 dB on Kodak (at N = 10, 20, 40, 80), so the differences below are the
coding choices, not library drift. Compared at equal bpp (the published
curve interpolated linearly in log-rate at our bpp), measured with Pillow 13 / OpenJPEG 2.5:

- defaults (9/7 wavelet, colour transform on): PSNR +0.76 dB at 0.3 bpp, +0.99 at 0.6, +1.46 at 1.2;
  MS-SSIM +0.006 to +0.009. Band checked: PSNR +0.5..+1.7 dB, MS-SSIM 0..+0.015. The colour
  transform off (the old default) lands 3-4 dB *below* the table and fails this band.
- ``wavelet=5-3`` (the table's wavelet; colour transform on, full range): PSNR +0.34 dB at 0.3 bpp,
  +0.45 at 0.6, +0.64 at 1.2; MS-SSIM +0.003; the rest is ffmpeg's limited-range 8-bit YCbCr and its
  wrapper's settings. Band checked: PSNR 0..+0.8 dB, MS-SSIM 0..+0.005.
- bpp is set by the ratio (bpp = 24 / ratio): within 0.3 % of the target.

The Kodak images come from the `kodak_dir` fixture (tests/conftest.py: RDPBENCH_KODAK_DIR or the
dataset cache, verified against the published hashes); without them the test is skipped.
"""

import numpy as np
import pandas as pd
import pytest

from rdpbench.published import curve

RATIOS = [20, 40, 80]  # 1.2, 0.6, 0.3 bpp
BANDS = {  # option: (PSNR dB low, high), (MS-SSIM low, high), differences ours - published at equal bpp
    "": ((0.5, 1.7), (0.0, 0.015)),
    "wavelet=5-3": ((0.0, 0.8), (0.0, 0.005)),
}


def published_at(bpp: float, column: str) -> float:
    table = curve("compressai:kodak/jpeg2000").points  # points by falling rate
    rates, values = np.log10(table["bpp"][::-1]), np.array(table[column][::-1])
    assert rates[0] <= np.log10(bpp) <= rates[-1]
    return float(np.interp(np.log10(bpp), rates, values))


@pytest.mark.parametrize("option", list(BANDS))
def test_jpeg2000_on_kodak_against_the_published_compressai_table(option, kodak_dir, tmp_path, run_cli):
    out = tmp_path / "out"
    extra = ["--option", option] if option else []
    assert run_cli("run", "--images", kodak_dir, "--codec", "jpeg2000", "--sweep",
                   f"ratio={','.join(map(str, RATIOS))}", *extra, "--out", out, "--jobs", "2") == 0
    summary = pd.read_csv(out / "summary.csv").set_index("setting")
    (psnr_low, psnr_high), (ms_low, ms_high) = BANDS[option]
    for ratio in RATIOS:
        row = summary.loc[f"ratio={ratio}"]
        assert row["n_images"] == 24 and row["n_failed"] == 0
        assert row["bpp"] == pytest.approx(24 / ratio, rel=3e-3)
        assert psnr_low <= row["psnr"] - published_at(row["bpp"], "psnr") <= psnr_high, (ratio, row["psnr"])
        assert ms_low <= row["ms_ssim"] - published_at(row["bpp"], "ms_ssim") <= ms_high, (ratio, row["ms_ssim"])
