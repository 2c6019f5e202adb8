"""The shipped benchmark configs run as shipped: each is taken through `rdpbench run` (weights
located, codecs planned, reconstruction paths checked, tasks planned) up to its first task, with
stand-in weight files under the upstream names and two small photos in place of the dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import standins
from rdpbench import runner, stages
from rdpbench.learned.hific_codec import CHECKPOINTS
from rdpbench.paths import shipped

CONFIGS = sorted(shipped("configs").glob("hific2020-*.toml"))


@pytest.fixture(scope="module")
def standin_weights(tmp_path_factory) -> Path:
    """Every weight file the HiFiC configs name: the metrics' stand-ins, one HiFiC stand-in and one
    CompressAI stand-in per architecture size, copied under each checkpoint's upstream name."""
    folder = tmp_path_factory.mktemp("weights")
    standins.inception(folder)
    standins.alexnet(folder)
    standins.niqe(folder)
    hific = standins.hific(folder, "standin-hific.ckpt")
    for name in CHECKPOINTS.values():
        shutil.copyfile(hific, folder / name)
    for quality in range(1, 7):
        standins.compressai_zoo(folder, "mbt2018-mean", quality)
    return folder


def test_the_three_hific_configs_are_shipped():
    assert [path.name for path in CONFIGS] == ["hific2020-clic2020-test.toml", "hific2020-div2k-valid.toml",
                                              "hific2020-kodak.toml"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_a_shipped_config_runs_up_to_its_first_task(config, standin_weights, photo_dir, tmp_path, monkeypatch,
                                                     run_cli, capsys):
    planned = []

    def first_task(tasks, *args, **kwargs):  # stop where the first task would start, as Ctrl-C would
        planned.extend(tasks)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "start_workers", lambda context, jobs: [])
    monkeypatch.setattr(stages, "prepare_reference", lambda *args, **kwargs: stages.Reference({}))
    monkeypatch.setattr(runner, "execute", first_task)
    out = tmp_path / "out"
    code = run_cli("run", config, "--images", photo_dir, "--out", out, "--weights-dir", standin_weights,
                   "--allow-unverified-weights")
    assert code == 130, capsys.readouterr().err  # interrupted at the first task, not refused before it
    labels = {task.codec for task in planned}
    assert {"HiFiC (MS-ILLM weights)", "no GAN (same architecture)", "M&S Hyperprior (MSE)",
            "HEVC intra (x265, 4:4:4)"} <= labels
    hevc = next(task for task in planned if task.codec == "HEVC intra (x265, 4:4:4)")
    assert Path(hevc.recon_path) == out / "recon" / "HEVC intra (x265, 4:4:4)" / hevc.setting / \
        Path(hevc.image).with_suffix(".png")


def test_a_colon_in_a_setting_with_save_recon_runs(photo_dir, tmp_path, run_cli):
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=50",
                   "--option", "subsampling=4:4:4", "--save-recon", "--metrics", "psnr", "--out", out) == 0
    saved = sorted(path.relative_to(out / "recon").as_posix() for path in (out / "recon").rglob("*.png"))
    assert saved == ["jpeg[subsampling=4:4:4]/quality=50/astronaut.png", "jpeg[subsampling=4:4:4]/quality=50/coffee.png"]
