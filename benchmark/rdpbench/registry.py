"""One registry shape for every kind of plug-in: codecs, metrics and feature extractors.

A :class:`Registry` maps names to :class:`Entry` objects gathered from, in order:

1. ``builtin``: rdpbench's own plug-ins, ``name -> "module:attribute"``, imported on first use;
2. ``discover``: extra sources of a kind (codecs: the shipped ``codecs/`` folder and TOML cards;
   metrics: the metric cards other sources add), each a function returning :class:`Entry` objects;
3. plug-in files and folders (rdpbench.plugins: ``--plugin``, ``plugins = [...]`` in a config,
   ``RDPBENCH_PLUGINS``): the classes in them that subclass the kind's ``plugin_base``;
4. the entry-point group of installed packages (``[project.entry-points."rdpbench.metrics"]``,
   ``name = "package.module:Class"``); the entry point's name is the plug-in's name;
5. classes handed over in Python (:meth:`Registry.add_object`, e.g. by ``rdpbench.evaluate``).

Names are spelled as ``normalize`` leaves them (metrics: lower snake_case); a plug-in whose name is
spelled otherwise, or that takes a name already registered (the first source keeps it, so a
built-in cannot be replaced), is listed as broken under ``"NAME [its source]"`` with what to do, and
hides nothing. An entry that fails to import does not hide the others either: it is listed with its
error, and asking for it raises that error. Unknown names get a did-you-mean (:class:`UnknownNameError`).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable


class UnknownNameError(KeyError):
    """No plug-in of that name, or it failed to load; the message says what to do."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    """A registered plug-in: its name, where it comes from, and how to get it (or why it can't be had)."""

    name: str
    source: str
    load: Callable[[], Any] | None
    load_error: str | None = None


def _import(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


class Registry:
    """Plug-ins of one ``kind`` ("codec", "metric", "feature extractor")."""

    instances: list["Registry"] = []  # every registry, so that new plug-in paths reset them all

    def __init__(self, kind: str, group: str, builtin: dict[str, str] | None = None,
                 discover: Callable[[], list[Entry]] | None = None,
                 normalize: Callable[[str], str] = str.strip, listing: str = "", plugin_base: str = ""):
        """``normalize`` maps what a user types to the registered spelling; ``listing`` is the
        command that lists the known names, named in errors; ``plugin_base`` ("module:Class") the
        base class of this kind's classes in plug-in files."""
        self.kind, self.group, self.builtin = kind, group, dict(builtin or {})
        self.discover, self.normalize, self.listing, self.plugin_base = discover, normalize, listing, plugin_base
        self._entries: dict[str, Entry] | None = None
        self._objects: dict[str, Any] = {}
        Registry.instances.append(self)

    def add_object(self, cls: type) -> str:
        """Register a class given in Python under its ``name`` (a later class of the same name replaces
        it: a notebook cell run again); returns the name."""
        name = getattr(cls, "name", "")
        if not isinstance(cls, type) or not name:
            raise TypeError(f"a {self.kind} plug-in is a class with a `name`, not {cls!r}")
        if self._objects.get(name) is not cls:
            self._objects[name] = cls
            self.cache_clear()
        return name

    def _plugin_entries(self) -> list[Entry]:
        from rdpbench import plugins

        if not self.plugin_base:
            return []
        base, entries = _import(self.plugin_base), []
        for path in plugins.files():
            if path.suffix != ".py":
                continue
            try:
                found = plugins.classes(path, base)
            except Exception as error:  # a broken plug-in file is listed, and hides nothing else
                entries.append(Entry(path.stem, str(path), None, f"{type(error).__name__}: {error}"))
                continue
            entries += [Entry(cls.name, str(path), lambda cls=cls: cls) for cls in found]
        return entries

    def entries(self) -> dict[str, Entry]:
        """Every plug-in by name; cached per process (:meth:`cache_clear` forgets it)."""
        if self._entries is None:
            candidates = [Entry(name, "built-in", lambda target=target: _import(target))
                          for name, target in self.builtin.items()]
            candidates += self.discover() if self.discover else []
            candidates += self._plugin_entries()
            candidates += [Entry(point.name, f"entry point {point.value} "
                                             f"({point.dist.name + ' ' + point.dist.version if point.dist else '?'})",
                                 point.load) for point in entry_points(group=self.group)]
            candidates += [Entry(name, f"{cls.__module__}.{cls.__qualname__} (given in Python)",
                                 lambda cls=cls: cls) for name, cls in self._objects.items()]
            entries: dict[str, Entry] = {}
            for entry in candidates:
                problem = None
                if self.normalize(entry.name) != entry.name:
                    problem = (f"the name {entry.name!r} is not spelled as rdpbench spells {self.kind} names "
                               f"({self.normalize(entry.name)!r}); rename the plug-in")
                elif entry.name in entries:
                    problem = (f"the name {entry.name!r} is already taken by {entries[entry.name].source}; "
                               "rename this plug-in or uninstall it")
                if problem:
                    entry = Entry(f"{entry.name} [{entry.source}]", entry.source, None, problem)
                entries[entry.name] = entry
            self._entries = entries
        return self._entries

    def cache_clear(self) -> None:
        self._entries = None

    def resolve(self, name: str) -> str:
        """The registered name for ``name`` (after ``normalize``); UnknownNameError with a did-you-mean."""
        key = self.normalize(name)
        entries = self.entries()
        if key not in entries:
            close = difflib.get_close_matches(key, entries, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = f"`{self.listing}` lists them" if self.listing else f"known: {', '.join(sorted(entries))}"
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} ({known})")
        return key

    def load(self, name: str) -> Any:
        """The plug-in's class (or factory); UnknownNameError if unknown or if it fails to load."""
        entry = self.entries()[self.resolve(name)]
        error = entry.load_error
        if error is None:
            try:
                return entry.load()
            except Exception as failure:  # a broken plug-in is reported by name, not as a traceback
                error = f"{type(failure).__name__}: {failure}"
        raise UnknownNameError(f"{self.kind} {entry.name!r} from {entry.source} failed to load: {error}")

    def create(self, name: str, context: Any) -> Any:
        """A new instance, handed the run's context (rdpbench.context.RunContext). Its ``name`` must be
        the name it is registered under (results and options are keyed by it)."""
        key = self.resolve(name)
        instance = self.load(key)(context)
        declared = getattr(instance, "name", key)
        if declared != key:
            raise UnknownNameError(f"{self.kind} {key!r} from {self.entries()[key].source} declares the name "
                                   f"{declared!r}; register it under its own name")
        return instance

    def unavailable_reason(self, name: str, context: Any) -> str | None:
        """None when the plug-in can run here; else why not (failed import, a broken rule of its kind,
        missing tool or library)."""
        try:
            instance = self.create(name, context)
        except (UnknownNameError, ValueError) as error:  # ValueError: a plug-in that breaks its kind's rules
            return str(error)
        check = getattr(instance, "unavailable_reason", None)
        return check() if check else None
