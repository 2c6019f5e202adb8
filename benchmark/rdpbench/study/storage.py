"""The answers of a study: ``STUDY/responses.sqlite`` (SQLite, WAL journal, synchronous=FULL).

Tables
- ``meta``: ``design_sha256``, the hash of the study.json the answers belong to.
- ``raters``: an opaque random id, the seed of the rater's trial order and sides, when and how the
  rater joined (``web``, ``static``, ``simulated:<model>``). No personal data is ever stored.
- ``answers``: one row per (rater, trial): the position in the rater's order, the entries shown on
  the left and right, the chosen side (``left``/``right``), the response time in ms, the UTC time and
  the answer's source (``web``, ``static`` or ``simulated``: which code path recorded it). Databases
  made before answers had a source get the column on opening, empty for their old rows
  (:func:`rdpbench.study.session.source_kind` reads an empty source as the rater's).
- ``participants``: one row per rater who joined through the web app's consent page
  (:mod:`rdpbench.study.platform`): the platform (``none``, ``prolific``, ``mturk``), the salted hash
  of the platform's participant id (HMAC-SHA256, never the id itself; NULL without a platform;
  unique, so one participant id never maps to two raters), the salted hash of the platform's
  session (Prolific ``SESSION_ID``, MTurk ``assignmentId``) they joined in, and the UTC time consent
  was given.
- ``practice``: the answers to practice trials (:mod:`rdpbench.study.practice`), one per (rater,
  item). They are kept apart from ``answers`` so that no analysis, status or export counts them.

Each answer is its own committed transaction, so a killed server loses nothing that was
acknowledged. ``record`` keeps one answer per trial: the same answer again changes nothing, another
one is reported as a conflict and changes nothing either.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

RESPONSES_NAME = "responses.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (rater TEXT PRIMARY KEY, seed INTEGER NOT NULL, created_at TEXT NOT NULL,
                                   source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    rater TEXT NOT NULL REFERENCES raters(rater), trial TEXT NOT NULL, position INTEGER NOT NULL,
    left_entry TEXT NOT NULL, right_entry TEXT NOT NULL, choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'not_sure')),
    response_ms REAL, answered_at TEXT NOT NULL, source TEXT, PRIMARY KEY (rater, trial));
-- choice 'not_sure': triplet studies only (rdpbench.study.session.NOT_SURE)
CREATE TABLE IF NOT EXISTS participants (rater TEXT PRIMARY KEY REFERENCES raters(rater), platform TEXT NOT NULL,
                                         participant_hash TEXT UNIQUE, session_hash TEXT, consented_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS practice (
    rater TEXT NOT NULL REFERENCES raters(rater), item INTEGER NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'not_sure')), response_ms REAL, answered_at TEXT NOT NULL,
    PRIMARY KEY (rater, item));
"""

ANSWER_COLUMNS = ["rater", "trial", "position", "left_entry", "right_entry", "choice", "response_ms", "answered_at",
                  "source"]


class Responses:
    """Open (creating if needed) a study's answers database. Each thread gets its own connection
    (SQLite connections must not be shared across threads); WAL lets any number of threads and
    processes read while one writes."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / RESPONSES_NAME
        self._local = threading.local()
        with self._connect() as db:
            db.executescript(_SCHEMA)
            if "source" not in {row[1] for row in db.execute("PRAGMA table_info(answers)")}:
                db.execute("ALTER TABLE answers ADD COLUMN source TEXT")  # databases before answer sources

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def _query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        with closing(self._connect().execute(sql, parameters)) as cursor:
            return cursor.fetchall()

    def bind_design(self, digest: str) -> str:
        """Record the design's sha256 on first use; return the one recorded."""
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('design_sha256', ?)", (digest,))
        return self._query("SELECT value FROM meta WHERE key = 'design_sha256'")[0][0]

    def add_rater(self, rater: str, seed: int, created_at: str, source: str) -> None:
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO raters VALUES (?, ?, ?, ?)", (rater, seed, created_at, source))

    def rater_seed(self, rater: str) -> int | None:
        row = self._query("SELECT seed FROM raters WHERE rater = ?", (rater,))
        return row[0][0] if row else None

    def raters(self) -> list[tuple[str, int, str, str]]:
        return self._query("SELECT rater, seed, created_at, source FROM raters ORDER BY created_at, rater")

    def answered(self, rater: str) -> dict[str, str]:
        """trial id -> chosen side, for one rater."""
        return dict(self._query("SELECT trial, choice FROM answers WHERE rater = ?", (rater,)))

    def record(self, rater: str, trial: str, position: int, left: str, right: str, choice: str,
               response_ms: float | None, answered_at: str, source: str) -> str:
        """Store one answer, one per (rater, trial): "added"; "same" when that trial already had this
        choice, "conflict" when it had the other one (either way the stored answer is kept). The
        insert and the look-up are one write transaction, so of two answers arriving at the same
        moment exactly one is added and the other is seen as same or conflicting."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(f"INSERT OR IGNORE INTO answers ({', '.join(ANSWER_COLUMNS)}) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (rater, trial, position, left, right, choice, response_ms, answered_at, source))
            if cursor.rowcount == 1:
                return "added"
            stored = db.execute("SELECT choice FROM answers WHERE rater = ? AND trial = ?", (rater, trial)).fetchone()
            return "same" if stored and stored[0] == choice else "conflict"

    def answers(self) -> list[tuple]:
        """Every answer, as rows of ``ANSWER_COLUMNS``, ordered by the raters' registration, then
        position (not by the random rater ids: a seeded simulation then analyses identically)."""
        return self._query(f"SELECT {', '.join(ANSWER_COLUMNS)} FROM answers ORDER BY "
                           "(SELECT raters.rowid FROM raters WHERE raters.rater = answers.rater), position")

    def join(self, rater: str, seed: int, created_at: str, platform: str, participant_hash: str | None,
             session_hash: str | None) -> str:
        """Register ``rater`` (source ``web``) with its consent, given now (``created_at``), in one write
        transaction; return the rater. When ``participant_hash`` already belongs to a rater, nothing is
        written and that rater is returned: a participant id never maps to two raters, also when the
        same participant starts twice at the same moment."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            if participant_hash is not None:
                known = db.execute("SELECT rater FROM participants WHERE participant_hash = ?",
                                   (participant_hash,)).fetchone()
                if known:
                    return known[0]
            db.execute("INSERT INTO raters VALUES (?, ?, ?, 'web')", (rater, seed, created_at))
            db.execute("INSERT INTO participants (rater, platform, participant_hash, session_hash, consented_at) "
                       "VALUES (?, ?, ?, ?, ?)", (rater, platform, participant_hash, session_hash, created_at))
        return rater

    def participant(self, participant_hash: str) -> tuple[str, str | None] | None:
        """(rater, session hash) of a participant hash, or None."""
        row = self._query("SELECT rater, session_hash FROM participants WHERE participant_hash = ?", (participant_hash,))
        return tuple(row[0]) if row else None

    def session_of(self, rater: str) -> str | None:
        """The platform session (salted hash) a participant's rater runs in, or None."""
        row = self._query("SELECT session_hash FROM participants WHERE rater = ?", (rater,))
        return row[0][0] if row else None

    def set_session(self, rater: str, session_hash: str) -> None:
        """Record the platform session (salted hash) a participant's rater now runs in."""
        with self._connect() as db:
            db.execute("UPDATE participants SET session_hash = ? WHERE rater = ?", (session_hash, rater))

    def consent(self, rater: str) -> tuple[str, str] | None:
        """(platform, UTC time of consent) of a rater who joined through the consent page, else None."""
        row = self._query("SELECT platform, consented_at FROM participants WHERE rater = ?", (rater,))
        return tuple(row[0]) if row else None

    def practice_answered(self, rater: str) -> dict[int, str]:
        """practice item -> chosen side, for one rater."""
        return dict(self._query("SELECT item, choice FROM practice WHERE rater = ?", (rater,)))

    def record_practice(self, rater: str, item: int, choice: str, response_ms: float | None, answered_at: str) -> str:
        """Store one practice answer: "added", "same" or "conflict" as :meth:`record`."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute("INSERT OR IGNORE INTO practice VALUES (?, ?, ?, ?, ?)",
                                (rater, item, choice, response_ms, answered_at))
            if cursor.rowcount == 1:
                return "added"
            stored = db.execute("SELECT choice FROM practice WHERE rater = ? AND item = ?", (rater, item)).fetchone()
            return "same" if stored and stored[0] == choice else "conflict"
