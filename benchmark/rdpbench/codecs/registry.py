"""Finding codec adapters (one :class:`rdpbench.registry.Registry`): no list of codecs lives in the core.

Sources, in order (a name defined twice is an error that names both places):

1. the shipped ``codecs/`` folder (the checkout's, or the wheel's copy): ``*.py`` files are loaded
   by file path under a private module name (a root ``codecs`` package would be shadowed by the
   standard library) and every :class:`Codec` subclass with a ``name`` defined in the file is
   registered; ``*.toml`` files are command-line codec cards; then the cards among the plug-in paths;
2. the Codec subclasses in plug-in files and folders (rdpbench.plugins: ``--plugin``, a config's
   ``plugins``, ``RDPBENCH_PLUGINS`` or its older name for codec folders, ``RDPBENCH_CODECS_PATH``);
3. the ``rdpbench.codecs`` entry-point group of installed packages: each entry point names a
   Codec subclass (``my_package.module:MyCodec``) under the entry point's name.

A file that fails to load does not hide the others: it is listed by ``rdpbench codecs`` with the
error, and asking for it raises that error.
"""

from __future__ import annotations

from pathlib import Path

from rdpbench import plugins
from rdpbench.codecs.api import Codec
from rdpbench.codecs.command_line import CommandLineCodec
from rdpbench.context import RunContext
from rdpbench.paths import shipped
from rdpbench.registry import Entry, Registry


def codec_dirs() -> list[Path]:
    """The folders codecs come from: the shipped codecs/ folder (rdpbench.paths.shipped) and the
    plug-in folders (rdpbench.plugins)."""
    return [folder for folder in [shipped("codecs"), *plugins.paths()] if folder.is_dir()]


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
        found = plugins.classes(path, Codec)
    except Exception as error:  # any import-time failure of a plug-in must not stop discovery
        return [Entry(path.stem, str(path), None, f"{type(error).__name__}: {error}")]
    return [Entry(cls.name, str(path), lambda cls=cls: cls) for cls in found]


def _codec_files() -> list[Entry]:
    """The shipped codecs, then the codec cards among the plug-in paths (their Python files are
    the registry's plug-in source)."""
    return [entry for path in plugins.files([shipped("codecs")]) + plugins.cards("codec")
            for entry in _entries_from_file(path)]


CODECS = Registry("codec", "rdpbench.codecs", discover=_codec_files, listing="rdpbench codecs",
                  plugin_base="rdpbench.codecs.api:Codec")


def create_codec(name: str, context: RunContext | None = None) -> Codec:
    """A new instance of the codec called ``name`` with the run's context (defaults: CPU, the
    default weight folders); unknown names get "did you mean" suggestions."""
    return CODECS.create(name, context or RunContext())
