"""rdpbench: rate–distortion–perception benchmarking of lossy image codecs.

The Python API (imported on first use, so ``import rdpbench`` stays cheap):

- :func:`rdpbench.evaluate` compresses images with a codec (a registered name, an object with
  encode/decode, a CompressAI model, or a dict of those) and measures them;
- :func:`rdpbench.load` reads a stored results folder;
- both return a :class:`rdpbench.Results` (``per_image``, ``summary``, ``bd_rate()``, ``plot()``).

The command line is ``rdpbench`` (rdpbench.cli); the documentation is in benchmark/docs/.
"""

__version__ = "0.1.0"

from rdpbench import logs as _logs  # noqa: E402

_logs.from_environment()  # worker processes send library warnings where the parent does

__all__ = ["evaluate", "load", "Results", "__version__"]
_API = {"evaluate", "load", "Results"}


def __getattr__(name: str):
    if name in _API:
        from rdpbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'rdpbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
