"""Finding codec adapters: no list of codecs lives in the core.

Sources, in order (a name defined twice is an error that names both places):

1. the folders of the codec path: the project's ``codecs/`` folder, then every folder in the
   ``RDPBENCH_CODECS_PATH`` environment variable (``os.pathsep``-separated). In each, ``*.py``
   files are loaded by file path under a private module name (a root ``codecs`` package would be
   shadowed by the standard library) and every :class:`Codec` subclass with a ``name`` defined in
   the file is registered; ``*.toml`` files are command-line codec cards.
2. the ``rdpbench.codecs`` entry-point group of installed packages: each entry point names a
   Codec subclass (``my_package.module:MyCodec``).

A file that fails to load does not hide the others: it is listed by ``rdpbench codecs`` with the
error, and asking for it raises that error.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

from rdpbench.codec_api import Codec
from rdpbench.command_line import CommandLineCodec
from rdpbench.paths import project_root

ENTRY_POINT_GROUP = "rdpbench.codecs"


class UnknownCodecError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class CodecEntry:
    """A discovered codec: where it came from and how to build an instance (or why it can't)."""

    name: str
    source: str
    factory: Callable[[], Codec] | None
    load_error: str | None = None

    def create(self) -> Codec:
        if self.factory is None:
            raise UnknownCodecError(f"codec {self.name!r} from {self.source} failed to load: {self.load_error}")
        return self.factory()


def codec_dirs() -> list[Path]:
    """The codec path: the project's codecs/ folder and the RDPBENCH_CODECS_PATH folders."""
    dirs = [project_root() / "codecs"]
    dirs += [Path(p) for p in os.environ.get("RDPBENCH_CODECS_PATH", "").split(os.pathsep) if p]
    return [d for d in dirs if d.is_dir()]


def _load_module(path: Path):
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"_rdpbench_codec_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entries_from_file(path: Path) -> list[CodecEntry]:
    if path.suffix == ".toml":
        try:
            card = CommandLineCodec.from_file(path)
        except ValueError as error:
            return [CodecEntry(path.stem, str(path), None, str(error))]
        return [CodecEntry(card.name, str(path), lambda: CommandLineCodec.from_file(path))]
    try:
        module = _load_module(path)
    except Exception as error:  # any import-time failure of a plug-in must not stop discovery
        return [CodecEntry(path.stem, str(path), None, f"{type(error).__name__}: {error}")]
    return [
        CodecEntry(cls.name, str(path), cls)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Codec) and cls.__module__ == module.__name__ and cls.name
    ]


def _entries_from_entry_points() -> list[CodecEntry]:
    found = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {point.value} ({point.dist.name if point.dist else '?'})"
        try:
            cls = point.load()
            found.append(CodecEntry(cls.name or point.name, source, cls))
        except Exception as error:
            found.append(CodecEntry(point.name, source, None, f"{type(error).__name__}: {error}"))
    return found


@lru_cache(maxsize=None)
def discover() -> dict[str, CodecEntry]:
    """All codecs by name. Cached per process; raises ValueError on duplicate names."""
    entries: dict[str, CodecEntry] = {}
    candidates = [
        entry
        for folder in codec_dirs()
        for path in sorted(folder.iterdir())
        if path.suffix in (".py", ".toml") and not path.name.startswith(("_", "."))
        for entry in _entries_from_file(path)
    ] + _entries_from_entry_points()
    for entry in candidates:
        if entry.name in entries:
            raise ValueError(f"codec name {entry.name!r} is defined twice: {entries[entry.name].source} and {entry.source}")
        entries[entry.name] = entry
    return entries


def create_codec(name: str) -> Codec:
    """A new instance of the codec called ``name``; unknown names get "did you mean" suggestions."""
    entries = discover()
    if name not in entries:
        close = difflib.get_close_matches(name, entries, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownCodecError(f"unknown codec {name!r}{hint} (`rdpbench codecs` lists them)")
    return entries[name].create()
