"""Plug-ins without packaging: files and folders loaded like entry points, for every kind.

One rule for codecs, metrics and feature extractors alike: a *plug-in path* is a ``.py`` file, a
codec card (``.toml``), or a folder whose ``*.py`` and ``*.toml`` files (not those starting with
``_`` or ``.``, not recursive) are each such a file. Plug-in paths come from

- ``--plugin PATH`` on the command line (repeatable, any command),
- ``plugins = ["PATH", ...]`` in a benchmark config,
- the environment variable ``RDPBENCH_PLUGINS`` (``os.pathsep``-separated; ``RDPBENCH_CODECS_PATH``,
  the older name for folders of codecs, is read the same way),
- ``rdpbench.evaluate(..., plugins=[...])``,

relative paths taken from the current folder. Paths given on the command line, in a config or to the
API are added to ``RDPBENCH_PLUGINS`` of this process, so worker processes (which inherit the
environment) load the same plug-ins; Dask workers elsewhere need the variable set there.

Each ``.py`` file is imported once per process, by path, under a private module name (it must not
need to be on ``sys.path``), and every class defined in it that subclasses a kind's base class and
sets a ``name`` is registered in that kind's registry (rdpbench.registry), as an entry point would
be: the class's ``name`` is the plug-in's name; a name already taken (built-ins keep theirs) or a file
that fails to import is listed as broken with the reason and hides nothing else. A ``.toml`` file is
a metric card when it has ``[[column]]`` tables (rdpbench.metrics.command_line), else a codec card
(rdpbench.codecs.command_line).

Python files are code: a plug-in runs with your rights (benchmark/docs/safety.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
from pathlib import Path
from types import ModuleType
from typing import Iterable

VARIABLES = ("RDPBENCH_PLUGINS", "RDPBENCH_CODECS_PATH")
_MODULES: dict[tuple[Path, int, int], ModuleType | Exception] = {}  # (path, mtime, size): a changed file loads anew


def paths() -> list[Path]:
    """The plug-in paths of the environment (``RDPBENCH_PLUGINS``, then ``RDPBENCH_CODECS_PATH``)."""
    found = [Path(text) for variable in VARIABLES for text in os.environ.get(variable, "").split(os.pathsep) if text]
    return list(dict.fromkeys(found))


def add(given: Iterable[str | os.PathLike]) -> None:
    """Add plug-in paths (relative to the current folder) to ``RDPBENCH_PLUGINS`` of this process and
    its future workers; registries discover them on next use. A path that does not exist is an error."""
    from rdpbench.paths import user_path

    new = [user_path(path) for path in given]
    missing = [str(path) for path in new if not path.exists()]
    if missing:
        raise FileNotFoundError(f"plug-in {missing[0]}: no such file or folder")
    current = paths()
    added = [path for path in new if path not in current]
    if added:
        os.environ[VARIABLES[0]] = os.pathsep.join(
            str(path) for path in [*added, *(Path(t) for t in os.environ.get(VARIABLES[0], "").split(os.pathsep) if t)])
        _clear_registries()


def files(roots: Iterable[Path] | None = None) -> list[Path]:
    """The ``.py`` and ``.toml`` plug-in files of ``roots`` (default :func:`paths`), folders expanded."""
    result = []
    for root in paths() if roots is None else roots:
        if root.is_dir():
            result += sorted(path for path in root.iterdir() if path.suffix in (".py", ".toml")
                             and not path.name.startswith(("_", ".")))
        elif root.is_file():
            result.append(root)
    return list(dict.fromkeys(result))


def cards(kind: str, roots: Iterable[Path] | None = None) -> list[Path]:
    """The ``.toml`` plug-in files of ``roots`` (default :func:`paths`) that are cards of ``kind``:
    "metric" (a card with ``[[column]]`` tables) or "codec" (any other card, so a card that cannot be
    read is listed as a broken codec with its error)."""
    return [path for path in files(roots) if path.suffix == ".toml" and (_is_metric_card(path) == (kind == "metric"))]


def _is_metric_card(path: Path) -> bool:
    import tomllib

    try:
        return isinstance(tomllib.loads(path.read_text(encoding="utf-8")).get("column"), list)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def load_module(path: Path) -> ModuleType:
    """The module of a plug-in file, imported once per process and version of the file; its import
    error is raised again."""
    path = path.resolve()
    status = path.stat()
    key = (path, status.st_mtime_ns, status.st_size)
    if key not in _MODULES:
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        spec = importlib.util.spec_from_file_location(f"_rdpbench_plugin_{path.stem}_{digest}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            _MODULES[key] = module
        except Exception as error:  # noqa: BLE001 - any import-time failure of a plug-in is reported, not raised here
            _MODULES[key] = error
    loaded = _MODULES[key]
    if isinstance(loaded, Exception):
        raise loaded
    return loaded


def classes(path: Path, base: type) -> list[type]:
    """The classes defined in the plug-in file that subclass ``base`` and set a ``name``."""
    module = load_module(path)
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, base) and cls.__module__ == module.__name__ and getattr(cls, "name", "")]


def _clear_registries() -> None:
    from rdpbench.registry import Registry

    for registry in Registry.instances:
        registry.cache_clear()
