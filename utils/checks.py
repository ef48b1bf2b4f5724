"""Argument checks shared by the whole course, so that every error reads the same way.

Each check names the argument, says what it got and what it expects, and returns the value in
the form the caller needs. Public functions call these first, before any backend sees the data.
"""

from __future__ import annotations

import numbers

import numpy as np


def positive_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` unless it is an int >= 1.

    NumPy integers are accepted; booleans are rejected (``True`` is an int in Python, but never a
    meaningful size), and so are floats, even integral ones.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return int(value)


def nonnegative_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` unless it is an int >= 0.

    NumPy integers are accepted; booleans and floats are not (e.g. a seed or a count of steps).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}.")
    return int(value)


def finite_number(
    name: str, value, *, low=None, high=None, low_open=False, high_open=False
) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it is a finite real number in
    range.

    Args:
        name: the argument's name, for the message.
        low, high: bounds (``None``: unbounded); closed unless ``low_open`` / ``high_open``.

    Raises:
        ValueError: not a real number, NaN or inf, or out of range.
    """
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
    ):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        interval = (
            f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        )
        raise ValueError(f"{name} must lie in {interval}, got {value!r}.")
    return value


def check_seed(seed):
    """``None`` or a non-negative Python int (the seed of a ``keras.random`` draw).

    Raises:
        TypeError, ValueError: anything else.
    """
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or an int >= 0, got {seed!r} ({type(seed).__name__}).")
    if seed < 0:
        raise ValueError(f"seed must be None or an int >= 0, got {seed!r}.")
    return int(seed)


def check_labels(labels, n, num_classes, *, name="labels"):
    """Integer class ids for a model with ``num_classes`` classes (``None`` if unconditional).

    Args:
        labels: (n,) integer class ids in [0, num_classes), or ``None``.
        n: the number of images the labels go with.
        num_classes: the model's number of classes, ``None`` for an unconditional model.

    Returns:
        int32 array (n,) or ``None``.

    Raises:
        ValueError: labels missing for a conditional model, given to an unconditional one, of the
            wrong shape or length, one-hot instead of ids, or out of range.
        TypeError: labels that are not integers.
    """
    if num_classes is None:
        if labels is not None:
            raise ValueError(f"this model is unconditional: {name} must be None, got an array.")
        return None
    if labels is None:
        raise ValueError(
            f"this model is class-conditional ({num_classes} classes): "
            f"pass {name}=(n,) integer class ids."
        )
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == num_classes:
        raise ValueError(
            f"{name} must be integer class ids of shape ({n},), "
            f"got a ({arr.shape[0]}, {arr.shape[1]}) "
            "array (one-hot?); pass labels.argmax(axis=1)."
        )
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integer class ids, got dtype {arr.dtype}.")
    if len(arr) and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}), got values in [{arr.min()}, {arr.max()}]."
        )
    return arr.astype("int32")


def check_images(x, *, name="x", binary=False, shape=None):
    """A finite float32 batch of images (N, H, W, C) in [0, 1]; binary if asked.

    Args:
        x: array-like images.
        binary: require values in {0, 1} (a Bernoulli likelihood is computed on them).
        shape: the expected (H, W, C), or ``None``.

    Returns:
        float32 NumPy array.

    Raises:
        ValueError: wrong rank or shape, NaN or inf, values outside [0, 1] (e.g. raw uint8
            pixels), or non-binary values where ``binary``.
    """
    arr = np.asarray(x)
    if arr.dtype == np.uint8:
        raise ValueError(
            f"{name} must be images scaled to [0, 1], got uint8 values (divide by 255)."
        )
    arr = arr.astype("float32", copy=False)
    if arr.ndim != 4 or len(arr) == 0:
        raise ValueError(
            f"{name} must be a non-empty batch of shape (N, H, W, C), got {arr.shape}."
        )
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise ValueError(
            f"{name} must have images of shape {tuple(shape)}, got {tuple(arr.shape[1:])}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values.")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{arr.min():.4g}, {arr.max():.4g}]."
        )
    if binary and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(
            f"{name} must be binary (values 0 and 1) for a Bernoulli likelihood; binarize it first "
            "(utils.data.load_binarized_test for the course's test set)."
        )
    return arr
