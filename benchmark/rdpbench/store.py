"""The results store: one SQLite file per output folder (``OUT/results.sqlite``).

Tables
- ``meta``: the dataset this folder belongs to (name, folder, fingerprint) and the schema version
  (``schema_version``; see "Schema versions" below).
- ``images``: the dataset's images with their sha256.
- ``runs``: provenance of every run into the folder (command, config, library versions, git
  commit, hostname, start/end, status; ``executor``: JSON of the Dask cluster a run used, NULL otherwise).
- ``run_codecs`` / ``run_metrics``: per run, each codec's options, description and tool version, and
  each metric's convention, options and weight files.
- ``metric_columns``: per run, what each metric column means and how it is shown (label, unit,
  direction, decimals, kind, group, order: rdpbench.columns.Column), as the metric declared it.
  Exports, tables, figures and BD-rates read it from here (:meth:`ResultsStore.metric_columns`).
- ``settings``: every (codec, setting) with its full parameter values as JSON.
- ``rows``: one row per (codec, setting, image): sizes, bytes, bpp, times, error text, and the Dask
  worker that computed it (``worker``; NULL for runs on this machine).
- ``metric_values``: one value per (codec, setting, image, metric), with a note explaining NaNs.
- ``features``: patch features of each reconstruction (float32 .npy bytes), so FID/KID can be
  recomputed (other subsets, other KID settings) without running Inception again.
- ``distribution_values``: FID, KID, ... per (codec, setting), with the patch count and protocol.
- ``original_values``: no-reference metrics (NIQE) of the original images.
- ``original_features``: patch features of the originals per feature spec (as ``features``), so the
  report can bootstrap FID/KID over images without running a network; stores from before it have
  none until a run adds them (the report then gives those metrics no interval).

Opening checks the folder and the file before anything is written: ``--out`` that is a file or
not writable, a file that is not an rdpbench store, or a damaged one (``PRAGMA quick_check``) is
refused with :class:`StoreError`, which says how to recover; the file is never modified then.

Schema versions: 1 (rdpbench 0.1 before metric metadata; some version-1 stores lack ``rows.worker``
and ``runs.executor``), 2 (``metric_columns``, ``run_metrics.options`` and ``.weight_files``).
Opening a store for writing migrates it in one transaction (:data:`MIGRATIONS`); a read-only open
of an older store reads it as the migration would have. A store from a newer rdpbench is refused.

A task's row and its metric values are written in one transaction, so a killed run leaves either
the whole result of a task or nothing of it. SQLite stores NaN as NULL; readers turn NULL back into
NaN, and the note column says why a value is missing.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from rdpbench.columns import KINDS, Column
from rdpbench.tasks import RETRIED, TaskResult

SCHEMA_VERSION = 2
STORE_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (image TEXT PRIMARY KEY, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT, finished_at TEXT, status TEXT,
    command TEXT, config TEXT, versions TEXT, git_commit TEXT, hostname TEXT,
    n_tasks INTEGER, n_failed INTEGER);
CREATE TABLE IF NOT EXISTS run_codecs (
    run_id INTEGER, codec TEXT, name TEXT, options TEXT, description TEXT, version TEXT,
    PRIMARY KEY (run_id, codec));
CREATE TABLE IF NOT EXISTS run_metrics (
    run_id INTEGER, metric TEXT, description TEXT, options TEXT, weight_files TEXT, PRIMARY KEY (run_id, metric));
CREATE TABLE IF NOT EXISTS metric_columns (
    run_id INTEGER, column_name TEXT, metric TEXT, label TEXT, unit TEXT, higher_is_better INTEGER,
    decimals INTEGER, kind TEXT, group_name TEXT, metric_position INTEGER, column_position INTEGER,
    PRIMARY KEY (run_id, column_name));
CREATE TABLE IF NOT EXISTS settings (
    codec TEXT, setting TEXT, params TEXT, PRIMARY KEY (codec, setting));
CREATE TABLE IF NOT EXISTS rows (
    codec TEXT, setting TEXT, image TEXT, width INTEGER, height INTEGER, bytes INTEGER,
    bpp REAL, encode_s REAL, decode_s REAL, error TEXT, run_id INTEGER,
    PRIMARY KEY (codec, setting, image));
CREATE TABLE IF NOT EXISTS metric_values (
    codec TEXT, setting TEXT, image TEXT, metric TEXT, value REAL, note TEXT,
    PRIMARY KEY (codec, setting, image, metric));
CREATE TABLE IF NOT EXISTS features (
    codec TEXT, setting TEXT, image TEXT, spec TEXT, n_patches INTEGER, data BLOB,
    PRIMARY KEY (codec, setting, image, spec));
CREATE TABLE IF NOT EXISTS distribution_values (
    codec TEXT, setting TEXT, metric TEXT, column_name TEXT, value REAL, n_patches INTEGER, n_images INTEGER,
    spec TEXT, note TEXT, PRIMARY KEY (codec, setting, column_name));
CREATE TABLE IF NOT EXISTS original_features (
    spec TEXT, image TEXT, n_patches INTEGER, data BLOB, PRIMARY KEY (spec, image));
CREATE TABLE IF NOT EXISTS original_values (
    image TEXT, metric TEXT, value REAL, note TEXT, PRIMARY KEY (image, metric));
"""
# Columns added after a table was first released: added to older stores when they are opened.
_ADDED_COLUMNS = {"rows": {"worker": "TEXT"}, "runs": {"executor": "TEXT"},
                  "run_metrics": {"options": "TEXT", "weight_files": "TEXT"}}
# What version 1's built-in metrics declared (the only metrics a version-1 report showed): the
# metadata a migrated version-1 store gets for its runs.
VERSION_1_COLUMNS = [
    Column("psnr", "PSNR", "dB", True, 2, "psnr", "paired", "distortion"),
    Column("ms_ssim", "MS-SSIM", "", True, 4, "ms_ssim", "paired", "distortion"),
    Column("lpips", "LPIPS", "", False, 4, "lpips", "paired", "perceptual (full-reference)"),
    Column("dists", "DISTS", "", False, 4, "dists", "paired", "perceptual (full-reference)"),
    Column("niqe", "NIQE", "", False, 3, "niqe", "no-reference", "no-reference"),
    Column("fid", "FID", "", False, 2, "fid", "distribution", "distribution (patches)"),
    Column("kid", "KID", "", False, 4, "kid", "distribution", "distribution (patches)"),
    Column("kid_std", "KID std", "", None, 4, "kid", "distribution", "distribution (patches)"),
]


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _bounded_decimals(value: Any) -> int:
    """Decimals read from a store (a file from anyone): an integer in 0..12, else 4."""
    return min(max(value, 0), 12) if isinstance(value, int) else 4


def _insert_columns(db: sqlite3.Connection, run_id: int, columns: list[Column], position: int) -> None:
    db.executemany("INSERT OR REPLACE INTO metric_columns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [(run_id, c.name, c.metric, c.label, c.unit, c.higher_is_better, c.decimals, c.kind, c.group,
                     position, index) for index, c in enumerate(columns)])


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Version 1 recorded no metric metadata: every run gets what version 1's metrics declared."""
    order = list(dict.fromkeys(column.metric for column in VERSION_1_COLUMNS))
    for run_id, metric in db.execute("SELECT run_id, metric FROM run_metrics").fetchall():
        columns = [column for column in VERSION_1_COLUMNS if column.metric == metric]
        _insert_columns(db, run_id, columns, order.index(metric) if metric in order else len(order))


# MIGRATIONS[n] turns a version-n store into version n + 1, inside the transaction that opens it.
MIGRATIONS = {1: _migrate_1_to_2}


# What a run's weight files were checked against (runs.versions -> weights -> NAME -> state), from the
# strongest to the weakest; the report names each state (rdpbench.report.data.caveats).
WEIGHT_STATES = {
    "verified": "full sha256 verified",
    "prefix-checked": "only the 8 hex digits of the sha256 in the upstream file name match (not a cryptographic "
                      "check)",
    "unpublished": "no published hash: sha256 recorded, not checked",
    "unverified": "used with --allow-unverified-weights although its hash did not match",
}
_CHECK_STATES = {"sha256": "verified", "sha256-prefix": "prefix-checked", "none": "unpublished", "mismatch": "unverified"}


def weight_state(name: str, entry: dict) -> str:
    """The WEIGHT_STATES key of one recorded weight file. Runs record ``state``; older runs recorded
    ``check`` (what was known of the file) and ``verified`` (true only for a full pinned digest), and
    the oldest only ``verified`` (a hash match, then judged by the name's 8 hex digits): a file whose
    name's hex digits open its recorded sha256 is prefix-checked at least, whatever ``verified`` said."""
    if entry.get("state") in WEIGHT_STATES:
        return entry["state"]
    check = entry.get("check")
    if check in _CHECK_STATES:
        return _CHECK_STATES[check]
    digits = re.search(r"-([0-9a-f]{8,})\.[A-Za-z.]+$", name)
    if digits and str(entry.get("sha256", "")).startswith(digits.group(1)):
        return "verified" if len(digits.group(1)) == 64 else "prefix-checked"
    return "verified" if entry.get("verified") else "unverified"


class DatasetMismatchError(ValueError):
    """The output folder already holds results for different images."""


class StoreError(RuntimeError):
    """The output folder or its store cannot be used; the message says how to recover."""


def _nan_to_none(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


class ResultsStore:
    """Read and write ``OUT/results.sqlite``. Use as a context manager or call :meth:`close`."""

    def __init__(self, folder: str | Path, read_only: bool = False):
        """Open (creating unless ``read_only``) ``folder/results.sqlite``; StoreError if unusable."""
        self.folder = Path(folder)
        self.path = self.folder / STORE_NAME
        self.db = None
        if not read_only:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot use {self.folder} as the output folder ({error.strerror}); "
                                 "give --out a folder you can write to") from None
            if not os.access(self.folder, os.W_OK | os.X_OK):
                raise StoreError(f"the output folder {self.folder} is not writable; give --out a folder you can "
                                 "write to")
        existed = self.path.exists()
        if existed and not self.path.is_file():
            raise StoreError(f"{self.path} is not a file; move it away or choose another --out")
        if read_only and not existed:
            raise StoreError(f"no {STORE_NAME} in {self.folder}: run `rdpbench run --out {self.folder}` first")
        try:
            if existed:
                mode = "ro" if read_only else "rw"
                self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode={mode}", timeout=60, uri=True)
                self._check_existing()
            else:
                self.db = sqlite3.connect(self.path, timeout=60)
            self.schema_version = self._stored_version()
            if self.schema_version > SCHEMA_VERSION:
                self.db.close()
                raise StoreError(f"{self.path} was written by a newer rdpbench (store schema {self.schema_version}, "
                                 f"this rdpbench reads up to {SCHEMA_VERSION}); upgrade rdpbench to use this folder")
            if not read_only:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
                with self.db:  # one transaction: a failed migration leaves the store as it was
                    self._add_missing_columns()
                    for version in range(self.schema_version, SCHEMA_VERSION):
                        MIGRATIONS[version](self.db)
                    self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self.schema_version = SCHEMA_VERSION
        except sqlite3.DatabaseError as error:
            raise self._damaged(str(error)) from None

    def _stored_version(self) -> int:
        """The schema version in ``meta``: SCHEMA_VERSION for a new store, 1 for stores older than the key."""
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            return SCHEMA_VERSION
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 1

    def _check_existing(self) -> None:
        """Refuse a file that is not an rdpbench store or fails SQLite's integrity check, read-only."""
        tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if self.path.stat().st_size and "meta" not in tables:
            raise self._damaged("it is not an rdpbench results store (no meta table)")
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise self._damaged("; ".join(problems))

    def _damaged(self, reason: str) -> StoreError:
        if self.db is not None:
            self.db.close()
        exports = [name for name in ("per_image.csv", "summary.csv") if (self.folder / name).is_file()]
        kept = f"the CSV exports beside it ({', '.join(exports)}) hold the results of the last finished run; " \
            if exports else ""
        return StoreError(f"{self.path} is damaged or not a results store ({reason}); it was left untouched. "
                          f"{kept}run into a fresh --out, or move the file away to start this folder again")

    def _add_missing_columns(self) -> None:
        """Columns added after a store was first written (older stores stay readable and resumable)."""
        for table, columns in _ADDED_COLUMNS.items():
            present = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            for column, kind in columns.items():
                if column not in present:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- dataset identity ------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def bind_dataset(self, name: str, root: str, fingerprint: str, image_hashes: dict[str, str]) -> None:
        """Record the dataset on first use; refuse a folder that holds results for other images."""
        known = self.meta("dataset_fingerprint")
        if known is not None and known != fingerprint:
            raise DatasetMismatchError(
                f"{self.folder} holds results for dataset {self.meta('dataset_name')!r} "
                f"({self.meta('dataset_root')}) with other image contents; use another --out"
            )
        with self.db:
            for key, value in (("dataset_name", name), ("dataset_root", root), ("dataset_fingerprint", fingerprint)):
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            self.db.executemany("INSERT OR IGNORE INTO images VALUES (?, ?)", image_hashes.items())

    # -- runs and provenance ---------------------------------------------------------------------
    def start_run(self, started_at: str, command: str, config: dict, versions: dict, git_commit: str,
                  hostname: str) -> int:
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, status, command, config, versions, git_commit, hostname)"
                " VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (started_at, command, json.dumps(config), json.dumps(versions), git_commit, hostname),
            )
        return cursor.lastrowid

    def set_run_tasks(self, run_id: int, n_tasks: int) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET n_tasks = ? WHERE run_id = ?", (n_tasks, run_id))

    def record_codec(self, run_id: int, codec: str, name: str, options: dict, description: str, version: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO run_codecs VALUES (?, ?, ?, ?, ?, ?)",
                            (run_id, codec, name, json.dumps(options), description, version))

    def record_metric(self, run_id: int, metric: str, description: str, options: dict, weight_files: list[str],
                      columns: list[Column], position: int) -> None:
        """A metric as this run used it: its convention, options, weight files and the columns it
        declares; ``position`` orders metrics in the results (columns keep their declared order)."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO run_metrics (run_id, metric, description, options, weight_files)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (run_id, metric, description, json.dumps(options), json.dumps(weight_files)))
            _insert_columns(self.db, run_id, columns, position)

    def metric_columns(self) -> dict[str, Column]:
        """Every metric column recorded in this folder, as the latest run that used it declared it,
        in result order (metric position, then declared order)."""
        if self.schema_version < 2:  # read-only open of a version-1 store: what migrating would give
            recorded = {metric for (metric,) in self.query("SELECT DISTINCT metric FROM run_metrics")}
            return {column.name: column for column in VERSION_1_COLUMNS if column.metric in recorded}
        rows = self.query(
            "SELECT column_name, label, unit, higher_is_better, decimals, metric, kind, group_name FROM metric_columns m"
            " WHERE run_id = (SELECT MAX(run_id) FROM metric_columns WHERE column_name = m.column_name)"
            " ORDER BY metric_position, metric, column_position")
        return {str(name): Column(str(name), str(label), str(unit or ""), None if higher is None else bool(higher),
                                  _bounded_decimals(decimals), str(metric), kind if kind in KINDS else "paired",
                                  str(group or ""))
                for name, label, unit, higher, decimals, metric, kind, group in rows}

    def weight_states(self) -> dict[str, str]:
        """{weight file: WEIGHT_STATES key} over every run into this folder; a file used in several
        runs gets the weakest state any of them recorded."""
        order = list(WEIGHT_STATES)
        states: dict[str, str] = {}
        for (versions,) in self.query("SELECT versions FROM runs"):
            try:
                weights = json.loads(versions or "{}").get("weights", {})
            except (json.JSONDecodeError, AttributeError):
                continue
            for name, entry in weights.items() if isinstance(weights, dict) else ():
                state = weight_state(str(name), entry if isinstance(entry, dict) else {})
                if order.index(state) >= order.index(states.get(name, "verified")):
                    states[str(name)] = state
        return dict(sorted(states.items()))

    def record_setting(self, codec: str, setting: str, params: dict) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?, ?)", (codec, setting, json.dumps(params)))

    def record_executor(self, run_id: int, executor: dict) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET executor = ? WHERE run_id = ?", (json.dumps(executor), run_id))

    def finish_run(self, run_id: int, finished_at: str, status: str, n_failed: int) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET finished_at = ?, status = ?, n_failed = ? WHERE run_id = ?",
                            (finished_at, status, n_failed, run_id))

    def previous_codec_version(self, codec: str, before_run: int) -> str | None:
        row = self.db.execute(
            "SELECT version FROM run_codecs WHERE codec = ? AND run_id < ? ORDER BY run_id DESC LIMIT 1",
            (codec, before_run)).fetchone()
        return row[0] if row else None

    # -- per-image results -----------------------------------------------------------------------
    def existing(self) -> dict[tuple[str, str, str], tuple[bool, set[str]]]:
        """For every stored (codec, setting, image): (row has an error, names of stored metrics)."""
        status = {(c, s, i): (bool(e), set()) for c, s, i, e in self.db.execute(
            "SELECT codec, setting, image, error FROM rows")}
        for c, s, i, metric in self.db.execute("SELECT codec, setting, image, metric FROM metric_values"):
            if (c, s, i) in status:
                status[(c, s, i)][1].add(metric)
        for c, s, i, spec in self.db.execute("SELECT codec, setting, image, spec FROM features"):
            if (c, s, i) in status:
                status[(c, s, i)][1].add(f"features:{spec}")
        return status

    def retried(self) -> set[tuple[str, str, str]]:
        """The (codec, setting, image) of error rows a plain re-run computes again: their cause lay
        outside the task, a full disk or quota (:data:`rdpbench.tasks.RETRIED`)."""
        return {(c, s, i) for c, s, i in self.db.execute(
            "SELECT codec, setting, image FROM rows WHERE substr(error, 1, ?) = ?", (len(RETRIED), RETRIED))}

    def write_result(self, result: TaskResult, run_id: int) -> None:
        """Insert or replace one task's row and add its metric values, atomically. A successful row
        that was already stored successfully (a later run adding metrics to it) keeps its stored
        encode/decode times and ``run_id``: timings come from the run that first encoded it."""
        task = result.task
        key = (task.codec, task.setting, task.image)
        kept = "CASE WHEN rows.error IS NULL AND excluded.error IS NULL THEN rows.{0} ELSE excluded.{0} END"
        with self.db:
            self.db.execute(
                "INSERT INTO rows (codec, setting, image, width, height, bytes, bpp, encode_s, decode_s,"
                " error, run_id, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (codec, setting, image) DO UPDATE SET width = excluded.width, height = excluded.height,"
                " bytes = excluded.bytes, bpp = excluded.bpp, error = excluded.error, worker = excluded.worker, "
                + ", ".join(f"{column} = {kept.format(column)}" for column in ("encode_s", "decode_s", "run_id")),
                (*key, result.width, result.height, result.bytes, result.bpp, result.encode_s,
                 result.decode_s, result.error or None, run_id, result.worker),
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO metric_values VALUES (?, ?, ?, ?, ?, ?)",
                [(*key, name, _nan_to_none(value.value), value.note or None) for name, value in result.metrics.items()],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?)",
                [(*key, spec, len(array), _array_bytes(array)) for spec, array in result.features.items()],
            )

    # -- distribution metrics and originals -------------------------------------------------------
    def features_of(self, codec: str, setting: str, spec: str) -> dict[str, np.ndarray]:
        """Stored reconstruction features of one setting, per image (rows without codec errors)."""
        rows = self.db.execute(
            "SELECT f.image, f.data FROM features f JOIN rows r USING (codec, setting, image) "
            "WHERE f.codec = ? AND f.setting = ? AND f.spec = ? AND r.bytes IS NOT NULL", (codec, setting, spec))
        return {image: np.load(io.BytesIO(data)) for image, data in rows}

    def write_original_features(self, spec: str, features: dict[str, np.ndarray]) -> None:
        """Patch features of the originals, {image: float32 (n_patches, dimension)}, for ``spec``."""
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO original_features VALUES (?, ?, ?, ?)",
                                [(spec, image, len(array), _array_bytes(array)) for image, array in features.items()])

    def original_features(self, spec: str) -> dict[str, np.ndarray]:
        """{image: features} of the originals for ``spec``; empty when none were stored."""
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'original_features'").fetchone():
            return {}
        rows = self.db.execute("SELECT image, data FROM original_features WHERE spec = ?", (spec,))
        return {image: np.load(io.BytesIO(data)) for image, data in rows}

    def write_distribution(self, codec: str, setting: str, metric: str, values: dict[str, float], n_patches: int,
                           n_images: int, spec: str, note: str) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO distribution_values VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(codec, setting, metric, column, _nan_to_none(value), n_patches, n_images, spec, note or None)
                 for column, value in values.items()])

    def write_original_values(self, metric: str, values: dict[str, float]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO original_values VALUES (?, ?, ?, NULL)",
                                [(image, metric, _nan_to_none(value)) for image, value in values.items()])

    def query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple]:
        with closing(self.db.execute(sql, tuple(parameters))) as cursor:
            return cursor.fetchall()
