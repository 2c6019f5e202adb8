"""Loading checkpoints without executing code from them."""

from __future__ import annotations

from pathlib import Path

from rdpbench.weights import LocatedWeight, WeightsError, load_torch_file, located_path


class CheckpointError(RuntimeError):
    """A checkpoint cannot be loaded safely or does not fit the model."""


def load_state_dict(source: str | Path | LocatedWeight) -> dict:
    """The state dict in ``source`` (a located weight file, or a checkpoint path given as a knob),
    loaded with ``torch.load(weights_only=True)``: a file that would need to run pickled code is
    refused. Training checkpoints that wrap the weights under "state_dict", "network" or
    "model_state_dict" are unwrapped."""
    path = source.path if isinstance(source, LocatedWeight) else Path(source)
    try:
        checkpoint = load_torch_file(source if isinstance(source, LocatedWeight) else located_path(path))
    except (WeightsError, OSError) as error:
        raise CheckpointError(
            f"{error}. A pickle that needs code to load is never run: convert it once in a trusted environment "
            "with torch.save(torch.load(path).state_dict()) and use that."
        ) from error
    for key in ("state_dict", "network", "model_state_dict"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint
