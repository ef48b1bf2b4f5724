"""Encoder and decoder builders shared by the autoencoder and VAE chapters.

All builders return Keras Functional models made of built-in layers, so they need no custom
``get_config`` and round-trip through ``model.save("x.keras")`` / ``keras.saving.load_model``.

Shapes (channels-last, float32):

- encoders map images (B, H, W, C) to codes (B, latent_dim);
- decoders map codes (B, latent_dim) to images (B, H, W, C) with values in (0, 1) when
  ``output_activation="sigmoid"`` (the default), or to unbounded logits with ``None``.

A VAE encoder needs a mean and a log-variance per latent dimension: build the encoder with
``latent_dim=2 * k`` and split its output, or add two heads to :func:`build_conv_encoder`'s trunk.

The convolutional pair follows the usual stride-2 design of MNIST autoencoders: two stride-2
convolutions take 28x28 to 7x7, and two stride-2 transposed convolutions take 7x7 back to 28x28
(see e.g. Masci et al. 2011, *Stacked convolutional auto-encoders*).
"""

from __future__ import annotations

import contextlib
import numbers

import keras
from keras import layers

from .checks import finite_number
from .checks import positive_int as _positive_int
from .runtime import timed

DEFAULT_IMAGE_SHAPE = (28, 28, 1)


def _units(name, values):
    if isinstance(values, numbers.Integral):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of positive ints, got {values!r}.") from None
    return tuple(_positive_int(f"{name}[{i}]", v) for i, v in enumerate(values))


def _image_shape(shape, stride_total=1):
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise ValueError(f"image_shape must be (height, width, channels), got {shape!r}.") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels) > 0, got {shape!r}.")
    if shape[0] % stride_total or shape[1] % stride_total:
        raise ValueError(
            f"image_shape {shape}: height and width must be divisible by {stride_total} "
            f"(one factor 2 per stride-2 layer)."
        )
    return shape


def build_dense_encoder(
    latent_dim,
    hidden_units=(512, 256),
    *,
    image_shape=DEFAULT_IMAGE_SHAPE,
    activation="relu",
    name="dense_encoder",
):
    """Multilayer-perceptron encoder: flatten, ``hidden_units`` ReLU layers, linear code.

    Args:
        latent_dim: size of the code (positive int).
        hidden_units: widths of the hidden Dense layers, input side first (may be empty).
        image_shape: (H, W, C) of the input images.
        activation: activation of the hidden layers.
        name: model name.

    Returns:
        ``keras.Model``: (B, H, W, C) float32 -> (B, latent_dim) float32 (linear outputs).

    Raises:
        ValueError: a non-positive latent size or width, or a malformed ``image_shape``.
    """
    latent_dim = _positive_int("latent_dim", latent_dim)
    hidden_units = _units("hidden_units", hidden_units)
    image_shape = _image_shape(image_shape)
    inputs = keras.Input(shape=image_shape, name="images")
    h = layers.Flatten()(inputs)
    for i, units in enumerate(hidden_units):
        h = layers.Dense(units, activation=activation, name=f"hidden_{i}")(h)
    code = layers.Dense(latent_dim, name="code")(h)
    return keras.Model(inputs, code, name=name)


def build_dense_decoder(
    latent_dim,
    hidden_units=(256, 512),
    *,
    image_shape=DEFAULT_IMAGE_SHAPE,
    activation="relu",
    output_activation="sigmoid",
    name="dense_decoder",
):
    """Multilayer-perceptron decoder: ``hidden_units`` ReLU layers, then one unit per pixel.

    Args:
        latent_dim: size of the code (positive int).
        hidden_units: widths of the hidden Dense layers, code side first (may be empty).
        image_shape: (H, W, C) of the output images.
        activation: activation of the hidden layers.
        output_activation: ``"sigmoid"`` for intensities in (0, 1), ``None`` for logits.
        name: model name.

    Returns:
        ``keras.Model``: (B, latent_dim) -> (B, H, W, C) float32.

    Raises:
        ValueError: a non-positive latent size or width, or a malformed ``image_shape``.
    """
    latent_dim = _positive_int("latent_dim", latent_dim)
    hidden_units = _units("hidden_units", hidden_units)
    image_shape = _image_shape(image_shape)
    inputs = keras.Input(shape=(latent_dim,), name="code")
    h = inputs
    for i, units in enumerate(hidden_units):
        h = layers.Dense(units, activation=activation, name=f"hidden_{i}")(h)
    n_pixels = image_shape[0] * image_shape[1] * image_shape[2]
    h = layers.Dense(n_pixels, activation=output_activation, name="pixels")(h)
    outputs = layers.Reshape(image_shape, name="images")(h)
    return keras.Model(inputs, outputs, name=name)


def build_conv_encoder(
    latent_dim,
    filters=(32, 64),
    *,
    image_shape=DEFAULT_IMAGE_SHAPE,
    kernel_size=3,
    activation="relu",
    name="conv_encoder",
):
    """Convolutional encoder: one stride-2 ``kernel_size`` convolution per entry of ``filters``.

    With the defaults, (B, 28, 28, 1) -> 14x14x32 -> 7x7x64 -> flatten (3136) -> Dense(latent_dim).

    Args:
        latent_dim: size of the code (positive int). A VAE passes ``2 * k`` and splits the output
            into mean and log-variance.
        filters: channels of the stride-2 convolutions, input side first (at least one).
        image_shape: (H, W, C); H and W must be divisible by ``2 ** len(filters)``.
        kernel_size: square kernel size (positive int).
        activation: activation of the convolutions.
        name: model name.

    Returns:
        ``keras.Model``: (B, H, W, C) float32 -> (B, latent_dim) float32 (linear outputs).

    Raises:
        ValueError: bad sizes, empty ``filters``, or H, W not divisible by ``2 ** len(filters)``.
    """
    latent_dim = _positive_int("latent_dim", latent_dim)
    filters = _units("filters", filters)
    if not filters:
        raise ValueError("filters must name at least one convolution, got ().")
    kernel_size = _positive_int("kernel_size", kernel_size)
    image_shape = _image_shape(image_shape, 2 ** len(filters))
    inputs = keras.Input(shape=image_shape, name="images")
    h = inputs
    for i, f in enumerate(filters):
        h = layers.Conv2D(
            f, kernel_size, strides=2, padding="same", activation=activation, name=f"conv_{i}"
        )(h)
    h = layers.Flatten()(h)
    code = layers.Dense(latent_dim, name="code")(h)
    return keras.Model(inputs, code, name=name)


def build_conv_decoder(
    latent_dim,
    filters=(64, 32),
    *,
    image_shape=DEFAULT_IMAGE_SHAPE,
    kernel_size=3,
    activation="relu",
    output_activation="sigmoid",
    name="conv_decoder",
):
    """Convolutional decoder, the mirror of :func:`build_conv_encoder`.

    With the defaults, (B, latent_dim) -> Dense(7*7*64) -> 7x7x64 -> 14x14x64 -> 28x28x32 (stride-2
    transposed convolutions) -> a 3x3 convolution to C channels.

    Args:
        latent_dim: size of the code (positive int).
        filters: channels of the stride-2 transposed convolutions, code side first (at least one).
        image_shape: (H, W, C) of the output; H and W divisible by ``2 ** len(filters)``.
        kernel_size: square kernel size (positive int).
        activation: activation of the hidden layers.
        output_activation: ``"sigmoid"`` for intensities in (0, 1), ``None`` for logits.
        name: model name.

    Returns:
        ``keras.Model``: (B, latent_dim) float32 -> (B, H, W, C) float32.

    Raises:
        ValueError: bad sizes, empty ``filters``, or H, W not divisible by ``2 ** len(filters)``.
    """
    latent_dim = _positive_int("latent_dim", latent_dim)
    filters = _units("filters", filters)
    if not filters:
        raise ValueError("filters must name at least one transposed convolution, got ().")
    kernel_size = _positive_int("kernel_size", kernel_size)
    image_shape = _image_shape(image_shape, 2 ** len(filters))
    factor = 2 ** len(filters)
    h0, w0 = image_shape[0] // factor, image_shape[1] // factor
    inputs = keras.Input(shape=(latent_dim,), name="code")
    h = layers.Dense(h0 * w0 * filters[0], activation=activation, name="project")(inputs)
    h = layers.Reshape((h0, w0, filters[0]))(h)
    for i, f in enumerate(filters):
        h = layers.Conv2DTranspose(
            f, kernel_size, strides=2, padding="same", activation=activation, name=f"deconv_{i}"
        )(h)
    outputs = layers.Conv2D(
        image_shape[2], kernel_size, padding="same", activation=output_activation, name="images"
    )(h)
    return keras.Model(inputs, outputs, name=name)


def build_autoencoder(encoder, decoder, *, name="autoencoder"):
    """Chain an encoder and a decoder into one trainable model ``x -> decoder(encoder(x))``.

    The two parts stay reachable as layers of the result (``model.get_layer(encoder.name)``), so a
    notebook can encode or decode after training the whole.

    Args:
        encoder: ``keras.Model`` (B, H, W, C) -> (B, k).
        decoder: ``keras.Model`` (B, k) -> (B, H, W, C).
        name: model name.

    Returns:
        ``keras.Model``: (B, H, W, C) -> (B, H, W, C).

    Raises:
        ValueError: the encoder's code size differs from the decoder's input size, or the decoder's
            output shape differs from the encoder's input shape.
    """
    if not isinstance(encoder, keras.Model) or not isinstance(decoder, keras.Model):
        raise ValueError(
            f"encoder and decoder must be keras.Model instances, got {type(encoder).__name__} "
            f"and {type(decoder).__name__}."
        )
    code_shape = tuple(encoder.output.shape[1:])
    decoder_in = tuple(decoder.input.shape[1:])
    if code_shape != decoder_in:
        raise ValueError(
            f"encoder {encoder.name!r} outputs codes of shape {code_shape} but decoder "
            f"{decoder.name!r} expects {decoder_in}."
        )
    image_in = tuple(encoder.input.shape[1:])
    image_out = tuple(decoder.output.shape[1:])
    if image_in != image_out:
        raise ValueError(
            f"decoder {decoder.name!r} outputs images of shape {image_out} but encoder "
            f"{encoder.name!r} takes {image_in}."
        )
    inputs = keras.Input(shape=image_in, name="images")
    outputs = decoder(encoder(inputs))
    return keras.Model(inputs, outputs, name=name)


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
    error per pixel. Prints the wall time of the run unless ``label`` is None.

    Args:
        model: an uncompiled or compiled ``keras.Model`` mapping images to images.
        inputs: (N, H, W, C) float32 training inputs.
        targets: training targets of the same shape (default: ``inputs``).
        validation: optional ``(val_inputs, val_targets)`` evaluated after every epoch.
        epochs: number of passes over the data (positive int).
        batch_size: images per gradient step (positive int).
        loss: any Keras loss identifier or object.
        learning_rate: Adam's step size (> 0).
        label: name printed with the wall time; ``None`` prints nothing (a notebook whose output
            must not change from run to run).
        verbose: Keras' verbosity (0 silent, 1 progress bar, 2 one line per epoch).

    Returns:
        ``keras.callbacks.History`` of the run.

    Raises:
        ValueError: non-positive epochs, batch size or learning rate, or targets whose shape
            differs from the model's output for ``inputs``.
    """
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    learning_rate = finite_number("learning_rate", learning_rate, low=0.0, low_open=True)
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
    with timed(label) if label is not None else contextlib.nullcontext():
        history = model.fit(
            inputs,
            targets,
            validation_data=validation,
            epochs=int(epochs),
            batch_size=int(batch_size),
            verbose=verbose,
        )
    return history
