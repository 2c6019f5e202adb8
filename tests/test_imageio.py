"""Input conversion rules of rdpbench.imageio, each checked against arithmetic done here."""

import numpy as np
import pytest
from PIL import Image

from rdpbench.imageio import ImageReadError, find_images, read_rgb8

rng = np.random.default_rng(0)


def _save(tmp_path, name, image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_rgb_png_is_read_exactly(tmp_path):
    pixels = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    got = read_rgb8(_save(tmp_path, "a.png", Image.fromarray(pixels)))
    assert got.dtype == np.uint8 and got.shape == (13, 17, 3)
    np.testing.assert_array_equal(got, pixels)


def test_grey_is_copied_to_three_channels(tmp_path):
    grey = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    got = read_rgb8(_save(tmp_path, "g.png", Image.fromarray(grey)))
    np.testing.assert_array_equal(got, np.stack([grey] * 3, axis=2))


def test_palette_is_looked_up(tmp_path):
    indices = rng.integers(0, 4, (6, 7), dtype=np.uint8)
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette.flatten().tolist())
    got = read_rgb8(_save(tmp_path, "p.png", image))
    np.testing.assert_array_equal(got, palette[indices])


def test_alpha_is_dropped_not_composited(tmp_path):
    rgba = rng.integers(0, 256, (5, 8, 4), dtype=np.uint8)
    got = read_rgb8(_save(tmp_path, "rgba.png", Image.fromarray(rgba)))
    np.testing.assert_array_equal(got, rgba[:, :, :3])


def test_16_bit_grey_keeps_the_high_byte(tmp_path):
    grey16 = rng.integers(0, 65536, (7, 9), dtype=np.uint16)
    got = read_rgb8(_save(tmp_path, "g16.png", Image.fromarray(grey16)))
    np.testing.assert_array_equal(got[:, :, 1], (grey16 >> 8).astype(np.uint8))


def test_48_bit_rgb_keeps_the_high_byte(tmp_path):
    import imagecodecs

    rgb16 = rng.integers(0, 65536, (7, 9, 3), dtype=np.uint16)
    path = tmp_path / "rgb48.png"
    path.write_bytes(imagecodecs.png_encode(rgb16))
    np.testing.assert_array_equal(read_rgb8(path), (rgb16 >> 8).astype(np.uint8))


def test_cmyk_uses_the_uncalibrated_formula(tmp_path):
    cmyk = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    got = read_rgb8(_save(tmp_path, "c.tif", Image.fromarray(cmyk, mode="CMYK")))
    c, m, y, k = (cmyk[:, :, i].astype(float) for i in range(4))
    expected = np.stack([(255 - v) * (255 - k) / 255 for v in (c, m, y)], axis=2)
    assert np.abs(got - expected).max() <= 0.5 + 1e-9  # rounded to the nearest integer


def test_empty_and_corrupt_files_raise_a_clear_error(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ImageReadError, match="empty file"):
        read_rgb8(tmp_path / "empty.png")
    with pytest.raises(ImageReadError, match="cannot decode"):
        read_rgb8(tmp_path / "corrupt.png")


def test_find_images_lists_broken_files_and_skips_hidden_and_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b.PNG", "sub/a.jpg", "empty.png", ".hidden/x.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    assert find_images(tmp_path) == ["b.PNG", "empty.png", "sub/a.jpg"]
