"""Command-line metrics described by TOML cards: butteraugli by libjxl's own tool (its printed values
on the identical PNGs; skipped without the tool), a user's card from a plug-in folder (RDPBENCH_PLUGINS) computing
the MSE by a formula written here, and what a missing tool, a failing tool and a broken card give."""

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdpbench.context import RunContext
from rdpbench.metrics.registry import METRICS, create_metric

DATA = Path(__file__).parent / "data" / "iqa_calibration"


@pytest.fixture
def metric_cards(tmp_path, monkeypatch):
    folder = tmp_path / "cards"
    folder.mkdir()
    monkeypatch.setenv("RDPBENCH_PLUGINS", str(folder))
    METRICS.cache_clear()
    yield folder
    METRICS.cache_clear()


def _rgb(path):
    return np.array(Image.open(path).convert("RGB"))


@pytest.mark.skipif(shutil.which("butteraugli_main") is None,
                    reason="butteraugli_main not on PATH (Debian: apt-get install libjxl-devtools; `make system-tools`)")
def test_butteraugli_columns_are_the_reference_tools_output():
    reference, reconstruction = DATA / "ref" / "I04.png", DATA / "dist" / "I04.png"
    printed = subprocess.run(["butteraugli_main", str(reference), str(reconstruction), "--pnorm", "3"],
                             capture_output=True, text=True, check=True).stdout.split()
    expected_max, expected_3norm = float(printed[0]), float(printed[2])
    maximum = create_metric("butteraugli", RunContext())
    three = create_metric("butteraugli_3norm", RunContext())
    assert maximum.unavailable_reason() is None and maximum.version() != "unknown"
    assert maximum.compute(_rgb(reference), _rgb(reconstruction)).value == expected_max
    assert three.compute(_rgb(reference), _rgb(reconstruction)).value == expected_3norm
    assert 0 < expected_3norm < expected_max
    assert [c.name for c in maximum.column_info()] == ["butteraugli"] and not maximum.columns[0].higher_is_better


MSE_CARD = """
name = "mse_tool"
description = "MSE printed by a Python one-liner"
reference = "numpy"
install_hint = "install python"

[run]
argv = ["{python}", "-c", "import sys, numpy as np; from PIL import Image; a, b = (np.asarray(Image.open(p), float) for p in sys.argv[1:]); print('mse:', ((a - b) ** 2).mean())", "{{reference}}", "{{reconstruction}}"]

[version]
argv = ["{python}", "--version"]
pattern = 'Python (\\S+)'

[[column]]
name = "mse_tool"
label = "MSE"
higher_is_better = false
pattern = 'mse: ([-+0-9.eE]+)'
"""


def test_a_users_card_adds_a_metric_without_python_code(metric_cards):
    (metric_cards / "mse.toml").write_text(MSE_CARD.format(python=sys.executable))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-5, 6, a.shape), 0, 255).astype(np.uint8)
    metric = create_metric("mse_tool", RunContext())
    assert metric.compute(a, b).value == pytest.approx(np.mean((a.astype(float) - b) ** 2), rel=1e-12)
    assert metric.version() == sys.version.split()[0]
    from rdpbench.codecs.registry import CODECS  # a metric card among the plug-ins is not a (broken) codec

    CODECS.cache_clear()
    assert not [entry for entry in CODECS.entries().values() if entry.source == str(metric_cards / "mse.toml")]


def test_missing_failing_and_broken_tools_are_reported(metric_cards):
    (metric_cards / "missing.toml").write_text(
        '''name = "missing"\ninstall_hint = "get it from example.org"\n[run]\nargv = ["no-such-tool-xyz", "{reference}"]\n'''
        '''[[column]]\nname = "missing"\npattern = "(\\\\d+)"\n''')
    (metric_cards / "failing.toml").write_text(
        f'''name = "failing"\n[run]\nargv = ["{sys.executable}", "-c", "import sys; sys.exit('bad input')"]\n'''
        '''[[column]]\nname = "failing"\npattern = "(\\\\d+)"\n''')
    (metric_cards / "broken.toml").write_text('name = "broken"\n[[column]]\nname = "broken"\n')
    assert "get it from example.org" in METRICS.unavailable_reason("missing", RunContext())
    image = np.zeros((16, 16, 3), np.uint8)
    value = create_metric("failing", RunContext()).compute(image, image)
    assert math.isnan(value.value) and "bad input" in value.note
    assert "run" in METRICS.unavailable_reason("broken", RunContext())
