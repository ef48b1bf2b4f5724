"""Normalizing flows: invertible layers, a multi-scale RealNVP / Glow model of 8-bit images, and a
2-D toy flow.

A normalizing flow is a bijection ``f`` from data ``x`` to a latent ``z = f(x)`` with a simple
density (here the standard normal). The change-of-variables formula gives the exact density

    log p(x) = log N(f(x); 0, I) + log |det df/dx|

(Dinh, Krueger and Bengio 2015, eq. 1-2; Dinh, Sohl-Dickstein and Bengio 2017, eq. 3). Every layer
here is invertible with a log-determinant that is cheap to compute, so the model is trained by
maximum likelihood and sampled by inverting ``f`` on draws of ``z``.

**The layer interface.** Each invertible layer maps a tensor ``x`` to ``(y, log_det)``:
``layer(x, training=False)`` (that is ``call``) and ``layer.forward(x, training=False)`` both
return ``y`` (same shape as ``x``, except :class:`Squeeze`) and ``log_det`` (shape (B,), float32,
``log |det dy/dx|`` in **nats**, summed over every dimension of one example). ``layer.inverse(y)``
returns ``x`` exactly (up to float32 rounding). ``forward`` is the same computation as ``call``
without Keras' build and autocast step; it goes through ``keras.Operation.__call__`` because on
the PyTorch backend every Keras layer is a ``torch.nn.Module`` whose ``__call__`` runs a method
called ``forward``: defining ``forward`` as anything other than the layer's call would change what
``layer(x)`` returns there.

Layers:

- :class:`AffineCoupling` (images, checkerboard or channel masks) and :class:`DenseAffineCoupling`
  (vectors): the affine coupling of RealNVP (Dinh et al. 2017, eq. 4-5 and 7-9; log-determinant
  eq. 6), ``y_2 = x_2 * exp(s(x_1)) + t(x_1)`` with a bounded log-scale
  ``s = scale_factor * tanh(raw)`` and a zero-initialized output layer (the layer starts as the
  identity).
- :class:`Squeeze`: (B, H, W, C) -> (B, H/2, W/2, 4C) (Dinh et al. 2017, section 3.6, figure 3).
- :class:`ActNorm`: per-channel affine map with data-dependent initialization (Kingma and Dhariwal
  2018, section 3.1 and table 1).
- :class:`Invertible1x1Conv`: Glow's learned channel permutation, LU-decomposed (Kingma and Dhariwal
  2018, section 3.2, eq. 10 and table 1).
- :class:`Dequantize` and :class:`LogitTransform`: 8-bit values ``x + u`` in [0, 256) to [0, 1) and
  then to logit space (Dinh et al. 2017, section 4.1, alpha = 0.05).

The coupling networks draw their initial weights with NumPy (:class:`NumpyGlorotUniform`) from a
seed, so a seeded model starts identical on TensorFlow, JAX and PyTorch.

Models:

- :class:`RealNVP`: the multi-scale architecture of Dinh et al. (2017, section 3.6), optionally with
  Glow steps (ActNorm and 1x1 convolutions, Kingma and Dhariwal 2018), as a course model
  (:mod:`utils.contract`): exact log-likelihood in 8-bit space, ``generate`` with a temperature,
  ``encode`` / ``decode`` for latent interpolation, ``fit`` on the exact NLL.
- :class:`ToyFlow` / :func:`build_toy_flow`: a flow on 2-D points whose density can be plotted and
  integrated, with the points after every layer (:meth:`ToyFlow.layer_outputs`).
- :func:`jacobian_log_det`: the log-determinant by brute force (the whole Jacobian by automatic
  differentiation, then a determinant), to check the cheap ones and to time the difference.

**Likelihood units of the image model (the 8-bit protocol).** The model's input is 8-bit grey
levels ``x`` in {0, ..., 255}. Uniform noise ``u ~ U[0, 1)`` makes them continuous (Theis, van den
Oord and Bethge 2016, section 3.1), and the flow gives the density of ``v = x + u`` on [0, 256)^D,
the **8-bit space**, whose unit cells are the pixel values. :meth:`RealNVP.log_likelihood` returns
``log p(x + u)`` in nats per image in that space, so that ``E_u[log p(x + u)] <= log P(x)``, a lower
bound on the discrete log-likelihood, and bits/dim is a pure change of units,
``-log_likelihood / (D ln 2)`` (:func:`utils.likelihood.nats_to_bits_per_dim`). This equals
:func:`utils.likelihood.bits_per_dim_8bit` of the density of ``y = v / 256`` on [0, 1)^D, which is
``log p(x + u) + D ln 256``.

References:

- L. Dinh, D. Krueger, Y. Bengio (2015). NICE: Non-linear independent components estimation.
  *ICLR workshop* (additive coupling, eq. 1-2 for the change of variables).
- L. Dinh, J. Sohl-Dickstein, S. Bengio (2017). Density estimation using Real NVP. *ICLR*
  (affine coupling eq. 4-5, its Jacobian eq. 6, masked form eq. 7-9, masks section 3.4, squeeze
  and multi-scale architecture section 3.6, logit transform section 4.1).
- D. P. Kingma, P. Dhariwal (2018). Glow: Generative flow with invertible 1x1 convolutions.
  *NeurIPS* (ActNorm section 3.1, invertible 1x1 convolution and its LU form section 3.2 and
  table 1, temperature section 5).
- L. Theis, A. van den Oord, M. Bethge (2016). A note on the evaluation of generative models.
  *ICLR* (section 3.1: uniform dequantization bounds the discrete log-likelihood).
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
from keras import layers, ops

from .checks import check_labels, check_seed, finite_number, nonnegative_int, positive_int
from .contract import GenerativeModel
from .likelihood import LN2, nats_to_bits_per_dim, standard_normal_log_density, uniform_dequantize

#: Mask kinds of :class:`AffineCoupling`.
MASK_KINDS = ("checkerboard", "channel")
#: Number of grey levels of 8-bit images.
NUM_LEVELS = 256
LOG_256 = math.log(NUM_LEVELS)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _parity(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"parity must be 0 or 1, got {value!r}.")
    if value not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {value!r}.")
    return int(value)


def _shape_of(layer_name, input_shape, ranks):
    shape = tuple(input_shape)
    if len(shape) not in ranks:
        expected = " or ".join({2: "(B, D)", 4: "(B, H, W, C)"}[r] for r in ranks)
        raise ValueError(f"{layer_name} expects inputs of shape {expected}, got shape {shape}.")
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"{layer_name} needs known sizes for every axis but the batch, got shape {shape}."
        )
    return tuple(int(d) for d in shape[1:])


def _per_example(x, value):
    """``value`` (a scalar tensor) broadcast to shape (B,) of the batch of ``x``."""
    first = x[(slice(None),) + (0,) * (len(x.shape) - 1)]
    return ops.ones_like(first) * value


def _sum_features(x):
    return ops.sum(x, axis=tuple(range(1, len(x.shape))))


def _lu_decompose(a):
    """``a = p @ l @ u`` by Gaussian elimination with partial pivoting (float64 NumPy).

    ``p`` is a permutation matrix, ``l`` lower triangular with a unit diagonal, ``u`` upper
    triangular.
    """
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[0]
    u = a.copy()
    lower = np.zeros((n, n))
    order = np.arange(n)
    for k in range(n):
        pivot = k + int(np.argmax(np.abs(u[k:, k])))
        if pivot != k:
            u[[k, pivot]] = u[[pivot, k]]
            lower[[k, pivot], :k] = lower[[pivot, k], :k]
            order[[k, pivot]] = order[[pivot, k]]
        for i in range(k + 1, n):
            lower[i, k] = u[i, k] / u[k, k]
            u[i, k:] -= lower[i, k] * u[k, k:]
    lower += np.eye(n)
    # rows of u were taken from rows `order` of a: (P^T a) = l u with P^T = eye[order]
    p = np.eye(n)[order].T
    return p, lower, np.triu(u)


def _constant(array):
    """An initializer that returns ``array`` (a callable accepted by ``add_weight``)."""
    array = np.asarray(array, dtype="float32")

    def initializer(shape, dtype=None):
        return ops.convert_to_tensor(array.reshape(shape), dtype=dtype or "float32")

    return initializer


@keras.saving.register_keras_serializable(package="course")
class NumpyGlorotUniform(keras.initializers.Initializer):
    """Glorot-uniform weights drawn by NumPy: ``U(-l, l)``, ``l = sqrt(6 / (fan_in + fan_out))``
    (Glorot and Bengio 2010), with Keras' fans (a k x k convolution counts ``k^2`` per channel).

    The coupling networks use it so that a seed gives the **same initial weights on every
    backend**, and because building a model then costs no compilation on JAX (each new shape of a
    ``keras.random`` draw compiles a random-number kernel there, seconds each on a busy CPU).
    Successive calls continue one ``numpy.random.default_rng(seed)`` stream.

    Args:
        seed: int >= 0, or ``None`` for fresh entropy.
    """

    def __init__(self, seed=None):
        self.seed = check_seed(seed)
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, shape, dtype=None):
        shape = tuple(int(d) for d in shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in = shape[-2] * receptive if len(shape) > 1 else shape[0]
        fan_out = shape[-1] * receptive
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        values = self._rng.uniform(-limit, limit, size=shape).astype("float32")
        return ops.convert_to_tensor(values, dtype=dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}


class _Invertible:
    """Mixin of the invertible layers: ``forward`` is the layer's call, without the build step."""

    def forward(self, x, training=False, **kwargs):
        """``(y, log_det)``: ``y`` of the layer's output shape, ``log_det`` (B,) in nats."""
        x = ops.convert_to_tensor(x)
        dtype = keras.backend.standardize_dtype(x.dtype)
        if keras.backend.is_float_dtype(dtype) and dtype != self.compute_dtype:
            x = ops.cast(x, self.compute_dtype)  # what Layer.__call__ does for float inputs
        if not self.built:
            self.build(tuple(x.shape))
        return keras.Operation.__call__(self, x, training=training, **kwargs)

    def _require_built(self, y):
        if not self.built:
            raise ValueError(
                f"{type(self).__name__}.inverse needs a built layer: call the layer (or forward) "
                f"once on inputs of the data's shape first; got an unbuilt layer and y of shape "
                f"{tuple(y.shape)}."
            )


# ----------------------------------------------------------------------------------------------
# Coupling layers
# ----------------------------------------------------------------------------------------------


def checkerboard_mask(height, width, parity=0):
    """(H, W) float32 checkerboard: 1 where ``(row + col) % 2 == parity`` (the conditioning pixels).

    Dinh et al. (2017), section 3.4 and figure 3 (left).

    Raises:
        ValueError: non-positive sizes or a parity other than 0 / 1.
    """
    height, width = positive_int("height", height), positive_int("width", width)
    parity = _parity(parity)
    rows, cols = np.indices((height, width))
    return ((rows + cols) % 2 == parity).astype("float32")


@keras.saving.register_keras_serializable(package="course")
class AffineCoupling(_Invertible, keras.layers.Layer):
    """The affine coupling layer of RealNVP on images (Dinh, Sohl-Dickstein and Bengio 2017).

    The input is split by a binary mask ``b`` into a conditioning part ``x_1`` (kept) and a part
    ``x_2`` that is scaled and shifted by functions of ``x_1`` (eq. 4-5; masked form eq. 9):

        y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x)),
        log |det dy/dx| = sum_j (1 - b_j) s_j(b * x)                       (eq. 6)

    and the inverse is ``x = b * y + (1 - b) * (y - t(b * y)) * exp(-s(b * y))`` (eq. 8), since
    ``b * y = b * x``. ``s`` and ``t`` come from one small convolutional network (a 3x3 convolution
    to ``hidden_channels``, ``num_blocks`` residual blocks of two 3x3 convolutions, a 3x3 output
    convolution); the log-scale is bounded, ``s = scale_factor * tanh(raw)``, with a learned
    per-channel ``scale_factor`` (initialized to 1). The output convolution starts at zero, so
    the layer starts as the identity (``s = t = 0``).

    Masks (section 3.4): ``"checkerboard"`` conditions on the pixels with
    ``(row + col) % 2 == parity`` (every channel; the mask is given to the network as an extra
    channel); ``"channel"`` conditions on the first half of the channels (``parity`` 0) or the
    second half (``parity`` 1) and needs an even number of channels.

    Args:
        mask: "checkerboard" or "channel".
        parity: 0 or 1; alternate it between consecutive couplings so every dimension is
            transformed.
        hidden_channels: channels of the network (positive int).
        num_blocks: residual blocks of the network (int >= 0).
        seed: seed of the network's initial weights (:class:`NumpyGlorotUniform`; int >= 0 or
            ``None``).

    Call: ``x`` (B, H, W, C) float32 -> ``(y, log_det)``: ``y`` (B, H, W, C), ``log_det`` (B,) in
    nats. ``inverse(y)`` -> ``x``.

    Raises:
        ValueError: an unknown mask kind, a parity other than 0 / 1, non-positive sizes, an input
            that is not (B, H, W, C), or a channel mask on an odd number of channels.
    """

    def __init__(
        self, mask="checkerboard", parity=0, hidden_channels=64, num_blocks=2, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        if mask not in MASK_KINDS:
            raise ValueError(f"mask must be one of {MASK_KINDS}, got {mask!r}.")
        self.mask = mask
        self.parity = _parity(parity)
        self.hidden_channels = positive_int("hidden_channels", hidden_channels)
        self.num_blocks = nonnegative_int("num_blocks", num_blocks)
        self.seed = check_seed(seed)

    def build(self, input_shape):
        height, width, channels = _shape_of("AffineCoupling", input_shape, (4,))
        if self.mask == "channel" and channels % 2:
            raise ValueError(
                f"a channel mask splits the channels in two halves: it needs an even number of "
                f"channels, got input shape {tuple(input_shape)} with {channels} channels."
            )
        if self.mask == "checkerboard":
            net_in, self._out = channels + 1, channels
            self._mask = checkerboard_mask(height, width, self.parity)[None, :, :, None]
        else:
            net_in, self._out = channels // 2, channels // 2
        h, init = self.hidden_channels, NumpyGlorotUniform(self.seed)
        self.in_conv = layers.Conv2D(h, 3, padding="same", kernel_initializer=init, name="in_conv")
        self.in_conv.build((None, height, width, net_in))
        self.block_convs = []
        for i in range(2 * self.num_blocks):
            conv = layers.Conv2D(
                h, 3, padding="same", kernel_initializer=init, name=f"block{i // 2}_conv{i % 2}"
            )
            conv.build((None, height, width, h))
            self.block_convs.append(conv)
        self.out_conv = layers.Conv2D(
            2 * self._out, 3, padding="same", kernel_initializer="zeros", name="out_conv"
        )
        self.out_conv.build((None, height, width, h))
        self.scale_factor = self.add_weight(
            name="scale_factor", shape=(self._out,), initializer="ones"
        )

    def _shift_and_log_scale(self, conditioning):
        h = self.in_conv(conditioning)
        for i in range(0, len(self.block_convs), 2):
            h = h + self.block_convs[i + 1](ops.relu(self.block_convs[i](ops.relu(h))))
        out = self.out_conv(ops.relu(h))
        shift, raw = out[..., : self._out], out[..., self._out :]
        return shift, self.scale_factor * ops.tanh(raw)

    def _checkerboard_terms(self, kept):
        """Masked shift and log-scale from the conditioning pixels of ``kept`` (x or y)."""
        b = ops.convert_to_tensor(self._mask, dtype=kept.dtype)
        conditioning = ops.concatenate([kept * b, ops.zeros_like(kept[..., :1]) + b], axis=-1)
        shift, log_scale = self._shift_and_log_scale(conditioning)
        return shift * (1.0 - b), log_scale * (1.0 - b)

    def _halves(self, x):
        first, second = x[..., : self._out], x[..., self._out :]
        return (first, second) if self.parity == 0 else (second, first)

    def _join(self, kept, changed):
        return ops.concatenate([kept, changed] if self.parity == 0 else [changed, kept], axis=-1)

    def call(self, x, training=False):
        if self.mask == "checkerboard":
            shift, log_scale = self._checkerboard_terms(x)
            y = x * ops.exp(log_scale) + shift  # exp(0) = 1, shift 0: the kept pixels stay x
        else:
            kept, changed = self._halves(x)
            shift, log_scale = self._shift_and_log_scale(kept)
            y = self._join(kept, changed * ops.exp(log_scale) + shift)
        return y, _sum_features(log_scale)

    def inverse(self, y):
        """``x`` (B, H, W, C) from ``y``: eq. 8 of Dinh et al. (2017)."""
        self._require_built(y)
        if self.mask == "checkerboard":
            shift, log_scale = self._checkerboard_terms(y)
            return (y - shift) * ops.exp(-log_scale)
        kept, changed = self._halves(y)
        shift, log_scale = self._shift_and_log_scale(kept)
        return self._join(kept, (changed - shift) * ops.exp(-log_scale))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (input_shape[0],)

    def get_config(self):
        return {
            **super().get_config(),
            "mask": self.mask,
            "parity": self.parity,
            "hidden_channels": self.hidden_channels,
            "num_blocks": self.num_blocks,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="course")
class DenseAffineCoupling(_Invertible, keras.layers.Layer):
    """The affine coupling of RealNVP on vectors (B, D), with an alternating mask.

    The conditioning dimensions are those with ``index % 2 == parity``; the others are scaled and
    shifted: ``y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x))`` (Dinh et al. 2017, eq. 9),
    ``log |det| = sum_j (1 - b_j) s_j`` (eq. 6), with ``s = scale_factor * tanh(raw)`` and ``s``,
    ``t`` from a multilayer perceptron (``num_hidden_layers`` ReLU layers of ``hidden_units``)
    whose zero-initialized output layer makes the layer start as the identity. For D = 2 it
    alternates which coordinate moves: the 2-D toy flows of the course.

    Args:
        parity: 0 or 1.
        hidden_units: width of the hidden layers (positive int).
        num_hidden_layers: number of hidden layers (positive int).
        seed: seed of the initial weights (:class:`NumpyGlorotUniform`; int >= 0 or ``None``).

    Call: ``x`` (B, D) float32, D >= 2 -> ``(y, log_det)``: ``y`` (B, D), ``log_det`` (B,) nats.

    Raises:
        ValueError: a bad parity or size, or an input that is not (B, D) with D >= 2.
    """

    def __init__(self, parity=0, hidden_units=64, num_hidden_layers=2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.parity = _parity(parity)
        self.hidden_units = positive_int("hidden_units", hidden_units)
        self.num_hidden_layers = positive_int("num_hidden_layers", num_hidden_layers)
        self.seed = check_seed(seed)

    def build(self, input_shape):
        (dims,) = _shape_of("DenseAffineCoupling", input_shape, (2,))
        if dims < 2:
            raise ValueError(
                f"DenseAffineCoupling needs at least 2 dimensions (one to condition on, one to "
                f"transform), got input shape {tuple(input_shape)}."
            )
        self._dims = dims
        self._mask = (np.arange(dims) % 2 == self.parity).astype("float32")[None, :]
        self.hidden = []
        width, init = dims, NumpyGlorotUniform(self.seed)
        for i in range(self.num_hidden_layers):
            dense = layers.Dense(
                self.hidden_units, activation="relu", kernel_initializer=init, name=f"hidden{i}"
            )
            dense.build((None, width))
            self.hidden.append(dense)
            width = self.hidden_units
        self.out = layers.Dense(2 * dims, kernel_initializer="zeros", name="out")
        self.out.build((None, width))
        self.scale_factor = self.add_weight(name="scale_factor", shape=(dims,), initializer="ones")

    def _terms(self, kept):
        b = ops.convert_to_tensor(self._mask, dtype=kept.dtype)
        h = kept * b
        for dense in self.hidden:
            h = dense(h)
        out = self.out(h)
        shift, raw = out[:, : self._dims], out[:, self._dims :]
        return shift * (1.0 - b), self.scale_factor * ops.tanh(raw) * (1.0 - b)

    def call(self, x, training=False):
        shift, log_scale = self._terms(x)
        return x * ops.exp(log_scale) + shift, ops.sum(log_scale, axis=1)

    def inverse(self, y):
        """``x`` (B, D) from ``y``."""
        self._require_built(y)
        shift, log_scale = self._terms(y)
        return (y - shift) * ops.exp(-log_scale)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (input_shape[0],)

    def get_config(self):
        return {
            **super().get_config(),
            "parity": self.parity,
            "hidden_units": self.hidden_units,
            "num_hidden_layers": self.num_hidden_layers,
            "seed": self.seed,
        }


# ----------------------------------------------------------------------------------------------
# Squeeze, ActNorm, 1x1 convolution
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="course")
class Squeeze(_Invertible, keras.layers.Layer):
    """Space to channels: (B, H, W, C) -> (B, H/2, W/2, 4C) (Dinh et al. 2017, section 3.6).

    Each 2x2 block of pixels becomes one pixel with 4C channels, ordered (row in block, column in
    block, channel). A permutation of the dimensions: ``log_det`` is 0.

    Call: ``x`` (B, H, W, C) with even H and W -> ``(y, log_det)``: ``y`` (B, H/2, W/2, 4C),
    ``log_det`` (B,) zeros. ``inverse(y)`` -> ``x``.

    Raises:
        ValueError: an input that is not (B, H, W, C), or odd H or W.
    """

    def build(self, input_shape):
        height, width, channels = _shape_of("Squeeze", input_shape, (4,))
        if height % 2 or width % 2:
            raise ValueError(
                f"Squeeze needs an even height and width (2x2 blocks), got input shape "
                f"{tuple(input_shape)} (H={height}, W={width})."
            )
        self._in = (height, width, channels)

    def call(self, x, training=False):
        h, w, c = self._in
        y = ops.reshape(x, (-1, h // 2, 2, w // 2, 2, c))
        y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
        return ops.reshape(y, (-1, h // 2, w // 2, 4 * c)), _per_example(x, 0.0)

    def inverse(self, y):
        """``x`` (B, H, W, C) from ``y`` (B, H/2, W/2, 4C)."""
        self._require_built(y)
        h, w, c = self._in
        x = ops.reshape(y, (-1, h // 2, w // 2, 2, 2, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h, w, c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        if h is None or w is None or h % 2 or w % 2:
            raise ValueError(f"Squeeze needs an even height and width, got {tuple(input_shape)}.")
        return (b, h // 2, w // 2, 4 * c), (b,)


@keras.saving.register_keras_serializable(package="course")
class ActNorm(_Invertible, keras.layers.Layer):
    """Activation normalization: a per-channel affine map ``y = (x + b) * exp(log_s)`` (Glow).

    Kingma and Dhariwal (2018), section 3.1 and table 1: ``log_det = H * W * sum(log |s|)`` for
    images (B, H, W, C) and ``sum(log |s|)`` for vectors (B, C).

    **Data-dependent initialization.** The first call with ``training=True`` sets ``b`` and
    ``log_s`` so that this batch has mean 0 and standard deviation 1 in every channel
    (``b = -mean``, ``s = 1 / (std + epsilon)``); later calls keep them. The parameters are
    ``b = init_loc + loc`` and ``log_s = init_log_scale + log_scale``: ``init_*`` are
    non-trainable variables written once, ``loc`` and ``log_scale`` trainable offsets that start
    at 0, and a non-trainable variable ``initialized`` (0.0 or 1.0) records whether the
    initialization happened. The choice is made with ``ops.where`` on that variable, never with a
    Python test of a tensor, so it works inside compiled training steps on every backend (JAX's
    stateless ``fit`` included: only non-trainable variables are written), and the flag is saved in
    ``.keras`` files. Until it is initialized the layer is the identity.

    Args:
        epsilon: added to the standard deviation (finite, > 0).

    Call: ``x`` (B, H, W, C) or (B, C) float32 -> ``(y, log_det)`` of the same shape and (B,).

    Raises:
        ValueError: a bad ``epsilon`` or an input that is not (B, C) or (B, H, W, C).
    """

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = finite_number("epsilon", epsilon, low=0.0, low_open=True)

    def build(self, input_shape):
        sizes = _shape_of("ActNorm", input_shape, (2, 4))
        channels = sizes[-1]
        self._count = int(np.prod(sizes[:-1])) if len(sizes) > 1 else 1
        self.loc = self.add_weight(name="loc", shape=(channels,), initializer="zeros")
        self.log_scale = self.add_weight(name="log_scale", shape=(channels,), initializer="zeros")
        self.init_loc = self.add_weight(
            name="init_loc", shape=(channels,), initializer="zeros", trainable=False
        )
        self.init_log_scale = self.add_weight(
            name="init_log_scale", shape=(channels,), initializer="zeros", trainable=False
        )
        self.initialized = self.add_weight(
            name="initialized", shape=(), initializer="zeros", trainable=False
        )

    def _affine_parameters(self, x=None, training=False):
        init_loc = ops.convert_to_tensor(self.init_loc)
        init_log_scale = ops.convert_to_tensor(self.init_log_scale)
        if training and x is not None:
            axes = tuple(range(len(x.shape) - 1))
            mean = ops.stop_gradient(ops.mean(x, axis=axes))
            std = ops.stop_gradient(ops.std(x, axis=axes))
            done = ops.convert_to_tensor(self.initialized) > 0.5
            init_loc = ops.where(done, init_loc, -mean)
            init_log_scale = ops.where(done, init_log_scale, -ops.log(std + self.epsilon))
            self.init_loc.assign(init_loc)
            self.init_log_scale.assign(init_log_scale)
            self.initialized.assign(ops.ones((), dtype=self.initialized.dtype))
        return init_loc + self.loc, init_log_scale + self.log_scale

    def call(self, x, training=False):
        loc, log_scale = self._affine_parameters(x, training)
        y = (x + loc) * ops.exp(log_scale)
        return y, _per_example(x, self._count * ops.sum(log_scale))

    def inverse(self, y):
        """``x`` from ``y`` with the current parameters."""
        self._require_built(y)
        loc, log_scale = self._affine_parameters()
        return y * ops.exp(-log_scale) - loc

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (input_shape[0],)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="course")
class Invertible1x1Conv(_Invertible, keras.layers.Layer):
    """Glow's invertible 1x1 convolution, LU-decomposed (Kingma and Dhariwal 2018, section 3.2).

    Every pixel's channel vector is multiplied by a learned C x C matrix

        W = P L (U + diag(sign(s) * exp(log |s|)))                           (eq. 10)

    with a fixed permutation ``P``, a lower-triangular ``L`` with a unit diagonal, a strictly
    upper-triangular ``U`` and a fixed sign vector: ``log_det = H * W * sum(log |s|)``
    (table 1), O(C) instead of the O(C^3) of a determinant. ``W`` starts as a random rotation (the
    Q of a QR decomposition of a Gaussian matrix drawn by NumPy from ``seed`` at build), so the
    layer starts volume-preserving (``log |s| = 0``). The inverse multiplies by ``W^-1``
    (``keras.ops.inv``).

    Args:
        seed: int >= 0 of the initial rotation (``None``: a fresh one).

    Call: ``x`` (B, H, W, C) or (B, C) float32 -> ``(y, log_det)`` of the same shape and (B,).

    Raises:
        ValueError: an input that is not (B, C) or (B, H, W, C); TypeError / ValueError: a bad
            seed.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed(seed)

    def build(self, input_shape):
        sizes = _shape_of("Invertible1x1Conv", input_shape, (2, 4))
        c = sizes[-1]
        self._count = int(np.prod(sizes[:-1])) if len(sizes) > 1 else 1
        rotation, _ = np.linalg.qr(np.random.default_rng(self.seed).standard_normal((c, c)))
        p, lower, upper = _lu_decompose(rotation)
        s = np.diag(upper)
        self.permutation = self.add_weight(
            name="permutation", shape=(c, c), initializer=_constant(p), trainable=False
        )
        self.sign_s = self.add_weight(
            name="sign_s", shape=(c,), initializer=_constant(np.sign(s)), trainable=False
        )
        self.lower = self.add_weight(name="lower", shape=(c, c), initializer=_constant(lower))
        self.upper = self.add_weight(
            name="upper", shape=(c, c), initializer=_constant(np.triu(upper, 1))
        )
        self.log_abs_s = self.add_weight(
            name="log_abs_s", shape=(c,), initializer=_constant(np.log(np.abs(s)))
        )
        self._lower_mask = np.tril(np.ones((c, c), "float32"), -1)
        self._upper_mask = np.triu(np.ones((c, c), "float32"), 1)
        self._eye = np.eye(c, dtype="float32")

    def weight_matrix(self):
        """The current (C, C) matrix ``W`` (``y = W x`` for each pixel's channel vector)."""
        lower_mask, upper_mask, eye = (
            ops.convert_to_tensor(a) for a in (self._lower_mask, self._upper_mask, self._eye)
        )
        lower = self.lower * lower_mask + eye
        upper = self.upper * upper_mask + ops.diag(self.sign_s * ops.exp(self.log_abs_s))
        return ops.matmul(self.permutation, ops.matmul(lower, upper))

    @staticmethod
    def _apply(matrix, x):
        spec = "bi,ji->bj" if len(x.shape) == 2 else "bhwi,ji->bhwj"
        return ops.einsum(spec, x, matrix)

    def call(self, x, training=False):
        y = self._apply(self.weight_matrix(), x)
        return y, _per_example(x, self._count * ops.sum(self.log_abs_s))

    def inverse(self, y):
        """``x = W^-1 y`` for each pixel."""
        self._require_built(y)
        return self._apply(ops.inv(self.weight_matrix()), y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (input_shape[0],)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


# ----------------------------------------------------------------------------------------------
# From 8-bit values to logit space
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="course")
class Dequantize(_Invertible, keras.layers.Layer):
    """8-bit values to [0, 1): ``y = (x + u) / 256`` (Theis, van den Oord and Bethge 2016, 3.1).

    With ``add_noise`` (the default, set by ``noise``), ``x`` holds grey levels {0, ..., 255} and
    ``u ~ U[0, 1)`` is drawn with the layer's ``keras.random.SeedGenerator`` at every call,
    training or not (fresh noise each time: what ``fit`` needs). With ``add_noise=False``, ``x``
    is already dequantized, ``x + u`` in [0, 256) (for a repeatable evaluation, 256 times the
    output of :func:`utils.likelihood.uniform_dequantize`), and the layer only scales it.
    Adding ``u`` is a translation (Jacobian 1), so ``log_det = -D ln 256`` either way: the
    density of ``y`` on [0, 1)^D becomes a density in 8-bit space.

    Args:
        noise: the default of ``add_noise``.
        seed: seed of the layer's generator (int >= 0 or ``None``).

    Call: ``x`` (B, ...) numeric (uint8 or float) -> ``(y, log_det)``: ``y`` float32 of the same
    shape in [0, 1], ``log_det`` (B,) = ``-D ln 256`` nats. ``inverse(y)`` -> ``256 * y`` (the
    dequantized value ``x + u``; ``floor`` gives the level).

    Raises:
        ValueError, TypeError: a bad seed.
    """

    def __init__(self, noise=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.noise = bool(noise)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) < 2 or any(d is None for d in shape[1:]):
            raise ValueError(
                f"Dequantize expects (B, ...) inputs of known size, got shape {shape}."
            )
        self._dims = int(np.prod(shape[1:]))

    def call(self, x, training=False, add_noise=None):
        x = ops.cast(x, "float32")
        if self.noise if add_noise is None else add_noise:
            x = x + keras.random.uniform(ops.shape(x), seed=self.seed_generator)
        return x / NUM_LEVELS, _per_example(x, -self._dims * LOG_256)

    def inverse(self, y):
        """``256 * y``: the dequantized 8-bit value ``x + u``."""
        return y * NUM_LEVELS

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (input_shape[0],)

    def get_config(self):
        return {**super().get_config(), "noise": self.noise, "seed": self.seed}


@keras.saving.register_keras_serializable(package="course")
class LogitTransform(_Invertible, keras.layers.Layer):
    """``z = logit(alpha + (1 - 2 alpha) y)`` for data ``y`` in [0, 1] (Dinh et al. 2017, 4.1).

    Maps the bounded data to the real line, where an affine flow with a Gaussian base can model
    it; ``alpha`` keeps ``0`` and ``1`` away from the logit's poles (RealNVP uses 0.05 for
    MNIST-like data). With ``p = alpha + (1 - 2 alpha) y``:

        log |det dz/dy| = sum_j [log(1 - 2 alpha) - log p_j - log(1 - p_j)]   (nats)

    and ``y = (sigmoid(z) - alpha) / (1 - 2 alpha)``.

    Args:
        alpha: in (0, 0.5).

    Call: ``y`` (B, ...) float32 in [0, 1] -> ``(z, log_det)``: ``z`` of the same shape,
    ``log_det`` (B,) nats. ``inverse(z)`` -> ``y``.

    Raises:
        ValueError: ``alpha`` outside (0, 0.5).
    """

    def __init__(self, alpha=0.05, **kwargs):
        super().__init__(**kwargs)
        self.alpha = finite_number("alpha", alpha, low=0.0, high=0.5, low_open=True, high_open=True)

    def call(self, y, training=False):
        p = self.alpha + (1.0 - 2.0 * self.alpha) * ops.cast(y, "float32")
        log_p, log_q = ops.log(p), ops.log1p(-p)
        log_det = _sum_features(math.log(1.0 - 2.0 * self.alpha) - log_p - log_q)
        return log_p - log_q, log_det

    def inverse(self, z):
        """``y`` from ``z``."""
        return (ops.sigmoid(z) - self.alpha) / (1.0 - 2.0 * self.alpha)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (input_shape[0],)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


# ----------------------------------------------------------------------------------------------
# The multi-scale image model
# ----------------------------------------------------------------------------------------------


def _image_shape(image_shape):
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1 for d in shape)
    ):
        raise ValueError(
            f"image_shape must be (H, W, C), three positive ints, got {image_shape!r}."
        )
    return tuple(int(d) for d in shape)


@keras.saving.register_keras_serializable(package="course")
class RealNVP(GenerativeModel, keras.Model):
    """A multi-scale RealNVP (optionally with Glow steps) of 8-bit images, as a course model.

    The flow (Dinh, Sohl-Dickstein and Bengio 2017, section 3.6; figure 4) maps 8-bit values
    ``v = x + u`` in [0, 256)^D to a standard normal latent ``z`` of the same dimension:

    1. :class:`Dequantize` (``v / 256``) and :class:`LogitTransform` (alpha, section 4.1);
    2. for each of the first ``num_scales - 1`` scales: ``couplings_per_scale`` couplings with
       checkerboard masks of alternating parity, a :class:`Squeeze`, ``couplings_per_scale``
       couplings with channel masks of alternating parity, then half of the channels are
       **factored out**: they are part of ``z`` (standard normal) and the rest goes on to the next
       scale;
    3. the final scale: ``final_couplings`` checkerboard couplings on what remains.

    With ``use_actnorm`` / ``use_1x1_conv``, each coupling is preceded by an :class:`ActNorm`
    and / or an :class:`Invertible1x1Conv` (a Glow step, Kingma and Dhariwal 2018, figure 2).
    For MNIST (28, 28, 1) and ``num_scales=3``: 28x28x1 -> squeeze 14x14x4 -> factor out 2 ->
    14x14x2 -> squeeze 7x7x8 -> factor out 4 -> 7x7x4 (28 = 4 x 7 allows at most two squeezes).

    **Inputs and what the model computes.** ``model(x)`` with ``x`` (B, H, W, C) 8-bit grey
    levels (uint8, int or float holding 0..255) returns ``log p(x + u)`` (B,) in nats per image in
    8-bit space with fresh noise ``u`` from the model-owned ``SeedGenerator`` (training and
    evaluation alike), so ``fit(x_uint8)``, ``evaluate(x_uint8)`` and ``validation_data`` work on
    every backend. A one-key dict asks for something else (used by the methods below through
    ``predict_on_batch``, which compiles on JAX and disables gradient tracking on PyTorch):

    - ``{"log_density": y}``: ``log p`` (B,) at already-dequantized data ``y`` in [0, 1) (the output
      of :func:`utils.likelihood.uniform_dequantize`), in the units above;
    - ``{"encode": y}``: the flat latent ``z`` (B, D) of such data;
    - ``{"decode": z}``: images (B, H, W, C) in [0, 1] from latents (B, D).

    **Training.** ``compile(optimizer=...)`` then ``fit(x_uint8)`` (no targets) minimizes the mean
    NLL ``-log p(x + u)`` in **nats per image** (8-bit space; :meth:`compute_loss`), reported as
    ``loss``, and the same in bits/dim as the metric ``bits_per_dim``. Dequantization noise is
    drawn inside the step, so each epoch sees new noise. ActNorm layers initialize themselves on the
    first training batch (also under JAX's compiled ``fit``); :meth:`initialize` does it explicitly
    on a chosen batch.

    **Tensor API**: :meth:`flow_forward` (8-bit values -> ``(z, log_det)``) and
    :meth:`flow_inverse`, like the layers' ``forward`` / ``inverse``. The NumPy methods
    (:meth:`log_likelihood`, :meth:`bits_per_dim`, :meth:`encode`, :meth:`decode`,
    :meth:`generate`, :meth:`initialize`) check their arguments and work in batches.

    **Course contract** (:mod:`utils.contract`): ``likelihood_kind = "exact"``: the exact density
    at the dequantized point; its expectation over ``u`` is a lower bound on the discrete
    log-likelihood ``log P(x)`` (Theis et al. 2016). ``num_classes = None``.

    Args:
        image_shape: (H, W, C), H and W divisible by ``2 ** (num_scales - 1)``.
        num_scales: number of scales (positive int; ``num_scales - 1`` squeezes).
        couplings_per_scale: couplings before and after each squeeze (positive int).
        final_couplings: couplings of the final scale (``None``: ``couplings_per_scale + 1``, the
            3 and 4 of RealNVP).
        hidden_channels, num_blocks: size of each coupling's network (see
            :class:`AffineCoupling`).
        use_actnorm, use_1x1_conv: add Glow's ActNorm / invertible 1x1 convolution before each
            coupling.
        alpha: of the logit transform, in (0, 0.5).
        seed: int seed of the model's generators (dequantization noise, ``generate`` without a
            seed) and of the initial weights (the couplings' networks and the 1x1 convolutions'
            rotations, drawn by NumPy: the same initial model on every backend); ``None``:
            unseeded.

    Raises:
        ValueError: bad sizes, an image shape that cannot be squeezed ``num_scales - 1`` times,
            or an ``alpha`` outside (0, 0.5).
    """

    likelihood_kind = "exact"
    num_classes = None

    def __init__(
        self,
        image_shape=(28, 28, 1),
        *,
        num_scales=2,
        couplings_per_scale=3,
        final_couplings=None,
        hidden_channels=32,
        num_blocks=1,
        use_actnorm=False,
        use_1x1_conv=False,
        alpha=0.05,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = _image_shape(image_shape)
        self.num_scales = positive_int("num_scales", num_scales)
        self.couplings_per_scale = positive_int("couplings_per_scale", couplings_per_scale)
        self.final_couplings = (
            self.couplings_per_scale + 1
            if final_couplings is None
            else positive_int("final_couplings", final_couplings)
        )
        self.hidden_channels = positive_int("hidden_channels", hidden_channels)
        self.num_blocks = nonnegative_int("num_blocks", num_blocks)
        self.use_actnorm = bool(use_actnorm)
        self.use_1x1_conv = bool(use_1x1_conv)
        self.alpha = finite_number("alpha", alpha, low=0.0, high=0.5, low_open=True, high_open=True)
        self.seed = check_seed(seed)
        height, width, channels = self.image_shape
        factor = 2 ** (self.num_scales - 1)
        if height % factor or width % factor:
            raise ValueError(
                f"num_scales={self.num_scales} squeezes the image {self.num_scales - 1} times: "
                f"image_shape {self.image_shape} needs H and W divisible by {factor}."
            )
        self.dims = height * width * channels
        self.dequantize = Dequantize(seed=self.seed, name="dequantize")
        self.dequantize.build((None, *self.image_shape))
        self.logit = LogitTransform(self.alpha, name="logit")
        self.logit.build((None, *self.image_shape))
        self.seed_generator = keras.random.SeedGenerator(
            None if self.seed is None else self.seed + 1
        )
        self._build_flow()
        self.bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")
        self.built = True

    def _build_flow(self):
        self.steps = []  # the invertible layers, in data -> latent order
        plan = []  # ("step", index into steps) or ("factor", channels factored out)
        shape = list(self.image_shape)

        def add(layer):
            layer.build((None, *shape))
            plan.append(("step", len(self.steps)))
            self.steps.append(layer)

        def layer_seed():  # a distinct seed per layer, from the model's seed
            return None if self.seed is None else self.seed + 2 + len(self.steps)

        def glow_step(mask, parity, name):
            if self.use_actnorm:
                add(ActNorm(name=f"{name}_actnorm"))
            if self.use_1x1_conv:
                add(Invertible1x1Conv(seed=layer_seed(), name=f"{name}_1x1conv"))
            add(
                AffineCoupling(
                    mask,
                    parity,
                    self.hidden_channels,
                    self.num_blocks,
                    seed=layer_seed(),
                    name=f"{name}_coupling",
                )
            )

        self.latent_shapes = []
        for scale in range(self.num_scales):
            final = scale == self.num_scales - 1
            count = self.final_couplings if final else self.couplings_per_scale
            for i in range(count):
                glow_step("checkerboard", i % 2, f"scale{scale}_checkerboard{i}")
            if final:
                break
            add(Squeeze(name=f"scale{scale}_squeeze"))
            shape = [shape[0] // 2, shape[1] // 2, shape[2] * 4]
            for i in range(self.couplings_per_scale):
                glow_step("channel", i % 2, f"scale{scale}_channel{i}")
            out = shape[2] // 2
            plan.append(("factor", out))
            self.latent_shapes.append((shape[0], shape[1], out))
            shape = [shape[0], shape[1], shape[2] - out]
        self.latent_shapes.append(tuple(shape))
        self._plan = tuple(plan)
        self._latent_sizes = [int(np.prod(s)) for s in self.latent_shapes]

    # -- tensor computations ---------------------------------------------------------------------

    def _to_latent(self, y, training=False):
        """Data in [0, 1) -> (flat z (B, D), log_det (B,)) of the logit transform and the flow."""
        h, log_det = self.logit(y)
        pieces = []
        for kind, item in self._plan:
            if kind == "step":
                h, step_log_det = self.steps[item](h, training=training)
                log_det = log_det + step_log_det
            else:
                pieces.append(h[..., :item])
                h = h[..., item:]
        pieces.append(h)
        z = ops.concatenate(
            [ops.reshape(p, (-1, size)) for p, size in zip(pieces, self._latent_sizes)], axis=1
        )
        return z, log_det

    def _from_latent(self, z):
        """Flat z (B, D) -> data y (B, H, W, C) in [0, 1] (before clipping)."""
        offsets = np.cumsum([0, *self._latent_sizes])
        pieces = [
            ops.reshape(z[:, offsets[i] : offsets[i + 1]], (-1, *shape))
            for i, shape in enumerate(self.latent_shapes)
        ]
        h = pieces.pop()
        for kind, item in reversed(self._plan):
            if kind == "step":
                h = self.steps[item].inverse(h)
            else:
                h = ops.concatenate([pieces.pop(), h], axis=-1)
        return self.logit.inverse(h)

    def flow_forward(self, v, training=False):
        """The whole flow on 8-bit values: ``(z, log_det)``.

        Args:
            v: (B, H, W, C) float32 dequantized 8-bit values ``x + u`` in [0, 256).
            training: ActNorm initializes itself on the first ``training=True`` call.

        Returns:
            ``z`` (B, D) float32 (the factored-out parts, flattened, then the final scale) and
            ``log_det`` (B,) = ``log |det dz/dv|`` in nats, so that
            ``log p(v) = log N(z; 0, I) + log_det`` (8-bit space).
        """
        y, log_det = self.dequantize(v, add_noise=False)
        z, flow_log_det = self._to_latent(y, training=training)
        return z, log_det + flow_log_det

    def flow_inverse(self, z):
        """Inverse of :meth:`flow_forward`: latents (B, D) -> values (B, H, W, C) in [0, 256)."""
        return self.dequantize.inverse(self._from_latent(z))

    def _log_density(self, x, add_noise, training=False):
        y, log_det = self.dequantize(x, add_noise=add_noise)
        z, flow_log_det = self._to_latent(y, training=training)
        return standard_normal_log_density(z) + log_det + flow_log_det

    def call(self, inputs, training=False):
        """``log p(x + u)`` (B,) in nats (8-bit space) for 8-bit levels, or a one-key dict (see the
        class docstring: ``"log_density"``, ``"encode"``, ``"decode"``)."""
        if isinstance(inputs, dict):
            if len(inputs) != 1 or next(iter(inputs)) not in ("log_density", "encode", "decode"):
                raise ValueError(
                    "a dict input must have exactly one key, 'log_density', 'encode' or 'decode', "
                    f"got keys {sorted(inputs)}."
                )
            key, value = next(iter(inputs.items()))
            value = ops.cast(value, "float32")
            if key == "log_density":
                return self._log_density(value * NUM_LEVELS, False, training)
            if key == "encode":
                return self._to_latent(value, training)[0]
            return ops.clip(self._from_latent(value), 0.0, 1.0)
        return self._log_density(inputs, True, training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean NLL ``-log p(x + u)`` over the batch, in nats per image (8-bit space).

        Also updates the ``bits_per_dim`` metric: the same NLL divided by ``D ln 2``.
        """
        if y_pred is None:
            y_pred = self(x, training=training)
        nll = -y_pred
        if sample_weight is not None:
            w = ops.cast(ops.reshape(sample_weight, (-1,)), nll.dtype)
            loss = ops.sum(w * nll) / ops.maximum(ops.sum(w), 1e-12)
        else:
            loss = ops.mean(nll)
        self.bits_per_dim_tracker.update_state(nll / (self.dims * LN2))
        return loss

    def compile(self, optimizer="adam", **kwargs):
        """``keras.Model.compile`` with ``jit_compile`` defaulting to
        :func:`utils.backend.default_jit_compile`. The loss is the model's own exact NLL: pass no
        ``loss``."""
        from . import backend

        kwargs.setdefault("jit_compile", backend.default_jit_compile())
        super().compile(optimizer=optimizer, **kwargs)

    # -- NumPy methods ---------------------------------------------------------------------------

    def _dequantized(self, x, seed, dequantized, name="x"):
        """Checked images -> float32 dequantized data y in [0, 1) (NumPy)."""
        arr, shape = np.asarray(x), self.image_shape
        if arr.ndim != 4 or len(arr) == 0 or tuple(arr.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{name} must be a non-empty batch of shape (N, {', '.join(map(str, shape))}) "
                f"(add a channel axis with {name}[..., None] if needed), got shape {arr.shape}."
            )
        if arr.dtype == bool or not (
            np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        ):
            raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}.")
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf values.")
        lo, hi = float(arr.min()), float(arr.max())
        if dequantized:
            if not np.issubdtype(arr.dtype, np.floating):
                raise ValueError(
                    f"with dequantized=True, {name} must be float data in [0, 1) "
                    f"(utils.likelihood.uniform_dequantize), got dtype {arr.dtype}."
                )
            if lo < 0 or hi >= 1:
                raise ValueError(
                    f"with dequantized=True, {name} must lie in [0, 1) "
                    f"(utils.likelihood.uniform_dequantize), got values in [{lo:.4g}, {hi:.4g}]."
                )
            return arr.astype("float32")
        seed = check_seed(seed)
        if seed is None:
            raise ValueError(
                "seed must be an int >= 0 (the dequantization noise of a repeatable evaluation), "
                "got None."
            )
        if lo < 0 or hi > 255 or not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name} must hold 8-bit grey levels (integers 0..255), got values in "
                f"[{lo:.4g}, {hi:.4g}]"
                + ("" if np.all(arr == np.round(arr)) else " that are not all integers")
                + ". Pass dequantized=True for the output of utils.likelihood.uniform_dequantize, "
                "or np.round(x * 255).astype(np.uint8) for images scaled to [0, 1]."
            )
        return uniform_dequantize(arr.astype(np.uint8), seed=seed)

    def _batched(self, key, data, batch_size):
        """``predict_on_batch({key: chunk})`` over ``data`` in chunks of ``batch_size``; a short
        last chunk is padded with zeros (a valid input of every mode), so that compiled predict
        functions see one batch shape per mode."""
        batch_size = positive_int("batch_size", batch_size)
        outputs = []
        for start in range(0, len(data), batch_size):
            chunk = data[start : start + batch_size]
            size = len(chunk)
            if size < batch_size < len(data):
                padding = np.zeros((batch_size - size, *chunk.shape[1:]), chunk.dtype)
                chunk = np.concatenate([chunk, padding])
            outputs.append(np.asarray(self.predict_on_batch({key: chunk}))[:size])
        return np.concatenate(outputs, axis=0)

    def log_likelihood(self, x, *, labels=None, batch_size=100, seed=0, dequantized=False):
        """``log p(x + u)`` per image in nats, in 8-bit space (course contract).

        The exact density of the flow at the dequantized images ``x + u``; its average over ``u``
        is a lower bound on the discrete ``log P(x)`` (Theis et al. 2016, section 3.1). The noise
        is :func:`utils.likelihood.uniform_dequantize` with ``seed``, so the same seed gives the
        same numbers (a fixed dequantized test set).

        Args:
            x: (N, H, W, C) 8-bit grey levels 0..255 (integer dtype, or floats holding integers);
                with ``dequantized=True``, float data in [0, 1) already dequantized (the output of
                ``uniform_dequantize``), and ``seed`` is not used.
            labels: must be ``None`` (an unconditional model).
            batch_size: images per forward pass.
            seed: int >= 0, the seed of the dequantization noise.
            dequantized: whether ``x`` is already dequantized.

        Returns:
            float64 array (N,) of log-densities in nats per image (8-bit space); bits/dim is
            ``-log_likelihood / (D ln 2)`` (:meth:`bits_per_dim`).

        Raises:
            ValueError: wrong shape, NaN or inf, values that are not levels 0..255 (or not in
                [0, 1) with ``dequantized=True``), labels, a bad ``batch_size`` or ``seed``.
        """
        check_labels(labels, 0, None)
        y = self._dequantized(x, seed, dequantized)
        return self._batched("log_density", y, batch_size).astype(np.float64)

    def bits_per_dim(self, x, *, batch_size=100, seed=0, dequantized=False):
        """Bits/dim in 8-bit space per image: :func:`utils.likelihood.nats_to_bits_per_dim` of
        ``-log_likelihood`` (equal to :func:`utils.likelihood.bits_per_dim_8bit` of the density of
        ``y = (x + u) / 256``). Arguments and errors as :meth:`log_likelihood`.

        Returns:
            float64 array (N,) of bits per dimension (lower is better; 8 is a uniform density).
        """
        nll = -self.log_likelihood(x, batch_size=batch_size, seed=seed, dequantized=dequantized)
        return nats_to_bits_per_dim(nll, dims=self.dims)

    def encode(self, x, *, batch_size=100, seed=0, dequantized=False):
        """Latents ``z = f(x + u)`` (N, D) float32 of images (flattened: the factored-out parts in
        order, then the final scale). Arguments and errors as :meth:`log_likelihood`."""
        y = self._dequantized(x, seed, dequantized)
        return self._batched("encode", y, batch_size).astype("float32")

    def decode(self, z, *, batch_size=100):
        """Images (N, H, W, C) float32 in [0, 1] from latents (N, D) (the inverse flow).

        The images are ``(x + u) / 256``, clipped to [0, 1]; ``floor(256 * image)`` gives levels.

        Raises:
            ValueError: ``z`` not of shape (N, D) or not finite, a bad ``batch_size``.
        """
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or len(z) == 0 or z.shape[1] != self.dims:
            raise ValueError(
                f"z must have shape (N, {self.dims}) (from encode), got shape {z.shape}."
            )
        if not np.all(np.isfinite(z)):
            raise ValueError("z contains NaN or inf values.")
        return self._batched("decode", z, batch_size).astype("float32")

    def generate(self, n, *, labels=None, seed=None, temperature=1.0, batch_size=100):
        """``n`` images decoded from ``z ~ N(0, temperature^2 I)`` (course contract).

        A temperature below 1 trades diversity for quality (Kingma and Dhariwal 2018, section 5);
        ``temperature=0`` decodes ``z = 0``.

        Args:
            n: number of images (positive int).
            labels: must be ``None``.
            seed: int >= 0 for a repeatable draw (for a given ``batch_size``); ``None`` draws from
                the model's own generator.
            temperature: the latent's standard deviation (finite, >= 0).
            batch_size: images decoded together.

        Returns:
            float32 array (n, H, W, C) in [0, 1] (continuous values ``(x + u) / 256``).

        Raises:
            ValueError, TypeError: a bad ``n``, ``seed``, ``temperature``, ``batch_size`` or labels.
        """
        n = positive_int("n", n)
        seed = check_seed(seed)
        check_labels(labels, n, None)
        temperature = finite_number("temperature", temperature, low=0.0)
        batch_size = positive_int("batch_size", batch_size)
        generator = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        z = [
            ops.convert_to_numpy(
                keras.random.normal((min(batch_size, n - start), self.dims), seed=generator)
            )
            for start in range(0, n, batch_size)
        ]
        z = np.concatenate(z, axis=0) * np.float32(temperature)
        return self._batched("decode", z, batch_size).astype("float32")

    def initialize(self, x, *, seed=0, dequantized=False):
        """Data-dependent initialization of every :class:`ActNorm` from one batch of images.

        Runs the flow once with ``training=True`` outside ``fit``: each uninitialized ActNorm
        normalizes the batch it sees (mean 0, std 1 per channel) and keeps those parameters. Call
        it before ``fit`` to choose the batch (a few hundred images); without it, ``fit``
        initializes on its first batch. Already initialized layers are left unchanged. Arguments
        and errors as :meth:`log_likelihood`.

        Returns:
            the number of ActNorm layers that were initialized by this call.
        """
        y = self._dequantized(x, seed, dequantized)
        norms = [s for s in self.steps if isinstance(s, ActNorm)]
        before = [float(ops.convert_to_numpy(a.initialized)) for a in norms]
        self._log_density(ops.convert_to_tensor(y * NUM_LEVELS), False, training=True)
        return int(sum(1 for b in before if b < 0.5))

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "num_scales": self.num_scales,
            "couplings_per_scale": self.couplings_per_scale,
            "final_couplings": self.final_couplings,
            "hidden_channels": self.hidden_channels,
            "num_blocks": self.num_blocks,
            "use_actnorm": self.use_actnorm,
            "use_1x1_conv": self.use_1x1_conv,
            "alpha": self.alpha,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ----------------------------------------------------------------------------------------------
# A 2-D toy flow
# ----------------------------------------------------------------------------------------------


def _points(points, dims, name="points"):
    arr = np.asarray(points)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    arr = arr.astype("float32")
    if arr.ndim != 2 or arr.shape[1] != dims or len(arr) == 0:
        raise ValueError(f"{name} must have shape (N, {dims}), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values.")
    return arr


@keras.saving.register_keras_serializable(package="course")
class ToyFlow(keras.Model):
    """A RealNVP flow of low-dimensional points (the 2-D toy section of the flows chapter).

    ``num_couplings`` :class:`DenseAffineCoupling` layers of alternating parity (each preceded by
    an :class:`ActNorm` with ``use_actnorm``) map points ``x`` (B, D) to ``z ~ N(0, I)``:
    ``log p(x) = log N(f(x); 0, I) + log |det df/dx|`` (Dinh et al. 2017, eq. 3). The flow starts
    as the identity (a standard normal density).

    ``model(points)`` returns ``log p(points)`` (B,) in nats; ``compile`` + ``fit(points)``
    minimizes the mean NLL in nats per point (:meth:`compute_loss`).

    Args:
        dims: dimension of the points (int >= 2).
        num_couplings: number of couplings (positive int).
        hidden_units, num_hidden_layers: size of each coupling's network.
        use_actnorm: add an ActNorm before each coupling.
        seed: seed of the generator of :meth:`sample` without a seed and of the initial weights.

    Raises:
        ValueError: bad sizes.
    """

    def __init__(
        self,
        dims=2,
        *,
        num_couplings=6,
        hidden_units=64,
        num_hidden_layers=2,
        use_actnorm=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dims = positive_int("dims", dims)
        if self.dims < 2:
            raise ValueError(f"dims must be >= 2 (a coupling needs two parts), got {dims}.")
        self.num_couplings = positive_int("num_couplings", num_couplings)
        self.hidden_units = positive_int("hidden_units", hidden_units)
        self.num_hidden_layers = positive_int("num_hidden_layers", num_hidden_layers)
        self.use_actnorm = bool(use_actnorm)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.steps = []
        for i in range(self.num_couplings):
            if self.use_actnorm:
                self.steps.append(ActNorm(name=f"actnorm{i}"))
            self.steps.append(
                DenseAffineCoupling(
                    i % 2,
                    self.hidden_units,
                    self.num_hidden_layers,
                    seed=None if self.seed is None else self.seed + 1 + i,
                    name=f"coupling{i}",
                )
            )
        for step in self.steps:
            step.build((None, self.dims))
        self.built = True

    def flow_forward(self, points, training=False):
        """``(z, log_det)``: latents (B, D) and ``log |det dz/dx|`` (B,) in nats."""
        h = ops.cast(points, "float32")
        log_det = _per_example(h, 0.0)
        for step in self.steps:
            h, step_log_det = step(h, training=training)
            log_det = log_det + step_log_det
        return h, log_det

    def flow_inverse(self, z):
        """Points (B, D) from latents (B, D)."""
        h = ops.cast(z, "float32")
        for step in reversed(self.steps):
            h = step.inverse(h)
        return h

    def call(self, points, training=False):
        """``log p(points)`` (B,) in nats."""
        z, log_det = self.flow_forward(points, training=training)
        return standard_normal_log_density(z) + log_det

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean NLL over the batch, in nats per point."""
        if y_pred is None:
            y_pred = self(x, training=training)
        nll = -y_pred
        if sample_weight is not None:
            w = ops.cast(ops.reshape(sample_weight, (-1,)), nll.dtype)
            return ops.sum(w * nll) / ops.maximum(ops.sum(w), 1e-12)
        return ops.mean(nll)

    def compile(self, optimizer="adam", **kwargs):
        """``keras.Model.compile`` with ``jit_compile`` defaulting to
        :func:`utils.backend.default_jit_compile`; pass no ``loss``."""
        from . import backend

        kwargs.setdefault("jit_compile", backend.default_jit_compile())
        super().compile(optimizer=optimizer, **kwargs)

    def log_density(self, points, *, batch_size=10000):
        """``log p(points)`` (N,) float64 in nats (a density in the points' units).

        Raises:
            ValueError: points not a finite (N, D) array, a bad ``batch_size``.
        """
        arr = _points(points, self.dims)
        batch_size = positive_int("batch_size", batch_size)
        out = [
            ops.convert_to_numpy(self(ops.convert_to_tensor(arr[i : i + batch_size])))
            for i in range(0, len(arr), batch_size)
        ]
        return np.concatenate(out).astype(np.float64)

    def sample(self, n, *, seed=None, temperature=1.0):
        """``n`` points (n, D) float32: the inverse flow of ``z ~ N(0, temperature^2 I)``.

        Raises:
            ValueError, TypeError: a bad ``n``, ``seed`` or ``temperature``.
        """
        n = positive_int("n", n)
        seed = check_seed(seed)
        temperature = finite_number("temperature", temperature, low=0.0)
        generator = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        z = keras.random.normal((n, self.dims), seed=generator) * temperature
        return ops.convert_to_numpy(self.flow_inverse(z)).astype("float32")

    def layer_outputs(self, points, *, inverse=False):
        """The points after every layer, to plot how the flow warps space layer by layer.

        Args:
            points: (N, D) data points (``inverse=False``: data -> latent, through the layers in
                order) or latents (``inverse=True``: latent -> data, through the inverses in
                reverse order, e.g. from ``z ~ N(0, I)`` to samples).

        Returns:
            list of ``len(self.steps) + 1`` float32 arrays (N, D): the input, then the points after
            each layer.

        Raises:
            ValueError: points not a finite (N, D) array.
        """
        h = ops.convert_to_tensor(_points(points, self.dims))
        outputs = [ops.convert_to_numpy(h)]
        for step in reversed(self.steps) if inverse else self.steps:
            h = step.inverse(h) if inverse else step(h)[0]
            outputs.append(ops.convert_to_numpy(h))
        return [np.asarray(o, dtype="float32") for o in outputs]

    def get_config(self):
        return {
            **super().get_config(),
            "dims": self.dims,
            "num_couplings": self.num_couplings,
            "hidden_units": self.hidden_units,
            "num_hidden_layers": self.num_hidden_layers,
            "use_actnorm": self.use_actnorm,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_toy_flow(
    *,
    dims=2,
    num_couplings=6,
    hidden_units=64,
    num_hidden_layers=2,
    use_actnorm=False,
    learning_rate=1e-3,
    seed=None,
):
    """A :class:`ToyFlow` (2-D points by default), compiled with Adam (``learning_rate``).

    Returns:
        a compiled :class:`ToyFlow`; ``fit(points, epochs=..., batch_size=...)`` trains it.

    Raises:
        ValueError: bad sizes or learning rate.
    """
    model = ToyFlow(
        dims,
        num_couplings=num_couplings,
        hidden_units=hidden_units,
        num_hidden_layers=num_hidden_layers,
        use_actnorm=use_actnorm,
        seed=seed,
    )
    learning_rate = finite_number("learning_rate", learning_rate, low=0.0, low_open=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


# ----------------------------------------------------------------------------------------------
# The expensive log-determinant (for checks and for the chapter's cost comparison)
# ----------------------------------------------------------------------------------------------


def jacobian_log_det(fn, x):
    """``log |det J|`` of ``fn`` at each example, the expensive way: the whole Jacobian, then a
    determinant.

    This is what the change-of-variables formula costs without the triangular structure of a
    coupling layer: ``D`` backward passes per example (run here as one batch of ``D`` copies of the
    example, copy ``k`` differentiating output component ``k``, through
    :func:`utils.backend.input_gradients`) and an O(D^3) determinant
    (``numpy.linalg.slogdet`` in float64). Use it on small inputs to check a layer's cheap
    ``log_det``, or to time the difference.

    Args:
        fn: maps a float32 tensor (B, ...) to a tensor (B, ...) with as many dimensions per example
            as its input (D), each example independently of the others, e.g.
            ``lambda t: layer.forward(t)[0]``.
        x: (B, ...) array of finite real numbers, B >= 1.

    Returns:
        ``(log_abs_det, jacobians)``: float64 (B,) ``log |det df/dx|`` in nats (``-inf`` for a
        singular Jacobian) and the float64 (B, D, D) Jacobians (row = output component).

    Raises:
        ValueError: ``x`` empty, not finite or without a feature axis; ``fn`` changes the number
            of dimensions per example.
        TypeError: ``fn`` is not callable.
    """
    from . import backend

    if not callable(fn):
        raise TypeError(f"fn must be a function of one tensor, got {type(fn).__name__}.")
    x = np.asarray(x, dtype="float32")
    if x.ndim < 2 or len(x) == 0 or x[0].size == 0:
        raise ValueError(f"x must be a non-empty batch (B, ...) with B >= 1, got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or inf values.")
    dims = x[0].size
    out = ops.convert_to_numpy(fn(ops.convert_to_tensor(x[:1])))
    if out[0].size != dims:
        raise ValueError(
            f"fn must keep the number of dimensions per example: {dims} in, {out[0].size} out "
            "(a determinant needs a square Jacobian)."
        )
    select = ops.convert_to_tensor(np.eye(dims, dtype="float32"))

    def picked(t):  # output component k of copy k
        return ops.sum(ops.reshape(fn(t), (dims, dims)) * select, axis=1)

    jacobians = []
    for example in x:
        copies = ops.convert_to_tensor(np.repeat(example[None], dims, axis=0))
        rows = ops.convert_to_numpy(backend.input_gradients(picked, copies))
        jacobians.append(np.asarray(rows, dtype=np.float64).reshape(dims, dims))
    jacobians = np.stack(jacobians)
    signs, log_dets = np.linalg.slogdet(jacobians)
    return np.where(signs == 0, -np.inf, log_dets), jacobians
