"""JAX implementation of :mod:`utils.backend` (``jax.value_and_grad`` over stateless scopes).

JAX differentiates pure functions, while Keras layers read and assign variables. Each function
here runs the stateful Keras code inside a ``keras.StatelessScope`` that maps the variables to
the values being differentiated (and every other variable to its current value), records what
the code assigns (batch-normalization statistics, ``SeedGenerator`` states), returns those
updates out of the traced function as auxiliary outputs and assigns them afterwards, so that
they reach an enclosing scope or the variables themselves.
"""

from __future__ import annotations

import jax
import keras
from keras import ops
from keras.src.backend.common.stateless_scope import get_stateless_scope


class _RecordingScope(keras.StatelessScope):
    """A stateless scope that starts from the enclosing scope's values and remembers what
    changed."""

    def __init__(self, overrides=()):
        super().__init__()
        outer = get_stateless_scope()
        if outer is not None:
            self.state_mapping.update(outer.state_mapping)
        self.updated = {}
        for variable, value in overrides:
            self.state_mapping[id(variable)] = value

    def add_update(self, update):
        super().add_update(update)
        self.updated[id(update[0])] = update[0]


def _pure(fn, variables):
    """``values -> (output, updates)``: ``fn`` evaluated with ``variables`` bound to ``values``."""

    def pure(values):
        with _RecordingScope(zip(variables, values)) as scope:
            output = fn()
        bound = {id(v) for v in variables}
        changed = [v for key, v in scope.updated.items() if key not in bound]
        return output, (changed, [scope.get_current_value(v) for v in changed])

    return pure


def _assign(changed, values):
    for variable, value in zip(changed, values):
        variable.assign(value)


def value_and_gradients(fn, variables, *, has_aux=False):
    pure = _pure(fn, variables)
    record = {}

    def loss_of(values):
        output, (changed, new_values) = pure(values)
        record["changed"] = changed  # Python objects cannot leave a traced function: keep aside
        loss, aux = output if has_aux else (output, None)
        if len(loss.shape) != 0:
            raise ValueError(
                f"fn must return a scalar loss, got a tensor of shape {tuple(loss.shape)}."
            )
        return loss, (aux, new_values)

    (loss, (aux, new_values)), gradients = jax.value_and_grad(loss_of, has_aux=True)(
        [v.value for v in variables]
    )
    _assign(record["changed"], new_values)
    return (loss, aux, gradients) if has_aux else (loss, gradients)


def input_gradients(fn, inputs):
    record = {}

    def total(x):
        with _RecordingScope() as scope:
            outputs = ops.sum(fn(x))
        record["changed"] = list(scope.updated.values())
        return outputs, [scope.get_current_value(v) for v in record["changed"]]

    gradient, new_values = jax.grad(total, has_aux=True)(inputs)
    _assign(record["changed"], new_values)
    return gradient


def custom_train_step(model, step, state, data):
    groups = (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )
    mapping = [
        (v, value) for group, values in zip(groups, state) for v, value in zip(group, values)
    ]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
    new_state = tuple([scope.get_current_value(v) for v in group] for group in groups)
    return logs, new_state


def compile_function(fn):
    return jax.jit(fn)
