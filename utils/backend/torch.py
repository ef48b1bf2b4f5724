"""PyTorch implementation of :mod:`utils.backend` (``torch.autograd.grad``)."""

from __future__ import annotations

import functools

import torch
from keras import ops


def value_and_gradients(fn, variables, *, has_aux=False):
    result = fn()
    loss, aux = result if has_aux else (result, None)
    if len(loss.shape) != 0:
        raise ValueError(
            f"fn must return a scalar loss, got a tensor of shape {tuple(loss.shape)}."
        )
    values = [v.value for v in variables]
    gradients = torch.autograd.grad(loss, values, allow_unused=True)
    gradients = [torch.zeros_like(v) if g is None else g for g, v in zip(gradients, values)]
    loss = loss.detach()
    return (loss, aux, gradients) if has_aux else (loss, gradients)


def input_gradients(fn, inputs):
    x = inputs if inputs.requires_grad else inputs.detach().requires_grad_(True)
    outputs = ops.sum(fn(x))
    # create_graph keeps the result differentiable (double back-propagation).
    (gradient,) = torch.autograd.grad(outputs, x, create_graph=True)
    return gradient


def custom_train_step(model, step, data):
    return step(data)


def compile_function(fn):
    # No compiler: eager PyTorch is fast enough on a CPU. Arrays are converted to tensors, as
    # tf.function and jax.jit do.
    @functools.wraps(fn)
    def call(*args):
        return fn(*(ops.convert_to_tensor(a) for a in args))

    return call
