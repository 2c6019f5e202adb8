"""`rdpbench run` end to end: rows, conventions, awkward inputs, failures, resumption."""

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image

def _read_rows(out: Path) -> pd.DataFrame:
    rows = pd.read_csv(out / "per_image.csv", dtype={"error": str})
    rows["error"] = rows["error"].fillna("")
    return rows


PER_IMAGE_COLUMNS = ["codec", "setting", "image", "width", "height", "bytes", "bpp", "encode_s", "decode_s",
                     "psnr", "ms_ssim", "error"]


def test_rows_bpp_and_means_follow_the_conventions(tmp_path, photo_dir, run_cli):
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=20,60", "--out", out,
                   "--save-recon") == 0
    rows = _read_rows(out)
    assert list(rows.columns) == PER_IMAGE_COLUMNS
    assert len(rows) == 4 and set(rows["setting"]) == {"quality=20", "quality=60"}
    for row in rows.itertuples():
        original = np.asarray(Image.open(photo_dir / row.image).convert("RGB"))
        encoded = __import__("io").BytesIO()
        Image.fromarray(original).save(encoded, format="JPEG", quality=int(row.setting.split("=")[1]))
        assert row.bytes == len(encoded.getvalue())
        assert row.bpp == pytest.approx(8 * row.bytes / (row.width * row.height), rel=1e-12)
        assert (row.height, row.width) == original.shape[:2]
        recon = np.asarray(Image.open(out / "recon" / "jpeg" / row.setting / row.image))
        mse = np.mean((recon.astype(float) - original) ** 2)
        assert row.psnr == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["codec", "setting", "n_images", "n_failed", "bpp", "psnr", "ms_ssim",
                                     "encode_s", "decode_s", "n_bpp", "n_psnr", "n_ms_ssim"]
    assert list(summary["setting"]) == ["quality=20", "quality=60"]
    for summary_row in summary.itertuples():
        group = rows[rows["setting"] == summary_row.setting]
        assert summary_row.psnr == pytest.approx(group["psnr"].mean())  # mean of per-image PSNR ...
        pooled_mse = np.mean([255**2 / 10 ** (p / 10) for p in group["psnr"]])
        assert abs(summary_row.psnr - 10 * math.log10(255**2 / pooled_mse)) > 1e-6  # ... not PSNR of mean MSE
        assert summary_row.bpp == pytest.approx(group["bpp"].mean())
    document = json.loads((out / "compressai" / "jpeg.json").read_text())
    assert document["name"] == "jpeg" and document["settings"] == ["quality=20", "quality=60"]
    assert document["results"]["psnr-rgb"] == pytest.approx(list(summary["psnr"]))
    assert document["results"]["ms-ssim-rgb"] == pytest.approx(list(summary["ms_ssim"]))
    assert document["results"]["bpp"] == pytest.approx(list(summary["bpp"]))


def _awkward_folder(folder: Path) -> dict[str, bool]:
    """Awkward inputs; value: whether the file is decodable."""
    import imagecodecs

    folder.mkdir()
    photo = skimage.data.astronaut()[:200, :180]
    Image.fromarray(photo[:, :, 0]).save(folder / "grey.png")
    Image.fromarray(np.dstack([photo, photo[:, :, :1]])).save(folder / "rgba.png")
    Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    Image.fromarray(photo[:, :, 1].astype(np.uint16) * 257).save(folder / "grey16.png")
    (folder / "rgb48.png").write_bytes(imagecodecs.png_encode(photo.astype(np.uint16) * 257))
    Image.fromarray(np.dstack([photo, photo[:, :, :1]]), mode="CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(photo[:8, :8]).save(folder / "tiny 8x8.bmp")
    Image.fromarray(photo[:61, :97]).save(folder / "odd 97x61.tif")
    Image.fromarray(photo).save(folder / "name with spaces $(touch pwned).png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    (folder / "empty.png").write_bytes(b"")
    return {path.name: path.name not in ("corrupt.jpg", "empty.png") for path in folder.iterdir()}


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif", "heic", "jpeg2000", "png"])
def test_awkward_inputs_give_numbers_or_clear_error_rows(tmp_path, run_cli, codec, monkeypatch):
    files = _awkward_folder(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert run_cli("run", "--images", tmp_path / "in", "--codec", codec, "--out", out, "--jobs", "2") == 1
    rows = _read_rows(out).set_index("image")
    assert set(rows.index) == set(files)
    for name, decodable in files.items():
        row = rows.loc[name]
        if decodable:
            assert row["error"] == "" and row["bytes"] > 0 and math.isfinite(row["bpp"]) and row["psnr"] > 15, name
            assert math.isnan(row["ms_ssim"]) == (min(row["width"], row["height"]) < 161), name
        else:
            assert row["error"].startswith("input: ") and ("cannot decode" in row["error"] or "empty file" in row["error"])
            assert math.isnan(row["bpp"])
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "in" / "pwned").exists()
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[0, "n_images"] == len(files) and summary.loc[0, "n_failed"] == 2


def test_a_crashing_codec_is_one_error_row_and_the_run_goes_on(tmp_path, photo_dir, plugin_dir, run_cli):
    (plugin_dir / "crashy.py").write_text(textwrap.dedent('''
        import os, signal
        from rdpbench.codecs.api import Codec, Param

        class Crashy(Codec):
            name = "crashy"
            params = (Param("quality", "int", 1, "", low=0, high=9, rate=True),)

            def encode(self, image, setting):
                if image.shape[1] == 256:          # astronaut crop: a segfault in a native library
                    os.kill(os.getpid(), signal.SIGSEGV)
                if setting["quality"] == 2:
                    raise MemoryError("no memory for this one")
                return image.tobytes()

            def decode(self, data, setting):
                import numpy as np
                return np.frombuffer(data, dtype=np.uint8).reshape(170, 200, 3)
    '''))
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "crashy", "--sweep", "quality=1,2", "--out", out,
                   "--jobs", "2") == 1
    rows = _read_rows(out).set_index(["setting", "image"])
    assert "killed by signal 11" in rows.loc[("quality=1", "astronaut.png"), "error"]
    assert rows.loc[("quality=2", "coffee.png"), "error"] == "codec: MemoryError: no memory for this one"
    assert rows.loc[("quality=1", "coffee.png"), "error"] == ""
    assert rows.loc[("quality=1", "coffee.png"), "psnr"] == math.inf


def test_a_folder_refuses_results_of_other_images(tmp_path, photo_dir, run_cli, capsys):
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "png", "--out", out) == 0
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo_dir / "coffee.png")
    assert run_cli("run", "--images", photo_dir, "--codec", "png", "--out", out) == 2
    assert "other image contents; use another --out" in capsys.readouterr().err


def test_missing_tool_fails_fast_with_the_install_hint(tmp_path, photo_dir, run_cli, capsys):
    if __import__("shutil").which("bpgenc"):
        pytest.skip("bpgenc is installed here")
    assert run_cli("run", "--images", photo_dir, "--codec", "bpg", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "codec 'bpg' is not available: not on PATH: bpgdec, bpgenc" in err and "bellard.org/bpg" in err
    assert not (tmp_path / "out").exists()


def test_later_runs_add_settings_and_missing_metrics_without_redoing_work(tmp_path, photo_dir, run_cli):
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "webp", "--sweep", "quality=30", "--metrics", "psnr",
                   "--out", out) == 0
    first = pd.read_csv(out / "per_image.csv")
    assert "ms_ssim" not in first.columns
    assert run_cli("run", "--images", photo_dir, "--codec", "webp", "--sweep", "quality=30,70",
                   "--metrics", "psnr,ms-ssim", "--out", out) == 0
    second = pd.read_csv(out / "per_image.csv")
    assert len(second) == 4 and second["ms_ssim"].notna().all()
    kept = second[second["setting"] == "quality=30"].reset_index(drop=True)
    assert list(kept["psnr"]) == list(first["psnr"])
    with sqlite3.connect(out / "results.sqlite") as db:
        runs = db.execute("SELECT run_id, n_tasks, status, git_commit, versions FROM runs").fetchall()
    assert [(r[1], r[2]) for r in runs] == [(2, "finished"), (4, "finished")]  # 2 new + 2 for ms_ssim only
    assert "torch" in json.loads(runs[0][4])


def _store_rows(out: Path) -> dict:
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT codec, setting, image, bytes, bpp, encode_s, run_id FROM rows").fetchall()
        values = db.execute("SELECT codec, setting, image, metric, value FROM metric_values").fetchall()
    return {"rows": {r[:3]: r[3:] for r in rows}, "values": {v[:4]: v[4] for v in values}}


def test_kill_9_then_the_same_command_completes_without_loss_or_duplicates(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    photo = skimage.data.astronaut()
    for i in range(6):
        Image.fromarray(np.roll(photo, 40 * i, axis=1)).save(images / f"img{i}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rdpbench", "run", "--images", str(images), "--codec", "avif",
               "--sweep", "quality=10:90:10", "--out", str(out), "--jobs", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    database = out / "results.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            with sqlite3.connect(database) as db:
                if db.execute("SELECT COUNT(*) FROM rows").fetchone()[0] >= 10:
                    break
        except sqlite3.OperationalError:
            pass
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = _store_rows(out)
    assert 10 <= len(before["rows"]) < 54, "the kill should land in the middle of the run"

    assert subprocess.run(command, capture_output=True).returncode == 0
    after = _store_rows(out)
    assert len(after["rows"]) == 54 and len(after["values"]) == 108
    for key, stored in before["rows"].items():
        assert after["rows"][key] == stored  # finished work was neither redone nor changed
    rows = pd.read_csv(out / "per_image.csv")
    assert len(rows) == 54 and not rows.duplicated(["codec", "setting", "image"]).any()

    # the same rows as one uninterrupted run (the codec is deterministic)
    fresh = tmp_path / "fresh"
    assert subprocess.run(command[:-4] + ["--out", str(fresh), "--jobs", "2"], capture_output=True).returncode == 0
    reference = _store_rows(fresh)
    assert {k: v[:2] for k, v in after["rows"].items()} == {k: v[:2] for k, v in reference["rows"].items()}
    assert after["values"] == pytest.approx(reference["values"])
    with sqlite3.connect(database) as db:
        assert [r[0] for r in db.execute("SELECT status FROM runs ORDER BY run_id")] == ["running", "finished"]


@pytest.mark.parametrize("side", ["above", "below"])
def test_match_bpp_finds_the_quality_just_above_or_below_the_reference(tmp_path, photo_dir, run_cli, side):
    import io

    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "webp", "--sweep", "quality=40", "--out", out) == 0
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--match-bpp", "webp:quality=40",
                   "--match-side", side, "--out", out) == 0
    rows = _read_rows(out)
    reference = rows[rows.codec == "webp"].set_index("image")["bpp"]
    matched = rows[rows.codec == "jpeg"].set_index("image")
    assert set(matched["setting"]) == {("bpp>=" if side == "above" else "bpp<=") + "webp:quality=40"}

    def jpeg_bpp(image, quality):  # Pillow directly, as an independent reference
        pixels = np.asarray(Image.open(photo_dir / image).convert("RGB"))
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(quality))
        return 8 * len(buffer.getvalue()) / (pixels.shape[0] * pixels.shape[1])

    for image, row in matched.iterrows():
        quality = row["matched_quality"]
        assert row["bpp"] == pytest.approx(jpeg_bpp(image, quality))
        if side == "above":
            assert row["bpp"] >= reference[image] > jpeg_bpp(image, quality - 1)
        else:
            assert row["bpp"] <= reference[image] < jpeg_bpp(image, quality + 1)
