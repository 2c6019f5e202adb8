"""Codecs that are command-line tools, described by a declarative TOML card (no Python needed).

A card (see codecs/bpg.toml, codecs/jxl.toml) holds:

- ``name``, ``description``, ``install_hint``, ``defaults_note`` (what the defaults reproduce), ``timeout_s`` (per tool call, default 300);
- ``[encode]``: ``argv`` template, ``input`` ("png" or "ppm": the lossless file the tool reads);
- ``[decode]``: ``argv`` template, ``output`` ("png" or "ppm": the file the tool writes);
- ``[version]``: ``argv`` and a regular expression ``pattern`` whose first group is the version;
- ``[[param]]`` tables: name, kind, default, doc, low/high or choices, rate (see rdpbench.codecs.api.Param).

Templates are lists of arguments (never a shell line); ``{input}``, ``{output}`` and every parameter
name are substituted in each argument. Files live in a fresh temporary folder per call, so the names
of user images never reach the command line. The bytes of the encoder's output file are the stream.

Every tool runs in its own process group (a new session): after the call, on a timeout, an error or
an interrupt the whole group is killed; a helper that left the group with ``setsid`` is killed too
when the tool runs in a worker, which adopts orphaned descendants (:mod:`rdpbench.lifetime`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench import lifetime
from rdpbench.codecs.api import Codec, CodecError, Param, Setting
from rdpbench.context import RunContext
from rdpbench.imageio import ImageReadError, read_rgb8
from PIL import Image

_LOSSLESS_FORMATS = {"png": ("PNG", ".png"), "ppm": ("PPM", ".ppm")}


class CardError(ValueError):
    """A codec card is malformed; the message names the file and the field."""


class CommandLineCodec(Codec):
    """A codec run as ``encode.argv`` and ``decode.argv`` subprocesses, configured by a card."""

    def __init__(self, card: dict[str, Any], source: str, context: RunContext | None = None):
        super().__init__(context)
        try:
            self.name = card["name"]
            self.description = card.get("description", "")
            self.install_hint = card.get("install_hint", "")
            self.defaults_note = card.get("defaults_note", "")
            self.timeout_s = float(card.get("timeout_s", 300))
            self.encode_argv = list(card["encode"]["argv"])
            self.decode_argv = list(card["decode"]["argv"])
            self.input_format = card["encode"].get("input", "png")
            self.output_format = card["decode"].get("output", "png")
            self.stream_suffix = card["encode"].get("suffix", ".bin")
            self.version_argv = list(card.get("version", {}).get("argv", []))
            self.version_pattern = card.get("version", {}).get("pattern", r"(\S+)")
            self.params = tuple(
                Param(p["name"], p["kind"], p["default"], p.get("doc", ""), p.get("low"), p.get("high"),
                      tuple(p["choices"]) if "choices" in p else None, bool(p.get("rate", False)))
                for p in card.get("param", [])
            )
        except (KeyError, TypeError) as error:
            raise CardError(f"{source}: missing or malformed field {error}") from error
        for fmt in (self.input_format, self.output_format):
            if fmt not in _LOSSLESS_FORMATS:
                raise CardError(f"{source}: image format {fmt!r} must be one of {sorted(_LOSSLESS_FORMATS)}")
        self.source = source

    @classmethod
    def from_file(cls, path: Path, context: RunContext | None = None) -> "CommandLineCodec":
        try:
            card = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise CardError(f"{path}: {error}") from error
        return cls(card, str(path), context)

    # -- availability and provenance -------------------------------------------------------------
    def tools(self) -> list[str]:
        return sorted({self.encode_argv[0], self.decode_argv[0]})

    def unavailable_reason(self) -> str | None:
        missing = [tool for tool in self.tools() if shutil.which(tool) is None]
        return f"not on PATH: {', '.join(missing)}" if missing else None

    @cached_property
    def _version(self) -> str:
        if not self.version_argv:
            return "unknown"
        try:
            _, stdout, stderr = run_tool(self.version_argv, 30)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"unknown ({error})"
        text = (stdout + stderr).decode(errors="replace")
        match = re.search(self.version_pattern, text)
        return match.group(1) if match else (text.strip().splitlines() or ["unknown"])[0]

    def version(self) -> str:
        return self._version

    # -- coding ----------------------------------------------------------------------------------
    def _run(self, template: list[str], values: dict[str, Any]) -> None:
        argv = [argument.format_map(values) for argument in template]
        try:
            returncode, _, stderr = run_tool(argv, self.timeout_s)
        except subprocess.TimeoutExpired:
            raise CodecError(f"{argv[0]} timed out after {self.timeout_s:g} s (its process group was killed): "
                             f"{' '.join(argv)}") from None
        except OSError as error:
            raise CodecError(f"cannot run {argv[0]}: {error}. {self.install_hint}".strip()) from error
        if returncode != 0:
            text = stderr.decode(errors="replace").strip()[-2000:]
            raise CodecError(f"{argv[0]} exited with {returncode}: {text or '(no stderr)'}")

    def encode(self, image: np.ndarray, setting: Setting) -> bytes:
        pillow_format, suffix = _LOSSLESS_FORMATS[self.input_format]
        with tempfile.TemporaryDirectory(prefix="rdpbench-") as folder:
            source, stream = Path(folder) / f"input{suffix}", Path(folder) / f"stream{self.stream_suffix}"
            Image.fromarray(image).save(source, format=pillow_format, compress_level=1)
            self._run(self.encode_argv, {**setting, "input": str(source), "output": str(stream)})
            if not stream.is_file():
                raise CodecError(f"{self.encode_argv[0]} wrote no output file")
            return stream.read_bytes()

    def decode(self, data: bytes, setting: Setting) -> np.ndarray:
        _, suffix = _LOSSLESS_FORMATS[self.output_format]
        with tempfile.TemporaryDirectory(prefix="rdpbench-") as folder:
            stream, target = Path(folder) / f"stream{self.stream_suffix}", Path(folder) / f"output{suffix}"
            stream.write_bytes(data)
            self._run(self.decode_argv, {**setting, "input": str(stream), "output": str(target)})
            try:
                return read_rgb8(target)
            except (ImageReadError, FileNotFoundError) as error:
                raise CodecError(f"{self.decode_argv[0]} output unreadable: {error}") from error


def run_tool(argv: list[str], timeout_s: float) -> tuple[int, bytes, bytes]:
    """Run ``argv`` in a new process group; (exit code, stdout, stderr). On a timeout
    (subprocess.TimeoutExpired) or any other exit from here, the whole group is killed first."""
    with lifetime.ToolCall():  # in a worker, helpers that left the group with setsid die on leaving
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        finally:
            _kill_group(process)
    return process.returncode, stdout, stderr


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL every process left in the tool's group (its id stays reserved while any member lives)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is empty: nothing left over
    if process.poll() is None:
        process.wait()
