"""The summary as CSV, Markdown and LaTeX (booktabs), one row per codec x setting.

In LaTeX the best value of each metric column is bold (the direction of each metric decides
"best"); PSNR of lossless settings (inf) is printed as $\\infty$ and never counts as best.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rdpbench.report.data import METRICS, ReportData

DECIMALS = {"bpp": 4, "psnr": 2, "ms_ssim": 4, "lpips": 4, "dists": 4, "niqe": 3, "fid": 2, "kid": 4}
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def table(data: ReportData) -> pd.DataFrame:
    columns = ["codec", "setting", "n_images", "bpp", *data.metrics]
    if "n_patches" in data.summary.columns and {"fid", "kid"} & set(data.metrics):
        columns.append("n_patches")
    return data.summary.reindex(columns=columns)


def format_value(column: str, value) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if column in ("n_images", "n_patches"):
        return str(int(value))
    if math.isinf(value):
        return "inf"
    return f"{value:.{DECIMALS.get(column, 4)}f}"


def markdown(data: ReportData) -> str:
    frame = table(data)
    header = [METRICS[c].label if c in METRICS else c for c in frame.columns]
    arrows = {c: (" ↑" if METRICS[c].higher_is_better else " ↓") for c in data.metrics}
    header = [h + arrows.get(c, "") for h, c in zip(header, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(format_value(c, v) for c, v in zip(frame.columns, row)) + " |")
    return "\n".join(lines) + "\n\n(↑/↓: higher/lower is better. Visual comparison: index.html.)\n"


def _latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex(data: ReportData) -> str:
    frame = table(data)
    best = {}
    for metric in data.metrics:
        values = frame[metric].to_numpy(float)
        finite = np.isfinite(values)
        if finite.any():
            target = values[finite].max() if METRICS[metric].higher_is_better else values[finite].min()
            best[metric] = target
    header = [_latex_escape(METRICS[c].label) + (r" $\uparrow$" if METRICS[c].higher_is_better else r" $\downarrow$")
              if c in METRICS else _latex_escape(c) for c in frame.columns]
    lines = [r"% requires \usepackage{booktabs}", r"\begin{tabular}{ll" + "r" * (len(frame.columns) - 2) + "}",
             r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    previous = None
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row):
            if column == "codec":
                text = _latex_escape(value) if value != previous else ""
            elif column == "setting":
                text = _latex_escape(value)
            else:
                text = format_value(column, value).replace("inf", r"$\infty$")
                if column in best and isinstance(value, float) and value == best[column]:
                    text = r"\textbf{" + text + "}"
            cells.append(text)
        if previous is not None and row[0] != previous:
            lines.append(r"\midrule")
        previous = row[0]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
