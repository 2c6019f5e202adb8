"""Learned codecs against their reference implementations on identical (stand-in) weights."""

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

import standins
from rdpbench.codecs.registry import create_codec
from rdpbench.context import RunContext
from rdpbench.learned import stream
from rdpbench.weights import Weights


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    standins.compressai_zoo(folder, "mbt2018-mean", 3)
    standins.compressai_zoo(folder, "bmshj2018-factorized", 1)
    return folder


def _codec(name, weights_dir):
    codec = create_codec(name, RunContext(weights=Weights(weights_dir, allow_unverified=True)))
    return codec


@pytest.mark.parametrize("shape", [(100, 150), (64, 128)])
@pytest.mark.parametrize("architecture, quality", [("mbt2018-mean", 3), ("bmshj2018-factorized", 1)])
def test_compressai_zoo_equals_compressais_own_evaluation(zoo_dir, tmp_path, monkeypatch, shape, architecture, quality):
    """Reference: compressai.zoo loading the same file from the torch hub cache, then the steps of
    compressai.utils.eval_model (update(force=True), centred zero padding to 64, compress, decompress, crop)."""
    from compressai.ops import compute_padding
    from compressai.zoo import image as zoo

    image = np.ascontiguousarray(skimage.data.astronaut()[:shape[0], 100:100 + shape[1]])
    codec = _codec(f"compressai-{architecture}", zoo_dir)
    setting = codec.resolve_setting({"quality": quality})
    data = codec.encode(image, setting)
    reconstruction = codec.decode(data, setting)

    files = list(zoo_dir.iterdir())
    monkeypatch.setenv("TORCH_HOME", str(standins.torch_home_with(tmp_path / "torch", files)))
    reference = zoo._load_model(architecture, "mse", quality, pretrained=True).eval()
    reference.update(force=True)
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255
    pad, unpad = compute_padding(*shape, min_div=64)
    with torch.no_grad():
        out = reference.compress(F.pad(x, pad, mode="constant", value=0))
        x_hat = F.pad(reference.decompress(out["strings"], out["shape"])["x_hat"], unpad)
    height, width, strings = stream.unpack(data)
    assert (height, width) == shape
    assert strings == [s[0] for s in out["strings"]]  # the model's own strings, byte for byte
    assert len(data) - sum(map(len, strings)) <= 8  # header
    expected = (x_hat[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(reconstruction, expected)


def test_stream_container_round_trips():
    for strings in ([b"abc", b"", b"\x00" * 300], [b"only"]):
        assert stream.unpack(stream.pack(1365, 2048, strings)) == (1365, 2048, strings)
    with pytest.raises(stream.StreamError):
        stream.unpack(stream.pack(10, 10, [b"x" * 200, b"y"])[:50])


@pytest.fixture(scope="module")
def hific_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hific")
    first = standins.hific(folder, "msillm_target_0.14bpp.ckpt", seed=1)
    standins.hific(folder, "noganms_target_0.14bpp.ckpt", seed=2, like=first)
    return folder


def _neuralcompression(path, residual_blocks=1):
    from neuralcompression.models import HiFiCAutoencoder

    model = HiFiCAutoencoder(num_residual_blocks=residual_blocks)
    model.load_state_dict(torch.load(path, weights_only=True))
    model = model.eval()
    model.update_tensor_devices("compress")
    return model


@pytest.mark.parametrize("shape", [(100, 150), (128, 192)])
def test_hific_equals_neuralcompressions_autoencoder(hific_dir, shape):
    image = np.ascontiguousarray(skimage.data.astronaut()[50:50 + shape[0], 200:200 + shape[1]])
    codec = _codec("hific", hific_dir)
    setting = codec.resolve_setting({"checkpoint": "msillm_quality_3"})
    data = codec.encode(image, setting)
    reconstruction = codec.decode(data, setting)

    reference = _neuralcompression(hific_dir / "msillm_target_0.14bpp.ckpt")
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255
    with torch.no_grad():
        compressed = reference.compress(x)
        x_hat = reference.decompress(compressed)
    height, width, strings = stream.unpack(data)
    assert (height, width) == shape
    assert strings == [compressed.hyper_latent_strings[0], compressed.latent_strings[0]]
    expected = (x_hat[0] * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(reconstruction, expected)
    assert reconstruction.std() > 1  # the stand-in is not degenerate


def test_hific_by_path_and_run_through_the_cli(hific_dir, tmp_path, photo_dir, run_cli):
    import pandas as pd

    path = hific_dir / "noganms_target_0.14bpp.ckpt"
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "hific", "--sweep",
                   f"checkpoint=msillm_quality_3,{path}", "--weights-dir", hific_dir,
                   "--allow-unverified-weights", "--out", out) == 0
    rows = pd.read_csv(out / "per_image.csv")
    assert len(rows) == 4 and (rows["error"].isna()).all() and (rows["bpp"] > 0).all()


def test_a_pickle_that_needs_code_is_refused(tmp_path):
    from rdpbench.learned.checkpoints import CheckpointError, load_state_dict

    path = tmp_path / "legacy.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hparams": argparse_like()}, path)
    with pytest.raises(CheckpointError, match="needs code execution"):
        load_state_dict(path)


class argparse_like:  # noqa: N801 - any custom class makes a pickle that weights_only=True refuses
    pass


def test_interpolation_mixes_decoders_and_keeps_the_bitstream(hific_dir, tmp_path):
    from rdpbench.learned.hific import HiFiC

    image = np.ascontiguousarray(skimage.data.astronaut()[:128, :128])
    codec = _codec("interp", hific_dir)
    a, b = hific_dir / "noganms_target_0.14bpp.ckpt", hific_dir / "msillm_target_0.14bpp.ckpt"
    streams, recons = {}, {}
    for alpha in (0.0, 0.25, 1.0):
        setting = codec.resolve_setting({"alpha": alpha})
        streams[alpha] = codec.encode(image, setting)
        recons[alpha] = codec.decode(streams[alpha], setting)
    assert streams[0.0] == streams[0.25] == streams[1.0]  # shared encoder and entropy model: one stream
    hific = _codec("hific", hific_dir)
    for alpha, path in ((0.0, a), (1.0, b)):
        np.testing.assert_array_equal(recons[alpha], hific.decode(streams[alpha], {"checkpoint": str(path)}))
    # alpha = 0.25: the decoder's parameters are 0.75 A + 0.25 B, computed here independently
    state_a, state_b = (torch.load(p, weights_only=True) for p in (a, b))
    mixed = {k: 0.75 * v + 0.25 * state_b[k] if k.startswith("decoder.") else v for k, v in state_a.items()}
    reference = HiFiC.from_state_dict(mixed).prepare("cpu")
    _, _, strings = stream.unpack(streams[0.25])
    expected = (reference.decompress(strings, (128, 128))[0] * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(recons[0.25], expected)


def test_interpolation_refuses_different_encoders_unless_asked(hific_dir, tmp_path):
    from rdpbench.codecs.api import CodecError

    other = standins.hific(tmp_path, "other.ckpt", seed=9)
    codec = _codec("interp", hific_dir)
    image = np.ascontiguousarray(skimage.data.astronaut()[:64, :64])
    setting = codec.resolve_setting({"alpha": 0.5, "checkpoint_b": str(other)})
    with pytest.raises(CodecError, match="encoders or entropy models differ.*interpolate=all"):
        codec.encode(image, setting)
    setting = codec.resolve_setting({"alpha": 0.5, "checkpoint_b": str(other), "interpolate": "all"})
    assert codec.decode(codec.encode(image, setting), setting).shape == image.shape


def test_tfci_adapter_drives_a_tfci_compatible_script(tmp_path, monkeypatch):
    """The real tfci.py needs TensorFlow in another interpreter (skipped here unless configured);
    a stand-in script with tfci.py's command line checks the plumbing: the configured interpreter,
    tfci.py's exact argument lists, a lossless PNG input, the stream being tfci's output file, and
    the reconstruction being the PNG that `decompress` wrote (here: the inverted image)."""
    import json
    import sys
    import textwrap

    from PIL import Image

    log = tmp_path / "calls.jsonl"
    script = tmp_path / "fake_tfci.py"
    script.write_text(textwrap.dedent(f'''
        import json, sys
        from PIL import Image, ImageOps
        with open({str(log)!r}, "a") as log:
            log.write(json.dumps([sys.executable, *sys.argv]) + "\\n")
        command, *args = sys.argv[1:]
        if command == "compress":
            model, source, target = args
            open(target, "wb").write(model.encode() + b"\\n" + open(source, "rb").read())
        else:
            source, target = args
            png = open(source, "rb").read().split(b"\\n", 1)[1]
            open(target + ".in.png", "wb").write(png)
            ImageOps.invert(Image.open(target + ".in.png").convert("RGB")).save(target)
    '''))
    monkeypatch.setenv("RDPBENCH_TFCI_PYTHON", sys.executable)
    monkeypatch.setenv("RDPBENCH_TFCI_SCRIPT", str(script))
    codec = create_codec("tfci")
    assert codec.unavailable_reason() is None
    image = np.ascontiguousarray(skimage.data.astronaut()[:40, :30])
    setting = codec.resolve_setting({"model": "hific-hi"})
    data = codec.encode(image, setting)
    model, png = data.split(b"\n", 1)
    assert model == b"hific-hi"
    np.testing.assert_array_equal(np.asarray(Image.open(__import__("io").BytesIO(png))), image)  # lossless input
    np.testing.assert_array_equal(codec.decode(data, setting), 255 - image)
    (python, *compress), (_, *decompress) = (json.loads(line) for line in log.read_text().splitlines())
    assert python == sys.executable
    assert compress[:3] == [str(script), "compress", "hific-hi"] and len(compress) == 5
    assert compress[3].endswith(".png") and compress[4].endswith(".tfci")
    assert decompress[:2] == [str(script), "decompress"] and len(decompress) == 4
    assert decompress[2].endswith(".tfci") and decompress[3].endswith(".png")


@pytest.mark.skipif(not __import__("os").environ.get("RDPBENCH_TFCI_PYTHON"), reason="no tfci interpreter configured")
def test_real_tfci_hific_lo_round_trip():
    """With RDPBENCH_TFCI_PYTHON/SCRIPT set: HiFiC-lo (about 0.14 bpp on Kodak-like photos) gives a
    low-rate stream and a recognisable reconstruction."""
    codec = create_codec("tfci")
    image = np.ascontiguousarray(skimage.data.astronaut()[:256, :256])
    setting = codec.resolve_setting({"model": "hific-lo"})
    data = codec.encode(image, setting)
    assert 0.02 < 8 * len(data) / image[..., 0].size < 0.5
    reconstruction = codec.decode(data, setting)
    assert reconstruction.shape == image.shape and reconstruction.dtype == np.uint8
    mse = np.mean((reconstruction.astype(float) - image) ** 2)
    assert 10 * np.log10(255**2 / mse) > 20


def test_precomputed_reconstructions_and_sizes_are_evaluated_like_a_codec(tmp_path, photo_dir, run_cli):
    import pandas as pd
    from PIL import Image

    published = tmp_path / "paper-0.3bpp"
    published.mkdir()
    for path in sorted(photo_dir.iterdir()):
        noisy = np.clip(np.asarray(Image.open(path)).astype(int) + 3, 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(published / f"{path.stem}.png")
    (published / "sizes.csv").write_text(f"image,bytes\nastronaut.png,1234\ncoffee.png,{round(0.3 * 170 * 200 / 8)}\n")
    out = tmp_path / "out"
    assert run_cli("run", "--images", photo_dir, "--codec", "precomputed", "--sweep", f"folder={published}",
                   "--out", out) == 0
    result = pd.read_csv(out / "per_image.csv").set_index("image")
    assert result.loc["astronaut.png", "bytes"] == 1234
    assert result.loc["astronaut.png", "bpp"] == pytest.approx(8 * 1234 / (192 * 256))
    assert result.loc["coffee.png", "bpp"] == pytest.approx(0.3, abs=4 / (170 * 200))
    assert result.loc["coffee.png", "psnr"] == pytest.approx(10 * np.log10(255**2 / 9), abs=0.2)
