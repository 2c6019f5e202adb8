"""Plug-ins from installed packages: a per-image metric, and a feature extractor with a distribution
metric, each declared once in one file and registered through the entry-point groups, reach
`rdpbench metrics`, summary.csv, the report's tables and a figure with no other change. Their
values are checked against numpy computations written here. Also the registry's own rules."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from rdpbench.codecs.registry import CODECS
from rdpbench.features.registry import EXTRACTORS
from rdpbench.imageio import read_rgb8
from rdpbench.metrics.registry import METRICS
from rdpbench.registry import Entry, Registry, UnknownNameError

PLUGIN = '''
"""A researcher's plug-ins: one per-image metric, one feature extractor and a metric on its features."""
import numpy as np

from rdpbench.columns import Column
from rdpbench.features.base import FeatureExtractor
from rdpbench.metrics.base import DistributionMetric, PairedMetric
from rdpbench.tasks import MetricValue


class MeanAbsoluteError(PairedMetric):
    name = "mae"
    columns = (Column("mae", "MAE", unit="grey levels", higher_is_better=False, decimals=3),)
    group = "distortion"

    def compute(self, reference, reconstruction):
        return MetricValue(float(np.abs(reference.astype(float) - reconstruction).mean()))


class MeanColour(FeatureExtractor):
    name = "mean-colour"
    dimension = 3
    input_size = 64
    convention = "mean RGB of each patch, 0..255"

    def build(self):
        return lambda batch: batch.float().mean(dim=(2, 3))


class ColourShift(DistributionMetric):
    name = "colour_shift"
    extractor = "mean-colour"
    columns = (Column("colour_shift", "Colour shift", unit="grey levels", higher_is_better=False, decimals=3),)
    group = "distribution (patches)"

    def compute(self, reference_features, reconstruction_features):
        return {"colour_shift": float(np.linalg.norm(reference_features.mean(0) - reconstruction_features.mean(0)))}
'''
ENTRY_POINTS = """
[rdpbench.metrics]
mae = rdpbench_test_plugins:MeanAbsoluteError
colour_shift = rdpbench_test_plugins:ColourShift

[rdpbench.feature_extractors]
mean-colour = rdpbench_test_plugins:MeanColour
"""


@pytest.fixture
def installed_plugins(tmp_path, monkeypatch):
    """An installed distribution (module + dist-info with entry points) on sys.path here and on the
    PYTHONPATH of the worker processes; registry caches are reset around the test."""
    site = tmp_path / "site"
    (site / "rdpbench_test_plugins-1.0.dist-info").mkdir(parents=True)
    (site / "rdpbench_test_plugins.py").write_text(PLUGIN)
    info = site / "rdpbench_test_plugins-1.0.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rdpbench-test-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    for registry in (METRICS, EXTRACTORS):
        registry.cache_clear()
    yield site
    for registry in (METRICS, EXTRACTORS):
        registry.cache_clear()


def _patches(image: np.ndarray, size: int, shift: int) -> list[np.ndarray]:
    """HiFiC's grid, written out: the size x size grid from the corner, and the grid shifted by
    ``shift`` when both sides are at least size + shift."""
    height, width = image.shape[:2]
    grids = [0] + ([shift] if height >= size + shift and width >= size + shift else [])
    return [image[y:y + size, x:x + size] for start in grids
            for y in range(start, height - size + 1, size) for x in range(start, width - size + 1, size)]


def test_entry_point_plugins_reach_the_results_the_tables_and_the_figures(installed_plugins, photo_dir, tmp_path,
                                                                           run_cli, capsys):
    out, report = tmp_path / "out", tmp_path / "report"
    assert run_cli("metrics") == 0
    listing = capsys.readouterr().out
    assert "mae  [paired] mae: MAE [grey levels], lower is better, 3 decimals" in listing
    assert "table: distortion; options: none; weight files: none" in listing
    assert "colour_shift  [distribution, features: mean-colour]" in listing and "mean-colour (3-d, 64 px)" in listing
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=10,60", "--metrics",
                   "psnr,mae,colour-shift", "--option", "colour_shift.patch_size=64", "--option",
                   "colour_shift.patch_shift=32", "--save-recon", "--out", out) == 0
    summary = pd.read_csv(out / "summary.csv").set_index("setting")
    assert list(summary.columns[3:6]) == ["bpp", "psnr", "mae"]  # built-ins first, then plug-ins
    for setting in summary.index:
        originals, reconstructions = [], []
        for name in ("astronaut.png", "coffee.png"):
            original = read_rgb8(photo_dir / name)
            reconstruction = read_rgb8(out / "recon" / "jpeg" / setting / name)
            originals.append(original)
            reconstructions.append(reconstruction)
        mae = np.mean([np.abs(o.astype(float) - r).mean() for o, r in zip(originals, reconstructions)])
        assert summary.loc[setting, "mae"] == pytest.approx(mae, rel=1e-12)
        means = [np.mean([p.reshape(-1, 3).mean(0) for image in images for p in _patches(image, 64, 32)], axis=0)
                 for images in (originals, reconstructions)]
        assert summary.loc[setting, "colour_shift"] == pytest.approx(np.linalg.norm(means[0] - means[1]), rel=1e-5)
        assert summary.loc[setting, "n_patches"] == sum(len(_patches(image, 64, 32)) for image in originals)

    assert run_cli("report", out, "--out", report) == 0
    markdown = (report / "summary.md").read_text()
    assert "MAE [grey levels] ↓" in markdown and "Colour shift [grey levels] ↓" in markdown
    assert "Colour shift on " in markdown
    assert {"mae", "colour_shift"} <= set(pd.read_csv(report / "summary.csv").columns)
    assert (report / "rd_mae.svg").is_file() and (report / "rd_colour_shift.svg").is_file()
    assert "MAE [grey levels]" in (report / "summary.tex").read_text()


def _registry(*entries: Entry) -> Registry:
    return Registry("widget", "rdpbench.no_such_group", builtin={"sum": "builtins:sum"},
                    discover=lambda: list(entries))


def test_the_registry_suggests_names_reports_broken_plugins_and_refuses_duplicates():
    registry = _registry(Entry("broken", "a test", None, "ImportError: no module named x"),
                         Entry("raises", "a test", lambda: 1 / 0))
    assert registry.load("sum") is sum
    with pytest.raises(UnknownNameError, match="unknown widget 'summ'; did you mean sum"):
        registry.load("summ")
    with pytest.raises(UnknownNameError, match="widget 'broken' from a test failed to load: ImportError"):
        registry.load("broken")
    with pytest.raises(UnknownNameError, match="ZeroDivisionError"):
        registry.load("raises")
    assert "failed to load" in registry.unavailable_reason("broken", None)
    duplicated = _registry(Entry("sum", "a plug-in folder", lambda: max))
    assert duplicated.load("sum") is sum  # the first source keeps the name: a built-in cannot be replaced
    clash = duplicated.entries()["sum [a plug-in folder]"]
    assert "'sum' is already taken by built-in; rename this plug-in or uninstall it" in clash.load_error
    metrics = Registry("metric", "rdpbench.no_such_group", normalize=str.lower,
                       discover=lambda: [Entry("Sharp", "a package", lambda: max)])
    assert "not spelled as rdpbench spells metric names ('sharp')" in metrics.entries()["Sharp [a package]"].load_error


def test_a_plugin_registered_under_another_name_than_its_own_is_refused():
    class Widget:
        name = "gadget"

        def __init__(self, context):
            pass

    registry = _registry(Entry("widget", "a test", lambda: Widget))
    with pytest.raises(UnknownNameError, match="widget 'widget' from a test declares the name 'gadget'"):
        registry.create("widget", None)


def test_codecs_metrics_and_extractors_share_the_registry():
    assert all(isinstance(registry, Registry) for registry in (CODECS, METRICS, EXTRACTORS))
    with pytest.raises(UnknownNameError, match="did you mean inception-v3-compat"):
        EXTRACTORS.load("inception-v3")


def test_an_extractor_returning_other_features_than_it_declares_is_an_error():
    from rdpbench.context import RunContext
    from rdpbench.features.base import FeatureExtractor

    class Misdeclared(FeatureExtractor):
        name, dimension = "misdeclared", 4

        def build(self):
            return lambda batch: batch.float().mean(dim=(2, 3))  # 3 features per patch

    patches = np.zeros((2, 3, 8, 8), np.uint8)
    with pytest.raises(ValueError, match=r"returned features of shape \(2, 3\) for 2 patches; it declares dimension 4"):
        Misdeclared(RunContext()).features(patches)


def test_a_failed_pass_over_the_originals_is_not_cached(installed_plugins, photo_dir, tmp_path, run_cli,
                                                       monkeypatch):
    """The originals' features fail once (here: in this process only); the setting's value is NaN
    with the reason, and the next run computes the originals again instead of reusing the failure."""
    import rdpbench_test_plugins

    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "cache"))
    arguments = ["run", "--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=30", "--metrics", "colour_shift",
                 "--option", "colour_shift.patch_size=64"]
    with monkeypatch.context() as broken:
        broken.setattr(rdpbench_test_plugins.MeanColour, "build", lambda self: 1 / 0)
        assert run_cli(*arguments, "--out", tmp_path / "first") == 0
    first = pd.read_csv(tmp_path / "first" / "summary.csv").iloc[0]
    assert np.isnan(first["colour_shift"])
    assert first["distribution_note"] == "no mean-colour features of the originals: their extraction failed (see the log)"
    assert not list((tmp_path / "cache").glob("*.npz"))
    assert run_cli(*arguments, "--out", tmp_path / "second") == 0
    assert np.isfinite(pd.read_csv(tmp_path / "second" / "summary.csv").iloc[0]["colour_shift"])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


ONE_FILE_METRIC = '''
import numpy as np
from rdpbench.columns import Column
from rdpbench.metrics.base import PairedMetric
from rdpbench.tasks import MetricValue


class MaxAbsoluteError(PairedMetric):
    name = "max_error"
    columns = (Column("max_error", "Max error", unit="grey levels", higher_is_better=False, decimals=0),)
    group = "distortion"

    def compute(self, reference, reconstruction):
        return MetricValue(float(np.abs(reference.astype(int) - reconstruction).max()))
'''


@pytest.fixture
def plugin_environment(monkeypatch):
    """RDPBENCH_PLUGINS restored after the test (paths given with --plugin are added to it), registries reset."""
    from rdpbench.registry import Registry

    monkeypatch.setenv("RDPBENCH_PLUGINS", "")
    monkeypatch.delenv("RDPBENCH_CODECS_PATH", raising=False)
    for registry in Registry.instances:
        registry.cache_clear()
    yield
    for registry in Registry.instances:
        registry.cache_clear()


def _max_errors(photo_dir, recon, names=("astronaut.png", "coffee.png")) -> dict[str, float]:
    return {name: float(np.abs(read_rgb8(photo_dir / name).astype(int) - read_rgb8(recon / name)).max())
            for name in names}


@pytest.mark.parametrize("how", ["--plugin", "config", "environment"])
def test_a_one_file_metric_plugin_runs_from_the_command_line_a_config_or_the_environment(
        how, plugin_environment, photo_dir, tmp_path, run_cli, capsys, monkeypatch):
    """One file, no package: the same file through each of the three ways reaches the listing and the
    results (computed in the worker processes), checked against numpy here."""
    plugin = tmp_path / "max_error.py"
    plugin.write_text(ONE_FILE_METRIC)
    out = tmp_path / "out"
    arguments = ["--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=20", "--metrics", "psnr,max_error",
                 "--save-recon", "--out", out]
    if how == "--plugin":
        assert run_cli("metrics", "--plugin", plugin) == 0
        assert "max_error  [paired] max_error: Max error [grey levels], lower is better" in capsys.readouterr().out
        assert run_cli("run", "--plugin", plugin, *arguments) == 0
    elif how == "config":
        config = tmp_path / "run.toml"
        config.write_text('plugins = ["max_error.py"]\n')
        monkeypatch.chdir(tmp_path)
        assert run_cli("run", config, *arguments) == 0
    else:
        monkeypatch.setenv("RDPBENCH_PLUGINS", str(tmp_path))  # a folder of plug-ins
        assert run_cli("run", *arguments) == 0
    rows = pd.read_csv(out / "per_image.csv").set_index("image")
    expected = _max_errors(photo_dir, out / "recon" / "jpeg" / "quality=20")
    assert rows["max_error"].to_dict() == expected and all(value > 0 for value in expected.values())


def test_a_missing_plugin_path_is_a_usage_error(plugin_environment, run_cli, capsys, tmp_path):
    assert run_cli("codecs", "--plugin", tmp_path / "nothing.py") == 2
    assert "nothing.py: no such file or folder" in capsys.readouterr().err


def test_the_api_takes_plugin_classes_and_files_directly(plugin_environment, photo_dir, tmp_path):
    """Every kind through rdpbench.evaluate: the three plug-ins of PLUGIN as a file, and a metric class
    defined here as an object."""
    import rdpbench
    from rdpbench.columns import Column
    from rdpbench.metrics.base import PairedMetric
    from rdpbench.tasks import MetricValue

    class MeanSquaredError(PairedMetric):
        name = "mse"
        columns = (Column("mse", "MSE", higher_is_better=False, decimals=3),)
        group = "distortion"

        def compute(self, reference, reconstruction):
            return MetricValue(float(np.mean((reference.astype(float) - reconstruction) ** 2)))

    (tmp_path / "plugins.py").write_text(PLUGIN)
    results = rdpbench.evaluate("png", photo_dir, metrics=["mae", MeanSquaredError, "colour_shift"],
                                plugins=[tmp_path / "plugins.py"], metric_options={"colour_shift": {"patch_size": 64}})
    summary = results.summary.iloc[0]
    assert summary["mae"] == 0 and summary["mse"] == 0 and summary["colour_shift"] == pytest.approx(0, abs=1e-9)
    assert summary["n_patches"] > 0
