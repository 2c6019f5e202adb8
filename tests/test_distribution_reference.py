"""FID and KID from patch features against independent references: torch-fidelity's own functions
called with its defaults, and KID written out in NumPy from its definition (Bińkowski et al. 2018:
unbiased MMD² with the kernel (x·y / d + 1)³ over 100 random subsets). Random features of a small
dimension stand in for Inception's 2048 so that > 1000 patches stay fast; the maths does not
depend on the dimension."""

import numpy as np
import pytest
import torch

from rdpbench.context import RunContext
from rdpbench.metrics.registry import create_metric

DIMENSION = 16


def _features(n, shift, seed):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, DIMENSION))


def _kid_by_definition(x, y, subset_size, subsets=100, seed=2020):
    """Mean and (population) standard deviation of the unbiased MMD² over random subsets, drawn as
    torch-fidelity draws them (RandomState(seed).choice without replacement, first x then y)."""
    draws = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        a = x[draws.choice(len(x), subset_size, replace=False)]
        b = y[draws.choice(len(y), subset_size, replace=False)]
        kernel = lambda u, v: (u @ v.T / DIMENSION + 1.0) ** 3  # noqa: E731
        m = subset_size
        k_aa, k_bb, k_ab = kernel(a, a), kernel(b, b), kernel(a, b)
        values.append((k_aa.sum() - np.trace(k_aa)) / (m * (m - 1)) + (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
                      - 2 * k_ab.sum() / (m * m))
    return float(np.mean(values)), float(np.std(values))


@pytest.fixture(scope="module")
def large_sets():
    """1100 reference and 1050 reconstruction 'patches': KID subsets hold 1000 (torch-fidelity's default)."""
    return _features(1100, 0.0, 1), _features(1050, 0.15, 2)


def test_kid_mean_and_std_equal_torch_fidelity_defaults_above_1000_patches(large_sets):
    from torch_fidelity.metric_kid import kid_features_to_metric

    reference, reconstruction = large_sets
    got = create_metric("kid", RunContext()).compute(reference, reconstruction)
    expected = kid_features_to_metric(torch.from_numpy(reference), torch.from_numpy(reconstruction), verbose=False)
    assert got["kid"] == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-12)
    assert got["kid_std"] == pytest.approx(expected["kernel_inception_distance_std"], rel=1e-12)
    assert got["kid"] > 5 * got["kid_std"] > 0  # shifted sets: clearly positive, subsets differ


def test_kid_of_small_sets_equals_its_definition_with_subsets_of_the_smaller_set():
    """Under 1000 patches the subset is the smaller set; for equal sizes every subset is the whole set
    (permuted), so all 100 values are equal and the std is 0 up to float rounding."""
    reference, reconstruction = _features(150, 0.0, 3), _features(120, 0.3, 4)
    got = create_metric("kid", RunContext()).compute(reference, reconstruction)
    mean, std = _kid_by_definition(reference, reconstruction, 120)
    assert got["kid"] == pytest.approx(mean, rel=1e-9) and got["kid_std"] == pytest.approx(std, rel=1e-6, abs=1e-12)
    equal = create_metric("kid", RunContext()).compute(reference[:120], reconstruction)
    assert equal["kid_std"] == pytest.approx(0.0, abs=1e-12 * abs(equal["kid"]) + 1e-15)
    smaller_reference = create_metric("kid", RunContext()).compute(reconstruction, reference)
    mean, std = _kid_by_definition(reconstruction, reference, 120)
    assert smaller_reference["kid"] == pytest.approx(mean, rel=1e-9)


def test_fid_of_two_different_sets_equals_torch_fidelity_and_the_closed_form(large_sets):
    from scipy import linalg
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    reference, reconstruction = large_sets
    got = create_metric("fid", RunContext()).compute(reference, reconstruction)["fid"]
    statistics = [fid_features_to_statistics(torch.from_numpy(f)) for f in large_sets]
    assert got == pytest.approx(fid_statistics_to_metric(*statistics, verbose=False)["frechet_inception_distance"],
                                rel=1e-12)
    # Fréchet distance of the two Gaussians: |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2), unbiased covariances
    mu1, mu2 = reference.mean(0), reconstruction.mean(0)
    s1, s2 = np.cov(reference, rowvar=False), np.cov(reconstruction, rowvar=False)
    closed_form = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert got == pytest.approx(closed_form, rel=1e-6)
    assert got > 0.3  # the mean shift alone gives 16 * 0.15^2 = 0.36


def test_fid_and_kid_grow_with_the_distance_between_the_sets():
    reference = _features(100, 0.0, 5)
    near, far = _features(100, 0.1, 6), _features(100, 0.5, 6)
    fid, kid = create_metric("fid", RunContext()), create_metric("kid", RunContext())
    assert fid.compute(reference, near)["fid"] < fid.compute(reference, far)["fid"]
    assert kid.compute(reference, near)["kid"] < kid.compute(reference, far)["kid"]
