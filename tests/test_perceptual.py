"""LPIPS, DISTS, NIQE, FID/KID on patches: equal to the reference libraries on identical inputs and
(stand-in) weights, computed once where the protocol says once, failing fast without weights."""

import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image

import standins
from rdpbench.features.patches import patch_origins
from conftest import real_niqe_parameters
from rdpbench.weights import Weights, WeightsError


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """Stand-ins for every metric weight file (the NIQE parameters are the real ones where present)."""
    folder = tmp_path_factory.mktemp("weights")
    standins.inception(folder)
    standins.alexnet(folder)
    standins.dists(folder, standins.vgg16(folder))
    if real_niqe_parameters():
        shutil.copy(real_niqe_parameters(), folder)
    return folder


@pytest.fixture
def images(tmp_path):
    """Three natural photos of 640x400: 2 grid + 2 shifted patches each."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name, photo in [("astronaut", skimage.data.astronaut()), ("coffee", skimage.data.coffee()),
                        ("motorcycle", skimage.data.stereo_motorcycle()[0])]:
        Image.fromarray(np.ascontiguousarray(np.resize(photo, (400, 640, 3)) if photo.shape[0] < 400 else
                                             photo[:400, :640] if photo.shape[1] >= 640 else
                                             np.pad(photo[:400], ((0, 0), (0, 640 - photo.shape[1]), (0, 0)),
                                                    mode="reflect"))).save(folder / f"{name}.png")
    return folder


def _run(run_cli, images, out, weights_dir, metrics, *extra):
    return run_cli("run", "--images", images, "--codec", "jpeg", "--sweep", "quality=10,60", "--metrics", metrics,
                   "--out", out, "--weights-dir", weights_dir, "--allow-unverified-weights", "--save-recon", *extra)


@pytest.mark.parametrize("height, width, count", [(512, 768, 8), (768, 512, 8), (1365, 2048, 68), (300, 300, 1),
                                                  (383, 1000, 3), (255, 1000, 0)])
def test_patch_counts_follow_hifics_protocol(height, width, count):
    assert len(patch_origins(height, width)) == count


def _patches(image: np.ndarray) -> list[np.ndarray]:
    """HiFiC's protocol written out independently: grid, then the grid of the image shifted by 128."""
    out = [image[y:y + 256, x:x + 256] for y in range(0, image.shape[0] - 255, 256)
           for x in range(0, image.shape[1] - 255, 256)]
    if min(image.shape[:2]) >= 384:
        out += _patches(image[128:, 128:])[:len(range(0, image.shape[0] - 128 - 255, 256))
                                            * len(range(0, image.shape[1] - 128 - 255, 256))]
    return out


def test_fid_and_kid_equal_torch_fidelity_on_the_same_patches(tmp_path, images, weights_dir, run_cli):
    import torch_fidelity

    out = tmp_path / "out"
    assert _run(run_cli, images, out, weights_dir, "fid,kid") == 0
    summary = pd.read_csv(out / "summary.csv").set_index("setting")
    for setting in ("quality=10", "quality=60"):
        folders = {"original": tmp_path / f"{setting}-original", "recon": tmp_path / f"{setting}-recon"}
        for folder in folders.values():
            folder.mkdir()
        for path in sorted(images.iterdir()):
            for kind, source in (("original", path), ("recon", out / "recon" / "jpeg" / setting / path.name)):
                for index, patch in enumerate(_patches(np.asarray(Image.open(source).convert("RGB")))):
                    Image.fromarray(patch).save(folders[kind] / f"{path.stem}-{index}.png")
        n = len(list(folders["original"].iterdir()))
        assert summary.loc[setting, "n_patches"] == n == 12
        reference = torch_fidelity.calculate_metrics(
            input1=str(folders["original"]), input2=str(folders["recon"]), fid=True, kid=True, kid_subset_size=n,
            feature_extractor_weights_path=str(weights_dir / "weights-inception-2015-12-05-6726825d.pth"),
            cuda=False, verbose=False)
        # 12 patches: torch-fidelity's eigenvalues of the rank-12 2048x2048 product carry ~1e-8 of rounding noise
        # in each of the 2036 null eigenvalues' square roots (~4e-5 in FID); rdpbench's exact n x n route does not
        assert summary.loc[setting, "fid"] == pytest.approx(reference["frechet_inception_distance"], rel=1e-4, abs=1e-4)
        assert summary.loc[setting, "kid"] == pytest.approx(reference["kernel_inception_distance_mean"], rel=1e-4, abs=1e-7)
        assert summary.loc[setting, "patch_protocol"] == "inception-v3-compat-2048/patch256-shift128"
        assert "small sample" in summary.loc[setting, "distribution_note"]
    assert summary.loc["quality=10", "fid"] > summary.loc["quality=60", "fid"] > 0
    # the originals' features are kept in the store, so the report bootstraps FID/KID without Inception
    from rdpbench.report.intervals import Bootstrap, distribution_intervals
    from rdpbench.store import ResultsStore

    with ResultsStore(out, read_only=True) as store:
        kept = store.original_features("inception-v3-compat-2048/patch256-shift128")
        assert sum(len(features) for features in kept.values()) == 12
        found = distribution_intervals(store, Bootstrap(50, 0)).set_index(["setting", "column"])
    assert (found.loc[("quality=10", "fid"), "ci_low"] < found.loc[("quality=10", "fid"), "ci_high"])


def test_fid_of_a_set_with_itself_is_zero(tmp_path, images, weights_dir, run_cli):
    out = tmp_path / "out"
    assert run_cli("run", "--images", images, "--codec", "png", "--metrics", "fid,kid", "--out", out,
                   "--weights-dir", weights_dir, "--allow-unverified-weights") == 0
    summary = pd.read_csv(out / "summary.csv")
    assert abs(summary.loc[0, "fid"]) < 1e-3  # float error only (JPEG quality 10 on these: about 0.1)
    assert summary.loc[0, "kid"] <= 0  # KID's unbiased estimator is slightly negative for identical sets


def test_inception_sees_k_plus_1_times_n_images_and_reuses_the_originals(tmp_path, images, weights_dir, run_cli,
                                                                           monkeypatch):
    from rdpbench.features.base import FeatureExtractor

    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "cache"))
    calls = []
    original = FeatureExtractor.image_features
    monkeypatch.setattr(FeatureExtractor, "image_features",
                        lambda self, image, *protocol: calls.append(1) or original(self, image, *protocol))
    # originals in this process, reconstructions in the worker processes (one stored row each)
    assert _run(run_cli, images, tmp_path / "a", weights_dir, "fid,kid") == 0
    assert len(calls) == 3  # n = 3 originals once, FID and KID share one pass
    with sqlite3.connect(tmp_path / "a" / "results.sqlite") as db:  # k * n = 2 * 3, kept for recomputation
        assert db.execute("SELECT COUNT(*), SUM(n_patches) FROM features").fetchone() == (6, 24)
    calls.clear()
    assert run_cli("run", "--images", images, "--codec", "webp", "--sweep", "quality=50", "--metrics", "fid",
                   "--out", tmp_path / "b", "--weights-dir", weights_dir, "--allow-unverified-weights") == 0
    assert len(calls) == 0  # originals come from the cache: only the new setting's reconstructions
    with sqlite3.connect(tmp_path / "b" / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM features").fetchone() == (3,)


def test_lpips_equals_the_lpips_package(tmp_path, images, weights_dir, run_cli, monkeypatch):
    import lpips

    out = tmp_path / "out"
    assert _run(run_cli, images, out, weights_dir, "lpips") == 0
    monkeypatch.setenv("TORCH_HOME", str(standins.torch_home_with(tmp_path / "torch",
                                                                   [weights_dir / "alexnet-owt-7be5be79.pth"])))
    reference = lpips.LPIPS(net="alex", version="0.1", verbose=False)
    rows = pd.read_csv(out / "per_image.csv")
    for row in rows.itertuples():
        original = lpips.im2tensor(lpips.load_image(str(images / row.image)))
        recon = lpips.im2tensor(lpips.load_image(str(out / "recon" / "jpeg" / row.setting / row.image)))
        assert row.lpips == pytest.approx(reference(original, recon).item(), abs=1e-6)


def test_dists_equals_pyiqa(tmp_path, images, weights_dir, run_cli, monkeypatch):
    import pyiqa

    out = tmp_path / "out"
    assert _run(run_cli, images, out, weights_dir, "dists") == 0
    monkeypatch.setenv("TORCH_HOME", str(standins.torch_home_with(tmp_path / "torch",
                                                                   [weights_dir / "vgg16-397923af.pth"])))
    reference = pyiqa.create_metric("dists", device="cpu",
                                    pretrained_model_path=str(weights_dir / "DISTS_weights-f5e65c96.pth"))
    for row in pd.read_csv(out / "per_image.csv").itertuples():
        expected = reference(str(out / "recon" / "jpeg" / row.setting / row.image), str(images / row.image)).item()
        assert row.dists == pytest.approx(expected, abs=1e-6)


def test_niqe_pyiqa_with_the_official_parameters_equals_pyiqa_for_originals_and_reconstructions(
        tmp_path, images, weights_dir, run_cli, niqe_parameters):
    import pyiqa

    out = tmp_path / "out"
    assert _run(run_cli, images, out, weights_dir, "niqe_pyiqa") == 0
    reference = pyiqa.create_metric("niqe", device="cpu", pretrained_model_path=str(niqe_parameters))
    originals = pd.read_csv(out / "originals.csv").set_index("image")
    for path in images.iterdir():
        assert originals.loc[path.name, "niqe_pyiqa"] == pytest.approx(reference(str(path)).item(), abs=1e-9)
    rows = pd.read_csv(out / "per_image.csv")
    for row in rows.itertuples():
        expected = reference(str(out / "recon" / "jpeg" / row.setting / row.image)).item()
        assert row.niqe_pyiqa == pytest.approx(expected, abs=1e-9)
    low, high = (rows[rows.setting == s].niqe_pyiqa.mean() for s in ("quality=10", "quality=60"))
    assert low > high > 0  # blockier images look less natural


def test_missing_weights_fail_fast_naming_every_file(tmp_path, images, run_cli, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    out = tmp_path / "out"
    assert run_cli("run", "--images", images, "--codec", "jpeg", "--metrics", "psnr,lpips,fid",
                   "--out", out, "--weights-dir", tmp_path / "nothing") == 2
    err = capsys.readouterr().err
    assert "missing weight file alexnet-owt-7be5be79.pth" in err
    assert "missing weight file weights-inception-2015-12-05-6726825d.pth" in err
    assert not out.exists()  # nothing ran


def test_a_file_with_the_wrong_hash_is_refused_unless_allowed(tmp_path, weights_dir, images, run_cli, capsys):
    with pytest.raises(WeightsError, match="does not match the expected 7be5be791159472b.* .*download.pytorch.org"):
        Weights(weights_dir).locate("alexnet-owt-7be5be79.pth")
    assert run_cli("run", "--images", images, "--codec", "jpeg", "--metrics", "lpips", "--out", tmp_path / "o",
                   "--weights-dir", weights_dir) == 2
    assert "--allow-unverified-weights" in capsys.readouterr().err
    assert _run(run_cli, images, tmp_path / "ok", weights_dir, "lpips") == 0
    with sqlite3.connect(tmp_path / "ok" / "results.sqlite") as db:
        versions = db.execute("SELECT versions FROM runs").fetchone()[0]
    assert '"alexnet-owt-7be5be79.pth": {"sha256": ' in versions and '"verified": false' in versions


def test_weights_fetch_downloads_verifies_and_refuses_corruption(tmp_path, monkeypatch, run_cli, serve,
                                                                 niqe_parameters):
    served = tmp_path / "mirror"
    served.mkdir()
    shutil.copy(niqe_parameters, served)
    monkeypatch.setenv("RDPBENCH_WEIGHTS_MIRROR", serve(served))
    target = tmp_path / "weights"
    assert run_cli("weights", "fetch", "niqe_modelparameters.mat", "--weights-dir", target) == 0
    assert (target / "niqe_modelparameters.mat").read_bytes() == niqe_parameters.read_bytes()
    (served / "niqe_modelparameters.mat").write_bytes(b"corrupted")
    assert run_cli("weights", "fetch", "niqe_modelparameters.mat", "--weights-dir", tmp_path / "other") == 2
    assert not any((tmp_path / "other").iterdir())  # the bad download was not kept
