"""The wheel works outside the checkout: build the sdist from this checkout, the wheel from the
unpacked sdist (so the sdist is complete too), install it into a fresh virtual environment, and from
an unrelated folder list the codecs, fetch the demo's photos, run the demo config by name (one codec),
render a report, and evaluate a registered codec (the same values as the CLI) and an encode/decode
object through the Python API.

The fresh environment reuses the locked packages of the environment running the tests (torch is not
downloaded twice): a .pth file puts that environment's site-packages after its own, where .pth files
are not processed, so an editable rdpbench there is not importable, and the check that
``rdpbench.__file__`` lies inside the new environment makes sure the wheel is what runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BUILD = "from setuptools import build_meta; import sys; print(build_meta.build_{}(sys.argv[1]))"


def _python(*args: str, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run([*args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_runs_the_cli_and_the_api_from_an_unrelated_folder(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "RDPBENCH_"))}
    dist = tmp_path / "dist"
    sdist = _python(sys.executable, "-c", BUILD.format("sdist"), str(dist), cwd=ROOT, env=clean).split()[-1]
    with tarfile.open(dist / sdist) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    source = tmp_path / "src" / sdist.removesuffix(".tar.gz")
    for shipped in ("codecs/jpeg.py", "codecs/bpg.toml", "datasets/kodak.toml", "benchmark/configs/demo.toml"):
        assert (source / shipped).is_file(), f"the sdist lacks {shipped}"
    wheel = _python(sys.executable, "-c", BUILD.format("wheel"), str(dist), cwd=source, env=clean).split()[-1]

    venv = tmp_path / "venv"
    _python(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=tmp_path, env=clean)
    python = venv / "bin" / "python"
    own = Path(_python(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                       cwd=tmp_path, env=clean).strip())
    (own / "_locked_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _python(str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--ignore-installed",
            str(dist / wheel), cwd=tmp_path, env=clean)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**clean, "RDPBENCH_HOME": str(tmp_path / "home"), "RDPBENCH_CACHE": str(tmp_path / "cache")}
    imported = _python(str(python), "-c", "import rdpbench; print(rdpbench.__file__)", cwd=elsewhere, env=env)
    assert Path(imported.strip()).is_relative_to(venv), imported
    rdpbench = str(venv / "bin" / "rdpbench")
    listing = _python(rdpbench, "codecs", cwd=elsewhere, env=env)
    for name in ("jpeg", "webp", "png", "bpg", "compressai-mbt2018-mean"):
        assert f"\n{name} " in "\n" + listing, listing
    assert "demo" in _python(rdpbench, "configs", cwd=elsewhere, env=env)
    assert "compressai:kodak/bpg_444_x265_ycbcr" in _python(rdpbench, "published", cwd=elsewhere, env=env)
    _python(rdpbench, "datasets", "fetch", "skimage-photos", cwd=elsewhere, env=env)
    assert len(list((tmp_path / "home" / "datasets" / "skimage-photos").glob("*.png"))) == 4
    _python(rdpbench, "run", "demo", "--codec", "jpeg", "--sweep", "quality=30,70", "--jobs", "1", "--out", "res",
            cwd=elsewhere, env=env)
    summary = pd.read_csv(elsewhere / "res" / "summary.csv")
    assert list(summary["setting"]) == ["quality=30", "quality=70"] and (summary["n_failed"] == 0).all()
    _python(rdpbench, "report", "res", "--out", "rep", cwd=elsewhere, env=env)
    assert (elsewhere / "rep" / "index.html").is_file()

    api = _python(str(python), "-c", API, cwd=elsewhere, env=env)
    assert api.strip().splitlines()[-1] == "same as the CLI", api


API = """
import numpy as np, pandas as pd, rdpbench
results = rdpbench.evaluate("jpeg", "skimage-photos", sweep={"quality": [30, 70]})
cli = pd.read_csv("res/summary.csv")
assert np.allclose(results.summary[["bpp", "psnr", "ms_ssim"]], cli[["bpp", "psnr", "ms_ssim"]], rtol=0, atol=0)
class Identity:
    def encode(self, image): return image.shape[0].to_bytes(4, "big") + image.tobytes()
    def decode(self, data): return np.frombuffer(data[4:], np.uint8).reshape(int.from_bytes(data[:4], "big"), -1, 3)
assert np.isinf(rdpbench.evaluate(Identity(), "skimage-photos", metrics=["psnr"]).summary["psnr"]).all()
print("same as the CLI")
"""
