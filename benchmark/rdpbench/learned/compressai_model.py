"""Coding one image with a CompressAI ``CompressionModel`` the way CompressAI's own evaluation does
(compressai.utils.eval_model): the image, as float32 in [0, 1], is zero-padded centrally to a
multiple of 64 (compressai.ops.compute_padding), ``compress()`` gives the strings, ``decompress()``
and a crop give the reconstruction, rounded to uint8. The stream is rdpbench's container
(rdpbench.learned.stream: a few header bytes: height, width, string lengths) around the model's
strings, so the bytes after the header are exactly what ``model.compress()`` returns, and bpp counts
everything needed to decode.

Used by the zoo adapter (codecs/compressai_zoo.py) and by the Python API for a model object in
memory (:class:`ModelCodec`).
"""

from __future__ import annotations

import numpy as np

from rdpbench.codecs.api import Codec, CodecError
from rdpbench.context import RunContext
from rdpbench.learned import stream
from rdpbench.learned.tensors import to_tensor, to_uint8

PADDING = 64


def encode(model, image: np.ndarray, device: str, shapes: dict | None = None) -> bytes:
    """uint8 (H, W, 3) -> the container around ``model.compress()``'s strings (one per latent).
    ``shapes``, if given, records the latent shape ``compress()`` reports, per image (H, W), for
    :func:`decode` of a model without ``downsampling_factor``."""
    import torch
    import torch.nn.functional as F
    from compressai.ops import compute_padding

    height, width = image.shape[:2]
    pad, _ = compute_padding(height, width, min_div=PADDING)
    with torch.no_grad():
        out = model.compress(F.pad(to_tensor(image, device), pad, mode="constant", value=0))
    if shapes is not None:
        shapes[height, width] = out["shape"]  # as given: a size, or a dict of them (latent codecs)
    return stream.pack(height, width, [strings[0] for strings in out["strings"]])


def decode(model, data: bytes, shapes: dict | None = None) -> np.ndarray:
    """Bytes from :func:`encode` (same model) -> uint8 (H, W, 3). The latent shape passed to
    ``decompress()`` is padded size / ``model.downsampling_factor`` (the coarsest latent's, as
    ``compress()`` reports it), or, for a model without that attribute (a model of one's own,
    compressai's ELIC and checkerboard models), the shape :func:`encode` recorded in ``shapes``."""
    import torch
    import torch.nn.functional as F
    from compressai.ops import compute_padding

    try:
        height, width, strings = stream.unpack(data)
    except stream.StreamError as error:
        raise CodecError(str(error)) from error
    pad, unpad = compute_padding(height, width, min_div=PADDING)
    factor = getattr(model, "downsampling_factor", None)
    if factor:
        latent_shape = ((height + pad[2] + pad[3]) // factor, (width + pad[0] + pad[1]) // factor)
    elif shapes and (height, width) in shapes:
        latent_shape = shapes[height, width]
    else:
        raise CodecError(f"{type(model).__name__} has no downsampling_factor: its latent shape for a "
                         f"{width}x{height} image is known only after encoding one of that size")
    with torch.no_grad():
        out = model.decompress([[s] for s in strings], latent_shape)
    return to_uint8(F.pad(out["x_hat"], unpad))


def weights_digest(model) -> str:
    """First 12 hex digits of SHA-256 over the model's state dict (names and raw tensor bytes)."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


class ModelCodec(Codec):
    """A CompressAI model object in memory as a codec (the Python API, ``rdpbench.evaluate``). It runs
    on the device of the model's parameters; :meth:`prepare` puts it in eval mode and updates its
    entropy coders' CDFs (``update(force=True)``, as compressai.utils.eval_model does after loading),
    :meth:`restore` gives the model back its training mode."""

    description = "CompressAI model object (in memory)"

    def __init__(self, model, name: str):
        device = str(next(model.parameters()).device)
        super().__init__(RunContext(device=device))
        self.model, self.name = model, name
        self._training = model.training
        self._shapes: dict = {}  # (H, W) -> latent shape from compress(), for decode (see decode())

    def unavailable_reason(self) -> str | None:
        try:
            import compressai.ops  # noqa: F401 - the padding rule of its evaluation
        except ImportError as error:
            return f"compressai cannot be imported ({error}): pip install compressai==1.2.8 --no-deps"
        return None

    def version(self) -> str:
        """Library, class and a digest of the weights, so that a changed model evaluated again into
        the same folder under the same label gets the runner's codec-version warning."""
        from importlib.metadata import version

        return (f"compressai {version('compressai')}, {type(self.model).__name__} object, "
                f"weights sha256 {weights_digest(self.model)}")

    def prepare(self) -> None:
        self.model.eval()
        self.model.update(force=True)

    def restore(self) -> None:
        self.model.train(self._training)

    def encode(self, image, setting):
        return encode(self.model, image, self.context.device, self._shapes)

    def decode(self, data, setting):
        return decode(self.model, data, self._shapes)
