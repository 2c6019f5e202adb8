"""Finding codec adapters (one :class:`rdpbench.registry.Registry`): no list of codecs lives in the core.

Sources, in order (a name defined twice is an error that names both places):

1. the folders of the codec path: the shipped ``codecs/`` folder (the checkout's, or the wheel's copy), then every folder in the
   ``RDPBENCH_CODECS_PATH`` environment variable (``os.pathsep``-separated). In each, ``*.py``
   files are loaded by file path under a private module name (a root ``codecs`` package would be
   shadowed by the standard library) and every :class:`Codec` subclass with a ``name`` defined in
   the file is registered; ``*.toml`` files are command-line codec cards.
2. the ``rdpbench.codecs`` entry-point group of installed packages: each entry point names a
   Codec subclass (``my_package.module:MyCodec``) under the entry point's name.

A file that fails to load does not hide the others: it is listed by ``rdpbench codecs`` with the
error, and asking for it raises that error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
from pathlib import Path

from rdpbench.codecs.api import Codec
from rdpbench.codecs.command_line import CommandLineCodec
from rdpbench.context import RunContext
from rdpbench.paths import shipped
from rdpbench.registry import Entry, Registry


def codec_dirs() -> list[Path]:
    """The codec path: the shipped codecs/ folder (rdpbench.paths.shipped) and the RDPBENCH_CODECS_PATH folders."""
    dirs = [shipped("codecs")]
    dirs += [Path(p) for p in os.environ.get("RDPBENCH_CODECS_PATH", "").split(os.pathsep) if p]
    return [d for d in dirs if d.is_dir()]


def _load_module(path: Path):
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"_rdpbench_codec_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _card_factory(path: Path):
    return lambda context: CommandLineCodec.from_file(path, context)


def _entries_from_file(path: Path) -> list[Entry]:
    if path.suffix == ".toml":
        try:
            card = CommandLineCodec.from_file(path)
        except ValueError as error:
            return [Entry(path.stem, str(path), None, str(error))]
        return [Entry(card.name, str(path), lambda: _card_factory(path))]
    try:
        module = _load_module(path)
    except Exception as error:  # any import-time failure of a plug-in must not stop discovery
        return [Entry(path.stem, str(path), None, f"{type(error).__name__}: {error}")]
    return [
        Entry(cls.name, str(path), lambda cls=cls: cls)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Codec) and cls.__module__ == module.__name__ and cls.name
    ]


def _codec_files() -> list[Entry]:
    return [entry for folder in codec_dirs() for path in sorted(folder.iterdir())
            if path.suffix in (".py", ".toml") and not path.name.startswith(("_", "."))
            for entry in _entries_from_file(path)]


CODECS = Registry("codec", "rdpbench.codecs", discover=_codec_files, listing="rdpbench codecs")


def create_codec(name: str, context: RunContext | None = None) -> Codec:
    """A new instance of the codec called ``name`` with the run's context (defaults: CPU, the
    default weight folders); unknown names get "did you mean" suggestions."""
    return CODECS.create(name, context or RunContext())
