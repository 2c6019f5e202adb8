"""index.html: caveats, figures, tables, BD-rates and a side-by-side visual comparison, viewable from
the folder itself (relative links only, no server, no external resources).

The caveats (report/data.py: dataset, image and patch counts, unverified weights) open the page, in a
red box when one limits comparison with published values, and close every section. Numbers are
formatted by report/tables.py, so the page shows the same digits as summary.md.

Visual comparison: for each chosen image, the same crop of the original and of each codec's
reconstruction at the setting whose bpp on that image is closest to a target bpp (default: the
median bpp of the anchor's settings), captioned with bpp and metric values. Reconstructions come
from the run's ``--save-recon`` folder; codecs without saved reconstructions are listed as such.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rdpbench.imageio import read_rgb8
from rdpbench.report.data import ReportData, caveats
from rdpbench.report.intervals import NOT_SIGNIFICANT
from rdpbench.report.tables import (RATE_TEST_NOTE, at_rates, bd_display, equal_rates, format_value, groups, header,
                                    interval_method, rate_tests, rate_tests_display, table, text_rows)

CHECK_SCRIPT = """<script>
window.rdpErrors = [];
window.addEventListener('error', e => window.rdpErrors.push(String(e.message || e.target.src || e)), true);
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  document.body.dataset.images = images.length;
  document.body.dataset.broken = broken.join(' ');
  document.body.dataset.errors = window.rdpErrors.length;
  document.body.dataset.ready = 'yes';
});
</script>"""

STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; font-size: 0.8em; max-width: 256px; }
figure img { image-rendering: pixelated; width: 256px; height: 256px; object-fit: none; }
.caveats { padding: 0.6em 1em; border: 1px solid #bbb; background: #f6f6f6; }
.caveats.warning { border: 2px solid #b00000; background: #fff0f0; color: #800000; font-weight: bold; }
.note { font-size: 0.8em; color: #555; }
td.best { font-weight: bold; }
</style>"""


def _html_table(data: ReportData, frame: pd.DataFrame, bold: dict[int, set[str]] | None = None,
                metric: str | None = None) -> str:
    """``bold``: {row index: columns to bold}; ``metric``: format every column but bpp as this metric."""
    shown, rows = text_rows(data, frame, metric)

    def cell(index: int, column, text: str) -> str:
        best = column in (bold or {}).get(index, set())
        return f'<td class="best">{html.escape(text)}</td>' if best else f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(header(data, str(c)))}</th>" for c in shown)
    body = "".join("<tr>" + "".join(cell(i, c, text) for c, text in zip(shown, cells)) + "</tr>"
                   for i, cells in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def caveat_box(data: ReportData) -> str:
    lines = caveats(data)
    warning = any(prominent for _, prominent in lines)
    items = "".join(f"<li>{html.escape(text)}</li>" for text, _ in lines)
    return f'<div class="caveats{" warning" if warning else ""}"><ul>{items}</ul></div>'


def summary_tables(data: ReportData, anchor: str | None = None) -> str:
    parts = []
    for title, metrics in groups(data).items():
        parts.append(f"<h3>{html.escape(title.capitalize())}</h3>{_html_table(data, table(data, metrics))}")
    rates = equal_rates(data)
    if rates:
        parts.append("<h3>At equal rate</h3><p class=\"note\">Each codec's value interpolated in log-rate on its own "
                     "curve at the same bpp (never extrapolated); the best of each row is bold.</p>")
        for metric in data.metrics:
            frame, bold, note = at_rates(data, metric, rates)
            if len(frame.columns) > 2:
                title = data.columns[metric].heading + (f" ({note})" if note else "")
                parts.append(f"<p>{html.escape(title)}</p>{_html_table(data, frame, bold, metric)}")
            tests = rate_tests(data, metric, rates, anchor) if anchor else pd.DataFrame()
            if len(tests):
                parts.append(f"<p class=\"note\">Paired per-image comparison with {html.escape(anchor)} "
                             f"({html.escape(RATE_TEST_NOTE)}):</p>{_html_table(data, rate_tests_display(tests))}")
    return "".join(parts)


def _crop_box(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return top, left, min(height, top + size), min(width, left + size)


def comparison(data: ReportData, folder: Path, images: list[str] | None, target_bpp: float | None,
               anchor: str | None, crop: int) -> str:
    recon_root = data.results / "recon"
    rows = data.per_image[data.per_image["error"] == ""]
    if target_bpp is None:
        source = data.summary[data.summary["codec"] == anchor] if anchor else data.summary
        target_bpp = float(source["bpp"].median())
    available = {image for image in rows["image"]
                 if any((recon_root / c / s / Path(image).with_suffix(".png")).is_file()
                        for c, s in zip(rows["codec"], rows["setting"]))}
    chosen = images or sorted(available)[:2]
    if not chosen:
        return "<p>No reconstructions were saved: run with <code>--save-recon</code> to compare images here.</p>"
    dataset_root = Path(_dataset_root(data))
    parts = [f"<p>Crops of {crop}×{crop} px at the centre; each codec at its setting closest to "
             f"{target_bpp:.3f} bpp on that image.</p>"]
    for image in chosen:
        stem = Path(image).with_suffix("")
        original = read_rgb8(dataset_root / image)
        top, left, bottom, right = _crop_box(*original.shape[:2], crop)
        target_folder = folder / "crops" / stem
        target_folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(original[top:bottom, left:right]).save(target_folder / "original.png")
        figures = [f'<figure><img src="crops/{html.escape(stem.as_posix())}/original.png" alt="original">'
                   f"<figcaption><b>Original</b></figcaption></figure>"]
        missing = []
        for codec in data.codecs():
            candidates = rows[(rows["codec"] == codec) & (rows["image"] == image)]
            candidates = candidates[[(recon_root / codec / s / stem.with_suffix(".png")).is_file()
                                     for s in candidates["setting"]]]
            if candidates.empty:
                missing.append(codec)
                continue
            best = candidates.iloc[int(np.argmin(np.abs(candidates["bpp"].to_numpy() - target_bpp)))]
            reconstruction = read_rgb8(recon_root / codec / best["setting"] / stem.with_suffix(".png"))
            name = f"{codec}__{best['setting']}".replace("/", "_")
            Image.fromarray(reconstruction[top:bottom, left:right]).save(target_folder / f"{name}.png")
            values = ", ".join(f"{data.columns[m].label} {format_value(data, m, best[m])}" for m in data.metrics
                               if m in best and data.columns[m].per_image)
            figures.append(f'<figure><img src="crops/{html.escape(stem.as_posix())}/{html.escape(name)}.png" '
                           f'alt="{html.escape(codec)}"><figcaption><b>{html.escape(codec)}</b> '
                           f"{html.escape(best['setting'])}<br>{best['bpp']:.3f} bpp; {html.escape(values)}"
                           f"</figcaption></figure>")
        note = f"<p>No saved reconstructions for: {html.escape(', '.join(missing))}.</p>" if missing else ""
        parts.append(f"<h3>{html.escape(image)}</h3><div class=\"grid\">{''.join(figures)}</div>{note}")
    return "".join(parts)


def _dataset_root(data: ReportData) -> str:
    from rdpbench.store import ResultsStore

    with ResultsStore(data.results, read_only=True) as store:
        return store.meta("dataset_root")


def render(data: ReportData, folder: Path, figures: list[str], files: list[str], bd: pd.DataFrame | None,
           images: list[str] | None = None, target_bpp: float | None = None, anchor: str | None = None,
           crop: int = 256) -> None:
    links = " · ".join(f'<a href="{html.escape(f)}">{html.escape(f)}</a>' for f in files)
    figure_html = "".join(f'<p><a href="{html.escape(f)}"><img src="{html.escape(f)}" alt="{html.escape(f)}" '
                          f'style="max-width:100%"></a></p>' for f in figures if f.endswith(".png")
                          and f.startswith("overview"))
    bd_html = ("<p class=\"note\">BD-rate &lt; 0: fewer bits than the anchor at equal quality. BD-metric: "
               "codec − anchor at equal rate in the metric's unit (for lower-is-better metrics negative is better). "
               f"better: who wins when both agree. Intervals: {html.escape(interval_method(bd))}; "
               f"{NOT_SIGNIFICANT}: the BD-rate interval includes 0.</p>"
               + _html_table(data, bd_display(data, bd).drop(columns="anchor"))
               if bd is not None and len(bd) else
               f"<p>No other codec to compare with the anchor {html.escape(anchor)}.</p>" if anchor else
               "<p>No anchor given (--anchor CODEC).</p>")
    box = caveat_box(data)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rdpbench report: {html.escape(data.results.name)}</title>
{STYLE}</head><body>
<h1>rdpbench report: {html.escape(data.results.name)}</h1>
{box}
<p>Files: {links}</p>
<h2>Rate–distortion–perception</h2>{figure_html}
<h2>Summary</h2>{box}{summary_tables(data, anchor)}
<h2>BD-rate against {html.escape(anchor or "–")}</h2>{box}{bd_html}
<h2>Visual comparison</h2>{comparison(data, folder, images, target_bpp, anchor, crop)}
{CHECK_SCRIPT}
</body></html>
"""
    (folder / "index.html").write_text(page)
