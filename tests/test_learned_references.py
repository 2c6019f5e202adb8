"""Learned codecs against independent references: all six CompressAI zoo architectures against
compressai itself, three with the MSE-trained and three with the MS-SSIM-trained file (stand-in
weights; only that metric's file exists, so loading the other one fails), the stream container against a parse written here with
``struct``, and a HiFiC checkpoint given by path against NeuralCompression loading that file."""

import struct

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

CASES = [("bmshj2018-factorized", "ms-ssim"), ("bmshj2018-hyperprior", "mse"), ("mbt2018-mean", "ms-ssim"),
         ("mbt2018", "mse"), ("cheng2020-anchor", "ms-ssim"), ("cheng2020-attn", "mse")]
IMAGE = np.ascontiguousarray(skimage.data.astronaut()[200:248, 180:250])  # 48x70: padded to 64x128


def _codec(name, weights_dir):
    codec = create_codec(name, RunContext(weights=Weights(weights_dir, allow_unverified=True)))
    return codec


def _read_varint(data, position):
    """Unsigned LEB128, written out from its definition: 7 bits per byte, low groups first."""
    value, shift = 0, 0
    while True:
        (byte,) = struct.unpack_from("B", data, position)
        value, position, shift = value | (byte & 0x7F) << shift, position + 1, shift + 7
        if byte < 0x80:
            return value, position


def _parse(data):
    """(version, height, width, strings) of a container as learned/stream.py documents it."""
    (version,) = struct.unpack_from("B", data, 0)
    height, position = _read_varint(data, 1)
    width, position = _read_varint(data, position)
    count, position = _read_varint(data, position)
    lengths = []
    for _ in range(count - 1):
        length, position = _read_varint(data, position)
        lengths.append(length)
    strings = []
    for length in lengths:
        strings.append(data[position:position + length])
        position += length
    return version, height, width, strings + [data[position:]]


def test_stream_bytes_are_the_documented_layout():
    # 512 = 0b100_0000000 -> 0x80 0x04; 768 -> 0x80 0x06; 2 strings; first length 2; then the strings
    assert stream.pack(512, 768, [b"ab", b"xyz"]) == b"\x01\x80\x04\x80\x06\x02\x02abxyz"
    assert stream.pack(127, 128, [b"q"]) == b"\x01\x7f\x80\x01\x01q"
    rng = np.random.default_rng(3)
    for count in (1, 2, 3):
        strings = [rng.bytes(int(n)) for n in rng.integers(0, 20000, count)]
        height, width = (int(v) for v in rng.integers(1, 70000, 2))
        assert _parse(stream.pack(height, width, strings)) == (1, height, width, strings)
        assert stream.unpack(stream.pack(height, width, strings)) == (height, width, strings)


def test_stream_refuses_other_versions_and_truncation():
    with pytest.raises(stream.StreamError, match="not an rdpbench learned-codec stream"):
        stream.unpack(b"\x02\x01\x01\x01x")
    with pytest.raises(stream.StreamError, match="truncated"):
        stream.unpack(b"\x01\x80")
    with pytest.raises(stream.StreamError, match="truncated stream"):
        stream.unpack(stream.pack(10, 10, [b"x" * 200, b"y"])[:50])


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo6")
    for index, (architecture, metric) in enumerate(CASES):
        standins.compressai_zoo(folder, architecture, 1, metric, seed=index)
    return folder


@pytest.mark.parametrize("architecture, metric", CASES)
def test_every_zoo_architecture_and_metric_equals_compressai(zoo_dir, tmp_path, monkeypatch, architecture, metric):
    """Reference: compressai.zoo loading the file from the torch hub cache, then eval_model's steps
    (update(force=True), centred zero padding to 64, compress, decompress, crop, round)."""
    from compressai.ops import compute_padding
    from compressai.zoo import image as zoo

    codec = _codec(f"compressai-{architecture}", zoo_dir)
    setting = codec.resolve_setting({"quality": 1, "metric": metric})
    data = codec.encode(IMAGE, setting)
    reconstruction = codec.decode(data, setting)

    monkeypatch.setenv("TORCH_HOME", str(standins.torch_home_with(tmp_path / "torch", list(zoo_dir.iterdir()))))
    reference = zoo._load_model(architecture, metric, 1, pretrained=True).eval()
    reference.update(force=True)
    x = torch.from_numpy(IMAGE).permute(2, 0, 1).unsqueeze(0).float() / 255
    pad, unpad = compute_padding(*IMAGE.shape[:2], min_div=64)
    with torch.no_grad():
        out = reference.compress(F.pad(x, pad, mode="constant", value=0))
        x_hat = F.pad(reference.decompress(out["strings"], out["shape"])["x_hat"], unpad)
    assert _parse(data) == (1, *IMAGE.shape[:2], [s[0] for s in out["strings"]])
    expected = (x_hat[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(reconstruction, expected)


@pytest.fixture(scope="module")
def hific_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hific-path")
    standins.hific(folder, "msillm_target_0.14bpp.ckpt", seed=1)
    return folder


def test_a_hific_checkpoint_given_by_path_is_the_model_that_runs(hific_dir, tmp_path):
    from neuralcompression.models import HiFiCAutoencoder

    image = np.ascontiguousarray(skimage.data.astronaut()[100:164, 200:264])
    other = standins.hific(tmp_path, "mine.ckpt", seed=5)
    codec = _codec("hific", hific_dir)
    by_name = codec.resolve_setting({"checkpoint": "msillm_quality_3"})
    by_path = codec.resolve_setting({"checkpoint": str(other)})
    default_stream, path_stream = codec.encode(image, by_name), codec.encode(image, by_path)
    reconstruction = codec.decode(path_stream, by_path)
    assert path_stream != default_stream
    assert not np.array_equal(reconstruction, codec.decode(default_stream, by_name))

    reference = HiFiCAutoencoder(num_residual_blocks=1)
    reference.load_state_dict(torch.load(other, weights_only=True))
    reference = reference.eval()
    reference.update_tensor_devices("compress")
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255
    with torch.no_grad():
        compressed = reference.compress(x)
        x_hat = reference.decompress(compressed)
    assert _parse(path_stream)[3] == [compressed.hyper_latent_strings[0], compressed.latent_strings[0]]
    np.testing.assert_array_equal(reconstruction, (x_hat[0] * 255).round().byte().permute(1, 2, 0).numpy())
