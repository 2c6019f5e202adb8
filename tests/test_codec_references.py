"""Every built-in codec against a direct call of its library or tool on the same pixels: the same
bytes from the adapter as from the library with the parameters the adapter documents, and the same
pixels back from the adapter's decoder as from the library's (so a decoder returning zeros, or a
dropped option, fails)."""

import io
import shutil
import subprocess

import numpy as np
import pytest
import skimage.data
from PIL import Image

from rdpbench.codecs.registry import create_codec

IMAGE = np.ascontiguousarray(skimage.data.astronaut()[120:184, 180:276])  # 64x96 natural crop


def _psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def _pillow(format_, **options):
    buffer = io.BytesIO()
    Image.fromarray(IMAGE).save(buffer, format=format_, **options)
    return buffer.getvalue()


def _pillow_decode(data):
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _check(codec, setting, expected_bytes, decoded_by_library, min_psnr):
    data = codec.encode(IMAGE, setting)
    assert data == expected_bytes
    decoded = codec.decode(data, setting)
    np.testing.assert_array_equal(decoded, decoded_by_library)
    assert decoded.shape == IMAGE.shape
    assert np.array_equal(decoded, IMAGE) or _psnr(IMAGE, decoded) > min_psnr  # real pixels, not a blank image
    return decoded


@pytest.mark.parametrize("knobs, options", [
    ({"quality": 37}, {"quality": 37, "subsampling": "4:2:0"}),
    ({"quality": 80, "subsampling": "4:4:4"}, {"quality": 80, "subsampling": "4:4:4"}),
])
def test_jpeg_is_pillows_jpeg(knobs, options):
    codec = create_codec("jpeg")
    expected = _pillow("JPEG", **options)
    _check(codec, codec.resolve_setting(knobs), expected, _pillow_decode(expected), 25)


@pytest.mark.parametrize("knobs, options", [
    ({"quality": 60}, {"quality": 60, "method": 4, "lossless": False}),
    ({"quality": 20, "method": 6}, {"quality": 20, "method": 6, "lossless": False}),
])
def test_webp_is_pillows_lossy_webp(knobs, options):
    codec = create_codec("webp")
    expected = _pillow("WEBP", **options)
    _check(codec, codec.resolve_setting(knobs), expected, _pillow_decode(expected), 22)


@pytest.mark.parametrize("knobs, options", [
    ({"quality": 50}, {"quality": 50, "speed": 6, "subsampling": "4:2:0"}),
    ({"quality": 70, "speed": 8, "subsampling": "4:4:4"}, {"quality": 70, "speed": 8, "subsampling": "4:4:4"}),
])
def test_avif_is_pillows_avif(knobs, options):
    codec = create_codec("avif")
    if codec.unavailable_reason():
        pytest.skip(codec.unavailable_reason())
    expected = _pillow("AVIF", **options)
    _check(codec, codec.resolve_setting(knobs), expected, _pillow_decode(expected), 22)


@pytest.mark.parametrize("level", [0, 6, 9])
def test_png_is_pillows_png_and_lossless(level):
    codec = create_codec("png")
    expected = _pillow("PNG", compress_level=level)
    decoded = _check(codec, codec.resolve_setting({"compress_level": level}), expected, _pillow_decode(expected), 0)
    np.testing.assert_array_equal(decoded, IMAGE)


def _jpeg2000_settings(codec):
    """The default setting, and both colour-transform values where the adapter has an ``mct`` knob."""
    names = {param.name for param in codec.params}
    if "mct" not in names:
        return [codec.resolve_setting({"ratio": 20})]
    return [codec.resolve_setting({"ratio": 20}), codec.resolve_setting({"ratio": 20, "mct": 0}),
            codec.resolve_setting({"ratio": 20, "mct": 1})]


def test_jpeg2000_is_openjpeg_at_the_documented_rate():
    """Pillow/OpenJPEG with one quality layer at the ratio, the 9/7 wavelet, a raw codestream, and the
    adapter's colour transform (``mct``: Pillow's default 0 when the adapter has no such knob)."""
    codec = create_codec("jpeg2000")
    decoded_by_mct = {}
    for setting in _jpeg2000_settings(codec):
        mct = int(setting.get("mct", 0))
        expected = _pillow("JPEG2000", quality_mode="rates", quality_layers=[20.0], irreversible=True, no_jp2=True,
                           mct=mct)
        assert expected[:4] == b"\xff\x4f\xff\x51"  # SOC + SIZ: a codestream, not a JP2 box file
        decoded_by_mct[mct] = _check(codec, setting, expected, _pillow_decode(expected), 22)
    if len(decoded_by_mct) == 2:  # the knob reaches the encoder
        assert not np.array_equal(decoded_by_mct[0], decoded_by_mct[1])


def test_heic_is_libheif_x265_with_4_4_4_chroma_by_default():
    """pillow-heif called directly with chroma 444 gives the adapter's pixels; 4:2:0 gives other, blurrier
    colours (a red/blue stripe pattern is where subsampling shows)."""
    import pillow_heif

    codec = create_codec("heic")
    if codec.unavailable_reason():
        pytest.skip(codec.unavailable_reason())
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, 0::2, 0] = 255  # red and blue columns alternate: pure chroma detail
    stripes[:, 1::2, 2] = 255

    def direct(chroma):
        buffer = io.BytesIO()
        pillow_heif.from_bytes("RGB", (64, 64), stripes.tobytes()).save(buffer, quality=90, chroma=chroma)
        heif = pillow_heif.open_heif(io.BytesIO(buffer.getvalue()), convert_hdr_to_8bit=True)
        return buffer.getvalue(), np.asarray(heif.to_pillow().convert("RGB"))

    setting = codec.resolve_setting({"quality": 90})
    assert setting["chroma"] == "444"
    data = codec.encode(stripes, setting)
    decoded = codec.decode(data, setting)
    (bytes_444, pixels_444), (_, pixels_420) = direct(444), direct(420)
    assert data == bytes_444
    np.testing.assert_array_equal(decoded, pixels_444)
    assert _psnr(stripes, pixels_444) > _psnr(stripes, pixels_420) + 10
    assert _psnr(stripes, decoded) > 30
    np.testing.assert_array_equal(codec.decode(codec.encode(stripes, codec.resolve_setting({"quality": 90,
                                                                                            "chroma": "420"})), {}),
                                  pixels_420)


@pytest.mark.skipif(shutil.which("cjxl") is None, reason="cjxl not installed (apt-get install libjxl-tools)")
@pytest.mark.parametrize("knobs", [{}, {"quality": 40, "effort": 3}])
def test_jxl_is_cjxl_and_djxl_with_the_cards_options(tmp_path, knobs):
    """The card maps quality and effort to ``--quality=Q --effort=E`` (defaults 75 and 7) on a PNG input."""
    codec = create_codec("jxl")
    setting = codec.resolve_setting(knobs)
    quality, effort = knobs.get("quality", 75), knobs.get("effort", 7)
    assert (setting["quality"], setting["effort"]) == (quality, effort)
    source, stream, output = tmp_path / "in.png", tmp_path / "out.jxl", tmp_path / "out.png"
    Image.fromarray(IMAGE).save(source)
    subprocess.run(["cjxl", str(source), str(stream), f"--quality={quality}", f"--effort={effort}"], check=True,
                   capture_output=True)
    subprocess.run(["djxl", str(stream), str(output)], check=True, capture_output=True)
    with Image.open(output) as image:
        by_djxl = np.asarray(image.convert("RGB"))
    _check(codec, setting, stream.read_bytes(), by_djxl, 22)
