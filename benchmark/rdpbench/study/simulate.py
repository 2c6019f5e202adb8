"""``rdpbench study simulate``: synthetic raters that answer through :class:`~rdpbench.study.session.Session`,
the code path of the web app (for power analysis — how many raters for a given SE — and for tests).

Models
- ``bt:E1=s1,E2=s2,...``: Bradley–Terry log-strengths per entry; the left entry is chosen with
  probability ``1 / (1 + exp(s_right - s_left))``. Every entry of the study needs a strength.
- ``metric:NAME``: prefer the entry that NAME (a per-image metric stored in the study) rates better on
  the trial's image; equal values are a coin flip.
- ``jnd:E1=x1,E2=x2,...``: each entry's distance from the original in JND units (the original is 0);
  the left side is judged closer to the original with probability ``Phi(K (x_right - x_left))``,
  ``K = Phi^-1(0.75)``: the model and JND convention :mod:`rdpbench.study.jnd` reconstructs. The only
  model for triplet studies. With ``not_sure`` Q (studies offering "not sure"), a rater says not sure
  instead of a fraction Q of the answers they would have guessed: writing a forced answer's
  probability p as ``1 - g/2`` for the larger side, g = 2 min(p, 1 - p) is the guessed share, so not
  sure comes with probability ``Q g`` and each side loses ``Q g / 2``. Counting not sure as half an
  answer for each side (:mod:`rdpbench.study.jnd`) then leaves every side's expected share at p.

With probability ``noise`` an attentive rater answers a test trial at random instead. Attentive
raters always choose the original on probe trials (noise models doubt between two close pictures,
not inattention); ``inattentive`` raters answer every trial (probes included) at random, so
each probe catches them with probability 1/2. Raters are registered with source ``simulated:<model>``
(``simulated:random`` for inattentive ones) and their answers with source ``simulated``, so
``study analyze`` leaves them out of a study with real answers unless ``--include-simulated``;
their response times are synthetic (``MIN_DISPLAY_MS`` plus a gamma of shape 4, scale 800 ms) and
mean nothing.
"""

from __future__ import annotations

import math

import numpy as np

from rdpbench.study import jnd
from rdpbench.study.design import ORIGINAL, StudyError, metric_columns
from rdpbench.study.session import MIN_DISPLAY_MS, NOT_SURE, Session, Shown


def parse_model(text: str, design: dict):
    """A function (shown trial, rng) -> probability of choosing the left side."""
    kind, _, argument = text.partition(":")
    if design["design"] == "triplet" and kind != "jnd":
        raise StudyError("a triplet study's raters need --model jnd:ENTRY=JND,... (distances from the original)")
    if kind == "jnd":
        distances = {ORIGINAL: 0.0, **_entry_values(kind, argument, design)}
        return lambda shown: jnd.probability_closer(distances[shown.left], distances[shown.right])
    if kind == "bt":
        strengths = _entry_values(kind, argument, design)
        return lambda shown: 1.0 / (1.0 + math.exp(strengths[shown.right] - strengths[shown.left]))
    if kind == "metric":
        columns = metric_columns(design)
        per_image = [m for m, info in columns.items() if info.per_image and info.is_quality]
        if argument not in per_image:
            raise StudyError(f"metric model: {argument!r} is not a per-image metric of this study "
                             f"({', '.join(per_image) or 'none'})")
        values = design["values"]
        sign = 1.0 if columns[argument].higher_is_better else -1.0

        def probability(shown: Shown) -> float:
            left = values[shown.left][shown.trial["image"]].get(argument)
            right = values[shown.right][shown.trial["image"]].get(argument)
            if left is None or right is None:
                raise StudyError(f"metric model: no {argument} values in this study (run with that metric)")
            return 0.5 if left == right else float(sign * (left - right) > 0)
        return probability
    raise StudyError(f"unknown rater model {text!r}: use bt:ENTRY=S,..., metric:NAME or jnd:ENTRY=JND,...")


def _entry_values(kind: str, argument: str, design: dict) -> dict[str, float]:
    """``{entry: value}`` from ``E1=v1,E2=v2,...``; every entry of the study needs one."""
    values = {}
    for part in filter(None, argument.split(",")):
        entry, equals, value = part.rpartition("=")
        try:
            values[entry] = float(value)
        except ValueError:
            raise StudyError(f"{kind} model: {part!r} is not ENTRY=VALUE") from None
        if not equals or not math.isfinite(values[entry]):
            raise StudyError(f"{kind} model: {part!r} is not ENTRY=VALUE")
    missing = [e for e in design["entries"] if e not in values]
    if missing:
        name = "strength" if kind == "bt" else "value"
        raise StudyError(f"{kind} model: no {name} for {', '.join(missing)} (give {kind}:ENTRY=V,ENTRY=V,...)")
    return values


def simulate(folder, raters: int, model: str, noise: float = 0.0, inattentive: int = 0,
             seed: int | None = None, not_sure: float = 0.0) -> list[str]:
    """Add ``raters`` attentive and ``inattentive`` random raters who answer every trial; return their
    ids. ``not_sure``: the share of would-be guesses answered "not sure" (module docstring)."""
    session = Session(folder)
    if not 0 <= noise <= 1:
        raise StudyError("--noise is a probability between 0 and 1")
    if not 0 <= not_sure <= 1 or (not_sure and NOT_SURE not in session.choices()):
        raise StudyError("--not-sure is a share between 0 and 1, for triplet studies offering \"not sure\"")
    probability = parse_model(model, session.design)
    rng = np.random.default_rng(seed)
    ids = []
    for index in range(raters + inattentive):
        careless = index >= raters
        rater = session.register(f"simulated:{'random' if careless else model}", seed=int(rng.integers(2**62)))
        while True:
            shown, _, _ = session.progress(rater)
            if shown is None:
                break
            if careless:
                p_left = 0.5
            elif shown.trial["is_probe"]:
                p_left = float(shown.left == ORIGINAL)
            elif rng.random() < noise:
                p_left = 0.5
            else:
                p_left = probability(shown)
            unsure = 0.0 if careless or shown.trial["is_probe"] else not_sure * 2 * min(p_left, 1 - p_left)
            draw = rng.random()
            choice = NOT_SURE if draw < unsure else "left" if draw < unsure + p_left - unsure / 2 else "right"
            session.answer(rater, shown.key, choice, MIN_DISPLAY_MS + float(rng.gamma(4.0, 800.0)),
                           source="simulated")
        ids.append(rater)
    return ids
