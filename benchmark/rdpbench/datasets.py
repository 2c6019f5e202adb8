"""Dataset manifests, fetching with checksum verification, and local copies.

A manifest is ``datasets/<name>.toml`` (or in ``RDPBENCH_DATASETS_DIR``); its pixels go to the
git-ignored folder ``datasets/<name>/``. Fields::

    name, description, citation, expected_images
    [[file]]     name, url, sha256                 # single files (Kodak)
    [[archive]]  url, md5 and/or sha256, dest      # zip or tar archives (CLIC, DIV2K)

URLs are http(s)://, file:// or pkg://PACKAGE/PATH (a file shipped inside an installed Python
package, e.g. scikit-image's sample photos). Where the source publishes no hash, the fetch records
the sha256 of the archive and of every extracted image in ``datasets/<name>/.rdpbench-lock.json``
(``"hashes": "recorded at first fetch"``); every later use verifies the files against that lock.
Archives are extracted only after every member is checked: absolute paths, ``..`` components and
links are refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import tomllib
import urllib.parse
import urllib.request
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

from tqdm import tqdm

from rdpbench.hashing import sha256_file
from rdpbench.imageio import find_images
from rdpbench.paths import project_root

LOCK_NAME = ".rdpbench-lock.json"
_CHUNK = 1 << 20


class DatasetError(RuntimeError):
    """A dataset cannot be fetched or used; the message says what to do."""


@dataclass
class Manifest:
    name: str
    description: str = ""
    citation: str = ""
    expected_images: int | None = None
    files: list[dict] = field(default_factory=list)
    archives: list[dict] = field(default_factory=list)


def datasets_dir() -> Path:
    return Path(os.environ.get("RDPBENCH_DATASETS_DIR") or project_root() / "datasets")


def manifest_names() -> list[str]:
    return sorted(path.stem for path in datasets_dir().glob("*.toml"))


def load_manifest(name: str) -> Manifest:
    path = datasets_dir() / f"{name}.toml"
    if not path.is_file():
        raise DatasetError(f"no dataset manifest {name!r} in {datasets_dir()} (known: {', '.join(manifest_names())})")
    data = tomllib.loads(path.read_text())
    return Manifest(name=data.get("name", name), description=data.get("description", ""),
                    citation=data.get("citation", ""), expected_images=data.get("expected_images"),
                    files=data.get("file", []), archives=data.get("archive", []))


# -- downloading --------------------------------------------------------------------------------
@contextmanager
def _open_url(url: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """A readable stream for ``url`` and its length if known."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "pkg":
        resource = resources.files(parsed.netloc).joinpath(parsed.path.lstrip("/"))
        with resource.open("rb") as stream:
            yield stream, None
        return
    with urllib.request.urlopen(url, timeout=60) as response:
        length = response.headers.get("Content-Length")
        yield response, int(length) if length else None


def download(url: str, target: Path) -> dict[str, str]:
    """Download ``url`` to ``target`` (via a temporary file); return its sha256 and md5."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as partial:
        try:
            with _open_url(url) as (stream, length), tqdm(total=length, unit="B", unit_scale=True,
                                                          desc=Path(url).name, file=sys.stderr, leave=False) as bar:
                while chunk := stream.read(_CHUNK):
                    partial.write(chunk)
                    sha256.update(chunk)
                    md5.update(chunk)
                    bar.update(len(chunk))
        except Exception as error:
            os.unlink(partial.name)
            raise DatasetError(f"download of {url} failed: {error}") from error
    os.replace(partial.name, target)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def _check_hashes(url: str, got: dict[str, str], expected: dict) -> None:
    for kind in ("sha256", "md5"):
        if expected.get(kind) and expected[kind].lower() != got[kind]:
            raise DatasetError(f"{kind} mismatch for {url}: expected {expected[kind]}, got {got[kind]} "
                               "(corrupted or changed download; nothing was kept, try again)")


# -- archives -----------------------------------------------------------------------------------
def _unsafe_member(name: str, is_link: bool) -> str | None:
    path = PurePosixPath(name.replace("\\", "/"))
    if is_link:
        return "is a link"
    if path.is_absolute() or (path.parts and ":" in path.parts[0]):
        return "has an absolute path"
    if ".." in path.parts:
        return "has a '..' component"
    return None


def extract_archive(archive: Path, destination: Path) -> None:
    """Extract a zip or tar archive after checking every member; refuse the whole archive if any
    member would land outside ``destination``."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            members = [(m.filename, (m.external_attr >> 16) & 0o170000 == 0o120000) for m in zipped.infolist()]
            _refuse_unsafe(archive, members)
            zipped.extractall(destination)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tarred:
            _refuse_unsafe(archive, [(m.name, m.issym() or m.islnk()) for m in tarred.getmembers()])
            tarred.extractall(destination, filter="data")
    else:
        raise DatasetError(f"{archive.name} is neither a zip nor a tar archive")


def _refuse_unsafe(archive: Path, members: list[tuple[str, bool]]) -> None:
    for name, is_link in members:
        reason = _unsafe_member(name, is_link)
        if reason:
            raise DatasetError(f"refusing to extract {archive.name}: member {name!r} {reason}")


# -- fetch and use ------------------------------------------------------------------------------
def fetch(name: str, source_dir: Path | None = None) -> Path:
    """Download (or copy from ``source_dir``) the dataset, verify it, write its lock; return its folder."""
    manifest = load_manifest(name)
    root = datasets_dir() / manifest.name
    root.mkdir(parents=True, exist_ok=True)
    previous = _read_lock(root)
    recorded_archives = dict(previous.get("archives", {}))
    for entry in manifest.files:
        target = root / entry["name"]
        local = source_dir / entry["name"] if source_dir else None
        if target.is_file() and sha256_file(target) == entry.get("sha256"):
            continue
        url = local.resolve().as_uri() if local and local.is_file() else entry["url"]
        got = download(url, target)
        try:
            _check_hashes(url, got, entry)
        except DatasetError:
            target.unlink()
            raise
    for entry in manifest.archives:
        url = entry["url"]
        archive = root / ".download" / Path(urllib.parse.urlparse(url).path).name
        got = download(url, archive)
        try:
            _check_hashes(url, got, {**recorded_archives.get(url, {}), **entry})
            extract_archive(archive, root / entry.get("dest", ""))
        finally:
            archive.unlink()
        recorded_archives[url] = {"sha256": got["sha256"], "md5": got["md5"]}
    shutil.rmtree(root / ".download", ignore_errors=True)
    images = find_images(root)
    if manifest.expected_images is not None and len(images) != manifest.expected_images:
        raise DatasetError(f"{name}: expected {manifest.expected_images} images, found {len(images)} in {root}")
    published = all(entry.get("sha256") for entry in manifest.files) and not manifest.archives
    lock = {
        "dataset": manifest.name,
        "hashes": "published in the manifest" if published else "recorded at first fetch",
        "archives": recorded_archives,
        "files": previous.get("files") or {image: sha256_file(root / image) for image in images},
    }
    (root / LOCK_NAME).write_text(json.dumps(lock, indent=1, sort_keys=True))
    verify(name)
    return root


def _read_lock(root: Path) -> dict:
    path = root / LOCK_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


def verify(name: str) -> dict[str, str]:
    """Check the local copy against its lock and manifest; return {image: sha256}."""
    manifest = load_manifest(name)
    root = datasets_dir() / manifest.name
    lock = _read_lock(root)
    if not lock:
        raise DatasetError(f"dataset {name!r} is not fetched here: run `rdpbench datasets fetch {name}`")
    expected = dict(lock["files"])
    expected.update({entry["name"]: entry["sha256"] for entry in manifest.files if entry.get("sha256")})
    images = find_images(root)
    hashes = {image: sha256_file(root / image) for image in images}
    problems = [f"missing {image}" for image in expected if image not in hashes]
    problems += [f"unexpected {image}" for image in hashes if image not in expected]
    problems += [f"changed {image}" for image, digest in hashes.items() if image in expected and expected[image] != digest]
    if problems:
        raise DatasetError(f"local copy of {name!r} in {root} does not match its lock/manifest "
                           f"({'; '.join(problems[:5])}); delete the folder and fetch it again")
    return hashes


def local_copy(name: str) -> tuple[Path, dict[str, str]]:
    """The verified local folder of a fetched dataset and its {image: sha256}."""
    hashes = verify(name)
    return datasets_dir() / load_manifest(name).name, hashes
