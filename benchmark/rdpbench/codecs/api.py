"""The codec adapter interface.

A codec turns a uint8 RGB image of shape (H, W, 3) into self-contained bytes and back. The runner,
never the adapter, measures the rate: ``bpp = 8 * len(bytes) / (H * W)``. Every tunable of a codec
is a :class:`Param`; a *setting* is the full mapping of parameter names to values for one encode
(defaults, overridden by ``--option`` and then by the swept ``--sweep`` values). The runner also
passes ``_image``, the image's path relative to the dataset, for adapters that need the identity of
the image (``precomputed``); keys starting with "_" are not parameters.

Writing an adapter: subclass :class:`Codec` in one file in ``codecs/`` (or in a package that
registers it under the ``rdpbench.codecs`` entry-point group); see codecs/jpeg.py. Command-line
tools need no Python at all: a TOML card in ``codecs/`` (see codecs/bpg.toml and rdpbench/codecs/command_line.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from rdpbench.context import RunContext

Setting = Mapping[str, Any]


class CodecError(RuntimeError):
    """Encoding or decoding failed; the message says why (tool stderr, exit code, ...)."""


class ParamError(ValueError):
    """A parameter value given on the command line or in a config is not valid for the codec."""


@dataclass(frozen=True)
class Param:
    """One tunable of a codec.

    ``kind`` is "int", "float" or "str". ``low``/``high`` bound numbers (inclusive), ``choices``
    restricts strings. ``rate`` marks the knob that sets the rate (what ``--sweep`` varies by default).
    """

    name: str
    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    rate: bool = False

    def parse(self, value: Any) -> Any:
        """Convert ``value`` (text from the command line, or a TOML value) and validate it."""
        if isinstance(value, bool) and self.kind in ("int", "float"):  # TOML true is not the number 1
            raise ParamError(f"{self.name}: {str(value).lower()} is a boolean, not a number; write a number "
                             f"such as {self.default}")
        try:
            if self.kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                parsed: Any = int(value) if not isinstance(value, str) else int(value.strip())
            elif self.kind == "float":
                parsed = float(value)
                if not math.isfinite(parsed):
                    raise ValueError
            else:
                parsed = str(value)
        except (TypeError, ValueError):
            raise ParamError(f"{self.name}: {value!r} is not a valid {self.kind}") from None
        if self.low is not None and parsed < self.low or self.high is not None and parsed > self.high:
            raise ParamError(f"{self.name}={parsed} is outside {self.low}..{self.high}")
        if self.choices is not None and parsed not in self.choices:
            raise ParamError(f"{self.name}={parsed!r}: choose one of {', '.join(self.choices)}")
        return parsed

    def describe(self) -> str:
        """One line for `rdpbench codecs`: name, range or choices, default, doc."""
        if self.choices:
            domain = "|".join(self.choices)
        elif self.low is not None or self.high is not None:
            domain = f"{self.low:g}..{self.high:g}" if self.kind == "float" else f"{self.low}..{self.high}"
        else:
            domain = self.kind
        marker = " (rate knob)" if self.rate else ""
        return f"{self.name}={domain} [default {self.default}]{marker}: {self.doc}"


class Codec:
    """Base class of codec adapters. Subclasses set the class attributes and implement the methods.

    Instances are created once per worker process, with the run's context, and reused for every image
    and setting, so an adapter may cache expensive state (a loaded model per setting) on ``self``. An
    adapter that defines ``__init__`` takes the context and passes it on: ``super().__init__(context)``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    install_hint: ClassVar[str] = ""
    # What the defaults are and which published setting they reproduce (shown by `rdpbench codecs`).
    defaults_note: ClassVar[str] = ""

    def __init__(self, context: RunContext | None = None):
        """``context``: the run's device, weight folders and cache (rdpbench.context), handed over
        once by rdpbench.codecs.registry.create_codec."""
        self.context = context or RunContext()

    # -- availability and provenance -------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """None when the codec can run here, else what is missing (the install hint is added)."""
        return None

    def version(self) -> str:
        """Version of the underlying library or tool, recorded with every run."""
        return "unknown"

    def weight_names(self, setting: Setting) -> list[str]:
        """Canonical names of the pretrained files a setting needs (rdpbench.weights), checked
        before any work so that a missing file stops the run at once."""
        return []

    # -- coding ----------------------------------------------------------------------------------
    def encode(self, image: np.ndarray, setting: Setting) -> bytes:
        """Encode uint8 RGB (H, W, 3) to self-contained bytes."""
        raise NotImplementedError

    def decode(self, data: bytes, setting: Setting) -> np.ndarray:
        """Decode bytes from :meth:`encode` (same setting) to uint8 RGB (H, W, 3)."""
        raise NotImplementedError

    # -- parameters ------------------------------------------------------------------------------
    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.params) or "none"
        raise ParamError(f"codec {self.name!r} has no parameter {name!r} (known: {known})")

    def rate_knob(self) -> str | None:
        return next((p.name for p in self.params if p.rate), None)

    def resolve_setting(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Full setting: every parameter's default, overridden by the (parsed) given values."""
        setting = {p.name: p.default for p in self.params}
        for key, value in values.items():
            setting[key] = self.param(key).parse(value)
        return setting
