"""rdpbench: rate–distortion–perception benchmarking of lossy image codecs.

See README.md for usage and, in its "Conventions" section, the evaluation conventions every number
depends on.
"""

__version__ = "0.1.0"

from rdpbench import logs as _logs  # noqa: E402

_logs.from_environment()  # worker processes send library warnings where the parent does
