"""The module layering the README's "Architecture" section promises, checked on the real imports:
the store and the tasks are leaves (no codec, metric, runner or report code), and the report reads
only the store, its exports and report code. Each check runs in a fresh interpreter, so what one
test imported cannot hide what another module pulls in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Modules any layer may use: plain data and small utilities with no plug-in machinery behind them.
LEAVES = {"rdpbench", "rdpbench.logs", "rdpbench.columns", "rdpbench.tasks", "rdpbench.matching", "rdpbench.bounded_json"}


def imported_by(module: str) -> set[str]:
    code = (f"import sys, json; import {module}; "
            "print(json.dumps(sorted(m for m in sys.modules if m == 'rdpbench' or m.startswith('rdpbench.'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


STORE_SIDE = LEAVES | {"rdpbench.store", "rdpbench.export", "rdpbench.safe_paths"}


@pytest.mark.parametrize("module, allowed, packages", [
    ("rdpbench.tasks", LEAVES, ()),
    ("rdpbench.store", LEAVES | {"rdpbench.store"}, ()),
    ("rdpbench.export", STORE_SIDE, ()),
    ("rdpbench.report.build", STORE_SIDE | {"rdpbench.imageio"}, ("rdpbench.report",)),
    ("rdpbench.study.page", STORE_SIDE | {"rdpbench.imageio", "rdpbench.paths"}, ("rdpbench.report", "rdpbench.study")),
])
def test_a_layer_imports_only_what_it_may(module, allowed, packages):
    extra = {name for name in imported_by(module) - allowed
             if not any(name == package or name.startswith(package + ".") for package in packages)}
    assert not extra, f"{module} pulls in {sorted(extra)}"


def test_the_forbidden_layers_would_be_seen():
    """The check above can fail: the runner pulls in codecs and metrics."""
    seen = imported_by("rdpbench.runner")
    assert {"rdpbench.codecs.registry", "rdpbench.metrics.registry", "rdpbench.worker"} <= seen
