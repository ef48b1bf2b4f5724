"""The MNIST loader: checksums, errors that say what to do, splits, binarizations."""

from utils import data
from utils.data import MNISTChecksumError, MNISTNotFoundError, load_mnist

import numpy as np
import pytest

SUBSET = data.subset_path()


def _save(path, arrays):
    np.savez(path, **arrays)
    return path


def test_subset_loads_with_documented_shapes_and_range():
    x, y = load_mnist("train", path=SUBSET)
    assert x.shape == (1000, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (1000,) and y.dtype == np.int64
    assert 0.0 == x.min() and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    xt, yt = load_mnist("test", path=SUBSET)
    assert xt.shape == (500, 28, 28, 1) and len(yt) == 500


def test_subset_hashes_are_the_published_ones(subset_arrays):
    for key in data.KEYS:
        assert data.sha256_of(subset_arrays[key]) == data.SUBSET_SHA256[key]


def test_full_mnist_verifies_and_subset_is_its_prefix(full_mnist_available, subset_arrays):
    if not full_mnist_available:
        pytest.skip("full MNIST not on this machine (set COURSE_DATA_DIR); CI provides it")
    full = data.read_mnist_arrays()
    assert full["x_train"].shape == (60000, 28, 28) and full["x_test"].shape == (10000, 28, 28)
    np.testing.assert_array_equal(full["x_train"][:1000], subset_arrays["x_train"])
    np.testing.assert_array_equal(full["y_test"][:500], subset_arrays["y_test"])
    x, _ = load_mnist("train")
    assert abs(x.mean() - 0.1307) < 1e-3 and abs(x.std() - 0.3081) < 1e-3
    assert np.bincount(full["y_train"]).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]


def test_corrupt_pixel_is_caught_and_named(tmp_path, subset_arrays):
    arrays = {k: v.copy() for k, v in subset_arrays.items()}
    arrays["x_test"][3, 14, 14] ^= 1
    path = _save(tmp_path / "mnist.npz", arrays)
    with pytest.raises(MNISTChecksumError, match="x_test") as info:
        load_mnist("test", path=path)
    assert str(path) in str(info.value) and "fresh copy" in str(info.value)


def test_unreadable_file_is_reported(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(MNISTChecksumError, match="cannot be read"):
        load_mnist(path=path)


def test_wrong_shape_dtype_and_keys(tmp_path, subset_arrays):
    truncated = dict(
        subset_arrays,
        x_train=subset_arrays["x_train"][:999],
        y_train=subset_arrays["y_train"][:999],
    )
    with pytest.raises(MNISTChecksumError, match="truncated or not MNIST"):
        load_mnist(path=_save(tmp_path / "a.npz", truncated))
    floats = dict(subset_arrays, x_train=subset_arrays["x_train"].astype(np.float32))
    with pytest.raises(MNISTChecksumError, match=r"expected \(N, 28, 28\) uint8"):
        load_mnist(path=_save(tmp_path / "b.npz", floats))
    no_labels = {k: v for k, v in subset_arrays.items() if k != "y_test"}
    with pytest.raises(MNISTChecksumError, match="missing arrays"):
        load_mnist(path=_save(tmp_path / "c.npz", no_labels))


def test_missing_files_explain_the_fix(tmp_path, monkeypatch):
    with pytest.raises(MNISTNotFoundError, match="COURSE_DATA_DIR"):
        load_mnist(path=tmp_path / "nothing.npz")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(MNISTNotFoundError, match="does not exist"):
        load_mnist()


def test_no_download_when_forbidden(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "repository_root", lambda: tmp_path / "repo")
    monkeypatch.setattr(data, "data_dir", lambda: tmp_path / "repo" / "data")
    monkeypatch.setattr(data, "_keras_cache", lambda: tmp_path / "keras" / "mnist.npz")

    def no_network(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("the loader tried to download")

    import keras

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    with pytest.raises(MNISTNotFoundError, match="downloads are off"):
        load_mnist()


def test_course_data_dir_is_used(tmp_path, monkeypatch, subset_arrays):
    _save(tmp_path / "mnist.npz", subset_arrays)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    x, _ = load_mnist("test")
    assert len(x) == 500


def test_validation_split_is_disjoint_fixed_and_complete():
    train_x, train_y = load_mnist("train", validation_size=200, path=SUBSET)
    val_x, _ = load_mnist("validation", validation_size=200, path=SUBSET)
    again_x, _ = load_mnist("validation", validation_size=200, path=SUBSET)
    assert len(train_x) == 800 and len(val_x) == 200
    np.testing.assert_array_equal(val_x, again_x)
    everything = load_mnist("train", path=SUBSET)[0].reshape(1000, -1)
    rows = {r.tobytes() for r in everything}
    seen_train = {r.tobytes() for r in train_x.reshape(800, -1)}
    seen_val = {r.tobytes() for r in val_x.reshape(200, -1)}
    assert seen_train | seen_val == rows and not (seen_train & seen_val)
    other = load_mnist("validation", validation_size=200, split_seed=1, path=SUBSET)[0]
    assert not np.array_equal(other, val_x)


def test_limit_takes_a_prefix():
    x, y = load_mnist("test", limit=7, path=SUBSET)
    full_x, full_y = load_mnist("test", path=SUBSET)
    assert x.shape == (7, 28, 28, 1)
    np.testing.assert_array_equal(x, full_x[:7])
    np.testing.assert_array_equal(y, full_y[:7])


def test_threshold_binarization():
    grey, _ = load_mnist("test", path=SUBSET)
    binary, _ = load_mnist("test", binarize="threshold", threshold=0.3, path=SUBSET)
    np.testing.assert_array_equal(binary, (grey > 0.3).astype(np.float32))


def test_bernoulli_binarization_statistics_and_seeds():
    grey, _ = load_mnist("train", path=SUBSET)
    a, _ = load_mnist("train", binarize="bernoulli", binarize_seed=3, path=SUBSET)
    b, _ = load_mnist("train", binarize="bernoulli", binarize_seed=3, path=SUBSET)
    c, _ = load_mnist("train", binarize="bernoulli", binarize_seed=4, path=SUBSET)
    assert set(np.unique(a)) == {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # E[x_bin] = grey level: the empirical mean matches within 4 standard errors.
    n = a.size
    se = np.sqrt(np.sum(grey * (1 - grey))) / n
    assert abs(a.mean() - grey.mean()) < 4 * se
    assert np.all(a[grey == 0] == 0) and np.all(a[grey == 1] == 1)


def test_dynamic_binarization_resamples_every_epoch():
    grey, labels = load_mnist("test", limit=64, path=SUBSET)
    ds = data.DynamicBinarization(
        grey, batch_size=16, labels=labels, target="input", shuffle=False, seed=0
    )
    assert len(ds) == 4
    x1, t1 = ds[0]
    assert x1.shape == (16, 28, 28, 1) and set(np.unique(x1)) <= {0.0, 1.0}
    np.testing.assert_array_equal(x1, t1)
    ds.on_epoch_end()
    x2, _ = ds[0]
    assert not np.array_equal(x1, x2)
    draws = []
    for _ in range(200):
        draws.append(ds[0][0])
        ds.on_epoch_end()
    assert np.abs(np.mean(draws, axis=0) - grey[:16]).max() < 0.15
    with_labels = data.DynamicBinarization(
        grey, batch_size=10, labels=labels, target="labels", seed=0
    )
    xb, yb = with_labels[len(with_labels) - 1]
    assert len(xb) == 4 and len(yb) == 4  # last, partial batch


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "dev"}, "split must be"),
        ({"binarize": "otsu"}, "binarize must be"),
        ({"threshold": 1.5, "binarize": "threshold"}, "threshold"),
        ({"limit": 0}, "limit"),
        ({"split": "validation"}, "validation_size > 0"),
        ({"validation_size": 1000}, "smaller than"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_mnist(path=SUBSET, **kwargs)


def test_dynamic_binarization_bad_arguments():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.DynamicBinarization(np.full((4, 28, 28, 1), 2.0), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        data.DynamicBinarization(np.zeros((4, 28, 28, 1)), batch_size=0)
    with pytest.raises(ValueError, match="labels"):
        data.DynamicBinarization(np.zeros((4, 28, 28, 1)), target="labels")


# -- the course's fixed binarized test set ---------------------------------------------------


def test_binarized_test_set_is_one_fixed_draw_with_the_right_statistics(subset_arrays):
    x, y = data.load_binarized_test(path=SUBSET)
    again, _ = data.load_binarized_test(path=SUBSET)
    assert x.shape == (500, 28, 28, 1) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, subset_arrays["y_test"])
    assert set(np.unique(x)) == {0.0, 1.0}
    np.testing.assert_array_equal(x, again)
    grey = subset_arrays["x_test"][..., None].astype(np.float64) / 255.0
    # P(pixel = 1) = grey level: certain pixels are certain, the mean matches within 4 s.e.
    assert np.all(x[grey == 0] == 0) and np.all(x[grey == 1] == 1)
    se = np.sqrt(np.sum(grey * (1 - grey))) / grey.size
    assert abs(x.mean() - grey.mean()) < 4 * se
    # The protocol as documented: u uniform on {0..254} from default_rng(seed); pixel = 1 if u < x.
    generator = np.random.default_rng(data.BINARIZATION_SEED)
    u = generator.integers(0, 255, (500, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(x[..., 0], (u < subset_arrays["x_test"]).astype(np.float32))


def test_binarized_test_limit_is_a_prefix_of_the_same_draw():
    x, y = data.load_binarized_test(path=SUBSET)
    xs, ys = data.load_binarized_test(37, path=SUBSET)
    np.testing.assert_array_equal(xs, x[:37])
    np.testing.assert_array_equal(ys, y[:37])
    # load_mnist's own Bernoulli option is a different (float) draw: the protocol set is not it.
    other, _ = load_mnist(
        "test", binarize="bernoulli", binarize_seed=data.BINARIZATION_SEED, path=SUBSET
    )
    assert not np.array_equal(other, x)


def test_full_binarized_test_set_verifies_and_extends_the_subset(full_mnist_available):
    if not full_mnist_available:
        pytest.skip("full MNIST not on this machine (set COURSE_DATA_DIR); CI provides it")
    x, y = data.load_binarized_test()
    assert x.shape == (10000, 28, 28, 1) and y.shape == (10000,)
    subset_x, _ = data.load_binarized_test(path=SUBSET)
    np.testing.assert_array_equal(x[:500], subset_x)  # unit tests see the protocol's own images
    smoke_x, smoke_y = data.load_binarized_test(limit=100)
    np.testing.assert_array_equal(smoke_x, x[:100])
    np.testing.assert_array_equal(smoke_y, y[:100])
    grey = data.read_mnist_arrays()["x_test"].astype(np.float64) / 255.0
    se = np.sqrt(np.sum(grey * (1 - grey))) / grey.size
    assert abs(x.mean() - grey.mean()) < 4 * se


def test_a_changed_draw_is_detected(monkeypatch):
    original = data.binarize_test_images

    def other_generator(x, *, seed):
        return original(x, seed=seed + 1)

    monkeypatch.setattr(data, "binarize_test_images", other_generator)
    with pytest.raises(data.BinarizationChangedError, match="SHA-256") as info:
        data.load_binarized_test(path=SUBSET)
    assert "NumPy" in str(info.value)


@pytest.mark.parametrize("limit", [0, -3, 2.5, True])
def test_binarized_test_rejects_a_bad_limit(limit):
    with pytest.raises(ValueError, match="limit"):
        data.load_binarized_test(limit, path=SUBSET)


def test_binarize_test_images_checks_its_input():
    with pytest.raises(ValueError, match=r"x_test_uint8 must be a \(N, 28, 28\) uint8"):
        data.binarize_test_images(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="seed"):
        data.binarize_test_images(np.zeros((2, 28, 28), np.uint8), seed=-1)
