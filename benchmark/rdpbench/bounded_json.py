"""JSON from untrusted bytes (a received study, an answer posted by a browser, an answers file, an
exported report) with its size and nesting depth bounded *before* it is parsed: a deeply nested
document would otherwise exhaust the parser's recursion (a crash or an HTTP 500) and a huge one
the memory. Leaf module: anything may use it."""

from __future__ import annotations

import json
import re
from typing import Any

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class JSONLimitError(ValueError):
    """The bytes are too large, nested too deeply, or not JSON; the message says which and the limit."""


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data`` (brackets inside strings do not count);
    0 for a scalar. Counts only: the text need not be valid JSON."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', data)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def loads(data: bytes, max_bytes: int, max_depth: int, what: str = "the document") -> Any:
    """Parse ``data`` (UTF-8 JSON) after checking ``len(data) <= max_bytes`` and a nesting depth of
    at most ``max_depth``; JSONLimitError (naming ``what``) otherwise, or when it is not JSON."""
    if len(data) > max_bytes:
        raise JSONLimitError(f"{what} is {len(data):,} bytes, over the limit of {max_bytes:,}")
    depth = nesting_depth(data)
    if depth > max_depth:
        raise JSONLimitError(f"{what} nests {depth} levels deep, over the limit of {max_depth}")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise JSONLimitError(f"{what} is not JSON ({error})") from None
