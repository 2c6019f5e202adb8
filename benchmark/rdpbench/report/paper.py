"""Outputs sized for a paper: the compact LaTeX summary, BD-rate matrices and values at chosen rates.

- ``summary.tex``: one booktabs table per metric group (distortion, perceptual, ...), each codec on
  ``tex_settings`` of its settings (default 4: its lowest and highest rate and evenly spaced ones
  between, by rate order; 0: all), values over fewer than the folder's images marked "(n=k)"; the
  caveats under each table in a paragraph as wide as the text (``\\linewidth``).
- ``bd_matrix.{csv,md,tex}`` (with ``--anchor``): codecs x metrics, each cell the BD-rate in percent
  with its 95% bootstrap interval, "n.s." when that includes 0 (rdpbench.report.bd). With
  ``--bd-all-pairs``, ``bd_all_pairs.{csv,md,tex}``: for each metric a codec x codec matrix (row:
  codec, column: the anchor it is compared with) and the long CSV with every column of bd_rate.csv.
- ``at_bpp.{csv,md,tex}`` (``--at-bpp 0.25,0.5,1``): each metric at the given rates, interpolated in
  log-rate on each codec's curve over the images every codec has (report.tables.at_rates), never
  extrapolated ("–" outside a curve's range); rows codecs, columns rates.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rdpbench.report import tables
from rdpbench.report.data import ReportData
from rdpbench.report.intervals import NOT_SIGNIFICANT

DEFAULT_TEX_SETTINGS = 4
ARROWS = {True: r" $\uparrow$", False: r" $\downarrow$", None: ""}


def escape(text) -> str:
    return "".join(tables.LATEX_SPECIAL.get(ch, ch) for ch in str(text)).replace("–", "--")


def latex_table(heads: list[str], rows: list[list[str]], caption: str, notes: str, groups: list[int] = ()) -> str:
    """A booktabs table (``heads`` and ``rows`` already LaTeX), left-aligned first column,
    ``\\midrule`` before each row index in ``groups``, ``notes`` in a paragraph under it."""
    lines = [r"\begin{table}[t]", r"\centering\small", rf"\caption{{{caption}}}",
             r"\begin{tabular}{l" + "r" * (len(heads) - 1) + "}", r"\toprule", " & ".join(heads) + r" \\", r"\midrule"]
    for index, row in enumerate(rows):
        if index in groups and index:
            lines.append(r"\midrule")
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\par\parbox{{\linewidth}}{{\footnotesize {notes}}}",
              r"\end{table}"]
    return "\n".join(lines)


def _subset(frame: pd.DataFrame, count: int) -> pd.DataFrame:
    """At most ``count`` settings of each codec, evenly spaced in its rate order (ends included)."""
    if count <= 0:
        return frame
    kept = []
    for _, group in frame.groupby("codec", sort=False):
        group = group.sort_values("bpp")
        picks = sorted(set(np.linspace(0, len(group) - 1, min(count, len(group))).round().astype(int)))
        kept.append(group.iloc[picks])
    return pd.concat(kept) if kept else frame


def summary_latex(data: ReportData, tex_settings: int = DEFAULT_TEX_SETTINGS) -> str:
    """summary.tex: one table per metric group (see the module docstring)."""
    notes = escape(tables.caveat_text(data))
    parts = [r"% requires \usepackage{booktabs}"]
    for title, metrics in tables.groups(data).items():
        frame = _subset(tables.table(data, metrics), tex_settings)
        frame = frame.drop(columns=[c for c in ("n_images", "n_patches") if c in frame.columns])
        shown, rows = tables.text_rows(data, frame)
        heads = ["Codec", "Setting", "bpp"] + [escape(data.columns[m].heading) + ARROWS[data.columns[m].higher_is_better]
                                               for m in shown[3:]]
        body, starts, previous = [], [], None
        for cells in rows:
            if cells[0] != previous:
                starts.append(len(body))
            body.append([escape(cells[0]) if cells[0] != previous else "", escape(cells[1]),
                         *(escape(cell).replace("inf", r"$\infty$") for cell in cells[2:])])
            previous = cells[0]
        subset = (f"; {tex_settings} settings per codec, evenly spaced in rate order" if tex_settings > 0 else "")
        parts.append(latex_table(heads, body,
                                 f"{escape(title.capitalize())} on {escape(data.context.dataset)}{subset}", notes,
                                 starts))
    return "\n\n".join(parts) + "\n"


def _bd_cell(row: dict) -> str:
    if row["bd_rate_percent"] is None or math.isnan(row["bd_rate_percent"]):
        return "–"
    text = f"{row['bd_rate_percent']:.1f}"
    if not math.isnan(row["bd_rate_ci_low"]):
        text += f" [{row['bd_rate_ci_low']:.1f}, {row['bd_rate_ci_high']:.1f}]"
    return text + (f" {NOT_SIGNIFICANT}" if str(row["significance"]).startswith(NOT_SIGNIFICANT) else "")


def bd_matrix(bd: pd.DataFrame, rows: str = "codec", columns: str = "metric") -> pd.DataFrame:
    """BD-rates as a matrix of text cells (rows x columns of ``bd``), in first-seen order."""
    cells = {(r[rows], r[columns]): _bd_cell(r) for r in bd.to_dict("records")}
    index, heads = list(dict.fromkeys(bd[rows])), list(dict.fromkeys(bd[columns]))
    return pd.DataFrame([[cells.get((i, h), "") for h in heads] for i in index], index=index, columns=heads)


def matrix_markdown(matrix: pd.DataFrame, corner: str) -> list[str]:
    lines = ["| " + " | ".join([corner, *map(str, matrix.columns)]) + " |", "|" + "---|" * (len(matrix.columns) + 1)]
    lines += ["| " + " | ".join([str(i), *row]).replace("\n", " ") + " |" for i, row in zip(matrix.index, matrix.values)]
    return lines


def matrix_latex(matrix: pd.DataFrame, corner: str, caption: str, notes: str) -> str:
    heads = [escape(corner), *map(escape, matrix.columns)]
    return latex_table(heads, [[escape(i), *map(escape, row)] for i, row in zip(matrix.index, matrix.values)],
                       caption, notes)


def bd_outputs(data: ReportData, bd: pd.DataFrame, stem: str, title: str, per_metric: bool) -> dict[str, str]:
    """{file name: text} of a BD matrix: ``per_metric`` gives one codec x anchor matrix per metric
    (all pairs), else one codec x metric matrix (against one anchor)."""
    method = tables.interval_method(bd)
    legend = (f"BD-rate in percent (negative: fewer bits than the anchor at equal quality) [95% interval: {method}]; "
              f"{NOT_SIGNIFICANT}: the interval includes 0")
    notes = escape(f"{legend}. {tables.caveat_text(data)}")
    markdown, latex, frames = [f"**{title}.** {legend}.", ""], [r"% requires \usepackage{booktabs}"], []
    blocks = ([(m, bd[bd["metric"] == m], "codec", "anchor") for m in dict.fromkeys(bd["metric"])] if per_metric
              else [("", bd, "codec", "metric")])
    for metric, rows, row_key, column_key in blocks:
        matrix = bd_matrix(rows, row_key, column_key)
        name = data.columns[metric].heading if metric in data.columns else ""
        heading = f"{title}{f': {name}' if name else ''}"
        corner = "codec \\ anchor" if per_metric else f"codec (vs {bd['anchor'].iloc[0]})"
        markdown += [f"### {heading}", ""] + matrix_markdown(matrix, corner) + [""]
        latex.append(matrix_latex(matrix, corner, escape(heading), notes))
        frames.append(matrix.rename_axis(corner).reset_index().assign(metric=metric) if per_metric else
                      matrix.rename_axis(corner).reset_index())
    csv = bd if per_metric else pd.concat(frames)
    return {f"{stem}.csv": csv.assign(caveats=tables.caveat_text(data)).to_csv(index=False),
            f"{stem}.md": "\n".join(markdown) + "\n", f"{stem}.tex": "\n\n".join(latex) + "\n"}


def at_bpp(data: ReportData, rates: list[float]) -> pd.DataFrame:
    """Long table: metric, bpp, codec, value, note (tables.at_rates at the given rates)."""
    rows = []
    for metric in data.metrics:
        frame, _, note = tables.at_rates(data, metric, rates)
        for codec in frame.columns[1:]:
            for bpp, value in zip(frame["bpp"], frame[codec]):
                rows.append({"metric": metric, "bpp": bpp, "codec": codec, "value": value, "note": note})
    return pd.DataFrame(rows, columns=["metric", "bpp", "codec", "value", "note"])


def at_bpp_outputs(data: ReportData, rates: list[float]) -> dict[str, str]:
    """{file name: text} of the values at chosen rates: CSV (long), Markdown and LaTeX (one table per metric)."""
    long = at_bpp(data, rates)
    legend = ("each codec's value interpolated in log-rate on its own curve at the given bpp, over the images "
              "every codec has; – outside a curve's range (never extrapolated); best per column bold in Markdown")
    notes = escape(f"{legend}. {tables.caveat_text(data)}")
    markdown, latex = [f"**Values at chosen rates.** {legend}.", ""], [r"% requires \usepackage{booktabs}"]
    for metric in data.metrics:
        rows = long[long["metric"] == metric]
        if rows.empty:
            continue
        wide = rows.pivot_table(index="codec", columns="bpp", values="value", aggfunc="first", dropna=False)
        wide = wide.reindex(index=list(dict.fromkeys(rows["codec"])))
        text = wide.apply(lambda column: [tables.format_value(data, metric, v) for v in column])
        note = rows["note"].iloc[0]
        heading = data.columns[metric].heading + ARROWS[data.columns[metric].higher_is_better].replace(
            r" $\uparrow$", " ↑").replace(r" $\downarrow$", " ↓") + (f" ({note})" if note else "")
        best = {}
        for bpp in wide.columns:
            finite = wide[bpp][np.isfinite(wide[bpp].to_numpy(float))]
            if len(finite) >= 2:
                best[bpp] = finite.max() if data.columns[metric].higher_is_better else finite.min()
        marked = text.copy()
        for bpp, value in best.items():
            marked.loc[wide[bpp] == value, bpp] = "**" + marked.loc[wide[bpp] == value, bpp] + "**"
        matrix = marked.set_axis([f"{b:g} bpp" for b in wide.columns], axis=1)
        markdown += [f"### {heading}", ""] + matrix_markdown(matrix, "codec") + [""]
        latex.append(matrix_latex(text.set_axis([f"{b:g} bpp" for b in wide.columns], axis=1), "codec",
                                  escape(heading).replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$"), notes))
    return {"at_bpp.csv": long.assign(caveats=tables.caveat_text(data)).to_csv(index=False),
            "at_bpp.md": "\n".join(markdown) + "\n", "at_bpp.tex": "\n\n".join(latex) + "\n"}
