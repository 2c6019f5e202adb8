"""The shape of ``study.json``, checked every time a study folder is opened: a study folder may come
from someone else, so its design is untrusted input. :func:`check` refuses, with one
:class:`~rdpbench.study.design.StudyError` naming the field, anything the study commands could
trip over: wrong types, unknown references (a trial's entries, images and picture files must be
listed), sizes over the limits below and nesting deeper than ``MAX_DEPTH`` (checked on the bytes,
before parsing). Picture names must be ``<16 hex digits>.png`` (the names ``study create`` gives),
so no name can lead out of ``images/`` or an output folder; the callers still build every path
through :func:`rdpbench.safe_paths.inside`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from rdpbench.columns import Column
from rdpbench.study import DESIGNS

MAX_BYTES = 256 << 20      # a study of 100,000 trials with a dozen metrics is about 60 MB
MAX_DEPTH = 8              # the design nests 5 levels (values -> entry -> image -> column)
MAX_ITEMS = 100_000        # trials, images, entries, picture files, metric columns: each list or map
MAX_TEXT = 1_000           # characters of any one string
PICTURE = re.compile(r"[0-9a-f]{16}\.png")
SECRET = re.compile(r"(?:[0-9a-f]{2}){8,64}")  # the HMAC key, as hex bytes
SHA256 = re.compile(r"[0-9a-f]{64}")
_COLUMN_FIELDS = {field.name for field in dataclasses.fields(Column)}


class SchemaError(ValueError):
    """``study.json`` does not have the shape of a study; the message names the field."""


def _fail(where: str, what: str):
    raise SchemaError(f"{where} {what}")


def _text(value: Any, where: str, pattern: re.Pattern | None = None) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
        _fail(where, f"must be a string of at most {MAX_TEXT} characters")
    if pattern is not None and not pattern.fullmatch(value):
        _fail(where, f"{value[:40]!r} does not match {pattern.pattern}")
    return value


def _integer(value: Any, where: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or value >= 2**63:
        _fail(where, f"must be a whole number >= {low}")
    return value


def _number(value: Any, where: str, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, "must be a finite number" + (" or null" if optional else ""))


def _sized(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        _fail(where, f"must be a JSON {'object' if kind is dict else 'array'}")
    if len(value) > MAX_ITEMS:
        _fail(where, f"has {len(value):,} items, over the limit of {MAX_ITEMS:,}")
    return value


def _texts(value: Any, where: str) -> list[str]:
    return [_text(item, f"{where}[{i}]") for i, item in enumerate(_sized(value, list, where))]


def check(design: Any) -> dict:
    """``design`` (parsed study.json) when it has the shape of a study; SchemaError otherwise."""
    if not isinstance(design, dict):
        _fail("study.json", "must be a JSON object")
    for key in ("study_id", "secret", "design", "seed", "request", "entries", "images", "files", "values",
                "distribution", "trials", "columns"):
        if key not in design:
            _fail(f"'{key}'", "is missing")
    _text(design["study_id"], "'study_id'")
    _text(design["secret"], "'secret'", SECRET)
    if design["design"] not in DESIGNS:
        _fail("'design'", f"must be one of {', '.join(DESIGNS)}")
    _integer(design["seed"], "'seed'")
    _text(design.get("probe", ""), "'probe'")
    request = _sized(design["request"], dict, "'request'")
    _number(request.get("max_bpp_diff"), "'request.max_bpp_diff'")
    for key in ("test", "anchor"):
        if request.get(key) is not None:
            _text(request[key], f"'request.{key}'")
    codecs = _texts(request.get("codecs", []), "'request.codecs'")
    if design["design"] == "anchor-ladder" and not (request.get("test") and request.get("anchor")):
        _fail("'request'", "of an anchor-ladder study must name its 'test' and 'anchor'")
    if design["design"] == "matched-bitrate" and len(codecs) != 2:
        _fail("'request.codecs'", "of a matched-bitrate study must name two codecs")
    _triplet_request(design["design"], request, codecs)

    entries = set(_texts(design["entries"], "'entries'"))
    images = set(_texts(design["images"], "'images'"))
    files = _sized(design["files"], dict, "'files'")
    for name, digest in files.items():
        _text(name, "a name in 'files'", PICTURE)
        _text(digest, f"'files.{name}'", SHA256)
    for image, box in _sized(design.get("crop_boxes", {}), dict, "'crop_boxes'").items():
        if not isinstance(box, list) or len(box) != 4:
            _fail(f"'crop_boxes.{image[:40]}'", "must be [left, top, right, bottom]")
        for value in box:
            _integer(value, f"'crop_boxes.{image[:40]}'")

    for index, row in enumerate(_sized(design.get("unmatched", []), list, "'unmatched'")):
        if not isinstance(row, dict):
            _fail(f"'unmatched[{index}]'", "must be an object")
        _text(row.get("image"), f"'unmatched[{index}].image'")
        _text(row.get("setting"), f"'unmatched[{index}].setting'")
        if row.get("nearest") is not None:
            _text(row["nearest"], f"'unmatched[{index}].nearest'")
        _number(row.get("bpp_diff"), f"'unmatched[{index}].bpp_diff'")
        if not isinstance(row.get("image_dropped"), bool):
            _fail(f"'unmatched[{index}].image_dropped'", "must be true or false")

    columns = _sized(design["columns"], dict, "'columns'")
    for name, fields in columns.items():
        _text(name, "a name in 'columns'")
        if not isinstance(fields, dict) or not set(fields) <= _COLUMN_FIELDS or "label" not in fields:
            _fail(f"'columns.{name[:40]}'", f"must be an object with fields among {', '.join(sorted(_COLUMN_FIELDS))}")
        for key in ("name", "label", "unit", "metric", "kind", "group"):
            if key in fields:
                _text(fields[key], f"'columns.{name[:40]}.{key}'")
        if fields.get("higher_is_better") not in (True, False, None):
            _fail(f"'columns.{name[:40]}.higher_is_better'", "must be true, false or null")
        _integer(fields.get("decimals", 0), f"'columns.{name[:40]}.decimals'")

    values = _sized(design["values"], dict, "'values'")
    for entry in entries:
        if not isinstance(values.get(entry), dict):
            _fail(f"'values.{entry[:40]}'", "is missing: every entry needs its values")
    for entry, per_image in values.items():
        for image, row in _sized(per_image, dict, f"'values.{entry[:40]}'").items():
            for column, value in _sized(row, dict, f"'values.{entry[:40]}.{image[:40]}'").items():
                _text(column, f"a column of 'values.{entry[:40]}.{image[:40]}'")
                _number(value, f"'values.{entry[:40]}.{image[:40]}.{column[:40]}'")
    for entry, row in _sized(design["distribution"], dict, "'distribution'").items():
        for column, value in _sized(row, dict, f"'distribution.{entry[:40]}'").items():
            _number(value, f"'distribution.{entry[:40]}.{column[:40]}'")

    trials = _sized(design["trials"], list, "'trials'")
    ids = set()
    for index, trial in enumerate(trials):
        where = f"'trials[{index}]'"
        if not isinstance(trial, dict):
            _fail(where, "must be an object")
        for key in ("id", "image", "a", "b"):
            _text(trial.get(key), f"{where}.{key}")
        if trial["id"] in ids:
            _fail(f"{where}.id", f"{trial['id']!r} is not unique")
        ids.add(trial["id"])
        if not isinstance(trial.get("is_probe"), bool):
            _fail(f"{where}.is_probe", "must be true or false")
        if trial["image"] not in images:
            _fail(f"{where}.image", "is not one of the study's 'images'")
        for key in ("original", "a_file", "b_file"):
            if trial.get(key) not in files:
                _fail(f"{where}.{key}", "is not one of the study's picture 'files'")
        if not trial["is_probe"]:
            for key in ("a", "b"):
                if design["design"] == "triplet" and trial[key] == "original":  # the reference as one side
                    continue
                if trial[key] not in entries or not isinstance(values.get(trial[key], {}).get(trial["image"]), dict):
                    _fail(f"{where}.{key}", "is not an entry with values on the trial's image")
    return design


def _triplet_request(kind: str, request: dict, codecs: list[str]) -> None:
    """A triplet study names its codecs, its flicker rate (0 or 0.5-30 cycles per second) and whether
    "not sure" is offered; other designs have none of the triplet options."""
    if kind != "triplet":
        if "flicker_hz" in request or "not_sure" in request:
            _fail("'request'", "has triplet options ('flicker_hz', 'not_sure') in a study that is not a triplet study")
        return
    if not codecs:
        _fail("'request.codecs'", "of a triplet study must name one or more codecs")
    _number(request.get("flicker_hz"), "'request.flicker_hz'", optional=False)
    if not (request["flicker_hz"] == 0 or 0.5 <= request["flicker_hz"] <= 30):
        _fail("'request.flicker_hz'", "must be 0 or between 0.5 and 30")
    if not isinstance(request.get("not_sure"), bool):
        _fail("'request.not_sure'", "must be true or false")
