"""Published curves by name: the catalogue holds the sources' numbers (values typed here from the
files at the commits the catalogue names), `rdpbench published` lists them, and `rdpbench report
--import NAME` and the API overlay them."""

from __future__ import annotations

import pandas as pd
import pytest

import rdpbench
from rdpbench.published import PublishedError, curve


def test_the_catalogue_holds_the_published_numbers():
    bpg = curve("compressai:kodak/bpg_444_x265_ycbcr")  # results/image/kodak/bpg_444_x265_ycbcr.json
    assert bpg.points["psnr"][0] == 26.19512806390954 and bpg.points["bpp"][0] == 0.06776767306857638
    assert bpg.settings["qp"] == [47, 42, 37, 32, 27, 22, 17, 12] and bpg.dataset == "kodak"
    hific = curve("hific:clic2020")  # models/hific/data.csv, row 0
    assert hific.points["bpp"][0] == 0.12902283 and hific.points["fid"][0] == 4.19736528
    assert hific.points["kid"] == [0.00108268, 0.00053555, 0.00035608] and hific.dataset == "clic2020-test"
    assert "fid" not in curve("hific:kodak").points  # the source has no FID on Kodak
    illm = curve("ms-illm:kodak/no-gan")  # projects/illm/results.csv
    assert len(illm.points["bpp"]) == 8 and "dists" in illm.points
    assert curve("ms-illm:clic2020").points["psnr"][0] == 27.88009452819824
    for name in ("compressai:kodak/jpeg", "hific:div2k", "ms-illm:div2k"):
        entry = curve(name)
        assert entry.citation and entry.url.startswith("https://github.com/") and entry.conventions
    with pytest.raises(PublishedError, match="did you mean compressai:kodak/jpeg"):
        curve("compressai:kodak/jpg")


def test_published_lists_and_report_imports_by_name(run_cli, capsys, photo_dir, tmp_path):
    assert run_cli("published") == 0
    listing = capsys.readouterr().out
    for name in ("compressai:kodak/bpg_444_x265_ycbcr", "compressai:kodak/vtm", "hific:clic2020", "ms-illm:kodak"):
        assert name in listing
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=20,50,80",
                   "--metrics", "psnr", "--out", out) == 0
    assert run_cli("report", out, "--import", "compressai:kodak/webp", "--anchor", "jpeg", "--out", tmp_path / "r") == 0
    table = pd.read_csv(tmp_path / "r" / "summary.csv")
    imported = table[table["codec"] == "WebP (CompressAI, kodak) (imported)"]
    assert list(imported["bpp"]) == curve("compressai:kodak/webp").points["bpp"]
    assert run_cli("report", out, "--import", "compressai:kodak/nothing") == 2


def test_the_api_overlays_published_curves_by_name(photo_dir):
    results = rdpbench.evaluate("jpeg", photo_dir, sweep={"quality": [20, 50, 80]}, metrics=["psnr"])
    bd = results.bd_rate(anchor="jpeg", published=["compressai:kodak/webp"])
    assert list(bd["codec"].unique()) == ["WebP (CompressAI, kodak) (imported)"]
    figure = results.plot(published=["compressai:kodak/webp"])
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert any("WebP (CompressAI, kodak)" in label for label in labels)
