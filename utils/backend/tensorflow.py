"""TensorFlow implementation of :mod:`utils.backend` (``tf.GradientTape``)."""

from __future__ import annotations

import tensorflow as tf
from keras import ops


def value_and_gradients(fn, variables, *, has_aux=False):
    with tf.GradientTape() as tape:
        result = fn()
    loss, aux = result if has_aux else (result, None)
    if len(loss.shape) != 0:
        raise ValueError(
            f"fn must return a scalar loss, got a tensor of shape {tuple(loss.shape)}."
        )
    gradients = tape.gradient(loss, variables)
    gradients = [
        ops.zeros(v.shape, v.dtype) if g is None else g for g, v in zip(gradients, variables)
    ]
    return (loss, aux, gradients) if has_aux else (loss, gradients)


def input_gradients(fn, inputs):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = ops.sum(fn(inputs))
    return tape.gradient(outputs, inputs)


def custom_train_step(model, step, data):
    return step(data)


def compile_function(fn):
    return tf.function(fn, autograph=False)  # keras.ops.fori_loop needs no autograph
