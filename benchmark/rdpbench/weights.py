"""Pretrained files (metric networks, codec checkpoints): one lookup, one verification, one safe load.

Every file is known by its upstream canonical name, so an existing cache can be copied as it is.
Lookup order: ``--weights-dir`` (or ``RDPBENCH_WEIGHTS``), then the torch hub cache
(``torch.hub.get_dir()/checkpoints``, and pyiqa's ``.../hub/pyiqa``), then — only when downloading
is allowed (``rdpbench weights fetch``) — the upstream URL (or ``RDPBENCH_WEIGHTS_MIRROR``), saved
into the weights directory.

Verification, by what is known of a file (``LocatedWeight.check``):

- ``sha256``: the full sha256 is pinned below (with where it was published); a match is the only
  case reported as ``verified: true``.
- ``sha256-prefix``: only the 8 hex digits in the upstream name are known (the torch hub convention,
  e.g. CompressAI's ``...-446d5c7f.pth.tar``). A match is *not* a cryptographic check (a forged file
  with the same 8 digits takes about 2**32 hashes), so it is reported ``verified: false`` with this
  check named. It is still used without ``--allow-unverified-weights``: every torch file is loaded
  by :func:`load_torch_file` with ``weights_only=True``, so a forged file can give wrong numbers but
  cannot run code, and the provenance says how little was checked.
- ``none``: no hash is published (HiFiC checkpoints); the file's sha256 is recorded, unverified.

A file that contradicts what is known is refused unless ``allow_unverified``
(``--allow-unverified-weights``), which marks the run's provenance unverified.

Size: a file larger than its name allows (:attr:`WeightFile.max_bytes`, the real file's size ×
``SIZE_MARGIN``) is refused before it is hashed or read.

Loading: a loader gets its file from :meth:`Weights.read`, which reads it into memory once, hashes
those bytes and verifies them as :meth:`Weights.locate` verifies a file; the loader parses exactly
these bytes (``LocatedWeight.data``; no hash is remembered by size and modification time, and the file
is not read a second time). A file found by :meth:`Weights.locate` (hashed on disk) or given as a
path is read by :func:`read_verified`, which refuses the bytes unless they hash as located. Torch
files are unpickled with ``weights_only=True`` (:func:`load_torch_file`); libraries get state dicts
or in-memory files, never a path to read again (see metrics/perceptual.py: NIQE's MATLAB file goes
to ``scipy.io.loadmat`` as a BytesIO).
OpenAI's CLIP files are TorchScript archives, which ``weights_only=True`` refuses:
:func:`load_torchscript_tensors` reads only their tensors, without TorchScript.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from rdpbench import hashing


class WeightsError(RuntimeError):
    """A weight file is missing or does not match its hash; the message names the file to provide."""


PREFIX_ONLY = "sha256-prefix"
SIZE_MARGIN = 1.5           # a file may be this much larger than the real one (another pickle protocol, padding)
MIN_LIMIT = 1 << 20         # tiny files (NIQE's 8 KB, DISTS' 12 KB) may still be up to 1 MiB
DEFAULT_MAX_BYTES = 2 << 30  # a file registered without its size (plug-ins)
PROGRESS_BYTES = 256 << 20  # hashing a larger file shows progress
CHECKS = {
    "sha256": "full sha256 pinned",
    PREFIX_ONLY: "prefix-only (8 hex digits of sha256 in the file name): not a cryptographic check",
    "none": "no published hash: sha256 recorded, not verified",
}


STATES = {"sha256": "verified", PREFIX_ONLY: "prefix-checked", "none": "unpublished", "mismatch": "unverified"}


@dataclass(frozen=True)
class WeightFile:
    name: str
    url: str
    used_by: str
    sha256: str | None = None  # the full hash where it is known; else the prefix in the name is checked
    source: str = ""  # where the full sha256 was published
    size: int | None = None  # the real file's size in bytes (exact where published, else estimated: see KNOWN)

    @property
    def max_bytes(self) -> int:
        """The largest file accepted under this name, checked before it is hashed or read: the real
        size × ``SIZE_MARGIN`` (at least ``MIN_LIMIT``), or ``DEFAULT_MAX_BYTES`` when no size is known."""
        return max(int(self.size * SIZE_MARGIN), MIN_LIMIT) if self.size else DEFAULT_MAX_BYTES

    @property
    def check(self) -> str:
        """What a match proves: "sha256", "sha256-prefix" or "none" (see CHECKS)."""
        if self.sha256:
            return "sha256"
        return PREFIX_ONLY if self.expected_prefix else "none"

    @property
    def expected_prefix(self) -> str | None:
        if self.sha256:
            return self.sha256
        match = re.search(r"-([0-9a-f]{8,})\.[A-Za-z.]+$", self.name)
        return match.group(1) if match else None


# Full digests: each was found pinned, identically, by several independent public projects that
# downloaded the file from the URL given here (file sizes in bytes alongside), and its first 8 hex
# digits are the ones upstream put into the name. The DISTS file is the original DISTS release's
# weights.pt (alpha/beta) renamed by pyiqa after its sha256, so that release's published digest
# applies; the Inception file is the same bytes as pytorch-fid's pt_inception-2015-12-05-6726825d.pth.
KNOWN: dict[str, WeightFile] = {f.name: f for f in [
    WeightFile("weights-inception-2015-12-05-6726825d.pth",
               "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               "weights-inception-2015-12-05-6726825d.pth", "fid, kid (torch-fidelity inception-v3-compat)",
               sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
               source="pinned by public projects using torch-fidelity and pytorch-fid (95,628,359 bytes)",
               size=95_628_359),
    WeightFile("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
               "lpips (net=alex)",
               sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
               source="pinned by public LPIPS users for torchvision's AlexNet_Weights.IMAGENET1K_V1 (244,408,911 bytes)",
               size=244_408_911),
    WeightFile("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
               "lpips (net=vgg), dists",
               sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
               source="pinned by public LPIPS/DISTS users for torchvision's VGG16_Weights.IMAGENET1K_V1 "
                      "(553,433,881 bytes)", size=553_433_881),
    WeightFile("niqe_modelparameters.mat",
               "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/niqe_modelparameters.mat",
               "niqe (pyiqa, official LIVE parameters)",
               sha256="fa2aa4d12dd9595c3fb6bf8b4e1a15c79d5d1469238d0901c88dead195be578d",
               source="computed from the file at the URL (8,347 bytes), equal to the LIVE release", size=8_347),
    WeightFile("DISTS_weights-f5e65c96.pth",
               "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/DISTS_weights-f5e65c96.pth",
               "dists (pyiqa)",
               sha256="f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
               source="the DISTS release's weights.pt, as pinned by public DISTS users",
               size=12_288),  # weights.pt of the DISTS-pytorch 0.1 wheel on PyPI: 12,288 bytes, this sha256
    WeightFile("dinov2_vitl14_pretrain.pth",
               "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
               "fd_dinov2 (dinov2-vit-l-14; the file torch.hub's facebookresearch/dinov2 dinov2_vitl14 loads)",
               size=1_218_000_000),  # ViT-L/14: 304.4 M float32 parameters
    WeightFile("clip-vit-l-14-336px-3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02.pt",
               "https://openaipublic.azureedge.net/clip/models/"
               "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
               "cmmd (clip-vit-l-14-336px; OpenAI's ViT-L-14-336px.pt under torch-fidelity's cache name)",
               sha256="3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
               source="published by OpenAI as the URL's path segment, which OpenAI's clip._download and "
                      "torch-fidelity's download check the file's sha256 against",
               size=891_000_000),  # ViT-L/14@336px image and text towers in float16, about 0.89 GB
]}


def register(weight_file: WeightFile) -> None:
    """Add a file to the known set (codec adapters register their checkpoints)."""
    KNOWN[weight_file.name] = weight_file


@dataclass(frozen=True)
class LocatedWeight:
    """A found file: its sha256, whether a full pinned digest matched (``verified``) and which
    check was made (``check``, a key of CHECKS; "mismatch" when used despite a wrong hash)."""

    name: str
    path: Path
    sha256: str
    verified: bool
    check: str = "none"
    data: bytes | None = field(default=None, repr=False, compare=False)  # the verified bytes (Weights.read)

    @property
    def state(self) -> str:
        """One of rdpbench.store.WEIGHT_STATES: verified (full digest), prefix-checked (the 8 hex
        digits of a published name), unpublished (no digest published), unverified (a wrong hash,
        used only with --allow-unverified-weights)."""
        return STATES.get(self.check, "unverified")

    def provenance(self) -> dict[str, Any]:
        """What a run records about the file (runs.versions -> weights), with its :attr:`state`."""
        return {"sha256": self.sha256, "verified": self.verified, "check": self.check, "state": self.state,
                "meaning": CHECKS.get(self.check, "hash does not match the known one: used only with --allow-unverified-weights")}


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``, without importing torch (seconds) when it is not loaded yet: then
    torch.hub's own rule, ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else
    ``~/.cache/torch/hub`` (a ``torch.hub.set_dir`` needs torch loaded, and is then honoured)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return Path(torch.hub.get_dir())
    home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "torch"
    return Path(home).expanduser() / "hub"


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
        hub = torch_hub_dir()
        return ([self.directory] if self.directory else []) + [hub / "checkpoints", hub / "pyiqa"]

    def find(self, name: str) -> Path | None:
        return next((folder / name for folder in self.search_path() if (folder / name).is_file()), None)

    def locate(self, name: str, progress: bool = False) -> LocatedWeight:
        """The verified (or, if allowed, unverified) local file; WeightsError if absent, too large for
        its name (before it is hashed) or wrong. ``progress``: show hashing progress of large files."""
        return self._verify(KNOWN[name], self._found(name), progress)

    def read(self, name: str) -> LocatedWeight:
        """:meth:`locate`, reading the file into memory once and verifying those bytes, which the result
        carries (``data``) for the loader to parse."""
        known, path = KNOWN[name], self._found(name)
        data = _read_bounded(known, path)
        return replace(self._checked(known, path, hashlib.sha256(data).hexdigest()), data=data)

    def _found(self, name: str) -> Path:
        path = self.find(name)
        if path is None:
            known = KNOWN[name]
            places = ", ".join(str(p) for p in self.search_path())
            raise WeightsError(f"missing weight file {name} (for {known.used_by}); looked in: {places}. "
                               f"Download {known.url} into your --weights-dir, or run `rdpbench weights fetch {name}`")
        return path

    def _verify(self, known: WeightFile, path: Path, progress: bool = False) -> LocatedWeight:
        size = Path(path).stat().st_size
        refuse_oversized(known, path, size)
        digest = hashing.sha256_file(path, f"hashing {known.name}" if progress and size > PROGRESS_BYTES else None)
        return self._checked(known, path, digest)

    def _checked(self, known: WeightFile, path: Path, digest: str) -> LocatedWeight:
        expected = known.expected_prefix
        matches = expected is None or digest.startswith(expected)
        if not matches and not self.allow_unverified:
            raise WeightsError(f"{path}: sha256 {digest} does not match the expected {expected} for {known.name} "
                               f"({known.url}); replace the file, or pass --allow-unverified-weights to use it anyway "
                               "(results are then marked unverified)")
        check = known.check if matches else "mismatch"
        return LocatedWeight(known.name, path, digest, check == "sha256", check)

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
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WeightsError(f"cannot save weights into {folder} ({error.strerror}); "
                               "give --weights-dir a folder you can write to") from None
        partial = folder / f".{name}.partial"
        try:
            torch.hub.download_url_to_file(url, str(partial), progress=True)
            self._verify(known, partial, progress=True)
        except WeightsError:
            partial.unlink(missing_ok=True)
            raise
        except Exception as error:
            partial.unlink(missing_ok=True)
            raise WeightsError(f"download of {url} failed: {error}") from error
        os.replace(partial, folder / name)
        return self.locate(name)


def refuse_oversized(known: WeightFile, path: Path, size: int) -> None:
    """WeightsError when a file is larger than its name allows (:attr:`WeightFile.max_bytes`): it is
    neither hashed nor read, so a huge or sparse file under a known name costs nothing."""
    if size > known.max_bytes:
        real = f"the real file is about {known.size:,} bytes" if known.size else "no size is known for it"
        raise WeightsError(f"{path} is {size:,} bytes, over the {known.max_bytes:,} accepted for {known.name} "
                           f"({real}); refused before hashing: replace it with the upstream file ({known.url})")


def read_verified(located: LocatedWeight) -> bytes:
    """The bytes of a located file: those :meth:`Weights.read` verified, or else the file read into
    memory once and hashed there. The caller parses exactly these bytes, so a file swapped after
    :meth:`Weights.locate` is refused, never used."""
    if located.data is not None:
        return located.data
    path = Path(located.path)
    data = _read_bounded(KNOWN.get(located.name) or WeightFile(located.name, "", "a checkpoint given as a path"), path)
    if hashlib.sha256(data).hexdigest() != located.sha256:
        raise WeightsError(f"{path} changed since it was verified; run again")
    return data


def _read_bounded(known: WeightFile, path: Path) -> bytes:
    """The file's bytes; WeightsError when it cannot be read or is larger than its name allows (checked
    before reading, and again on the bytes read, should it grow meanwhile)."""
    try:
        with open(path, "rb") as stream:
            refuse_oversized(known, path, os.fstat(stream.fileno()).st_size)
            data = stream.read(known.max_bytes + 1)
    except OSError as error:
        raise WeightsError(f"cannot read {path} ({error.strerror})") from None
    if len(data) > known.max_bytes:
        raise WeightsError(f"{path} changed since it was verified; run again")
    return data


def located_path(path: Path) -> LocatedWeight:
    """A file given by its path (a checkpoint knob): hashed as it is, unverified (no known hash)."""
    known = WeightFile(Path(path).name, "", "a checkpoint given as a path")
    refuse_oversized(known, path, Path(path).stat().st_size)
    return LocatedWeight(known.name, Path(path), hashing.sha256_file(path), False)


def load_torch_file(located: LocatedWeight) -> Any:
    """Unpickle a located torch file with ``weights_only=True`` from the very bytes that hash to
    ``located.sha256`` (a file swapped after verification is refused). A pickle that needs code
    to load is refused with WeightsError; its code never runs."""
    import pickle

    import torch

    data = read_verified(located)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise WeightsError(f"{located.path} is a pickle that needs code execution to load: refused by "
                           f"weights_only=True, nothing in it was run ({str(error).splitlines()[0]}); "
                           f"replace it with the upstream {located.name}") from error
    except (RuntimeError, EOFError, ValueError) as error:
        raise WeightsError(f"{located.path} is not a readable torch file ({str(error).splitlines()[0]}); "
                           f"replace it with the upstream {located.name}") from error


class _ScriptObject:
    """A module object of a TorchScript archive, reduced to its attributes (no methods, no code)."""


_STORAGE_DTYPES = {"FloatStorage": "float32", "HalfStorage": "float16", "DoubleStorage": "float64",
                   "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                   "ByteStorage": "uint8", "BoolStorage": "bool"}
_TORCHSCRIPT_LISTS = {"restore_type_tag", "build_intlist", "build_tensorlist", "build_doublelist", "build_boollist"}


def load_torchscript_tensors(located: LocatedWeight) -> dict[str, Any]:
    """The tensors of a TorchScript archive (OpenAI's CLIP ``.pt`` files) as a flat state dict
    (``visual.conv1.weight``, ...), from the very bytes that hash to ``located.sha256``, without
    TorchScript: ``torch.load(weights_only=True)`` refuses such archives and ``torch.jit.load``
    would run the archive's code, so its ``data.pkl`` is read by an unpickler that builds only
    tensors, lists, dicts and empty attribute holders for the archive's module objects; any other
    global is refused with WeightsError. The ``code/`` the archive carries is never read."""
    import collections
    import pickle
    import zipfile

    import torch

    data = read_verified(located)

    def refuse(why: str) -> WeightsError:
        return WeightsError(f"{located.path} is not a TorchScript archive of tensors ({why}); nothing in it was run; "
                            f"replace it with the upstream {located.name}")

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        roots = [name[:-len("/data.pkl")] for name in archive.namelist()
                 if name.count("/") == 1 and name.endswith("/data.pkl")]
    except zipfile.BadZipFile:
        raise refuse("not a zip file") from None
    if len(roots) != 1:
        raise refuse("no single data.pkl")

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module == "__torch__" or module.startswith("__torch__."):
                return _ScriptObject
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return torch._utils._rebuild_tensor_v2
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if module == "torch" and name in _STORAGE_DTYPES:
                return getattr(torch, _STORAGE_DTYPES[name])
            if module == "torch.jit._pickle" and name in _TORCHSCRIPT_LISTS:
                return getattr(torch.jit._pickle, name)
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")

        def persistent_load(self, key: Any) -> Any:
            kind, dtype, entry, _location, _numel = key
            if kind != "storage" or not isinstance(dtype, torch.dtype):
                raise pickle.UnpicklingError(f"persistent id {key!r} is not a storage")
            raw = bytearray(archive.read(f"{roots[0]}/data/{entry}"))
            return torch.storage.TypedStorage(wrap_storage=torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8),
                                              dtype=dtype, _internal=True)

    try:
        root = Unpickler(io.BytesIO(archive.read(f"{roots[0]}/data.pkl"))).load()
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, RuntimeError, EOFError) as error:
        raise refuse(str(error).splitlines()[0] if str(error) else type(error).__name__) from None

    state: dict[str, Any] = {}

    def collect(node: Any, prefix: str) -> None:
        for attribute, value in vars(node).items():
            if isinstance(value, torch.Tensor):
                state[prefix + attribute] = value
            elif isinstance(value, _ScriptObject):
                collect(value, f"{prefix}{attribute}.")

    if not isinstance(root, _ScriptObject):
        raise refuse("its data.pkl holds no module")
    collect(root, "")
    return state


@contextmanager
def weights_only_everywhere() -> Iterator[None]:
    """Force ``weights_only=True`` on every torch.load in this process while a third-party model is
    built (``TORCH_FORCE_WEIGHTS_ONLY_LOAD``): a second guard should a library load a file itself."""
    previous = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = previous
