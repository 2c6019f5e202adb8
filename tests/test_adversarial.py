"""Adversarial inputs, made here: weight files with pickle payloads, forged hash prefixes, paths that
try to leave their folder, archive bombs and special files, absurd options, huge and broken images,
damaged stores, hanging tools, interrupts. Each case asserts that no payload ran, nothing was
written outside its folder, nothing stored was lost, and the user got an error row or one clear
message with the documented exit code."""

import hashlib
import io
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import standins
from rdpbench import datasets, weights
from rdpbench.datasets import ArchiveLimits, DatasetError, extract_archive
from rdpbench.safe_paths import UnsafePathError, inside

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# -- helpers ---------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this runs ``touch <marker>``: what a malicious weight file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _malicious_torch_file(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"features.0.weight": torch.zeros(1), "payload": _Payload(marker)}, path)
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    """Two small photos (64x48 and 40x40)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / "b.png")
    return folder


def _rows(out: Path) -> pd.DataFrame:
    rows = pd.read_csv(out / "per_image.csv", dtype={"error": str})
    rows["error"] = rows["error"].fillna("")
    return rows.set_index("image")


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


# -- 1. no code execution from weight files ----------------------------------------------------------
@pytest.mark.parametrize("metric, poisoned", [
    ("lpips", "alexnet-owt-7be5be79.pth"),
    ("dists", "vgg16-397923af.pth"),
    ("dists", "DISTS_weights-f5e65c96.pth"),
    ("fid", "weights-inception-2015-12-05-6726825d.pth"),
])
def test_a_pickle_payload_in_a_metric_weight_file_never_runs(tmp_path, metric, poisoned):
    from rdpbench.context import RunContext
    from rdpbench.features.registry import create_extractor
    from rdpbench.metrics.registry import create_metric

    folder, marker = tmp_path / "weights", tmp_path / "PWNED"
    if metric == "dists":  # the other file of the pair is a clean stand-in
        standins.dists(folder, standins.vgg16(folder))
    _malicious_torch_file(folder / poisoned, marker)
    context = RunContext(weights=weights.Weights(folder, allow_unverified=True))
    instance = create_metric(metric, context)
    with pytest.raises(weights.WeightsError, match="needs code execution to load.*nothing in it was run"):
        if metric == "fid":
            create_extractor(instance.extractor, context).model
        else:
            instance.model
    assert not marker.exists()


def test_a_poisoned_weight_file_gives_error_rows_and_runs_nothing_end_to_end(tmp_path, photos, run_cli):
    folder, marker, out = tmp_path / "weights", tmp_path / "PWNED", tmp_path / "out"
    _malicious_torch_file(folder / "alexnet-owt-7be5be79.pth", marker)
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr,lpips", "--out", out,
                   "--weights-dir", folder, "--allow-unverified-weights") == 1
    rows = _rows(out)
    assert all("needs code execution" in error for error in rows["error"])
    assert (rows["psnr"] == np.inf).all()  # the codec result and the other metric are kept
    assert not marker.exists()


def test_a_pickle_payload_in_a_codec_checkpoint_never_runs(tmp_path):
    from rdpbench.learned.checkpoints import CheckpointError, load_state_dict

    marker = tmp_path / "PWNED"
    with pytest.raises(CheckpointError, match="needs code execution"):
        load_state_dict(_malicious_torch_file(tmp_path / "model.ckpt", marker))
    assert not marker.exists()


def test_a_file_matching_only_the_name_prefix_of_a_pinned_file_is_refused(tmp_path, monkeypatch):
    """A forged file whose sha256 shares the 8 hex digits of the name (2**32 hashes of work) is
    simulated by pinning a full digest that agrees with the file only in those digits."""
    folder = tmp_path / "weights"
    forged = standins.alexnet(folder)
    digest = hashlib.sha256(forged.read_bytes()).hexdigest()
    name = forged.name
    monkeypatch.setitem(weights.KNOWN, name, weights.WeightFile(name, weights.KNOWN[name].url, "lpips",
                                                                 sha256=digest[:8] + "0" * 56))
    with pytest.raises(weights.WeightsError, match="does not match"):
        weights.Weights(folder).locate(name)
    located = weights.Weights(folder, allow_unverified=True).locate(name)
    assert located.verified is False and located.check == "mismatch"


def test_a_prefix_only_match_is_never_reported_verified(tmp_path, monkeypatch, run_cli, capsys):
    folder, marker = tmp_path / "weights", tmp_path / "PWNED"
    plain = folder / "plain.pth"
    folder.mkdir()
    torch.save({"w": torch.ones(2)}, plain)
    name = f"zoo-model-{hashlib.sha256(plain.read_bytes()).hexdigest()[:8]}.pth.tar"
    plain.rename(folder / name)
    monkeypatch.setitem(weights.KNOWN, name, weights.WeightFile(name, "https://example.invalid/" + name, "test"))
    located = weights.Weights(folder).locate(name)
    assert (located.verified, located.check) == (False, "sha256-prefix")
    assert "not a cryptographic check" in located.provenance()["meaning"]
    assert located.provenance()["state"] == "prefix-checked"  # a footnote in reports, not the red caveat
    assert torch.equal(weights.load_torch_file(located)["w"], torch.ones(2))  # usable: weights_only load
    assert run_cli("weights", "status", name, "--weights-dir", folder) == 0
    line = capsys.readouterr().out
    assert line.startswith("prefix-checked ") and "prefix-only (8 hex digits of sha256" in line
    # the same name carrying a payload: the prefix does not match, and were it forged, loading refuses it
    evil = _malicious_torch_file(tmp_path / "evil.pth", marker)
    forged = weights.LocatedWeight(name, evil, hashlib.sha256(evil.read_bytes()).hexdigest(), False, "sha256-prefix")
    with pytest.raises(weights.WeightsError, match="needs code execution"):
        weights.load_torch_file(forged)
    assert not marker.exists()


def test_only_a_full_pinned_digest_is_reported_verified(tmp_path, monkeypatch, run_cli, capsys):
    folder = tmp_path / "weights"
    file = standins.alexnet(folder)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    monkeypatch.setitem(weights.KNOWN, file.name, weights.WeightFile(file.name, "https://example.invalid", "lpips",
                                                                      sha256=digest))
    located = weights.Weights(folder).locate(file.name)
    assert (located.verified, located.check, located.sha256) == (True, "sha256", digest)
    assert located.provenance()["state"] == "verified"
    assert run_cli("weights", "status", file.name, "--weights-dir", folder) == 0
    assert capsys.readouterr().out.startswith("verified       alexnet-owt-7be5be79.pth")


def test_the_shipped_pins_are_full_digests_agreeing_with_the_names():
    pinned = {name: file for name, file in weights.KNOWN.items() if file.sha256}
    assert len(pinned) >= 5
    for name, file in pinned.items():
        assert len(file.sha256) == 64 and int(file.sha256, 16) >= 0 and file.source
        prefix = name.rsplit("-", 1)[-1].split(".")[0]
        assert name == "niqe_modelparameters.mat" or file.sha256.startswith(prefix), name


def test_a_file_swapped_after_verification_is_not_loaded(tmp_path):
    folder, marker = tmp_path / "weights", tmp_path / "PWNED"
    good = standins.alexnet(folder)
    located = weights.LocatedWeight(good.name, good, hashlib.sha256(good.read_bytes()).hexdigest(), True, "sha256")
    _malicious_torch_file(good, marker)
    with pytest.raises(weights.WeightsError, match="changed since it was verified"):
        weights.load_torch_file(located)
    assert not marker.exists()


def _same_size_swap(path: Path, data: bytes) -> None:
    """Replace ``path``'s bytes by ``data`` (same length) and restore its modification time."""
    status = path.stat()
    assert len(data) == status.st_size
    path.write_bytes(data)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_niqe_parameters_are_parsed_from_the_bytes_that_were_hashed(tmp_path, monkeypatch):
    """NIQE's MATLAB file is read once into memory, hashed there and parsed from those bytes: a
    same-size file swapped in after verification, with its mtime restored, is refused, never used;
    and no memo keyed by size and mtime hides the swap from a later check."""
    import scipy.io

    from rdpbench.context import RunContext
    from rdpbench.metrics.registry import create_metric

    folder = tmp_path / "weights"
    path = standins.niqe(folder, seed=1)
    first = scipy.io.loadmat(path)
    context = RunContext(weights=weights.Weights(folder, allow_unverified=True))
    located = context.weights.locate(path.name)
    other = io.BytesIO()
    scipy.io.savemat(other, {"mu_prisparam": first["mu_prisparam"] + 9.0, "cov_prisparam": first["cov_prisparam"]})
    assert len(other.getvalue()) == path.stat().st_size  # same shapes: same size
    _same_size_swap(path, other.getvalue())
    assert context.weights.locate(path.name).sha256 == hashlib.sha256(other.getvalue()).hexdigest()
    monkeypatch.setattr(weights.Weights, "read", lambda self, name: located)  # as located before the swap
    with pytest.raises(weights.WeightsError, match="changed since it was verified"):
        create_metric("niqe", context).parameters  # LIVE's niqe.m
    with pytest.raises(weights.WeightsError, match="changed since it was verified"):
        create_metric("niqe_pyiqa", context).model
    _same_size_swap(path, _mat_bytes(first))
    mu_pristine, _ = create_metric("niqe", context).parameters  # the verified bytes again: parsed from them
    monkeypatch.undo()
    read = context.weights.read(path.name)  # one read: the bytes it hashed are the bytes it hands over
    assert read.sha256 == hashlib.sha256(read.data).hexdigest() == located.sha256
    assert weights.read_verified(read) is read.data
    np.testing.assert_array_equal(mu_pristine, np.ravel(first["mu_prisparam"]))
    model = create_metric("niqe_pyiqa", context).model
    np.testing.assert_array_equal(model.net.mu_pris_param.cpu().numpy(), np.ravel(first["mu_prisparam"]))


def _mat_bytes(parameters: dict) -> bytes:
    import scipy.io

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {k: parameters[k] for k in ("mu_prisparam", "cov_prisparam")})
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["dinov2_vitl14_pretrain.pth", "vgg16-397923af.pth", "msillm_target_0.14bpp.ckpt"])
def test_an_oversized_weight_file_is_refused_before_it_is_hashed_or_read(tmp_path, monkeypatch, name):
    import rdpbench.learned.hific_codec  # noqa: F401  registers the HiFiC checkpoints

    folder = tmp_path / "weights"
    folder.mkdir()
    with open(folder / name, "wb") as sparse:  # 20 GiB that take no disk space
        sparse.truncate(20 << 30)
    monkeypatch.setattr(weights.hashing, "sha256_file", lambda *a, **k: pytest.fail("an oversized file was hashed"))
    limit = weights.KNOWN[name].max_bytes
    assert limit == int(weights.KNOWN[name].size * 1.5) and limit < 20 << 30
    with pytest.raises(weights.WeightsError, match=f"is 21,474,836,480 bytes, over the {limit:,} accepted"):
        weights.Weights(folder, allow_unverified=True).locate(name)
    located = weights.LocatedWeight(name, folder / name, "0" * 64, False)
    with pytest.raises(weights.WeightsError, match="refused before hashing"):
        weights.read_verified(located)


def test_hashing_a_large_weight_file_shows_progress(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "weights"
    path = standins.niqe(folder)
    monkeypatch.setattr(weights, "PROGRESS_BYTES", 0)
    located = weights.Weights(folder, allow_unverified=True).locate(path.name, progress=True)
    assert located.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"hashing {path.name}" in capsys.readouterr().err


def test_weights_fetch_refuses_a_download_that_matches_only_the_prefix(tmp_path, monkeypatch, serve, run_cli):
    served = tmp_path / "mirror"
    served.mkdir()
    forged = served / "alexnet-owt-7be5be79.pth"
    torch.save({"w": torch.zeros(1)}, forged)
    digest = hashlib.sha256(forged.read_bytes()).hexdigest()
    monkeypatch.setitem(weights.KNOWN, forged.name, weights.WeightFile(
        forged.name, weights.KNOWN[forged.name].url, "lpips", sha256=digest[:8] + "f" * 56))
    monkeypatch.setenv("RDPBENCH_WEIGHTS_MIRROR", serve(served))
    target = tmp_path / "weights"
    assert run_cli("weights", "fetch", forged.name, "--weights-dir", target) == 2
    assert not any(target.iterdir())


# -- 2. nothing written outside its folder --------------------------------------------------------------
@pytest.mark.parametrize("text", ["../escape", "a/../../escape", "/tmp/abs", "..", "", ".", "x\x00y", "..\\win",
                                  "C:foo", "c:/abs", "Z:\\abs", "./C:foo", "\\\\server\\share\\x"])
def test_the_path_rule_refuses_text_that_leaves_the_root(tmp_path, text):
    with pytest.raises(UnsafePathError):
        inside(tmp_path / "root", text, "test")


@pytest.mark.parametrize("text", ["HEVC intra (x265, 4:4:4)/quality=10/kodim01.png", "jpeg[subsampling=4:4:4]/q=5/a.png",
                                  "CC:x/a.png", "1:2/a.png", "é:x/a.png"])
def test_a_colon_that_is_no_drive_letter_is_plain_text(tmp_path, text):
    """Only one ASCII letter and a colon opening the text is a (Windows) drive; other colons are names."""
    assert inside(tmp_path / "root", text, "test") == tmp_path / "root" / text


def test_the_path_rule_refuses_a_link_leading_out_and_accepts_sub_folders(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match="through a link"):
        inside(root, "link/file.png", "test")
    assert inside(root, "a/b.png") == root / "a" / "b.png"


@pytest.mark.parametrize("label", ["../escaped", "/tmp/rdpbench-escaped-label", "a/../../escaped"])
def test_a_codec_label_cannot_make_save_recon_write_outside_out(tmp_path, photos, run_cli, capsys, label):
    before = _files_under(tmp_path) | _files_under(Path("/tmp/rdpbench-escaped-label"))
    config = tmp_path / "bench.toml"
    config.write_text(f'metrics = ["psnr"]\n[[codec]]\nname = "png"\nlabel = "{label}"\n')
    out = tmp_path / "out"
    assert run_cli("run", config, "--images", photos, "--out", out, "--save-recon") == 2
    assert "must stay inside" in capsys.readouterr().err
    assert _files_under(tmp_path) == before | {config} and not Path("/tmp/rdpbench-escaped-label").exists()


def test_a_setting_text_cannot_make_save_recon_write_outside_out(tmp_path, photos, plugin_dir, run_cli, capsys):
    (plugin_dir / "knobby.py").write_text(textwrap.dedent('''
        from rdpbench.codecs.api import Codec, Param

        class Knobby(Codec):
            name = "knobby"
            params = (Param("mode", "str", "x", ""),)

            def encode(self, image, setting):
                return image.tobytes()
    '''))
    out = tmp_path / "out"
    assert run_cli("run", "--images", photos, "--codec", "knobby", "--sweep", "mode=../../../escaped",
                   "--out", out, "--save-recon") == 2
    assert "has a '..' component" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "escaped").exists()


@pytest.fixture
def manifests(tmp_path, monkeypatch):
    folder = tmp_path / "sandbox" / "datasets"
    folder.mkdir(parents=True)
    monkeypatch.setenv("RDPBENCH_DATASETS_DIR", str(folder))
    return folder


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("manifest", [
    'name = "../escaped"\n[[file]]\nname = "a.png"\nurl = "{url}"\n',
    'name = "/tmp/rdpbench-escaped-manifest"\n[[file]]\nname = "a.png"\nurl = "{url}"\n',
    'name = "ok"\n[[file]]\nname = "../../escaped.png"\nurl = "{url}"\n',
    'name = "ok"\n[[file]]\nname = "/tmp/rdpbench-escaped.png"\nurl = "{url}"\n',
    'name = "ok"\n[[archive]]\nurl = "{url}"\ndest = "../../escaped"\n',
    'name = "."\n[[file]]\nname = "a.png"\nurl = "{url}"\n',
])
def test_a_manifest_cannot_write_outside_the_datasets_folder(tmp_path, manifests, run_cli, capsys, manifest):
    source = _png(tmp_path / "source" / "a.png")
    (manifests / "evil.toml").write_text(manifest.format(url=source.as_uri()))
    sandbox = tmp_path / "sandbox"
    before = _files_under(sandbox)
    assert run_cli("datasets", "fetch", "evil") == 2
    assert "must stay inside" in capsys.readouterr().err
    assert _files_under(sandbox) == before
    assert not any(Path("/tmp").glob("rdpbench-escaped*"))


@pytest.mark.parametrize("manifest, message", [
    ('name = "ok"\nfile = "x"\n', "arrays of tables"),
    ('name = "ok"\n[[archive]]\ndest = "x"\n', "needs text fields url"),
    ('name = "ok"\n[[file]]\nname = 3\nurl = "x"\n', "needs text fields name, url"),
    ('name = "ok"\nexpected_images = "24"\n', "expected_images must be a whole number"),
    ('name = "ok\n', "cannot read manifest"),
])
def test_malformed_manifests_are_one_clear_message(manifests, run_cli, capsys, manifest, message):
    (manifests / "bad.toml").write_text(manifest)
    assert run_cli("datasets", "fetch", "bad") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert run_cli("datasets") == 0  # the listing names it as broken
    assert capsys.readouterr().out.startswith("bad                          BROKEN")


def test_a_damaged_lock_file_is_one_clear_message(tmp_path, manifests, run_cli, capsys):
    source = _png(tmp_path / "source" / "a.png")
    (manifests / "toy.toml").write_text(f'name = "toy"\n[[file]]\nname = "a.png"\nurl = "{source.as_uri()}"\n')
    assert run_cli("datasets", "fetch", "toy") == 0
    (manifests / "toy" / datasets.LOCK_NAME).write_text("{not json")
    assert run_cli("run", "--dataset", "toy", "--codec", "png", "--out", tmp_path / "out") == 2
    assert "is damaged; delete the folder" in capsys.readouterr().err


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("members, reason", [
    ([(_info("../escaped.png"), b"x")], "'..' component"),
    ([(_info("/tmp/rdpbench-escaped.png"), b"x")], "absolute path"),
    ([(_info("link.png", tarfile.SYMTYPE, "/etc/passwd"), b"")], "is a link"),
    ([(_info("hard.png", tarfile.LNKTYPE, "/etc/passwd"), b"")], "is a link"),
    ([(_info("fifo", tarfile.FIFOTYPE), b"")], "special file"),
    ([(_info("null", tarfile.CHRTYPE), b"")], "special file"),
    ([(_info("ok.png"), b"fine"), (_info("dev", tarfile.BLKTYPE), b"")], "special file"),
])
def test_unsafe_tar_members_are_refused_before_anything_is_written(tmp_path, members, reason):
    archive = tmp_path / "set.tar.gz"
    archive.write_bytes(_tar(members))
    destination = tmp_path / "dest"
    destination.mkdir()
    with pytest.raises(DatasetError, match=reason):
        extract_archive(archive, destination)
    assert not any(destination.iterdir()) and not (tmp_path / "escaped.png").exists()


@pytest.mark.parametrize("name, mode, reason", [
    ("../escaped.png", 0o100644, "'..' component"),
    ("/abs.png", 0o100644, "absolute path"),
    ("link.png", 0o120777, "is a link"),
    ("fifo", 0o010644, "special file"),
])
def test_unsafe_zip_members_are_refused_before_anything_is_written(tmp_path, name, mode, reason):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fine.png", b"fine")
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        archive.writestr(info, b"/etc/passwd")
    (tmp_path / "set.zip").write_bytes(buffer.getvalue())
    destination = tmp_path / "dest"
    destination.mkdir()
    with pytest.raises(DatasetError, match=reason):
        extract_archive(tmp_path / "set.zip", destination)
    assert not any(destination.iterdir()) and not (tmp_path / "escaped.png").exists()


def _zip_bomb(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.png", bytes(size))
    return buffer.getvalue()


def _tar_bomb(size: int) -> bytes:
    return _tar([(_info("big.png"), bytes(size))])


@pytest.mark.parametrize("make", [_zip_bomb, _tar_bomb])
def test_archive_bombs_are_refused_by_the_default_ratio_bound(tmp_path, make):
    archive = tmp_path / "bomb.bin"
    archive.write_bytes(make(8 << 20))  # 8 MiB of zeros in a few KiB
    assert archive.stat().st_size < 100_000
    destination = tmp_path / "dest"
    destination.mkdir()
    with pytest.raises(DatasetError, match="decompression bomb"):
        extract_archive(archive, destination)
    assert not any(destination.iterdir())


def test_archive_bounds_on_total_size_and_member_count(tmp_path):
    members = [(_info(f"{i}.png"), os.urandom(1000)) for i in range(5)]
    archive = tmp_path / "set.tar.gz"
    archive.write_bytes(_tar(members))
    with pytest.raises(DatasetError, match="more than 4 members"):
        extract_archive(archive, tmp_path / "a", ArchiveLimits(max_members=4))
    with pytest.raises(DatasetError, match="decompression bomb"):
        extract_archive(archive, tmp_path / "b", ArchiveLimits(max_total_bytes=4000))
    extract_archive(archive, tmp_path / "c", ArchiveLimits(max_members=5, max_total_bytes=5000))
    assert len(list((tmp_path / "c").iterdir())) == 5
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_fetched_bomb_is_an_error_not_a_verified_copy(tmp_path, manifests, run_cli, capsys):
    bomb = tmp_path / "www" / "bomb.zip"
    bomb.parent.mkdir()
    bomb.write_bytes(_zip_bomb(8 << 20))
    (manifests / "bomb.toml").write_text(f'name = "bomb"\n[[archive]]\nurl = "{bomb.as_uri()}"\n')
    assert run_cli("datasets", "fetch", "bomb") == 2
    err = capsys.readouterr().err
    assert "decompression bomb" in err and "verified" not in err
    assert not (manifests / "bomb" / datasets.LOCK_NAME).exists()
    assert sum(p.stat().st_size for p in (manifests / "bomb").rglob("*") if p.is_file()) == 0


# -- 3. bounded resources ---------------------------------------------------------------------------------
def test_jobs_are_capped_at_the_cpu_count_with_a_warning(tmp_path, photos, run_cli, capsys):
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--jobs", "1000",
                   "--out", tmp_path / "out") == 0
    cpus = len(os.sched_getaffinity(0))
    assert f"--jobs 1000 is more than the {cpus} CPUs available here; using {cpus}" in capsys.readouterr().err
    assert len(_rows(tmp_path / "out")) == 2


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one_are_refused(tmp_path, photos, run_cli, capsys, jobs):
    assert run_cli("run", "--images", photos, "--codec", "png", "--jobs", jobs, "--out", tmp_path / "out") == 2
    assert "jobs must be a whole number >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("sweep, message", [
    (["quality=1:100:0.0000001"], "would make 990000001 values, more than 10000"),
    (["quality=1:1e999999:1"], "values, more than 10000"),
    (["quality=1:nan:1"], "is not a finite number"),
    (["quality=1:100:1", "subsampling=" + ",".join(["4:2:0"] * 200)], "makes 20000 settings, more than 10000"),
])
def test_absurd_sweeps_are_refused_with_their_size_before_any_work(tmp_path, photos, run_cli, capsys, sweep, message):
    started = time.perf_counter()
    args = [arg for s in sweep for arg in ("--sweep", s)]
    assert run_cli("run", "--images", photos, "--codec", "jpeg", *args, "--out", tmp_path / "out") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert time.perf_counter() - started < 30  # refused from the count, nothing allocated per value


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A valid PNG signature and IHDR claiming ``width`` x ``height`` RGB, with a tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_an_image_over_the_memory_budget_is_an_error_row_stating_both(tmp_path, photos, run_cli):
    Image.fromarray(np.zeros((1000, 1200, 3), np.uint8)).save(photos / "big.png")
    out = tmp_path / "out"
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--out", out,
                   "--memory-budget", "16M") == 1
    rows = _rows(out)
    error = rows.loc["big.png", "error"]
    # 3 * 1200 * 1000 bytes x (6 base + 20 for PSNR) = 93,600,000 bytes = 89.3 MiB
    assert error.startswith("memory: a 1200x1000 image needs about 89 MiB") and "memory budget of 16 MiB" in error
    assert rows.loc["a.png", "error"] == "" and rows.loc["b.png", "psnr"] == np.inf


def test_a_decompression_bomb_header_is_an_error_row_not_a_dead_run(tmp_path, photos, run_cli):
    _png_header_only(photos / "bomb.png", 100_000, 100_000)
    out = tmp_path / "out"
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr,ms_ssim", "--out", out) == 1
    rows = _rows(out)
    assert "decompression bomb" in rows.loc["bomb.png", "error"]
    assert rows.loc["a.png", "error"] == ""
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--out", out,
                   "--memory-budget", "1T") == 1  # a budget cannot lift Pillow's bomb limit
    assert "decompression bomb" in _rows(out).loc["bomb.png", "error"]


def test_a_crash_at_jobs_1_is_one_error_row_and_the_run_goes_on(tmp_path, photos, plugin_dir, run_cli):
    (plugin_dir / "segv.py").write_text(textwrap.dedent('''
        import os, signal
        from rdpbench.codecs.api import Codec, Param

        class Segv(Codec):
            name = "segv"
            params = (Param("quality", "int", 1, "", low=0, high=9, rate=True),)

            def encode(self, image, setting):
                if image.shape[1] == 64:
                    os.kill(os.getpid(), signal.SIGSEGV)
                return image.tobytes()

            def decode(self, data, setting):
                import numpy as np
                return np.frombuffer(data, dtype=np.uint8).reshape(40, 40, 3)
    '''))
    out = tmp_path / "out"
    assert run_cli("run", "--images", photos, "--codec", "segv", "--metrics", "psnr", "--out", out, "--jobs", "1") == 1
    rows = _rows(out)
    assert "killed by signal 11" in rows.loc["a.png", "error"]
    assert rows.loc["b.png", "error"] == "" and rows.loc["b.png", "psnr"] == np.inf


def test_a_timed_out_tool_is_killed_with_its_whole_process_group(tmp_path):
    from rdpbench.codecs.api import CodecError
    from rdpbench.codecs.command_line import CommandLineCodec

    pid_file = tmp_path / "child.pid"
    script = tmp_path / "hang.sh"
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nwait\n")
    script.chmod(0o755)
    card = {"name": "hang", "timeout_s": 1, "encode": {"argv": [str(script), "{input}", "{output}"]},
            "decode": {"argv": [str(script)]}}
    with pytest.raises(CodecError, match="timed out after 1 s .its process group was killed"):
        CommandLineCodec(card, "test").encode(np.zeros((4, 4, 3), np.uint8), {})
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert not _alive(child)


def test_a_helper_that_left_the_tool_group_with_setsid_dies_with_the_call(tmp_path):
    """In a worker (a child subreaper), a helper that called setsid is killed when the call ends."""
    from rdpbench import lifetime

    pid_file = tmp_path / "helper.pid"
    script = tmp_path / "tool.sh"
    script.write_text(f"#!/bin/sh\nsetsid sleep 300 >/dev/null 2>&1 < /dev/null &\necho $! > {pid_file}\n")
    script.chmod(0o755)
    code = (f"from rdpbench import lifetime; from rdpbench.codecs.command_line import run_tool; import os; "
            f"lifetime.as_worker(os.getppid(), False); print(run_tool([{str(script)!r}], 30)[0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "0", done.stderr
    helper = int(pid_file.read_text())
    assert not _alive(helper)
    # outside a worker the helper is not this process's child to kill: the guard's business
    assert lifetime.ToolCall().__enter__().keep is None


def test_kill_9_of_a_run_leaves_no_worker_tool_or_setsid_helper_behind(tmp_path, plugin_dir):
    """kill -9 of the main `rdpbench run` while both workers wait on a slow tool whose helper called
    setsid: after 10 s no worker, tool or helper is left."""
    pids = tmp_path / "pids"
    pids.mkdir()
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), i * 40, np.uint8)).save(images / f"{i}.png")
    script = tmp_path / "slow-tool.sh"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo $$ > {pids}/tool.$$
        setsid sleep 300 >/dev/null 2>&1 < /dev/null &
        echo $! > {pids}/helper.$!
        sleep 300
    """))
    script.chmod(0o755)
    (plugin_dir / "slowtool.toml").write_text(textwrap.dedent(f"""\
        name = "slowtool"
        timeout_s = 300
        [encode]
        argv = ["{script}", "{{input}}", "{{output}}"]
        [decode]
        argv = ["{script}", "{{input}}", "{{output}}"]
    """))
    command = [sys.executable, "-m", "rdpbench", "run", "--images", str(images), "--codec", "slowtool",
               "--metrics", "psnr", "--out", str(tmp_path / "out"), "--jobs", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while len(list(pids.glob("helper.*"))) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert len(list(pids.glob("helper.*"))) == 2, process.stderr.read() if process.poll() is not None else "timeout"
    workers = [int(pid) for task in Path(f"/proc/{process.pid}/task").iterdir()
               for pid in (task / "children").read_text().split()]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    watched = workers + [int(path.name.split(".")[1]) for path in pids.iterdir()]
    assert len(watched) >= 6  # two workers (and the guard), two tools, two helpers
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in watched):
        time.sleep(0.1)
    assert [pid for pid in watched if _alive(pid)] == []  # within 10 s (usually well under a second)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


# -- 4. every failure an error row or one clear message -----------------------------------------------------
def test_dangling_and_looping_links_are_error_rows(tmp_path, photos, run_cli):
    (photos / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (photos / "loop.png").symlink_to(photos / "loop.png")
    (photos / "loopdir").symlink_to(photos)  # a linked folder is not followed: no endless listing
    out = tmp_path / "out"
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--out", out) == 1
    rows = _rows(out)
    assert rows.loc["dangling.png", "error"] == "input: dangling.png: dangling symlink (its target does not exist)"
    assert rows.loc["loop.png", "error"] == "input: loop.png: symlink loop"
    assert rows.loc["a.png", "error"] == ""


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their permissions")
def test_an_unreadable_file_is_an_error_row(tmp_path, photos, run_cli):
    (photos / "secret.png").write_bytes(b"x")
    (photos / "secret.png").chmod(0)
    out = tmp_path / "out"
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--out", out) == 1
    assert "permission denied" in _rows(out).loc["secret.png", "error"].lower()


def test_out_pointing_at_a_file_is_one_clear_message(tmp_path, photos, run_cli, capsys):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    assert run_cli("run", "--images", photos, "--codec", "png", "--out", target) == 2
    assert "give --out a folder you can write to" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_weights_fetch_into_a_file_is_one_clear_message(tmp_path, run_cli, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    target = tmp_path / "a-file"
    target.write_text("keep me")
    assert run_cli("weights", "fetch", "niqe_modelparameters.mat", "--weights-dir", target) == 2
    assert "give --weights-dir a folder you can write to" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_an_invalid_metric_option_is_refused_at_the_start(tmp_path, photos, run_cli, capsys):
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "lpips", "--option", "lpips.net=bogus",
                   "--out", tmp_path / "out") == 2
    assert "lpips: net must be one of alex, vgg" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders")
def test_a_read_only_out_is_one_clear_message(tmp_path, photos, run_cli, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    assert run_cli("run", "--images", photos, "--codec", "png", "--out", out) == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_a_damaged_store_is_refused_with_how_to_recover_and_left_untouched(tmp_path, photos, run_cli, capsys, damage):
    out = tmp_path / "out"
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--out", out) == 0
    store = out / "results.sqlite"
    if damage == "garbage":
        store.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        data = store.read_bytes()
        store.write_bytes(data[:4096] + b"\xff" * (len(data) - 4096))  # header kept, pages overwritten
    else:
        store.unlink()
        with sqlite3.connect(store) as db:
            db.execute("CREATE TABLE important (x)")
            db.execute("INSERT INTO important VALUES (42)")
        (out / "results.sqlite-wal").unlink(missing_ok=True)
    before = store.read_bytes()
    csv = (out / "per_image.csv").read_bytes()
    assert run_cli("run", "--images", photos, "--codec", "webp", "--metrics", "psnr", "--out", out) == 2
    err = capsys.readouterr().err
    assert "is damaged or not a results store" in err and "fresh --out" in err and "per_image.csv" in err
    assert "Traceback" not in err
    assert store.read_bytes() == before and (out / "per_image.csv").read_bytes() == csv


@pytest.mark.parametrize("config, message", [
    ('metricz = ["psnr"]', "unknown key 'metricz'; did you mean 'metrics'?"),
    ('metrics = "psnr"', 'metrics must be a list'),
    ("jobs = \"2\"", "jobs must be an integer"),
    ("jobs = true", "jobs must be an integer"),
    ('device = "gpu"', "device must be one of cpu, cuda"),
    ('memory_budget = "lots"', "give a size such as 4G"),
    ('[[codec]]\nname = "png"\nlabl = "x"', "unknown key 'labl'; did you mean 'label'?"),
    ('[[codec]]\nname = "png"\noptional = "yes"', "optional must be true/false"),
    ('[[codec]]\nname = "jpeg"\nsweep = { quality = "1:100:0.0000001" }', "more than 10000"),
])
def test_config_mistakes_are_errors_with_what_to_change(tmp_path, photos, run_cli, capsys, config, message):
    path = tmp_path / "bench.toml"
    path.write_text(config + "\n")
    assert run_cli("run", path, "--images", photos, "--codec", "png", "--out", tmp_path / "out") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda_is_refused_at_the_start(tmp_path, photos, run_cli, capsys):
    assert run_cli("run", "--images", photos, "--codec", "png", "--device", "cuda", "--out", tmp_path / "out") == 2
    assert "--device cuda: torch" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_failing_original_does_not_stop_the_reference_stage(tmp_path):
    from rdpbench.stages import originals_here

    tiny = _png(tmp_path / "tiny.png")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    good = _png(tmp_path / "good.png")

    def compute(state, argument, image):
        if image.shape[0] < 2:
            raise ValueError("too small for this metric")
        return np.float64(image.mean())

    assert originals_here(None, compute, None, {"tiny": tiny, "good": good}, "test") == {"good": 7.0}


# -- 5. interrupts -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_is_recorded_quietly_and_resumes_without_loss(tmp_path, plugin_dir, how):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(8):
        Image.fromarray(np.full((16, 16, 3), i, np.uint8)).save(images / f"{i}.png")
    (plugin_dir / "slow.py").write_text(textwrap.dedent('''
        import time
        from rdpbench.codecs.api import Codec

        class Slow(Codec):
            name = "slow"

            def encode(self, image, setting):
                time.sleep(0.4)
                return image.tobytes()

            def decode(self, data, setting):
                import numpy as np
                return np.frombuffer(data, dtype=np.uint8).reshape(16, 16, 3)
    '''))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rdpbench", "run", "--images", str(images), "--codec", "slow",
               "--metrics", "psnr", "--out", str(out), "--jobs", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            with sqlite3.connect(out / "results.sqlite") as db:
                if db.execute("SELECT COUNT(*) FROM rows").fetchone()[0] >= 2:
                    break
        except sqlite3.OperationalError:
            pass
    os.killpg(process.pid, how)  # the whole group, as a terminal's Ctrl-C or a scheduler's SIGTERM does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
        kept = db.execute("SELECT image, bytes FROM rows").fetchall()
        assert db.execute("SELECT COUNT(*) FROM rows WHERE error IS NOT NULL").fetchone() == (0,)
    assert 2 <= len(kept) < 8
    assert subprocess.run(command, capture_output=True).returncode == 0
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT image, bytes FROM rows").fetchall()
        assert [s for (s,) in db.execute("SELECT status FROM runs ORDER BY run_id")] == ["interrupted", "finished"]
    assert len(rows) == 8 and set(kept) <= set(rows)


def test_metric_names_from_a_store_never_name_files_outside_the_report(tmp_path, run_cli):
    """A results folder is input: its recorded metric columns (names, labels, decimals) come from
    whoever wrote it. Figures named after them stay inside the report folder, a billion decimals are
    read as 12, and a label is text everywhere: HTML escaped in the page, "$" not TeX in figures,
    "|" escaped in Markdown tables."""
    from metadata import record_metrics
    from rdpbench.columns import Column
    from rdpbench.store import ResultsStore
    from rdpbench.tasks import MetricValue, Task, TaskResult

    hostile = "../../escaped"
    with ResultsStore(tmp_path / "results") as store:
        run_id = store.start_run("2026-01-01T00:00:00", "rdpbench run", {}, {}, "", "host")
        record_metrics(store, run_id, "psnr")
        store.record_metric(run_id, hostile, "", {}, [], [Column(hostile, "<b>label</b> $x^$ | y", decimals=10**9, metric=hostile,
                                                                 kind="paired")], 99)
        for index, bpp in enumerate((0.5, 1.0)):
            task = Task("jpeg", "jpeg", f"q={index}", (), "a.png", "a.png", ("psnr", hostile))
            store.write_result(TaskResult(task, 8, 8, int(bpp * 8), bpp, 0.0, 0.0,
                                          {"psnr": MetricValue(30.0 + index), hostile: MetricValue(1.0 + index)}), run_id)
    report = tmp_path / "deep" / "report"
    assert run_cli("report", tmp_path / "results", "--out", report) == 0
    assert not (tmp_path / "escaped.svg").exists() and not list(tmp_path.glob("*escaped*"))
    assert (report / "rd_.._.._escaped.svg").is_file()
    assert "<b>label</b>" not in (report / "index.html").read_text()  # escaped in the page
    markdown = (report / "summary.md").read_text()
    assert "| 2.000000000000 |" in markdown and "<b>label</b> $x^$ \\| y" in markdown


# -- 6. a received study folder is untrusted input ------------------------------------------------------------
@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A small round-robin study with two simulated raters' answers (read-only: tests copy it)."""
    import study_fixtures
    from rdpbench.cli import main

    folder = tmp_path_factory.mktemp("adversarial-study")
    results = study_fixtures.make_results(folder)
    assert main(["study", "create", str(results), "--out", str(folder / "study"), "--design", "round-robin",
                 "--entries", "jpeg:quality=10,jpeg:quality=60", "--probes", "1", "--seed", "3"]) == 0
    assert main(["study", "simulate", str(folder / "study"), "--raters", "2", "--model", "metric:psnr",
                 "--seed", "1"]) == 0
    return folder / "study"


def _received(study: Path, tmp_path: Path, edit=None, raw: bytes | None = None) -> Path:
    """A copy of ``study`` whose study.json is ``edit``ed (a function of the parsed design) or replaced by ``raw``."""
    import json
    import shutil

    copy = tmp_path / "received" / "study"
    shutil.copytree(study, copy)
    path = copy / "study.json"
    path.chmod(0o644)
    if raw is None:
        design = json.loads(path.read_text())
        edit(design)
        raw = json.dumps(design).encode()
    path.write_bytes(raw)
    (copy / "responses.sqlite").unlink()  # answers of the original design would be refused as such
    for name in ("responses.sqlite-wal", "responses.sqlite-shm"):
        (copy / name).unlink(missing_ok=True)
    return copy


def _rename_pictures(design: dict, new: str) -> None:
    old = design["trials"][0]["original"]
    design["files"][new] = design["files"].pop(old)
    for trial in design["trials"]:
        for key in ("original", "a_file", "b_file"):
            trial[key] = new if trial[key] == old else trial[key]


STUDY_COMMANDS = [("status",), ("export",), ("analyze",), ("simulate", "--raters", "1", "--model", "metric:psnr"),
                  ("export-static", "OUT"), ("import", "ANSWERS"), ("serve", "--port", "1")]


@pytest.mark.parametrize("damage", [
    b"\x00garbage{", b"[1, 2]", b'{"format": "rdpbench-study/1"}', b"[" * 100_000, b'"just a string"',
    "no trials", "trials not a list", "picture name leading out", "absolute picture name", "unknown entry",
    "seed a string", "trial not an object", "unmatched row not an object"])
def test_a_damaged_or_hostile_study_json_is_one_clear_error_in_every_study_command(
        study, tmp_path, run_cli, capsys, damage):
    edits = {
        "no trials": lambda d: d.pop("trials"),
        "trials not a list": lambda d: d.update(trials={"t": 1}),
        "picture name leading out": lambda d: _rename_pictures(d, "../../../escaped.png"),
        "absolute picture name": lambda d: _rename_pictures(d, str(tmp_path / "escaped.png")),
        "unknown entry": lambda d: d["trials"][0].update(a="nobody:q=1"),
        "seed a string": lambda d: d.update(seed="7"),
        "trial not an object": lambda d: d["trials"].append(5),
        "unmatched row not an object": lambda d: d.update(unmatched=[{"image": "a.png", "setting": 3}]),
    }
    received = (_received(study, tmp_path, raw=damage) if isinstance(damage, bytes)
                else _received(study, tmp_path, edit=edits[damage]))
    (tmp_path / "answers.json").write_text("{}")
    before = _files_under(tmp_path)
    for command in STUDY_COMMANDS:
        arguments = [str(tmp_path / "static") if a == "OUT" else str(tmp_path / "answers.json") if a == "ANSWERS"
                     else a for a in command[1:]]
        extra = ["--out", str(tmp_path / "analysis")] if command[0] == "analyze" else []
        assert run_cli("study", command[0], received, *arguments, *extra) == 2, command
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "Traceback" not in error, (command, error)
        assert "study.json" in error and ("damaged" in error or "no such" in error), (command, error)
    assert _files_under(tmp_path) - before <= {received / "responses.sqlite", received / "responses.sqlite-wal",
                                               received / "responses.sqlite-shm"}
    assert not list(tmp_path.rglob("escaped*"))


def test_analyze_and_export_static_write_only_inside_their_out_folder(study, tmp_path, run_cli):
    """Even a picture name that passed the schema is joined through the path rule: the outputs
    name only files under --out."""
    outputs = tmp_path / "outputs"
    assert run_cli("study", "analyze", study, "--out", outputs / "analysis") == 0
    assert run_cli("study", "export-static", study, outputs / "static", "--raters", "1") == 0
    from rdpbench.study import design as designs

    with pytest.raises(designs.StudyError, match="must stay inside"):
        designs.picture(outputs, "../escaped.png")
    written = [p.resolve() for p in tmp_path.rglob("*")]
    assert all(p.is_relative_to(outputs.resolve()) or p == outputs.resolve() for p in written)


# -- 7. one answer per trial, bounded JSON, clear server errors ------------------------------------------------
def _asgi(app, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP request through the ASGI app, in process (status, body)."""
    import asyncio

    sent, received = [], [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return received.pop(0) if received else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_two_different_answers_to_one_trial_at_once_record_one_and_refuse_the_other(study, tmp_path):
    """Both requests pass the "not answered yet" check before either is stored (forced here); exactly
    one is recorded and the other gets 409 instead of a silent 200."""
    import shutil
    import threading

    from rdpbench.study.session import RequestError, Session

    shutil.copytree(study, tmp_path / "study")
    session = Session(tmp_path / "study")
    rater = session.register("web")
    shown, _, _ = session.progress(rater)
    both_checked = threading.Barrier(2)
    answered = session.responses.answered

    def answered_then_wait(who):
        state = answered(who)
        both_checked.wait(timeout=10)
        return state

    session.responses.answered = answered_then_wait
    outcomes = {}

    def answer(choice):
        try:
            outcomes[choice] = session.answer(rater, shown.key, choice)
        except RequestError as error:
            outcomes[choice] = error.status

    threads = [threading.Thread(target=answer, args=(choice,)) for choice in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session.responses.answered = answered
    assert sorted(outcomes.values(), key=str) == [409, True], outcomes
    winner = next(choice for choice, outcome in outcomes.items() if outcome is True)
    assert session.responses.answered(rater) == {shown.trial["id"]: winner}
    assert session.answer(rater, shown.key, winner) is False  # the same answer again: idempotent


def test_the_answer_endpoint_bounds_json_depth_before_parsing_and_refuses_a_conflict(study, tmp_path):
    import json
    import shutil

    from rdpbench.study.webapp import create_app

    shutil.copytree(study, tmp_path / "study")
    app = create_app(tmp_path / "study")
    status, body = _asgi(app, "POST", "/start")
    assert status == 303
    from rdpbench.study.session import Session

    session = Session(tmp_path / "study")
    rater = session.responses.raters()[-1][0]
    before = session.responses.answers()
    for nested in (b"[" * 4000, b'{"key": ' + b"[" * 2000 + b"]" * 2000 + b"}", b"\xff\xfe"):
        status, body = _asgi(app, "POST", f"/api/{rater}/answer", nested)
        assert status == 400 and b"error" in body, (status, body[:200])
    shown, _, _ = session.progress(rater)
    assert _asgi(app, "POST", f"/api/{rater}/answer", json.dumps({"key": shown.key, "choice": "left"}).encode())[0] == 200
    assert _asgi(app, "POST", f"/api/{rater}/answer", json.dumps({"key": shown.key, "choice": "left"}).encode())[0] == 200
    status, body = _asgi(app, "POST", f"/api/{rater}/answer", json.dumps({"key": shown.key, "choice": "right"}).encode())
    assert status == 409
    assert len(session.responses.answers()) == len(before) + 1
    assert session.responses.answered(rater) == {shown.trial["id"]: "left"}


def test_study_import_bounds_json_and_refuses_a_conflicting_answer(study, tmp_path, run_cli, capsys):
    import json
    import shutil

    from rdpbench.study.session import Session

    shutil.copytree(study, tmp_path / "study")
    static = tmp_path / "static"
    assert run_cli("study", "export-static", tmp_path / "study", static, "--raters", "1") == 0
    session = Session(tmp_path / "study")
    rater = session.responses.raters()[-1][0]
    order = session.order(rater)
    document = {"format": "rdpbench-study-answers/1", "study_id": session.design["study_id"], "rater": rater}
    files = {"deep": b"[" * 100_000 + b"]" * 100_000, "not json": b"\x00\x01",
             "deep answers": json.dumps({**document, "answers": [[[[{"key": order[0].key}]]]]}).encode()}
    for name, data in files.items():
        (tmp_path / "answers.json").write_bytes(data)
        capsys.readouterr()
        assert run_cli("study", "import", tmp_path / "study", tmp_path / "answers.json") == 2, name
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "Traceback" not in error, (name, error)
    first = {"key": order[0].key, "choice": "left"}
    (tmp_path / "answers.json").write_text(json.dumps({**document, "answers": [first]}))
    assert run_cli("study", "import", tmp_path / "study", tmp_path / "answers.json") == 0
    stored = session.responses.answers()
    (tmp_path / "answers.json").write_text(json.dumps({**document, "answers": [{**first, "choice": "right"}]}))
    assert run_cli("study", "import", tmp_path / "study", tmp_path / "answers.json") == 2
    assert "other answer" in capsys.readouterr().err
    assert session.responses.answers() == stored


def test_study_serve_on_a_taken_port_or_a_bad_host_is_one_clear_error(study, run_cli, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host, port_text, expected in [("127.0.0.1", str(port), "Address already in use"),
                                          ("no-such-host.invalid", "8000", "--host"),
                                          ("127.0.0.1", "70000", "--port"), ("127.0.0.1", "0", "--port"),
                                          ("192.0.2.1", "8000", "--host")]:
            assert run_cli("study", "serve", study, "--host", host, "--port", port_text) == 2, host
            error = capsys.readouterr().err
            assert error.count("\n") == 1 and expected in error and "Traceback" not in error, error


# -- 8. every remaining bad input: one line, exit 2 (or an error row with its real cause), nothing partial ----
def _zip_with(data: bytes, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr("ok.png", _png_bytes_of(3))
        archive.writestr("img/victim.png", data)
    return buffer.getvalue()


def _png_bytes_of(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _understated_zip() -> bytes:
    """A stored member whose local and central headers claim 10 bytes while 4,000 follow."""
    data = _zip_with(bytes(range(256)) * 16, zipfile.ZIP_STORED)
    size = struct.pack("<I", 4096)
    central = data.rindex(b"img/victim.png") - 46  # the member's central directory record
    local = data.index(b"img/victim.png") - 30
    patched = bytearray(data)
    for offset in (local + 22, central + 24):  # uncompressed size fields
        assert patched[offset:offset + 4] == size
        patched[offset:offset + 4] = struct.pack("<I", 10)
    return bytes(patched)


def _corrupt_zip() -> bytes:
    data = bytearray(_zip_with(np.random.default_rng(0).integers(0, 4, 50_000, dtype=np.uint8).tobytes()))
    start = data.index(b"img/victim.png") + len(b"img/victim.png")
    for offset in range(start + 40, start + 400, 7):
        data[offset] ^= 0xFF
    return bytes(data)


def _truncated_targz() -> bytes:
    rng = np.random.default_rng(1)
    members = [(_info(f"img/{i}.png"), rng.integers(0, 256, 30_000, dtype=np.uint8).tobytes()) for i in range(4)]
    data = _tar(members)
    return data[: len(data) * 2 // 3]


@pytest.mark.parametrize("make, suffix", [(_understated_zip, "zip"), (_corrupt_zip, "zip"),
                                          (_truncated_targz, "tar.gz")])
def test_a_damaged_archive_is_one_clear_error_and_leaves_no_partial_file(tmp_path, manifests, run_cli, capsys,
                                                                         make, suffix):
    archive = tmp_path / "www" / f"data.{suffix}"
    archive.parent.mkdir()
    archive.write_bytes(make())
    with pytest.raises(DatasetError, match="damaged|larger than its header"):
        extract_archive(archive, tmp_path / "direct")
    assert [p for p in (tmp_path / "direct").rglob("*")] == []
    (manifests / "broken.toml").write_text(f'name = "broken"\n[[archive]]\nurl = "{archive.as_uri()}"\n')
    assert run_cli("datasets", "fetch", "broken") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error and "nothing was extracted" in error, error
    assert [p for p in (manifests / "broken").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("field", ["sha256 = 5", "sha256 = true", 'sha256 = "abc"', "md5 = [1]"])
def test_a_manifest_with_a_hash_that_is_not_hex_text_is_refused(tmp_path, manifests, run_cli, capsys, field):
    (manifests / "odd.toml").write_text(f'name = "odd"\n[[file]]\nname = "a.png"\nurl = "file:///x"\n{field}\n')
    assert run_cli("datasets", "fetch", "odd") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "hex digits" in error and "Traceback" not in error, error


def test_datasets_fetch_from_a_missing_folder_or_file_never_downloads(tmp_path, manifests, run_cli, capsys, serve):
    www = tmp_path / "www"
    www.mkdir()
    (www / "a.png").write_bytes(_png_bytes_of(5))
    url = f"{serve(www)}/a.png"
    (manifests / "one.toml").write_text(f'name = "one"\n[[file]]\nname = "a.png"\nurl = "{url}"\n')
    assert run_cli("datasets", "fetch", "one", "--from", tmp_path / "missing") == 2
    assert "--from" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli("datasets", "fetch", "one", "--from", tmp_path / "empty") == 2
    assert "no file a.png there" in capsys.readouterr().err
    assert not (manifests / "one" / "a.png").exists()
    assert run_cli("datasets", "fetch", "one", "--from", www) == 0  # the file there is used
    assert (manifests / "one" / "a.png").read_bytes() == (www / "a.png").read_bytes()


@pytest.mark.parametrize("content", [b"not json at all", b"[1, 2, 3]", b'{"results": {"bpp": "x"}}',
                                     b'{"results": {"bpp": [true, 1]}}', b"[" * 10_000, b"\xff\xfe\x00"])
def test_report_import_of_a_file_that_is_not_compressai_results_is_one_clear_error(tmp_path, run_cli, capsys,
                                                                                   photos, content):
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--out", tmp_path / "r") == 0
    (tmp_path / "theirs.json").write_bytes(content)
    capsys.readouterr()
    assert run_cli("report", tmp_path / "r", "--out", tmp_path / "report", "--import", tmp_path / "theirs.json") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--import" in error and "Traceback" not in error, error


def test_out_inside_images_is_refused_the_first_time(tmp_path, photos, run_cli, capsys):
    out = photos / "results"
    for _ in range(2):  # the same answer every time, nothing written
        assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--out", out,
                       "--save-recon") == 2
        error = capsys.readouterr().err
        assert "inside --images" in error and error.count("\n") == 1
        assert not out.exists()


@pytest.mark.parametrize("table", ['sweep = { quality = true }', 'options = { quality = false }'])
def test_a_boolean_for_a_number_in_a_config_is_refused(tmp_path, photos, run_cli, capsys, table):
    config = tmp_path / "bench.toml"
    config.write_text(f'metrics = ["psnr"]\n[[codec]]\nname = "jpeg"\n{table}\n')
    assert run_cli("run", config, "--images", photos, "--out", tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert "is a boolean, not a number" in error and error.count("\n") == 1, error


def test_per_image_csv_writes_integers_as_integers_beside_error_rows(tmp_path, photos, run_cli):
    (photos / "broken.png").write_bytes(b"not a png")
    assert run_cli("run", "--images", photos, "--codec", "png", "--metrics", "psnr", "--out", tmp_path / "out") == 1
    lines = (tmp_path / "out" / "per_image.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = {line.split(",")[header.index("image")]: line.split(",") for line in lines[1:]}
    good = rows["a.png"]
    assert [good[header.index(c)] for c in ("width", "height")] == ["64", "48"]
    assert good[header.index("bytes")].isdigit() and int(good[header.index("bytes")]) > 0
    assert [rows["broken.png"][header.index(c)] for c in ("width", "height", "bytes")] == ["", "", ""]


@pytest.mark.skipif(not IS_ROOT, reason="mounting a small tmpfs to fill needs root")
def test_a_full_disk_is_an_error_row_with_its_cause_and_a_plain_rerun_retries_it(tmp_path, run_cli):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):  # incompressible 64x64 pictures: each reconstruction PNG is about 12 KB
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / f"{i}.png")
    out = tmp_path / "out"
    recon = out / "recon"
    recon.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(recon)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        assert run_cli("run", "--images", images, "--codec", "png", "--metrics", "psnr", "--out", out,
                       "--save-recon") == 1
        errors = _rows(out)["error"]
        full = errors[errors != ""]
        assert len(full) >= 1 and all("No space left on device" in e for e in full), errors.tolist()
        assert all(e.startswith("retried by the next run: output: OSError") for e in full)
    finally:
        subprocess.run(["umount", "-l", str(recon)], check=True)
    assert run_cli("run", "--images", images, "--codec", "png", "--metrics", "psnr", "--out", out,
                   "--save-recon") == 0  # a plain re-run, space freed: those rows are computed again
    rows = _rows(out)
    assert len(rows) == 3 and (rows["error"] == "").all() and (rows["psnr"] == np.inf).all()
    assert len(list((out / "recon").rglob("*.png"))) == 3
