"""Shared fixtures: sample photos that need no download, awkward inputs, a CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from rdpbench.cli import main
from rdpbench.codec_registry import discover

SHARED_KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak"


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
    discover.cache_clear()
    yield folder
    discover.cache_clear()


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
