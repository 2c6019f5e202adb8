"""``rdpbench study simulate``: synthetic raters that answer through :class:`~rdpbench.study.session.Session`,
the code path of the web app (for power analysis — how many raters for a given SE — and for tests).

Models
- ``bt:E1=s1,E2=s2,...``: Bradley–Terry log-strengths per entry; the left entry is chosen with
  probability ``1 / (1 + exp(s_right - s_left))``. Every entry of the study needs a strength.
- ``metric:NAME``: prefer the entry that NAME (a per-image metric stored in the study) rates better on
  the trial's image; equal values are a coin flip.

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

from rdpbench.study.design import ORIGINAL, StudyError, metric_columns
from rdpbench.study.session import MIN_DISPLAY_MS, Session, Shown


def parse_model(text: str, design: dict):
    """A function (shown trial, rng) -> probability of choosing the left side."""
    kind, _, argument = text.partition(":")
    if kind == "bt":
        strengths = {}
        for part in filter(None, argument.split(",")):
            entry, equals, value = part.rpartition("=")
            try:
                strengths[entry] = float(value)
            except ValueError:
                raise StudyError(f"bt model: {part!r} is not ENTRY=STRENGTH") from None
            if not equals:
                raise StudyError(f"bt model: {part!r} is not ENTRY=STRENGTH")
        missing = [e for e in design["entries"] if e not in strengths]
        if missing:
            raise StudyError(f"bt model: no strength for {', '.join(missing)} (give bt:ENTRY=S,ENTRY=S,...)")
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
    raise StudyError(f"unknown rater model {text!r}: use bt:ENTRY=S,... or metric:NAME")


def simulate(folder, raters: int, model: str, noise: float = 0.0, inattentive: int = 0,
             seed: int | None = None) -> list[str]:
    """Add ``raters`` attentive and ``inattentive`` random raters who answer every trial; return their ids."""
    session = Session(folder)
    if not 0 <= noise <= 1:
        raise StudyError("--noise is a probability between 0 and 1")
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
            session.answer(rater, shown.key, "left" if rng.random() < p_left else "right",
                           MIN_DISPLAY_MS + float(rng.gamma(4.0, 800.0)),
                           source="simulated")
        ids.append(rater)
    return ids
