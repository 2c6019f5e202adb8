"""The Python API (rdpbench.evaluate, rdpbench.load): the same rows and values as the command line on
identical input, a CompressAI model object coded exactly as compressai's own compress()/decompress(),
an encode/decode object checked against formulas written here, and error rows for failing objects."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import rdpbench
from rdpbench.datasets import DatasetError
from rdpbench.learned import stream

TIMING = ["encode_s", "decode_s"]


def _csv(path):
    frame = pd.read_csv(path, dtype={"error": str})
    if "error" in frame:
        frame["error"] = frame["error"].fillna("")
    return frame


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def test_import_rdpbench_is_cheap_and_exports_the_api_lazily():
    code = ("import sys, rdpbench; heavy = [m for m in ('torch', 'pandas', 'numba', 'rdpbench.api', 'rdpbench.runner') "
            "if m in sys.modules]; print(heavy); rdpbench.evaluate; print('rdpbench.api' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "True"]


def test_evaluate_gives_the_rows_and_values_of_the_cli_on_identical_input(tmp_path, photo_dir, run_cli):
    assert run_cli("run", "--images", photo_dir, "--codec", "jpeg", "--sweep", "quality=30,70",
                   "--metrics", "psnr,ms_ssim", "--out", tmp_path / "cli") == 0
    results = rdpbench.evaluate("jpeg", photo_dir, sweep={"quality": [30, 70]}, metrics=["psnr", "ms_ssim"],
                                out=tmp_path / "api")
    assert results.folder == tmp_path / "api"
    for name, frame in (("per_image.csv", results.per_image), ("summary.csv", results.summary)):
        pd.testing.assert_frame_equal(frame, _csv(tmp_path / "api" / name), check_dtype=False)  # its own CSV
        cli = _csv(tmp_path / "cli" / name)
        assert list(frame.columns) == list(cli.columns)
        pd.testing.assert_frame_equal(frame.drop(columns=TIMING), cli.drop(columns=TIMING), check_dtype=False)
    assert len(results.per_image) == 4 and (results.per_image["error"] == "").all()

    in_workers = rdpbench.evaluate("jpeg", photo_dir, sweep={"quality": [30, 70]}, jobs=1)  # as `run --jobs 1`
    pd.testing.assert_frame_equal(in_workers.summary.drop(columns=TIMING), results.summary.drop(columns=TIMING))

    again = rdpbench.evaluate("jpeg", photo_dir, sweep={"quality": [30, 70]}, out=tmp_path / "api")
    pd.testing.assert_frame_equal(again.per_image, results.per_image)  # resumed: nothing recomputed, timings kept
    loaded = rdpbench.load(tmp_path / "api")
    pd.testing.assert_frame_equal(loaded.summary, results.summary)


class EveryOtherLevel:
    """A toy codec: each channel value keeps its top 6 bits; 4 header bytes give the shape."""

    def encode(self, image):
        height, width = image.shape[:2]
        return height.to_bytes(2, "big") + width.to_bytes(2, "big") + (image >> 2).tobytes()

    def decode(self, data):
        height, width = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
        return (np.frombuffer(data[4:], np.uint8).reshape(height, width, 3) << 2) + 2


class Broken(EveryOtherLevel):
    def decode(self, data):
        if int.from_bytes(data[:2], "big") == 170:  # coffee.png only
            raise RuntimeError("cannot decode this one")
        return super().decode(data)


def test_an_encode_decode_object_is_measured_with_the_conventions_and_failures_are_error_rows(photo_dir):
    files = sorted(photo_dir.glob("*.png"))
    results = rdpbench.evaluate({"top6": EveryOtherLevel(), "broken": Broken()}, files, label="toy")
    rows = results.per_image.set_index(["setting", "image"])
    for file in files:
        image = np.asarray(Image.open(file).convert("RGB"))
        height, width = image.shape[:2]
        row = rows.loc[("point=top6", file.name)]
        assert row["bytes"] == 4 + height * width * 3
        assert row["bpp"] == pytest.approx(8 * (4 + height * width * 3) / (height * width))
        assert row["psnr"] == pytest.approx(_psnr(image, ((image >> 2) << 2) + 2), abs=1e-9)
    assert "cannot decode this one" in rows.loc[("point=broken", "coffee.png"), "error"]
    assert rows.loc[("point=broken", "astronaut.png"), "error"] == ""
    summary = results.summary.set_index("setting")
    assert summary.loc["point=broken", "n_failed"] == 1 and summary.loc["point=top6", "n_failed"] == 0
    assert set(results.summary["codec"]) == {"toy"} and results.folder is None


def test_an_image_the_codec_failed_on_counts_in_no_mean_of_its_rate_point(photo_dir):
    """export's convention: a failed image has no bpp, so the point's bpp and PSNR are means over
    the same images. Reference: bpp and PSNR of the toy codec by their formulas, over the images
    Broken decodes (all but coffee.png)."""
    files = sorted(photo_dir.glob("*.png"))
    results = rdpbench.evaluate(Broken(), files, metrics=["psnr"])
    bpps, psnrs = [], []
    for file in files:
        if file.name == "coffee.png":
            continue
        image = np.asarray(Image.open(file).convert("RGB"))
        height, width = image.shape[:2]
        bpps.append(8 * (4 + height * width * 3) / (height * width))
        psnrs.append(_psnr(image, ((image >> 2) << 2) + 2))
    row = results.summary.iloc[0]
    assert row["n_failed"] == 1
    assert row["bpp"] == pytest.approx(np.mean(bpps), abs=1e-12)
    assert row["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-9)


class AlwaysFails:
    def encode(self, image):
        raise RuntimeError("this codec fails on every image")

    def decode(self, data):
        raise AssertionError("never reached")


def test_requested_metrics_keep_their_columns_when_every_task_fails(photo_dir, capsys):
    """A requested metric that no image has still has its (empty) column, with a count of 0, and the
    failure message of out=None points at Results, not at the temporary folder removed with it."""
    results = rdpbench.evaluate(AlwaysFails(), sorted(photo_dir.glob("*.png"))[:1], metrics=["psnr", "ssim"])
    row = results.summary.iloc[0]
    assert np.isnan(row["psnr"]) and np.isnan(row["ssim"]) and row["n_psnr"] == 0 and row["n_ssim"] == 0
    assert {"psnr", "ssim"} <= set(results.per_image.columns) and results.per_image["psnr"].isna().all()
    err = capsys.readouterr().err
    assert "1 of 1 tasks have errors" in err and "Results.per_image" in err and "rdpbench-" not in err


def test_images_given_as_a_glob_generator_are_the_listed_files(tmp_path, photo_dir):
    files = sorted(photo_dir.glob("*.png"))
    results = rdpbench.evaluate(EveryOtherLevel(), photo_dir.glob("*.png"), metrics=["psnr"], out=tmp_path / "r")
    assert sorted(results.per_image["image"]) == [file.name for file in files]
    with sqlite3.connect(tmp_path / "r" / "results.sqlite") as db:  # the run's recorded call names the files' count
        (command,), = db.execute("SELECT command FROM runs").fetchall()
    assert f"[{len(files)} image files]" in command and "generator" not in command
    for row in results.per_image.itertuples():
        height, width = Image.open(photo_dir / row.image).size[::-1]
        assert row.bytes == 4 + height * width * 3 and row.error == ""


def test_images_given_as_one_file_is_that_image(photo_dir):
    file = sorted(photo_dir.glob("*.png"))[1]
    results = rdpbench.evaluate(EveryOtherLevel(), str(file), metrics=["psnr"])
    height, width = Image.open(file).size[::-1]
    assert list(results.per_image["image"]) == [file.name]
    assert results.per_image["bytes"].iloc[0] == 4 + height * width * 3


class FlippedView(EveryOtherLevel):
    """Decodes as OpenCV users write it: BGR in memory, returned as a read-only RGB view ``[..., ::-1]``
    (negative strides): a valid uint8 (H, W, 3) image."""

    def decode(self, data):
        bgr = np.ascontiguousarray(super().decode(data)[..., ::-1])
        rgb = bgr[..., ::-1]
        rgb.flags.writeable = False
        return rgb


def test_a_decoded_view_with_negative_strides_is_measured_like_a_plain_array(photo_dir):
    """Reference: PSNR by its formula, and MS-SSIM of the same pixels as a plain array, which the
    view must give (pytorch_msssim, as rdpbench's ms_ssim, on the plain pixels)."""
    from pytorch_msssim import ms_ssim

    file = sorted(photo_dir.glob("*.png"))[0]
    results = rdpbench.evaluate(FlippedView(), [file], metrics=["psnr", "ms_ssim"])
    row = results.per_image.iloc[0]
    assert row["error"] == ""
    image = np.asarray(Image.open(file).convert("RGB"))
    expected = ((image >> 2) << 2) + 2
    assert row["psnr"] == pytest.approx(_psnr(image, expected), abs=1e-9)
    to_tensor = lambda a: torch.from_numpy(a.copy()).permute(2, 0, 1).unsqueeze(0).float()  # noqa: E731
    assert row["ms_ssim"] == pytest.approx(float(ms_ssim(to_tensor(image), to_tensor(expected), data_range=255)),
                                           abs=1e-6)


def test_a_compressai_model_object_is_coded_as_compressais_own_compress(tmp_path, photo_dir):
    """Reference: the same model's compress()/decompress() with compressai.utils.eval_model's padding."""
    from compressai.ops import compute_padding
    from compressai.zoo import bmshj2018_factorized

    torch.manual_seed(3)
    model = bmshj2018_factorized(quality=1, pretrained=False)  # stand-in weights
    model.train()
    results = rdpbench.evaluate(model, photo_dir, metrics=["psnr"], out=tmp_path / "out", save_recon=True,
                                label="factorized")
    assert model.training  # its mode is given back
    model.eval()
    for row in results.per_image.itertuples():
        image = np.asarray(Image.open(photo_dir / row.image).convert("RGB"))
        height, width = image.shape[:2]
        pad, unpad = compute_padding(height, width, min_div=64)
        x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255
        with torch.no_grad():
            out = model.compress(F.pad(x, pad, mode="constant", value=0))
            x_hat = F.pad(model.decompress(out["strings"], out["shape"])["x_hat"], unpad)
        expected = (x_hat[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        strings = [s[0] for s in out["strings"]]
        assert row.bytes == len(stream.pack(height, width, strings)) <= sum(map(len, strings)) + 8
        recon = np.asarray(Image.open(tmp_path / "out" / "recon" / "factorized" / "default" / row.image))
        np.testing.assert_array_equal(recon, expected)
        assert row.psnr == pytest.approx(_psnr(image, expected), abs=1e-9)


@pytest.mark.parametrize("kind", ["tutorial", "checkerboard"])
def test_a_model_without_downsampling_factor_is_coded_as_eval_model_codes_it(photo_dir, kind):
    """A model written as CompressAI's "custom model" tutorial writes it (compress() returns the
    latent "shape", no ``downsampling_factor``), and compressai's checkerboard model (none either; its
    "shape" is a dict per latent). Reference: compressai.utils.eval_model's own calls,
    decompress(compress()["strings"], compress()["shape"])."""
    from compressai.entropy_models import EntropyBottleneck
    from compressai.models import Cheng2020AnchorCheckerboard, CompressionModel
    from compressai.ops import compute_padding

    class TutorialModel(CompressionModel):
        def __init__(self, N=8):
            super().__init__()
            self.entropy_bottleneck = EntropyBottleneck(N)
            self.encode = torch.nn.Sequential(torch.nn.Conv2d(3, N, 5, 2, 2), torch.nn.ReLU(), torch.nn.Conv2d(N, N, 5, 2, 2))
            self.decode = torch.nn.Sequential(torch.nn.ConvTranspose2d(N, N, 5, 2, 2, 1), torch.nn.ReLU(),
                                              torch.nn.ConvTranspose2d(N, 3, 5, 2, 2, 1))

        def compress(self, x):
            y = self.encode(x)
            return {"strings": [self.entropy_bottleneck.compress(y)], "shape": y.size()[-2:]}

        def decompress(self, strings, shape):
            return {"x_hat": self.decode(self.entropy_bottleneck.decompress(strings[0], shape)).clamp_(0, 1)}

    torch.manual_seed(1)
    model = TutorialModel() if kind == "tutorial" else Cheng2020AnchorCheckerboard(N=16)
    file = sorted(photo_dir.glob("*.png"))[1]
    row = rdpbench.evaluate(model, [file], metrics=["psnr"]).per_image.iloc[0]
    assert row["error"] == ""
    image = np.asarray(Image.open(file).convert("RGB"))
    pad, unpad = compute_padding(*image.shape[:2], min_div=64)
    model.eval()
    with torch.no_grad():
        out = model.compress(F.pad(torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255, pad))
        x_hat = F.pad(model.decompress(out["strings"], out["shape"])["x_hat"], unpad)
    expected = (x_hat[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert row["bytes"] == len(stream.pack(*image.shape[:2], [s[0] for s in out["strings"]]))
    assert row["psnr"] == pytest.approx(_psnr(image, expected), abs=1e-9)


def test_a_model_evaluated_again_into_its_folder_with_new_weights_is_flagged(tmp_path, photo_dir, capsys):
    """The resume rule keeps the stored rows of a (label, setting, image); a model object whose weights
    changed since (a later checkpoint under the same label) must not pass silently as the same codec."""
    from compressai.models import FactorizedPrior

    torch.manual_seed(0)
    model = FactorizedPrior(N=8, M=16)
    file = sorted(photo_dir.glob("*.png"))[:1]
    rdpbench.evaluate(model, file, metrics=["psnr"], out=tmp_path / "out", label="ckpt")
    rdpbench.evaluate(model, file, metrics=["psnr"], out=tmp_path / "out", label="ckpt")
    assert "warning: ckpt was" not in capsys.readouterr().err  # same weights: nothing to say
    with torch.no_grad():
        next(model.parameters()).add_(0.5)
    rdpbench.evaluate(model, file, metrics=["psnr"], out=tmp_path / "out", label="ckpt")
    assert "warning: ckpt was" in capsys.readouterr().err


def test_bd_rate_and_plot_of_a_folder_with_two_codecs(tmp_path, photo_dir):
    for codec in ("jpeg", "webp"):
        rdpbench.evaluate(codec, photo_dir, sweep={"quality": [20, 50, 80]}, metrics=["psnr"], out=tmp_path / "out")
    results = rdpbench.load(tmp_path / "out")
    bd = results.bd_rate(anchor="jpeg")
    row = bd[(bd["codec"] == "webp") & (bd["metric"] == "psnr")].iloc[0]
    assert math.isfinite(float(row["bd_rate_percent"]))
    figure = results.plot()
    assert [axis.get_ylabel() for axis in figure.axes][:1] and len(figure.axes) == 1


def test_invalid_requests_raise_before_any_work(tmp_path, photo_dir):
    with pytest.raises(TypeError, match="did you mean 'save_recon'"):
        rdpbench.evaluate("jpeg", photo_dir, out=tmp_path / "x", save_recons=True)
    with pytest.raises(DatasetError, match="no such folder, and no dataset"):
        rdpbench.evaluate("jpeg", tmp_path / "nothing")
    with pytest.raises(ValueError, match="in this process only"):
        rdpbench.evaluate(EveryOtherLevel(), photo_dir, jobs=1)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("variables", [{"TORCH_HOME": "/somewhere/torch"}, {"XDG_CACHE_HOME": "/xdg"}, {}])
def test_the_weight_lookup_finds_torch_hub_as_torch_does_without_importing_it(variables):
    import os

    code = ("import sys; from rdpbench.weights import torch_hub_dir; ours = str(torch_hub_dir()); "
            "assert 'torch' not in sys.modules; import torch; print(ours == torch.hub.get_dir())")
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_HOME", "XDG_CACHE_HOME")} | variables
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "True"


def test_repeated_evaluations_in_one_process_reuse_the_metric_instances(photo_dir):
    """What a training loop relies on: the second call creates no metric again (networks stay loaded)."""
    from rdpbench.columns import Column
    from rdpbench.metrics.base import PairedMetric
    from rdpbench.tasks import MetricValue

    created = []

    class CountedMAE(PairedMetric):
        name = "counted_mae"
        columns = (Column("counted_mae", "MAE", higher_is_better=False, decimals=3),)
        group = "distortion"

        def __init__(self, context):
            super().__init__(context)
            created.append(self)

        def compute(self, reference, reconstruction):
            return MetricValue(float(np.abs(reference.astype(float) - reconstruction).mean()))

    first = rdpbench.evaluate("jpeg", photo_dir, sweep={"quality": [30]}, metrics=["psnr", CountedMAE])
    second = rdpbench.evaluate("jpeg", photo_dir, sweep={"quality": [60]}, metrics=["psnr", CountedMAE])
    assert len(created) == 1
    assert first.summary["counted_mae"].iloc[0] > second.summary["counted_mae"].iloc[0] > 0


def test_a_metric_class_defined_again_replaces_the_kept_instance(photo_dir):
    """A notebook cell run again defines a new class of the same name: the next call uses it."""
    from rdpbench.columns import Column
    from rdpbench.metrics.base import PairedMetric
    from rdpbench.tasks import MetricValue

    def define(constant: float) -> type:
        class Constant(PairedMetric):
            name = "constant_value"
            columns = (Column("constant_value", "Constant", higher_is_better=False, decimals=1),)
            group = "distortion"

            def compute(self, reference, reconstruction):
                return MetricValue(constant)
        return Constant

    values = [rdpbench.evaluate("png", photo_dir, metrics=[define(value)]).summary["constant_value"].iloc[0]
              for value in (1.0, 2.0)]
    assert values == [1.0, 2.0]
