"""FD-DINOv2, CMMD, precision and recall, and their feature extractors, against independent
references on identical inputs:

- the metrics' maths on the same feature arrays: torch-fidelity's FID statistics, CMMD's formula
  in NumPy and the reference's ``mmd`` (google-research cmmd/distance.py) transcribed with NumPy
  for jax.numpy, torch-fidelity's ``prc_features_to_metric`` and the k-NN definition in NumPy;
- the extractors on stand-in weights (tests/standins.py: the real widths and file formats, one
  transformer block instead of 24; full-depth ViT-L stand-ins take about a minute and 3-5 GB each on
  a 2-core machine, and one block runs the same code): DINOv2 against dgm-eval's transform and
  DINOv2's forward pass written out from Meta's code; CLIP against torch-fidelity's own extractor
  (which loads the TorchScript file itself) and CMMD's preprocessing written out from its
  io_util/embedding.

Metric values agree to 1e-6 relative; features to 1e-5 of their largest magnitude (float32
networks against float64 or differently fused float32 references).
"""

import math
import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import standins
from rdpbench.context import RunContext
from rdpbench.features.preprocessing import pil_bicubic
from rdpbench.features.registry import create_extractor
from rdpbench.metrics.base import MetricOptionError
from rdpbench.metrics.registry import create_metric
from rdpbench.hashing import sha256_file
from rdpbench.weights import KNOWN, LocatedWeight, Weights, WeightsError, load_torchscript_tensors


def _sets(n1, n2, dimension, shift, seed):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dimension, dimension)).astype(np.float32) / np.sqrt(dimension)
    first = rng.normal(size=(n1, dimension)).astype(np.float32) @ mixing
    second = (rng.normal(size=(n2, dimension)).astype(np.float32) + shift) @ mixing
    return first, second


# ---------------------------------------------------------------------------------------------- metrics

@pytest.mark.parametrize("n1, n2, dimension", [(300, 260, 64), (150, 120, 384)])  # n > D, and n < D (Kodak-like)
def test_fd_dinov2_equals_torch_fidelity_frechet_distance(n1, n2, dimension):
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    first, second = _sets(n1, n2, dimension, 0.2, dimension)
    expected = fid_statistics_to_metric(*(fid_features_to_statistics(torch.from_numpy(f)) for f in (first, second)),
                                        verbose=False)["frechet_inception_distance"]
    metric = create_metric("fd_dinov2", RunContext())
    assert metric.compute(first, second)["fd_dinov2"] == pytest.approx(expected, rel=1e-6)
    assert metric.feature_spec().key == "dinov2-vit-l-14-1024/patch256-shift128"


def _cmmd_formula(x, y, sigma=10.0, scale=1000.0):
    """The definition: unit rows, k(a, b) = exp(-|a - b|² / (2 sigma²)), means over all pairs."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)

    def mean_kernel(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * sigma ** 2)).mean()

    return scale * (mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y))


def _reference_mmd(x, y):
    """google-research cmmd/distance.py ``mmd`` (commit 4c42994), jax.numpy replaced by NumPy."""
    jnp = np
    _SIGMA = 10
    _SCALE = 1000
    x = jnp.asarray(x)
    y = jnp.asarray(y)

    # jnp.matmul(x, x.T) etc. are not cached to avoid OOM when x has many rows.
    x_sqnorms = jnp.diag(jnp.matmul(x, x.T))
    y_sqnorms = jnp.diag(jnp.matmul(y, y.T))

    gamma = 1 / (2 * _SIGMA**2)
    k_xx = jnp.mean(
        jnp.exp(
            -gamma
            * (
                -2 * jnp.matmul(x, x.T)
                + jnp.expand_dims(x_sqnorms, 1)
                + jnp.expand_dims(x_sqnorms, 0)
            )
        )
    )
    k_xy = jnp.mean(
        jnp.exp(
            -gamma
            * (
                -2 * jnp.matmul(x, y.T)
                + jnp.expand_dims(x_sqnorms, 1)
                + jnp.expand_dims(y_sqnorms, 0)
            )
        )
    )
    k_yy = jnp.mean(
        jnp.exp(
            -gamma
            * (
                -2 * jnp.matmul(y, y.T)
                + jnp.expand_dims(y_sqnorms, 1)
                + jnp.expand_dims(y_sqnorms, 0)
            )
        )
    )

    return _SCALE * (k_xx + k_yy - 2 * k_xy)


def test_cmmd_equals_its_formula_and_the_reference_mmd_across_tiles():
    """1100 x 1030 embeddings: more than one 1024-row tile on both sides."""
    first, second = _sets(1100, 1030, 24, 0.5, 7)
    got = create_metric("cmmd", RunContext()).compute(first, second)["cmmd"]
    unit = [f.astype(np.float64) / np.linalg.norm(f.astype(np.float64), axis=1, keepdims=True) for f in (first, second)]
    assert got == pytest.approx(_reference_mmd(*unit), rel=1e-6)
    small = first[:300], second[:200]
    assert create_metric("cmmd", RunContext()).compute(*small)["cmmd"] == pytest.approx(
        _cmmd_formula(*(f.astype(np.float64) for f in small)), rel=1e-6)
    assert got > 1.0


def test_cmmd_options_diagonals_and_direction():
    first, second = _sets(200, 150, 32, 0.3, 8)
    context = RunContext(options={"cmmd": {"sigma": "0.5", "scale": 1}})  # as --option gives them: text
    got = create_metric("cmmd", context).compute(first, second)["cmmd"]
    assert got == pytest.approx(_cmmd_formula(first.astype(np.float64), second.astype(np.float64), 0.5, 1.0), rel=1e-6)
    # identical sets: equal kernel means, 0 up to rounding
    assert create_metric("cmmd", RunContext()).compute(first, first.copy())["cmmd"] == pytest.approx(0.0, abs=1e-9)
    near, far = _sets(200, 200, 32, 0.1, 9), _sets(200, 200, 32, 1.0, 9)
    metric = create_metric("cmmd", RunContext())
    assert 0 < metric.compute(*near)["cmmd"] < metric.compute(*far)["cmmd"]
    with pytest.raises(MetricOptionError, match="sigma must be positive"):
        create_metric("cmmd", RunContext(options={"cmmd": {"sigma": 0}}))


def _precision_recall_by_definition(real, generated, k):
    """Kynkäänniemi et al. 2019: radius of each point = distance to its k-th nearest other point of its
    own set; precision = generated points inside some real ball, recall = real inside some generated ball."""
    def distances(a, b):
        return np.sqrt(((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1))

    real_radius = np.sort(distances(real, real), axis=1)[:, k]
    generated_radius = np.sort(distances(generated, generated), axis=1)[:, k]
    precision = (distances(generated, real) <= real_radius[None, :]).any(axis=1).mean()
    recall = (distances(real, generated) <= generated_radius[None, :]).any(axis=1).mean()
    return precision, recall


@pytest.mark.parametrize("k", [3, 5])
def test_precision_and_recall_equal_torch_fidelity_prc_and_their_definition(k):
    from torch_fidelity.metric_prc import prc_features_to_metric

    rng = np.random.default_rng(k)
    reference = rng.normal(size=(180, 16)).astype(np.float32)
    reconstruction = (rng.normal(size=(150, 16)) * 0.6 + 0.4).astype(np.float32)  # narrower and shifted
    context = RunContext(options={"precision": {"k": k}, "recall": {"k": k}})
    precision = create_metric("precision", context).compute(reference, reconstruction)["precision"]
    recall = create_metric("recall", context).compute(reference, reconstruction)["recall"]
    expected = prc_features_to_metric(torch.from_numpy(reconstruction), torch.from_numpy(reference),
                                      prc_neighborhood=k, verbose=False)
    assert precision == pytest.approx(expected["precision"], rel=1e-6)
    assert recall == pytest.approx(expected["recall"], rel=1e-6)
    assert (precision, recall) == pytest.approx(_precision_recall_by_definition(reference, reconstruction, k), rel=1e-6)
    assert 0 < recall < 0.9 * precision  # a narrower set: realistic, but does not cover the originals' variety


def test_precision_and_recall_need_more_than_k_patches():
    few = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    assert math.isnan(create_metric("precision", RunContext()).compute(few, few)["precision"])
    assert create_metric("recall", RunContext(options={"recall": {"k": 2}})).compute(few, few)["recall"] == 1.0
    with pytest.raises(MetricOptionError, match="at least 1"):
        create_metric("precision", RunContext(options={"precision": {"k": 0}}))


def test_columns_extractors_and_weight_files_are_declared():
    expected = {"fd_dinov2": ("FD-DINOv2", False, "dinov2-vit-l-14", 1024),
                "cmmd": ("CMMD", False, "clip-vit-l-14-336px", 768),
                "precision": ("Precision", True, "inception-v3-compat", 2048),
                "recall": ("Recall", True, "inception-v3-compat", 2048)}
    for name, (label, higher, extractor, dimension) in expected.items():
        metric = create_metric(name, RunContext())
        (column,) = metric.column_info()
        assert (column.name, column.label, column.higher_is_better) == (name, label, higher)
        assert column.group == "distribution (patches)" and column.kind == "distribution"
        assert (metric.feature_spec().extractor, metric.feature_spec().dimension) == (extractor, dimension)
        assert all(file in KNOWN for file in metric.weight_names())
    from torch_fidelity.feature_extractor_clip import MODEL_METADATA, MODEL_URLS

    clip = KNOWN[create_metric("cmmd", RunContext()).weight_names()[0]]
    assert clip.url == MODEL_URLS["clip-vit-l-14-336px"] and clip.check == "sha256"
    assert clip.sha256 == MODEL_METADATA["clip-vit-l-14-336px"]["hash"] == clip.url.split("/")[-2]
    assert KNOWN["dinov2_vitl14_pretrain.pth"].check == "none"  # Meta publishes no hash


# ------------------------------------------------------------------------------------------- extractors

@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    standins.dinov2_vitl14(folder)
    standins.clip_vit_l14_336px(folder)
    return folder


@pytest.fixture(scope="module")
def patches():
    """Two 256 px patches of a natural photo and one of 336 px (CLIP's own size: no resize)."""
    import skimage.data

    photo = skimage.data.astronaut()
    return photo[:256, :256], photo[200:456, 150:406], photo[100:436, 100:436]


def _context(weights):
    return RunContext(weights=Weights(weights, allow_unverified=True))


def _interpolate_pos_encoding(pos_embed, x, w, h, patch_size=14, interpolate_offset=0.1, interpolate_antialias=False):
    """dinov2/models/vision_transformer.py ``interpolate_pos_encoding`` (commit b8931f7) as a function, with the
    hub models' interpolate_offset=0.1 (its ``scale_factor`` branch)."""
    previous_dtype = x.dtype
    npatch = x.shape[1] - 1
    N = pos_embed.shape[1] - 1
    if npatch == N and w == h:
        return pos_embed
    pos_embed = pos_embed.float()
    class_pos_embed = pos_embed[:, 0]
    patch_pos_embed = pos_embed[:, 1:]
    dim = x.shape[-1]
    w0 = w // patch_size
    h0 = h // patch_size
    M = int(math.sqrt(N))  # Recover the number of patches in each dimension
    assert N == M * M
    kwargs = {}
    sx = float(w0 + interpolate_offset) / M
    sy = float(h0 + interpolate_offset) / M
    kwargs["scale_factor"] = (sx, sy)
    patch_pos_embed = torch.nn.functional.interpolate(
        patch_pos_embed.reshape(1, M, M, dim).permute(0, 3, 1, 2),
        mode="bicubic",
        antialias=interpolate_antialias,
        **kwargs,
    )
    assert (w0, h0) == patch_pos_embed.shape[-2:]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(previous_dtype)


def _dinov2_forward(state, images):
    """DINOv2's ViT forward (prepare_tokens_with_masks, Block with LayerScale, Attention, Mlp, final norm,
    CLS token) written out with torch.nn.functional, in float64."""
    import torch.nn.functional as F

    s = {key: value.double() for key, value in state.items()}
    images = images.double()
    x = F.conv2d(images, s["patch_embed.proj.weight"], s["patch_embed.proj.bias"], stride=14).flatten(2).transpose(1, 2)
    x = torch.cat((s["cls_token"].expand(x.shape[0], -1, -1), x), dim=1)
    x = x + _interpolate_pos_encoding(s["pos_embed"], x, images.shape[2], images.shape[3])
    B, N, C = x.shape
    heads = C // 64
    for block in sorted({int(key.split(".")[1]) for key in s if key.startswith("blocks.")}):
        p = {key.split(".", 2)[2]: value for key, value in s.items() if key.startswith(f"blocks.{block}.")}
        h = F.layer_norm(x, (C,), p["norm1.weight"], p["norm1.bias"], eps=1e-6)
        qkv = F.linear(h, p["attn.qkv.weight"], p["attn.qkv.bias"])
        qkv = qkv.reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (C // heads) ** -0.5, qkv[1], qkv[2]
        attention = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        h = F.linear((attention @ v).transpose(1, 2).reshape(B, N, C), p["attn.proj.weight"], p["attn.proj.bias"])
        x = x + p["ls1.gamma"] * h
        h = F.layer_norm(x, (C,), p["norm2.weight"], p["norm2.bias"], eps=1e-6)
        h = F.gelu(F.linear(h, p["mlp.fc1.weight"], p["mlp.fc1.bias"]))
        h = F.linear(h, p["mlp.fc2.weight"], p["mlp.fc2.bias"])
        x = x + p["ls2.gamma"] * h
    return F.layer_norm(x, (C,), s["norm.weight"], s["norm.bias"], eps=1e-6)[:, 0]


def _dgm_eval_transform(image):
    """dgm-eval models/dinov2.py ``DINOv2Encoder.transform`` (clean_resize=False) on a PIL image."""
    import torchvision.transforms as TF

    imagenet_mean = np.array([0.485, 0.456, 0.406])
    imagenet_std = np.array([0.229, 0.224, 0.225])
    image = TF.Compose([
        TF.Resize((224, 224), TF.InterpolationMode.BICUBIC),
        TF.ToTensor(),
    ])(image)
    return TF.Normalize(imagenet_mean, imagenet_std)(image)


def _relative_error(got, expected):
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def test_dinov2_features_equal_dgm_eval_preprocessing_and_dinov2s_forward(weights, patches):
    extractor = create_extractor("dinov2-vit-l-14", _context(weights))
    got = extractor.features(np.stack([p.transpose(2, 0, 1) for p in patches[:2]]))
    state = torch.load(weights / "dinov2_vitl14_pretrain.pth", weights_only=True)
    inputs = torch.stack([_dgm_eval_transform(Image.fromarray(p)) for p in patches[:2]])
    uint8 = torch.from_numpy(np.stack([p.transpose(2, 0, 1) for p in patches[:2]]))
    assert torch.equal(pil_bicubic(uint8, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), inputs)
    expected = _dinov2_forward(state, inputs).numpy()
    assert got.shape == (2, 1024) and got.dtype == np.float32
    assert _relative_error(got, expected) < 1e-5
    # torch-fidelity's dinov2 preprocessing (TF1-style bilinear, no antialias) gives other features
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    from torchvision.transforms.functional import normalize

    bilinear = normalize(interpolate_bilinear_2d_like_tensorflow1x(uint8.float(), size=(224, 224), align_corners=False),
                         (255 * 0.485, 255 * 0.456, 255 * 0.406), (255 * 0.229, 255 * 0.224, 255 * 0.225))
    assert _relative_error(_dinov2_forward(state, bilinear).numpy(), expected) > 1e-3


def _cmmd_preprocess(patch):
    """google-research cmmd: io_util._read_image with reshape_to=336 (_center_crop_and_resize), / 255, then
    embedding._clip_preprocess: a resize to the size it already has (identity) and scenic's normalize_image."""
    im = Image.fromarray(patch)
    w, h = im.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((336, 336), resample=Image.BICUBIC)
    images = np.asarray(im).astype(np.float32) / 255.0
    mean = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
    std = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
    return torch.from_numpy(((images - mean) / std).transpose(2, 0, 1).copy())


def test_clip_features_equal_torch_fidelity_network_with_cmmds_preprocessing(weights, patches):
    import warnings

    from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP

    extractor = create_extractor("clip-vit-l-14-336px", _context(weights))
    with warnings.catch_warnings():  # torch-fidelity loads the stand-in itself, with torch.jit.load (test only)
        warnings.simplefilter("ignore")
        fidelity = FeatureExtractorCLIP("clip-vit-l-14-336px", ["clip"], feature_extractor_weights_path=str(
            weights / KNOWN[extractor.weight_files[0]].name))
    with torch.no_grad():
        # at 336 px no resize happens on either side: the networks and normalisations are compared
        native = patches[2].transpose(2, 0, 1)[None].copy()
        expected = fidelity(torch.from_numpy(native))[0].numpy()
        assert _relative_error(extractor.features(native), expected) < 1e-5
        # 256 px patches: CMMD's bicubic upsampling, not torch-fidelity's bilinear
        small = np.stack([p.transpose(2, 0, 1) for p in patches[:2]])
        got = extractor.features(small)
        inputs = torch.stack([_cmmd_preprocess(p) for p in patches[:2]])
        ours = pil_bicubic(torch.from_numpy(small), 336, (0.48145466, 0.4578275, 0.40821073),
                           (0.26862954, 0.26130258, 0.27577711))
        assert torch.allclose(ours, inputs, rtol=0, atol=1e-6)  # float32 rounding of the normalisation only
        expected = fidelity.model.visual(inputs).numpy()
        assert got.shape == (2, 768) and _relative_error(got, expected) < 1e-5
        assert _relative_error(got, fidelity(torch.from_numpy(small))[0].numpy()) > 1e-3


def test_torchscript_loader_runs_nothing_and_names_the_file(tmp_path):
    import os

    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    payload = pickle.dumps(Exploit(), protocol=2)  # written, never loaded by this test
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", payload)
    with pytest.raises(WeightsError, match=r"global (os|posix)\.system is not allowed.*nothing in it was run"):
        load_torchscript_tensors(LocatedWeight("evil.pt", path, sha256_file(path), False))
    assert not marker.exists()
    path.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="not a zip file"):
        load_torchscript_tensors(LocatedWeight("evil.pt", path, sha256_file(path), False))


def test_torchscript_loader_reads_what_torch_jit_reads(weights):
    path = weights / KNOWN[create_extractor("clip-vit-l-14-336px", RunContext()).weight_files[0]].name
    state = load_torchscript_tensors(LocatedWeight(path.name, path, sha256_file(path), False))
    expected = torch.jit.load(str(path)).state_dict()  # trusted stand-in: the reference reader
    assert set(state) == set(expected)
    assert all(state[k].dtype == expected[k].dtype and torch.equal(state[k], expected[k]) for k in expected)
    assert {str(v.dtype) for v in state.values()} == {"torch.float16", "torch.float32"}


def test_a_run_stores_the_four_metrics_of_the_patches_it_saved(tmp_path, weights):
    """End to end: `rdpbench run --metrics fd_dinov2,cmmd,precision,recall` on two 512x384 photos (3 patches
    each), against the references above applied to the extractors' features of the same patches."""
    import pandas as pd
    import skimage.data
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    from rdpbench.cli import main
    from rdpbench.features.patches import extract_patches

    folder = tmp_path / "images"
    folder.mkdir()
    for name, photo in [("astronaut", skimage.data.astronaut()), ("coffee", skimage.data.coffee())]:
        Image.fromarray(np.ascontiguousarray(photo[:384, :512])).save(folder / f"{name}.png")
    standins.inception(weights)
    out = tmp_path / "out"
    assert main(["run", "--images", str(folder), "--codec", "jpeg", "--sweep", "quality=10", "--metrics",
                 "fd_dinov2,cmmd,precision,recall", "--out", str(out), "--weights-dir", str(weights),
                 "--allow-unverified-weights", "--save-recon", "--jobs", "1"]) == 0
    row = pd.read_csv(out / "summary.csv").iloc[0]
    context = _context(weights)
    features = {}
    for extractor in ("dinov2-vit-l-14", "clip-vit-l-14-336px", "inception-v3-compat"):
        model = create_extractor(extractor, context)
        features[extractor] = [
            np.concatenate([model.features(extract_patches(np.asarray(Image.open(path).convert("RGB"))))
                            for path in sorted(source.glob("*.png"))])
            for source in (folder, out / "recon" / "jpeg" / "quality=10")]
    assert row["n_patches"] == len(features["inception-v3-compat"][0]) == 6
    # 6 patches, 1024-d: torch-fidelity's eigenvalues of the rank-5 1024x1024 product carry rounding noise in the
    # null eigenvalues' square roots (~1e-4 here); the exact n x n route is checked to 1e-6 above
    statistics = [fid_features_to_statistics(torch.from_numpy(f)) for f in features["dinov2-vit-l-14"]]
    assert row["fd_dinov2"] == pytest.approx(
        fid_statistics_to_metric(*statistics, verbose=False)["frechet_inception_distance"], abs=2e-4)
    assert row["fd_dinov2"] == pytest.approx(create_metric("fd_dinov2", context).compute(*features["dinov2-vit-l-14"])
                                             ["fd_dinov2"], rel=1e-6)
    unit = [f.astype(np.float64) / np.linalg.norm(f.astype(np.float64), axis=1, keepdims=True)
            for f in features["clip-vit-l-14-336px"]]
    assert row["cmmd"] == pytest.approx(_reference_mmd(*unit), rel=1e-4)
    real, generated = (torch.from_numpy(f) for f in features["inception-v3-compat"])
    expected = prc_features_to_metric(generated, real, verbose=False)
    assert (row["precision"], row["recall"]) == (expected["precision"], expected["recall"])


def test_a_dinov2_file_of_another_width_is_refused_with_what_to_do(tmp_path):
    torch.save({"cls_token": torch.zeros(1, 1, 384)}, tmp_path / "dinov2_vitl14_pretrain.pth")  # a ViT-S/14's width
    with pytest.raises(ValueError, match="holds no 1024-wide DINOv2 ViT .width 384.; replace it with the upstream"):
        create_extractor("dinov2-vit-l-14", _context(tmp_path)).model
