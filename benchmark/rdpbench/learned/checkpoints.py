"""Loading checkpoints without executing code from them."""

from __future__ import annotations

from pathlib import Path


class CheckpointError(RuntimeError):
    """A checkpoint cannot be loaded safely or does not fit the model."""


def load_state_dict(path: str | Path) -> dict:
    """The state dict in ``path``, loaded with ``torch.load(weights_only=True)``: a file that would
    need to run pickled code is refused. Training checkpoints that wrap the weights under
    "state_dict", "network" or "model_state_dict" are unwrapped."""
    import pickle

    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} is a pickle that needs code execution to load (weights_only=True refused it: {error}). "
            "Convert it once in a trusted environment with torch.save(torch.load(path).state_dict()) and use that."
        ) from error
    for key in ("state_dict", "network", "model_state_dict"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint
