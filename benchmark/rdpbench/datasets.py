"""Dataset manifests, fetching with checksum verification, local copies, and the images of a run
(:func:`load_dataset`: a folder or a fetched dataset, each image with its sha256).

A manifest is ``datasets/<name>.toml`` (shipped with rdpbench, or in ``RDPBENCH_DATASETS_DIR``); its
pixels go to ``HOME/datasets/<name>/`` (:func:`datasets_dir`; in a checkout the git-ignored
``datasets/<name>/``, installed from a wheel the per-user data folder). Fields::

    name, description, citation, expected_images
    [[file]]     name, url, sha256                 # single files (Kodak)
    [[archive]]  url, md5 and/or sha256, dest      # zip or tar archives (CLIC, DIV2K)

URLs are http(s)://, file:// or pkg://PACKAGE/PATH (a file shipped inside an installed Python
package, e.g. scikit-image's sample photos). Where the source publishes no hash, the fetch records
the sha256 of the archive and of every extracted image in ``datasets/<name>/.rdpbench-lock.json``
(``"hashes": "recorded at first fetch"``); every later use verifies the files against that lock.
Every path built from a manifest (``name``, a file's ``name``, an archive's ``dest``) or an archive
member must stay inside its folder (rdpbench.safe_paths), else the manifest or archive is refused.
Archives are extracted only after every member is checked, before anything is written: absolute
paths, ``..`` components, links and special files (devices, FIFOs) are refused, and so are archives
over the bounds of :class:`ArchiveLimits` (total size, member count, compression ratio: a small
archive that would inflate to gigabytes is a bomb, not a dataset).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import sys
import tarfile
import tempfile
import tomllib
import urllib.parse
import urllib.request
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

from tqdm import tqdm

from rdpbench.hashing import sha256_file
from rdpbench.imageio import find_images
from rdpbench.paths import home, shipped
from rdpbench.safe_paths import UnsafePathError, inside, unsafe_reason

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


def manifests_dir() -> Path:
    """The manifests: ``RDPBENCH_DATASETS_DIR``, else the shipped ``datasets/`` (rdpbench.paths.shipped)."""
    return Path(os.environ.get("RDPBENCH_DATASETS_DIR") or shipped("datasets"))


def datasets_dir() -> Path:
    """The local copies, ``<this>/<name>/``: ``RDPBENCH_DATASETS_DIR``, else ``HOME/datasets``
    (rdpbench.paths.home: ``RDPBENCH_HOME``, the checkout, or the per-user data folder)."""
    return Path(os.environ.get("RDPBENCH_DATASETS_DIR") or home() / "datasets")


def manifest_names() -> list[str]:
    return sorted(path.stem for path in manifests_dir().glob("*.toml"))


def load_manifest(name: str) -> Manifest:
    """Read and check a manifest: its name and every file name and ``dest`` must stay inside the
    datasets folder and the dataset's folder."""
    known = ", ".join(manifest_names())
    try:
        path = inside(manifests_dir(), f"{name}.toml", "dataset name")
    except UnsafePathError:
        path = None
    if path is None or not path.is_file():
        raise DatasetError(f"no dataset manifest {name!r} in {manifests_dir()} (known: {known})")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DatasetError(f"cannot read manifest {path}: {error}") from error
    manifest = Manifest(name=data.get("name", name), description=data.get("description", ""),
                        citation=data.get("citation", ""), expected_images=data.get("expected_images"),
                        files=data.get("file", []), archives=data.get("archive", []))
    _check_entries(manifest, path)
    try:
        root = dataset_root(manifest)
        for entry in manifest.files:
            inside(root, entry["name"], f"file name in {path.name}")
        for entry in manifest.archives:
            if entry.get("dest"):
                inside(root, entry["dest"], f"archive dest in {path.name}")
    except UnsafePathError as error:
        raise DatasetError(f"manifest {path} refused: {error}") from None
    return manifest


def _check_entries(manifest: Manifest, source: Path) -> None:
    """Every [[file]] needs text ``name`` and ``url``, every [[archive]] a text ``url``."""
    if not isinstance(manifest.files, list) or not isinstance(manifest.archives, list):
        raise DatasetError(f"manifest {source} refused: [[file]] and [[archive]] must be arrays of tables")
    tables = [("file", entry, ("name", "url")) for entry in manifest.files]
    tables += [("archive", entry, ("url",)) for entry in manifest.archives]
    for kind, entry, required in tables:
        if not isinstance(entry, dict) or any(not isinstance(entry.get(key), str) for key in required):
            raise DatasetError(f"manifest {source} refused: every [[{kind}]] needs text fields {', '.join(required)}")
        for key, length in (("sha256", 64), ("md5", 32)):
            value = entry.get(key)
            if value is not None and not (isinstance(value, str) and len(value) == length
                                          and all(c in "0123456789abcdefABCDEF" for c in value)):
                raise DatasetError(f"manifest {source} refused: {key} = {value!r} in a [[{kind}]] is not "
                                   f"{length} hex digits; write the {key} as a quoted text, or leave it out")
        if entry.get("dest") is not None and not isinstance(entry["dest"], str):
            raise DatasetError(f"manifest {source} refused: dest = {entry['dest']!r} in a [[{kind}]] is not a text")
    if manifest.expected_images is not None and (isinstance(manifest.expected_images, bool)
                                                 or not isinstance(manifest.expected_images, int)):
        raise DatasetError(f"manifest {source} refused: expected_images must be a whole number")


def dataset_root(manifest: Manifest) -> Path:
    """The dataset's folder, ``datasets/<name>``; UnsafePathError if the name leads elsewhere."""
    if not isinstance(manifest.name, str):
        raise UnsafePathError(f"dataset name {manifest.name!r} is not a text")
    return inside(datasets_dir(), manifest.name, "dataset name")


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
@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what one archive may extract: total bytes, members, and the ratio of extracted
    bytes to archive bytes (images barely compress: PNG/JPEG archives are near 1:1)."""

    max_total_bytes: int = 200 << 30
    max_members: int = 200_000
    max_ratio: float = 50.0


def _member_problem(name: str, kind: str) -> str | None:
    if kind == "link":
        return "is a link"
    if kind == "special":
        return "is a special file (device, FIFO or socket)"
    if kind == "dir" and PurePosixPath(name.replace("\\", "/")) == PurePosixPath("."):
        return None  # "./", the archive's own top folder
    return unsafe_reason(name)


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = (info.external_attr >> 16) & 0o170000
    if mode == 0o120000:
        return "link"
    if mode not in (0, 0o100000, 0o040000) and not info.is_dir():
        return "special"
    return "dir" if info.is_dir() else "file"


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.issym() or member.islnk():
        return "link"
    if member.isdir():
        return "dir"
    return "file" if member.isfile() else "special"


def check_members(archive: Path, members: Iterator[tuple[str, str, int]], limits: ArchiveLimits) -> None:
    """Refuse the archive, before anything is written, if any (name, kind, size) member is unsafe or
    the bounds are exceeded; stops reading at the first problem (a bomb is not inflated further)."""
    total, count, archive_bytes = 0, 0, max(archive.stat().st_size, 1)
    for name, kind, size in members:
        problem = _member_problem(name, kind)
        if problem:
            raise DatasetError(f"refusing to extract {archive.name}: member {name!r} {problem}")
        count, total = count + 1, total + size
        if count > limits.max_members:
            raise DatasetError(f"refusing to extract {archive.name}: more than {limits.max_members} members")
        if total > limits.max_total_bytes or total > limits.max_ratio * archive_bytes:
            raise DatasetError(
                f"refusing to extract {archive.name}: its members add up to more than {total} bytes from "
                f"{archive_bytes} archive bytes (bounds: {limits.max_total_bytes} bytes, ratio {limits.max_ratio:g}); "
                "it looks like a decompression bomb, not a dataset")


def extract_archive(archive: Path, destination: Path, limits: ArchiveLimits = ArchiveLimits()) -> None:
    """Extract a zip or tar archive after checking every member (:func:`check_members`); zip members
    are copied with the declared sizes enforced, tar members through tarfile's "data" filter. Members
    go to a temporary folder inside ``destination`` first and are moved into place only when the
    whole archive extracted: a damaged archive (corrupt data, a size its header understates, a
    truncated file) is a DatasetError and leaves nothing behind (the staging folder is a hidden
    sibling of ``destination``)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.extracting-", dir=destination.parent))
    try:
        try:
            _extract_into(archive, staging, limits)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError,
                OSError, ValueError, NotImplementedError) as error:
            raise DatasetError(f"{archive.name} is damaged ({error}); nothing was extracted from it: fetch it again "
                               "(or check the file given with --from)") from None
        destination.mkdir(exist_ok=True)
        for source in sorted(staging.rglob("*")):
            target = inside(destination, str(source.relative_to(staging)), "archive member")  # no link leads out
            if source.is_dir():
                target.mkdir(exist_ok=True)
            else:
                os.replace(source, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_into(archive: Path, destination: Path, limits: ArchiveLimits) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            infos = zipped.infolist()
            check_members(archive, ((i.filename, _zip_kind(i), i.file_size) for i in infos), limits)
            for info in infos:
                target = inside(destination, info.filename, "archive member") if not info.is_dir() else None
                if target is None:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as source, open(target, "wb") as sink:
                    written = 0
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > info.file_size:
                            raise DatasetError(f"refusing {archive.name}: member {info.filename!r} is larger "
                                               "than its header says; nothing was extracted from it")
                        sink.write(chunk)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tarred:
            check_members(archive, ((m.name, _tar_kind(m), m.size) for m in tarred), limits)
            tarred.extractall(destination, filter="data")
    else:
        raise DatasetError(f"{archive.name} is neither a zip nor a tar archive")


# -- fetch and use ------------------------------------------------------------------------------
def fetch(name: str, source_dir: Path | None = None) -> Path:
    """Download (or copy from ``source_dir``) the dataset, verify it, write its lock; return its folder."""
    manifest = load_manifest(name)
    root = dataset_root(manifest)
    if source_dir is not None and not Path(source_dir).is_dir():
        raise DatasetError(f"--from {source_dir}: no such folder; give the folder that holds the files of {name!r} "
                           "(or leave --from out to download them)")
    root.mkdir(parents=True, exist_ok=True)
    previous = _read_lock(root)
    recorded_archives = dict(previous.get("archives", {}))
    for entry in manifest.files:
        target = inside(root, entry["name"], "file name")
        local = inside(source_dir, entry["name"], "file name") if source_dir else None
        if target.is_file() and sha256_file(target) == entry.get("sha256"):
            continue
        url = _source(local, entry["url"], source_dir)
        got = download(url, target)
        try:
            _check_hashes(url, got, entry)
        except DatasetError:
            target.unlink()
            raise
    for entry in manifest.archives:
        archive_name = Path(urllib.parse.urlparse(entry["url"]).path).name
        archive = root / ".download" / archive_name
        url = _source(inside(source_dir, archive_name, "archive name") if source_dir else None, entry["url"], source_dir)
        got = download(url, archive)
        try:
            _check_hashes(url, got, {**recorded_archives.get(entry["url"], {}), **entry})
            extract_archive(archive, inside(root, entry["dest"], "dest") if entry.get("dest") else root)
        finally:
            archive.unlink()
        recorded_archives[entry["url"]] = {"sha256": got["sha256"], "md5": got["md5"]}
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


def _source(local: Path | None, url: str, source_dir: Path | None) -> str:
    """Where a file comes from: the copy in ``source_dir`` (``--from``; never a download then), else ``url``."""
    if source_dir is None:
        return url
    if local is None or not local.is_file():
        raise DatasetError(f"--from {source_dir}: no file {local.name if local else ''} there (it would come from "
                           f"{url}); put it there, or leave --from out to download")
    return local.resolve().as_uri()


def _read_lock(root: Path) -> dict:
    path = root / LOCK_NAME
    if not path.is_file():
        return {}
    try:
        lock = json.loads(path.read_text())
        if isinstance(lock, dict) and isinstance(lock.get("files", {}), dict) \
                and isinstance(lock.get("archives", {}), dict):
            return lock
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    raise DatasetError(f"{path} is damaged; delete the folder {root} and fetch the dataset again")


def verify(name: str) -> dict[str, str]:
    """Check the local copy against its lock and manifest; return {image: sha256}."""
    manifest = load_manifest(name)
    root = dataset_root(manifest)
    lock = _read_lock(root)
    if not lock:
        raise DatasetError(f"dataset {name!r} is not fetched here: run `rdpbench datasets fetch {name}`")
    expected = dict(lock["files"])
    expected.update({entry["name"]: entry["sha256"] for entry in manifest.files if entry.get("sha256")})
    images = find_images(root)
    hashes = {}
    for image in images:
        try:
            hashes[image] = sha256_file(root / image)
        except OSError as error:
            hashes[image] = f"unreadable ({error.strerror})"
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
    return dataset_root(load_manifest(name)), hashes


# -- the images of a run ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """The images of a run: ``images`` maps each path relative to ``root`` to the sha256 of the file
    (or "unreadable: <reason>": its tasks become error rows)."""

    name: str
    root: Path
    images: dict[str, str]

    @property
    def fingerprint(self) -> str:
        """sha256 over every image's path and sha256: what the store and the reference cache are keyed on."""
        lines = "".join(f"{image}\t{digest}\n" for image, digest in sorted(self.images.items()))
        return hashlib.sha256(lines.encode()).hexdigest()


def load_dataset(images: Path | list[Path] | None, name: str | None) -> Dataset:
    """A run's images: a folder (``--images``, every image file under it), a list of image files (the
    Python API; named by their path below their deepest common folder) or a fetched, verified dataset
    (``--dataset``); DatasetError when neither or both are given, or there are no images."""
    if images and name:
        raise DatasetError("give either --images DIR or --dataset NAME, not both")
    if name:
        root, hashes = local_copy(name)
        return Dataset(name, root, hashes)
    if not images:
        raise DatasetError("no images: give --images DIR or --dataset NAME (or set one in the config)")
    if isinstance(images, list):
        missing = [str(path) for path in images if not Path(path).is_file()]
        if missing:
            raise DatasetError(f"no such image file: {', '.join(missing[:3])}")
        files = [Path(path).absolute() for path in images]
        root = Path(os.path.commonpath([file.parent for file in files]))
        names = {file.relative_to(root).as_posix(): file for file in files}
        if len(names) < len(files):
            raise DatasetError("the same image file is listed twice")
        return Dataset(root.name or "images", root, {name: _digest(file) for name, file in sorted(names.items())})
    if not images.is_dir():
        raise DatasetError(f"--images {images}: no such folder")
    found = find_images(images)
    if not found:
        raise DatasetError(f"no image files in {images}")
    return Dataset(images.resolve().name, images, {image: _digest(images / image) for image in found})


def _digest(path: Path) -> str:
    """sha256 of an image file; for a file that cannot be read, the reason (its task is an error row)."""
    try:
        return sha256_file(path)
    except OSError as error:
        return f"unreadable: {error.strerror}"
