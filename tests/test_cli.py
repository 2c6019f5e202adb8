"""Command-line behaviour: listings, errors with hints, argument parsing."""

from pathlib import Path

import pytest

from rdpbench.spec import SpecError, parse_values


def test_codecs_lists_every_codec_with_availability(run_cli, capsys):
    assert run_cli("codecs") == 0
    out = capsys.readouterr().out
    for name in ("jpeg", "webp", "avif", "png", "jpeg2000", "heic", "bpg", "jxl"):
        assert f"\n{name} " in "\n" + out
    assert "quality=1..100 [default 75] (rate knob)" in out


def test_unknown_codec_is_a_usage_error_with_a_suggestion(run_cli, capsys, photo_dir):
    assert run_cli("run", "--images", photo_dir, "--codec", "webpp") == 2
    assert "did you mean webp" in capsys.readouterr().err


def test_sweep_without_codec_is_refused(run_cli, capsys, photo_dir):
    assert run_cli("run", "--images", photo_dir, "--sweep", "quality=5") == 2
    assert "--sweep and --option apply to one codec" in capsys.readouterr().err


def test_invalid_knob_value_stops_before_any_work(run_cli, capsys, photo_dir, tmp_path):
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=0,50",
                   "--out", tmp_path / "out") == 2
    assert "quality=0 is outside 1..100" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dataset_not_fetched_says_how_to_fetch(run_cli, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RDPBENCH_DATASETS_DIR", str(tmp_path))
    (tmp_path / "tiny.toml").write_text('name = "tiny"\n')
    assert run_cli("run", "--dataset", "tiny", "--codec", "png") == 2
    assert "run `rdpbench datasets fetch tiny`" in capsys.readouterr().err


@pytest.mark.parametrize("text, values", [
    ("5,15,25", ["5", "15", "25"]),
    ("5:95:10", ["5", "15", "25", "35", "45", "55", "65", "75", "85", "95"]),
    ("0.1:0.35:0.1", ["0.1", "0.2", "0.3"]),
    ([1, 2], [1, 2]),
])
def test_sweep_values(text, values):
    assert parse_values(text) == values


def test_bad_ranges_are_explained():
    with pytest.raises(SpecError, match="positive step"):
        parse_values("9:1:1")


def test_options_label_the_codec_and_configs_run_several_codecs(run_cli, tmp_path, photo_dir):
    import pandas as pd

    config = tmp_path / "bench.toml"
    config.write_text(f'''
images = "{photo_dir}"
metrics = ["psnr"]
out = "{tmp_path / 'out'}"

[[codec]]
name = "jpeg"
options = {{ subsampling = "4:4:4" }}
sweep = {{ quality = [40] }}

[[codec]]
name = "jpeg"
label = "jpeg-420"
sweep = {{ quality = "40:50:10" }}
''')
    assert run_cli("run", config) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(zip(summary["codec"], summary["setting"])) == [
        ("jpeg-420", "quality=40"), ("jpeg-420", "quality=50"), ("jpeg[subsampling=4:4:4]", "quality=40")]
    bpp = dict(zip(summary["codec"] + "/" + summary["setting"], summary["bpp"]))
    assert bpp["jpeg[subsampling=4:4:4]/quality=40"] > bpp["jpeg-420/quality=40"]  # full chroma costs bits


def test_every_shipped_config_names_real_codecs_and_valid_settings():
    from rdpbench.context import RunContext
    from rdpbench.metrics.registry import METRICS
    from rdpbench.paths import shipped
    from rdpbench.runner import plan_codecs
    from rdpbench.spec import load_config

    configs = sorted(shipped("configs").glob("*.toml"))
    assert len(configs) >= 4
    for path in configs:
        spec = load_config(path)
        assert plan_codecs(spec, RunContext()), path
        assert [METRICS.resolve(m) for m in spec.metrics]


def test_relative_paths_are_taken_from_the_current_folder(run_cli, tmp_path, photo_dir, monkeypatch):
    """--images, --out and the paths inside a config are relative to the current folder, wherever the
    config file is (not to the checkout, nor to the config's folder)."""
    import shutil

    import pandas as pd

    work = tmp_path / "work"
    shutil.copytree(photo_dir, work / "img")
    monkeypatch.chdir(work)
    assert run_cli("run", "--images", "img", "--codec", "png", "--out", "res") == 0
    assert sorted(pd.read_csv(work / "res" / "per_image.csv")["image"]) == ["astronaut.png", "coffee.png"]
    (work / "configs").mkdir()
    (work / "configs" / "c.toml").write_text('images = "img"\nout = "res2"\n[[codec]]\nname = "png"\n')
    assert run_cli("run", "configs/c.toml") == 0
    assert (work / "res2" / "summary.csv").is_file() and not (work / "configs" / "res2").exists()


def test_an_empty_codec_registry_lists_nothing_without_crashing(run_cli, capsys, monkeypatch):
    from rdpbench.codecs.registry import CODECS

    monkeypatch.setattr(CODECS, "discover", lambda: [])
    CODECS.cache_clear()
    try:
        assert run_cli("codecs") == 0
    finally:
        CODECS.cache_clear()
    assert "no codecs found" in capsys.readouterr().out


def test_outside_a_checkout_datasets_go_to_the_per_user_folder_and_shipped_files_to_the_package(monkeypatch, tmp_path):
    from rdpbench import datasets, paths

    monkeypatch.setattr(paths, "checkout", lambda: None)
    for variable in ("RDPBENCH_HOME", "RDPBENCH_DATASETS_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert datasets.datasets_dir() == tmp_path / "xdg" / "rdpbench" / "datasets"
    assert paths.shipped("codecs") == Path(paths.__file__).resolve().parent / "_shipped" / "codecs"
    monkeypatch.setenv("RDPBENCH_HOME", str(tmp_path / "home"))
    assert datasets.datasets_dir() == tmp_path / "home" / "datasets"
