"""Codec defaults and what `rdpbench codecs` says about them; repeated --codec; library warnings in the log."""

import io
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rdpbench.codecs.registry import CODECS, create_codec


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def cod_marker(codestream: bytes) -> dict:
    """The COD marker segment of a JPEG 2000 codestream (ITU-T T.800 A.6.1): progression order,
    layers, multiple component transform flag, decomposition levels, wavelet (0 = 9/7, 1 = 5/3)."""
    assert codestream[:2] == b"\xff\x4f"  # SOC
    position = 2
    while True:
        marker, length = struct.unpack(">HH", codestream[position:position + 4])
        if marker == 0xFF52:
            body = codestream[position + 4:position + 2 + length]
            _, order, layers, mct, levels = struct.unpack(">BBHBB", body[:6])
            return {"order": order, "layers": layers, "mct": mct, "levels": levels, "wavelet": body[9]}
        position += 2 + length


def test_jpeg2000_codes_with_the_colour_transform_and_the_9_7_wavelet_by_default(photo):
    codec = create_codec("jpeg2000")
    setting = codec.resolve_setting({"ratio": 40})
    default = codec.encode(photo, setting)
    assert cod_marker(default) == {"order": 0, "layers": 1, "mct": 1, "levels": 5, "wavelet": 0}
    assert cod_marker(codec.encode(photo, {**setting, "mct": 0}))["mct"] == 0
    assert cod_marker(codec.encode(photo, {**setting, "wavelet": "5-3"}))["wavelet"] == 1
    # the transform is what makes JPEG 2000 competitive: same rate, higher PSNR
    without = codec.encode(photo, {**setting, "mct": 0})
    assert len(default) == pytest.approx(len(without), rel=0.02)
    assert psnr(photo, codec.decode(default, setting)) > psnr(photo, codec.decode(without, setting)) + 1.0


def test_jpeg_and_avif_defaults_are_4_2_0_as_documented(photo):
    for name in ("jpeg", "avif"):
        codec = create_codec(name)
        if codec.unavailable_reason():
            continue
        data = codec.encode(photo, codec.resolve_setting({}))
        if name == "jpeg":
            with Image.open(io.BytesIO(data)) as image:  # Pillow: 2 = 4:2:0
                from PIL import JpegImagePlugin

                assert JpegImagePlugin.get_sampling(image) == 2


def test_codecs_names_every_default_and_what_it_reproduces(run_cli, capsys):
    assert run_cli("codecs") == 0
    out = capsys.readouterr().out
    for entry in CODECS.entries().values():
        if entry.load_error is None:
            assert create_codec(entry.name).defaults_note, f"{entry.name} has no defaults note"
    assert "defaults: 9/7 wavelet, colour transform on (mct=1)" in out
    assert "mct=0..1 [default 1]" in out and "wavelet=9-7|5-3 [default 9-7]" in out
    assert "CompressAI's Kodak JPEG table" in out and "bpg_444_x265_ycbcr.json" in out


def test_repeated_codec_flags_add_codecs(run_cli, photo_dir, tmp_path):
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--codec", "webp", "--sweep", "quality=30,60",
                   "--metrics", "psnr", "--out", out) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(zip(summary.codec, summary.setting)) == [("jpeg", "quality=30"), ("jpeg", "quality=60"),
                                                          ("webp", "quality=30"), ("webp", "quality=60")]


def test_library_warnings_go_to_the_log_not_the_terminal(plugin_dir, photo_dir, tmp_path):
    """In a separate interpreter, as a user runs it (pytest records warnings itself), with 2 workers."""
    (plugin_dir / "noisy.py").write_text(textwrap.dedent('''
        import logging
        import warnings
        from rdpbench.codecs.api import Param
        from rdpbench.codecs.pillow import PillowCodec

        class Noisy(PillowCodec):
            name = "noisy"
            pillow_format = "PNG"
            params = (Param("level", "int", 1, "zlib level", low=0, high=9, rate=True),)

            def save_options(self, image, setting):
                warnings.warn("a library's deprecation warning", DeprecationWarning)
                logging.getLogger("somelibrary").info("a library's loading message")
                return {"compress_level": setting["level"]}
    '''))
    environment = {**os.environ, "RDPBENCH_CACHE": str(tmp_path / "cache"), "RDPBENCH_CODECS_PATH": str(plugin_dir)}
    environment.pop("RDPBENCH_LOG", None)
    done = subprocess.run([sys.executable, "-m", "rdpbench", "run", "--images", str(photo_dir), "--codec", "noisy",
                           "--metrics", "psnr", "--out", str(tmp_path / "o"), "--jobs", "2"],
                          capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "cache" / "rdpbench.log").read_text()
    assert log.count("py.warnings WARNING") >= 1 and log.count("somelibrary INFO: a library's loading message") == 2
    assert "deprecation warning" not in done.stderr and "loading message" not in done.stderr
    assert f"library warnings and messages of this run are in {tmp_path / 'cache' / 'rdpbench.log'}" in done.stderr
    assert np.isinf(pd.read_csv(tmp_path / "o" / "summary.csv")["psnr"]).all()


def test_library_prints_during_metrics_go_to_the_log(tmp_path, capsys, monkeypatch):
    from rdpbench import logs

    monkeypatch.delenv(logs.ENVIRONMENT, raising=False)
    logs.setup(tmp_path / "rdpbench.log")
    with logs.library_prints():
        print("Loading pretrained model DISTS from x.pth")
        print("no newline at the end", end="")
    assert capsys.readouterr().out == ""
    log = (tmp_path / "rdpbench.log").read_text()
    assert "stdout INFO: Loading pretrained model DISTS from x.pth" in log and "no newline at the end" in log
