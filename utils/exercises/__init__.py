"""Checks of the chapters' exercises, one module per chapter (``utils.exercises.ch00`` ...).

A chapter's check cell calls one of these functions with the student's answer. Each check raises
``AssertionError`` with a hint when the answer is wrong, prints ``correct`` when it is right, and
is unit-tested against plausible wrong answers (an untrained model, a constant, a typo'd formula)
in ``tests/test_exercises_chNN.py``, so that a wrong answer cannot pass.
"""

import importlib


def __getattr__(name):
    if name.startswith("ch") and name[2:].isdigit():
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'utils.exercises' has no attribute {name!r}")


def correct(message="correct"):
    """Print the one line every passed check prints."""
    print(message)
