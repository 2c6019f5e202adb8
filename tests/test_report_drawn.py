"""What `rdpbench report` actually draws, read back from matplotlib's figures as they are saved:
each codec's line through its (mean bpp, mean metric) points with bpp on the x axis, the axis
labels, the legend entries, and imported curves drawn with their published points."""

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from test_report import CURVES, results  # noqa: F401  (the synthetic store fixture)

PAPER = {"bpp": [0.3, 0.6, 1.2], "psnr-rgb": [31.0, 34.0, 37.0]}


@pytest.fixture
def drawn(results, tmp_path, run_cli, monkeypatch):  # noqa: F811
    """{figure stem: Figure} of one report run with an imported curve (the figures are recorded
    instead of written: test_report.py checks the files)."""
    figures = {}

    def recording(self, path, *args, **kwargs):
        figures[Path(path).stem] = self

    monkeypatch.setattr(Figure, "savefig", recording)
    imported = tmp_path / "paper.json"
    imported.write_text(json.dumps({"name": "Paper", "results": PAPER}))
    assert run_cli("report", results, "--anchor", "anchor", "--out", tmp_path / "report", "--import", imported) == 0
    return figures


def _lines(axis):
    """{legend label: (x, y)} of the data lines (reference lines such as "Original" have 2 points at x 0..1)."""
    return {line.get_label(): (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
            for line in axis.get_lines() if not line.get_label().startswith("_")}


def _line_of(lines, codec):
    matches = [label for label in lines if label == codec or label.startswith(codec + " ")]
    assert len(matches) == 1, (codec, list(lines))
    return lines[matches[0]]


@pytest.mark.parametrize("metric, label", [("psnr", "PSNR"), ("lpips", "LPIPS")])
def test_each_codec_is_drawn_through_its_mean_points_with_bpp_on_x(drawn, metric, label):
    axis = drawn[f"rd_{metric}"].axes[0]
    assert "bpp" in axis.get_xlabel() and label in axis.get_ylabel()  # axes not swapped
    lines = _lines(axis)
    for codec, curve in CURVES.items():
        x, y = _line_of(lines, codec)
        np.testing.assert_allclose(x, curve[0], rtol=1e-12)  # the means of the two images (value ± offset)
        np.testing.assert_allclose(y, curve[1][metric], rtol=1e-12)
    legend = [text.get_text() for text in axis.get_legend().get_texts()]
    for codec in CURVES:
        assert any(entry == codec or entry.startswith(codec + " ") for entry in legend), (codec, legend)


def test_imported_curves_are_drawn_with_their_published_points(drawn):
    axis = drawn["rd_psnr"].axes[0]
    x, y = _line_of(_lines(axis), "Paper (imported)")
    np.testing.assert_allclose(x, PAPER["bpp"]) and np.testing.assert_allclose(y, PAPER["psnr-rgb"])
    line = next(line for line in axis.get_lines() if line.get_label().startswith("Paper (imported)"))
    own = next(line for line in axis.get_lines() if line.get_label().startswith("anchor"))
    assert line.get_linestyle() != own.get_linestyle()  # told apart from measured curves
    assert any(t.get_text().startswith("Paper (imported)") for t in axis.get_legend().get_texts())
    assert not any(label.startswith("Paper") for label in _lines(drawn["rd_lpips"].axes[0]))  # it has no LPIPS


def test_the_overview_has_one_panel_per_metric_each_with_its_legend(drawn):
    figure = drawn["overview"]
    panels = [axis for axis in figure.axes if axis.get_visible()]
    assert len(panels) == 2
    assert any("PSNR" in axis.get_ylabel() for axis in panels) and any("LPIPS" in axis.get_ylabel() for axis in panels)
    assert all("bpp" in axis.get_xlabel() for axis in panels)
    psnr_panel = next(axis for axis in panels if "PSNR" in axis.get_ylabel())
    x, y = _line_of(_lines(psnr_panel), "better")
    np.testing.assert_allclose(x, CURVES["better"][0])
    np.testing.assert_allclose(y, CURVES["better"][1]["psnr"])
    for panel in panels:  # each panel's legend names what that panel draws (the settings differ per metric)
        entries = [text.get_text() for text in panel.get_legend().get_texts()]
        drawn_here = [*CURVES, "Paper (imported)"] if panel is psnr_panel else list(CURVES)
        for codec in drawn_here:
            assert any(entry == codec or entry.startswith(codec + " ") for entry in entries), (codec, entries)


def test_the_caption_says_what_the_bands_are_and_which_codec_is_lossless(tmp_path, run_cli, monkeypatch):
    from test_report import ANCHOR_BPP, ANCHOR_PSNR, make_store

    curves = {"anchor": (ANCHOR_BPP, {"psnr": ANCHOR_PSNR}),
              "lossless": ([12.0, 13.0, 14.0], {"psnr": [float("inf")] * 3})}
    figures = {}
    monkeypatch.setattr(Figure, "savefig", lambda self, path, *a, **k: figures.setdefault(Path(path).stem, self))
    assert run_cli("report", make_store(tmp_path, curves), "--out", tmp_path / "report") == 0
    texts = [text.get_text().replace("\n", " ") for text in figures["rd_psnr"].texts]  # captions wrap
    assert any("bands: 95% percentile bootstrap interval of the mean over images" in t for t in texts), texts
    assert any("not drawn where infinite (lossless): lossless (psnr)" in t for t in texts), texts
