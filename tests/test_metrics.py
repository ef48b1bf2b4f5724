"""Sample-quality metrics: closed forms, unbiasedness, the committed classifier."""

from utils import callbacks, classifier, data, metrics

import json
import shutil

import numpy as np
import pytest


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
    assert metrics.frechet_distance_from_statistics(mu1, s1, mu2, s2) == pytest.approx(
        closed, rel=1e-8
    )
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
    shifted, se_shift = metrics.kernel_inception_distance(
        a, b + 0.5, n_subsets=20, subset_size=500, seed=1
    )
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
        metrics.kernel_inception_distance(
            rng.standard_normal((20, 2)), rng.standard_normal((20, 2)), **kwargs
        )


# -- Inception score and class histogram ---------------------------------------------------------


def test_inception_score_limits():
    confident_balanced = np.eye(10)[np.arange(1000) % 10]
    assert metrics.inception_score(confident_balanced, n_splits=1)[0] == pytest.approx(
        10.0, rel=1e-6
    )
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
    card = json.loads((data.data_dir() / classifier.CLASSIFIER_CARD).read_text())
    assert (
        card["sha256"]
        == classifier.CLASSIFIER_SHA256
        == classifier._file_sha256(classifier.classifier_path())
    )
    assert card["test_accuracy"] >= 0.99
    assert classifier.classifier_path().stat().st_size < 1_000_000


def test_classifier_accuracy_on_the_committed_subset(subset_arrays):
    """Smoke threshold: >= 98% on the 500 committed test images (99.2% measured on all 10,000)."""
    x = subset_arrays["x_test"].astype("float32")[..., None] / 255.0
    _, probs = classifier.classifier_outputs(x)
    assert np.mean(probs.argmax(axis=1) == subset_arrays["y_test"]) >= 0.98


def test_classifier_accuracy_on_the_full_test_set(full_mnist_available):
    if not full_mnist_available:
        pytest.skip("full MNIST not available (../shared/datasets/mnist.npz)")
    x, y = data.load_mnist("test")
    _, probs = classifier.classifier_outputs(x)
    assert np.mean(probs.argmax(axis=1) == y) >= 0.99


def test_a_corrupt_or_missing_classifier_is_reported(tmp_path):
    bad = tmp_path / classifier.CLASSIFIER_FILE
    shutil.copy(classifier.classifier_path(), bad)
    raw = bytearray(bad.read_bytes())
    raw[-100] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(classifier.ClassifierChecksumError, match="git checkout"):
        classifier.load_classifier(bad)
    with pytest.raises(FileNotFoundError, match="train-classifier"):
        classifier.load_classifier(tmp_path / "nope.weights.h5")


def test_classifier_inputs_are_checked():
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        classifier.classifier_outputs(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        classifier.classifier_outputs(-np.ones((2, 28, 28)))


def test_real_data_floor_is_far_below_noise(subset_arrays):
    train = subset_arrays["x_train"].astype("float32") / 255.0
    test = subset_arrays["x_test"].astype("float32") / 255.0
    floor = metrics.real_data_floor(train, test, 400, kid_subset_size=200)
    noise = metrics.sample_quality(
        np.random.default_rng(0).random((400, 28, 28)), test[:400], kid_subset_size=200
    )
    assert floor["n"] == noise["n"] == 400
    assert floor["fid"] * 10 < noise["fid"]
    assert floor["kid"] < noise["kid"]
    assert floor["modes"] == 10 and floor["inception_score"] > 8
    # Real against real: both manifolds cover each other; noise covers none of the real images.
    assert floor["precision"] > 0.7 and floor["recall"] > 0.7
    assert noise["recall"] < 0.05
    with pytest.raises(ValueError, match="n must be"):
        metrics.real_data_floor(train, test, 10_000)


# -- FID: exact for rank-deficient covariances, and checked inputs ---------------------------------


def _orthonormal(rng, d, r):
    q, _ = np.linalg.qr(rng.standard_normal((d, r)))
    return q


def test_fid_in_a_5d_subspace_of_128d_matches_the_closed_form(rng):
    # S1 = Q diag(a) Q^T and S2 = Q diag(b) Q^T commute, so (S1 S2)^1/2 = Q diag(sqrt(ab)) Q^T and
    # FID = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2, although both have rank 5 in 128 dimensions.
    q = _orthonormal(rng, 128, 5)
    a, b = rng.uniform(0.1, 4.0, 5), rng.uniform(0.1, 4.0, 5)
    mu1, mu2 = rng.standard_normal(128), rng.standard_normal(128)
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.frechet_distance_from_statistics(mu1, (q * a) @ q.T, mu2, (q * b) @ q.T)
    assert abs(got - closed) / closed < 1e-8
    # The same means: only the covariance term remains, still exact.
    closed = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.frechet_distance_from_statistics(mu1, (q * a) @ q.T, mu1, (q * b) @ q.T)
    assert abs(got - closed) / closed < 1e-8


def test_fid_of_sample_sets_in_one_subspace_equals_the_fid_of_their_coordinates(rng):
    # Features Q c with c in R^5: the 128-D FID equals the 5-D FID of the coordinates, computed
    # here with full-rank 5x5 covariances (sum of square roots of the eigenvalues of C1 C2).
    q = _orthonormal(rng, 128, 5)
    c1 = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5))
    c2 = rng.standard_normal((200, 5)) @ rng.standard_normal((5, 5)) + 0.3
    m1, m2 = c1.mean(0), c2.mean(0)
    k1, k2 = np.cov(c1, rowvar=False), np.cov(c2, rowvar=False)
    trace_sqrt = np.sum(np.sqrt(np.linalg.eigvals(k1 @ k2).real))
    closed = np.sum((m1 - m2) ** 2) + np.trace(k1) + np.trace(k2) - 2 * trace_sqrt
    got = metrics.frechet_distance(c1 @ q.T, c2 @ q.T)
    assert abs(got - closed) / closed < 1e-8


def test_fid_of_rank_deficient_identical_sets_is_zero(rng):
    f = rng.standard_normal((50, 10)) @ _orthonormal(rng, 128, 10).T  # rank-10 covariance
    assert abs(metrics.frechet_distance(f, f)) < 1e-10 * np.trace(np.cov(f, rowvar=False))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sigma1": -np.eye(4)}, "sigma1 must be positive semi-definite"),
        ({"sigma2": np.diag([1.0, 1.0, 1.0, -0.5])}, "sigma2 must be positive semi-definite"),
        ({"sigma1": np.eye(4) + np.triu(np.ones((4, 4)), 1)}, "sigma1 must be symmetric"),
        ({"sigma2": np.full((4, 4), np.nan)}, "sigma2 must be finite"),
        ({"mu1": np.array([0.0, np.inf, 0.0, 0.0])}, "mu1 must be finite"),
        ({"mu2": np.zeros(3)}, r"mu2 must have the shape of mu1, \(4,\)"),
        ({"sigma1": np.eye(3)}, r"sigma1 must be a \(4, 4\) covariance"),
        ({"mu1": np.zeros((2, 2))}, "mu1 must be a"),
    ],
)
def test_fid_statistics_are_checked(change, message):
    args = {"mu1": np.zeros(4), "sigma1": np.eye(4), "mu2": np.ones(4), "sigma2": 2 * np.eye(4)}
    args.update(change)
    with pytest.raises(ValueError, match=message):
        metrics.frechet_distance_from_statistics(
            args["mu1"], args["sigma1"], args["mu2"], args["sigma2"]
        )


def test_feature_arrays_are_checked_and_named(rng):
    good = rng.standard_normal((10, 3))
    bad = good.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="features_b must be finite"):
        metrics.frechet_distance(good, bad)
    with pytest.raises(ValueError, match="features_a must be finite"):
        metrics.kernel_inception_distance(np.where(bad == bad, good, np.inf), good)
    with pytest.raises(ValueError, match=r"features must be a \(N, d\) array"):
        metrics.feature_statistics(good[:1])
    with pytest.raises(ValueError, match="features_b has 4"):
        metrics.frechet_distance(good, rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="seed"):
        metrics.kernel_inception_distance(good, good, seed=-1)
    with pytest.raises(ValueError, match="b must be finite"):
        metrics.polynomial_kernel(good, bad)
    with pytest.raises(ValueError, match="degree"):
        metrics.polynomial_kernel(good, good, degree=0)
    expected = (good @ good[:4].T / 3 + 1) ** 3
    np.testing.assert_allclose(metrics.polynomial_kernel(good, good[:4]), expected)


def test_probability_and_histogram_inputs_are_checked():
    with pytest.raises(ValueError, match="probabilities must be finite"):
        metrics.inception_score(np.full((4, 10), np.nan))
    with pytest.raises(ValueError, match="histogram must hold fractions"):
        metrics.mode_coverage(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="min_fraction"):
        metrics.mode_coverage(np.array([0.5, 0.5]), min_fraction=0)
    with pytest.raises(ValueError, match=r"histogram must be a non-empty \(K,\)"):
        metrics.mode_coverage(np.ones((2, 2)) / 4)


def test_image_inputs_are_checked():
    images = np.zeros((2, 28, 28))
    images[0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="images must be finite"):
        classifier.classifier_outputs(images)
    with pytest.raises(ValueError, match="batch_size"):
        classifier.classifier_outputs(np.zeros((2, 28, 28)), batch_size=0)
    with pytest.raises(ValueError, match="samples must be finite"):
        metrics.sample_quality(images, np.zeros((2, 28, 28)))


# -- precision and recall ------------------------------------------------------------------------


def _brute_force_precision_recall(real, fake, k):
    from scipy.spatial.distance import cdist

    def radii(x):
        return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself

    cross = cdist(fake, real)
    precision = np.mean(np.any(cross <= radii(real)[None, :], axis=1))
    recall = np.mean(np.any(cross.T <= radii(fake)[None, :], axis=1))
    return precision, recall


def test_precision_recall_matches_a_brute_force_computation_in_small_chunks(rng, monkeypatch):
    real = rng.standard_normal((120, 6))
    fake = rng.standard_normal((90, 6)) * 1.3 + 0.4
    expected = _brute_force_precision_recall(real, fake, 3)
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1  # a case that tests something
    got = metrics.precision_recall(real, fake)
    assert (got["precision"], got["recall"]) == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(metrics, "_chunk_rows", lambda n_columns, budget_bytes=0: 7)
    metrics._RADII_CACHE.clear()  # recompute the radii in chunks too
    chunked = metrics.precision_recall(real, fake)
    assert chunked == got
    expected_k5 = _brute_force_precision_recall(real, fake, 5)
    got_k5 = metrics.precision_recall(real, fake, k=5)
    assert (got_k5["precision"], got_k5["recall"]) == pytest.approx(expected_k5, abs=1e-12)


def test_precision_recall_reuses_radii_only_for_the_same_features(rng, monkeypatch):
    real = rng.standard_normal((60, 4))
    fake = rng.standard_normal((50, 4)) + 0.3
    metrics._RADII_CACHE.clear()
    first = metrics.precision_recall(real, fake)
    assert len(metrics._RADII_CACHE) == 2  # real and fake radii
    calls = []
    original = metrics._pairwise_sq_distances
    monkeypatch.setattr(
        metrics, "_pairwise_sq_distances", lambda *a: calls.append(1) or original(*a)
    )
    assert metrics.precision_recall(real, fake) == first
    assert len(calls) == 1  # only the real-fake block: both radii came from the cache
    moved = real.copy()
    moved[0] += 5.0  # same shape, different values: no stale radii
    expected = _brute_force_precision_recall(moved, fake, 3)
    got = metrics.precision_recall(moved, fake)
    assert (got["precision"], got["recall"]) == pytest.approx(expected, abs=1e-12)
    for i in range(10):  # the cache stays small
        metrics.precision_recall(real + i, fake)
    assert len(metrics._RADII_CACHE) <= metrics._RADII_CACHE_SIZE


def test_precision_recall_of_a_set_with_itself_is_one(rng):
    f = rng.standard_normal((300, 128)) * rng.uniform(0.1, 10, 128)
    assert metrics.precision_recall(f, f) == {"precision": 1.0, "recall": 1.0}
    assert metrics.precision_recall(f, f[::-1].copy(), k=1) == {"precision": 1.0, "recall": 1.0}


def test_precision_recall_of_a_collapsed_generator(rng):
    # Ten well-separated clusters of real features; the "generator" samples only cluster 0.
    # A fair generator (fresh samples of all clusters) is the yardstick: with finite samples
    # in several dimensions neither number reaches 1 even for the true distribution.
    centres = rng.standard_normal((10, 4)) * 20
    labels = np.arange(2000) % 10
    real = centres[labels] + rng.standard_normal((2000, 4))
    collapsed = metrics.precision_recall(real, centres[0] + rng.standard_normal((500, 4)))
    fair_samples = centres[np.arange(500) % 10] + rng.standard_normal((500, 4))
    fair = metrics.precision_recall(real, fair_samples)
    assert collapsed["precision"] > 0.85 and fair["precision"] > 0.85  # samples look real...
    assert fair["recall"] > 0.8
    assert collapsed["recall"] < 0.15  # ...but the collapsed ones cover one class of ten
    assert collapsed["recall"] <= np.mean(labels == 0) + 1e-12  # only cluster 0 can be covered


def test_precision_recall_of_far_shifted_samples_is_zero(rng):
    real = rng.standard_normal((400, 16))
    fake = rng.standard_normal((400, 16)) + 100.0
    assert metrics.precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}


def test_precision_recall_subsamples_with_max_points(rng):
    real, fake = rng.standard_normal((500, 4)), rng.standard_normal((300, 4))
    a = metrics.precision_recall(real, fake, max_points=100, seed=1)
    assert a == metrics.precision_recall(real, fake, max_points=100, seed=1)
    # Fractions of 100 points each.
    assert a["precision"] * 100 == pytest.approx(round(a["precision"] * 100))
    assert a["recall"] * 100 == pytest.approx(round(a["recall"] * 100))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k must be a positive int"),
        ({"k": True}, "k must be a positive int"),
        ({"k": 2.0}, "k must be a positive int"),
        ({"k": 10}, "k must be smaller than the number of points"),
        ({"max_points": 0}, "max_points must be a positive int"),
        ({"max_points": 3}, "k must be smaller"),
        ({"seed": -2}, "seed must be a non-negative int"),
    ],
)
def test_precision_recall_checks_its_arguments(rng, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.precision_recall(
            rng.standard_normal((10, 2)), rng.standard_normal((12, 2)), **kwargs
        )


def test_precision_recall_checks_its_features(rng):
    good = rng.standard_normal((10, 2))
    with pytest.raises(ValueError, match="fake_features must be finite"):
        metrics.precision_recall(good, np.full((10, 2), np.inf))
    with pytest.raises(ValueError, match=r"real_features must be a \(N, d\) array"):
        metrics.precision_recall(good[:, 0], good)
    with pytest.raises(ValueError, match="feature sizes differ"):
        metrics.precision_recall(good, rng.standard_normal((10, 3)))


# -- random reference subsets ---------------------------------------------------------------------


def test_real_data_floor_draws_random_subsets_of_both_sets(monkeypatch):
    # Images whose pixel (0, 0) holds their row index, to see which rows were used.
    train = np.zeros((300, 28, 28), "float32")
    test = np.zeros((200, 28, 28), "float32")
    train[:, 0, 0] = np.arange(300) / 1000
    test[:, 0, 0] = np.arange(200) / 1000
    seen = []
    monkeypatch.setattr(metrics, "sample_quality", lambda s, r, **kw: seen.append((s, r, kw)) or {})
    metrics.real_data_floor(train, test, 50, seed=3)
    metrics.real_data_floor(train, test, 50, seed=3)
    metrics.real_data_floor(train, test, 50, seed=4)
    rows = [
        (np.round(s[:, 0, 0] * 1000).astype(int), np.round(r[:, 0, 0] * 1000).astype(int))
        for s, r, _ in seen
    ]
    for train_rows, test_rows in rows:
        assert len(set(train_rows)) == len(set(test_rows)) == 50  # without replacement
    assert not np.array_equal(np.sort(rows[0][1]), np.arange(50))  # not the prefix test[:50]
    assert rows[0][1].max() >= 100  # drawn from the whole test set, not its first half
    np.testing.assert_array_equal(rows[0][1], rows[1][1])  # seeded
    assert not np.array_equal(rows[0][1], rows[2][1])
    assert seen[0][2]["seed"] == 3


def test_real_data_floor_checks_its_arguments():
    train, test = np.zeros((30, 28, 28)), np.zeros((20, 28, 28))
    with pytest.raises(ValueError, match=r"n must be an int in \[2, 20\]"):
        metrics.real_data_floor(train, test, 21)
    with pytest.raises(ValueError, match="seed"):
        metrics.real_data_floor(train, test, 10, seed=-1)
    with pytest.raises(ValueError, match="test_images must have shape"):
        metrics.real_data_floor(train, np.zeros((20, 784)), 10)


def test_fid_callback_uses_a_seeded_random_reference_subset(subset_arrays):
    x = subset_arrays["x_test"].astype("float32")[..., None] / 255.0
    y = subset_arrays["y_test"]
    callback = callbacks.FIDCallback(x, labels=y, n=40, seed=5)
    rows = callback.reference_indices
    assert len(rows) == 40 and len(set(rows)) == 40 and rows.max() >= 250
    assert not np.array_equal(rows, np.arange(40))
    np.testing.assert_array_equal(callback.labels, y[rows])
    np.testing.assert_allclose(callback.reference_features, classifier.classifier_features(x[rows]))
    np.testing.assert_array_equal(
        callbacks.FIDCallback(x[:100], n=40, seed=5).reference_indices,
        callbacks.FIDCallback(x[:100], n=40, seed=5).reference_indices,
    )
    assert len(callbacks.FIDCallback(x[:30]).reference_features) == 30  # n=None: all of them
    with pytest.raises(ValueError, match="n must be at most the 30 reference images"):
        callbacks.FIDCallback(x[:30], n=31)
    with pytest.raises(ValueError, match="labels must have one entry per reference image"):
        callbacks.FIDCallback(x[:30], labels=y[:29])
    with pytest.raises(ValueError, match="reference must be finite"):
        callbacks.FIDCallback(np.full((3, 28, 28), np.nan))
