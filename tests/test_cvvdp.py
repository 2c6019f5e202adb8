"""ColorVideoVDP: the JOD rdpbench records equals the authors' own command line (`cvvdp --result`) on
the same pair (PPM files: its PNG reader needs a download), under the default and a named display
model; skipped where the cvvdp package is not installed."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdpbench.context import RunContext
from rdpbench.metrics.base import MetricOptionError
from rdpbench.metrics.registry import create_metric

pytest.importorskip("pycvvdp", reason="the cvvdp package is not installed (pip install cvvdp==0.5.7)")
DATA = Path(__file__).parent / "data" / "iqa_calibration"


def _cli_jod(tmp_path, reference, reconstruction, display):
    for name, image in (("ref.ppm", reference), ("test.ppm", reconstruction)):
        Image.fromarray(image).save(tmp_path / name)
    tool = shutil.which("cvvdp", path=str(Path(sys.executable).parent)) or "cvvdp"
    subprocess.run([tool, "-t", "test.ppm", "-r", "ref.ppm", "-d", display, "--device", "cpu", "--result", "out.csv"],
                   cwd=tmp_path, check=True, capture_output=True)
    with open(tmp_path / "out.csv", newline="") as handle:
        return float(list(csv.reader(handle))[1][2])


def test_jod_equals_the_authors_command_line_and_follows_the_display_model(tmp_path):
    """The default display (standard_4k) against the command line; a full-HD display (fewer pixels per
    degree: artifacts look larger) must give a lower JOD on the same pair."""
    reference = np.array(Image.open(DATA / "ref" / "I03.png").convert("RGB"))[:192, :256]
    reconstruction = np.array(Image.open(DATA / "dist" / "I03.png").convert("RGB"))[:192, :256]
    metric = create_metric("cvvdp", RunContext())
    got = metric.compute(reference, reconstruction).value
    expected = _cli_jod(tmp_path, reference, reconstruction, "standard_4k")
    assert metric.reference.allows(got, expected), (got, expected)
    assert 0 < got < 10 and "standard_4k" in metric.describe()
    full_hd = create_metric("cvvdp", RunContext(options={"cvvdp": {"display": "standard_fhd"}}))
    assert full_hd.compute(reference, reconstruction).value < got


def test_unknown_display_models_are_refused_naming_the_known_ones():
    with pytest.raises(MetricOptionError, match="standard_4k"):
        create_metric("cvvdp", RunContext(options={"cvvdp": {"display": "my_tv"}}))
