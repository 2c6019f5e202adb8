"""The standards' report presets select their metrics (and only those the run computed), each
BD-rated against the anchor: curves built to reach the same quality at 80% of the bits give -20%."""

import pandas as pd
import pytest

from test_report import ANCHOR_BPP, make_store

UP = [0.80, 0.85, 0.90, 0.95]


@pytest.mark.parametrize("preset, values, expected", [
    ("jpeg-ai-ctc", {"psnr_y": [30.0, 33.0, 36.0, 39.0], "vif": UP, "nlpd": [0.4, 0.3, 0.2, 0.1], "lpips": [0.3, 0.2, 0.1, 0.05]},
     {"psnr_y", "vif", "nlpd"}),
    ("aic4", {"ssimulacra2": [30.0, 50.0, 70.0, 85.0], "cvvdp": [6.0, 7.5, 8.5, 9.2], "psnr": [30.0, 33.0, 36.0, 39.0]},
     {"ssimulacra2", "cvvdp"}),
])
def test_presets_bd_rate_their_metrics_against_the_anchor(preset, values, expected, tmp_path, run_cli):
    curves = {"anchor": (ANCHOR_BPP, values), "better": ([0.8 * b for b in ANCHOR_BPP], values)}
    report = tmp_path / "report"
    assert run_cli("report", make_store(tmp_path, curves, recon=False), "--anchor", "anchor", "--preset", preset,
                   "--out", report) == 0
    bd = pd.read_csv(report / "bd_rate.csv")
    assert set(bd["metric"]) == expected
    assert bd.set_index("metric")["bd_rate_percent"].to_numpy() == pytest.approx([-20.0] * len(expected), abs=1e-6)
