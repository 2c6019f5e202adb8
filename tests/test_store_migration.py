"""Results folders written by an older rdpbench stay readable and resumable: a schema-1 store kept as
a fixture (tests/data/store_schema1, written by the release before schema 2) is read without being
changed, migrated when opened for writing, reported on, and resumed without recomputing anything."""

from __future__ import annotations

import hashlib
import math
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import standins
from rdpbench.store import SCHEMA_VERSION, ResultsStore, StoreError

FIXTURE = Path(__file__).parent / "data" / "store_schema1"


@pytest.fixture
def old_folder(tmp_path) -> Path:
    folder = tmp_path / "old"
    shutil.copytree(FIXTURE, folder)
    return folder


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_read_only_open_reads_version_1_metadata_and_changes_nothing(old_folder):
    before = _digest(old_folder / "results.sqlite")
    with ResultsStore(old_folder, read_only=True) as store:
        assert store.schema_version == 1
        columns = store.metric_columns()
    assert list(columns) == ["psnr", "ms_ssim", "niqe", "fid", "kid", "kid_std"]
    assert (columns["psnr"].unit, columns["psnr"].higher_is_better, columns["niqe"].kind) == ("dB", True, "no-reference")
    assert columns["kid_std"].higher_is_better is None and not columns["kid_std"].is_quality
    assert _digest(old_folder / "results.sqlite") == before


def test_opening_for_writing_migrates_once_and_keeps_every_value(old_folder):
    with ResultsStore(old_folder) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        migrated = store.metric_columns()
        rows = store.query("SELECT COUNT(*) FROM rows")[0][0]
    with sqlite3.connect(old_folder / "results.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
        assert db.execute("SELECT COUNT(*) FROM metric_columns").fetchone() == (6,)  # once, not per open
    with ResultsStore(old_folder) as again:
        assert again.metric_columns() == migrated and again.query("SELECT COUNT(*) FROM metric_columns")[0][0] == 6
    assert rows == 4


def test_an_old_store_is_reported_like_a_new_one_and_left_as_it_is(old_folder, tmp_path, run_cli):
    before = _digest(old_folder / "results.sqlite")
    report = tmp_path / "report"
    assert run_cli("report", old_folder, "--out", report) == 0
    assert _digest(old_folder / "results.sqlite") == before  # a report reads, it never migrates
    markdown = (report / "summary.md").read_text()
    assert "PSNR [dB] ↑" in markdown and "NIQE ↓" in markdown and "FID ↓" in markdown and "KID ↓" in markdown
    table = pd.read_csv(report / "summary.csv").set_index("setting")
    written = pd.read_csv(FIXTURE / "summary.csv").set_index("setting")  # what the old release exported
    for column in ("bpp", "psnr", "ms_ssim", "fid", "kid"):
        assert table[column].to_dict() == pytest.approx(written[column].to_dict(), rel=1e-12)


def test_an_old_folder_resumes_without_recomputing(old_folder, tmp_path, run_cli, capsys, monkeypatch):
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "weights"
    standins.inception(weights)  # the same stand-in (seed 0) the fixture was made with
    arguments = ["run", "--images", old_folder / "images", "--codec", "jpeg", "--metrics", "psnr,ms_ssim,fid,kid",
                 "--weights-dir", weights, "--allow-unverified-weights", "--out", old_folder]
    assert run_cli(*arguments, "--sweep", "quality=30,70") == 0
    assert "4 tasks, 4 already in" in capsys.readouterr().err  # features keep their key: nothing to redo
    assert run_cli(*arguments, "--sweep", "quality=30,50,70") == 0
    assert "6 tasks, 4 already in" in capsys.readouterr().err
    summary = pd.read_csv(old_folder / "summary.csv").set_index("setting")
    written = pd.read_csv(FIXTURE / "summary.csv").set_index("setting")
    for setting in ("quality=30", "quality=70"):
        for column in ("bpp", "psnr", "ms_ssim", "niqe", "fid", "kid"):
            assert summary.loc[setting, column] == pytest.approx(written.loc[setting, column], rel=1e-12)
    assert not math.isnan(summary.loc["quality=50", "fid"])


def test_a_store_from_a_newer_rdpbench_is_refused_untouched(old_folder):
    with sqlite3.connect(old_folder / "results.sqlite") as db:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '99')")
    before = _digest(old_folder / "results.sqlite")
    with pytest.raises(StoreError, match="written by a newer rdpbench .store schema 99"):
        ResultsStore(old_folder)
    assert _digest(old_folder / "results.sqlite") == before
