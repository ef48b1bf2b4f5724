"""MNIST for the course: verified, offline-first, with the options the chapters need.

Sources, tried in this order (the first that exists is used, and it must verify):

1. ``path=`` given to :func:`load_mnist` (a file; nothing else is tried);
2. ``$COURSE_DATA_DIR/mnist.npz`` when the variable is set (if it is set and the file is missing,
   that is an error: the user asked for that folder);
3. ``data/mnist.npz`` in the repository;
4. ``../shared/datasets/mnist.npz`` beside the repository (the course's offline machines and CI);
5. keras' own cache, ``~/.keras/datasets/mnist.npz`` (or ``$KERAS_HOME/datasets``);
6. keras' downloader ``keras.datasets.mnist.load_data()``, unless ``COURSE_NO_DOWNLOAD=1`` (the
   test command sets it: tests never touch the network).

Every file is checked array by array against the SHA-256 of ``array.tobytes()`` published with the
dataset (LeCun, Cortes and Burges, *The MNIST database of handwritten digits*). A missing or corrupt
file raises an error that names the file and says how to fix it; nothing is silently substituted.

The course's fixed binarized test set, on which every binary NLL is reported, is
:func:`load_binarized_test` (one Bernoulli draw with :data:`BINARIZATION_SEED`, checked by SHA-256).

The repository also ships ``data/mnist_subset.npz``: the first 1,000 training and the first 500 test
images of the same arrays (about 0.3 MB), verified by its own hashes, for unit tests. Pass it as
``path=`` explicitly; it is never used in place of the full set.
"""

from __future__ import annotations

import functools
import hashlib
import numbers
import os
from pathlib import Path

import numpy as np

KEYS = ("x_train", "y_train", "x_test", "y_test")

#: SHA-256 of ``array.tobytes()`` for the full MNIST (same arrays as keras.datasets.mnist).
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
#: Number of examples per split of the full set.
MNIST_SIZES = {"train": 60000, "test": 10000}

SUBSET_FILENAME = "mnist_subset.npz"
#: The committed subset: x_train[:1000], y_train[:1000], x_test[:500], y_test[:500] of the full set.
SUBSET_SIZES = {"train": 1000, "test": 500}
SUBSET_SHA256 = {
    "x_train": "2304e0137aea1f236247daacc2dcaf275996895e40c4bb0760c448434d361d1a",
    "y_train": "b03ead2884240483d956c7feac7a9b39d28685062da0a980bb73d2196dc506b8",
    "x_test": "6e96778c418dfcfff0dcfdbcb4af54d86e5c54326bf5e7ead99cf94b6434a405",
    "y_test": "8f1017277349b4d0cf35af1d8eb881a016da52d52204bee2d89c22930be2e9a2",
}

BINARIZATIONS = (None, "threshold", "bernoulli")

#: Seed of the course's one fixed binarization of the MNIST test set (:func:`load_binarized_test`).
BINARIZATION_SEED = 0
#: SHA-256 of ``np.packbits(bits)``, ``bits`` the (10000, 28, 28) uint8 array of 0/1 pixels
#: (C order) of the binarized full test set. Recorded once; checked at every call.
BINARIZED_TEST_SHA256 = "2582a64400ea9e480746319c42aa6e54f27986287f0312fdb4167abfb7a8dfea"
#: The same for the 500 test images of the committed subset (the first 500 images of the same draw).
BINARIZED_SUBSET_TEST_SHA256 = "121bf846bef56aa49204a296b3a3f11e65bc8da13f86c2aeae2e965095b30fe1"


class MNISTNotFoundError(FileNotFoundError):
    """No MNIST file could be found (and downloading was not possible or not allowed)."""


class MNISTChecksumError(ValueError):
    """An MNIST file exists but its arrays are not the published ones (corrupt, truncated,
    other)."""


class BinarizationChangedError(RuntimeError):
    """The fixed binarized test set no longer matches its recorded SHA-256.

    The MNIST file verified, so NumPy's random generator (or its ``integers`` algorithm) produced a
    different draw from the one the course's numbers were reported on.
    """


def repository_root() -> Path:
    """The folder that holds ``utils/`` (the course repository's root)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The repository's ``data/`` folder."""
    return repository_root() / "data"


def subset_path() -> Path:
    """Path of the committed MNIST subset (``data/mnist_subset.npz``)."""
    return data_dir() / SUBSET_FILENAME


def _keras_cache() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "mnist.npz"


def _downloads_allowed() -> bool:
    return os.environ.get("COURSE_NO_DOWNLOAD", "0").strip().lower() not in {
        "1",
        "true",
        "yes",
        "on",
    }


_FIX = (
    "Fix it in one of these ways: (a) put the full MNIST file (keys x_train, y_train, x_test, "
    "y_test; "
    "the file behind keras.datasets.mnist) at data/mnist.npz in the repository; (b) set "
    "COURSE_DATA_DIR to a folder that holds mnist.npz (the course machines have one in "
    "../shared/datasets); (c) on a machine with internet, unset COURSE_NO_DOWNLOAD and run "
    '`python -c "import keras; keras.datasets.mnist.load_data()"` once to fill keras\' cache.'
)


def sha256_of(array: np.ndarray) -> str:
    """SHA-256 hex digest of ``array.tobytes()`` (C order), the dataset's published checksum."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def find_mnist_file() -> Path | None:
    """Return the first local MNIST file in the documented search order, or None.

    Raises:
        MNISTNotFoundError: ``COURSE_DATA_DIR`` is set but holds no ``mnist.npz``.
    """
    env_dir = os.environ.get("COURSE_DATA_DIR")
    if env_dir:
        candidate = Path(env_dir).expanduser() / "mnist.npz"
        if not candidate.is_file():
            raise MNISTNotFoundError(
                f"COURSE_DATA_DIR is set to {env_dir!r} but {candidate} does not exist. "
                "Point COURSE_DATA_DIR at the folder that holds mnist.npz, or unset it. " + _FIX
            )
        return candidate
    for candidate in (
        data_dir() / "mnist.npz",
        repository_root().parent / "shared" / "datasets" / "mnist.npz",
        _keras_cache(),
    ):
        if candidate.is_file():
            return candidate
    return None


def _expected_hashes(arrays: dict, source: str) -> dict:
    n_train, n_test = len(arrays["x_train"]), len(arrays["x_test"])
    if (n_train, n_test) == (MNIST_SIZES["train"], MNIST_SIZES["test"]):
        return MNIST_SHA256
    if (n_train, n_test) == (SUBSET_SIZES["train"], SUBSET_SIZES["test"]):
        return SUBSET_SHA256
    raise MNISTChecksumError(
        f"{source}: x_train has {n_train} and x_test {n_test} images; expected the full MNIST "
        f"({MNIST_SIZES['train']}/{MNIST_SIZES['test']}) or the course subset "
        f"({SUBSET_SIZES['train']}/{SUBSET_SIZES['test']}). The file is truncated or not MNIST. "
        + _FIX
    )


def verify_arrays(arrays: dict, source: str = "MNIST arrays") -> None:
    """Check keys, shapes, dtypes and SHA-256 of MNIST arrays.

    Args:
        arrays: mapping with ``x_train`` (N, 28, 28) uint8, ``y_train`` (N,) uint8, ``x_test``
            (M, 28, 28) uint8, ``y_test`` (M,) uint8; N, M are 60000, 10000 (full) or 1000, 500
            (the committed subset).
        source: how to name the origin in error messages (a path).

    Raises:
        MNISTChecksumError: a key is missing, a shape or dtype is wrong, or a hash does not match.
    """
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise MNISTChecksumError(
            f"{source}: missing arrays {missing}; an MNIST file has keys {list(KEYS)}. " + _FIX
        )
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise MNISTChecksumError(
                f"{source}: x_{split} has shape {x.shape} and dtype {x.dtype}; expected "
                "(N, 28, 28) uint8. " + _FIX
            )
        if y.shape != (x.shape[0],) or y.dtype != np.uint8:
            raise MNISTChecksumError(
                f"{source}: y_{split} has shape {y.shape} and dtype {y.dtype}; expected "
                f"({x.shape[0]},) uint8. " + _FIX
            )
    expected = _expected_hashes(arrays, source)
    for key in KEYS:
        digest = sha256_of(arrays[key])
        if digest != expected[key]:
            raise MNISTChecksumError(
                f"{source}: SHA-256 of {key} is {digest}, expected {expected[key]}. The file is "
                "corrupt or holds different data; delete it and get a fresh copy. " + _FIX
            )


@functools.lru_cache(maxsize=4)
def _read_verified(path: str, mtime_ns: int, size: int) -> dict:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as error:  # zipfile.BadZipFile, OSError, ValueError...
        raise MNISTChecksumError(
            f"{path}: cannot be read as a NumPy .npz archive ({type(error).__name__}: {error}). "
            "Delete it and get a fresh copy. " + _FIX
        ) from error
    verify_arrays(arrays, source=path)
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def read_mnist_arrays(path: str | os.PathLike | None = None) -> dict:
    """Return the verified raw uint8 arrays ``{x_train, y_train, x_test, y_test}``.

    Args:
        path: an explicit ``.npz`` file; None follows the search order of this module.

    Raises:
        MNISTNotFoundError: no file was found and downloading was impossible or not allowed.
        MNISTChecksumError: the file is unreadable or its arrays do not verify.
    """
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise MNISTNotFoundError(f"{file} does not exist. " + _FIX)
    else:
        file = find_mnist_file()
    if file is None:
        if not _downloads_allowed():
            raise MNISTNotFoundError(
                "MNIST was not found locally and downloads are off (COURSE_NO_DOWNLOAD=1; the test "
                "command sets it). Looked for $COURSE_DATA_DIR/mnist.npz, "
                f"{data_dir() / 'mnist.npz'}, "
                f"{repository_root().parent / 'shared/datasets/mnist.npz'} "
                f"and {_keras_cache()}. " + _FIX
            )
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        except Exception as error:  # no network, proxy, interrupted download...
            raise MNISTNotFoundError(
                f"MNIST is not on this machine and keras' download failed ({error}). " + _FIX
            ) from error
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        verify_arrays(arrays, source="keras.datasets.mnist download")
        return arrays
    stat = file.stat()
    return _read_verified(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def load_mnist(
    split: str = "train",
    *,
    binarize: str | None = None,
    threshold: float = 0.5,
    limit: int | None = None,
    validation_size: int = 0,
    split_seed: int = 0,
    binarize_seed: int = 0,
    path: str | os.PathLike | None = None,
):
    """Load one split of MNIST as float32 images in [0, 1] and integer labels.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``. With ``validation_size=k > 0``, the
            ``k`` validation images are carved from the 60,000 training images by a permutation
            seeded with ``split_seed`` (the same ``k`` images every time), and ``"train"`` returns
            the other ``60000 - k``.
        binarize: ``None`` (grey levels / 255), ``"threshold"`` (1 where the grey level exceeds
            ``threshold``), or ``"bernoulli"`` (one stochastic binarization, each pixel ~
            Bernoulli(grey level), seeded by ``binarize_seed``). For a fresh Bernoulli sample at
            every epoch ("dynamic binarization"), load grey levels and wrap them in
            :class:`DynamicBinarization`.
        threshold: the cut for ``binarize="threshold"``, in (0, 1).
        limit: keep only the first ``limit`` images of the split (smoke mode; None keeps all).
        validation_size: number of training images held out as the validation split.
        split_seed: seed of the train/validation carve.
        binarize_seed: seed of ``binarize="bernoulli"``.
        path: an explicit ``.npz`` file (e.g. :func:`subset_path`); None searches as documented.

    Returns:
        ``(x, y)``: ``x`` float32 of shape (N, 28, 28, 1) with values in [0, 1] (exactly 0 or 1
        when binarized); ``y`` int64 of shape (N,) with digits 0..9.

    Raises:
        ValueError: an unknown split or binarization, a bad threshold/limit/validation size, or
            ``split="validation"`` with ``validation_size=0``.
        MNISTNotFoundError: no MNIST file (see the module docstring for the fix).
        MNISTChecksumError: a corrupt or mismatched file.
    """
    if split not in ("train", "validation", "test"):
        raise ValueError(f"split must be 'train', 'validation' or 'test', got {split!r}.")
    if binarize not in BINARIZATIONS:
        raise ValueError(f"binarize must be one of {BINARIZATIONS}, got {binarize!r}.")
    if not (isinstance(threshold, numbers.Real) and 0.0 < float(threshold) < 1.0):
        raise ValueError(f"threshold must be a number in (0, 1), got {threshold!r}.")
    validation_size = _check_int("validation_size", validation_size, 0)
    split_seed = _check_int("split_seed", split_seed, 0)
    binarize_seed = _check_int("binarize_seed", binarize_seed, 0)
    if limit is not None:
        limit = _check_int("limit", limit, 1)
    if split == "validation" and validation_size == 0:
        raise ValueError("split='validation' needs validation_size > 0 (images carved from train).")

    arrays = read_mnist_arrays(path)
    if split == "test":
        x, y = arrays["x_test"], arrays["y_test"]
    else:
        x, y = arrays["x_train"], arrays["y_train"]
        if validation_size >= len(x):
            raise ValueError(
                f"validation_size must be smaller than the {len(x)} training images, "
                f"got {validation_size}."
            )
        if validation_size:
            order = np.random.default_rng(split_seed).permutation(len(x))
            keep = np.sort(
                order[:validation_size] if split == "validation" else order[validation_size:]
            )
            x, y = x[keep], y[keep]
    if limit is not None:
        x, y = x[:limit], y[:limit]

    images = (x.astype(np.float32) / np.float32(255.0))[..., None]
    if binarize == "threshold":
        images = (images > np.float32(threshold)).astype(np.float32)
    elif binarize == "bernoulli":
        rng = np.random.default_rng(binarize_seed)
        images = (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)
    return images, y.astype(np.int64)


def binarize_test_images(x_test_uint8, *, seed=BINARIZATION_SEED):
    """The course's Bernoulli draw of 8-bit test images: 1 with probability ``x / 255``.

    Each pixel becomes ``u < x`` with ``u`` uniform on the integers {0, ..., 254}, drawn in C order
    by ``numpy.random.default_rng(seed).integers(0, 255, dtype=uint8)``: ``P(1) = x / 255`` exactly,
    with integer arithmetic only (no float rounding). Draws are consumed pixel by pixel, so the
    binarization of the first ``n`` images does not depend on how many images follow.

    Args:
        x_test_uint8: (N, 28, 28) uint8 grey levels.
        seed: non-negative int; :data:`BINARIZATION_SEED` is the course's protocol.

    Returns:
        (N, 28, 28) uint8 array of 0/1 pixels.

    Raises:
        ValueError: not a (N, 28, 28) uint8 array, or a bad seed.
    """
    x = np.asarray(x_test_uint8)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
        raise ValueError(
            f"x_test_uint8 must be a (N, 28, 28) uint8 array, got shape {x.shape} and dtype "
            f"{x.dtype}."
        )
    seed = _check_int("seed", seed, 0)
    u = np.random.default_rng(seed).integers(0, 255, size=x.shape, dtype=np.uint8)
    return (u < x).astype(np.uint8)


def _binarized_sha256(bits: np.ndarray) -> str:
    packed = np.packbits(np.ascontiguousarray(bits, dtype=np.uint8))
    return hashlib.sha256(packed.tobytes()).hexdigest()


def load_binarized_test(limit: int | None = None, *, path: str | os.PathLike | None = None):
    """The course's binarized MNIST test set: one fixed Bernoulli draw, the same everywhere.

    Every binary negative log-likelihood of the course is reported on these images: chapters 00
    (independent pixels, mixtures), 02 (VAE, IWAE bound), 05 (PixelCNN) and 06 report their test
    NLLs on exactly this draw, so differences between models are *paired* (the per-image noise of
    the binarization cancels) and numbers of different chapters are comparable. Models are trained
    with dynamic binarization (:class:`DynamicBinarization`); only the test set is fixed, as in the
    binarized-MNIST protocol of Burda, Grosse and Salakhutdinov (2016, section 5).

    The draw: pixel ``x`` in {0..255} becomes 1 with probability ``x / 255``
    (:func:`binarize_test_images` with :data:`BINARIZATION_SEED`, computed on the whole split
    before ``limit`` is applied). The full draw is checked against :data:`BINARIZED_TEST_SHA256`
    (the subset file against :data:`BINARIZED_SUBSET_TEST_SHA256`) at every call, so it is
    identical across runs, machines and NumPy versions, or the call fails.

    Args:
        limit: keep the first ``limit`` images of the fixed draw (smoke runs use a subset of the
            very images of the full protocol); None keeps all 10,000.
        path: an explicit ``.npz`` file; :func:`subset_path` gives the committed subset, whose 500
            test images are binarized identically to the first 500 of the full set (for unit
            tests). None searches as documented in this module.

    Returns:
        ``(x, y)``: ``x`` float32 (N, 28, 28, 1) with values exactly 0 or 1; ``y`` int64 (N,) digit
        labels 0..9. N is 10,000 (500 for the subset file), or ``min(limit, that)``.

    Raises:
        ValueError: ``limit`` is not None or a positive int.
        MNISTNotFoundError, MNISTChecksumError: see :func:`read_mnist_arrays`.
        BinarizationChangedError: the draw differs from the recorded one (NumPy's generator
            changed); the course's reported NLLs were computed on the recorded draw.
    """
    if limit is not None:
        limit = _check_int("limit", limit, 1)
    arrays = read_mnist_arrays(path)
    x, y = arrays["x_test"], arrays["y_test"]
    bits = binarize_test_images(x, seed=BINARIZATION_SEED)
    full = len(x) == MNIST_SIZES["test"]
    expected = BINARIZED_TEST_SHA256 if full else BINARIZED_SUBSET_TEST_SHA256
    digest = _binarized_sha256(bits)
    if digest != expected:
        raise BinarizationChangedError(
            f"the binarized MNIST test set ({len(x)} images, seed {BINARIZATION_SEED}) has SHA-256 "
            f"{digest}, expected {expected}. The MNIST file verified, so numpy {np.__version__}'s "
            "default_rng().integers draws differently from the version the course recorded. "
            "Install the NumPy of requirements.txt; do not report NLLs on a different draw."
        )
    if limit is not None:
        bits, y = bits[:limit], y[:limit]
    return bits.astype(np.float32)[..., None], y.astype(np.int64)


def _dynamic_binarization_base():
    import keras

    return keras.utils.PyDataset


class DynamicBinarization(_dynamic_binarization_base()):
    """Batches of freshly Bernoulli-binarized images: a new binary sample at every epoch.

    Each pixel of a grey-level image ``x`` in [0, 1] becomes 1 with probability ``x``. Resampling
    at every epoch ("dynamic binarization") acts as data augmentation and is the standard protocol
    for binarized-MNIST likelihoods (e.g. Burda, Grosse and Salakhutdinov 2016, *Importance Weighted
    Autoencoders*, section 5).

    Args:
        images: float array (N, 28, 28, 1) with values in [0, 1] (``load_mnist(binarize=None)``).
        batch_size: images per batch (positive int).
        labels: optional (N,) labels. ``target="labels"`` returns them as targets.
        target: ``"input"`` yields ``(x_bin, x_bin)`` (autoencoders, VAEs); ``"labels"`` yields
            ``(x_bin, labels)``; ``"none"`` yields ``x_bin`` alone.
        shuffle: reshuffle the order at every epoch.
        seed: seed of the NumPy generator that drives both shuffling and binarization.
        **kwargs: passed to ``keras.utils.PyDataset`` (workers, use_multiprocessing...).

    Shapes: every batch is float32 (B, 28, 28, 1) with values exactly 0 or 1; the last batch may be
    smaller.

    Raises:
        ValueError: values outside [0, 1], a non-positive batch size, mismatched labels, or an
            unknown target.
    """

    def __init__(
        self, images, batch_size=128, *, labels=None, target="input", shuffle=True, seed=0, **kwargs
    ):
        super().__init__(**kwargs)
        images = np.asarray(images, dtype=np.float32)
        if images.ndim < 2 or len(images) == 0:
            raise ValueError(
                f"images must be a non-empty batch (N, ...), got shape {images.shape}."
            )
        if not np.all(np.isfinite(images)):
            raise ValueError("images contains NaN or inf values; expected probabilities in [0, 1].")
        if images.min() < 0.0 or images.max() > 1.0:
            raise ValueError(
                f"images must be probabilities in [0, 1], "
                f"got values in [{images.min()}, {images.max()}]."
            )
        self.batch_size = _check_int("batch_size", batch_size, 1)
        if target not in ("input", "labels", "none"):
            raise ValueError(f"target must be 'input', 'labels' or 'none', got {target!r}.")
        if target == "labels":
            if labels is None or len(labels) != len(images):
                raise ValueError(
                    f"target='labels' needs {len(images)} labels, got "
                    f"{None if labels is None else len(labels)}."
                )
        self.images = images
        self.labels = None if labels is None else np.asarray(labels)
        self.target = target
        self.shuffle = bool(shuffle)
        self._rng = np.random.default_rng(_check_int("seed", seed, 0))
        self._order = np.arange(len(images))
        self.on_epoch_end()

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches.")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        probs = self.images[rows]
        x = (self._rng.random(probs.shape, dtype=np.float32) < probs).astype(np.float32)
        if self.target == "input":
            return x, x
        if self.target == "labels":
            return x, self.labels[rows]
        return x

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.images))
