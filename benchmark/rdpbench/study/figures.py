"""Figures of ``study analyze``, in the report's style (:mod:`rdpbench.report.plots`; PNG, PDF, SVG).

- ``preference_vs_bpp``: the anchor ladder (GC, Fig. 5): % of included raters' answers preferring
  the test entry against each anchor setting's mean bpp, error bars ±1 SE of the per-rater means, the
  test entry's bpp as a dashed vertical line and 50% as a dotted horizontal one.
- ``human_vs_metrics``: normalised scores per method (HiFiC, Fig. 3): for the human Bradley–Terry
  score and each metric, the methods' scores min–max normalised to [0, 1] with 1 = best (direction
  of each metric respected), one group of bars per method.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rdpbench.report.plots import STYLE, save  # noqa: E402


def preference_vs_bpp(ladder: pd.DataFrame, savings: pd.DataFrame, folder: Path) -> list[str]:
    row = savings.iloc[0]
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(3.4, 2.6))
        axis.errorbar(ladder["anchor_bpp"], 100 * ladder["pref_test"], yerr=100 * ladder["se"].fillna(0),
                      marker="o", capsize=2, label=f"{row['test']} preferred over {row['anchor']}")
        axis.axhline(50, color="black", linestyle=":", linewidth=1)
        axis.axvline(row["test_bpp"], color="grey", linestyle="--", linewidth=1, label=f"{row['test']} bpp")
        if np.isfinite(row["anchor_bpp_at_50"]):
            axis.plot([row["anchor_bpp_at_50"]], [50], marker="x", color="black",
                      label=f"50%: anchor needs {row['savings_percent']:+.0f}% bits")
        axis.set_xlabel(f"{row['anchor']} bits per pixel [bpp]")
        axis.set_ylabel(f"% preferring {row['test']} (±1 SE)")
        axis.set_ylim(0, 100)
        axis.legend(frameon=False)
        return save(figure, folder, "preference_vs_bpp")


def normalised(scores: dict[str, float]) -> dict[str, float]:
    """Min–max to [0, 1], 1 = the highest score (scores are oriented higher-is-better)."""
    values = np.array(list(scores.values()), float)
    span = values.max() - values.min() if len(values) else 0.0
    return {k: (v - values.min()) / span if span > 0 else 1.0 for k, v in scores.items()}


def human_vs_metrics(rank: pd.DataFrame, metric_scores: dict[str, dict[str, float]], folder: Path) -> list[str]:
    """``metric_scores``: {metric heading: {entry: score oriented higher-is-better}}."""
    entries = list(rank["entry"])
    columns = {"human (BT)": normalised(dict(zip(rank["entry"], rank["bt_score"])))}
    columns.update({heading: normalised(s) for heading, s in metric_scores.items() if len(s) > 1})
    width = 0.8 / len(columns)
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(max(3.4, 0.9 * len(entries) + 1), 2.6))
        for i, (name, values) in enumerate(columns.items()):
            axis.bar(np.arange(len(entries)) + i * width, [values.get(e, np.nan) for e in entries], width,
                     label=name, color="black" if i == 0 else None)
        axis.set_xticks(np.arange(len(entries)) + 0.4 - width / 2, entries, rotation=30, ha="right")
        axis.set_ylabel("normalised score (1 = best)")
        axis.legend(frameon=False, ncol=2)
        return save(figure, folder, "human_vs_metrics")
