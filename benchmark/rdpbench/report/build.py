"""Assemble a report folder from a results folder: figures, tables, BD-rates, matched bitrates, page.

Everything is checked (results, metrics, anchor, preset) before anything is written, and the report
is rendered into a temporary folder beside ``out`` and moved into place only when complete, so a
failed report never leaves half a folder.

Presets fix a figure layout: ``hific2020`` is the six-panel figure of HiFiC (Mentzer et al. 2020,
Fig. 3/4): FID, KID, NIQE, LPIPS, MS-SSIM, PSNR against bpp, in a 2x3 grid, and its summary table.
``jpeg-ai-ctc`` and ``aic4`` select the objective metrics of JPEG AI's and JPEG AIC-4's common test
conditions (benchmark/docs/reports.md), with a BD-rate per metric against the anchor.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rdpbench import export
from rdpbench.report import bd, intervals, page, paper, plots, tables
from rdpbench.report.data import ReportData, ReportError, load
from rdpbench.report.intervals import Bootstrap
from rdpbench.safe_paths import file_stem
from rdpbench.store import WEIGHT_STATES

PRESETS = {"hific2020": ["fid", "kid", "niqe", "lpips", "ms_ssim", "psnr"],
           # JPEG AI CTC's objective metrics (PSNR-HVS-M is not implemented), each BD-rated against --anchor
           "jpeg-ai-ctc": ["ms_ssim_y", "vif", "fsim", "nlpd", "iw_ssim", "vmaf", "psnr_y", "psnr_yuv", "ssim"],
           # JPEG AIC-4's objective anchors available here (HDR-VDP is not)
           "aic4": ["psnr_y", "ssim", "ms_ssim_y", "iw_ssim", "vmaf_neg", "ssimulacra2", "cvvdp"]}


def build(results: Path, out: Path, anchor: str | None = None, metrics: list[str] | None = None,
          preset: str | None = None, imports: list[Path] = (), images: list[str] | None = None,
          target_bpp: float | None = None, bd_method: str = bd.DEFAULT_METHOD,
          bpp_range: plots.BppRange = "shared", bootstrap: Bootstrap = Bootstrap(),
          at_bpp: list[float] | None = None, bd_all_pairs: bool = False,
          tex_settings: int = paper.DEFAULT_TEX_SETTINGS) -> list[str]:
    """Render the report of the results folder ``results`` into ``out``; return the files written.
    ``bootstrap``: resamples and seed of every interval (rdpbench.report.intervals); ``at_bpp``:
    rates for the values-at-rate tables; ``bd_all_pairs``: BD-rates of every codec against every
    other; ``tex_settings``: settings per codec in summary.tex (rdpbench.report.paper)."""
    if at_bpp is not None and (not at_bpp or any(not (rate > 0 and math.isfinite(rate)) for rate in at_bpp)):
        raise ReportError(f"--at-bpp {','.join(map(str, at_bpp or []))}: give positive rates, e.g. 0.25,0.5,1.0")
    if preset and preset not in PRESETS:
        raise ReportError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    data = load(results, imports, metrics or None)
    attach_distribution_intervals(data, bootstrap)
    layout = PRESETS.get(preset)
    if layout and not metrics:
        data.metrics = [m for m in layout if m in data.metrics]
    if anchor:
        data.check_codec(anchor)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        written = _write(data, staging, anchor, layout, images, target_bpp, bd_method, bpp_range, bootstrap,
                         Paper(sorted(set(at_bpp or [])), bd_all_pairs, tex_settings))
        out.mkdir(exist_ok=True)
        for entry in staging.iterdir():
            target = out / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def attach_distribution_intervals(data: ReportData, bootstrap: Bootstrap) -> None:
    """Add ``<column>_ci_low``/``_ci_high`` of the distribution metrics to the summary (intervals.
    distribution_intervals) and their method to the caveats' context."""
    if not data.distribution_metrics() or bootstrap.resamples < 2:
        return
    from rdpbench.store import ResultsStore

    with ResultsStore(data.results, read_only=True) as store:
        found = intervals.distribution_intervals(store, bootstrap)
    for row in found.to_dict("records"):
        where = (data.summary["codec"] == row["codec"]) & (data.summary["setting"] == row["setting"])
        data.summary.loc[where, f"{row['column']}_ci_low"] = row["ci_low"]
        data.summary.loc[where, f"{row['column']}_ci_high"] = row["ci_high"]
    methods = sorted({text for text in found["interval"] if text}) + sorted({text for text in found["note"] if text})
    data.context.distribution_intervals = "; ".join(methods)


@dataclass(frozen=True)
class Paper:
    """The paper outputs asked for (rdpbench.report.paper)."""
    at_bpp: list[float]
    bd_all_pairs: bool
    tex_settings: int


def _write(data: ReportData, out: Path, anchor: str | None, layout: list[str] | None, images: list[str] | None,
           target_bpp: float | None, bd_method: str, bpp_range: plots.BppRange, bootstrap: Bootstrap,
           options: "Paper") -> list[str]:
    written = plots.render(data, out, layout, columns=3, bpp_range=bpp_range, bootstrap=bootstrap)
    bd_frame = bd.bd_rates(data, anchor, bd_method, bootstrap) if anchor else None
    tables.summary_csv(data).to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(tables.markdown(data, bd_frame, anchor))
    (out / "summary.tex").write_text(paper.summary_latex(data, options.tex_settings))
    written += ["summary.csv", "summary.md", "summary.tex"]
    outputs = {}
    if bd_frame is not None and len(bd_frame):
        outputs.update(paper.bd_outputs(data, bd_frame, "bd_matrix", f"BD-rate against {anchor}", per_metric=False))
    if options.bd_all_pairs and len(data.codecs()) > 1:
        pairs = [(codec, other) for codec in data.codecs() for other in data.codecs() if codec != other]
        outputs.update(paper.bd_outputs(data, bd.bd_table(data, pairs, bd_method, bootstrap), "bd_all_pairs",
                                        "BD-rate, every codec against every other", per_metric=True))
    if options.at_bpp:
        outputs.update(paper.at_bpp_outputs(data, options.at_bpp))
    for name, text in outputs.items():
        (out / name).write_text(text)
    written += list(outputs)
    if bd_frame is not None:
        bd_frame.assign(caveats=tables.caveat_text(data)).to_csv(out / "bd_rate.csv", index=False)
        written.append("bd_rate.csv")
    rates = tables.equal_rates(data)
    tests = [tables.rate_tests(data, metric, rates, anchor) for metric in data.metrics] if anchor and rates else []
    if any(len(frame) for frame in tests):
        pd.concat(tests, ignore_index=True).assign(caveats=tables.caveat_text(data)).to_csv(
            out / "equal_rate_tests.csv", index=False)
        written.append("equal_rate_tests.csv")
    if data.context.weights:
        pd.DataFrame({"file": list(data.context.weights), "state": list(data.context.weights.values()),
                      "meaning": [WEIGHT_STATES[s] for s in data.context.weights.values()]}).to_csv(
            out / "weights.csv", index=False)
        written.append("weights.csv")
    bd.matched_bitrates(data).assign(caveats=tables.caveat_text(data)).to_csv(out / "matched_bitrates.csv", index=False)
    written.append("matched_bitrates.csv")
    json_folder = out / "compressai"
    json_folder.mkdir(exist_ok=True)
    derived = [c for c in data.summary.columns  # views and intervals are not CompressAI results
               if c in data.views or c.endswith(("_ci_low", "_ci_high"))]
    for codec in data.codecs():
        if codec not in data.imported:
            document = export.compressai_json(data.summary.drop(columns=derived), codec, "")
            (json_folder / f"{file_stem(codec)}.json").write_text(json.dumps(document, indent=2))
    written.append("compressai/*.json")
    page.render(data, out, written, [w for w in written if not w.endswith((".pdf", ".svg"))], bd_frame,
                images, target_bpp, anchor)
    return written + ["index.html"]
