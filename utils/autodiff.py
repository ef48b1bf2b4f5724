"""The former name of :mod:`utils.backend`'s gradient functions.

Chapters 03 and 05, as last executed, call ``utils.autodiff.value_and_gradients`` and
``utils.autodiff.input_gradients``; both now come from :mod:`utils.backend`, on every backend.
New code imports :mod:`utils.backend`. This module goes when those chapters are re-run.
"""

from .backend import input_gradients, value_and_gradients

__all__ = ["input_gradients", "value_and_gradients"]
