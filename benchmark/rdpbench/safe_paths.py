"""The one rule for paths built from untrusted text (codec labels, setting texts, image names,
manifest names and ``dest``, file names in manifests, archive members).

:func:`inside` joins the text under a root folder and refuses it, with :class:`UnsafePathError`,
unless the result stays strictly inside that root: no absolute paths, no ``..`` components, no
drive letters (``C:``, ``C:foo``: one ASCII letter and a colon opening the text) or backslash
tricks, no NUL bytes, and — after following any links that already exist on disk — still under the
root. A colon elsewhere is plain text: the label ``HEVC intra (x265, 4:4:4)`` and the setting
``subsampling=4:4:4`` are names, not drives. Nothing is created or written here; callers write only to
the path it returns.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath


DRIVE = re.compile(r"[A-Za-z]:")  # what Windows reads as a drive: "C:/x" (absolute), "C:x" (drive-relative)


class UnsafePathError(ValueError):
    """A path built from text would leave its root folder; the message names the text and the root."""


def unsafe_reason(text: str) -> str | None:
    """Why ``text`` (a relative POSIX path) cannot be used under a root, or None when it can."""
    if not isinstance(text, str) or not text.strip():
        return "is empty"
    if "\x00" in text:
        return "contains a NUL byte"
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute():
        return "is an absolute path"
    if DRIVE.match(path.as_posix()):
        return "starts with a drive letter"
    if ".." in path.parts:
        return "has a '..' component"
    if path == PurePosixPath("."):
        return "names the root folder itself"
    return None


def inside(root: str | Path, text: str, what: str = "path") -> Path:
    """``root / text`` when it resolves strictly inside ``root``; else UnsafePathError saying what
    ``what`` (e.g. "codec label") was and which root it must stay in."""
    reason = unsafe_reason(text)
    root = Path(root)
    target = root / text.replace("\\", "/") if reason is None else None
    if target is not None:
        resolved_root = root.resolve()
        resolved = target.resolve()  # follows links that already exist: a linked folder cannot lead out
        if resolved == resolved_root or not resolved.is_relative_to(resolved_root):
            reason = "leads outside it through a link" if resolved != resolved_root else "names the root folder itself"
    if reason is not None:
        raise UnsafePathError(f"{what} {text!r} {reason}: it must stay inside {root}; rename it "
                              "(plain names and sub-folders only)")
    return target


def file_stem(text: str) -> str:
    """``text`` (a codec label, a metric name from a store) as one file-name component: every run of
    characters outside ``A-Za-z0-9._=-`` becomes "_", and a name of dots only becomes "_", so the
    result never leaves its folder."""
    stem = re.sub(r"[^A-Za-z0-9._=-]+", "_", text)
    return "_" if set(stem) <= {"."} else stem
