"""Dataset fetching against a local HTTP server: checksums, safe extraction, lock verification."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdpbench import datasets
from rdpbench.datasets import DatasetError



@pytest.fixture
def server(tmp_path, serve):
    """(base URL, folder) of an HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    return serve(root), root


@pytest.fixture
def manifests(tmp_path, monkeypatch):
    folder = tmp_path / "datasets"
    folder.mkdir()
    monkeypatch.setenv("RDPBENCH_DATASETS_DIR", str(folder))
    return folder


def _png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _manifest(folder: Path, name: str, url: str, md5: str = "", expected: int = 2) -> None:
    md5_line = f'md5 = "{md5}"' if md5 else ""
    (folder / f"{name}.toml").write_text(
        f'name = "{name}"\nexpected_images = {expected}\n[[archive]]\nurl = "{url}"\n{md5_line}\ndest = "part"\n')


def test_fetch_verifies_extracts_and_records_hashes(server, manifests):
    base, www = server
    archive = _zip({"valid/a.png": _png_bytes(1), "valid/b.png": _png_bytes(2), "valid/readme.txt": b"hi"})
    (www / "set.zip").write_bytes(archive)
    _manifest(manifests, "toy", f"{base}/set.zip", md5=hashlib.md5(archive).hexdigest())
    root = datasets.fetch("toy")
    lock = json.loads((root / datasets.LOCK_NAME).read_text())
    assert lock["archives"][f"{base}/set.zip"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert lock["files"]["part/valid/a.png"] == hashlib.sha256(_png_bytes(1)).hexdigest()
    assert not (root / ".download").exists()
    path, hashes = datasets.local_copy("toy")
    assert path == root and sorted(hashes) == ["part/valid/a.png", "part/valid/b.png"]

    (root / "part/valid/a.png").write_bytes(_png_bytes(3))  # a later change is detected on use
    with pytest.raises(DatasetError, match="changed part/valid/a.png"):
        datasets.local_copy("toy")


def test_a_corrupted_download_is_refused_and_nothing_is_kept(server, manifests):
    base, www = server
    good = _zip({"a.png": _png_bytes(1), "b.png": _png_bytes(2)})
    (www / "set.zip").write_bytes(good[:-10] + b"corruption")
    _manifest(manifests, "toy", f"{base}/set.zip", md5=hashlib.md5(good).hexdigest())
    with pytest.raises(DatasetError, match="md5 mismatch .* expected " + hashlib.md5(good).hexdigest()):
        datasets.fetch("toy")
    assert datasets.find_images(manifests / "toy") == []
    with pytest.raises(DatasetError, match="not fetched here: run `rdpbench datasets fetch toy`"):
        datasets.local_copy("toy")


@pytest.mark.parametrize("evil", ["../escaped.png", "/tmp/absolute-rdpbench.png", "a/../../escaped.png"])
def test_path_traversal_members_are_refused_before_extracting(server, manifests, evil):
    base, www = server
    (www / "evil.zip").write_bytes(_zip({"a.png": _png_bytes(1), evil: _png_bytes(2)}))
    _manifest(manifests, "evil", f"{base}/evil.zip")
    with pytest.raises(DatasetError, match="refusing to extract evil.zip: member .* (absolute path|'..')"):
        datasets.fetch("evil")
    assert not (manifests / "escaped.png").exists() and not (manifests / "evil" / "escaped.png").exists()
    assert not Path("/tmp/absolute-rdpbench.png").exists()
    assert not (manifests / "evil" / "part" / "a.png").exists()  # nothing at all was extracted


def test_recorded_hash_is_checked_on_a_later_fetch(server, manifests):
    base, www = server
    (www / "set.zip").write_bytes(_zip({"a.png": _png_bytes(1), "b.png": _png_bytes(2)}))
    _manifest(manifests, "toy", f"{base}/set.zip")  # no published hash: recorded at first fetch
    datasets.fetch("toy")
    (www / "set.zip").write_bytes(_zip({"a.png": _png_bytes(5), "b.png": _png_bytes(2)}))
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        datasets.fetch("toy")


def test_single_files_with_published_hashes(server, manifests, tmp_path):
    base, www = server
    (www / "x.png").write_bytes(_png_bytes(7))
    digest = hashlib.sha256(_png_bytes(7)).hexdigest()
    (manifests / "one.toml").write_text(
        f'name = "one"\nexpected_images = 1\n[[file]]\nname = "x.png"\nurl = "{base}/x.png"\nsha256 = "{digest}"\n')
    assert (datasets.fetch("one") / "x.png").read_bytes() == _png_bytes(7)
    (manifests / "bad.toml").write_text(
        f'name = "bad"\n[[file]]\nname = "x.png"\nurl = "{base}/x.png"\nsha256 = "{"0" * 64}"\n')
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        datasets.fetch("bad")
    assert not (manifests / "bad" / "x.png").exists()


def test_shipped_manifests_are_complete(monkeypatch):
    """Kodak: 24 files whose hashes are the published list; the others name their sources."""
    monkeypatch.delenv("RDPBENCH_DATASETS_DIR", raising=False)
    kodak = datasets.load_manifest("kodak")
    assert len(kodak.files) == kodak.expected_images == 24
    assert kodak.files[0]["sha256"] == "a56e27cbf5f843c048b6af1d6e090760e9c92fadba88b7dee0205918a37523bd"
    assert datasets.load_manifest("clic2020-test").expected_images == 428
    assert datasets.load_manifest("clic2020-professional-valid").archives[0]["md5"] == "7111ee240435911db04dbc5f40d50272"
    assert datasets.load_manifest("div2k-valid").expected_images == 100
    assert {"kodak", "skimage-photos", "clic2020-valid", "clic2020-test", "div2k-valid"} <= set(datasets.manifest_names())
