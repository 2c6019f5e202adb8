"""Codec adapters: discovery, parameters, round trips, and bytes equal to the libraries' own output."""

import io
import shutil
import textwrap

import numpy as np
import pytest
from PIL import Image

from rdpbench.codecs.api import CodecError, ParamError
from rdpbench.codecs.registry import CODECS, create_codec
from rdpbench.registry import UnknownNameError

BUILTIN = {"jpeg", "webp", "avif", "png", "jpeg2000", "heic", "bpg", "jxl"}
rng = np.random.default_rng(2)


def _available(name):
    return create_codec(name).unavailable_reason() is None


def test_every_builtin_codec_is_discovered_from_the_codecs_folder():
    assert BUILTIN <= set(CODECS.entries())


@pytest.mark.parametrize("name", sorted(BUILTIN))
@pytest.mark.parametrize("shape", [(8, 8, 3), (61, 97, 3), (192, 256, 3)])
def test_round_trip_gives_uint8_of_the_same_shape(name, shape):
    codec = create_codec(name)
    if codec.unavailable_reason():
        pytest.skip(f"{name}: {codec.unavailable_reason()}")
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    setting = codec.resolve_setting({})
    data = codec.encode(image, setting)
    assert isinstance(data, bytes) and len(data) > 0
    decoded = codec.decode(data, setting)
    assert decoded.dtype == np.uint8 and decoded.shape == shape
    if name == "png":
        np.testing.assert_array_equal(decoded, image)


def test_jpeg_bytes_equal_pillows_own_encoder(photo):
    codec = create_codec("jpeg")
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=37)  # Pillow's defaults: 4:2:0
    assert codec.encode(photo, codec.resolve_setting({"quality": 37})) == buffer.getvalue()


def test_jpeg_matches_compressai_bench_on_identical_libraries(tmp_path, photo):
    """CompressAI's `bench jpeg` (the reference of the published tables) on the same file."""
    from compressai.utils.bench.codecs import JPEG

    from rdpbench.context import RunContext
    from rdpbench.tasks import Task
    from rdpbench.worker import WorkerState, execute_task

    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    reference = JPEG(None).run(str(path), 30, metrics=["psnr-rgb", "ms-ssim-rgb"])
    params = tuple(create_codec("jpeg").resolve_setting({"quality": 30}).items())
    task = Task("jpeg", "jpeg", "quality=30", params, "photo.png", str(path), ("psnr", "ms_ssim"))
    result = execute_task(task, WorkerState(RunContext()))
    assert result.bpp == pytest.approx(reference["bpp"], rel=1e-12)
    assert result.metrics["psnr"].value == pytest.approx(reference["psnr-rgb"], abs=1e-5)
    assert result.metrics["ms_ssim"].value == pytest.approx(reference["ms-ssim-rgb"], abs=1e-6)


def test_heic_is_real_hevc_that_pillow_heif_decodes(photo):
    import pillow_heif

    codec = create_codec("heic")
    data = codec.encode(photo, codec.resolve_setting({"quality": 40}))
    heif = pillow_heif.open_heif(io.BytesIO(data))
    assert heif.info.get("primary") and heif.size == (512, 512)
    np.testing.assert_array_equal(np.asarray(heif), codec.decode(data, codec.resolve_setting({})))


def test_lower_quality_gives_fewer_bytes(photo):
    for name, knob, low, high in [("jpeg", "quality", 10, 90), ("webp", "quality", 10, 90),
                                  ("avif", "quality", 10, 90), ("jpeg2000", "ratio", 100, 10)]:
        codec = create_codec(name)
        small = codec.encode(photo, codec.resolve_setting({knob: low}))
        large = codec.encode(photo, codec.resolve_setting({knob: high}))
        assert len(small) < len(large), name


def test_parameters_are_validated_with_clear_messages():
    codec = create_codec("jpeg")
    with pytest.raises(ParamError, match="outside 1..100"):
        codec.resolve_setting({"quality": "101"})
    with pytest.raises(ParamError, match="not a valid int"):
        codec.resolve_setting({"quality": "high"})
    with pytest.raises(ParamError, match="choose one of"):
        codec.resolve_setting({"subsampling": "4:1:1"})
    with pytest.raises(ParamError, match="no parameter 'qp'"):
        codec.resolve_setting({"qp": 3})


def test_unknown_codec_suggests_close_names():
    with pytest.raises(UnknownNameError, match="did you mean jpeg"):
        create_codec("jpg")


def test_a_python_plugin_file_adds_a_codec(plugin_dir):
    (plugin_dir / "invert.py").write_text(textwrap.dedent('''
        import numpy as np
        from rdpbench.codecs.api import Codec, Param

        class Invert(Codec):
            name = "invert"
            description = "test codec: raw inverted pixels"
            params = (Param("unused", "int", 0, "nothing", low=0, high=1, rate=True),)

            def encode(self, image, setting):
                return np.array(image.shape, dtype=np.uint32).tobytes() + (255 - image).tobytes()

            def decode(self, data, setting):
                shape = tuple(np.frombuffer(data[:12], dtype=np.uint32))
                return 255 - np.frombuffer(data[12:], dtype=np.uint8).reshape(shape)
    '''))
    codec = create_codec("invert")
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(codec.decode(codec.encode(image, {}), {}), image)


def test_a_broken_plugin_is_reported_without_hiding_the_others(plugin_dir):
    (plugin_dir / "broken.py").write_text("import not_a_module_anywhere\n")
    entries = CODECS.entries()
    assert "jpeg" in entries and entries["broken"].load_error.startswith("ModuleNotFoundError")
    with pytest.raises(UnknownNameError, match="failed to load"):
        create_codec("broken")


def _card(folder, name, encode, decode, timeout=30):
    (folder / f"{name}.toml").write_text(textwrap.dedent(f'''
        name = "{name}"
        description = "test card"
        install_hint = "it is coreutils"
        timeout_s = {timeout}
        [encode]
        input = "ppm"
        suffix = ".ppm"
        argv = {encode}
        [decode]
        output = "ppm"
        argv = {decode}
        [version]
        argv = ["cp", "--version"]
        pattern = "cp \\\\(GNU coreutils\\\\) ([0-9.]+)"
        [[param]]
        name = "level"
        kind = "int"
        default = 1
        low = 0
        high = 9
        rate = true
        doc = "unused"
    '''))
    CODECS.cache_clear()
    return create_codec(name)


def test_a_card_makes_a_command_line_codec_without_python(plugin_dir):
    codec = _card(plugin_dir, "copy", '["cp", "{input}", "{output}"]', '["cp", "{input}", "{output}"]')
    image = rng.integers(0, 256, (9, 5, 3), dtype=np.uint8)
    data = codec.encode(image, codec.resolve_setting({}))
    assert data.startswith(b"P6")  # the tool's output file is the stream: a binary PPM
    np.testing.assert_array_equal(codec.decode(data, {}), image)
    assert codec.version()[0].isdigit()


def test_card_tools_that_fail_or_hang_raise_codec_errors(plugin_dir):
    image = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    failing = _card(plugin_dir, "failing", '["ls", "/no/such/file/{level}"]', '["true"]')
    with pytest.raises(CodecError, match="ls exited with 2: .*no/such/file/1"):
        failing.encode(image, failing.resolve_setting({}))
    hanging = _card(plugin_dir, "hanging", '["sleep", "30"]', '["true"]', timeout=0.5)
    with pytest.raises(CodecError, match="timed out after 0.5 s"):
        hanging.encode(image, hanging.resolve_setting({}))


def test_missing_tool_is_reported_with_the_install_hint(plugin_dir):
    codec = _card(plugin_dir, "ghost", '["no-such-encoder", "{input}"]', '["no-such-decoder"]')
    assert codec.unavailable_reason() == "not on PATH: no-such-decoder, no-such-encoder"
    assert codec.install_hint == "it is coreutils"


@pytest.mark.skipif(shutil.which("bpgenc") is None, reason="bpgenc/bpgdec not installed (no package provides them)")
def test_bpg_matches_compressai_bench_settings(tmp_path, photo):
    """With bpgenc present: our card's stream equals bpgenc run with CompressAI's argument list."""
    import subprocess

    codec = create_codec("bpg")
    data = codec.encode(photo, codec.resolve_setting({"qp": 32}))
    source, target = tmp_path / "in.png", tmp_path / "out.bpg"
    Image.fromarray(photo).save(source)
    subprocess.run(["bpgenc", "-o", str(target), "-q", "32", "-f", "444", "-e", "x265", "-c", "ycbcr", "-b", "8",
                    str(source)], check=True)
    assert data == target.read_bytes()


@pytest.mark.skipif(shutil.which("cjxl") is None, reason="cjxl not installed (apt-get install libjxl-tools)")
def test_jxl_card_output_is_a_jpeg_xl_stream(photo):
    codec = create_codec("jxl")
    data = codec.encode(photo, codec.resolve_setting({"quality": 60}))
    assert data[:2] == b"\xff\x0a" or data[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n"
    decoded = codec.decode(data, {})
    assert np.abs(decoded.astype(int) - photo).mean() < 6
