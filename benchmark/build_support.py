"""setuptools build steps (named in pyproject.toml's ``[tool.setuptools.cmdclass]``) that make the
wheel and the sdist carry the files rdpbench ships outside its package: the codec adapters and cards
(``codecs/``), the dataset manifests (``datasets/*.toml``) and the benchmark configs
(``benchmark/configs/*.toml``).

The checkout stays their one source of truth (``codecs/`` and ``datasets/`` have no ``__init__.py``
on purpose, see benchmark/docs/architecture.md "Layout"): the sdist carries them at the same paths,
and the wheel gets copies under ``rdpbench/_shipped/{codecs,datasets,configs}/``, where
``rdpbench.paths.shipped`` finds them when there is no checkout. An editable install reads the
checkout itself, so nothing is copied for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parents[1]
# kind: (folder in the checkout, file patterns); rdpbench.paths.SHIPPED names the same folders.
SHIPPED = {"codecs": ("codecs", ("*.py", "*.toml")), "datasets": ("datasets", ("*.toml",)),
           "configs": ("benchmark/configs", ("*.toml",))}


def shipped_files(root: Path = ROOT) -> dict[str, list[Path]]:
    """{kind: files} of the checkout (or unpacked sdist) at ``root``; private files (``_*``) are left out."""
    return {kind: sorted(path for pattern in patterns for path in (root / folder).glob(pattern)
                         if not path.name.startswith(("_", ".")))
            for kind, (folder, patterns) in SHIPPED.items()}


class BuildPy(build_py):
    """build_py, then a copy of the shipped files into ``<build>/rdpbench/_shipped/``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for kind, files in shipped_files().items():
            if not files:
                raise RuntimeError(f"no {kind} files found under {ROOT / SHIPPED[kind][0]}: incomplete source tree")
            target = Path(self.build_lib) / "rdpbench" / "_shipped" / kind
            target.mkdir(parents=True, exist_ok=True)
            for path in files:
                shutil.copy2(path, target / path.name)


class Sdist(sdist):
    """sdist with the shipped files at their checkout paths, and this file (the wheel is built from the sdist)."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        extra = [Path(__file__).resolve()] + [path for paths in shipped_files().values() for path in paths]
        for path in extra:
            target = Path(base_dir) / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
