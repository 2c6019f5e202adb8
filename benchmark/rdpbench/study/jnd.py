"""Triplet studies (JPEG AIC-3 boosted triplet comparisons): each entry's distance from the original in
JND units, by maximum likelihood under Thurstone's Case V model, with bootstrap intervals over raters.

Conventions (each written next to the numbers in ``jnd_scale.csv`` and the analysis page):

- **Scale**: every entry ``e`` has a value ``x_e``, its perceived distance from the original in JND
  units; the original is anchored at ``x = 0`` (it is the middle picture of every triplet and one side
  of the trials against the reference). Larger is further from the original (worse).
- **Model** (Thurstone Case V on the distances to the middle picture): in a triplet A | original | B a
  rater judges A closer to the original with probability ``Phi(K (x_B - x_A))``, ``Phi`` the standard
  normal CDF and ``K = Phi^-1(0.75) = 0.6745``: **1 JND is the difference that 75% of answers
  resolve** (and 25% get the other way): sigma = 1 / K = 1.4826, the JND/JOD unit of Mantiuk's pwcmp and
  FovVideoVDP, used here for the JND units of the AIC-3 triplet analyses (Men et al. 2021; Testolina
  et al. 2024), whose summaries do not state the probability.
- **"Not sure"** (relaxed forced choice, Jenadeleh et al. 2023: it replaces a guess) counts as half an
  answer for each side: its log-likelihood term is ``(log P(A closer) + log P(B closer)) / 2``.
  ``not_sure="drop"`` leaves those answers out instead.
- **Fit**: the negative log-likelihood of all included raters' answers (probes excluded) is minimised
  with ``scipy.optimize.minimize`` (``trust-exact``: analytic gradient and Hessian; it is convex, so the
  minimum is the global one) over the entries' values. An entry whose answers all agree has no finite
  estimate: it is reported at ``+-MAX_JND`` and ``interval`` says so. ``jnd_scale.csv`` pools each
  entry's answers over the study's images (bpp: the mean over them); ``jnd_scale_per_image.csv`` fits
  each image's answers alone (its bpp).
- **Intervals**: 95% percentile bootstrap over raters: the fits to the resamples of the raters with
  replacement that :func:`rdpbench.study.intervals.rater_weights` draws (``study analyze --bootstrap``
  resamples, default 1000, ``--seed``), by :meth:`rdpbench.report.intervals.Bootstrap.interval`.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from rdpbench.report.intervals import Bootstrap
from rdpbench.study.design import ORIGINAL, split_entry
from rdpbench.study.intervals import rater_weights
from rdpbench.study.session import NOT_SURE

K = float(stats.norm.ppf(0.75))   # 0.6745: a difference of 1 JND is resolved by 75% of answers
MAX_JND = 10.0
COLUMNS = ["entry", "codec", "setting", "bpp", "jnd", "jnd_low", "jnd_high", "n_answers", "interval"]


def probability_closer(x_a: float, x_b: float) -> float:
    """P(a rater judges A closer to the original than B) for scale values in JND units."""
    return float(special.ndtr(K * (x_b - x_a)))


def counts(answers: pd.DataFrame, entries: list[str], not_sure: str = "half") -> tuple[np.ndarray, list[str]]:
    """Per rater, the weighted answers as an array (raters, m, m), m = 1 + len(entries), index 0 the
    original: ``[r, i, j]`` is how often rater r judged i closer to the original than j (a not sure
    adds 1/2 to both orders, or nothing with ``not_sure="drop"``); and the raters in that order (as they
    first appear in ``answers``, which lists them in registration order: a seeded simulation then
    resamples identically).
    ``answers``: rows with rater, left, right (entries or ``original``) and choice (``analysis.screen``'s)."""
    if not_sure not in ("half", "drop"):
        raise ValueError("not_sure is 'half' or 'drop'")
    index = {ORIGINAL: 0, **{entry: i + 1 for i, entry in enumerate(entries)}}
    raters = list(pd.unique(answers["rater"]))  # first-answer order: registration order, not the random ids
    row = {rater: r for r, rater in enumerate(raters)}
    table = np.zeros((len(raters), len(index), len(index)))
    for rater, left, right, choice in zip(answers["rater"], answers["left"], answers["right"], answers["choice"]):
        r, i, j = row[rater], index[left], index[right]
        if choice == "left":
            table[r, i, j] += 1.0
        elif choice == "right":
            table[r, j, i] += 1.0
        elif choice == NOT_SURE and not_sure == "half":
            table[r, i, j] += 0.5
            table[r, j, i] += 0.5
    return table, raters


def negative_log_likelihood(values: np.ndarray, table: np.ndarray) -> tuple[float, np.ndarray]:
    """The Case V negative log-likelihood of ``values`` (the m - 1 entries; the original is 0) for the
    pooled answers ``table`` (m, m), and its gradient."""
    x = np.concatenate([[0.0], values])
    i, j = np.nonzero(table)
    weight = table[i, j]
    z = K * (x[j] - x[i])
    log_p = special.log_ndtr(z)
    slope = -weight * K * np.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_p)  # d(-w log Phi(z))/dx_j
    gradient = np.zeros(len(x))
    np.add.at(gradient, j, slope)
    np.add.at(gradient, i, -slope)
    return float(-(weight * log_p).sum()), gradient[1:]


def hessian(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The Hessian (m - 1, m - 1) of :func:`negative_log_likelihood`: each answer adds
    ``w K^2 l (z + l)``, ``l = phi(z) / Phi(z)``, along ``e_j - e_i`` (positive semi-definite: the
    negative log-likelihood is convex)."""
    x = np.concatenate([[0.0], values])
    i, j = np.nonzero(table)
    z = K * (x[j] - x[i])
    ratio = np.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - special.log_ndtr(z))
    curvature = table[i, j] * K * K * ratio * (z + ratio)
    matrix = np.zeros((len(x), len(x)))
    np.add.at(matrix, (j, j), curvature)
    np.add.at(matrix, (i, i), curvature)
    np.add.at(matrix, (i, j), -curvature)
    np.add.at(matrix, (j, i), -curvature)
    return matrix[1:, 1:]


def fit(table: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood scale values (m - 1,) in JND units for pooled answers ``table`` (m, m):
    ``scipy.optimize.minimize`` with ``trust-exact`` (Newton steps in a trust region, analytic gradient
    and Hessian; the negative log-likelihood is convex, so its minimum is the global one), from
    ``start`` (default 0). Values beyond ``MAX_JND`` (answers that all agree have no finite maximum:
    the fit runs off until the gradient vanishes) are reported at ``+-MAX_JND``."""
    size = table.shape[0] - 1
    result = optimize.minimize(negative_log_likelihood, np.zeros(size) if start is None else start, args=(table,),
                               jac=True, hess=hessian, method="trust-exact", options={"gtol": 1e-12, "maxiter": 500})
    return np.clip(result.x, -MAX_JND, MAX_JND)


def scale(answers: pd.DataFrame, design: dict, bootstrap: Bootstrap = Bootstrap(), not_sure: str = "half",
          image: str | None = None) -> pd.DataFrame:
    """One row per entry (``COLUMNS``), sorted by codec and bpp: the JND value, its 95% percentile
    bootstrap interval over raters, the answers involving it and what the interval is. ``bpp`` is the
    mean over the study's images, or the bpp on ``image`` when given (``answers`` then being that
    image's)."""
    from rdpbench.study.analysis import mean_bpp

    entries = list(design["entries"])
    table, raters = counts(answers, entries, not_sure)
    pooled = table.sum(axis=0)
    values = fit(pooled)
    weights = rater_weights(len(raters), bootstrap) if len(raters) else np.empty((0, 0))
    samples = np.array([fit(np.tensordot(w, table, axes=1), start=values) for w in weights])
    low, high = (np.array([bootstrap.interval(samples[:, k])[:2] for k in range(len(entries))]).T if len(samples)
                 else (np.full(len(entries), np.nan),) * 2)
    involved = pd.concat([answers["left"], answers["right"]]).value_counts()
    if not_sure == "drop":
        kept = answers[answers["choice"] != NOT_SURE]
        involved = pd.concat([kept["left"], kept["right"]]).value_counts()
    method = f"95% percentile bootstrap over {len(raters)} raters (B={bootstrap.resamples}, seed {bootstrap.seed})"
    rows = []
    for k, entry in enumerate(entries):
        codec, setting = split_entry(entry)
        n = int(involved.get(entry, 0))
        value = float(values[k]) if n else math.nan
        note = method
        if not n:
            note = "no answers"
        elif abs(value) >= MAX_JND - 1e-6:
            note = f"at the {MAX_JND:g} JND bound: the answers (all agreeing) give no finite estimate; {method}"
        bpp = mean_bpp(design, entry) if image is None else design["values"][entry].get(image, {}).get("bpp")
        rows.append({"entry": entry, "codec": codec, "setting": setting, "bpp": math.nan if bpp is None else bpp,
                     "jnd": value, "jnd_low": float(low[k]) if n else math.nan,
                     "jnd_high": float(high[k]) if n else math.nan, "n_answers": n, "interval": note})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["codec", "bpp"], kind="stable").reset_index(drop=True)


def per_image(answers: pd.DataFrame, design: dict, bootstrap: Bootstrap = Bootstrap(),
              not_sure: str = "half") -> pd.DataFrame:
    """:func:`scale` fitted on each image's answers alone (AIC-3 reconstructs a scale per source
    image): ``image`` and ``COLUMNS``, the entries the image's trials showed."""
    tables = [scale(group, design, bootstrap, not_sure, image).query("n_answers > 0").assign(image=image)
              for image, group in answers.groupby("image", sort=True)]
    frame = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS + ["image"])
    return frame[["image", *COLUMNS]]


def figure(table: pd.DataFrame, folder: Path) -> list[str]:
    """``jnd_vs_bpp.{png,pdf,svg}``: JND against mean bpp, one line per codec, 95% interval bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rdpbench.report.plots import STYLE, save

    with plt.rc_context(STYLE):
        axes_figure, axis = plt.subplots(figsize=(3.4, 2.6))
        for codec, group in table.dropna(subset=["jnd"]).groupby("codec", sort=False):
            error = np.vstack([group["jnd"] - group["jnd_low"], group["jnd_high"] - group["jnd"]]).clip(0)
            axis.errorbar(group["bpp"], group["jnd"], yerr=error, marker="o", capsize=2, label=codec)
        axis.axhline(0, color="black", linestyle=":", linewidth=1)
        axis.set_xlabel("bits per pixel [bpp] (mean over the study's images)")
        axis.set_ylabel("distance from the original [JND], 95% CI")
        axis.legend(frameon=False)
        return save(axes_figure, folder, "jnd_vs_bpp")


def analyze(answers: pd.DataFrame, design: dict, out: Path, summary: str, raters: pd.DataFrame,
            bootstrap: Bootstrap = Bootstrap()) -> list[str]:
    """``study analyze`` of a triplet study: ``jnd_scale.{csv,md,tex}``, ``jnd_scale_per_image.*``,
    ``jnd_vs_bpp.*`` and ``index.html`` in ``out``; ``summary`` (screening and sources) heads the page,
    ``raters`` (``analysis.screen``'s table) ends it."""
    from rdpbench.report.page import STYLE
    from rdpbench.study.page import _html, _tables

    table, by_image = scale(answers, design, bootstrap), per_image(answers, design, bootstrap)
    written = _tables(table, out, "jnd_scale") + _tables(by_image, out, "jnd_scale_per_image")
    written += figure(table, out)
    shares = answers["choice"].value_counts()
    counted = ", ".join(f"{int(shares.get(c, 0))} {c}" for c in ("left", "right", NOT_SURE))
    request = design["request"]
    boost = (f"flicker at {request['flicker_hz']:g} cycles per second (each picture {500 / request['flicker_hz']:.0f} "
             "ms)" if request.get("flicker_hz") else "no flicker")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>study {html.escape(design['study_id'])}</title>{STYLE}</head><body>
<h1>Triplet study {html.escape(design['study_id'])}: JND scale</h1>
<p>{html.escape(summary)} Only included raters count below; answers counted: {counted}.</p>
<p>Each trial showed the original in the middle and two pictures beside it (reconstructions, or the original
itself); raters chose the side closer to the original{" or not sure" if request.get("not_sure") else ""}
({boost}; zoom 1:1, 2:1, 4:1).</p>
<p><b>JND</b>: distance from the original (anchored at 0) by maximum likelihood under Thurstone's Case V model;
1 JND = the difference 75% of answers resolve (P = Phi({K:.4f} &Delta;)). Not sure = half an answer for each
side. Values are pooled over the study's images and bounded to &plusmn;{MAX_JND:g} JND; intervals:
95% percentile bootstrap over raters ({bootstrap.resamples} resamples, seed {bootstrap.seed}; study analyze's
--bootstrap and --seed). bpp: mean over the study's images.
Files: <a href="jnd_scale.csv">jnd_scale.csv</a>, <a href="jnd_scale_per_image.csv">jnd_scale_per_image.csv</a>
(the same fit on each image's answers alone, bpp of that image).</p>
<p><img src="jnd_vs_bpp.png" style="max-width:600px" alt="JND against bpp"></p>
{_html(table)}
<h2>Per image</h2>{_html(by_image)}
<h2>Raters</h2>{_html(raters)}
</body></html>
"""
    (out / "index.html").write_text(page)
    return written + ["index.html"]
