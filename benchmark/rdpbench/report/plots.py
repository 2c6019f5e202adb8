"""Rate–distortion–perception figures: one panel per metric against bpp.

Each codec keeps one colour and marker in every panel; the y label says which direction is better;
per-image metrics get a 95% bootstrap confidence band over images (the mean metric of 2000 image
resamples, seed 0, at each setting's mean bpp); NIQE panels draw the originals' mean NIQE as a
dashed reference line ("Original", as in HiFiC's figures); imported curves are dashed and labelled.
Every figure is written as PNG (300 dpi), PDF and SVG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rdpbench.report.data import METRICS, ReportData  # noqa: E402

MARKERS = "osD^vP*Xh<>p"
BOOTSTRAP_SAMPLES = 2000
STYLE = {"font.size": 8, "axes.labelsize": 8, "axes.titlesize": 9, "legend.fontsize": 7, "xtick.labelsize": 7,
         "ytick.labelsize": 7, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
         "grid.alpha": 0.3, "grid.linewidth": 0.5, "lines.linewidth": 1.2, "lines.markersize": 4,
         "savefig.bbox": "tight", "pdf.fonttype": 42, "svg.fonttype": "none"}


def codec_styles(codecs: list[str]) -> dict[str, dict]:
    colours = plt.get_cmap("tab10").colors
    return {codec: {"color": colours[i % len(colours)], "marker": MARKERS[i % len(MARKERS)]}
            for i, codec in enumerate(codecs)}


def bootstrap_band(data: ReportData, codec: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(mean bpp, 2.5% and 97.5% quantiles of the mean metric) per setting, or None without per-image data."""
    rows = data.per_image[(data.per_image["codec"] == codec)]
    if not METRICS[metric].per_image or metric not in rows or rows[metric].isna().all():
        return None
    rng = np.random.default_rng(0)
    points = []
    for _, group in rows.groupby("setting"):
        values = group[metric].to_numpy(float)
        values = values[np.isfinite(values)]
        if len(values) < 2:
            continue
        means = values[rng.integers(0, len(values), (BOOTSTRAP_SAMPLES, len(values)))].mean(axis=1)
        points.append((group["bpp"].mean(), *np.percentile(means, [2.5, 97.5])))
    if not points:
        return None
    points.sort()
    return tuple(np.array(column) for column in zip(*points))


def legend_label(data: ReportData, codec: str) -> str:
    """The codec and the range of its swept knob, e.g. "jpeg (quality 5–95)"."""
    settings = list(data.summary.loc[data.summary["codec"] == codec, "setting"])
    pairs = [s.split("=", 1) for s in settings if s.count("=") == 1 and "," not in s]
    if len(pairs) != len(settings) or len({k for k, _ in pairs}) != 1 or len(pairs) < 2:
        return codec
    return f"{codec} ({pairs[0][0]} {pairs[0][1]}–{pairs[-1][1]})"


def draw_panel(axis, data: ReportData, metric: str, styles: dict[str, dict]) -> None:
    info = METRICS[metric]
    for codec in data.codecs():
        curve = data.curve(codec, metric)
        curve = curve[np.isfinite(curve[metric].astype(float))]
        if curve.empty:
            continue
        imported = codec in data.imported
        axis.plot(curve["bpp"], curve[metric], label=legend_label(data, codec), linestyle="--" if imported else "-",
                  markerfacecolor="none" if imported else styles[codec]["color"], **styles[codec])
        band = None if imported else bootstrap_band(data, codec, metric)
        if band is not None:
            axis.fill_between(band[0], band[1], band[2], color=styles[codec]["color"], alpha=0.15, linewidth=0)
    if metric in data.originals.columns:
        axis.axhline(data.originals[metric].mean(), color="black", linestyle=":", linewidth=1, label="Original")
    axis.set_xlabel("bits per pixel [bpp]")
    axis.set_ylabel(f"{info.label} ({'higher' if info.higher_is_better else 'lower'} is better "
                    f"{'↑' if info.higher_is_better else '↓'})")
    axis.set_xlim(left=0)


def save(figure, folder: Path, stem: str) -> list[str]:
    names = []
    for extension, options in (("png", {"dpi": 300}), ("pdf", {}), ("svg", {})):
        figure.savefig(folder / f"{stem}.{extension}", **options)
        names.append(f"{stem}.{extension}")
    plt.close(figure)
    return names


def render(data: ReportData, folder: Path, layout: list[str] | None = None, columns: int = 3) -> list[str]:
    """One figure per metric (rd_<metric>.*) and an overview with all panels (overview.*).
    ``layout`` fixes the panel order (a preset); metrics without values are left out."""
    styles = codec_styles(data.codecs())
    written = []
    with plt.rc_context(STYLE):
        for metric in data.metrics:
            figure, axis = plt.subplots(figsize=(3.4, 2.6))
            draw_panel(axis, data, metric, styles)
            axis.legend(frameon=False)
            written += save(figure, folder, f"rd_{metric}")
        panels = [m for m in (layout or data.metrics) if m in data.metrics]
        rows = -(-len(panels) // columns)
        figure, axes = plt.subplots(rows, min(columns, len(panels)), figsize=(2.4 * min(columns, len(panels)), 2.2 * rows),
                                    squeeze=False)
        for axis, metric in zip(axes.flat, panels):
            draw_panel(axis, data, metric, styles)
        for axis in list(axes.flat)[len(panels):]:
            axis.set_visible(False)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        for axis in axes.flat[1:len(panels)]:  # "Original" may only appear in the NIQE panel
            for handle, label in zip(*axis.get_legend_handles_labels()):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), frameon=False,
                      bbox_to_anchor=(0.5, 1.0))
        figure.tight_layout()
        written += save(figure, folder, "overview")
    return written
