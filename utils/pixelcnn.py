"""Autoregressive image models: masked convolutions, PixelCNN and Gated PixelCNN.

An autoregressive model factorizes ``p(x) = prod_i p(x_i | x_<i)`` over the pixels in raster
order (row by row, left to right). A PixelCNN computes every conditional at once with
convolutions whose kernels are *masked* so that the output at pixel i never sees pixels j >= i:
training and likelihood evaluation take one forward pass; sampling takes one pass per pixel.

- :class:`MaskedConv2D`: mask "A" (first layer; the centre pixel is hidden) and "B" (later
  layers; the centre is visible, since it now carries features of earlier pixels only).
- :class:`PixelCNNResidualBlock` / :func:`build_pixelcnn`: a mask-A 7x7 convolution, residual
  blocks around mask-B convolutions and a 1x1 output head (van den Oord, Kalchbrenner,
  Kavukcuoglu 2016, section 3.4 and figure 5). Its
  receptive field has a *blind spot* above and to the right of each pixel.
- :class:`GatedPixelCNNBlock` / :func:`build_gated_pixelcnn`: separate vertical and horizontal
  stacks with gated activations ``tanh(.) * sigmoid(.)`` and optional class conditioning (van den
  Oord, Kalchbrenner, Vinyals, Espeholt, Graves, Kavukcuoglu 2016, eq. 2 and 4, figure 2). The
  vertical stack sees a (k//2 + 1) x k patch (the current row and k//2 rows above, k columns
  wide), the horizontal stack the pixels to the left: stacked, they leave no blind spot within
  the network's reach (which grows by k//2 rows and columns per layer).
- :func:`log_likelihood` (exact, nats per image and bits/dim) and :func:`sample` (pixel by pixel,
  seeded, with optional labels and a prefix of known pixels).
- :class:`PixelCNN`: a network as a course model (:mod:`utils.contract`): ``fit`` on the exact
  NLL, ``log_likelihood`` and ``generate`` with integer class ids.

Images are binary, (B, 28, 28, 1) float32 in {0, 1}; models output one Bernoulli *logit* per pixel.
"""

from __future__ import annotations

import numbers
import time

import keras
import numpy as np
from keras import layers, ops

from .checks import check_images, check_labels, check_seed
from .checks import positive_int as _positive_int
from .contract import GenerativeModel
from .data import DynamicBinarization
from .likelihood import log_mean_exp

MASK_TYPES = ("A", "B")


def _kernel_2d(kernel_size):
    if isinstance(kernel_size, numbers.Integral) and not isinstance(kernel_size, bool):
        kernel_size = (int(kernel_size), int(kernel_size))
    if not isinstance(kernel_size, (tuple, list)) or len(kernel_size) != 2:
        raise ValueError(
            f"kernel_size must be an odd int or a pair (kh, kw) of odd ints (a 2-D kernel), "
            f"got {kernel_size!r}."
        )
    kh, kw = kernel_size
    for k in (kh, kw):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 or k % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd so that the kernel has a centre pixel, "
                f"got {tuple(kernel_size)!r}."
            )
    return int(kh), int(kw)


def causal_mask(kernel_size, mask_type):
    """(kh, kw) float32 mask of a masked convolution: 1 where the kernel may look.

    Rows above the centre are visible; in the centre row, the columns to its left; the centre
    itself only for mask "B".

    Raises:
        ValueError: an even or non-2-D kernel, or a mask type other than "A" / "B".
    """
    kh, kw = _kernel_2d(kernel_size)
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}.")
    mask = np.zeros((kh, kw), dtype="float32")
    mask[: kh // 2, :] = 1.0
    mask[kh // 2, : kw // 2 + (mask_type == "B")] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="course")
class MaskedConv2D(keras.layers.Layer):
    """A 2-D convolution whose kernel is masked for raster-order causality (single-channel images).

    Output pixel (r, c) depends on input pixels above row r and, in row r, to the left of column c
    (and on (r, c) itself for mask "B"). "same" padding, stride 1. The mask is spatial only: every
    input channel is a feature of the same pixel, which is right for one-channel images.

    Args:
        filters: output channels (positive int).
        kernel_size: odd int or pair of odd ints.
        mask_type: "A" (hides the centre; use for the layer that sees the image) or "B".
        use_bias: add a bias per output channel.
        activation: optional activation name or callable.
        kernel_initializer: Keras initializer.

    Input: (B, H, W, C) float. Output: (B, H, W, filters).

    Raises:
        ValueError: an even or non-2-D kernel, an unknown mask type, a non-positive ``filters``,
            or an input that is not 4-D.

    Reference: A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu (2016). Pixel recurrent neural
    networks. *ICML*, section 3.4 and figure 2.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        mask_type="B",
        *,
        use_bias=True,
        activation=None,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        self.kernel_size = _kernel_2d(kernel_size)
        if mask_type not in MASK_TYPES:
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}.")
        self.mask_type = mask_type
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.mask = causal_mask(self.kernel_size, mask_type)[:, :, None, None]

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"MaskedConv2D expects (B, H, W, C) inputs, got shape {tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, int(input_shape[-1]), self.filters),
            initializer=self.kernel_initializer,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
            if self.use_bias
            else None
        )

    def call(self, inputs):
        y = ops.conv(inputs, self.kernel * ops.cast(self.mask, self.kernel.dtype), padding="same")
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y) if self.activation is not None else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
            "use_bias": self.use_bias,
            "activation": keras.activations.serialize(self.activation)
            if self.activation is not None
            else None,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def _image_input(image_shape):
    if len(image_shape) != 3 or image_shape[-1] != 1:
        raise ValueError(
            f"PixelCNNs here model one-channel images (H, W, 1), got image_shape={image_shape!r}."
        )
    return keras.Input(image_shape, name="image")


@keras.saving.register_keras_serializable(package="course")
class PixelCNNResidualBlock(keras.layers.Layer):
    """The residual block of PixelCNN (van den Oord et al. 2016a, figure 5), for one-channel images.

    ``x -> ReLU -> 1x1 conv (2h -> h) -> ReLU -> k x k mask-B conv (h -> h) -> ReLU -> 1x1 conv
    (h -> 2h) -> + x``. 1x1 convolutions mix the channels of one pixel only, so the block is causal
    whenever its input is (mask B: the centre position already holds features of earlier pixels).

    Args:
        filters: channels 2h of the input and output (even int >= 2).
        kernel_size: odd size of the masked convolution.

    Input and output: (B, H, W, filters).

    Raises:
        ValueError: odd or non-positive ``filters``, an even kernel, or an input whose channel
            count differs from ``filters``.
    """

    def __init__(self, filters, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        if self.filters < 2 or self.filters % 2:
            raise ValueError(
                f"filters must be an even int >= 2 (the block halves it), got {filters}."
            )
        self.kernel_size = _kernel_2d(kernel_size)
        half = self.filters // 2
        self.reduce = layers.Conv2D(half, 1, activation="relu", name="reduce")
        self.masked = MaskedConv2D(half, self.kernel_size, "B", activation="relu", name="masked_B")
        self.expand = layers.Conv2D(self.filters, 1, name="expand")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != self.filters:
            raise ValueError(
                f"PixelCNNResidualBlock({self.filters}) expects "
                f"(B, H, W, {self.filters}) inputs, got {tuple(input_shape)}."
            )
        self.reduce.build(input_shape)
        half_shape = (*input_shape[:-1], self.filters // 2)
        self.masked.build(half_shape)
        self.expand.build(half_shape)

    def call(self, inputs):
        return inputs + self.expand(self.masked(self.reduce(ops.relu(inputs))))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


def build_pixelcnn(*, filters=64, n_blocks=5, image_shape=(28, 28, 1), name="pixelcnn"):
    """A PixelCNN with residual blocks (van den Oord et al. 2016a, figure 5, for binary images).

    ``7x7 mask-A conv (f) -> n_blocks x PixelCNNResidualBlock(f) -> ReLU -> 1x1 (f) -> ReLU ->
    1x1 (1)``, giving one logit per pixel. Its receptive field has a blind spot (see the module
    docstring).

    Returns:
        keras Model (B, H, W, 1) binary images -> (B, H, W, 1) logits.

    Raises:
        ValueError: non-positive sizes, ``filters`` odd or < 2, or a multi-channel image shape.
    """
    filters, n_blocks = _positive_int("filters", filters), _positive_int("n_blocks", n_blocks)
    if filters < 2 or filters % 2:
        raise ValueError(f"filters must be an even int >= 2 (blocks halve it), got {filters}.")
    x = _image_input(tuple(image_shape))
    h = MaskedConv2D(filters, 7, "A", name="conv_A")(x)
    for i in range(n_blocks):
        h = PixelCNNResidualBlock(filters, 3, name=f"residual_{i}")(h)
    h = layers.Conv2D(filters, 1, activation="relu")(layers.ReLU()(h))
    return keras.Model(x, layers.Conv2D(1, 1, name="logits")(h), name=name)


@keras.saving.register_keras_serializable(package="course")
class GatedPixelCNNBlock(keras.layers.Layer):
    """One layer of the Gated PixelCNN: a vertical and a horizontal stack (van den Oord et al.
    2016b).

    Inputs ``[v, h]`` (or ``[v, h, c]`` with a condition vector c of shape (B, m)), each
    (B, H, W, C).
    The **vertical stack** convolves with a (k//2 + 1) x k kernel that sees the current row and the
    k//2 rows above, k columns wide (not the full image width: each layer widens the reach by
    k//2 columns on either side); the **horizontal stack** with a 1 x (k//2 + 1) kernel that sees
    the current pixel and the k//2 to its left. The vertical features are shifted down one row
    before they enter the horizontal stack, so the horizontal output at (r, c) sees only rows < r
    from the vertical stack and columns <= c of row r: raster-order causal, and with no blind
    spot. For the first layer (``mask_type="A"``) the horizontal input is shifted right by one
    pixel, hiding the current pixel, and there is no residual connection.

    Each stack applies the gated unit ``tanh(W_f * x + V_f c) * sigmoid(W_g * x + V_g c)``
    (eq. 2, and eq. 4 for the condition c); the horizontal stack ends with a 1x1 convolution and a
    residual connection.

    Args:
        filters: channels of both stacks (positive int).
        kernel_size: odd k.
        mask_type: "A" for the first layer, "B" after it.
        conditional: whether a condition vector is passed as a third input.

    Returns (from ``call``): ``[v_out, h_out]``, each (B, H, W, filters).

    Raises:
        ValueError: bad sizes or mask type, inputs of the wrong rank or number.
    """

    def __init__(self, filters, kernel_size=3, mask_type="B", *, conditional=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        k = _kernel_2d(kernel_size)
        if k[0] != k[1]:
            raise ValueError(f"GatedPixelCNNBlock needs a square kernel, got {k}.")
        self.kernel_size = k[0]
        if mask_type not in MASK_TYPES:
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}.")
        self.mask_type = mask_type
        self.conditional = bool(conditional)
        half, f2 = self.kernel_size // 2, 2 * self.filters
        self.v_pad = layers.ZeroPadding2D(((half, 0), (half, half)))
        self.v_conv = layers.Conv2D(f2, (half + 1, self.kernel_size), name="v_conv")
        self.v_shift = layers.ZeroPadding2D(((1, 0), (0, 0)))  # then crop the last row
        self.v_to_h = layers.Conv2D(f2, 1, name="v_to_h")
        self.h_pad = layers.ZeroPadding2D(((0, 0), (half + (mask_type == "A"), 0)))
        self.h_conv = layers.Conv2D(f2, (1, half + 1), name="h_conv")
        self.h_out = layers.Conv2D(self.filters, 1, name="h_out")
        if self.conditional:
            self.v_cond = layers.Dense(f2, use_bias=False, name="v_cond")
            self.h_cond = layers.Dense(f2, use_bias=False, name="h_cond")

    def build(self, input_shape):
        expected = 3 if self.conditional else 2
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != expected
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                f"GatedPixelCNNBlock expects {expected} inputs "
                f"([v, h{', c' if self.conditional else ''}]), got {input_shape!r}."
            )
        v_shape, h_shape = tuple(input_shape[0]), tuple(input_shape[1])
        if len(v_shape) != 4 or len(h_shape) != 4:
            raise ValueError(f"v and h must be (B, H, W, C), got {v_shape} and {h_shape}.")
        self.v_conv.build(self.v_pad.compute_output_shape(v_shape))
        self.v_to_h.build((*v_shape[:-1], 2 * self.filters))
        self.h_conv.build(self.h_pad.compute_output_shape(h_shape))
        self.h_out.build((*h_shape[:-1], self.filters))
        if self.conditional:
            self.v_cond.build(tuple(input_shape[2]))
            self.h_cond.build(tuple(input_shape[2]))

    def _gate(self, x):
        a, b = ops.split(x, 2, axis=-1)
        return ops.tanh(a) * ops.sigmoid(b)

    def call(self, inputs):
        v, h = inputs[0], inputs[1]
        height, width = ops.shape(h)[1], ops.shape(h)[2]
        v_pre = self.v_conv(self.v_pad(v))  # row r sees rows r - k//2 .. r
        if self.conditional:
            v_pre = v_pre + self.v_cond(inputs[2])[:, None, None, :]
        # Mask B: column c sees columns c - k//2 .. c. Mask A pads one more column on the left, so
        # column c sees c - k//2 - 1 .. c - 1; the extra output column at the right is dropped.
        h_pre = self.h_conv(self.h_pad(h))[:, :, :width, :] + self.v_to_h(
            self.v_shift(v_pre)[:, :height]
        )
        if self.conditional:
            h_pre = h_pre + self.h_cond(inputs[2])[:, None, None, :]
        v_out = self._gate(v_pre)
        h_out = self.h_out(self._gate(h_pre))
        if self.mask_type == "B":
            h_out = h_out + h
        return [v_out, h_out]

    def compute_output_shape(self, input_shape):
        shape = (*tuple(input_shape[1])[:-1], self.filters)
        return [shape, shape]

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "mask_type": self.mask_type,
            "conditional": self.conditional,
        }


def build_gated_pixelcnn(
    *,
    filters=32,
    n_layers=8,
    kernel_size=3,
    num_classes=None,
    image_shape=(28, 28, 1),
    name="gated_pixelcnn",
):
    """A Gated PixelCNN for binary images (van den Oord et al. 2016b), optionally class-conditional.

    One mask-A :class:`GatedPixelCNNBlock` on the image, ``n_layers - 1`` mask-B blocks, then
    ``ReLU -> 1x1 (f) -> ReLU -> 1x1 (1)`` on the horizontal stack: one logit per pixel. With
    ``num_classes``, a one-hot label (B, num_classes) is a second input and conditions every block.

    Returns:
        keras Model: image (B, H, W, 1) [, one-hot (B, num_classes)] -> (B, H, W, 1) logits.

    Raises:
        ValueError: non-positive sizes, an even kernel, or a multi-channel image shape.
    """
    filters, n_layers = _positive_int("filters", filters), _positive_int("n_layers", n_layers)
    x = _image_input(tuple(image_shape))
    inputs, cond = [x], []
    if num_classes is not None:
        label = keras.Input((_positive_int("num_classes", num_classes),), name="label")
        inputs.append(label)
        cond = [label]
    v, h = x, x
    for i in range(n_layers):
        v, h = GatedPixelCNNBlock(
            filters, kernel_size, "A" if i == 0 else "B", conditional=bool(cond), name=f"gated_{i}"
        )([v, h, *cond])
    out = layers.Conv2D(filters, 1, activation="relu")(layers.ReLU()(h))
    out = layers.Conv2D(1, 1, name="logits")(out)
    return keras.Model(inputs if len(inputs) > 1 else x, out, name=name)


# ----------------------------------------------------------------------------------------------
# Likelihood and sampling
# ----------------------------------------------------------------------------------------------


def _is_conditional(model):
    return len(model.inputs) == 2


def _inputs(model, x, labels):
    if _is_conditional(model):
        if labels is None:
            raise ValueError(
                "this PixelCNN is class-conditional: pass one-hot labels of shape (N, num_classes)."
            )
        return [x, labels]
    if labels is not None:
        raise ValueError("this PixelCNN is not conditional: labels must be None.")
    return x


def log_likelihood(model, x, *, labels=None, batch_size=100, per_pixel=False):
    """Exact ``log p(x)`` of binary images under a PixelCNN, in nats per image.

    ``log p(x) = sum_i [x_i * l_i - softplus(l_i)]`` with ``l`` the model's logits: the chain rule
    makes the sum of the per-pixel Bernoulli log-probabilities the exact log-likelihood.

    Args:
        model: a PixelCNN from this module (image [, one-hot label] -> logits).
        x: (N, H, W, 1) binary images.
        labels: (N, num_classes) one-hot labels for a conditional model.
        batch_size: images per forward pass (100: on a 2-core CPU, larger batches cost more per
            image, measured).
        per_pixel: return the (N, H, W) map of ``log p(x_i | x_<i)`` instead of its sum.

    Returns:
        float64 array (N,) of log-likelihoods in nats (<= 0), or (N, H, W) with ``per_pixel``.
        NLL is its negative; :func:`utils.likelihood.nats_to_bits_per_dim` converts to bits/dim.

    Raises:
        ValueError: labels missing for a conditional model (or given to an unconditional one), or
            images that are not binary.
    """
    x = np.asarray(x, dtype="float32")
    if not np.all((x == 0) | (x == 1)):
        raise ValueError(
            "log_likelihood needs binary images (values 0 and 1); binarize them first."
        )
    out = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        lb = None if labels is None else np.asarray(labels[start : start + batch_size], "float32")
        # predict_on_batch runs Keras' compiled predict function: about 3x faster than eager calls.
        logits = np.asarray(model.predict_on_batch(_inputs(model, xb, lb)), dtype=np.float64)
        ll = (xb * logits - np.logaddexp(0.0, logits))[..., 0]  # log sigma(l) or log(1 - sigma(l))
        out.append(ll if per_pixel else ll.sum(axis=(1, 2)))
    return np.concatenate(out)


def sample(
    model,
    n=None,
    *,
    labels=None,
    prefix=None,
    n_known=0,
    seed=0,
    batch_size=100,
    window=None,
    return_seconds=False,
):
    """Draw binary images pixel by pixel in raster order (one forward pass per pixel).

    With ``window=(rows, cols)`` each pass runs a copy of the network (same weights) on a
    ``rows x cols`` crop around the pixel being drawn, instead of on the whole image: the crop
    holds the pixel's row and the ``rows - 1`` rows above it, and ``cols`` columns centred on it
    (shifted inwards at the image border). When the crop contains the pixel's whole receptive
    field, the logits are the same as the full network's (checked before sampling) and the samples
    identical for a given seed; the saving is the ratio of the areas (about 4x for a 10 x 19 window
    on 28 x 28 MNIST).

    Args:
        model: a PixelCNN (image [, one-hot label] -> logits).
        n: number of images (ignored when ``prefix`` is given).
        labels: (n, num_classes) one-hot labels for a conditional model.
        prefix: (n, H, W, 1) binary images whose first ``n_known`` pixels (raster order) are kept
            and the rest resampled — image completion (e.g. ``n_known = 14 * 28`` keeps the top
            half).
        n_known: number of leading pixels of ``prefix`` to keep (0 <= n_known <= H * W).
        seed: seed of the NumPy generator that draws the Bernoulli pixels: same seed, same images.
        batch_size: images sampled together.
        window: ``None`` (the whole image at every pass) or ``(rows, cols)``, the crop each pass
            computes; see above and :func:`window_network`.
        return_seconds: also return the wall time in seconds.

    Returns:
        (n, H, W, 1) float32 array in {0, 1} (and the seconds taken, when asked).

    Raises:
        ValueError: neither ``n`` nor ``prefix``, ``n_known`` out of range or without a prefix,
            labels that do not match, a non-binary prefix, or a window larger than the image or
            smaller than the network's receptive field (its logits differ from the full
            network's).
    """
    height, width = (int(d) for d in model.inputs[0].shape[1:3])
    if prefix is not None:
        x_all = np.array(prefix, dtype="float32")
        if x_all.ndim != 4 or x_all.shape[1:] != (height, width, 1):
            raise ValueError(
                f"prefix must have shape (n, {height}, {width}, 1), got {x_all.shape}."
            )
        if not np.all((x_all == 0) | (x_all == 1)):
            raise ValueError("prefix must be binary (values 0 and 1).")
    else:
        if n_known:
            raise ValueError("n_known > 0 needs a prefix of known pixels.")
        x_all = np.zeros((_positive_int("n", n), height, width, 1), dtype="float32")
    if (
        isinstance(n_known, bool)
        or not isinstance(n_known, numbers.Integral)
        or not 0 <= n_known <= height * width
    ):
        raise ValueError(f"n_known must be an int in [0, {height * width}], got {n_known!r}.")
    if labels is not None and len(labels) != len(x_all):
        raise ValueError(f"labels has {len(labels)} rows for {len(x_all)} images.")
    _inputs(
        model, x_all[:1], None if labels is None else np.asarray(labels[:1], "float32")
    )  # checks labels vs model
    net, crop = model, None
    if window is not None:
        net = window_network(model, window)
        crop = _window_crop((height, width), net.inputs[0].shape[1:3])
        _check_window(model, net, crop, None if labels is None else labels[:2])
    rng = np.random.default_rng(seed)
    start_time = time.perf_counter()
    for start in range(0, len(x_all), batch_size):
        x = x_all[start : start + batch_size]
        lb = None if labels is None else np.asarray(labels[start : start + batch_size], "float32")
        for i in range(int(n_known), height * width):
            r, c = divmod(i, width)
            # predict_on_batch runs Keras' compiled predict function: much faster than eager calls.
            if crop is None:
                logits = net.predict_on_batch(_inputs(net, x, lb))[:, r, c, 0]
            else:
                (r0, c0), (rr, cc) = crop(r, c)
                xw = x[:, r0 : r0 + net.inputs[0].shape[1], c0 : c0 + net.inputs[0].shape[2]]
                logits = net.predict_on_batch(_inputs(net, xw, lb))[:, rr, cc, 0]
            p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
            x[:, r, c, 0] = (rng.random(len(x)) < p).astype("float32")
        x_all[start : start + batch_size] = x
    seconds = time.perf_counter() - start_time
    return (x_all, seconds) if return_seconds else x_all


def window_network(model, window):
    """A copy of a functional PixelCNN for ``rows x cols`` crops, with the same weights.

    Every layer of the course's PixelCNNs is convolutional, so the same weights apply to an image
    of any size; only the image input's shape changes.

    Args:
        model: a functional PixelCNN from this module (image [, one-hot label] -> logits).
        window: ``(rows, cols)``, positive ints no larger than the image.

    Returns:
        keras Model: image (B, rows, cols, 1) [, label] -> (B, rows, cols, 1) logits.

    Raises:
        ValueError: a malformed window, or one larger than the image.
    """
    height, width = (int(d) for d in model.inputs[0].shape[1:3])
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise ValueError(f"window must be a pair (rows, cols), got {window!r}.")
    rows, cols = _positive_int("window rows", window[0]), _positive_int("window cols", window[1])
    if rows > height or cols > width:
        raise ValueError(f"window {rows} x {cols} is larger than the {height} x {width} image.")
    config = model.get_config()
    image_name = model.inputs[0].name
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer" and layer["config"]["name"] == image_name:
            shape = layer["config"]["batch_shape"]
            layer["config"]["batch_shape"] = [shape[0], rows, cols, *shape[3:]]
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def seconds_per_pass(model, batch_size, *, window=None, repeats=3):
    """Wall time of one compiled forward pass (``predict_on_batch``) over ``batch_size`` images.

    This is the unit cost of :func:`sample`, which makes one such pass per pixel. The first pass
    (compilation) is not timed; the median of ``repeats`` timed passes is returned.

    Args:
        model: a :class:`PixelCNN` or a PixelCNN network.
        batch_size: images per pass (positive int).
        window: ``None`` (whole images) or ``(rows, cols)``: time the windowed copy of
            :func:`window_network` instead.
        repeats: timed passes (positive int).

    Returns:
        float, seconds per pass (divide by ``batch_size`` for seconds per image and pass).

    Raises:
        ValueError: non-positive sizes, a malformed window.
    """
    net = model.network if isinstance(model, PixelCNN) else model
    batch_size = _positive_int("batch_size", batch_size)
    if window is not None:
        net = window_network(net, window)
    height, width = (int(d) for d in net.inputs[0].shape[1:3])
    x = np.zeros((batch_size, height, width, 1), dtype="float32")
    labels = None
    if _is_conditional(net):
        labels = np.zeros((batch_size, int(net.inputs[1].shape[-1])), dtype="float32")
        labels[:, 0] = 1.0
    inputs = _inputs(net, x, labels)
    net.predict_on_batch(inputs)
    times = []
    for _ in range(_positive_int("repeats", repeats)):
        start = time.perf_counter()
        net.predict_on_batch(inputs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _window_crop(image_hw, window_hw):
    """(r, c) -> ((top, left) of the crop, (row, col) of the pixel inside it)."""
    (height, width), (rows, cols) = image_hw, (int(d) for d in window_hw)

    def crop(r, c):
        top = min(max(0, r - (rows - 1)), height - rows)
        left = min(max(0, c - cols // 2), width - cols)
        return (top, left), (r - top, c - left)

    return crop


def receptive_field(model, pixel, *, labels=None, seed=0):
    """Which input pixels the logit at ``pixel`` depends on: non-zero input gradients.

    The gradient of the logit at (r, c) with respect to a random binary image (uniform pixels,
    seeded) is non-zero exactly where the network's connections reach, for almost every choice of
    weights (trained or not). A causal network never sees pixels at or after (r, c).

    Args:
        model: a :class:`PixelCNN`, a PixelCNN network (image [, one-hot label] -> logits), or
            any keras model from an (B, H, W, 1) image to (B, H, W, 1) logits.
        pixel: (r, c), ints inside the image.
        labels: for a conditional model, an integer class id (a :class:`PixelCNN`) or a
            (1, num_classes) one-hot label (a network).
        seed: seed of the random probe image.

    Returns:
        bool array (H, W): True where the logit at ``pixel`` depends on the input pixel.

    Raises:
        ValueError: a pixel outside the image; the errors of the model about labels.
    """
    from .backend import input_gradients

    if isinstance(model, PixelCNN):  # the course model: integer labels, one-hot inside
        labels = model._one_hot(None if labels is None else np.reshape(labels, (-1,))[:1], 1)
        model = model.network
    height, width = (int(d) for d in model.inputs[0].shape[1:3])
    r, c = (int(v) for v in pixel)
    if not (0 <= r < height and 0 <= c < width):
        raise ValueError(f"pixel must lie in the {height} x {width} image, got {pixel!r}.")
    probe = (np.random.default_rng(seed).random((1, height, width, 1)) < 0.5).astype("float32")
    lb = None if labels is None else ops.convert_to_tensor(np.asarray(labels, "float32")[:1])

    def logit(t):
        return model(t if lb is None else [t, lb], training=False)[:, r, c, 0]

    grads = ops.convert_to_numpy(input_gradients(logit, probe))
    return np.abs(grads)[0, ..., 0] > 0


def receptive_window(model, *, labels=None):
    """The smallest window ``(rows, cols)`` for :func:`sample` that holds the receptive field.

    Measured with :func:`receptive_field` at the bottom row's centre pixel (the pixel whose field
    reaches farthest, since nothing below the image clips it): ``rows`` = rows seen above it + 1,
    ``cols`` = 2 x (the larger of the columns seen to its left and right) + 1, both at most the
    image's size.

    Args:
        model: a :class:`PixelCNN` or a PixelCNN network.
        labels: a class id (:class:`PixelCNN`) or a (1, num_classes) one-hot label (network) for a
            conditional model.

    Returns:
        ``(rows, cols)``, ints.

    Raises:
        ValueError: see :func:`receptive_field`.
    """
    net = model.network if isinstance(model, PixelCNN) else model
    height, width = (int(d) for d in net.inputs[0].shape[1:3])
    r, c = height - 1, width // 2
    rows, cols = np.nonzero(receptive_field(model, (r, c), labels=labels))
    if len(rows) == 0:  # sees nothing: any window works
        return 1, 1
    side = int(max(c - cols.min(), cols.max() - c))
    return min(height, int(r - rows.min()) + 1), min(width, 2 * side + 1)


def _check_window(model, net, crop, labels, tolerance=1e-5):
    """Raise ValueError unless the window holds the receptive field and reproduces the logits."""
    height, width = (int(d) for d in model.inputs[0].shape[1:3])
    rows, cols = (int(d) for d in net.inputs[0].shape[1:3])
    lb = None if labels is None else np.asarray(labels, "float32")[:1]
    r, c = height - 1, width // 2
    seen_rows, seen_cols = np.nonzero(receptive_field(model, (r, c), labels=lb))
    if len(seen_rows) and (
        r - seen_rows.min() > rows - 1 or max(c - seen_cols.min(), seen_cols.max() - c) > cols // 2
    ):
        raise ValueError(
            f"a {rows} x {cols} window does not contain this network's receptive field "
            f"({r - seen_rows.min()} rows up, columns {c - seen_cols.min()} left and "
            f"{seen_cols.max() - c} right): use a larger window or window=None."
        )
    x = (np.random.default_rng(0).random((1, height, width, 1)) < 0.5).astype("float32")
    full = np.asarray(model.predict_on_batch(_inputs(model, x, lb)))
    worst = 0.0
    for r, c in [
        (height - 1, width // 2),
        (height - 1, 0),
        (height - 1, width - 1),
        (height // 2, width // 2),
        (0, width - 1),
    ]:
        (r0, c0), (rr, cc) = crop(r, c)
        out = np.asarray(
            net.predict_on_batch(_inputs(net, x[:, r0 : r0 + rows, c0 : c0 + cols], lb))
        )[:, rr, cc, 0]
        worst = max(worst, float(np.max(np.abs(out - full[:, r, c, 0]))))
    if worst > tolerance * (1.0 + float(np.max(np.abs(full)))):
        raise ValueError(
            f"a {rows} x {cols} window changes the logits by up to {worst:.3g}: "
            "use a larger window or window=None."
        )


class LabelDropoutBinarization(DynamicBinarization):
    """Dynamically binarized images with integer labels, some replaced by a "no label" id:
    batches ``((x, labels), x)``.

    With probability ``label_dropout`` an image's label becomes ``null_label`` (default
    ``num_classes``), a reserved class id meaning "no label". A :class:`PixelCNN` with
    ``num_classes + 1`` classes trained on these batches learns both ``p(x | y)`` (labels
    ``0 .. num_classes - 1``) and an unconditional ``p(x)`` (``labels = null_label``); score the
    latter with ``log_likelihood(x, labels=np.full(len(x), null_label))``, not with the class
    mixture (which would include the null class).

    Args:
        images: (N, H, W, 1) grey levels in [0, 1], binarized afresh every epoch.
        labels: (N,) integer classes in [0, num_classes).
        num_classes: number of real classes.
        label_dropout: probability of dropping an image's label, in [0, 1].
        null_label: the id of "no label" (int >= num_classes; default ``num_classes``).
        one_hot: yield one-hot conditions (B, num_classes), with an all-zero row for a dropped
            label, instead of integer ids: the form a bare network from
            :func:`build_gated_pixelcnn` takes when it is trained without the
            :class:`PixelCNN` model (default False: integer ids, as :class:`PixelCNN` takes).
        **kwargs: ``batch_size``, ``shuffle``, ``seed`` of :class:`utils.data.DynamicBinarization`.

    Shapes: x float32 (B, H, W, 1) in {0, 1}; labels int64 (B,).

    Raises:
        ValueError: ``label_dropout`` outside [0, 1], labels outside [0, num_classes), a
            ``null_label`` below ``num_classes``, and the errors of
            :class:`utils.data.DynamicBinarization`.
    """

    def __init__(
        self,
        images,
        labels,
        *,
        num_classes=10,
        label_dropout=0.0,
        null_label=None,
        one_hot=False,
        **kwargs,
    ):
        super().__init__(images, labels=labels, target="labels", **kwargs)
        self.num_classes = _positive_int("num_classes", num_classes)
        if not isinstance(label_dropout, numbers.Real) or not 0.0 <= label_dropout <= 1.0:
            raise ValueError(f"label_dropout must be in [0, 1], got {label_dropout!r}.")
        if self.labels.min() < 0 or self.labels.max() >= self.num_classes:
            raise ValueError(
                f"labels must be integers in [0, {self.num_classes}), "
                f"got [{self.labels.min()}, {self.labels.max()}]."
            )
        null_label = self.num_classes if null_label is None else null_label
        if (
            isinstance(null_label, bool)
            or not isinstance(null_label, numbers.Integral)
            or null_label < self.num_classes
        ):
            raise ValueError(
                f"null_label must be an int >= num_classes ({self.num_classes}), "
                f"got {null_label!r}."
            )
        self.null_label = int(null_label)
        self.label_dropout = float(label_dropout)
        self.one_hot = bool(one_hot)

    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        y = np.asarray(y, dtype=np.int64).copy()
        dropped = self._rng.random(len(y)) < self.label_dropout
        if self.one_hot:
            c = np.eye(self.num_classes, dtype="float32")[y]
            c[dropped] = 0.0
            return (x, c), x
        y[dropped] = self.null_label
        return (x, y), x


# ----------------------------------------------------------------------------------------------
# The PixelCNN as a course model (utils.contract)
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="course")
class PixelCNN(GenerativeModel, keras.Model):
    """A PixelCNN network as a course model: exact likelihood, sampling, integer labels.

    Wraps a network from :func:`build_pixelcnn` or :func:`build_gated_pixelcnn` (image [, one-hot
    label] -> one Bernoulli logit per pixel). Inputs are ``x`` for an unconditional model and
    ``(x, labels)`` with integer class ids (B,) for a class-conditional one; the one-hot vector
    the network needs is made inside :meth:`call`. ``fit(x, x)`` (or ``fit((x, labels), x)``)
    minimizes the exact negative log-likelihood in nats per image (``compute_loss``), on every
    backend.

    Course contract (:mod:`utils.contract`): ``likelihood_kind = "exact"``;
    :meth:`log_likelihood` returns ``log p(x)`` per image and, for a conditional model called
    without labels, the exact log-likelihood of the class mixture
    ``p(x) = (1/K) sum_y p(x | y)`` (uniform class prior); :meth:`generate` draws binary images
    pixel by pixel (one forward pass per pixel).

    Args:
        network: the functional network (its first input (B, H, W, 1); a second, one-hot input of
            size ``num_classes`` when conditional).
        num_classes: number of classes of a conditional network, ``None`` otherwise.
        seed: seed of the model-owned ``keras.random.SeedGenerator`` used when ``generate`` gets
            no seed.

    Raises:
        ValueError: a network that is not a built keras Model, or whose inputs do not match
            ``num_classes``.
    """

    likelihood_kind = "exact"

    def __init__(self, network, *, num_classes=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        inputs = getattr(network, "inputs", None) or []
        if not isinstance(network, keras.Model) or not inputs:
            raise ValueError(
                f"network must be a built keras Model (functional), got {type(network).__name__}."
            )
        if num_classes is None and len(inputs) != 1:
            raise ValueError(
                f"the network takes {len(inputs)} inputs: "
                "pass num_classes for a conditional PixelCNN."
            )
        if num_classes is not None:
            num_classes = _positive_int("num_classes", num_classes)
            if len(inputs) != 2 or int(inputs[1].shape[-1]) != num_classes:
                raise ValueError(
                    f"num_classes={num_classes} needs a network with a second (one-hot) input "
                    "of size "
                    f"{num_classes}, got inputs of shapes {[tuple(t.shape) for t in inputs]}."
                )
        self.network = network
        self.num_classes = num_classes
        self.seed = seed
        self.image_shape = tuple(int(d) for d in inputs[0].shape[1:])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True  # the network is a built functional model

    def compile(self, optimizer="adam", **kwargs):
        """``keras.Model.compile`` with ``jit_compile`` defaulting to
        :func:`utils.backend.default_jit_compile` (the setting measured fastest on each backend).
        The loss is the model's own exact NLL (:meth:`compute_loss`): pass no ``loss``."""
        from . import backend

        kwargs.setdefault("jit_compile", backend.default_jit_compile())
        super().compile(optimizer=optimizer, **kwargs)

    def _network_inputs(self, inputs):
        if self.num_classes is None:
            return inputs
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "a conditional PixelCNN takes inputs (x, labels) with integer labels of shape (B,)."
            )
        x, labels = inputs
        return [x, ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), self.num_classes)]

    def call(self, inputs, training=False):
        """Per-pixel Bernoulli logits (B, H, W, 1)."""
        return self.network(self._network_inputs(inputs), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean exact NLL over the batch, in nats per image: ``sum_i softplus(l_i) - x_i l_i``."""
        if y_pred is None:
            y_pred = self(x, training=training)
        target = y if y is not None else (x[0] if self.num_classes is not None else x)
        target = ops.cast(target, y_pred.dtype)
        nll = ops.sum(ops.softplus(y_pred) - target * y_pred, axis=(1, 2, 3))
        if sample_weight is not None:
            w = ops.cast(ops.reshape(sample_weight, (-1,)), nll.dtype)
            return ops.sum(w * nll) / ops.maximum(ops.sum(w), 1e-12)
        return ops.mean(nll)

    def _one_hot(self, labels, n):
        labels = check_labels(labels, n, self.num_classes)
        return None if labels is None else np.eye(self.num_classes, dtype="float32")[labels]

    def log_likelihood(self, x, *, labels=None, batch_size=100, per_pixel=False):
        """Exact ``log p(x)`` per image in nats (course contract); see :func:`log_likelihood`.

        Args:
            x: (N, H, W, 1) binary images.
            labels: (N,) integer class ids; ``None`` for a conditional model gives the class
                mixture ``log (1/K) sum_y p(x | y)`` (K forward passes per image).
            per_pixel: the (N, H, W) map of ``log p(x_i | x_<i)`` (needs labels when conditional).

        Returns:
            float64 array (N,) (or (N, H, W)) of log-likelihoods in nats (<= 0).

        Raises:
            ValueError: non-binary or malformed images, labels that do not match the model.
        """
        x = check_images(x, binary=True, shape=self.image_shape)
        batch_size = _positive_int("batch_size", batch_size)
        if self.num_classes is None or labels is not None:
            return log_likelihood(
                self.network,
                x,
                labels=self._one_hot(labels, len(x)),
                batch_size=batch_size,
                per_pixel=per_pixel,
            )
        if per_pixel:
            raise ValueError(
                "per_pixel needs labels for a conditional PixelCNN "
                "(the mixture has no per-pixel terms)."
            )
        per_class = np.stack(
            [
                log_likelihood(
                    self.network,
                    x,
                    labels=self._one_hot(np.full(len(x), y), len(x)),
                    batch_size=batch_size,
                )
                for y in range(self.num_classes)
            ],
            axis=1,
        )
        return log_mean_exp(per_class, axis=1)

    def generate(
        self, n, *, labels=None, seed=None, batch_size=100, window=None, prefix=None, n_known=0
    ):
        """``n`` binary images drawn pixel by pixel in raster order (course contract).

        Args:
            n: number of images (positive int).
            labels: (n,) integer class ids for a conditional model.
            seed: int >= 0 for a repeatable draw; ``None`` draws a seed from the model's generator.
            batch_size: images sampled together.
            window: ``(rows, cols)`` crop computed at each pass (same samples, fewer operations),
                or ``None``; see :func:`sample`.
            prefix, n_known: complete ``prefix`` (n, H, W, 1) binary images, keeping their first
                ``n_known`` pixels in raster order; see :func:`sample`.

        Returns:
            float32 array (n, H, W, 1) with values in {0, 1}.

        Raises:
            ValueError, TypeError: bad ``n``, ``seed``, ``batch_size`` or ``labels``.
        """
        n = _positive_int("n", n)
        seed = check_seed(seed)
        if seed is None:
            seed = int(
                ops.convert_to_numpy(
                    keras.random.randint((), 0, 2**31 - 1, seed=self.seed_generator)
                )
            )
        return sample(
            self.network,
            n,
            labels=self._one_hot(labels, n),
            prefix=prefix,
            n_known=n_known,
            seed=seed,
            batch_size=_positive_int("batch_size", batch_size),
            window=window,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "num_classes": self.num_classes,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
