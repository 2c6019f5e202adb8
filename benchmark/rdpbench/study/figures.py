"""Figures of ``study analyze``, in the report's style (:mod:`rdpbench.report.plots`; PNG, PDF, SVG).

- ``preference_vs_bpp``: the anchor ladder (GC, Fig. 5): % of included raters' answers preferring
  the test entry against each anchor setting's mean bpp, error bars ±1 SE of the per-rater means, the
  test entry's bpp as a dashed vertical line and 50% as a dotted horizontal one; the crossing's
  legend gives the savings with their bootstrap interval (``savings_low``/``savings_high``) when there is one.
- ``human_vs_metrics``: one small panel per score (after HiFiC, Fig. 3), methods on a shared axis
  (best human score at the top, each with its mean bpp in the label): the human Bradley–Terry
  log-strength with its 95% bootstrap CI over raters, then each metric's raw mean over the study's
  images in its own unit and direction (the panel title says which is better) with a 95% bootstrap
  CI over images. Nothing is normalised, so every method stays visible and two methods show their
  real difference and its uncertainty.
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
            low, high = row.get("savings_low", np.nan), row.get("savings_high", np.nan)
            spread = f" (95% CI {low:+.0f} to {high:+.0f}%)" if np.isfinite(low) and np.isfinite(high) else ""
            axis.plot([row["anchor_bpp_at_50"]], [50], marker="x", color="black",
                      label=f"50%: anchor needs {row['savings_percent']:+.0f}% bits{spread}")
        axis.set_xlabel(f"{row['anchor']} bits per pixel [bpp]")
        axis.set_ylabel(f"% preferring {row['test']} (±1 SE)")
        axis.set_ylim(0, 100)
        axis.legend(frameon=False, loc="upper left", bbox_to_anchor=(0, -0.2))  # below the axes, off the data
        return save(figure, folder, "preference_vs_bpp")


def human_vs_metrics(rank: pd.DataFrame, panels: list[tuple[str, bool, pd.DataFrame]], folder: Path) -> list[str]:
    """Small multiples sharing one method axis. ``rank``: entry, bpp, bt_score, bt_ci_low, bt_ci_high
    (:func:`rdpbench.study.analysis.ranking`); ``panels``: (metric heading with unit, higher_is_better,
    frame of entry, value, low, high from :func:`rdpbench.study.intervals.metric_means`)."""
    entries = list(rank["entry"])  # best human score first, drawn at the top
    bpp = dict(zip(rank["entry"], rank["bpp"])) if "bpp" in rank else {}
    labels = [f"{e} ({bpp[e]:.3f} bpp)" if np.isfinite(bpp.get(e, np.nan)) else e for e in entries]
    y = np.arange(len(entries))[::-1]
    columns = [("human: Bradley–Terry log-strength\nhigher = preferred\n95% CI over raters",
                rank.rename(columns={"bt_score": "value", "bt_ci_low": "low", "bt_ci_high": "high"}))]
    columns += [(f"{heading}\n{'higher' if better else 'lower'} is better\n95% CI over images", frame)
                for heading, better, frame in panels]
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(columns), sharey=True, squeeze=False, layout="constrained",
                                    figsize=(0.6 + 2.1 * len(columns), 1.2 + 0.32 * len(entries)))
        for axis, (title, frame) in zip(axes[0], columns):
            frame = frame.set_index("entry").reindex(entries)
            value, low, high = (frame[c].to_numpy(float) for c in ("value", "low", "high"))
            error = np.where(np.isfinite(low) & np.isfinite(high), [value - low, high - value], 0.0)
            axis.errorbar(value, y, xerr=error, fmt="o", color="black", capsize=2)
            axis.set_title(title, fontsize=7)
            axis.margins(x=0.15)
        axes[0][0].set_yticks(y, labels)
        axes[0][0].set_ylim(-0.6, len(entries) - 0.4)
        figure.supxlabel("Metrics: raw means over the study's images in their own units; FID-type values "
                         "are one number per method (no interval).", fontsize=6)
        return save(figure, folder, "human_vs_metrics")
