"""Training loops shared by chapters that fit with ``model.fit``.

The models and losses are the chapters' own; this module only removes the repeated compile/fit/
timing boilerplate, using Keras' own progress output (``verbose=2``: one line per epoch, which keeps
committed notebooks small).
"""

from __future__ import annotations

import numbers

import keras

from .runtime import timed


def fit_reconstruction(
    model,
    inputs,
    targets=None,
    *,
    validation=None,
    epochs,
    batch_size=128,
    loss="binary_crossentropy",
    learning_rate=1e-3,
    label="training",
    verbose=2,
):
    """Compile ``model`` with Adam and fit it to reproduce ``targets`` from ``inputs``.

    Used for autoencoders (``targets = inputs``) and denoising autoencoders (noisy inputs, clean
    targets). The Keras loss ``"binary_crossentropy"`` is the mean over pixels of the per-pixel
    cross-entropy in nats (multiply by 784 for nats per MNIST image); ``"mse"`` is the mean squared
    error per pixel. Prints the wall time of the run.

    Args:
        model: an uncompiled or compiled ``keras.Model`` mapping images to images.
        inputs: (N, H, W, C) float32 training inputs.
        targets: training targets of the same shape (default: ``inputs``).
        validation: optional ``(val_inputs, val_targets)`` evaluated after every epoch.
        epochs: number of passes over the data (positive int).
        batch_size: images per gradient step (positive int).
        loss: any Keras loss identifier or object.
        learning_rate: Adam's step size (> 0).
        label: name printed with the wall time.
        verbose: Keras' verbosity (0 silent, 1 progress bar, 2 one line per epoch).

    Returns:
        ``keras.callbacks.History`` of the run.

    Raises:
        ValueError: non-positive epochs, batch size or learning rate, or targets whose shape
            differs from the model's output for ``inputs``.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if not isinstance(learning_rate, numbers.Real) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}.")
    targets = inputs if targets is None else targets
    if len(targets) != len(inputs):
        raise ValueError(
            f"inputs and targets must have equal lengths, got {len(inputs)} and {len(targets)}."
        )
    try:
        out_shape = tuple(model.output.shape[1:])
    except (AttributeError, ValueError):  # a subclassed model that has not been called yet
        out_shape = None
    if out_shape is not None and tuple(targets.shape[1:]) != out_shape:
        raise ValueError(
            f"targets have shape {tuple(targets.shape[1:])} per example; "
            f"the model outputs {out_shape}."
        )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    with timed(label):
        history = model.fit(
            inputs,
            targets,
            validation_data=validation,
            epochs=int(epochs),
            batch_size=int(batch_size),
            verbose=verbose,
        )
    return history
