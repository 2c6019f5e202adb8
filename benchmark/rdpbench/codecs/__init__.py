"""Codec adapters: the interface (:mod:`.api`), discovery (:mod:`.registry`) and the bases for
Pillow-backed (:mod:`.pillow`) and command-line (:mod:`.command_line`) codecs. Adapters live in the
project's ``codecs/`` folder, on ``RDPBENCH_CODECS_PATH`` or behind the ``rdpbench.codecs`` entry points."""
