"""Full-reference metrics that are command-line tools, described by a TOML metric card (no Python
needed), found like codec cards: rdpbench's own cards (package data, rdpbench/metrics/cards/), then
the metric cards among the plug-in paths (``--plugin``, a config's ``plugins``, ``RDPBENCH_PLUGINS``:
rdpbench.plugins; a card is a metric card when it has ``[[column]]`` tables).

A card (see rdpbench/metrics/cards/butteraugli.toml) holds:

- ``name`` (the tool's card), ``description``, ``install_hint``, ``reference`` (the implementation
  and version it is), ``input`` ("png" or "ppm": how the two images are written), ``timeout_s``
  (default 300);
- ``[run]``: ``argv``, a list of arguments (never a shell line) in which ``{reference}`` and
  ``{reconstruction}`` are replaced by the image files;
- ``[version]``: ``argv`` and a regular expression ``pattern`` whose first group is the version;
- ``[available]`` (optional): ``argv`` and ``pattern``: the tool is usable only if the pattern is
  found in that command's output (e.g. ffmpeg built with libvmaf);
- ``[[column]]`` tables: ``name``, ``label``, ``unit``, ``higher_is_better``, ``decimals``, ``group``
  and ``pattern``: a regular expression on the tool's ``stream`` ("stdout" by default, or
  "stderr") whose first group is the value.

Each column is a metric of its own (``--metrics butteraugli,butteraugli_3norm``): a per-image
metric fills one column. The tool runs once per image pair: metrics of one card in one process
share the output of the last pair. Images are written to a fresh temporary folder, so user file
names never reach the command line; the tool runs in its own process group, killed on timeout.
A tool that fails or prints no value gives NaN with the reason.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.columns import Column
from rdpbench.metrics.base import PairedMetric, Reference
from rdpbench.registry import Entry
from rdpbench.tasks import MetricValue

BUILTIN_CARDS = Path(__file__).parent / "cards"
_FORMATS = {"png": ("PNG", ".png"), "ppm": ("PPM", ".ppm")}
_last_run: dict[str, tuple[str, dict[str, MetricValue]]] = {}  # card source -> (pair digest, values)


class MetricCardError(ValueError):
    """A metric card is malformed; the message names the file and the field."""


def card_files() -> list[Path]:
    """rdpbench's own cards, then the metric cards among the plug-in paths."""
    from rdpbench import plugins

    return sorted(BUILTIN_CARDS.glob("*.toml")) + plugins.cards("metric")


class CommandLineMetric(PairedMetric):
    """One column of a metric card; subclasses are made per column by :func:`metric_classes`."""

    card: dict[str, Any] = {}
    source = ""
    pattern = ""
    stream = "stdout"

    def describe(self):
        return f"{self.card.get('reference', self.card['name'])}, version {self.version()}, by its card {self.source}"

    def unavailable_reason(self) -> str | None:
        tool = self.card["run"]["argv"][0]
        hint = self.card.get("install_hint", "")
        if shutil.which(tool) is None:
            return f"not on PATH: {tool}. {hint}".strip()
        check = self.card.get("available")
        if check:
            text = _output(check["argv"])
            if not re.search(check["pattern"], text):
                return f"{' '.join(check['argv'])} does not show {check['pattern']!r}. {hint}".strip()
        return None

    def version(self) -> str:
        return _version(self.source)

    def compute(self, reference, reconstruction):
        digest = hashlib.sha1(reference.tobytes() + reconstruction.tobytes() + str(reference.shape).encode()).hexdigest()
        last = _last_run.get(self.source)
        if last is None or last[0] != digest:
            _last_run[self.source] = (digest, _run_card(self.card, self.source, reference, reconstruction))
        return _last_run[self.source][1][self.name]


def _output(argv: list[str], timeout_s: float = 30) -> str:
    from rdpbench.codecs.command_line import run_tool

    try:
        _, stdout, stderr = run_tool(argv, timeout_s)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"({error})"
    return (stdout + stderr).decode(errors="replace")


_versions: dict[str, str] = {}


def _version(source: str) -> str:
    if source not in _versions:
        card = _read(Path(source))
        spec = card.get("version", {})
        if not spec.get("argv"):
            _versions[source] = "unknown"
        else:
            text = _output(spec["argv"])
            match = re.search(spec.get("pattern", r"(\S+)"), text)
            _versions[source] = match.group(1) if match else (text.strip().splitlines() or ["unknown"])[0]
    return _versions[source]


def _run_card(card: dict[str, Any], source: str, reference: np.ndarray, reconstruction: np.ndarray
              ) -> dict[str, MetricValue]:
    """Run the card's tool once on the pair; a value (or NaN with the reason) for each column."""
    from PIL import Image

    from rdpbench.codecs.command_line import run_tool

    pillow_format, suffix = _FORMATS[card.get("input", "png")]
    columns = card["column"]
    timeout_s = float(card.get("timeout_s", 300))
    with tempfile.TemporaryDirectory(prefix="rdpbench-metric-") as folder:
        files = {"reference": str(Path(folder) / f"reference{suffix}"),
                 "reconstruction": str(Path(folder) / f"reconstruction{suffix}")}
        Image.fromarray(reference).save(files["reference"], format=pillow_format, compress_level=1)
        Image.fromarray(reconstruction).save(files["reconstruction"], format=pillow_format, compress_level=1)
        argv = [argument.format_map(files) for argument in card["run"]["argv"]]
        try:
            code, stdout, stderr = run_tool(argv, timeout_s)
        except subprocess.TimeoutExpired:
            return {c["name"]: MetricValue.undefined(f"{argv[0]} timed out after {timeout_s:g} s") for c in columns}
        except OSError as error:
            return {c["name"]: MetricValue.undefined(f"cannot run {argv[0]}: {error}") for c in columns}
    texts = {"stdout": stdout.decode(errors="replace"), "stderr": stderr.decode(errors="replace")}
    if code != 0:
        why = f"{argv[0]} exited with {code}: {texts['stderr'].strip()[-500:] or '(no stderr)'}"
        return {c["name"]: MetricValue.undefined(why) for c in columns}
    values = {}
    for column in columns:
        match = re.search(column["pattern"], texts[column.get("stream", "stdout")], re.MULTILINE)
        try:
            values[column["name"]] = MetricValue(float(match.group(1)))
        except (AttributeError, IndexError, ValueError):
            values[column["name"]] = MetricValue.undefined(
                f"{argv[0]} printed no value for {column['name']} (pattern {column['pattern']!r})")
    return values


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise MetricCardError(f"{path}: {error}") from error


def metric_classes(path: Path) -> list[type[CommandLineMetric]]:
    """A CommandLineMetric subclass for each ``[[column]]`` of the card at ``path``; MetricCardError
    naming the field when it is malformed."""
    card = _read(path)
    try:
        if not isinstance(card["run"]["argv"], list) or not card["run"]["argv"]:
            raise TypeError("run.argv must be a non-empty list")
        if card.get("input", "png") not in _FORMATS:
            raise TypeError(f"input must be one of {sorted(_FORMATS)}")
        classes = []
        for column in card["column"]:
            re.compile(column["pattern"])
            declared = Column(column["name"], column.get("label", column["name"]), column.get("unit", ""),
                              column.get("higher_is_better", True), int(column.get("decimals", 4)))
            reference = Reference(card.get("reference", card["name"]), card.get("checked_on", ""),
                                  float(card.get("abs_tol", 0.0)), 0.0, card.get("tolerance_why", ""))
            classes.append(type(f"Card_{column['name']}", (CommandLineMetric,), {
                "name": column["name"], "columns": (declared,), "group": column.get("group", "perceptual (full-reference)"),
                "card": card, "source": str(path), "pattern": column["pattern"],
                "stream": column.get("stream", "stdout"), "reference": reference,
                "__doc__": f"{column.get('label', column['name'])}: {card.get('description', '')} (card {path})"}))
        return classes
    except (KeyError, TypeError, ValueError, re.error) as error:
        raise MetricCardError(f"{path}: missing or malformed field {error}") from error


def card_entries() -> list[Entry]:
    """Registry entries of every card's columns (a broken card is one broken entry, named after its file)."""
    entries = []
    for path in card_files():
        try:
            classes = metric_classes(path)
        except MetricCardError as error:
            entries.append(Entry(path.stem, str(path), None, str(error)))
            continue
        entries += [Entry(cls.name, str(path), lambda cls=cls: cls) for cls in classes]
    return entries
