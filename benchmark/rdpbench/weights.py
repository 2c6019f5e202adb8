"""Pretrained files (metric networks, codec checkpoints): one lookup, one verification, one download.

Every file is known by its upstream canonical name, so an existing cache can be copied as it is.
Lookup order: ``--weights-dir`` (or ``RDPBENCH_WEIGHTS``), then the torch hub cache
(``torch.hub.get_dir()/checkpoints``, and pyiqa's ``.../hub/pyiqa``), then — only when downloading
is allowed (``rdpbench weights fetch``) — the upstream URL (or ``RDPBENCH_WEIGHTS_MIRROR``), saved
into the weights directory.

Every file is checked against its known sha256, or against the sha256 prefix in its name (the torch
hub convention: ``alexnet-owt-7be5be79.pth`` starts with ``7be5be79``). A mismatch is refused with
the file, the expected hash and the URL, unless ``allow_unverified`` (``--allow-unverified-weights``):
then the file is used and marked unverified in the run's provenance.

Libraries that load their own weights by canonical name through torch hub (torchvision's AlexNet and
VGG inside lpips and pyiqa's DISTS) are handed the located files through :func:`torch_hub_with`, a
temporary hub folder of links, so they never download and run their own, unmodified loading code.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from rdpbench import hashing


class WeightsError(RuntimeError):
    """A weight file is missing or does not match its hash; the message names the file to provide."""


@dataclass(frozen=True)
class WeightFile:
    name: str
    url: str
    used_by: str
    sha256: str | None = None  # the full hash where it is known; else the prefix in the name is checked

    @property
    def expected_prefix(self) -> str | None:
        if self.sha256:
            return self.sha256
        match = re.search(r"-([0-9a-f]{8,})\.[A-Za-z.]+$", self.name)
        return match.group(1) if match else None


KNOWN: dict[str, WeightFile] = {f.name: f for f in [
    WeightFile("weights-inception-2015-12-05-6726825d.pth",
               "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               "weights-inception-2015-12-05-6726825d.pth", "fid, kid (torch-fidelity inception-v3-compat)"),
    WeightFile("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
               "lpips (net=alex)"),
    WeightFile("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
               "lpips (net=vgg), dists"),
    WeightFile("niqe_modelparameters.mat",
               "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/niqe_modelparameters.mat",
               "niqe (pyiqa, official LIVE parameters)",
               sha256="fa2aa4d12dd9595c3fb6bf8b4e1a15c79d5d1469238d0901c88dead195be578d"),
    WeightFile("DISTS_weights-f5e65c96.pth",
               "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/DISTS_weights-f5e65c96.pth",
               "dists (pyiqa)"),
]}


def register(weight_file: WeightFile) -> None:
    """Add a file to the known set (codec adapters register their checkpoints)."""
    KNOWN[weight_file.name] = weight_file


@dataclass(frozen=True)
class LocatedWeight:
    name: str
    path: Path
    sha256: str
    verified: bool


@dataclass(frozen=True)
class Weights:
    """Where to look and how strict to be; picklable, handed to every worker."""

    directory: Path | None = None
    allow_unverified: bool = False

    @classmethod
    def from_options(cls, directory: str | Path | None, allow_unverified: bool = False) -> "Weights":
        directory = directory or os.environ.get("RDPBENCH_WEIGHTS")
        return cls(Path(directory).expanduser().resolve() if directory else None, allow_unverified)

    def search_path(self) -> list[Path]:
        import torch

        hub = Path(torch.hub.get_dir())
        return ([self.directory] if self.directory else []) + [hub / "checkpoints", hub / "pyiqa"]

    def find(self, name: str) -> Path | None:
        return next((folder / name for folder in self.search_path() if (folder / name).is_file()), None)

    def locate(self, name: str) -> LocatedWeight:
        """The verified (or, if allowed, unverified) local file; WeightsError if absent or wrong."""
        known = KNOWN[name]
        path = self.find(name)
        if path is None:
            places = ", ".join(str(p) for p in self.search_path())
            raise WeightsError(f"missing weight file {name} (for {known.used_by}); looked in: {places}. "
                               f"Download {known.url} into your --weights-dir, or run `rdpbench weights fetch {name}`")
        return self._verify(known, path)

    def _verify(self, known: WeightFile, path: Path) -> LocatedWeight:
        digest = sha256_file(path)
        expected = known.expected_prefix
        verified = expected is None or digest.startswith(expected)
        if not verified and not self.allow_unverified:
            raise WeightsError(f"{path}: sha256 {digest} does not match the expected {expected} for {known.name} "
                               f"({known.url}); replace the file, or pass --allow-unverified-weights to use it anyway "
                               "(results are then marked unverified)")
        return LocatedWeight(known.name, path, digest, verified and expected is not None)

    def fetch(self, name: str) -> LocatedWeight:
        """Locate, or download into the weights directory (default: the torch hub cache). The
        download is verified before it gets its canonical name; a bad one is deleted. With
        ``RDPBENCH_WEIGHTS_MIRROR`` set, files come from ``<mirror>/<name>`` instead of upstream."""
        if self.find(name) is not None:
            return self.locate(name)  # present: verified, or refused if wrong (never overwritten)
        import torch.hub

        known = KNOWN[name]
        mirror = os.environ.get("RDPBENCH_WEIGHTS_MIRROR")
        url = f"{mirror.rstrip('/')}/{name}" if mirror else known.url
        folder = self.directory or Path(torch.hub.get_dir()) / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.partial"
        try:
            torch.hub.download_url_to_file(url, str(partial), progress=True)
            self._verify(known, partial)
        except WeightsError:
            partial.unlink(missing_ok=True)
            raise
        except Exception as error:
            partial.unlink(missing_ok=True)
            raise WeightsError(f"download of {url} failed: {error}") from error
        os.replace(partial, folder / name)
        return self.locate(name)


@lru_cache(maxsize=None)
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    return hashing.sha256_file(path)


def sha256_file(path: Path) -> str:
    """sha256 of a weight file, hashed once per process for a given size and modification time
    (a run checks the same 100 MB file for several metrics)."""
    status = Path(path).stat()
    return _sha256_of(Path(path).resolve(), status.st_size, status.st_mtime_ns)


@contextmanager
def torch_hub_with(files: list[LocatedWeight]) -> Iterator[None]:
    """Point torch hub at a temporary folder whose checkpoints/ holds links to ``files``, so that
    libraries loading weights by canonical name (torchvision models) find them and never download."""
    import torch.hub

    previous = torch.hub._hub_dir  # None unless set_dir was called: then TORCH_HOME is read anew each time
    with tempfile.TemporaryDirectory(prefix="rdpbench-hub-") as hub:
        (Path(hub) / "checkpoints").mkdir()
        for located in files:
            os.symlink(located.path, Path(hub) / "checkpoints" / located.name)
        torch.hub.set_dir(hub)
        try:
            yield
        finally:
            torch.hub._hub_dir = previous
