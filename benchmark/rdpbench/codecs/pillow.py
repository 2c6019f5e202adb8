"""Base for codecs that Pillow (or a Pillow plugin such as pillow-heif) encodes in-process."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
import PIL
from PIL import Image, features

from rdpbench.codecs.api import Codec, CodecError, Setting
from rdpbench.imageio import to_rgb8


class PillowCodec(Codec):
    """Encode with ``Image.save(format=pillow_format, **save_options(...))``, decode with Image.open.

    ``pillow_feature`` names the Pillow feature (``PIL.features``) whose library does the work; its
    version is the codec's version (e.g. libjpeg-turbo 3.1 for JPEG).
    """

    pillow_format: ClassVar[str] = ""
    pillow_feature: ClassVar[str | None] = None
    version_feature: ClassVar[str | None] = None  # feature whose version names the library, if not pillow_feature

    def save_options(self, image: np.ndarray, setting: Setting) -> dict[str, Any]:
        """Keyword arguments for ``Image.save`` from the setting."""
        raise NotImplementedError

    def unavailable_reason(self) -> str | None:
        if self.pillow_feature and not features.check(self.pillow_feature):
            return f"this Pillow {PIL.__version__} was built without {self.pillow_feature} support"
        return None

    def version(self) -> str:
        feature = self.version_feature or self.pillow_feature
        library = features.version(feature) if feature else None
        suffix = f", {feature} {library}" if library else ""
        return f"Pillow {PIL.__version__}{suffix}"

    def encode(self, image: np.ndarray, setting: Setting) -> bytes:
        buffer = io.BytesIO()
        try:
            Image.fromarray(image).save(buffer, format=self.pillow_format, **self.save_options(image, setting))
        except (OSError, ValueError, KeyError) as error:
            raise CodecError(f"{self.pillow_format} encode failed: {error}") from error
        return buffer.getvalue()

    def decode(self, data: bytes, setting: Setting) -> np.ndarray:
        try:
            with Image.open(io.BytesIO(data)) as decoded:
                decoded.load()
                return to_rgb8(decoded)
        except (OSError, ValueError) as error:
            raise CodecError(f"{self.pillow_format} decode failed: {error}") from error
