"""Matching another codec's bitrate per image (``rdpbench run --match-bpp CODEC:SETTING``).

For each image, the codec's rate knob is searched so that its bpp lands just above the target
("above", the default: the codec never gets fewer bits than the one it is compared with), just below
("below"), or as close as possible ("closest") — CompressAI's ``find_close`` idea, integrated in runs.
The search assumes bpp is monotonic in the knob (its direction is read off the two ends of the
range): bisection over the integers for int knobs, 30 halvings for float knobs. Each probe is an
encode only; the chosen value is then encoded, decoded and measured like any task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

SIDES = ("above", "below", "closest")
SYMBOLS = {"above": ">=", "below": "<=", "closest": "~"}
FLOAT_STEPS = 30


@dataclass(frozen=True)
class MatchTarget:
    """Search ``knob`` in [low, high] so that bpp meets ``bpp`` from ``side``."""

    knob: str
    kind: str
    low: float
    high: float
    bpp: float
    side: str = "above"


def setting_text(reference: str, side: str) -> str:
    """The ``setting`` of matched rows, e.g. ``bpp>=hific:checkpoint=msillm_quality_3``."""
    return f"bpp{SYMBOLS[side]}{reference}"


def search(target: MatchTarget, bpp_of: Callable[[Any], float]) -> Any:
    """The knob value chosen for ``target``; ``bpp_of(value)`` encodes at ``value`` and returns bpp."""
    cast = int if target.kind == "int" else float
    low, high = cast(target.low), cast(target.high)
    cache: dict[Any, float] = {}

    def rate(value):
        if value not in cache:
            cache[value] = bpp_of(value)
        return cache[value]

    increasing = rate(high) >= rate(low)
    # invariant: `below` gives bpp <= target (or is the cheapest end), `above` gives bpp >= target
    below, above = (low, high) if increasing else (high, low)
    if rate(below) >= target.bpp:
        above = below
    elif rate(above) <= target.bpp:
        below = above
    else:
        for _ in range(FLOAT_STEPS if cast is float else 64):
            middle = (below + above) / 2 if cast is float else (below + above) // 2
            if cast is int and middle in (below, above):
                break
            if rate(middle) >= target.bpp:
                above = middle
            else:
                below = middle
    if target.side == "above":
        return above
    if target.side == "below":
        return above if rate(above) == target.bpp else below  # an exact hit is both; bisection keeps it in `above`
    return min((below, above), key=lambda value: abs(rate(value) - target.bpp))


def reference_bpp(rows: list[tuple[str, float | None, str | None]]) -> dict[str, float]:
    """{image: bpp} of the reference setting's successful rows."""
    return {image: bpp for image, bpp, error in rows if error is None and bpp is not None and np.isfinite(bpp)}
