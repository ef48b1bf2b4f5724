"""Sample-quality metrics: closed forms, unbiasedness, the committed classifier."""

import json
import shutil

import numpy as np
import pytest

from utils import data, metrics


def _random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# -- Fréchet distance ----------------------------------------------------------------------------


def test_fid_of_a_feature_set_with_itself_is_zero(rng):
    f = rng.standard_normal((500, 16)) @ rng.standard_normal((16, 16))
    assert abs(metrics.frechet_distance(f, f)) < 1e-6


def test_fid_matches_the_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    got = metrics.frechet_distance_from_statistics(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(closed, rel=1e-9)


def test_fid_matches_the_closed_form_for_full_covariances(rng):
    d = 6
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    # Tr((S1 S2)^1/2) = sum of square roots of the eigenvalues of S1 S2 (real, positive).
    trace_sqrt = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    closed = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert metrics.frechet_distance_from_statistics(mu1, s1, mu2, s2) == pytest.approx(closed, rel=1e-8)
    # ... and estimated from samples of the two Gaussians, it converges to it.
    a = rng.multivariate_normal(mu1, s1, size=100_000)
    b = rng.multivariate_normal(mu2, s2, size=100_000)
    assert metrics.frechet_distance(a, b) == pytest.approx(closed, rel=0.03)


def test_fid_with_fewer_samples_than_features_matches_the_symmetric_form(rng):
    a, b = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 0.2  # rank-19 covariances
    mu1, s1 = metrics.feature_statistics(a)
    mu2, s2 = metrics.feature_statistics(b)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)))
    closed = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert metrics.frechet_distance(a, b) == pytest.approx(closed, rel=1e-6)


def test_fid_ignores_dead_feature_dimensions(rng):
    a, b = rng.standard_normal((400, 5)), rng.standard_normal((400, 5)) + 0.5
    pad = np.zeros((400, 3))
    assert metrics.frechet_distance(np.hstack([a, pad]), np.hstack([b, pad])) == pytest.approx(
        metrics.frechet_distance(a, b), rel=1e-9
    )


def test_fid_rejects_mismatched_features(rng):
    with pytest.raises(ValueError, match="feature sizes differ"):
        metrics.frechet_distance(rng.standard_normal((10, 3)), rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        metrics.frechet_distance(rng.standard_normal(10), rng.standard_normal(10))


# -- KID ---------------------------------------------------------------------------------------


def test_kid_is_zero_within_its_error_for_one_distribution_and_positive_for_a_shift(rng):
    a, b = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8))
    kid, se = metrics.kernel_inception_distance(a, b, n_subsets=20, subset_size=500, seed=1)
    assert abs(kid) < 3 * se + 1e-4
    shifted, se_shift = metrics.kernel_inception_distance(a, b + 0.5, n_subsets=20, subset_size=500, seed=1)
    assert shifted > 10 * se_shift and shifted > 10 * abs(kid)


def test_kid_unbiased_mmd_matches_a_direct_double_sum(rng):
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((7, 3)) + 0.3
    k = lambda u, v: (u @ v / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(7)) / 49
    kid, se = metrics.kernel_inception_distance(x, y, n_subsets=1, subset_size=7)  # the whole sets
    assert np.isnan(se)  # one subset: no standard error
    assert kid == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


@pytest.mark.parametrize("kwargs", [{"n_subsets": 0}, {"subset_size": 1}, {"n_subsets": True}])
def test_kid_rejects_bad_arguments(rng, kwargs):
    with pytest.raises(ValueError):
        metrics.kernel_inception_distance(rng.standard_normal((20, 2)), rng.standard_normal((20, 2)), **kwargs)


# -- Inception score and class histogram ---------------------------------------------------------


def test_inception_score_limits():
    confident_balanced = np.eye(10)[np.arange(1000) % 10]
    assert metrics.inception_score(confident_balanced, n_splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    one_class = np.eye(10)[np.zeros(1000, int)]
    assert metrics.inception_score(one_class, n_splits=1)[0] == pytest.approx(1.0, abs=1e-6)
    unsure = np.full((1000, 10), 0.1)
    assert metrics.inception_score(unsure, n_splits=1)[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="distribution"):
        metrics.inception_score(np.full((4, 10), 0.5))
    with pytest.raises(ValueError, match="n_splits"):
        metrics.inception_score(unsure, n_splits=0)


def test_class_histogram_and_mode_coverage():
    probs = np.eye(10)[[0, 0, 0, 1, 2, 2, 9, 9, 9, 9]]
    hist = metrics.class_histogram(probs)
    assert hist.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(hist[[0, 1, 2, 9]], [0.3, 0.1, 0.2, 0.4])
    assert metrics.mode_coverage(hist) == 4
    assert metrics.mode_coverage(hist, min_fraction=0.25) == 2


# -- the committed classifier ---------------------------------------------------------------------


def test_classifier_card_matches_the_committed_weights():
    card = json.loads((data.data_dir() / metrics.CLASSIFIER_CARD).read_text())
    assert card["sha256"] == metrics.CLASSIFIER_SHA256 == metrics._file_sha256(metrics.classifier_path())
    assert card["test_accuracy"] >= 0.99
    assert metrics.classifier_path().stat().st_size < 1_000_000


def test_classifier_accuracy_on_the_committed_subset(subset_arrays):
    """Smoke threshold: >= 98% on the 500 committed test images (99.2% measured on all 10,000)."""
    x = subset_arrays["x_test"].astype("float32")[..., None] / 255.0
    _, probs = metrics.classifier_outputs(x)
    assert np.mean(probs.argmax(axis=1) == subset_arrays["y_test"]) >= 0.98


def test_classifier_accuracy_on_the_full_test_set(full_mnist_available):
    if not full_mnist_available:
        pytest.skip("full MNIST not available (../shared/datasets/mnist.npz)")
    x, y = data.load_mnist("test")
    _, probs = metrics.classifier_outputs(x)
    assert np.mean(probs.argmax(axis=1) == y) >= 0.99


def test_a_corrupt_or_missing_classifier_is_reported(tmp_path):
    bad = tmp_path / metrics.CLASSIFIER_FILE
    shutil.copy(metrics.classifier_path(), bad)
    raw = bytearray(bad.read_bytes())
    raw[-100] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(metrics.ClassifierChecksumError, match="git checkout"):
        metrics.load_classifier(bad)
    with pytest.raises(FileNotFoundError, match="train-classifier"):
        metrics.load_classifier(tmp_path / "nope.weights.h5")


def test_classifier_inputs_are_checked():
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        metrics.classifier_outputs(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.classifier_outputs(-np.ones((2, 28, 28)))


def test_real_data_floor_is_far_below_noise(subset_arrays):
    train = subset_arrays["x_train"].astype("float32") / 255.0
    test = subset_arrays["x_test"].astype("float32") / 255.0
    floor = metrics.real_data_floor(train, test, 400, kid_subset_size=200)
    noise = metrics.sample_quality(np.random.default_rng(0).random((400, 28, 28)), test[:400], kid_subset_size=200)
    assert floor["n"] == noise["n"] == 400
    assert floor["fid"] * 10 < noise["fid"]
    assert floor["kid"] < noise["kid"]
    assert floor["modes"] == 10 and floor["inception_score"] > 8
    with pytest.raises(ValueError, match="n must be"):
        metrics.real_data_floor(train, test, 10_000)

