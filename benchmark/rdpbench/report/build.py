"""Assemble a report folder from a results folder: figures, tables, BD-rates, matched bitrates, page.

Presets fix a figure layout: ``hific2020`` is the six-panel figure of HiFiC (Mentzer et al. 2020,
Fig. 3/4): FID, KID, NIQE, LPIPS, MS-SSIM, PSNR against bpp, in a 2x3 grid, and its summary table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rdpbench import export
from rdpbench.report import bd, page, plots, tables
from rdpbench.report.data import load

PRESETS = {"hific2020": ["fid", "kid", "niqe", "lpips", "ms_ssim", "psnr"]}


def build(results: Path, out: Path, anchor: str | None = None, metrics: list[str] | None = None,
          preset: str | None = None, imports: list[Path] = (), images: list[str] | None = None,
          target_bpp: float | None = None, bd_method: str = bd.DEFAULT_METHOD) -> list[str]:
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    layout = PRESETS.get(preset)
    data = load(results, imports, metrics or None)
    if layout and not metrics:
        data.metrics = [m for m in layout if m in data.metrics]
    out.mkdir(parents=True, exist_ok=True)
    written = plots.render(data, out, layout, columns=3)
    frame = tables.table(data)
    frame.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(tables.markdown(data))
    (out / "summary.tex").write_text(tables.latex(data))
    written += ["summary.csv", "summary.md", "summary.tex"]
    bd_frame = None
    if anchor:
        bd_frame = bd.bd_rates(data, anchor, bd_method)
        bd_frame.to_csv(out / "bd_rate.csv", index=False)
        written.append("bd_rate.csv")
    bd.matched_bitrates(data).to_csv(out / "matched_bitrates.csv", index=False)
    written.append("matched_bitrates.csv")
    json_folder = out / "compressai"
    json_folder.mkdir(exist_ok=True)
    for codec in data.codecs():
        if codec not in data.imported:
            document = export.compressai_json(data.summary, codec, "")
            (json_folder / f"{re.sub(r'[^A-Za-z0-9._=-]+', '_', codec)}.json").write_text(json.dumps(document, indent=2))
    written.append("compressai/*.json")
    page.render(data, out, written, [w for w in written if not w.endswith((".pdf", ".svg"))], bd_frame,
                images, target_bpp, anchor)
    return written + ["index.html"]
