"""VMAF and VMAF NEG against libvmaf's own `vmaf` tool (Netflix/vmaf v3.2.0-13-gf85a8536, built once;
outputs and provenance in tests/data/vmaf) on frames written by an independent script with the
convention the metric states (BT.601 limited-range luma, neutral chroma), within the declared tolerance."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from rdpbench.context import RunContext
from rdpbench.metrics.base import MetricOptionError
from rdpbench.metrics.registry import METRICS, create_metric
from reference_pairs import rgb

DATA = Path(__file__).parent / "data"
with open(DATA / "vmaf" / "reference_outputs.csv", newline="") as _handle:
    ROWS = list(csv.DictReader(_handle))

pytestmark = pytest.mark.skipif(METRICS.unavailable_reason("vmaf", RunContext()) is not None,
                                reason="no ffmpeg with libvmaf (pip install imageio-ffmpeg)")


def _pair(row, kodak_dir=None):
    if row["original"].startswith("kodak/"):
        return rgb(kodak_dir / row["original"].split("/")[1]), rgb(DATA / "ssimulacra2" / row["distorted"])
    return rgb(DATA / row["original"], row["crop"]), rgb(DATA / row["distorted"], row["crop"])


def _check(rows, kodak_dir=None):
    metrics = {name: create_metric(name, RunContext()) for name in ("vmaf", "vmaf_neg")}
    for row in rows:
        reference, distorted = _pair(row, kodak_dir)
        for name, metric in metrics.items():
            got = metric.compute(reference, distorted).value
            assert metric.reference.allows(got, float(row[name])), (row["distorted"], row["crop"], name, got, row[name])


def test_equals_libvmaf_on_the_calibration_pairs_and_odd_sized_crops():
    """I03 is so distorted that both models clip to 0; the crops have odd sizes down to 17x27."""
    _check([row for row in ROWS if not row["original"].startswith("kodak/")])


def test_equals_libvmaf_on_kodak_jpegs(kodak_dir):
    _check([row for row in ROWS if row["original"].startswith("kodak/")], kodak_dir)


def test_small_images_unknown_options_and_a_missing_libvmaf_say_what_to_do(monkeypatch, tmp_path):
    image = np.zeros((16, 40, 3), np.uint8)
    value = create_metric("vmaf", RunContext()).compute(image, image)
    assert math.isnan(value.value) and "17 px" in value.note
    with pytest.raises(MetricOptionError, match="bt601"):
        create_metric("vmaf", RunContext(options={"vmaf": {"matrix": "srgb"}}))
    from rdpbench.metrics import vmaf

    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'ffmpeg version 0 (no filters)'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(vmaf, "ffmpeg", lambda: str(fake))
    assert "imageio-ffmpeg" in METRICS.unavailable_reason("vmaf", RunContext())
