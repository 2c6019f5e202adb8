"""What a rater is shown and how an answer is accepted — the one code path of the web app, the static
export's import and the simulated raters.

Every rater sees every trial of the study once. A rater's order and left/right sides come from
``numpy.random.default_rng([study seed, rater seed])`` (the rater seed is drawn at registration and
stored), so they can be recomputed at any time. Trials are addressed by per-rater opaque keys
(HMAC-SHA256 of the rater and trial with the study's secret, 16 hex digits): a key of another rater is
unknown to this one, and keys never reveal which codecs a trial compares. Answers must come in order:
only the next unanswered trial may be answered; answering an answered trial again with the same side
is accepted and changes nothing, with another side it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from rdpbench.study import design as designs
from rdpbench.study.storage import Responses

CHOICES = ("left", "right")
# The third answer of triplet studies that offer it (``request.not_sure``; refused in any other study):
# rdpbench.study.jnd counts it as half an answer for each side.
NOT_SURE = "not_sure"
# The shortest time (ms) both pictures must be on screen before an answer is accepted: the page
# ignores earlier keys and clicks, the web app refuses an answer sooner after it served the trial,
# and any recorded response time below it is refused (so imports and API clients are held to it too).
MIN_DISPLAY_MS = 500
# Where raters and answers come from: the web app, a static export's answers file (``study import``),
# ``study simulate``. Simulated answers are never analysed with real ones unless asked.
SOURCES = ("web", "static", "simulated")


def source_kind(stored: str | None, fallback: str | None = None) -> str:
    """The source (one of ``SOURCES``) of a stored rater or answer source: ``simulated:<model>`` (and
    the older ``simulate:<model>``) is ``simulated``; an empty one is ``fallback`` (an answer's rater)
    when given; anything else missing or unknown is ``web``, a real rater, so no real answer is ever
    dropped as simulated by mistake."""
    head = (stored or "").split(":", 1)[0]
    if head in ("simulated", "simulate"):
        return "simulated"
    if head in SOURCES:
        return head
    return source_kind(fallback) if not stored and fallback else "web"


class RequestError(ValueError):
    """A rater request that cannot be honoured; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Shown:
    """One trial as one rater sees it."""
    key: str            # opaque per-rater trial key
    trial: dict         # the design's trial (id, image, a, b, is_probe, files)
    position: int       # 0-based place in the rater's order
    swapped: bool       # True: entry b is on the left

    @property
    def left(self) -> str:
        return self.trial["b"] if self.swapped else self.trial["a"]

    @property
    def right(self) -> str:
        return self.trial["a"] if self.swapped else self.trial["b"]

    @property
    def left_file(self) -> str:
        return self.trial["b_file"] if self.swapped else self.trial["a_file"]

    @property
    def right_file(self) -> str:
        return self.trial["a_file"] if self.swapped else self.trial["b_file"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def checked_fields(choice, response_ms, answered_at) -> str | None:
    """Raise RequestError (400) for a bad choice, response time or time stamp, 429 for a response time
    under ``MIN_DISPLAY_MS``; return the time in UTC."""
    if choice not in (*CHOICES, NOT_SURE):
        raise RequestError(f"choice must be one of {', '.join(CHOICES)} (or {NOT_SURE} where the study offers it)", 400)
    if response_ms is not None and (isinstance(response_ms, bool) or not isinstance(response_ms, (int, float))
                                    or not 0 <= response_ms < 1e9):
        raise RequestError("response_ms must be a number of milliseconds", 400)
    if response_ms is not None and response_ms < MIN_DISPLAY_MS:
        raise RequestError(f"too fast: answered {response_ms:.0f} ms after the pictures appeared; look at them "
                           f"for at least {MIN_DISPLAY_MS} ms", 429)
    if answered_at is None:
        return None
    try:
        return datetime.fromisoformat(answered_at).astimezone(timezone.utc).isoformat(timespec="milliseconds")
    except (TypeError, ValueError):
        raise RequestError("answered_at must be an ISO 8601 time", 400) from None


class Session:
    """A study folder opened for answering: its design, its answers database."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.design = designs.load(self.folder)
        self.trials = self.design["trials"]
        if not self.trials:
            raise designs.StudyError(f"{self.folder} has no trials (empty study)")
        self.responses = Responses(self.folder)
        digest = hashlib.sha256((self.folder / designs.DESIGN_NAME).read_bytes()).hexdigest()
        if self.responses.bind_design(digest) != digest:
            raise designs.StudyError(f"{self.folder / designs.DESIGN_NAME} changed after answers were collected; "
                                     "a study is immutable: restore it, or create a new study")

    def register(self, source: str = "web", seed: int | None = None) -> str:
        """A new rater: an opaque random id (no personal data) and a fresh order seed; ``source`` is
        ``web``, ``static`` or ``simulated:<model>``."""
        if source_kind(source) != source.split(":", 1)[0]:
            raise ValueError(f"unknown rater source {source!r}")
        rater = secrets.token_hex(8)
        self.responses.add_rater(rater, secrets.randbits(62) if seed is None else seed, now(), source)
        return rater

    def choices(self) -> tuple[str, ...]:
        """The answers this study accepts: left and right, and ``NOT_SURE`` in a triplet study offering it."""
        return (*CHOICES, NOT_SURE) if self.viewer()["not_sure"] else CHOICES

    def viewer(self) -> dict:
        """What the rater page offers besides the 2AFC viewer: ``not_sure`` (the third answer) and
        ``flicker_hz`` (full flicker cycles per second between each side and the original; 0: none)."""
        request = self.design["request"]
        triplet = self.design["design"] == "triplet"
        return {"not_sure": bool(triplet and request.get("not_sure")),
                "flicker_hz": float(request.get("flicker_hz") or 0) if triplet else 0.0}

    def key(self, rater: str, trial_id: str) -> str:
        message = f"{rater}/{trial_id}".encode()
        return hmac.new(bytes.fromhex(self.design["secret"]), message, hashlib.sha256).hexdigest()[:16]

    def completion_code(self, rater: str) -> str:
        """The code the web app shows after a rater's last answer (and never before): HMAC-SHA256 of
        the rater with the study's secret, 10 hex digits; the lab checks it with ``study status --codes``."""
        return self.key(rater, "completed")[:10].upper()

    def static_code_key(self, rater: str) -> str:
        """The key the static page derives a rater's code with (in ``study-data.js``, so not secret)."""
        return self.key(rater, "static-code-key")

    def static_code(self, rater: str, answers: list[tuple[str, str]]) -> str:
        """The code the static page shows after the last answer, derived from the answers: HMAC-SHA256
        with key ``static_code_key(rater)`` (its UTF-8 text) of ``"<study id>/<rater>/<key>=<choice>,..."``
        over the (trial key, choice) pairs in the rater's order, 10 hex digits, upper case. It ties the
        code a rater hands in to the answers file the lab imports; it cannot be read before answering,
        but anyone with the page can compute it for answers of their choosing (no server, no secret)."""
        message = f"{self.design['study_id']}/{rater}/" + ",".join(f"{key}={choice}" for key, choice in answers)
        return hmac.new(self.static_code_key(rater).encode(), message.encode(), hashlib.sha256).hexdigest()[:10].upper()

    def code_of(self, rater: str) -> str | None:
        """The completion code ``rater`` was shown (static raters: derived from their recorded
        answers), or None while they have not answered every trial and for simulated raters."""
        order = self.order(rater)
        answered = self.responses.answered(rater)
        source = source_kind(next((source for r, _, _, source in self.responses.raters() if r == rater), None))
        if len(answered) < len(order) or source == "simulated":
            return None
        if source == "web":
            return self.completion_code(rater)
        return self.static_code(rater, [(shown.key, answered[shown.trial["id"]]) for shown in order])

    def order(self, rater: str) -> list[Shown]:
        seed = self.responses.rater_seed(rater)
        if seed is None:
            raise RequestError("unknown rater", 404)
        return self.order_for_seed(rater, seed)

    def order_for_seed(self, rater: str, seed: int) -> list[Shown]:
        rng = np.random.default_rng([int(self.design["seed"]), int(seed)])
        permutation = rng.permutation(len(self.trials))
        swaps = rng.random(len(self.trials)) < 0.5
        return [Shown(self.key(rater, self.trials[i]["id"]), self.trials[i], position, bool(swaps[position]))
                for position, i in enumerate(permutation)]

    def progress(self, rater: str) -> tuple[Shown | None, int, int]:
        """(next unanswered trial or None when done, answered count, total)."""
        order = self.order(rater)
        answered = self.responses.answered(rater)
        upcoming = next((shown for shown in order if shown.trial["id"] not in answered), None)
        return upcoming, len(answered), len(order)

    def answer(self, rater: str, key: str, choice: str, response_ms: float | None = None,
               answered_at: str | None = None, source: str = "web") -> bool:
        """Record ``choice`` (left/right, or not_sure where :meth:`choices` has it) for the trial with ``key``;
        False when it was already recorded. ``answered_at`` (ISO 8601, UTC) defaults to now; imports pass
        the browser's time. ``source`` (one of ``SOURCES``) is the code path recording it."""
        if source not in SOURCES:
            raise ValueError(f"unknown answer source {source!r}")
        answered_at = checked_fields(choice, response_ms, answered_at)
        if choice not in self.choices():
            raise RequestError(f"{choice} is an answer only in triplet studies that offer it", 400)
        order = self.order(rater)
        shown = next((s for s in order if s.key == key), None)
        if shown is None:
            raise RequestError("unknown trial for this rater", 404)
        answered = self.responses.answered(rater)
        if shown.trial["id"] in answered:
            if answered[shown.trial["id"]] != choice:
                raise RequestError("this trial was already answered with the other side", 409)
            return False
        upcoming = next(s for s in order if s.trial["id"] not in answered)
        if upcoming.key != key:
            raise RequestError("answer the trials in order: this is not the next trial", 409)
        outcome = self.responses.record(rater, shown.trial["id"], shown.position, shown.left, shown.right, choice,
                                        None if response_ms is None else float(response_ms), answered_at or now(),
                                        source)
        if outcome == "conflict":  # another answer to this trial was committed a moment earlier
            raise RequestError("this trial was already answered with the other side", 409)
        return outcome == "added"
