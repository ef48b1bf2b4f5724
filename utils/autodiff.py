"""The backend-specific part of custom training steps: gradients.

Keras 3 models run on TensorFlow, JAX or PyTorch, but a training step that updates two networks
with two optimizers (a GAN) must ask the backend for gradients itself. This module is the one
place in the course where that happens, behind two functions:

- :func:`value_and_gradients` — the value of a scalar loss and its gradients with respect to a
  list of variables;
- :func:`input_gradients` — the gradient of a function with respect to its *input* tensor (the
  gradient penalty of WGAN-GP needs it, and needs it differentiable, so calls nest).

Only TensorFlow is implemented for now (this is the one module of ``utils`` allowed to use
``tf.*``); other backends raise :class:`NotImplementedError` naming the backend.
"""

from __future__ import annotations

import keras

SUPPORTED_BACKENDS = ("tensorflow",)


def require_supported_backend() -> str:
    """Return the active Keras backend, or raise if this module cannot compute gradients on it.

    Raises:
        NotImplementedError: the backend is not TensorFlow (names the backend and the fix).
    """
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise NotImplementedError(
            f"utils.autodiff computes gradients with the 'tensorflow' backend only; the active Keras backend is "
            f"{backend!r}. Set KERAS_BACKEND=tensorflow before importing keras (JAX and PyTorch support is planned)."
        )
    return backend


def value_and_gradients(fn, variables, *, has_aux=False):
    """Evaluate ``fn()`` and differentiate its scalar result with respect to ``variables``.

    Args:
        fn: a function of no arguments returning a scalar loss tensor, or ``(loss, aux)`` when
            ``has_aux`` is true (``aux`` is returned untouched, e.g. a dict of tensors to log).
        variables: list of Keras variables (e.g. ``model.trainable_variables``).
        has_aux: whether ``fn`` returns ``(loss, aux)``.

    Returns:
        ``(loss, gradients)`` or ``(loss, aux, gradients)``; ``gradients`` is a list aligned with
        ``variables`` (an entry is ``None`` for a variable the loss does not depend on).

    Raises:
        NotImplementedError: on a backend other than TensorFlow.
    """
    require_supported_backend()
    import tensorflow as tf

    with tf.GradientTape() as tape:
        result = fn()
    loss, aux = result if has_aux else (result, None)
    gradients = tape.gradient(loss, list(variables))
    return (loss, aux, gradients) if has_aux else (loss, gradients)


def input_gradients(fn, inputs):
    """Gradient of ``sum(fn(inputs))`` with respect to ``inputs``: a tensor of the inputs' shape.

    For a function applied row by row (a critic scoring each image of a batch), row ``i`` of the
    result is the gradient of ``fn``'s ``i``-th output with respect to the ``i``-th input. The
    computation is itself differentiable, so it may be called inside :func:`value_and_gradients`
    (a loss that contains a gradient, as in the WGAN-GP penalty).

    Raises:
        NotImplementedError: on a backend other than TensorFlow.
    """
    require_supported_backend()
    import tensorflow as tf

    x = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x)
