"""``rdpbench study analyze``: every table (CSV, Markdown, LaTeX), figure and ``index.html`` of a study.

Files: ``raters.csv`` (screening of every rater), ``preferences.csv``, ``ranking.csv``,
``metric_agreement.csv``, ``bitrate_savings.csv`` and ``ladder.csv`` (anchor ladders),
``win_rates.csv`` and ``unmatched.csv`` (matched bitrates), the breakdowns of
:mod:`rdpbench.study.breakdowns` (``per_image.csv``, ``per_position.csv``, ``side_bias.csv``), each
also as ``.md`` and ``.tex``; the figures of
:mod:`rdpbench.study.figures`; ``examples/`` (the pictures of a few trials) and ``index.html``, which
states the conventions of :mod:`rdpbench.study.analysis` next to the numbers.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pandas as pd

from rdpbench.report.intervals import Bootstrap
from rdpbench.report.page import STYLE
from rdpbench.study import analysis, breakdowns, figures, intervals, jnd
from rdpbench.safe_paths import inside
from rdpbench.study.design import StudyError, metric_columns, picture
from rdpbench.study.session import Session

EXAMPLES = 3


def _tables(frame: pd.DataFrame, folder: Path, stem: str) -> list[str]:
    frame.to_csv(folder / f"{stem}.csv", index=False)
    (folder / f"{stem}.md").write_text(frame.to_markdown(index=False, floatfmt=".4g") + "\n")
    (folder / f"{stem}.tex").write_text("% requires \\usepackage{booktabs}\n"
                                        + frame.to_latex(index=False, float_format="%.4g"))
    return [f"{stem}.csv", f"{stem}.md", f"{stem}.tex"]


def _html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)


def sources_note(frame: pd.DataFrame, include_simulated: bool) -> str:
    """One sentence on which sources the analysis counts (see :func:`analysis.leaves_out_simulated`)."""
    counts = frame["source"].value_counts()
    stored = ", ".join(f"{counts[s]} {s}" for s in counts.index)
    simulated = int(counts.get("simulated", 0))
    if not simulated:
        return f"Answers by source: {stored}."
    if analysis.leaves_out_simulated(frame, include_simulated):
        return (f"Answers by source: {stored}; the {simulated} simulated answers are left out "
                "(`study analyze --include-simulated` keeps them).")
    if simulated == len(frame):
        return f"SIMULATED: all {simulated} answers come from `study simulate`; no person answered."
    return f"Answers by source: {stored}; SIMULATED answers are included (--include-simulated)."


def screening_note(raters: pd.DataFrame, n_probes: int, min_median_rt_s: float, max_same_side: float) -> str:
    """One sentence counting the raters per screening outcome (``analysis.screen``'s statuses)."""
    status = raters["status"]
    count = lambda prefix: int(status.str.startswith(prefix).sum())  # noqa: E731
    parts = [f"{count('included')} included", f"{count('excluded: failed')} excluded for failing a probe",
             f"{count('excluded: speeder')} excluded as speeders (median response time under {min_median_rt_s:g} s)",
             f"{count('excluded: straight')} excluded as straight-liners (same side on over {max_same_side:g}% "
             "of their answers)", f"{count('unscreened')} unscreened (not all {n_probes} probes answered)"]
    if count("left out"):
        parts.append(f"{count('left out')} simulated left out")
    return f"{len(raters)} raters: {', '.join(parts)}."


def analyze(folder: Path, out: Path, include_simulated: bool = False,
            min_median_rt_s: float = analysis.MIN_MEDIAN_RT_S,
            max_same_side: float = analysis.MAX_SAME_SIDE_PERCENT, bootstrap: Bootstrap = Bootstrap()) -> list[str]:
    """Write the analysis of the study in ``folder`` into ``out``; return the files written.
    Simulated answers count only in a study without real ones or with ``include_simulated``; the
    speeder and straight-liner thresholds are those of :func:`analysis.screen`; ``bootstrap``: the
    resamples and seed of the intervals of :mod:`rdpbench.study.intervals` and
    :mod:`rdpbench.study.breakdowns`."""
    if not min_median_rt_s >= 0 or not 0 <= max_same_side <= 100:
        raise StudyError("--min-median-rt must be 0 or more seconds and --max-same-side a percentage (0-100)")
    if bootstrap.resamples < 0:
        raise StudyError("--bootstrap must be 0 (no intervals) or more resamples")
    session = Session(folder)
    design = session.design
    frame = analysis.responses_frame(session)
    if frame.empty:
        raise StudyError(f"{folder} has no answers yet: serve it (`rdpbench study serve {folder}`) or import "
                         "answer files first")
    n_probes = sum(t["is_probe"] for t in session.trials)
    answers, raters = analysis.screen(frame, n_probes, include_simulated, min_median_rt_s, max_same_side)
    out.mkdir(parents=True, exist_ok=True)
    written = _tables(raters, out, "raters")
    screening = (screening_note(raters, n_probes, min_median_rt_s, max_same_side) + " "
                 + sources_note(frame, include_simulated))
    if answers.empty:
        raise StudyError(f"no answers of included raters in {folder} ({screening})")
    if design["design"] == "triplet":  # boosted triplets: a JND scale, not 2AFC preferences
        return written + jnd.analyze(answers, design, out, screening, raters, bootstrap)
    prefs = intervals.preference_intervals(analysis.preferences(answers), answers, bootstrap)
    rank = analysis.ranking(answers, design["entries"])
    rank.insert(1, "bpp", [analysis.mean_bpp(design, entry) for entry in rank["entry"]])  # rank only at similar bpp
    agreement = analysis.metric_agreement(answers, design, rank)
    written += _tables(prefs, out, "preferences") + _tables(rank, out, "ranking")
    written += _tables(agreement, out, "metric_agreement")
    sections = []
    if design["design"] == "anchor-ladder":
        ladder, savings = analysis.bitrate_savings(prefs, design)
        savings = intervals.savings_intervals(savings, answers, design, bootstrap)
        written += _tables(ladder, out, "ladder") + _tables(savings, out, "bitrate_savings")
        written += figures.preference_vs_bpp(ladder, savings, out)
        row = savings.iloc[0]
        claim = (f"the anchor needs {row['savings_percent']:+.1f}% bits to be preferred as often as "
                 f"{html.escape(row['test'])}" if not row["note"] else html.escape(row["note"]))
        sections.append(f"<h2>Anchor ladder (GC Fig. 5)</h2><p>50% crossing: {claim}; 95% interval of the savings "
                        f"{_span(row['savings_low'], row['savings_high'], '%+.1f%%')} ({html.escape(row['interval'])}; "
                        f"{row['no_crossing']} of {bootstrap.resamples} resamples had no crossing). Interpolation "
                        f"linear in bpp; bpp are means over the study's (resampled) images.</p>"
                        f"<p><img src=\"preference_vs_bpp.png\" "
                        f"style=\"max-width:600px\" alt=\"preference vs bpp\"></p>{_html(savings)}{_html(ladder)}")
    if design["design"] == "matched-bitrate":
        rates = intervals.win_rate_intervals(analysis.win_rates(answers, design), answers, bootstrap)
        missed = pd.DataFrame(design.get("unmatched", []), columns=["image", "setting", "nearest", "bpp_diff",
                                                                    "image_dropped"])
        written += _tables(rates, out, "win_rates") + _tables(missed, out, "unmatched")
        sections.append(f"<h2>Matched bitrates</h2><p>Pooled win rate of {html.escape(rates['codec_a'][0])}; "
                        f"boot_low/boot_high: the 95% bootstrap interval over raters and images (quote this one); "
                        f"ci_low/ci_high: 95% Wilson interval and sign_p: two-sided sign test of the pooled answers "
                        f"(they treat one rater's answers as independent, so they are too narrow when raters "
                        f"differ); pairs with |Δbpp| ≤ {design['request']['max_bpp_diff']}.</p>{_html(rates)}"
                        f"<p>Not matched at study creation (no setting of {html.escape(rates['codec_b'][0])} within "
                        f"the tolerance on that image): {len(missed)} setting(s); {int(rates['images_dropped'][0])} "
                        f"image(s) had no match at all and are not in the study (image_dropped).</p>{_html(missed)}")
    written += _breakdowns(session, frame, answers, raters, bootstrap, out, sections)
    columns = metric_columns(design)
    panels = [(columns[m].heading, bool(columns[m].higher_is_better), intervals.metric_means(design, m, bootstrap))
              for m in agreement["metric"]]
    written += figures.human_vs_metrics(rank, [p for p in panels if len(p[2])], out)
    examples = _examples(session, answers, out)
    links = " · ".join(f'<a href="{html.escape(f)}">{html.escape(f)}</a>' for f in written if f.endswith(".csv"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>study {html.escape(design['study_id'])}</title>{STYLE}</head><body>
<h1>2AFC study {html.escape(design['study_id'])} ({html.escape(design['design'])})</h1>
<p>{len(session.trials)} trials per rater ({n_probes} probes: {html.escape(design['probe'])}). {screening}
Only included raters count below.</p><p>Files: {links}</p>
{''.join(sections)}
<h2>Ranking</h2><p>Bradley–Terry log-strengths (mean 0) with 95% bootstrap CIs over raters
({analysis.BOOTSTRAP} resamples); Elo median and 2.5–97.5% over {analysis.ELO_ORDERS} random answer orders
(start {analysis.ELO_START:.0f}, K {analysis.ELO_K:.0f}).</p>{_html(rank)}
<p><img src="human_vs_metrics.png" style="max-width:700px" alt="human vs metrics"></p>
<h2>Preferences per pairing</h2><p>pref_a: mean over raters of each rater's fraction of answers preferring
entry_a; se: SE of those per-rater means; boot_low/boot_high: 95% bootstrap interval over raters and images
({html.escape(intervals.describe(bootstrap, answers['rater'].nunique(), answers['image'].nunique()))}).
ci_low/ci_high: 95% Wilson interval and sign_p: two-sided sign test of the pooled answers.
<strong>Clustering caveat</strong>: the pooled answers are not independent (each rater gives many, and
raters differ), so the Wilson interval and the sign test are too narrow and too small; the bootstrap
over raters (and images) is the interval to quote.</p>{_html(prefs)}
<h2>Metric–human agreement</h2><p>pair_agreement: fraction of trials with a strict human majority where the
metric rates the majority's choice better (whole-image values; 95% Wilson CI); kendall_tau: tau-b between the
metric's and the Bradley–Terry ranking of methods.</p>{_html(agreement)}
<h2>Example trials</h2>{examples}
<h2>Raters</h2>{_html(raters)}
</body></html>
"""
    (out / "index.html").write_text(page)
    return written + ["index.html"]


def _span(low: float, high: float, form: str) -> str:
    return f"[{form % low}, {form % high}]" if pd.notna(low) and pd.notna(high) else "undefined"


def _breakdowns(session: Session, frame: pd.DataFrame, answers: pd.DataFrame, raters: pd.DataFrame,
                bootstrap: Bootstrap, out: Path, sections: list[str]) -> list[str]:
    """Per-image, per-position and left/right tables (:mod:`rdpbench.study.breakdowns`) and their section."""
    included = frame["rater"].isin(raters.loc[raters["status"] == "included", "rater"])
    probes = frame[included & frame["is_probe"] & frame["rater"].isin(answers["rater"])]
    by_image = breakdowns.per_image(answers, bootstrap)
    by_position = breakdowns.per_position(answers, len(session.trials), bootstrap)
    sides = breakdowns.side_bias(answers, probes, bootstrap)
    written = _tables(by_image, out, "per_image") + _tables(by_position, out, "per_position")
    written += _tables(sides, out, "side_bias")
    sections.append(f"""<h2>Breakdowns</h2><p><strong>Left/right bias</strong> (sides are random per trial, so an
unbiased rater chooses left half of the time): share of left choices of the included raters' test answers, with a
95% bootstrap interval over raters and a two-sided binomial test against 1/2 (which treats the answers as
independent); probe answers in their own row (there the side of the original is random, so it checks the
randomisation); then each rater with a Wilson interval.</p>{_html(sides.head(2))}
<p>Per rater: side_bias.csv. <strong>Per position</strong> (learning/fatigue): the session cut into
{breakdowns.POSITION_BLOCKS} blocks of trial positions (1 = first trial, probes included); agreement = share of
answers choosing what the other included raters mostly chose on the same trial (ties and lone answers not
counted), 95% bootstrap over raters.</p>{_html(by_position)}
<p><strong>Per image</strong>: each pairing's pref_a on one image with a 95% bootstrap over raters: per_image.csv
({len(by_image)} rows).</p>""")
    return written


def _examples(session: Session, answers: pd.DataFrame, out: Path) -> str:
    trials = {t["id"]: t for t in session.trials}
    (out / "examples").mkdir(exist_ok=True)
    parts = []
    for trial_id, group in list(answers.groupby("trial"))[:EXAMPLES]:
        trial = trials[trial_id]
        cells = []
        for label, name in (("original", trial["original"]), (trial["a"], trial["a_file"]), (trial["b"], trial["b_file"])):
            shutil.copyfile(picture(session.folder, name), inside(out / "examples", name, "study picture name"))
            share = "" if label == "original" else f" — chosen by {int((group['chosen'] == label).sum())}/{len(group)}"
            cells.append(f'<figure><img src="examples/{name}" alt="{html.escape(label)}" style="image-rendering:'
                         f'pixelated"><figcaption>{html.escape(label)}{share}</figcaption></figure>')
        parts.append(f"<h3>{html.escape(trial['image'])}</h3><div class=\"grid\">{''.join(cells)}</div>")
    return "".join(parts)
