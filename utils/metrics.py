"""Sample-quality metrics of the course, measured in one fixed feature space.

Models without a likelihood (GANs) and models whose likelihoods are not comparable (a GAN and a
PixelCNN) are compared by looking at their *samples*. The course does this with a small MNIST
classifier trained once by a documented command and committed in ``data/``:

    python -m utils.metrics train-classifier

Its penultimate layer (128 ReLU units) defines the **feature space**; its softmax gives class
probabilities. On top of it:

- :func:`frechet_distance` — "FID on MNIST classifier features": the Fréchet distance between two
  Gaussians fitted to the features (Heusel et al. 2017, eq. 6 of the TTUR paper).
- :func:`kernel_inception_distance` — the unbiased KID with the cubic polynomial kernel and its
  standard error over subsets (Bińkowski et al. 2018, section 3 and appendix).
- :func:`inception_score` — the classifier Inception Score (Salimans et al. 2016, section 4).
- :func:`class_histogram` — the digit classes of samples: mode coverage at a glance.
- :func:`sample_quality` and :func:`real_data_floor` — all of these at once, and the same numbers
  between real training and real test images at the same sample count N: the floor a perfect
  generator would reach. FID and KID estimates depend on N (FID is biased upwards for small N), so
  only numbers at the same N may be compared.

These are *not* the Inception-v3 numbers of papers on natural images: the features differ, so the
values differ in scale. Only comparisons inside the course are meaningful.

References:

- M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter (2017). GANs trained by a two
  time-scale update rule converge to a local Nash equilibrium. *NeurIPS*.
- M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton (2018). Demystifying MMD GANs. *ICLR*.
- T. Salimans, I. Goodfellow, W. Zaremba, V. Cheung, A. Radford, X. Chen (2016). Improved
  techniques for training GANs. *NeurIPS*.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import numbers
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg

from .data import data_dir

CLASSIFIER_FILE = "mnist_classifier.weights.h5"
CLASSIFIER_CARD = "mnist_classifier.json"
# SHA-256 of the committed weights, written by `python -m utils.metrics train-classifier`.
CLASSIFIER_SHA256 = "394f6c34f6899c75bbdf2e7f09f8e705e12d440567c3426224b1cd6a45c83bb5"
FEATURE_DIM = 128
NUM_CLASSES = 10


class ClassifierChecksumError(ValueError):
    """The committed classifier weights do not match their recorded SHA-256."""


# ----------------------------------------------------------------------------------------------
# The feature classifier
# ----------------------------------------------------------------------------------------------


def build_classifier():
    """The course's MNIST classifier (about 131,000 parameters).

    Three 3x3 convolution + max-pool stages (32, 64, 64 filters), a 128-unit ReLU layer named
    ``"features"`` (the feature space of FID and KID), dropout, and a 10-way softmax.

    Input: (B, 28, 28, 1) float32 grey levels in [0, 1]. Output: (B, 10) class probabilities.
    """
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    h = inputs
    for filters in (32, 64, 64):
        h = layers.Conv2D(filters, 3, padding="same", activation="relu")(h)
        h = layers.MaxPooling2D(2)(h)  # 28 -> 14 -> 7 -> 3
    h = layers.Flatten()(h)
    features = layers.Dense(FEATURE_DIM, activation="relu", name="features")(h)
    h = layers.Dropout(0.3)(features)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs, outputs, name="mnist_classifier")


def classifier_path() -> Path:
    """Where the committed classifier weights live: ``data/mnist_classifier.weights.h5``."""
    return data_dir() / CLASSIFIER_FILE


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_LOADED = {}


def load_classifier(path=None, *, verify=True):
    """Load the course classifier with its weights, checking the file's SHA-256 first.

    Args:
        path: weights file (default :func:`classifier_path`).
        verify: compare the file with :data:`CLASSIFIER_SHA256` (only turn off for a freshly
            trained file that is not committed yet).

    Returns:
        A Keras model: (B, 28, 28, 1) in [0, 1] -> (B, 10) probabilities. Its layer ``"features"``
        gives the (B, 128) feature space. The model is cached per path.

    Raises:
        FileNotFoundError: the weights file is missing (restore it with ``git checkout data/``, or
            retrain with ``python -m utils.metrics train-classifier``).
        ClassifierChecksumError: the file differs from the committed one.
    """
    path = Path(path) if path is not None else classifier_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the course classifier {path} is missing. It is committed in the repository's data/ folder: "
            "restore it with `git checkout -- data/`, or retrain it with `python -m utils.metrics train-classifier`."
        )
    key = (str(path.resolve()), path.stat().st_mtime_ns, bool(verify))
    if key in _LOADED:
        return _LOADED[key]
    if verify:
        digest = _file_sha256(path)
        if digest != CLASSIFIER_SHA256:
            raise ClassifierChecksumError(
                f"{path} has SHA-256 {digest}, expected {CLASSIFIER_SHA256}. The file is corrupt or was "
                "replaced: restore it with `git checkout -- data/`."
            )
    model = build_classifier()
    model.load_weights(str(path))
    _LOADED[key] = model
    return model


def _as_images(images, name="images"):
    x = np.asarray(images, dtype="float32")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
        raise ValueError(f"{name} must have shape (N, 28, 28) or (N, 28, 28, 1), got {np.shape(images)}.")
    if len(x) == 0:
        raise ValueError(f"{name} is empty.")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(
            f"{name} must be grey levels in [0, 1], got values in [{lo:.3g}, {hi:.3g}] "
            "(map tanh outputs with (x + 1) / 2 first)."
        )
    return x


def classifier_outputs(images, *, batch_size=1000, classifier=None):
    """Features and class probabilities of the course classifier.

    Args:
        images: (N, 28, 28) or (N, 28, 28, 1) grey levels in [0, 1].
        batch_size: images per forward pass.
        classifier: a model from :func:`load_classifier` (default: the committed one).

    Returns:
        ``(features, probabilities)``: float64 arrays (N, 128) and (N, 10).

    Raises:
        ValueError: wrong image shape or values outside [0, 1].
    """
    import keras

    x = _as_images(images)
    model = classifier if classifier is not None else load_classifier()
    two_heads = keras.Model(model.inputs[0], [model.get_layer("features").output, model.outputs[0]])
    feats, probs = [], []
    for start in range(0, len(x), batch_size):
        f, p = two_heads(x[start : start + batch_size], training=False)
        feats.append(keras.ops.convert_to_numpy(f))
        probs.append(keras.ops.convert_to_numpy(p))
    return np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64)


def classifier_features(images, **kwargs):
    """(N, 128) float64 features of the course classifier; see :func:`classifier_outputs`."""
    return classifier_outputs(images, **kwargs)[0]


# ----------------------------------------------------------------------------------------------
# Distances between feature sets
# ----------------------------------------------------------------------------------------------


def _features(name, f):
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"{name} must be a (N, d) array with N >= 2, got shape {f.shape}.")
    return f


def feature_statistics(features):
    """Mean (d,) and covariance (d, d) (unbiased, float64) of (N, d) features."""
    f = _features("features", features)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _trace_sqrt_product(s1, s2):
    """``Tr((S1 S2)^{1/2})`` for symmetric PSD S1, S2 via the symmetric form ``S1^{1/2} S2 S1^{1/2}``."""
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root @ s2 @ root
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (m + m.T)), 0.0, None))))


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2, *, eps=1e-6):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})`` (Dowson and Landau 1982; used as FID
    by Heusel et al. 2017). The square root is ``scipy.linalg.sqrtm``. Round-off can give it a tiny
    imaginary part (dropped when below 1e-3 of the real scale) or, for singular covariances, a
    non-finite result (then ``eps * I`` is added to both covariances, the usual fix). When the
    covariances are rank-deficient (fewer samples than feature dimensions) and the imaginary part
    is large, the trace is computed from the equivalent symmetric matrix ``S1^1/2 S2 S1^1/2``.

    Returns:
        float, squared units of the features (>= 0 up to round-off).

    Raises:
        ValueError: shapes that do not match.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"expected means (d,) and covariances (d, d) with one d, got {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}."
        )
    # Features that are constant in both sets (dead ReLU units) add zero rows and columns to both
    # covariances; dropping them from the trace term leaves the distance unchanged and keeps sqrtm
    # away from exactly singular matrices.
    live = (np.diag(s1) > 0) | (np.diag(s2) > 0)
    diff = mu1 - mu2
    s1, s2, d = s1[np.ix_(live, live)], s2[np.ix_(live, live)], int(live.sum())
    with warnings.catch_warnings():
        # Nearly singular products are common (rarely active units); the checks below decide.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        if not np.all(np.isfinite(covmean)):
            offset = eps * np.eye(d)
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    trace_covmean = None
    if np.iscomplexobj(covmean):
        scale = max(1.0, float(np.max(np.abs(covmean.real))))
        if np.max(np.abs(covmean.imag)) > 1e-3 * scale:
            # Rank-deficient covariances (fewer samples than features) make sqrtm of the
            # non-symmetric product unstable. Use Tr((S1 S2)^1/2) = Tr((S1^1/2 S2 S1^1/2)^1/2),
            # a symmetric positive semi-definite matrix whose eigenvalues are computed stably.
            trace_covmean = _trace_sqrt_product(s1, s2)
        covmean = covmean.real
    if trace_covmean is None:
        trace_covmean = float(np.trace(covmean))
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_covmean)


def frechet_distance(features_a, features_b):
    """FID between two (N, d) feature sets (see :func:`frechet_distance_from_statistics`).

    Estimated from samples, FID is biased upwards, and more so for small N: compare numbers only
    at the same N (Bińkowski et al. 2018, section 3).

    Raises:
        ValueError: not 2-D, fewer than two rows, or different feature sizes.
    """
    a, b = _features("features_a", features_a), _features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} and {b.shape[1]}.")
    return frechet_distance_from_statistics(*feature_statistics(a), *feature_statistics(b))


def polynomial_kernel(a, b, *, degree=3, gamma=None, coef0=1.0):
    """``k(x, y) = (gamma x.y + coef0)^degree`` with ``gamma = 1/d`` by default: (N, M) float64."""
    gamma = 1.0 / a.shape[1] if gamma is None else gamma
    return (gamma * (a @ b.T) + coef0) ** degree


def _mmd2_unbiased(x, y):
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def kernel_inception_distance(features_a, features_b, *, n_subsets=10, subset_size=1000, seed=0):
    """Unbiased KID: squared MMD with the cubic polynomial kernel, averaged over random subsets.

    ``MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
    - 2/(mn) sum_{i,j} k(x_i, y_j)`` with ``k(x, y) = (x.y / d + 1)^3`` (Bińkowski et al. 2018,
    eq. 3 and section 3). Unlike FID the estimator is unbiased, so it can be negative when the
    two distributions agree; its standard error says how far from 0 is meaningful.

    Args:
        features_a, features_b: (N, d) and (M, d) features.
        n_subsets: number of random subset pairs (>= 2 for a standard error).
        subset_size: rows per subset (capped at the smaller N; >= 2).
        seed: seed of the subset draws.

    Returns:
        ``(kid, standard_error)``: floats, the mean over subsets and ``std / sqrt(n_subsets)``.

    Raises:
        ValueError: bad feature arrays, or non-positive ``n_subsets`` / ``subset_size``.
    """
    a, b = _features("features_a", features_a), _features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} and {b.shape[1]}.")
    for name, value in (("n_subsets", n_subsets), ("subset_size", subset_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < (1 if name == "n_subsets" else 2):
            raise ValueError(f"{name} must be an int >= {1 if name == 'n_subsets' else 2}, got {value!r}.")
    size = min(int(subset_size), len(a), len(b))
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            _mmd2_unbiased(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
            for _ in range(int(n_subsets))
        ]
    )
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(values.mean()), se


# ----------------------------------------------------------------------------------------------
# Scores from class probabilities
# ----------------------------------------------------------------------------------------------


def _probabilities(p):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probabilities must be a non-empty (N, K) array, got shape {p.shape}.")
    if np.any(p < -1e-6) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("each row of probabilities must be a distribution (non-negative, summing to 1).")
    return np.clip(p, 1e-12, 1.0)


def inception_score(probabilities, *, n_splits=10):
    """Classifier Inception Score ``exp(E_x KL(p(y|x) || p(y)))`` (Salimans et al. 2016, section 4).

    High when each sample is classified confidently (low ``H(y|x)``) *and* the classes are
    balanced (high ``H(y)``). With 10 classes the maximum is 10. As is customary, the score is
    computed on ``n_splits`` disjoint splits; the mean and standard deviation are returned.

    Args:
        probabilities: (N, K) class probabilities of the samples.
        n_splits: number of disjoint splits (1 <= n_splits <= N).

    Returns:
        ``(mean, std)`` floats, in [1, K].

    Raises:
        ValueError: rows that are not distributions, or a bad ``n_splits``.
    """
    p = _probabilities(probabilities)
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or not 1 <= n_splits <= len(p):
        raise ValueError(f"n_splits must be an int in [1, {len(p)}], got {n_splits!r}.")
    scores = []
    for part in np.array_split(p, int(n_splits)):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part) - np.log(marginal)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def class_histogram(probabilities):
    """Fraction of samples assigned to each class (argmax of the classifier), shape (K,), sums to 1."""
    p = _probabilities(probabilities)
    return np.bincount(p.argmax(axis=1), minlength=p.shape[1]) / len(p)


def mode_coverage(histogram, *, min_fraction=None):
    """Number of classes holding at least ``min_fraction`` of the samples (default: 1/(4K))."""
    h = np.asarray(histogram, dtype=np.float64)
    threshold = 1.0 / (4 * len(h)) if min_fraction is None else float(min_fraction)
    return int(np.sum(h >= threshold))


# ----------------------------------------------------------------------------------------------
# Everything at once
# ----------------------------------------------------------------------------------------------


def sample_quality(samples, reference, *, kid_subsets=10, kid_subset_size=1000, seed=0, classifier=None):
    """FID, KID, Inception Score and class histogram of ``samples`` against ``reference`` images.

    Args:
        samples: (N, 28, 28[, 1]) generated images in [0, 1].
        reference: (M, 28, 28[, 1]) real images in [0, 1] (the course uses the MNIST test set, with
            M = N so that numbers are comparable).
        kid_subsets, kid_subset_size, seed: see :func:`kernel_inception_distance`.
        classifier: a classifier from :func:`load_classifier` (default: the committed one).

    Returns:
        dict with ``n`` (int), ``fid``, ``kid``, ``kid_se``, ``inception_score``,
        ``inception_score_std``, ``modes`` (classes covered, int), ``class_histogram`` (K,) and
        ``max_class_fraction``.

    Raises:
        ValueError: see :func:`classifier_outputs`.
    """
    fs, ps = classifier_outputs(samples, classifier=classifier)
    fr, _ = classifier_outputs(reference, classifier=classifier)
    kid, kid_se = kernel_inception_distance(fs, fr, n_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    # Splits of at least 500 samples (10 splits at the course's N = 10,000); tiny splits bias IS to 1.
    is_mean, is_std = inception_score(ps, n_splits=max(1, min(10, len(ps) // 500)))
    hist = class_histogram(ps)
    return {
        "n": len(fs),
        "fid": frechet_distance(fs, fr),
        "kid": kid,
        "kid_se": kid_se,
        "inception_score": is_mean,
        "inception_score_std": is_std,
        "modes": mode_coverage(hist),
        "class_histogram": hist,
        "max_class_fraction": float(hist.max()),
    }


def real_data_floor(train_images, test_images, n, *, seed=0, **kwargs):
    """:func:`sample_quality` of ``n`` real training images against ``n`` real test images.

    This is what a generator that reproduced the data distribution exactly would score at this N:
    FID is not 0 but a small positive number (finite-sample bias plus the train/test difference).

    Raises:
        ValueError: ``n`` larger than either set, or not a positive int.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 2 <= n <= min(len(train_images), len(test_images)):
        raise ValueError(f"n must be an int in [2, {min(len(train_images), len(test_images))}], got {n!r}.")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(train_images), int(n), replace=False)
    return sample_quality(np.asarray(train_images)[pick], np.asarray(test_images)[: int(n)], seed=seed, **kwargs)


def _callback_base():
    import keras

    return keras.callbacks.Callback


class FIDCallback(_callback_base()):
    """FID of fresh samples against fixed reference images after every ``every`` epochs.

    Works with any model that has a ``generate(n, labels=..., seed=...)`` method returning images
    in [0, 1] (e.g. :class:`utils.gan.GAN`). The same seed is used every time, so the curve shows
    the model changing, not the noise. The value is also added to the epoch's logs as ``"fid"``.

    Args:
        reference: (M, 28, 28[, 1]) real images in [0, 1]; N = M samples are drawn each time.
        every: epochs between measurements (positive int).
        labels: (M,) labels passed to ``generate`` (for a conditional model).
        seed: seed of the samples.

    Attributes:
        epochs, fids: lists of the epochs measured and their FIDs.
    """

    def __init__(self, reference, *, every=1, labels=None, seed=0):
        super().__init__()
        from .runtime import positive_int

        positive_int("every", every)
        self.reference_features = classifier_features(reference)
        self.every, self.labels, self.seed = int(every), labels, seed
        self.epochs, self.fids = [], []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        samples = self.model.generate(len(self.reference_features), labels=self.labels, seed=self.seed)
        fid = frechet_distance(classifier_features(samples), self.reference_features)
        self.epochs.append(epoch + 1)
        self.fids.append(fid)
        if logs is not None:
            logs["fid"] = fid


# ----------------------------------------------------------------------------------------------
# Training the classifier (run once; the result is committed)
# ----------------------------------------------------------------------------------------------


def train_classifier(output=None, *, epochs=6, batch_size=128, seed=0, verbose=2):
    """Train the course classifier on the full MNIST training set and save its weights and card.

    Deterministic on CPU for a given seed and library versions. Writes ``<output>`` (weights) and
    ``mnist_classifier.json`` beside it (test accuracy, SHA-256, seed, epochs, versions).

    Returns:
        dict: the card that was written.
    """
    import keras

    from .data import load_mnist
    from .runtime import set_seed

    set_seed(seed)
    output = Path(output) if output is not None else classifier_path()
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    model = build_classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    output.parent.mkdir(parents=True, exist_ok=True)
    weights_only = build_classifier()  # no optimizer attached: the file holds the weights alone
    weights_only.set_weights(model.get_weights())
    weights_only.save_weights(str(output))
    card = {
        "file": output.name,
        "sha256": _file_sha256(output),
        "test_accuracy": round(float(accuracy), 4),
        "train_images": int(len(x_train)),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "seed": int(seed),
        "train_seconds": round(seconds, 1),
        "parameters": int(model.count_params()),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "command": "python -m utils.metrics train-classifier",
    }
    (output.parent / CLASSIFIER_CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.metrics", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train-classifier", help="train the feature classifier on full MNIST and save it in data/")
    train.add_argument("--epochs", type=int, default=6)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    card = train_classifier(args.output, epochs=args.epochs, seed=args.seed)
    print(json.dumps(card, indent=2))
    if card["sha256"] != CLASSIFIER_SHA256:
        print(f"Set CLASSIFIER_SHA256 = {card['sha256']!r} in utils/metrics.py to commit these weights.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
