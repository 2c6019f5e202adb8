"""Shared fixtures: sample photos that need no download, awkward inputs, a CLI runner, and the real
data some tests need (Kodak, the official NIQE parameters), found through environment variables or
the project's own caches; those tests skip elsewhere with a message saying how to enable them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from rdpbench.cli import main
from rdpbench.codecs.registry import CODECS

# Read once, then removed from every test's environment (see `hermetic_environment`): only the
# fixtures below use them, so a set variable never changes what the other tests see.
KODAK_VARIABLE, WEIGHTS_VARIABLE = "RDPBENCH_KODAK_DIR", "RDPBENCH_WEIGHTS"
_DATA_VARIABLES = {name: os.environ.get(name) for name in (KODAK_VARIABLE, WEIGHTS_VARIABLE)}
NIQE_PARAMETERS = "niqe_modelparameters.mat"


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch):
    for name in _DATA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _kodak() -> tuple[Path | None, str]:
    """The verified Kodak folder and "", or None and why not (with how to enable the tests)."""
    from rdpbench.datasets import DatasetError, load_manifest, local_copy
    from rdpbench.hashing import sha256_file

    how = (f"set {KODAK_VARIABLE} to a folder with the 24 Kodak PNGs (kodim01.png ..), "
           "or run `rdpbench datasets fetch kodak`")
    folder = _DATA_VARIABLES[KODAK_VARIABLE]
    if not folder:
        try:
            return local_copy("kodak")[0], ""
        except DatasetError:
            return None, f"Kodak images not found: {how}"
    published = {entry["name"]: entry["sha256"] for entry in load_manifest("kodak").files}
    wrong = [name for name, digest in published.items()
             if not (Path(folder) / name).is_file() or sha256_file(Path(folder) / name) != digest]
    if wrong:  # a set variable that points at wrong data is an error, not a skip
        pytest.fail(f"{KODAK_VARIABLE}={folder}: {len(wrong)} of 24 Kodak files missing or not matching the "
                    f"published sha256 in datasets/kodak.toml (first: {wrong[0]})")
    return Path(folder), ""


def real_niqe_parameters() -> Path | None:
    """The verified official NIQE parameters (``RDPBENCH_WEIGHTS`` or the weights caches), or None."""
    from rdpbench.weights import Weights, WeightsError

    try:
        return Weights.from_options(_DATA_VARIABLES[WEIGHTS_VARIABLE]).locate(NIQE_PARAMETERS).path
    except WeightsError:
        return None


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    """The 24 Kodak images, verified against the manifest's published sha256; skips when absent."""
    folder, reason = _kodak()
    if folder is None:
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def niqe_parameters() -> Path:
    """The official NIQE parameters (sha256-verified by rdpbench.weights); skips when absent."""
    path = real_niqe_parameters()
    if path is None:
        pytest.skip(f"real {NIQE_PARAMETERS} not found: set {WEIGHTS_VARIABLE} to a folder holding it, or run "
                    f"`rdpbench weights fetch {NIQE_PARAMETERS}`")
    return path


@pytest.fixture
def photo() -> np.ndarray:
    """A natural 512x512 RGB photo (scikit-image's astronaut), uint8 (H, W, 3)."""
    return skimage.data.astronaut()


@pytest.fixture
def photo_dir(tmp_path) -> Path:
    """Two natural photos cropped to 256x192 and 200x170 (>= 161 px for MS-SSIM), as PNG files."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(skimage.data.astronaut()[100:292, 150:406]).save(folder / "astronaut.png")
    Image.fromarray(skimage.data.coffee()[50:220, 100:300]).save(folder / "coffee.png")
    return folder


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch) -> Path:
    """An extra codec folder on RDPBENCH_CODECS_PATH; the registry cache is reset around the test."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.setenv("RDPBENCH_CODECS_PATH", str(folder))
    CODECS.cache_clear()
    yield folder
    CODECS.cache_clear()


@pytest.fixture
def serve():
    """serve(folder) -> base URL of an HTTP server on 127.0.0.1 for that folder, stopped after the test."""
    import http.server
    import threading

    servers = []

    def start(folder: Path) -> str:
        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()


@pytest.fixture
def run_cli():
    """Call the rdpbench CLI in-process; returns its exit code."""

    def call(*args: str) -> int:
        return main([str(a) for a in args])

    return call


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
