"""Checks of the chapters' exercises, one module per chapter (``utils.exercises.ch00`` ...).

A chapter's check cell calls one of these functions with the student's answer. Each check raises
``AssertionError`` with a hint when the answer is wrong, prints ``correct`` when it is right, and
is unit-tested against plausible wrong answers (an untrained model, a constant, a typo'd formula)
in ``tests/test_exercises_chNN.py``, so that a wrong answer cannot pass.
"""

import importlib

import numpy as np


def __getattr__(name):
    if name.startswith("ch") and name[2:].isdigit():
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'utils.exercises' has no attribute {name!r}")


def correct(message="correct"):
    """Print the one line every passed check prints."""
    print(message)


def finite_array(name, value, shape=None):
    """``value`` as a float64 array, asserting it holds no NaN or inf (and has ``shape``, if given).

    Raises:
        AssertionError: naming ``name`` when the value is not finite or has another shape.
    """
    arr = np.asarray(value, dtype=np.float64)
    assert np.all(np.isfinite(arr)), f"{name} contains NaN or inf values."
    if shape is not None:
        assert arr.shape == shape, f"{name} should have shape {shape}, got {arr.shape}."
    return arr
