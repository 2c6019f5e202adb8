"""Rate–distortion–perception figures: one panel per metric against bpp.

Each codec keeps one colour and marker in every panel; the y label says which direction is better;
per-image metrics get a 95% bootstrap confidence band over images (the mean metric of the report's
``--bootstrap`` image resamples and ``--seed``, at each setting's mean bpp); NIQE panels draw the originals' mean NIQE as a
dashed reference line ("Original", as in HiFiC's figures); imported curves are dashed and labelled.
A codec's legend entry names the settings plotted in that panel (a codec whose FID exists only at
quality 10-50 is "quality 10–50" there). Every figure is written as PNG (300 dpi), PDF and SVG, with
the report's caveats (dataset, image and patch counts, unverified weights) printed under it.

x-axis (``bpp_range``): "shared" (default) shows 0 up to the highest rate every codec reaches (the
smallest of the codecs' largest bpp; codecs with a single point, e.g. lossless PNG, do not count),
so one codec at 6 bpp does not squeeze the others into a corner; points beyond are left out and the
caption says so. "full" shows every point; (low, high) a given range. The y-axis fits what is shown.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rdpbench.report.data import ReportData, caveats  # noqa: E402
from rdpbench.report.intervals import Bootstrap  # noqa: E402
from rdpbench.safe_paths import file_stem  # noqa: E402

BppRange = Union[str, tuple[float, float]]  # "shared", "full" or (low, high)

MARKERS = "osD^vP*Xh<>p"
STYLE = {"font.size": 8, "axes.labelsize": 8, "axes.titlesize": 9, "legend.fontsize": 7, "xtick.labelsize": 7,
         "ytick.labelsize": 7, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
         "grid.alpha": 0.3, "grid.linewidth": 0.5, "lines.linewidth": 1.2, "lines.markersize": 4,
         "savefig.bbox": "tight", "pdf.fonttype": 42, "svg.fonttype": "none",
         "text.parse_math": False}  # labels are text from results folders: "$" is a dollar sign, not TeX


def codec_styles(codecs: list[str]) -> dict[str, dict]:
    colours = plt.get_cmap("tab10").colors
    return {codec: {"color": colours[i % len(colours)], "marker": MARKERS[i % len(MARKERS)]}
            for i, codec in enumerate(codecs)}


def bootstrap_band(data: ReportData, codec: str, metric: str,
                   bootstrap: Bootstrap = Bootstrap()) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(mean bpp, 2.5% and 97.5% quantiles of the mean metric) per setting, or None without per-image data."""
    rows = data.per_image[(data.per_image["codec"] == codec)]
    if not data.columns[metric].per_image or metric not in rows or rows[metric].isna().all() or bootstrap.resamples < 2:
        return None
    points = []
    source, transform = data.source(metric)
    for _, group in rows.groupby("setting"):
        values = group[source].to_numpy(float)
        values = values[np.isfinite(values)]
        if len(values) < 2:
            continue
        means = values[bootstrap.draws(len(values))].mean(axis=1)
        points.append((group["bpp"].mean(), *transform(np.percentile(means, [2.5, 97.5]))))  # monotone views
    if not points:
        return None
    points.sort()
    return tuple(np.array(column) for column in zip(*points))


def legend_label(data: ReportData, codec: str, metric: str | None = None) -> str:
    """The codec and the range of its swept knob among the settings plotted for ``metric``, e.g.
    "jpeg (quality 5–95)"; just the codec when the settings are not one numeric knob."""
    settings = list(data.curve(codec, metric)["setting"] if metric else
                    data.summary.loc[data.summary["codec"] == codec, "setting"])
    pairs = [s.split("=", 1) for s in settings if s.count("=") == 1 and "," not in s]
    if len(pairs) != len(settings) or len({k for k, _ in pairs}) != 1 or len(pairs) < 2:
        return codec
    try:
        values = sorted(float(v) for _, v in pairs)
    except ValueError:
        return codec
    return f"{codec} ({pairs[0][0]} {values[0]:g}–{values[-1]:g})"


def x_range(data: ReportData, bpp_range: BppRange = "shared") -> tuple[float, float, str]:
    """(low, high, caption note) of the bpp axis; see the module docstring."""
    rates = data.summary.dropna(subset=["bpp"])
    full_high = float(rates["bpp"].max()) * 1.04 if len(rates) else 1.0
    if isinstance(bpp_range, tuple):
        return bpp_range[0], bpp_range[1], f"bpp axis {bpp_range[0]:g}–{bpp_range[1]:g} (given)"
    tops = [group["bpp"].max() for _, group in rates.groupby("codec") if group["bpp"].nunique() > 1]
    if bpp_range == "full" or not tops or min(tops) * 1.04 >= full_high:
        return 0.0, full_high, ""
    high = float(min(tops)) * 1.04
    hidden = int((rates["bpp"] > high).sum())
    points = f"{hidden} point{'s' if hidden != 1 else ''}"
    return 0.0, high, (f"bpp axis 0–{high:.3g}: the rate range all codecs reach; {points} above it not shown "
                       "(--bpp-range full)")


def draw_panel(axis, data: ReportData, metric: str, styles: dict[str, dict], limits: tuple[float, float],
               bootstrap: Bootstrap = Bootstrap()) -> None:
    info = data.columns[metric]
    low, high = limits
    shown = []
    for codec in data.codecs():
        curve = data.curve(codec, metric)
        curve = curve[np.isfinite(curve[metric].astype(float))]
        if curve.empty:
            continue
        imported = codec in data.imported
        visible = curve[(curve["bpp"] >= low) & (curve["bpp"] <= high)]
        label = legend_label(data, codec, metric) if len(visible) else "_off-axis"  # "_": not in the legend
        axis.plot(curve["bpp"], curve[metric], label=label, linestyle="--" if imported else "-",
                  markerfacecolor="none" if imported else styles[codec]["color"], **styles[codec])
        shown += list(visible[metric].astype(float))
        band = None if imported else bootstrap_band(data, codec, metric, bootstrap)
        if band is not None:
            axis.fill_between(band[0], band[1], band[2], color=styles[codec]["color"], alpha=0.15, linewidth=0)
            inside = (band[0] >= low) & (band[0] <= high)
            shown += list(band[1][inside]) + list(band[2][inside])
    if metric in data.originals.columns:
        reference = float(data.originals[metric].mean())
        axis.axhline(reference, color="black", linestyle=":", linewidth=1, label="Original")
        shown.append(reference)
    axis.set_xlabel("bits per pixel [bpp]")
    axis.set_ylabel(f"{info.heading} ({info.direction} {info.arrow})")
    axis.set_xlim(low, high)
    if shown:
        bottom, top = min(shown), max(shown)
        margin = 0.05 * (top - bottom) or 0.05 * abs(top) or 0.05
        axis.set_ylim(bottom - margin, top + margin)


def infinite_note(data: ReportData) -> str:
    """Which codecs have infinite means (lossless: PSNR inf), which no axis can show."""
    infinite = [f"{codec} ({metric})" for metric in data.metrics
                for codec, values in data.summary.groupby("codec", sort=False)[metric]
                if np.isinf(values.to_numpy(float)).any()]
    return f"not drawn where infinite (lossless): {', '.join(infinite)}" if infinite else ""


def caption(data: ReportData, note: str, bootstrap: Bootstrap = Bootstrap()) -> tuple[str, bool]:
    """Text under every figure (caveats; what the bands are; the axis and lossless notes) and whether
    any caveat is prominent (red)."""
    lines = caveats(data)
    bands = (f"bands: 95% percentile bootstrap interval of the mean over images (per-image metrics; "
             f"{bootstrap.resamples} resamples, seed {bootstrap.seed})" if bootstrap.resamples >= 2 else "")
    notes = [bands, note,
             infinite_note(data)]
    text = "\n".join([line for line, _ in lines] + [line for line in notes if line])
    return text, any(prominent for _, prominent in lines)


CAPTION_SIZE = 5  # points


def wrap(text: str, width_inches: float, size: float = CAPTION_SIZE, bold: bool = False) -> str:
    """``text`` with every line wrapped to the figure's width (a character taken as 0.62 em wide, 0.7
    em in bold: wider than the average of DejaVu Sans), so a long caption grows the figure down,
    never sideways."""
    columns = max(20, int(width_inches * 72 / ((0.7 if bold else 0.62) * size)))
    return "\n".join(textwrap.fill(line, columns, break_long_words=True, break_on_hyphens=False) for line in text.split("\n"))


def add_caption(figure, data: ReportData, note: str, bootstrap: Bootstrap = Bootstrap()) -> None:
    text, prominent = caption(data, note, bootstrap)
    figure.text(0.5, -0.01, wrap(text, figure.get_figwidth(), bold=prominent), ha="center", va="top",
                fontsize=CAPTION_SIZE,
                color="#b00000" if prominent else "#333333", fontweight="bold" if prominent else "normal")


def save(figure, folder: Path, stem: str) -> list[str]:
    names = []
    for extension, options in (("png", {"dpi": 300}), ("pdf", {}), ("svg", {})):
        figure.savefig(folder / f"{stem}.{extension}", **options)
        names.append(f"{stem}.{extension}")
    plt.close(figure)
    return names


def render(data: ReportData, folder: Path, layout: list[str] | None = None, columns: int = 3,
           bpp_range: BppRange = "shared", bootstrap: Bootstrap = Bootstrap()) -> list[str]:
    """One figure per metric (rd_<metric>.*) and an overview with all panels (overview.*).
    ``layout`` fixes the panel order (a preset); metrics without values are left out."""
    styles = codec_styles(data.codecs())
    low, high, note = x_range(data, bpp_range)
    written = []
    with plt.rc_context(STYLE):
        for metric in data.metrics:
            figure, axis = plt.subplots(figsize=(3.4, 2.6))
            draw_panel(axis, data, metric, styles, (low, high), bootstrap)
            axis.legend(frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5))
            figure.tight_layout()
            add_caption(figure, data, note, bootstrap)
            written += save(figure, folder, f"rd_{file_stem(metric)}")
        panels = [m for m in (layout or data.metrics) if m in data.metrics]
        rows = -(-len(panels) // columns)
        width = min(columns, len(panels))
        figure, axes = plt.subplots(rows, width, figsize=(2.4 * width, 3.0 * rows), squeeze=False)
        for axis, metric in zip(axes.flat, panels):
            draw_panel(axis, data, metric, styles, (low, high), bootstrap)
            # per panel, below it: the settings plotted differ between metrics
            axis.legend(frameon=False, fontsize=5, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
        for axis in list(axes.flat)[len(panels):]:
            axis.set_visible(False)
        figure.tight_layout()
        add_caption(figure, data, note, bootstrap)
        written += save(figure, folder, "overview")
    return written
