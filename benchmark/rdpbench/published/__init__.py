"""Published results by name: the catalogue (``catalogue.toml`` beside this file) of curves rdpbench
ships, each with its citation, source URL and commit, dataset and conventions.

Names: ``compressai:kodak/<file>`` (CompressAI's Kodak tables: classical codecs and the zoo),
``hific:<dataset>`` (HiFiC's data.csv), ``ms-illm:<dataset>[/no-gan]`` (MS-ILLM's results.csv).
``rdpbench published`` lists them; ``rdpbench report --import NAME`` and the API's
``Results.plot(published=[NAME])`` / ``bd_rate(..., published=[NAME])`` overlay them: :func:`curve_file`
writes the curve in CompressAI's results format (the format ``--import`` reads) into the cache folder.
"""

from __future__ import annotations

import csv
import json
import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class PublishedError(ValueError):
    """An unknown published curve; the message names the known ones."""


@dataclass(frozen=True)
class Curve:
    """One published curve. ``points``: {metric: [value per point]} (rdpbench's metric names, ``bpp``
    included; None where the source gives no value), points in the source's order. ``settings``:
    {knob: [value per point]} where the source states them."""

    name: str
    label: str
    dataset: str
    source: str
    citation: str
    url: str
    conventions: str
    points: dict[str, list[float | None]]
    settings: dict[str, list[Any]] = field(default_factory=dict)

    def document(self) -> dict:
        """CompressAI's results format (``name``, ``description``, ``results``), as --import reads it."""
        return {"name": self.label, "description": f"{self.source}: {self.url}", "results": self.points}


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Curve]:
    """Every published curve by name."""
    data = tomllib.loads((HERE / "catalogue.toml").read_text())
    extra, curves = data.get("curve", {}), {}
    for key, source in data["source"].items():
        common = dict(source=source["title"], citation=source["citation"], url=source["url"])
        if "files" in source:
            for path in sorted(HERE.glob(source["files"])):
                name = f"{key}:{source['dataset']}/{path.stem}"
                document = json.loads(path.read_text())
                own = extra.get(name, {})
                conventions = source["conventions"] + (f"; {own['conventions']}" if "conventions" in own else "")
                points = {_ours(metric): values for metric, values in document["results"].items()}
                curves[name] = Curve(name, f"{document['name']} ({source['short']}, {source['dataset']})",
                                     source["dataset"], conventions=conventions,
                                     points=points, settings=own.get("settings", {}), **common)
        else:
            with open(HERE / source["file"], newline="") as stream:
                rows = list(csv.DictReader(stream))
            for table in source["curve"]:
                chosen = [row for row in rows if all(row[k] == v for k, v in table["select"].items())]
                points = {ours: [_number(row[theirs]) for row in chosen] for theirs, ours in source["columns"].items()}
                points = {metric: values for metric, values in points.items() if any(v is not None for v in values)}
                model = table["select"].get("model")
                label = f"{model} ({source['short']}, {table['dataset']})" if model else \
                    f"{source['short']} (published, {table['dataset']})"
                curves[table["name"]] = Curve(table["name"], label, table["dataset"],
                                              conventions=source["conventions"], points=points, **common)
    return curves


def _ours(key: str) -> str:
    """CompressAI's key -> rdpbench's metric name (psnr-rgb -> psnr, ms-ssim-rgb -> ms_ssim, times)."""
    from rdpbench.export import COMPRESSAI_KEYS

    names = {theirs: ours for ours, theirs in COMPRESSAI_KEYS.items()}
    return names.get(key, key.replace("-", "_"))


def names() -> list[str]:
    return list(catalogue())


def curve(name: str) -> Curve:
    """The published curve ``name``; PublishedError with a did-you-mean otherwise."""
    import difflib

    curves = catalogue()
    if name not in curves:
        close = difflib.get_close_matches(name, curves, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PublishedError(f"no published curve {name!r}{hint} (`rdpbench published` lists them)")
    return curves[name]


def curve_file(name: str) -> Path:
    """The curve in CompressAI's results format, written to ``RDPBENCH_CACHE/published/`` (nulls for
    missing values), for ``rdpbench report --import``."""
    from rdpbench.context import default_cache
    from rdpbench.safe_paths import file_stem

    document = curve(name).document()
    document["results"] = {key: [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]
                           for key, values in document["results"].items()}
    folder = default_cache() / "published"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_stem(name)}.json"
    path.write_text(json.dumps(document, indent=1))
    return path


def resolve(text: str | Path) -> Path:
    """What ``--import`` takes: a CompressAI-format JSON file (relative to the current folder), else a
    published curve's name."""
    from rdpbench.paths import user_path

    path = user_path(text)
    if path.is_file() or isinstance(text, Path) or str(text).endswith(".json"):
        return path
    return curve_file(str(text))
