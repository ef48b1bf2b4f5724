"""Likelihood helpers of the course, defined once: units, densities, and the 8-bit protocol.

Every chapter that reports a likelihood uses these functions, so the numbers of different models
are computed the same way and are in the same units.

Spaces and units (each function's docstring repeats which one it works in):

- **Binary space** (binarized MNIST, chapters 00, 02, 05 and 06): ``x`` in {0, 1}^D. A model gives a
  probability mass ``P(x)``; its negative log is in **nats per image**. Divided by ``D ln 2`` it is
  in **bits per dimension** (:func:`nats_to_bits_per_dim`).
- **Continuous space** (flows and diffusion): a density ``p(y)`` of data ``y`` in [0, 1)^D. Its log
  is in nats per image but is *not* a probability: it depends on the scale of ``y``.
- **8-bit space**: the discrete grey levels ``x`` in {0, ..., 255}^D. A continuous density of the
  uniformly dequantized data ``y = (x + u) / 256`` (:func:`uniform_dequantize`) gives a lower bound
  on ``log P(x)`` (Theis, van den Oord and Bethge 2016, section 3.1, eq. 9), and
  :func:`bits_per_dim_8bit` converts it to the bits/dim that papers on flows report.

Tensor functions (:func:`bernoulli_log_likelihood`, :func:`gaussian_log_likelihood`,
:func:`kl_divergence_standard_normal`, :func:`standard_normal_log_density`) are written with
``keras.ops`` and run inside compiled training steps on the TensorFlow, JAX and PyTorch backends.
They check shapes always; they check values (NaN/inf, ranges) only when given NumPy arrays or Python
numbers, because reading a backend tensor's values would force a device-to-host copy at every
training step (or fail inside a compiled graph). The conversion and protocol functions work on NumPy
and check everything.

References:

- D. P. Kingma, M. Welling (2014). Auto-encoding variational Bayes. *ICLR* (appendix B: the Gaussian
  KL divergence).
- L. Theis, A. van den Oord, M. Bethge (2016). A note on the evaluation of generative models.
  *ICLR* (section 3.1: uniform dequantization and the bound on the discrete log-likelihood).
- L. Dinh, J. Sohl-Dickstein, S. Bengio (2017). Density estimation using Real NVP. *ICLR*
  (section 4.1: the bits/dim of 8-bit images from a density on dequantized data).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .checks import positive_int

LOG_2PI = math.log(2.0 * math.pi)
LN2 = math.log(2.0)
#: Dimensions of one MNIST image (28 x 28 x 1).
MNIST_DIMS = 784

_CONCRETE = (np.ndarray, np.generic, numbers.Number, list, tuple)


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------


def _finite_array(name, value, *, allow_neg_inf=False):
    """``value`` as a float64 NumPy array, or ValueError/TypeError naming ``name``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a real number or an array of real numbers, got {type(value).__name__}."
        ) from None
    if np.isnan(array).any():
        raise ValueError(
            f"{name} must not contain NaN, got {int(np.isnan(array).sum())} NaN values."
        )
    bad = np.isposinf(array) if allow_neg_inf else np.isinf(array)
    if bad.any():
        what = "+inf" if allow_neg_inf else "inf"
        raise ValueError(f"{name} must be finite, got {int(bad.sum())} {what} values.")
    return array


def _positive_real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}.")
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)


def _tensor(name, value, *, rank_at_least=1, low=None, high=None):
    """Check a tensor argument; return it as a backend tensor (NumPy inputs are value-checked)."""
    from keras import ops

    if isinstance(value, _CONCRETE):
        array = np.asarray(value)
        if not (
            np.issubdtype(array.dtype, np.floating)
            or np.issubdtype(array.dtype, np.integer)
            or array.dtype == bool
        ):
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}.")
        checked = _finite_array(name, array)
        if low is not None and checked.size and checked.min() < low:
            raise ValueError(
                f"{name} must hold values in [{low}, {high}], got a minimum of {checked.min()}."
            )
        if high is not None and checked.size and checked.max() > high:
            raise ValueError(
                f"{name} must hold values in [{low}, {high}], got a maximum of {checked.max()}."
            )
        if not np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        value = array
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(f"{name} must be an array or a tensor, got {type(value).__name__}.")
    rank = len(value.shape)
    if rank < rank_at_least:
        raise ValueError(
            f"{name} must have at least {rank_at_least} axes (batch first), "
            f"got shape {tuple(value.shape)}."
        )
    # Backend and symbolic tensors pass through untouched; NumPy arrays become backend tensors.
    return ops.convert_to_tensor(value) if isinstance(value, np.ndarray) else value


def _same_shape(name_a, a, name_b, b):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}."
        )


def _sum_over_features(values):
    """Sum every axis but the first: (B, ...) -> (B,)."""
    from keras import ops

    rank = len(values.shape)
    if rank < 2:
        return values
    return ops.sum(values, axis=tuple(range(1, rank)))


# ----------------------------------------------------------------------------------------------
# Units
# ----------------------------------------------------------------------------------------------


def nats_to_bits_per_dim(nats_per_image, dims=MNIST_DIMS):
    """Convert nats per image to bits per dimension: ``nats / (dims * ln 2)``.

    A pure change of units (1 nat = 1 / ln 2 bits): it keeps the space of the number. For binarized
    MNIST, ``-log P(x)`` in nats per image becomes bits/dim with ``dims = 784``. For a continuous
    density of [0, 1)-scaled data, use :func:`bits_per_dim_8bit` instead to get 8-bit bits/dim.

    Args:
        nats_per_image: float or array of any shape, e.g. (N,) negative log-likelihoods in nats.
        dims: number of dimensions of one image (positive int; 784 for MNIST).

    Returns:
        float64 NumPy array of the input's shape (0-d for a scalar), bits per dimension.

    Raises:
        ValueError: ``dims`` is not a positive int, or ``nats_per_image`` holds NaN or inf.
        TypeError: ``nats_per_image`` is not numeric.
    """
    dims = positive_int("dims", dims)
    return _finite_array("nats_per_image", nats_per_image) / (dims * LN2)


def bits_per_dim_to_nats(bits_per_dim, dims=MNIST_DIMS):
    """Convert bits per dimension to nats per image: ``bits * dims * ln 2`` (inverse of
    :func:`nats_to_bits_per_dim`).

    Args:
        bits_per_dim: float or array of any shape, bits per dimension.
        dims: number of dimensions of one image (positive int; 784 for MNIST).

    Returns:
        float64 NumPy array of the input's shape (0-d for a scalar), nats per image.

    Raises:
        ValueError: ``dims`` is not a positive int, or ``bits_per_dim`` holds NaN or inf.
        TypeError: ``bits_per_dim`` is not numeric.
    """
    dims = positive_int("dims", dims)
    return _finite_array("bits_per_dim", bits_per_dim) * (dims * LN2)


def log_mean_exp(values, axis=-1):
    """``log(mean(exp(values), axis))`` computed stably in float64 (NumPy).

    The maximum along ``axis`` is subtracted before exponentiating, so values of +-1000 neither
    overflow nor underflow: ``log_mean_exp(v) = m + log(mean(exp(v - m)))`` with ``m = max(v)``.
    This is the estimator of ``log E[w]`` from log-weights used by importance sampling (Burda,
    Grosse and Salakhutdinov 2016, eq. 8). Entries of ``-inf`` (zero weight) are allowed; a slice
    that is all ``-inf`` gives ``-inf``.

    Args:
        values: array of log-values (any units of log, e.g. nats), at least 1-D, non-empty along
            ``axis``.
        axis: int, the axis to average over.

    Returns:
        float64 NumPy array with ``axis`` removed (a 0-d array for 1-D input), in the units of
        ``values``.

    Raises:
        ValueError: NaN or +inf in ``values``, 0-d input, an empty axis, or an axis out of range.
        TypeError: ``axis`` is not an int, or ``values`` is not numeric.
    """
    v = _finite_array("values", values, allow_neg_inf=True)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an int, got {type(axis).__name__} {axis!r}.")
    if v.ndim == 0:
        raise ValueError("values must have at least one axis, got a scalar.")
    if not -v.ndim <= axis < v.ndim:
        raise ValueError(
            f"axis must be in [{-v.ndim}, {v.ndim - 1}] for values of shape {v.shape}, got {axis}."
        )
    if v.shape[axis] == 0:
        raise ValueError(f"values has no entries along axis {axis} (shape {v.shape}).")
    peak = np.max(v, axis=axis, keepdims=True)
    peak = np.where(np.isneginf(peak), 0.0, peak)  # all -inf: exp(-inf - 0) = 0, log 0 = -inf
    with np.errstate(divide="ignore"):
        out = np.log(np.mean(np.exp(v - peak), axis=axis)) + np.squeeze(peak, axis=axis)
    return out


# ----------------------------------------------------------------------------------------------
# Densities (keras.ops: any backend, inside compiled steps)
# ----------------------------------------------------------------------------------------------


def kl_divergence_standard_normal(mean, log_var):
    """Closed-form ``KL(N(mean, diag(exp(log_var))) || N(0, I))`` of each example, in nats.

    ``KL = 0.5 * sum_j (exp(log_var_j) + mean_j**2 - 1 - log_var_j)`` (Kingma and Welling 2014,
    appendix B, the negative of the KL part of eq. 10). It is >= 0 and 0 only at mean = 0,
    log_var = 0.

    Args:
        mean: (B, d) float tensor or array, the posterior means.
        log_var: (B, d) float tensor or array, the posterior log-variances (natural log).

    Returns:
        (B,) float tensor of the backend, KL divergences in nats per example (summed over d).

    Raises:
        ValueError: shapes differ or have no axis; NaN/inf in NumPy inputs.
        TypeError: an input is not an array or tensor.
    """
    from keras import ops

    mean = _tensor("mean", mean)
    log_var = _tensor("log_var", log_var)
    _same_shape("mean", mean, "log_var", log_var)
    log_var = ops.cast(log_var, mean.dtype)
    return 0.5 * _sum_over_features(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var)


def bernoulli_log_likelihood(x, logits):
    """``log p(x | logits)`` of each example under independent Bernoulli pixels, in nats.

    ``log p = sum_i [x_i * l_i - softplus(l_i)]``, the numerically stable form of
    ``x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))``. This is a log-probability (a likelihood in
    binary space) only for binary ``x``; for grey levels in [0, 1] it is the negative binary
    cross-entropy used as a reconstruction loss, not a likelihood.

    Args:
        x: (B, ...) targets in [0, 1] (in {0, 1} for a likelihood).
        logits: (B, ...) float decoder logits, same shape.

    Returns:
        (B,) float tensor of the backend (dtype of ``logits``), nats per example (<= 0 for binary
        x).

    Raises:
        ValueError: shapes differ or have no axis; NaN/inf, or ``x`` outside [0, 1], in NumPy
            inputs.
        TypeError: an input is not an array or tensor.
    """
    from keras import ops

    x = _tensor("x", x, low=0.0, high=1.0)
    logits = _tensor("logits", logits)
    _same_shape("x", x, "logits", logits)
    x = ops.cast(x, logits.dtype)
    return _sum_over_features(x * logits - ops.softplus(logits))


def gaussian_log_likelihood(x, mean, log_var):
    """``log N(x; mean, diag(exp(log_var)))`` of each example, in nats (a log-density).

    ``log N = -0.5 * sum_i [log(2 pi) + log_var_i + (x_i - mean_i)^2 / exp(log_var_i)]``. A density,
    not a probability: it depends on the scale of ``x`` (see the module docstring).

    Args:
        x: (B, ...) float values.
        mean: (B, ...) float means, same shape.
        log_var: log-variances (natural log), same shape as ``x`` or broadcastable to it (e.g. a
            scalar).

    Returns:
        (B,) float tensor of the backend, nats per example.

    Raises:
        ValueError: ``x`` and ``mean`` shapes differ, ``log_var`` does not broadcast; NaN/inf in
            NumPy inputs.
        TypeError: an input is not an array or tensor.
    """
    from keras import ops

    x = _tensor("x", x)
    mean = _tensor("mean", mean)
    _same_shape("x", x, "mean", mean)
    log_var = _tensor("log_var", log_var, rank_at_least=0)
    try:
        np.broadcast_shapes(tuple(log_var.shape), tuple(mean.shape))
    except ValueError:
        raise ValueError(
            f"log_var of shape {tuple(log_var.shape)} does not broadcast to the shape of x "
            f"{tuple(mean.shape)}."
        ) from None
    x = ops.cast(x, mean.dtype)
    log_var = ops.broadcast_to(ops.cast(log_var, mean.dtype), ops.shape(mean))
    return -0.5 * _sum_over_features(LOG_2PI + log_var + ops.square(x - mean) / ops.exp(log_var))


def standard_normal_log_density(z):
    """``log N(z; 0, I)`` of each example, in nats: ``-0.5 * sum_j (log(2 pi) + z_j^2)``.

    Args:
        z: (B, d) float tensor or array (more trailing axes are summed too).

    Returns:
        (B,) float tensor of the backend, nats per example.

    Raises:
        ValueError: ``z`` has no axis; NaN/inf in a NumPy input.
        TypeError: ``z`` is not an array or tensor.
    """
    from keras import ops

    z = _tensor("z", z)
    return -0.5 * _sum_over_features(LOG_2PI + ops.square(z))


# ----------------------------------------------------------------------------------------------
# The 8-bit protocol of flows and diffusion models
# ----------------------------------------------------------------------------------------------


def uniform_dequantize(x_uint8, *, seed):
    """Uniform dequantization of 8-bit images: ``y = (x + u) / 256`` with ``u ~ U[0, 1)``.

    Maps discrete grey levels to continuous data in [0, 1)^D on which a density model (a flow, a
    diffusion model) is trained and evaluated. Each level ``x`` owns the cell
    ``[x/256, (x+1)/256)``, so ``floor(256 y) = x``, and for any density ``p`` on [0, 1)^D,
    ``E_u[log p(y)] - D log 256 <= log P(x)``: the dequantized log-density gives a lower bound on
    the 8-bit log-likelihood (Theis, van den Oord and Bethge 2016, section 3.1; used by Dinh,
    Sohl-Dickstein and Bengio 2017, section 4.1). Convert with :func:`bits_per_dim_8bit`.

    ``u`` is drawn in float64 by ``numpy.random.default_rng(seed)``; the result is rounded towards
    zero to float32, so ``0 <= y < 1`` and ``floor(256 * y) == x`` hold exactly for every pixel.

    Args:
        x_uint8: integer array of any shape (e.g. (N, 28, 28) or (N, 28, 28, 1) uint8 from
            :func:`utils.data.read_mnist_arrays`), values in {0, ..., 255}. Grey levels already
            divided by 255 are rejected: pass the raw integers.
        seed: non-negative int, the seed of the noise (keyword-only, required: the same seed gives
            the same dequantized set).

    Returns:
        float32 NumPy array of the shape of ``x_uint8``, values in [0, 1) (continuous space).

    Raises:
        TypeError: ``x_uint8`` is not an integer array, or ``seed`` is not an int.
        ValueError: values outside {0, ..., 255}, an empty array, or a negative seed.
    """
    array = np.asarray(x_uint8)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            "x_uint8 must be an integer array of 8-bit grey levels 0..255, got dtype "
            f"{array.dtype}. "
            "Pass the raw uint8 images (utils.data.read_mnist_arrays()) or "
            "np.round(x * 255).astype(np.uint8) for images scaled to [0, 1]."
        )
    if array.size == 0:
        raise ValueError(f"x_uint8 is empty (shape {array.shape}).")
    lo, hi = int(array.min()), int(array.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"x_uint8 must hold values in 0..255, got values in [{lo}, {hi}].")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}.")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    u = np.random.default_rng(int(seed)).random(array.shape)  # float64 in [0, 1)
    levels = array.astype(np.float64)
    y64 = (levels + u) / 256.0
    # x + u can round up to x + 1 in float64 when u is within 2^-45 of 1: keep y in x's cell.
    y64 = np.minimum(y64, np.nextafter((levels + 1.0) / 256.0, 0.0))
    y = y64.astype(np.float32)
    too_big = y.astype(np.float64) > y64  # round-to-nearest went up: step down one float32 ulp
    y[too_big] = np.nextafter(y[too_big], np.float32(0.0))
    return y


def bits_per_dim_8bit(log_density, dims=MNIST_DIMS, scale=256):
    """Bits/dim in 8-bit space from a log-density of data scaled to [0, 1).

    A density ``p`` of ``y = (x + u) / scale`` in [0, 1)^D is a density of ``x + u`` in
    [0, scale)^D after dividing by ``scale^D``, so ``log p_8bit = log p - D log scale`` and

        bits/dim = (-log_density + dims * ln(scale)) / (dims * ln 2)

    (Dinh, Sohl-Dickstein and Bengio 2017, section 4.1; with uniform dequantization it is an upper
    bound on the discrete negative log-likelihood per dimension in bits, Theis, van den Oord and
    Bethge 2016, eq. 9). A uniform density on [0, 1)^D (``log_density = 0``) gives exactly
    ``log2(scale)`` = 8 bits/dim: a model must beat it to be useful. If the model works on another
    scaling (e.g. [-1, 1]), add the log-determinant of that affine map to its log-density first.

    Args:
        log_density: float or array of any shape, ``log p(y)`` in nats per image of the continuous
            data ``y`` in [0, 1)^dims (e.g. from a flow evaluated on :func:`uniform_dequantize`
            output).
        dims: number of dimensions per image (positive int; 784 for MNIST).
        scale: number of discrete levels per dimension (256 for 8-bit images; a finite number > 0).

    Returns:
        float64 NumPy array of the input's shape (0-d for a scalar), bits per dimension in 8-bit
        space.

    Raises:
        ValueError: NaN/inf in ``log_density``, a non-positive-int ``dims``, or a ``scale`` that is
            not a finite number > 0.
        TypeError: ``log_density`` or ``scale`` is not numeric.
    """
    dims = positive_int("dims", dims)
    scale = _positive_real("scale", scale)
    log_density = _finite_array("log_density", log_density)
    return -log_density / (dims * LN2) + math.log2(scale)


def fit_independent_bernoulli(x_binary, alpha=1.0):
    """Maximum-a-posteriori pixel probabilities of an independent-Bernoulli image model.

    Each pixel is its own coin: ``p_i = (count_i + alpha) / (N + 2 alpha)`` (Laplace smoothing with
    ``alpha = 1`` keeps every log-probability finite on test data).

    Args:
        x_binary: (N, ...) binary images (0/1 values).
        alpha: pseudo-count added to both outcomes (> 0).

    Returns:
        float64 array of shape ``x_binary.shape[1:]`` with probabilities in (0, 1).

    Raises:
        ValueError: non-binary inputs or ``alpha <= 0``.
    """
    x = np.asarray(x_binary, dtype=np.float64)
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}.")
    if not np.all((x == 0) | (x == 1)):
        raise ValueError("x_binary must hold only 0 and 1 (binarize the images first).")
    return (x.sum(axis=0) + alpha) / (len(x) + 2.0 * alpha)
