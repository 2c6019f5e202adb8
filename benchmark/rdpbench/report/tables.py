"""The summary as CSV, Markdown and LaTeX (booktabs), and values compared at equal rate.

- ``summary.csv``: one row per codec x setting with every metric, plus the report's caveats.
- ``summary.md``: the caveats, then one compact table per metric group (distortion, perceptual,
  no-reference, distribution) holding only the codecs and metrics that have values in that group,
  then the equal-rate tables and the BD-rates.
- ``summary.tex``: one row per codec x setting, no bold (the best value of an RD table is just its
  highest-rate row, which says nothing); the caveats as the table's last line.
- Equal-rate tables (:func:`at_rates`): each codec's metric interpolated at a few common bpp
  (piecewise-linear in log-rate on its own curve, never extrapolated: "–" outside its range); only
  there is the best value of each row bold, since only there are the codecs at the same rate. The
  rates are 3 points evenly spaced in log-rate inside the range every codec covers.

PSNR of lossless settings (inf) is printed as inf ($\\infty$ in LaTeX) and never counts as best.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rdpbench.report.data import ReportData, caveats

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
EQUAL_RATE_POINTS = 3


def table(data: ReportData, metrics: list[str] | None = None) -> pd.DataFrame:
    """codec, setting, n_images, bpp, the metrics (default all), n_patches with distribution metrics;
    rows that have at least one of these metrics."""
    metrics = data.metrics if metrics is None else metrics
    columns = ["codec", "setting", "n_images", "bpp", *metrics]
    if "n_patches" in data.summary.columns and set(data.distribution_metrics()) & set(metrics):
        columns.append("n_patches")
    frame = data.summary.reindex(columns=columns)
    return frame[frame[metrics].notna().any(axis=1)].reset_index(drop=True)


def groups(data: ReportData) -> dict[str, list[str]]:
    """{group title: metrics present}, in the store's metric order."""
    grouped: dict[str, list[str]] = {}
    for metric in data.metrics:
        grouped.setdefault(data.columns[metric].group or "other", []).append(metric)
    return grouped


def format_value(data: ReportData, column: str, value) -> str:
    """``value`` of ``column`` with the decimals its metric declared; "–" for a missing value."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if column in ("n_images", "n_patches"):
        return str(int(value))
    if math.isinf(value):
        return "inf"
    return f"{value:.{data.decimals(column)}f}"


def caveat_text(data: ReportData) -> str:
    return " · ".join(text for text, _ in caveats(data))


def summary_csv(data: ReportData) -> pd.DataFrame:
    frame = table(data)
    frame["caveats"] = caveat_text(data)
    return frame


def header(data: ReportData, column: str) -> str:
    """"PSNR [dB] ↑" for a metric column, the column name otherwise."""
    if column in data.columns:
        return f"{data.columns[column].heading} {data.columns[column].arrow}".strip()
    return column


def _markdown_cell(text: str) -> str:
    """Text from a results folder (labels, codec names) as one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown_table(data: ReportData, frame: pd.DataFrame, bold: dict[int, set[str]] | None = None,
                    metric: str | None = None) -> list[str]:
    """``metric``: format every column but bpp as this metric (the equal-rate tables)."""
    lines = ["| " + " | ".join(_markdown_cell(header(data, c)) for c in frame.columns) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    for index, row in enumerate(frame.itertuples(index=False)):
        cells = [format_value(data, metric if metric and c != "bpp" else c, v) for c, v in zip(frame.columns, row)]
        marked = (bold or {}).get(index, set())
        cells = [f"**{cell}**" if column in marked else cell
                 for column, cell in zip(frame.columns, map(_markdown_cell, cells))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def equal_rates(data: ReportData) -> list[float]:
    """3 bpp values evenly spaced in log-rate inside the range every (non-imported, multi-point) codec
    covers; none when the codecs share no range."""
    ranges = [(group["bpp"].min(), group["bpp"].max()) for codec, group in data.summary.dropna(subset=["bpp"])
              .groupby("codec") if codec not in data.imported and group["bpp"].nunique() > 1]
    if len(ranges) < 2:
        return []
    low, high = max(r[0] for r in ranges), min(r[1] for r in ranges)
    if not 0 < low < high:
        return []
    fractions = (np.arange(EQUAL_RATE_POINTS) + 0.5) / EQUAL_RATE_POINTS
    return [float(10 ** (np.log10(low) + f * (np.log10(high) - np.log10(low)))) for f in fractions]


def value_at(curve: pd.DataFrame, metric: str, bpp: float) -> float:
    """The metric at ``bpp`` on a curve sorted by bpp, linear in log10(bpp); NaN outside its range."""
    values = curve[metric].to_numpy(float)
    rates = curve["bpp"].to_numpy(float)
    keep = np.isfinite(values) & (rates > 0)
    values, rates = values[keep], rates[keep]
    if len(rates) < 2 or not rates[0] <= bpp <= rates[-1]:
        return math.nan
    return float(np.interp(np.log10(bpp), np.log10(rates), values))


def at_rates(data: ReportData, metric: str, rates: list[float]) -> tuple[pd.DataFrame, dict[int, set[str]]]:
    """Rows: the rates; columns: bpp and one per codec with the metric there; and the best codec per
    row ({row index: {codec column}}, among codecs with a value, by the metric's direction)."""
    codecs = [c for c in data.codecs() if len(data.curve(c, metric)) >= 2]
    frame = pd.DataFrame({"bpp": rates,
                          **{c: [value_at(data.curve(c, metric), metric, r) for r in rates] for c in codecs}})
    bold = {}
    for index, row in frame[codecs].iterrows():
        finite = row[np.isfinite(row.to_numpy(float))]
        if len(finite) >= 2:
            best = finite.max() if data.columns[metric].higher_is_better else finite.min()
            bold[index] = set(finite.index[finite == best])
    return frame, bold


def markdown(data: ReportData, bd: pd.DataFrame | None = None) -> str:
    lines = [f"**Caveats:** {caveat_text(data)}", ""]
    for title, metrics in groups(data).items():
        lines += [f"### {title.capitalize()}: {', '.join(data.columns[m].heading for m in metrics)}", ""]
        lines += _markdown_table(data, table(data, metrics)) + [""]
    rates = equal_rates(data)
    if rates:
        lines += ["### At equal rate (interpolated in log-rate on each curve; best per row bold)", ""]
        for metric in data.metrics:
            frame, bold = at_rates(data, metric, rates)
            if len(frame.columns) > 2:
                lines += [f"{header(data, metric)}:", ""] + _markdown_table(data, frame, bold, metric) + [""]
    if bd is not None and len(bd):
        lines += [f"### BD-rate against {bd['anchor'].iloc[0]}", ""]
        lines += _markdown_table(data, bd[["codec", "metric", "bd_rate_percent", "bd_metric", "unit", "better", "note"]])
        lines += [""]
    lines += ["(↑/↓: higher/lower is better. Figures and a visual comparison: index.html.)"]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex(data: ReportData) -> str:
    frame = table(data)
    arrows = {True: r" $\uparrow$", False: r" $\downarrow$", None: ""}
    heads = [_latex_escape(data.columns[c].heading) + arrows[data.columns[c].higher_is_better]
             if c in data.columns else _latex_escape(c) for c in frame.columns]
    lines = [r"% requires \usepackage{booktabs}", r"\begin{tabular}{ll" + "r" * (len(frame.columns) - 2) + "}",
             r"\toprule", " & ".join(heads) + r" \\", r"\midrule"]
    previous = None
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row):
            if column == "codec":
                cells.append(_latex_escape(value) if value != previous else "")
            elif column == "setting":
                cells.append(_latex_escape(value))
            else:
                cells.append(format_value(data, column, value).replace("inf", r"$\infty$"))
        if previous is not None and row[0] != previous:
            lines.append(r"\midrule")
        previous = row[0]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule",
              rf"\multicolumn{{{len(frame.columns)}}}{{l}}{{\footnotesize {_latex_escape(caveat_text(data))}}} \\",
              r"\end{tabular}"]
    return "\n".join(lines) + "\n"
