"""Practice trials of the web app (``study serve --practice N``, default ``DEFAULT_PRACTICE``): shown
before a rater's first real trial, marked "practice (not counted)" on the page.

No new pictures: practice item ``i`` shows the pictures of the study's probe trial ``i`` (cycling; the
original against a Pillow JPEG at quality 5 of it: an easy, unambiguous pair to learn the keys on), or
of test trial ``i`` when the study has no probes. Sides come from the item's per-rater key (HMAC with
the study's secret, as every trial key). Practice answers are stored in their own table
(``practice`` in ``responses.sqlite``), never in ``answers``: analysis, ``status``, ``export`` and the
completion code never see them. They are held to the same rules as answers (in order, one per item,
``MIN_DISPLAY_MS``). A rater who has answered a real trial gets no more practice.
"""

from __future__ import annotations

from rdpbench.study.session import RequestError, Session, checked_fields, now

DEFAULT_PRACTICE = 2
MAX_PRACTICE = 20


def _pictures(session: Session, index: int) -> dict:
    probes = [t for t in session.trials if t["is_probe"]] or session.trials
    return probes[index % len(probes)]


def item(session: Session, rater: str, index: int) -> dict:
    """Practice item ``index`` as the page shows it: key and picture URLs (like a trial)."""
    key = session.key(rater, f"practice-{index}")
    trial = _pictures(session, index)
    left, right = (trial["b_file"], trial["a_file"]) if int(key[0], 16) & 1 else (trial["a_file"], trial["b_file"])
    return {"key": key, "left": f"/images/{left}", "right": f"/images/{right}", "original": f"/images/{trial['original']}"}


def pending(session: Session, rater: str, count: int) -> tuple[int | None, int]:
    """(index of the next practice item or None when practice is over, practice answers given).
    Practice is over after ``count`` answers, or once the rater answered any real trial."""
    given = len(session.responses.practice_answered(rater))
    if given >= count or session.responses.answered(rater):
        return None, given
    return given, given


def answer(session: Session, rater: str, count: int, key: str, choice, response_ms) -> bool:
    """Record a practice answer when ``key`` is one of the rater's practice keys (True), or return
    False when it is not (then it is a real trial's key). RequestError as for answers: 400 bad
    fields, 429 too fast, 409 out of order or conflicting."""
    keys = [session.key(rater, f"practice-{index}") for index in range(count)]
    if key not in keys:
        return False
    checked_fields(choice, response_ms, None)
    if choice not in session.choices():
        raise RequestError(f"{choice} is an answer only in triplet studies that offer it", 400)
    index = keys.index(key)
    given = session.responses.practice_answered(rater)
    if index in given:
        if given[index] != choice:
            raise RequestError("this practice trial was already answered with the other side", 409)
        return True
    if index != len(given) or session.responses.answered(rater):
        raise RequestError("answer the trials in order: this is not the next practice trial", 409)
    outcome = session.responses.record_practice(rater, index, choice,
                                                None if response_ms is None else float(response_ms), now())
    if outcome == "conflict":
        raise RequestError("this practice trial was already answered with the other side", 409)
    return True
