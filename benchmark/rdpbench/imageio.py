"""Reading images into the one pixel format every codec and metric sees: uint8 RGB, shape (H, W, 3).

Conversion rules (tested in tests/test_imageio.py):

- RGB: as stored. EXIF orientation and ICC profiles are ignored (pixels as stored, as CompressAI and
  the papers' evaluation scripts read them).
- Grey (L, 1) and grey+alpha (LA): the grey value is copied into R, G and B.
- Palette (P, PA): looked up in the palette.
- Alpha (RGBA, LA, PA, palette transparency): dropped, not composited — the same as Pillow's
  ``convert("RGB")``, which CompressAI uses.
- 16-bit samples (I;16 grey, 48-bit RGB PNG): the high byte is kept (``v >> 8``). This is what
  Pillow itself does when it reads 48-bit RGB PNGs, so grey and colour follow one rule.
- 32-bit integer grey (mode I, from 16-bit PNG/TIFF): treated as 16-bit (``v >> 8``, clipped to
  0..65535 first).
- CMYK: Pillow's uncalibrated conversion ``R = round((255 - C) * (255 - K) / 255)`` etc., without
  colour management (ICC profiles are ignored).
- Multi-frame files (GIF, TIFF): the first frame.
- Float images (mode F) and files Pillow cannot decode raise :class:`ImageReadError`, and so do
  unreadable files, dangling or looping links and decompression bombs (more pixels than Pillow's
  ``Image.MAX_IMAGE_PIXELS`` limit allows, judged from the header before decoding).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# Files with these suffixes are taken as images when a folder is scanned (case-insensitive).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif"}
)


class ImageReadError(ValueError):
    """An input file that cannot be turned into an 8-bit RGB image."""


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert a Pillow image to a uint8 array of shape (H, W, 3) by the module's rules."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image)
        if mode == "I":
            values = np.clip(values, 0, 65535)
        grey = (values.astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        raise ImageReadError("floating-point images (mode F) are not supported; convert to 8/16-bit")
    if mode != "RGB":
        image = image.convert("RGB")
    return np.array(image, dtype=np.uint8)  # a writable copy (torch.from_numpy warns on read-only)


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (dangling or looping link, not a file, no permission,
    empty), or None."""
    try:
        status = path.stat()
    except OSError as error:
        if path.is_symlink():
            return "symlink loop" if error.errno == errno.ELOOP else "dangling symlink (its target does not exist)"
        return f"cannot read ({error.strerror})"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot read (permission denied)"
    if status.st_size == 0:
        return "empty file"
    return None


def _open(path: Path) -> Image.Image:
    reason = _unreadable(path)
    if reason:
        raise ImageReadError(f"{path.name}: {reason}")
    try:
        return Image.open(path)
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"{path.name}: refused as a decompression bomb ({error})") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"{path.name}: cannot decode image ({error})") from error


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels; ImageReadError as in
    :func:`read_rgb8`."""
    with _open(Path(path)) as image:
        return image.size


def read_rgb8(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB, shape (H, W, 3); raise ImageReadError with the reason."""
    path = Path(path)
    with _open(path) as image:
        try:
            image.load()
            return to_rgb8(image)
        except ImageReadError:
            raise
        except Image.DecompressionBombError as error:
            raise ImageReadError(f"{path.name}: refused as a decompression bomb ({error})") from error
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise ImageReadError(f"{path.name}: cannot decode image ({error})") from error


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 (H, W, 3) array as a lossless PNG, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")


def find_images(root: str | Path) -> list[str]:
    """Image files under ``root`` (recursive, hidden entries skipped), as sorted POSIX relative paths.

    Files are chosen by suffix, not by content, so corrupt, empty and unreadable files, and
    dangling or looping links, are listed too and become error rows instead of disappearing
    silently. Linked folders are not followed (no loops, nothing outside ``root`` is listed).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES and (path.is_symlink() or path.is_file()) and not path.is_dir():
            found.append(relative.as_posix())
    return sorted(found)
