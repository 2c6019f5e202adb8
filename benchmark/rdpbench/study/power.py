"""``rdpbench study power``: how many raters a study needs, by simulation on throw-away copies.

Each of ``simulations`` runs copies ``study.json`` (nothing else: no answers, no salt) into a new
temporary folder, lets ``max_raters`` simulated raters answer every trial there
(:func:`rdpbench.study.simulate.simulate`, the web app's code path; seed ``seed + run``), and analyses
the first ``n`` of them for each ``n`` of ``GRID`` up to ``max_raters`` with the study's own analysis
(:func:`rdpbench.study.analysis.screen` and :func:`~rdpbench.study.analysis.preferences`). Raters are
independent, so the first ``n`` of a simulation are a sample of ``n``. The real study folder is only
read: its ``responses.sqlite`` is never opened.

Two questions (conventions written next to the numbers):

- ``target_se``: per ``n``, the largest preference SE over the study's pairings (``se`` of
  ``preferences.csv``: SD of per-rater preferences / sqrt(raters)), mean over simulations; raters
  needed = the smallest ``n`` whose mean is at most the target.
- ``effect`` P (0.5 < P < 1): the pairings whose preference under the model is at least P for one of
  their entries (``|pref - 0.5| >= P - 0.5``; model preference = mean over the pairing's trials of the
  chance of choosing entry a, noise included) must come out significant: a two-sided one-sample t-test
  of the per-rater preferences against 0.5 at level ``alpha``, ``t = (pref_a - 0.5) / se`` with
  ``raters - 1`` degrees of freedom (the per-rater SE of the analysis, so answers of one rater are not
  taken as independent); when all raters' preferences are equal (SE 0) the t-test is undefined and the
  sign test over raters decides (all ``n`` on one side: p = 2^(1 - n); none on a side: not significant). Power at ``n`` = the fraction of simulations in which it is significant, for
  the least-powered such pairing; raters needed = the smallest ``n`` with power >= ``power``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from rdpbench.study import design as designs
from rdpbench.study.analysis import preferences, responses_frame, screen
from rdpbench.study.session import Session, Shown
from rdpbench.study.simulate import parse_model, simulate

GRID = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
MAX_SIMULATIONS = 1000


def model_preferences(design: dict, model: str, noise: float) -> pd.DataFrame:
    """Per pairing (entry_a, entry_b): the preference for entry_a the model implies (mean over the
    pairing's trials of P(a chosen) = (1 - noise) p + noise / 2)."""
    probability = parse_model(model, design)
    rows = {}
    for trial in design["trials"]:
        if not trial["is_probe"]:
            p = (1 - noise) * probability(Shown("", trial, 0, False)) + noise / 2  # not swapped: a on the left
            rows.setdefault((trial["a"], trial["b"]), []).append(p)
    return pd.DataFrame([{"entry_a": a, "entry_b": b, "model_pref_a": float(np.mean(ps))}
                         for (a, b), ps in rows.items()])


def _significant(prefs: pd.DataFrame, alpha: float) -> pd.Series:
    t = (prefs["pref_a"] - 0.5) / prefs["se"]
    p = 2 * stats.t.sf(np.abs(t), prefs["n_raters"] - 1)
    unanimous = (prefs["pref_a"] != 0.5) & (2.0 ** (1 - prefs["n_raters"]) < alpha)  # SE 0: the sign test
    return pd.Series(np.where(prefs["se"] > 0, p < alpha, unanimous), index=prefs.index)


def power(folder: Path, model: str, target_se: float | None = None, effect: float | None = None,
          alpha: float = 0.05, target_power: float = 0.8, noise: float = 0.0, max_raters: int = 64,
          simulations: int = 20, seed: int = 0, progress=None) -> tuple[pd.DataFrame, int | None, str]:
    """(the curve: one row per rater count, the raters needed or None when ``max_raters`` is not
    enough, a sentence stating the question and conventions). Exactly one of ``target_se`` and
    ``effect``. ``progress(run, simulations)`` is called after each simulation."""
    design = designs.load(folder)  # read only: the real study folder is never written
    if design["design"] == "triplet":
        raise designs.StudyError("study power answers for 2AFC preferences; for a triplet study, simulate raters "
                                 "into a copy (study simulate --model jnd:...) and read the JND intervals of study analyze")
    if (target_se is None) == (effect is None):
        raise designs.StudyError("give one of --target-se SE and --effect P")
    if target_se is not None and not 0 < target_se < 0.5:
        raise designs.StudyError("--target-se is a standard error of a preference: between 0 and 0.5")
    if effect is not None and not 0.5 < effect < 1:
        raise designs.StudyError("--effect is a preference between 0.5 and 1 (e.g. 0.6: 60% prefer one entry)")
    if not 0 < alpha < 1 or not 0 < target_power < 1 or not 0 <= noise <= 1:
        raise designs.StudyError("--alpha and --power are probabilities between 0 and 1, --noise between 0 and 1")
    if not 2 <= max_raters <= GRID[-1] or not 1 <= simulations <= MAX_SIMULATIONS:
        raise designs.StudyError(f"--max-raters must be 2 to {GRID[-1]} and --simulations 1 to {MAX_SIMULATIONS}")
    grid = [n for n in GRID if n < max_raters] + [max_raters]
    targets = None
    if effect is not None:
        implied = model_preferences(design, model, noise)
        targets = implied[(implied["model_pref_a"] - 0.5).abs() >= effect - 0.5 - 1e-12]
        if targets.empty:
            raise designs.StudyError(f"no pairing has a preference of {effect:g} or more under {model} (largest: "
                                     f"{0.5 + (implied['model_pref_a'] - 0.5).abs().max():.3f}); lower --effect")
    else:
        parse_model(model, design)  # a bad model is one message before any simulation
    n_probes = sum(t["is_probe"] for t in design["trials"])
    per_run = []
    for run in range(simulations):
        with tempfile.TemporaryDirectory(prefix="rdpbench-power-") as scratch:
            copy = Path(scratch) / "study"
            copy.mkdir()
            shutil.copyfile(Path(folder) / designs.DESIGN_NAME, copy / designs.DESIGN_NAME)
            raters = simulate(copy, max_raters, model, noise, 0, seed + run)
            answers, _ = screen(responses_frame(Session(copy)), n_probes, include_simulated=True,
                                min_median_rt_s=0, max_same_side=100)
        for n in grid:
            prefs = preferences(answers[answers["rater"].isin(raters[:n])])
            if target_se is not None:
                per_run.append({"raters": n, "value": float(prefs["se"].max())})
            else:
                hits = prefs.merge(targets, on=["entry_a", "entry_b"])
                per_run.append({"raters": n, "value": _significant(hits, alpha).to_numpy(bool)})
        if progress:
            progress(run + 1, simulations)
    runs = pd.DataFrame(per_run)
    if target_se is not None:
        curve = runs.groupby("raters")["value"].mean().rename("mean_max_se").reset_index()
        met = curve[curve["mean_max_se"] <= target_se]
        question = (f"largest preference SE over the {len(prefs)} pairings, "
                    f"mean over {simulations} simulations of {model} (noise {noise:g}); target {target_se:g}")
    else:
        curve = (runs.groupby("raters")["value"].apply(lambda v: float(np.stack(list(v)).mean(axis=0).min()))
                 .rename("power").reset_index())
        met = curve[curve["power"] >= target_power]
        question = (f"power of a two-sided t-test (per-rater preferences against 0.5, alpha {alpha:g}) for the "
                    f"least-powered of {len(targets)} pairing(s) with a model preference of at least {effect:g}, "
                    f"over {simulations} simulations of {model} (noise {noise:g}); target power {target_power:g}")
    needed = int(met["raters"].iloc[0]) if len(met) else None
    return curve, needed, question


def print_progress(run: int, total: int) -> None:
    print(f"\rsimulation {run}/{total}", end="\n" if run == total else "", file=sys.stderr, flush=True)


def report(curve: pd.DataFrame, needed: int | None, question: str, max_raters: int) -> str:
    """The curve as a small Markdown table and the answer, for the terminal."""
    column = curve.columns[1]
    lines = [question, "", f"| raters | {column} |", "|---:|---:|"]
    lines += [f"| {row.raters} | {getattr(row, column):.4f} |" for row in curve.itertuples()]
    lines.append("")
    lines.append(f"raters needed: {needed}" if needed is not None else
                 f"raters needed: more than {max_raters} (raise --max-raters)")
    return "\n".join(lines)

