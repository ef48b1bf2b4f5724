"""The one place in the course that talks to a Keras backend directly.

Keras 3 runs the same model code on TensorFlow, JAX and PyTorch, and every model in the course
writes its mathematics in ``keras.ops``. Three things still differ between the backends, and
they live here, one module per backend (``tensorflow.py``, ``jax.py``, ``torch.py``), behind
backend-neutral functions:

- :func:`value_and_gradients` — a scalar loss and its gradients with respect to a list of
  variables, for training steps that update several networks with several optimizers (a GAN);
- :func:`input_gradients` — the gradient of a function with respect to its *input* tensor
  (the WGAN-GP gradient penalty, receptive fields of a PixelCNN, Langevin dynamics). It is
  itself differentiable, so calls nest inside :func:`value_and_gradients`;
- :func:`custom_train_step` — the calling convention of ``Model.train_step``: ``(data)`` on
  TensorFlow and PyTorch, the stateless ``(state, data) -> (logs, state)`` on JAX.

Plus :func:`compile_function` (a pure tensor function compiled by the backend's own compiler,
for loops too long to run op by op, such as annealed importance sampling) and
:func:`default_jit_compile`, the compilation setting measured fastest for the course's
small models on each backend.

Every function looks the backend up when it is called (``keras.backend.backend()``), so
importing this package imports no framework. On JAX, variable updates made inside these
functions (batch-normalization statistics, ``SeedGenerator`` states, optimizer slots) are
carried out of the traced computation and written back, so stateful Keras code works unchanged.
"""

from __future__ import annotations

import importlib

import keras

BACKENDS = ("tensorflow", "jax", "torch")


def name() -> str:
    """The active Keras backend: ``"tensorflow"``, ``"jax"`` or ``"torch"``.

    Raises:
        NotImplementedError: any other backend (e.g. ``"numpy"``, which cannot differentiate).
    """
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise NotImplementedError(
            f"the course runs on the Keras backends {', '.join(BACKENDS)}; the active backend is "
            f"{backend!r}. Set KERAS_BACKEND to one of them before importing keras."
        )
    return backend


def _implementation():
    return importlib.import_module(f".{name()}", __name__)


def value_and_gradients(fn, variables, *, has_aux=False):
    """Evaluate ``fn()`` and differentiate its scalar result with respect to ``variables``.

    Args:
        fn: a function of no arguments returning a scalar loss tensor, or ``(loss, aux)`` when
            ``has_aux`` is true (``aux``: a dict of tensors, e.g. values to log).
        variables: list of Keras variables (e.g. ``model.trainable_variables``).
        has_aux: whether ``fn`` returns ``(loss, aux)``.

    Returns:
        ``(loss, gradients)`` or ``(loss, aux, gradients)``; ``gradients`` is a list of tensors
        aligned with ``variables`` (zeros for a variable the loss does not depend on).

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: ``variables`` is empty, or ``fn`` does not return a scalar.
        NotImplementedError: an unsupported backend.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}.")
    variables = list(variables)
    if not variables:
        raise ValueError(
            "variables must be a non-empty list of Keras variables, got an empty list."
        )
    return _implementation().value_and_gradients(fn, variables, has_aux=bool(has_aux))


def input_gradients(fn, inputs):
    """Gradient of ``sum(fn(inputs))`` with respect to ``inputs``: a tensor of the inputs' shape.

    For a function applied row by row (a critic scoring each image of a batch), row ``i`` of the
    result is the gradient of the ``i``-th output with respect to the ``i``-th input. The result
    is differentiable with respect to the variables ``fn`` uses, so it may appear inside the loss
    of :func:`value_and_gradients` (double back-propagation, as in the WGAN-GP penalty).

    Args:
        fn: tensor (B, ...) -> tensor (B, ...) of scores.
        inputs: float tensor or array (B, ...).

    Raises:
        TypeError: ``fn`` is not callable.
        NotImplementedError: an unsupported backend.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of one tensor, got {type(fn).__name__}.")
    return _implementation().input_gradients(fn, keras.ops.convert_to_tensor(inputs))


def custom_train_step(model, step, *args):
    """Run ``step(data) -> logs`` as ``model.train_step`` under the active backend's convention.

    A model with its own training step (several optimizers, say) defines
    ``train_step(self, *args): return backend.custom_train_step(self, self._step, *args)`` and
    writes ``_step(data)`` statefully: it calls :func:`value_and_gradients`, applies optimizers and
    updates metrics as on TensorFlow. On JAX, ``args`` is ``(state, data)``: the step runs in a
    ``keras.StatelessScope`` bound to ``state`` (the model's trainable, non-trainable, optimizer
    and metric variables, in the order of ``model.optimizer.variables`` for the optimizer part),
    and the new state is collected from it. Elsewhere ``args`` is ``(data,)``.

    Returns:
        ``logs`` (TensorFlow, PyTorch) or ``(logs, state)`` (JAX).
    """
    return _implementation().custom_train_step(model, step, *args)


def compile_function(fn):
    """``fn`` compiled by the active backend: ``tf.function`` on TensorFlow, ``jax.jit`` on JAX,
    and ``fn`` itself on PyTorch (its eager mode is fast enough on a CPU).

    ``fn`` must be *pure*: tensors in, tensors out, no Keras variable reads or writes and no
    ``keras.random`` calls with a ``SeedGenerator`` (pass weights and pre-drawn random numbers as
    arguments). Loops inside it should use ``keras.ops.fori_loop``, which every backend compiles.
    Each new input shape may trigger a new trace.

    Raises:
        TypeError: ``fn`` is not callable.
        NotImplementedError: an unsupported backend.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of tensors, got {type(fn).__name__}.")
    return _implementation().compile_function(fn)


def default_jit_compile():
    """The ``jit_compile`` setting measured fastest for the course's models on this backend.

    TensorFlow: ``False`` (XLA made these small networks about 1.5x slower on a 2-core CPU);
    JAX: ``True`` (without ``jax.jit`` Keras runs op by op, 2-5x slower); PyTorch: ``False``
    (``torch.compile`` costs more to compile than a CPU chapter gains).
    """
    return name() == "jax"
