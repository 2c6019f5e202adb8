"""The documentation site builds with warnings as errors (broken links between pages, docstrings the
API reference cannot render, pages that do not parse), and its API reference is generated from the
docstrings of the code it documents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_build_strictly_with_the_api_reference(tmp_path):
    pytest.importorskip("mkdocstrings", reason="the docs tools (requirements.lock: mkdocs, mkdocstrings) are not installed")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "benchmark" / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    for anchor, text in (("rdpbench.api.evaluate", "measure <code>metrics</code>"),
                         ("rdpbench.api.Results", "The results of one folder"),
                         ("rdpbench.metrics.base.PairedMetric", "PairedMetric")):
        assert f'id="{anchor}"' in reference and text in reference, anchor
    assert (tmp_path / "site" / "api" / "index.html").is_file()
