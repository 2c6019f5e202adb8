"""The summary as CSV, Markdown and LaTeX (booktabs), and values compared at equal rate.

- ``summary.csv``: one row per codec x setting with every metric, plus the report's caveats.
- ``summary.md``: the caveats, then one compact table per metric group (distortion, perceptual,
  no-reference, distribution) holding only the codecs and metrics that have values in that group,
  then the equal-rate tables and the BD-rates.
- ``summary.tex``: rdpbench.report.paper (one compact table per metric group).
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

from rdpbench import export
from rdpbench.report.data import ReportData, caveats
from rdpbench.report.intervals import NOT_SIGNIFICANT, paired_at_rate, per_image_matrix, value_at_rate

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
EQUAL_RATE_POINTS = 3


def table(data: ReportData, metrics: list[str] | None = None) -> pd.DataFrame:
    """codec, setting, n_images, bpp, the metrics (default all), n_patches with distribution metrics,
    then the count of every value (``n_bpp``, ``n_psnr``, ...; patches for distribution metrics, and
    ``n_feature_images``); rows that have at least one of these metrics."""
    metrics = data.metrics if metrics is None else metrics
    columns = ["codec", "setting", "n_images", "bpp", *metrics]
    distribution = set(data.distribution_metrics()) & set(metrics)
    if "n_patches" in data.summary.columns and distribution:
        columns.append("n_patches")
    columns += [export.count_column(c) for c in ["bpp", *metrics]]
    if distribution:
        columns.append("n_feature_images")
        columns += [f"{m}_ci_{end}" for m in metrics if m in distribution for end in ("low", "high")
                    if f"{m}_ci_{end}" in data.summary.columns]
    frame = data.summary.reindex(columns=columns)
    return frame[frame[metrics].notna().any(axis=1)].reset_index(drop=True)


def value_count(data: ReportData, row: dict, column: str) -> int | None:
    """The n to print beside ``column``'s value in ``row`` (a :func:`table` row): the images it is
    over when that is fewer than the folder's images (for a distribution metric, the images its
    patches came from), else None."""
    if column == "bpp" or (column in data.columns and data.columns[column].per_image):
        count = row.get(export.count_column(column))
    elif column in data.columns:
        count = row.get("n_feature_images")
    else:
        return None
    if count is None or (isinstance(count, float) and math.isnan(count)) or count >= data.context.n_images:
        return None
    return int(count)


def text_rows(data: ReportData, frame: pd.DataFrame, metric: str | None = None) -> tuple[list[str], list[list[str]]]:
    """The shown columns of ``frame`` and its cells as text: count columns are not shown, a value
    over fewer than the folder's images gets "(n=k)". ``metric``: format every column but bpp as
    this metric (the equal-rate tables)."""
    bounds = {f"{c}_ci_{end}" for c in frame.columns for end in ("low", "high")}
    hidden = {c for c in frame.columns if export.is_count_column(c, frame.columns) or c in bounds} | {"n_feature_images"}
    shown = [c for c in frame.columns if c not in hidden]
    rows = []
    for row in frame.to_dict("records"):
        cells = []
        for column in shown:
            text = format_value(data, metric if metric and column != "bpp" else column, row[column])
            low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
            if low is not None and high is not None and not (math.isnan(low) or math.isnan(high)):
                text += f" [{format_value(data, column, low)}, {format_value(data, column, high)}]"
            count = value_count(data, row, column)
            cells.append(f"{text} (n={count})" if count is not None and text != "–" else text)
        rows.append(cells)
    return shown, rows


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
    shown, rows = text_rows(data, frame, metric)
    lines = ["| " + " | ".join(_markdown_cell(header(data, c)) for c in shown) + " |",
             "|" + "|".join("---" for _ in shown) + "|"]
    for index, cells in enumerate(rows):
        marked = (bold or {}).get(index, set())
        cells = [f"**{cell}**" if column in marked else cell for column, cell in zip(shown, map(_markdown_cell, cells))]
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


def at_rates(data: ReportData, metric: str, rates: list[float]) -> tuple[pd.DataFrame, dict[int, set[str]], str]:
    """Rows: the rates; columns: bpp and one per codec with the metric there; the best codec per
    row ({row index: {codec column}}, among codecs with a value, by the metric's direction); and a
    note on the images compared. Per-image metrics are compared on the images every codec of the
    table has (:meth:`ReportData.common_images`); the note says how many when that is fewer than the
    folder's, and when the codecs' values come from different images (distribution metrics)."""
    codecs = [c for c in data.codecs() if len(data.curve(c, metric)) >= 2]
    images = data.common_images([c for c in codecs if c not in data.imported], metric)
    note = ""
    if images is not None and not images:
        images, note = None, "the codecs share no image with this metric: each codec's own images (not comparable)"
    elif not data.full_coverage(images):
        note = f"on the {len(images)} images every codec has (of {data.context.n_images})"
    elif images is None and "n_feature_images" in data.summary.columns:
        counts = data.summary.loc[data.summary["codec"].isin(codecs) & data.summary[metric].notna(), "n_feature_images"]
        if len(counts) and counts.min() < data.context.n_images:
            note = (f"values from {int(counts.min())}–{int(counts.max())} of the {data.context.n_images} images: "
                    "not all on the same images")

    def curve(codec):
        return data.curve(codec, metric, None if codec in data.imported else images)

    frame = pd.DataFrame({"bpp": rates, **{c: [value_at(curve(c), metric, r) for r in rates] for c in codecs}})
    bold = {}
    for index, row in frame[codecs].iterrows():
        finite = row[np.isfinite(row.to_numpy(float))]
        if len(finite) >= 2:
            best = finite.max() if data.columns[metric].higher_is_better else finite.min()
            bold[index] = set(finite.index[finite == best])
    return frame, bold, note


def _interval_text(value: float, low: float, high: float, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    interval = "" if low is None or math.isnan(low) else f" [{low:.{decimals}f}, {high:.{decimals}f}]"
    return f"{value:.{decimals}f}{interval}"


def bd_display(data: ReportData, bd: pd.DataFrame) -> pd.DataFrame:
    """The BD-rates as text for tables and the page: each value with its 95% interval in brackets,
    "n.s." where the BD-rate interval includes 0, the spread over the interpolations, and n."""
    rows = []
    for r in bd.to_dict("records"):
        decimals = data.decimals(r["metric"])
        rate = _interval_text(r["bd_rate_percent"], r["bd_rate_ci_low"], r["bd_rate_ci_high"], 2)
        if str(r["significance"]).startswith(NOT_SIGNIFICANT):
            rate += f" {NOT_SIGNIFICANT}"
        spread = ("–" if math.isnan(r["bd_rate_methods_low"]) else
                  f"{r['bd_rate_methods_low']:.2f} to {r['bd_rate_methods_high']:.2f}")
        rows.append({"codec": r["codec"], "anchor": r["anchor"], "metric": r["metric"], "n_images": r["n_images"],
                     "BD-rate % [95% CI]": rate, "BD-rate % over akima/pchip/cubic": spread,
                     "BD-metric [95% CI]": _interval_text(r["bd_metric"], r["bd_metric_ci_low"], r["bd_metric_ci_high"],
                                                          decimals),
                     "unit": r["unit"], "better": r["better"], "note": r["note"]})
    return pd.DataFrame(rows)


def interval_method(bd: pd.DataFrame) -> str:
    """The bootstrap description shared by the BD rows (each row's ``interval`` column has its own)."""
    described = [text for text in dict.fromkeys(bd["interval"].dropna()) if text]
    return "; ".join(described) if described else "no intervals"


def rate_tests(data: ReportData, metric: str, rates: list[float], anchor: str) -> pd.DataFrame:
    """At each rate, every other codec against ``anchor`` image by image (rdpbench.report.intervals.
    paired_at_rate: values interpolated on each image's own curve, sign and Wilcoxon tests)."""
    if not data.columns[metric].per_image or anchor in data.imported:
        return pd.DataFrame()
    images = sorted(set(data.per_image["image"]))

    def matrices(codec):
        settings = list(data.curve(codec, metric)["setting"])
        return (per_image_matrix(data.per_image, codec, settings, images, "bpp"),
                per_image_matrix(data.per_image, codec, settings, images, metric))

    reference = matrices(anchor)
    rows = []
    for codec in data.codecs():
        if codec == anchor or codec in data.imported or len(data.curve(codec, metric)) < 2:
            continue
        own = matrices(codec)
        for bpp in rates:
            result = paired_at_rate(value_at_rate(*own, bpp), value_at_rate(*reference, bpp),
                                    bool(data.columns[metric].higher_is_better))
            winner = codec if result["better_on"] > result["worse_on"] else anchor
            verdict = {"": "", NOT_SIGNIFICANT: NOT_SIGNIFICANT}.get(result["verdict"], f"{winner} better")
            rows.append({"metric": metric, "bpp": bpp, "codec": codec, "anchor": anchor, **result, "verdict": verdict})
    return pd.DataFrame(rows)


def rate_tests_display(frame: pd.DataFrame) -> pd.DataFrame:
    """rate_tests as text: "better on k of n images", the p-values, the verdict."""
    return pd.DataFrame({"bpp": [f"{b:.4f}" for b in frame["bpp"]], "codec": frame["codec"],
                         "better on": [f"{b} of {n} images" for b, n in zip(frame["better_on"], frame["n_images"])],
                         "sign test p": [f"{p:.3g}" for p in frame["sign_test_p"]],
                         "Wilcoxon p": [f"{p:.3g}" for p in frame["wilcoxon_p"]],
                         "mean difference": [f"{d:.4g}" for d in frame["mean_difference"]],
                         "verdict": frame["verdict"]})


RATE_TEST_NOTE = ("each image's value at the rate interpolated in log-rate on its own curve (images whose curve "
                  "does not reach the rate left out); two-sided sign test (ties left out) and Wilcoxon signed-rank "
                  f"test; {NOT_SIGNIFICANT}: sign test p >= 0.05")


def markdown(data: ReportData, bd: pd.DataFrame | None = None, anchor: str | None = None) -> str:
    lines = [f"**Caveats:** {caveat_text(data)}", ""]
    for title, metrics in groups(data).items():
        lines += [f"### {title.capitalize()}: {', '.join(data.columns[m].heading for m in metrics)}", ""]
        lines += _markdown_table(data, table(data, metrics)) + [""]
    rates = equal_rates(data)
    if rates:
        lines += ["### At equal rate (interpolated in log-rate on each curve; best per row bold)", ""]
        for metric in data.metrics:
            frame, bold, note = at_rates(data, metric, rates)
            if len(frame.columns) > 2:
                lines += [f"{header(data, metric)}{f' ({note})' if note else ''}:", ""]
                lines += _markdown_table(data, frame, bold, metric) + [""]
            tests = rate_tests(data, metric, rates, anchor) if anchor else pd.DataFrame()
            if len(tests):
                lines += [f"Paired per-image comparison with {_markdown_cell(anchor)} ({RATE_TEST_NOTE}):", ""]
                lines += _markdown_table(data, rate_tests_display(tests)) + [""]
    if bd is not None and len(bd):
        lines += [f"### BD-rate against {bd['anchor'].iloc[0]}", "",
                  f"Intervals: {interval_method(bd)}; {NOT_SIGNIFICANT}: the BD-rate interval includes 0.", ""]
        lines += _markdown_table(data, bd_display(data, bd).drop(columns="anchor"))
        lines += [""]
    lines += ["(↑/↓: higher/lower is better. Figures and a visual comparison: index.html.)"]
    return "\n".join(lines) + "\n"
