"""Crowd platforms for ``study serve --platform prolific|mturk|none``: the URL parameters a platform
hands a participant, the participant's salted hash, and the hand-off back on completion.

Parameters (every one is checked: at most ``MAX_ID`` characters of ``A-Za-z0-9_-``; anything else is a
400 naming the parameter; other parameters are ignored, never stored or echoed):

- **Prolific** (Study URL with "URL parameters"; docs.prolific.com, "The study object",
  ``external_study_url``): ``PROLIFIC_PID`` (required), ``STUDY_ID``, ``SESSION_ID``. On completion the
  page sends the participant to the completion URL, by default
  ``https://app.prolific.com/submissions/complete?cc={code}`` with ``{code}`` the study's completion
  code *that Prolific issued* (``--completion-code``): Prolific accepts only its own code, so the
  per-rater code of rdpbench is not sent there; the lab matches a submission to its rater with
  ``study status --participant PID``.
- **MTurk** (ExternalQuestion; AWS docs, "How Mechanical Turk tasks are rendered"): ``workerId``,
  ``assignmentId``, ``hitId``, ``turkSubmitTo``. ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` is the
  preview of a HIT not yet accepted: the consent and instructions are shown, no trial. On completion
  the page POSTs a form to ``{turkSubmitTo}/mturk/externalSubmit`` with ``assignmentId`` and
  ``completionCode`` (the rater's rdpbench completion code, which the lab checks with ``study status
  --codes``). ``turkSubmitTo`` must be one of ``MTURK_HOSTS`` (a trailing ``/`` is allowed): never an
  arbitrary URL, so the page cannot be made to post anywhere else.
- **none**: no parameters; ``--completion-url`` (optional) receives the rater's rdpbench code as ``{code}``.

The participant id (``PROLIFIC_PID``, ``workerId``) is stored only as ``HMAC-SHA256(salt,
"<platform>:<id>")`` (hex), the salt being 32 random bytes in ``STUDY/participant-salt`` (created on
first use with mode 0600; never exported, copied by ``export-static`` or shown; a salt readable by
others is refused). The same participant coming back resumes their own rater; one id never maps to
two raters (:meth:`rdpbench.study.storage.Responses.join`). The platform's session (Prolific
``SESSION_ID``, MTurk ``assignmentId``) is stored the same way (salted hash), so a participant who
completed the study cannot hand the same answers in again from another submission or assignment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from rdpbench.safe_paths import UnsafePathError, inside
from rdpbench.study.design import StudyError
from rdpbench.study.session import RequestError, now

PLATFORMS = ("none", "prolific", "mturk")
SALT_NAME = "participant-salt"
MAX_ID = 64
_ID = re.compile(r"[A-Za-z0-9_-]{1,%d}" % MAX_ID)
PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
# name -> required, per platform; the first is the participant id
PARAMETERS = {"none": {}, "prolific": {"PROLIFIC_PID": True, "STUDY_ID": False, "SESSION_ID": False},
              "mturk": {"workerId": True, "assignmentId": True, "hitId": True, "turkSubmitTo": True}}
# what the rater's page keeps in its URL (and sends with its API calls) to hand the rater back
HANDOFF = {"none": (), "prolific": (), "mturk": ("assignmentId", "turkSubmitTo")}


@dataclass(frozen=True)
class Arrival:
    """The checked parameters a participant arrived with."""
    platform: str
    values: dict

    @property
    def preview(self) -> bool:
        """An MTurk preview: the worker has not accepted the HIT (no trial may start)."""
        return self.platform == "mturk" and self.values.get("assignmentId") == MTURK_PREVIEW

    @property
    def participant(self) -> str | None:
        names = list(PARAMETERS[self.platform])
        return self.values.get(names[0]) if names else None

    @property
    def session(self) -> str | None:
        """The platform's id of this attempt: Prolific's SESSION_ID, MTurk's assignmentId."""
        return self.values.get({"prolific": "SESSION_ID", "mturk": "assignmentId"}.get(self.platform, ""))

    def query(self, names=None) -> str:
        """``?name=value&...`` of the given (default: all) checked parameters, or ""."""
        kept = {k: v for k, v in self.values.items() if names is None or k in names}
        return "?" + urlencode(kept) if kept else ""


def _submit_host(value: str) -> str:
    host = value[:-1] if value.endswith("/") else value
    if host not in MTURK_HOSTS:
        raise RequestError(f"turkSubmitTo must be {' or '.join(MTURK_HOSTS)}", 400)
    return host


@dataclass(frozen=True)
class Platform:
    """How ``study serve`` meets its participants: ``name`` (one of PLATFORMS), the completion URL
    template (``{code}`` is replaced, URL-encoded) and, for Prolific, the code Prolific issued."""
    name: str = "none"
    completion_url: str | None = None
    completion_code: str | None = None

    @classmethod
    def checked(cls, name: str, completion_url: str | None, completion_code: str | None) -> "Platform":
        """The platform of the command line, or StudyError saying what to give."""
        if name not in PLATFORMS:
            raise StudyError(f"--platform must be one of {', '.join(PLATFORMS)}")
        if name == "prolific":
            if not completion_code or not _ID.fullmatch(completion_code):
                raise StudyError("--platform prolific needs --completion-code CODE: the study's completion code "
                                 "that Prolific shows (letters and digits)")
            completion_url = completion_url or PROLIFIC_COMPLETION_URL
        elif completion_code:
            raise StudyError("--completion-code is Prolific's code: give it with --platform prolific only")
        if name == "mturk" and completion_url:
            raise StudyError("--platform mturk submits to MTurk's turkSubmitTo; --completion-url does not apply")
        if completion_url is not None:
            parts = urlsplit(completion_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or "{code}" not in completion_url:
                raise StudyError(f"--completion-url must be an http(s) URL containing {{code}}, e.g. "
                                 f"{PROLIFIC_COMPLETION_URL}")
        return cls(name, completion_url, completion_code)

    def arrival(self, query, handoff: bool = False) -> Arrival:
        """The checked parameters of a request's query string (Starlette's QueryParams); RequestError
        (400) naming the first parameter that is missing or not ``MAX_ID`` characters of ``A-Za-z0-9_-``
        (``turkSubmitTo``: not one of ``MTURK_HOSTS``). ``handoff``: only those a rater's page keeps
        (``HANDOFF``), as on ``/r/<rater>`` and the API."""
        values = {}
        for name, required in PARAMETERS[self.name].items():
            if handoff and name not in HANDOFF[self.name]:
                continue
            given = query.getlist(name)
            if len(given) > 1:
                raise RequestError(f"URL parameter {name} is given {len(given)} times", 400)
            value = given[0] if given else None
            if value is None:
                if required and not (self.name == "mturk" and query.get("assignmentId") == MTURK_PREVIEW):
                    raise RequestError(f"this study runs on {self.name}: open it from {self.name} "
                                       f"(the link must carry {name})", 400)
                continue
            if name == "turkSubmitTo":
                values[name] = _submit_host(value)
            elif not _ID.fullmatch(value):
                raise RequestError(f"URL parameter {name} must be 1 to {MAX_ID} letters, digits, '_' or '-'", 400)
            else:
                values[name] = value
        return Arrival(self.name, values)

    def completion(self, arrival: Arrival, rater_code: str) -> dict | None:
        """What the page does after the last answer: ``{"redirect": url, "code": the code it carries}``
        (shown on the page in place of the rater's code, in case the redirect is blocked), ``{"post":
        url, "fields": {...}}`` (MTurk) or None (show the rater's code only)."""
        if self.name == "mturk":
            return {"post": f"{arrival.values['turkSubmitTo']}/mturk/externalSubmit",
                    "fields": {"assignmentId": arrival.values["assignmentId"], "completionCode": rater_code}}
        if self.completion_url:
            code = self.completion_code if self.name == "prolific" else rater_code
            return {"redirect": self.completion_url.replace("{code}", quote(code, safe="")), "code": code}
        return None


def salt(folder: Path) -> bytes:
    """The study's participant salt (32 bytes), created on first use in ``STUDY/participant-salt``
    with mode 0600; StudyError when it is readable by others, a link out of the folder or damaged."""
    try:
        path = inside(folder, SALT_NAME, "participant salt")
    except UnsafePathError as error:
        raise StudyError(str(error)) from None
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(secrets.token_hex(32))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise StudyError(f"{path} is readable by others (mode {mode:o}): it keeps participant ids private; "
                         f"run `chmod 600 {path}`")
    text = path.read_text().strip()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise StudyError(f"{path} is damaged; it must hold 64 hex digits (restore it: without it returning "
                         "participants cannot be recognised)")
    return bytes.fromhex(text)


def participant_hash(key: bytes, platform: str, participant: str) -> str:
    """HMAC-SHA256 (hex) of ``"<platform>:<participant id>"`` keyed with the study's salt."""
    return hmac.new(key, f"{platform}:{participant}".encode(), hashlib.sha256).hexdigest()


def join(session, key: bytes | None, arrival: Arrival) -> str:
    """The rater of a participant who gave consent now: theirs when they joined before, else a new
    one (opaque id, fresh order seed, source ``web``) registered with the consent time."""
    hashed = participant_hash(key, arrival.platform, arrival.participant) if arrival.participant else None
    attempt = participant_hash(key, f"{arrival.platform}-session", arrival.session) if arrival.session else None
    return session.responses.join(secrets.token_hex(8), secrets.randbits(62), now(), arrival.platform, hashed, attempt)


def returning(session, key: bytes | None, arrival: Arrival) -> str | None:
    """The rater of a participant seen before (None for a new one or without a platform). A
    participant who completed the study in one session (a Prolific submission, an MTurk assignment)
    and comes back in another is refused (409): one set of answers is handed in once. One who has not
    finished and comes back in another session (a returned HIT, a new assignment) continues in it."""
    if not arrival.participant:
        return None
    known = session.responses.participant(participant_hash(key, arrival.platform, arrival.participant))
    if known is None:
        return None
    rater, attempt = known
    if arrival.session:
        current = participant_hash(key, f"{arrival.platform}-session", arrival.session)
        if current != attempt:
            if session.progress(rater)[0] is None:
                _completed_elsewhere(arrival)
            session.responses.set_session(rater, current)  # not finished: this session is theirs now
    return rater


def _completed_elsewhere(arrival: Arrival) -> None:
    raise RequestError("you have already completed this study; please return this "
                       + ("submission on Prolific" if arrival.platform == "prolific" else "HIT on MTurk"), 409)


def handed_in_once(session, key: bytes | None, arrival: Arrival, rater: str) -> None:
    """Refuse (409) the completion hand-off of a finished rater in another platform session than the one
    they finished in (an MTurk worker opening their own page with another ``assignmentId``), as
    :func:`returning` refuses it on the first page."""
    if not arrival.session or key is None:
        return
    attempt = session.responses.session_of(rater)
    if attempt and participant_hash(key, f"{arrival.platform}-session", arrival.session) != attempt:
        _completed_elsewhere(arrival)


def find(folder: Path, session, participant: str) -> list[tuple[str, str]]:
    """(platform, rater) of each platform on which ``participant`` joined this study (the lab's look-up
    behind ``study status --participant``); the salt is read, never created or shown."""
    if not (Path(folder) / SALT_NAME).exists():
        return []
    key = salt(folder)
    found = [(name, session.responses.participant(participant_hash(key, name, participant)))
             for name in PLATFORMS[1:]]
    return [(name, known[0]) for name, known in found if known]
