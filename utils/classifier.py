"""The course's MNIST feature classifier: one fixed feature space for every sample-quality metric.

Trained once by a documented command and committed in ``data/`` with its SHA-256:

    python -m utils.classifier train-classifier

Its penultimate layer (128 ReLU units, named ``features``) defines the feature space of
:mod:`utils.metrics` (FID, KID, precision and recall); its softmax gives the class probabilities
(Inception Score, class histograms, label agreement).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from .checks import positive_int
from .data import data_dir

CLASSIFIER_FILE = "mnist_classifier.weights.h5"


CLASSIFIER_CARD = "mnist_classifier.json"


# SHA-256 of the committed weights, written by `python -m utils.classifier train-classifier`.
CLASSIFIER_SHA256 = "394f6c34f6899c75bbdf2e7f09f8e705e12d440567c3426224b1cd6a45c83bb5"


FEATURE_DIM = 128


NUM_CLASSES = 10


class ClassifierChecksumError(ValueError):
    """The committed classifier weights do not match their recorded SHA-256."""


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
            retrain with ``python -m utils.classifier train-classifier``).
        ClassifierChecksumError: the file differs from the committed one.
    """
    path = Path(path) if path is not None else classifier_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the course classifier {path} is missing. "
            "It is committed in the repository's data/ folder: "
            "restore it with `git checkout -- data/`, "
            "or retrain it with `python -m utils.classifier train-classifier`."
        )
    key = (str(path.resolve()), path.stat().st_mtime_ns, bool(verify))
    if key in _LOADED:
        return _LOADED[key]
    if verify:
        digest = _file_sha256(path)
        if digest != CLASSIFIER_SHA256:
            raise ClassifierChecksumError(
                f"{path} has SHA-256 {digest}, expected {CLASSIFIER_SHA256}. "
                "The file is corrupt or was "
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
        raise ValueError(
            f"{name} must have shape (N, 28, 28) or (N, 28, 28, 1), got {np.shape(images)}."
        )
    if len(x) == 0:
        raise ValueError(f"{name} is empty.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite grey levels in [0, 1], got NaN or inf values.")
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
        ValueError: wrong image shape, NaN/inf or values outside [0, 1], or a non-positive
            ``batch_size``.
    """
    import keras

    batch_size = positive_int("batch_size", batch_size)
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


def train_classifier(output=None, *, epochs=6, batch_size=128, seed=0, verbose=2):
    """Train the course classifier on the full MNIST training set and save its weights and card.

    Deterministic on CPU for a given seed and library versions. Writes ``<output>`` (weights) and
    ``mnist_classifier.json`` beside it (test accuracy, SHA-256, seed, epochs, versions).

    Returns:
        dict: the card that was written.
    """
    import keras

    from .checks import nonnegative_int
    from .data import load_mnist
    from .runtime import set_seed

    # checked before anything is trained or written
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    seed = nonnegative_int("seed", seed)
    set_seed(seed)
    output = Path(output) if output is not None else classifier_path()
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    model = build_classifier()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
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
        "command": "python -m utils.classifier train-classifier",
    }
    (output.parent / CLASSIFIER_CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m utils.metrics", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train-classifier", help="train the feature classifier on full MNIST and save it in data/"
    )
    train.add_argument("--epochs", type=int, default=6)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    card = train_classifier(args.output, epochs=args.epochs, seed=args.seed)
    print(json.dumps(card, indent=2))
    if card["sha256"] != CLASSIFIER_SHA256:
        print(
            f"Set CLASSIFIER_SHA256 = {card['sha256']!r} in utils/classifier.py "
            "to commit these weights.",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
