"""Diffusion models and flow matching on MNIST, in Keras 3 (every backend).

Contents:

- **Noise schedules** (:class:`NoiseSchedule`): the linear schedule of Ho, Jain and Abbeel (2020)
  and the cosine schedule of Nichol and Dhariwal (2021), giving ``beta_t``, ``alpha_t`` and
  ``alpha_bar_t``, the signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)``, the forward
  process in closed form (:func:`q_sample`) and one step at a time (:func:`forward_step`).
- **A small U-Net** (:func:`build_unet`) with a sinusoidal time embedding
  (:class:`SinusoidalEmbedding`) and an optional class embedding that has one extra "null" class
  for classifier-free guidance; residual blocks (:class:`ResidualBlock`) condition on the
  embedding.
- **Samplers** as plain functions of a noise or velocity predictor, so that a test can plug in an
  exact predictor: DDPM ancestral sampling (:func:`ddpm_sample`, Ho et al. 2020 eq. 11 on a
  respaced schedule), DDIM with ``eta`` and a step count (:func:`ddim_sample`, Song, Meng and
  Ermon 2021 eq. 12), the Euler and Heun ODE solvers of flow matching (:func:`ode_sample`),
  inpainting of known pixels by replacement, and classifier-free guidance (Ho and Salimans
  2022) through :func:`guided_prediction`.
- **Models on the course contract**: :class:`DiffusionModel` (epsilon-prediction loss through
  ``compute_loss``, Ho et al. 2020 eq. 14; the variational bound in nats as its
  ``log_likelihood``) and :class:`FlowMatchingModel` (conditional flow matching with the
  straight path of rectified flow: Lipman et al. 2023; Liu, Gong and Liu 2023). Both train with
  plain ``fit``; EMA weights come from Keras' own optimizer option (``use_ema=True``) and
  ``keras.callbacks.SwapEMAWeights``.

Conventions: images enter the models in [0, 1], shape (N, 28, 28, 1); inside, the data live in
[-1, 1] (``x = 2 * image - 1``). A diffusion timestep ``t`` is an integer index in
``[0, T)``: index ``t`` is the paper's step ``t + 1`` (``alpha_bar[0] = 1 - beta_1``). Flow
matching uses continuous ``t`` in [0, 1] with ``t = 0`` data and ``t = 1`` noise.
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
from keras import layers, ops

from .checks import (
    check_images,
    check_labels,
    check_seed,
    finite_number,
    nonnegative_int,
    positive_int,
)
from .contract import GenerativeModel, LikelihoodUnavailableError

SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")
SOLVERS = ("euler", "heun")


# ----------------------------------------------------------------------------------------------
# Noise schedules and the forward process
# ----------------------------------------------------------------------------------------------


def _timesteps(value, name="timesteps"):
    value = positive_int(name, value)
    if value < 2:
        raise ValueError(f"{name} must be at least 2, got {value}.")
    return value


def linear_betas(timesteps, *, beta_start=1e-4, beta_end=0.02):
    """The linear schedule of Ho, Jain and Abbeel (2020, section 4): ``beta_t`` rising linearly.

    Ho et al. use ``beta_1 = 1e-4`` and ``beta_T = 0.02`` for ``T = 1000``; for another ``T``
    both ends are scaled by ``1000 / T`` (as Nichol and Dhariwal 2021 do), so that the total noise
    stays comparable.

    Args:
        timesteps: ``T`` (int >= 2).
        beta_start, beta_end: the ends for ``T = 1000``, ``0 < beta_start <= beta_end < 1``.

    Returns:
        float64 array (T,) of ``beta_t`` in (0, 1).

    Raises:
        ValueError: bad ``timesteps`` or ends (after scaling, ``beta_end`` must stay below 1).
    """
    timesteps = _timesteps(timesteps)
    beta_start = finite_number("beta_start", beta_start, low=0.0, low_open=True, high=1.0)
    beta_end = finite_number("beta_end", beta_end, low=beta_start, high=1.0, high_open=True)
    scale = 1000.0 / timesteps
    if beta_end * scale >= 1.0:
        raise ValueError(
            f"beta_end * 1000 / timesteps must stay below 1, got {beta_end} * 1000 / {timesteps}."
        )
    return np.linspace(beta_start * scale, beta_end * scale, timesteps, dtype=np.float64)


def cosine_betas(timesteps, *, offset=0.008, max_beta=0.999):
    """The cosine schedule of Nichol and Dhariwal (2021, eq. 17).

    ``alpha_bar(t) = f(t) / f(0)`` with ``f(t) = cos(((t / T + s) / (1 + s)) * pi / 2) ** 2``
    and ``beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1)``, clipped at ``max_beta`` to avoid the
    singularity at ``t = T``. The small offset ``s`` keeps ``beta_1`` from being too small.

    Args:
        timesteps: ``T`` (int >= 2).
        offset: ``s`` (0.008 in the paper), >= 0.
        max_beta: the clip, in (0, 1).

    Returns:
        float64 array (T,) of ``beta_t`` in (0, 1).

    Raises:
        ValueError: bad arguments.
    """
    timesteps = _timesteps(timesteps)
    offset = finite_number("offset", offset, low=0.0)
    max_beta = finite_number("max_beta", max_beta, low=0.0, low_open=True, high=1.0, high_open=True)
    steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.cos((steps + offset) / (1.0 + offset) * math.pi / 2.0) ** 2
    alpha_bar = f / f[0]
    betas = 1.0 - alpha_bar[1:] / alpha_bar[:-1]
    return np.clip(betas, 1e-8, max_beta)


class NoiseSchedule:
    """A discrete noise schedule: ``beta_t``, ``alpha_t = 1 - beta_t`` and
    ``alpha_bar_t = prod_{s <= t} alpha_s`` for ``t`` = 0 .. T-1 (the paper's 1 .. T).

    Attributes (float64 NumPy arrays of shape (T,)): ``betas``, ``alphas``, ``alpha_bars``,
    ``alpha_bars_prev`` (``alpha_bar_{t-1}``, with 1 at ``t = 0``), ``posterior_variance``
    (``beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t``, Ho et al. 2020 eq. 7).

    Args:
        name: ``"linear"`` (Ho et al. 2020) or ``"cosine"`` (Nichol and Dhariwal 2021).
        timesteps: ``T`` (int >= 2; 1000 in both papers).

    Raises:
        ValueError: an unknown name or a bad ``timesteps``.
    """

    def __init__(self, name="cosine", timesteps=1000):
        if name not in SCHEDULES:
            raise ValueError(f"name must be one of {SCHEDULES}, got {name!r}.")
        self.name = name
        self.timesteps = _timesteps(timesteps)
        self.betas = (linear_betas if name == "linear" else cosine_betas)(self.timesteps)
        self.alphas = 1.0 - self.betas
        self.alpha_bars = np.cumprod(self.alphas)
        self.alpha_bars_prev = np.concatenate([[1.0], self.alpha_bars[:-1]])
        self.posterior_variance = (
            (1.0 - self.alpha_bars_prev) / (1.0 - self.alpha_bars) * self.betas
        )

    def __repr__(self):
        return f"NoiseSchedule(name={self.name!r}, timesteps={self.timesteps})"

    def check_t(self, t, name="t"):
        """Integer timestep indices in ``[0, T)`` as an int64 array (any shape).

        Raises:
            TypeError: non-integer values. ValueError: values out of range.
        """
        arr = np.asarray(t)
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be integer timestep indices, got dtype {arr.dtype}.")
        if arr.size and (arr.min() < 0 or arr.max() >= self.timesteps):
            raise ValueError(
                f"{name} must lie in [0, {self.timesteps}), got values in "
                f"[{arr.min()}, {arr.max()}]."
            )
        return arr.astype(np.int64)

    def snr(self, t=None):
        """Signal-to-noise ratio ``alpha_bar_t / (1 - alpha_bar_t)`` (float64; all T if ``t`` is
        ``None``). Kingma et al. (2021) write the diffusion ELBO as an integral over it."""
        ab = self.alpha_bars if t is None else self.alpha_bars[self.check_t(t)]
        return ab / (1.0 - ab)

    def respaced(self, steps):
        """The ``steps`` timestep indices a shortened sampler visits, descending from ``T - 1``
        to 0 and evenly spaced (Nichol and Dhariwal 2021, section 4; Song et al. 2021).

        Returns:
            int64 array (steps,), strictly decreasing, first ``T - 1``, last 0 (for ``steps = 1``
            only ``T - 1``: the single step goes straight to ``x_0``).

        Raises:
            ValueError: ``steps`` not an int in [1, T].
        """
        steps = positive_int("steps", steps)
        if steps > self.timesteps:
            raise ValueError(f"steps must lie in [1, {self.timesteps}], got {steps}.")
        if steps == 1:
            return np.array([self.timesteps - 1], dtype=np.int64)
        grid = np.round(np.linspace(self.timesteps - 1, 0, steps)).astype(np.int64)
        return grid

    def get_config(self):
        return {"name": self.name, "timesteps": self.timesteps}


def _gather(values, t, ndim):
    """``values[t]`` (NumPy) reshaped to broadcast against a rank-``ndim`` batch, as float32."""
    return np.reshape(np.asarray(values)[np.asarray(t)], (-1,) + (1,) * (ndim - 1)).astype(
        "float32"
    )


def q_sample(x0, t, noise, schedule):
    """The forward process in closed form, ``q(x_t | x_0)`` (Ho et al. 2020, eq. 4):
    ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) epsilon``.

    Args:
        x0: (N, ...) clean data (NumPy, float), in the model's [-1, 1] space.
        t: (N,) integer timestep indices in [0, T).
        noise: standard normal ``epsilon``, same shape as ``x0``.
        schedule: a :class:`NoiseSchedule`.

    Returns:
        float32 NumPy array, the shape of ``x0``.

    Raises:
        ValueError: shapes that disagree, NaN or inf, ``t`` out of range.
        TypeError: ``schedule`` that is not a NoiseSchedule, non-integer ``t``.
    """
    x0, noise = _same_shape_arrays(("x0", x0), ("noise", noise))
    schedule = _check_schedule(schedule)
    t = schedule.check_t(t)
    if t.shape != (len(x0),):
        raise ValueError(f"t must have shape ({len(x0)},), got {t.shape}.")
    ab = _gather(schedule.alpha_bars, t, x0.ndim)
    return (np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * noise).astype("float32")


def forward_step(x_prev, t, noise, schedule):
    """One step of the forward process, ``q(x_t | x_{t-1})`` (Ho et al. 2020, eq. 2):
    ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) epsilon``.

    Args, returns and errors as :func:`q_sample` (``x_prev`` is ``x_{t-1}``, ``x_0`` at t = 0).
    """
    x_prev, noise = _same_shape_arrays(("x_prev", x_prev), ("noise", noise))
    schedule = _check_schedule(schedule)
    t = schedule.check_t(t)
    if t.shape != (len(x_prev),):
        raise ValueError(f"t must have shape ({len(x_prev)},), got {t.shape}.")
    b = _gather(schedule.betas, t, x_prev.ndim)
    return (np.sqrt(1.0 - b) * x_prev + np.sqrt(b) * noise).astype("float32")


def _check_schedule(schedule):
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}.")
    return schedule


def _finite_array(name, x):
    arr = np.asarray(x, dtype="float32")
    if arr.ndim == 0 or len(arr) == 0:
        raise ValueError(f"{name} must be a non-empty batch (N, ...), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values.")
    return arr


def _same_shape_arrays(*named):
    arrays = [_finite_array(name, x) for name, x in named]
    for (name, _), arr in zip(named[1:], arrays[1:]):
        if arr.shape != arrays[0].shape:
            raise ValueError(
                f"{name} must have the shape of {named[0][0]} {arrays[0].shape}, got {arr.shape}."
            )
    return arrays


# ----------------------------------------------------------------------------------------------
# The U-Net
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="course")
class SinusoidalEmbedding(layers.Layer):
    """Sinusoidal embedding of a scalar time (Vaswani et al. 2017; Ho et al. 2020, appendix B).

    ``emb(t) = [sin(t * f_0), ..., sin(t * f_{d/2-1}), cos(t * f_0), ...]`` with frequencies
    ``f_i = max_period ** (-i / (d/2))``.

    Input: (B,) or (B, 1) float times (a diffusion step index, or ``1000 t`` for flow matching).
    Output: (B, dim) float32.

    Args:
        dim: embedding size, an even int >= 2.
        max_period: the longest period, > 1 (10,000 as in the Transformer).

    Raises:
        ValueError: an odd or non-positive ``dim``, ``max_period <= 1``; an input of rank > 2.
    """

    def __init__(self, dim, max_period=10_000.0, **kwargs):
        super().__init__(**kwargs)
        dim = positive_int("dim", dim)
        if dim % 2:
            raise ValueError(f"dim must be even (sin and cos halves), got {dim}.")
        self.dim = dim
        self.max_period = finite_number("max_period", max_period, low=1.0, low_open=True)
        half = dim // 2
        self._frequencies = np.exp(
            -math.log(self.max_period) * np.arange(half, dtype=np.float64) / half
        ).astype("float32")

    def call(self, t):
        if len(t.shape) > 2 or (len(t.shape) == 2 and t.shape[-1] != 1):
            raise ValueError(f"SinusoidalEmbedding expects times of shape (B,), got {t.shape}.")
        t = ops.reshape(ops.cast(t, "float32"), (-1, 1))
        angles = t * ops.convert_to_tensor(self._frequencies)[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


@keras.saving.register_keras_serializable(package="course")
class ResidualBlock(layers.Layer):
    """A residual block conditioned on an embedding (Ho et al. 2020, after Wide ResNet, with the
    scale-shift normalization of Dhariwal and Nichol 2021):
    ``GroupNorm -> swish -> conv3x3 -> GroupNorm -> * (1 + scale) + shift -> swish -> dropout ->
    conv3x3``, where ``(scale, shift) = Dense(emb)``, added to the input (through a 1x1
    convolution when the widths differ). A plain added bias would be partly removed by the
    GroupNorm that follows it; scaling and shifting after the norm lets the time and the class
    act on every channel.

    Call: ``block(x, emb)`` with ``x`` (B, H, W, C_in) and ``emb`` (B, E). Output (B, H, W,
    filters).

    Args:
        filters: output channels (int >= 1).
        groups: groups of the group normalizations (Wu and He 2018); must divide ``filters`` and
            the input channels. ``0`` removes both normalizations and zero-initialises the second
            convolution, so that the block starts as the identity (Fixup, Zhang et al. 2019).
        dropout: dropout rate in [0, 1).

    Raises:
        ValueError: bad arguments; on build, input channels not divisible by ``groups`` or an
            embedding of rank other than 2.
    """

    def __init__(self, filters, groups=8, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int("filters", filters)
        self.groups = nonnegative_int("groups", groups)
        if self.groups and self.filters % self.groups:
            raise ValueError(f"groups ({groups}) must divide filters ({filters}).")
        self.dropout = finite_number("dropout", dropout, low=0.0, high=1.0, high_open=True)

    def build(self, x_shape, emb_shape):
        channels = int(x_shape[-1])
        if self.groups and channels % self.groups:
            raise ValueError(
                f"ResidualBlock input channels ({channels}) must be divisible by groups "
                f"({self.groups})."
            )
        if len(emb_shape) != 2:
            raise ValueError(
                f"ResidualBlock expects an embedding of shape (B, E), got {emb_shape}."
            )
        norm = (
            (lambda tag: layers.GroupNormalization(self.groups, name=tag))
            if self.groups
            else (lambda tag: layers.Identity(name=tag))
        )
        self.norm1 = norm("norm1")
        self.conv1 = layers.Conv2D(self.filters, 3, padding="same", name="conv1")
        self.project = layers.Dense(2 * self.filters, name="embedding_projection")
        self.norm2 = norm("norm2")
        self.drop = layers.Dropout(self.dropout)
        # Without normalization the residual branch starts at zero (Fixup, Zhang et al. 2019),
        # so that a deep stack of blocks starts as the identity and trains stably.
        self.conv2 = layers.Conv2D(
            self.filters,
            3,
            padding="same",
            kernel_initializer="glorot_uniform" if self.groups else "zeros",
            name="conv2",
        )
        self.norm1.build(x_shape)
        self.conv1.build(x_shape)
        self.project.build(emb_shape)
        out_shape = tuple(x_shape[:-1]) + (self.filters,)
        self.norm2.build(out_shape)
        self.conv2.build(out_shape)
        self.skip = None
        if channels != self.filters:
            self.skip = layers.Conv2D(self.filters, 1, name="skip")
            self.skip.build(x_shape)

    def call(self, x, emb, training=False):
        h = self.conv1(ops.silu(self.norm1(x)))
        scale, shift = ops.split(self.project(emb)[:, None, None, :], 2, axis=-1)
        h = self.norm2(h) * (1.0 + scale) + shift
        h = self.conv2(self.drop(ops.silu(h), training=training))
        return h + (x if self.skip is None else self.skip(x))

    def compute_output_shape(self, x_shape, emb_shape):
        return tuple(x_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "groups": self.groups,
            "dropout": self.dropout,
        }


def build_unet(
    image_shape=(28, 28, 1),
    *,
    widths=(32, 64),
    blocks_per_level=1,
    embedding_dim=128,
    num_classes=None,
    groups=8,
    dropout=0.0,
    patch_size=2,
    name="unet",
):
    """A small U-Net (Ronneberger et al. 2015, as adapted by Ho et al. 2020) that predicts a
    tensor of the image's shape from a noisy image, a time and (optionally) a class.

    Layout: a stem (a 3x3 convolution, or with ``patch_size = p > 1`` a p x p convolution of
    stride p that turns each patch into one feature vector, as in vision transformers); per level,
    ``blocks_per_level`` residual blocks, whose output is kept as the level's skip connection,
    then a stride-2 3x3 convolution to the next width (none after the last level); one residual
    block in the middle; on the way up, per level, the skip connection concatenated and
    ``blocks_per_level`` residual blocks, then a 2x2 transposed convolution of stride 2 back to
    the previous level's width; GroupNorm (when ``groups > 0``), swish and a zero-initialised
    output layer (a 3x3 convolution, or a p x p transposed convolution of stride p that undoes the
    patches), so the untrained network predicts 0. Every residual block sees the embedding
    ``MLP(sinusoidal(t)) [+ Embedding(label)]``.

    Inputs: ``[x (B, H, W, C) float32, t (B,) float32]``, plus ``label (B,) int32`` in
    ``[0, num_classes]`` when ``num_classes`` is set: the id ``num_classes`` is the **null
    class** of classifier-free guidance (Ho and Salimans 2022). Output: (B, H, W, C) float32.

    Args:
        image_shape: (H, W, C).
        widths: channels per level (ints divisible by ``groups``); 28x28 images with
            ``patch_size=2`` and two levels work at 14 and 7 pixels.
        blocks_per_level: residual blocks per level on the way down (int >= 1).
        embedding_dim: size of the time (and class) embedding, even.
        num_classes: number of classes for a class-conditional network, ``None`` otherwise.
        groups, dropout: see :class:`ResidualBlock` (``groups = 0``: no normalization, the
            residual branches start at zero instead).
        patch_size: side of the patches of the stem (int >= 1); H and W must be divisible by
            ``patch_size * 2 ** (len(widths) - 1)``.

    Returns:
        a functional ``keras.Model``.

    Raises:
        ValueError: bad shapes or arguments (named in the message).
    """
    image_shape = tuple(image_shape)
    if len(image_shape) != 3 or not all(
        isinstance(d, numbers.Integral) and d > 0 for d in image_shape
    ):
        raise ValueError(f"image_shape must be (H, W, C) with positive ints, got {image_shape}.")
    widths = tuple(widths)
    if not widths:
        raise ValueError("widths must name at least one level, got ().")
    for w in widths:
        positive_int("widths[i]", w)
        if groups and w % groups:
            raise ValueError(f"every width must be divisible by groups={groups}, got {widths}.")
    patch_size = positive_int("patch_size", patch_size)
    factor = patch_size * 2 ** (len(widths) - 1)
    if image_shape[0] % factor or image_shape[1] % factor:
        raise ValueError(
            f"image_shape {image_shape[:2]} must be divisible by "
            f"patch_size * 2 ** (len(widths) - 1) = {factor}."
        )
    blocks_per_level = positive_int("blocks_per_level", blocks_per_level)
    embedding_dim = positive_int("embedding_dim", embedding_dim)
    if num_classes is not None:
        num_classes = positive_int("num_classes", num_classes)

    x_in = keras.Input(image_shape, name="x")
    t_in = keras.Input((), name="t")
    inputs = [x_in, t_in]
    emb = SinusoidalEmbedding(embedding_dim, name="time_embedding")(t_in)
    emb = layers.Dense(embedding_dim, activation="silu", name="time_mlp_1")(emb)
    emb = layers.Dense(embedding_dim, name="time_mlp_2")(emb)
    if num_classes is not None:
        label_in = keras.Input((), dtype="int32", name="label")
        inputs.append(label_in)
        class_emb = layers.Embedding(num_classes + 1, embedding_dim, name="class_embedding")(
            label_in
        )
        emb = layers.Add(name="embedding")([emb, class_emb])

    def block(filters, h, tag):
        return ResidualBlock(filters, groups=groups, dropout=dropout, name=tag)(h, emb)

    if patch_size == 1:
        h = layers.Conv2D(widths[0], 3, padding="same", name="stem")(x_in)
    else:
        h = layers.Conv2D(widths[0], patch_size, strides=patch_size, name="stem")(x_in)
    skips = []
    for level, w in enumerate(widths):
        for b in range(blocks_per_level):
            h = block(w, h, f"down{level}_{b}")
        skips.append(h)
        if level < len(widths) - 1:
            h = layers.Conv2D(
                widths[level + 1], 3, strides=2, padding="same", name=f"downsample{level}"
            )(h)
    h = block(widths[-1], h, "middle")
    for level in reversed(range(len(widths))):
        w = widths[level]
        h = layers.Concatenate(name=f"skip{level}")([h, skips.pop()])
        for b in range(blocks_per_level):
            h = block(w, h, f"up{level}_{b}")
        if level > 0:
            h = layers.Conv2DTranspose(widths[level - 1], 2, strides=2, name=f"upsample{level}")(h)
    if groups:
        h = layers.GroupNormalization(groups, name="out_norm")(h)
    h = layers.Activation("silu", name="out_act")(h)
    if patch_size == 1:
        out = layers.Conv2D(
            image_shape[-1], 3, padding="same", kernel_initializer="zeros", name="out"
        )(h)
    else:
        out = layers.Conv2DTranspose(
            image_shape[-1], patch_size, strides=patch_size, kernel_initializer="zeros", name="out"
        )(h)
    return keras.Model(inputs, out, name=name)


# ----------------------------------------------------------------------------------------------
# Samplers: plain functions of a predictor, so that a test can give them an exact one
# ----------------------------------------------------------------------------------------------


def guided_prediction(conditional, unconditional, guidance):
    """Classifier-free guidance (Ho and Salimans 2022, eq. 6):
    ``(1 + w) * pred(x, c) - w * pred(x, null)``.

    ``w = 0`` is the plain conditional model; ``w > 0`` pushes samples towards what makes the
    class likely (sharper, less diverse); ``w = -1`` would be the unconditional model.
    Works on noise predictions and on flow-matching velocities alike.

    Args:
        conditional, unconditional: arrays of the same shape.
        guidance: ``w`` (float >= 0).

    Returns:
        float32 array of that shape.

    Raises:
        ValueError: shapes that differ, NaN or inf, ``w < 0``.
    """
    guidance = finite_number("guidance", guidance, low=0.0)
    c, u = _same_shape_arrays(("conditional", conditional), ("unconditional", unconditional))
    return ((1.0 + guidance) * c - guidance * u).astype("float32")


def _check_known(x_T, known, mask):
    if (known is None) != (mask is None):
        raise ValueError(
            "inpainting needs both known (the images) and mask (1 = keep), or neither."
        )
    if known is None:
        return None, None
    known, mask = _same_shape_arrays(("known", known), ("mask", mask))
    if known.shape != x_T.shape:
        raise ValueError(
            f"known must have the shape of the samples {x_T.shape}, got {known.shape}."
        )
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must be binary: 1 where a pixel is known and kept, 0 where drawn.")
    return known, mask


def _check_eps_fn(eps_fn, name="eps_fn"):
    if not callable(eps_fn):
        raise TypeError(f"{name} must be a callable f(x, t) -> array, got {type(eps_fn).__name__}.")
    return eps_fn


def _predict(fn, x, t, name):
    out = np.asarray(fn(x, t), dtype="float32")
    if out.shape != x.shape:
        raise ValueError(f"{name} returned shape {out.shape}, expected {x.shape}.")
    return out


def _x0_from_eps(x, eps, ab, clip):
    """``x_0`` predicted from ``epsilon`` (Ho et al. 2020, eq. 15 rearranged), optionally clipped
    to the data range [-1, 1]; ``epsilon`` is then recomputed to agree with the clipped ``x_0``."""
    x0 = (x - np.sqrt(1.0 - ab) * eps) / np.sqrt(ab)
    if clip:
        x0 = np.clip(x0, -1.0, 1.0)
        eps = (x - np.sqrt(ab) * x0) / np.sqrt(1.0 - ab)
    return x0, eps


def _replace_known(x, known, mask, ab, rng):
    """Inpainting by replacement: the known pixels are set to a fresh draw of
    ``q(x_t | x_0 = known)`` at the current noise level (Song et al. 2021, score SDE appendix;
    Lugmayr et al. 2022)."""
    if known is None:
        return x
    noisy = np.sqrt(ab) * known + np.sqrt(1.0 - ab) * rng.standard_normal(x.shape, dtype="float32")
    return mask * noisy + (1.0 - mask) * x


def ddim_sample(
    eps_fn, x_T, schedule, *, steps, eta=0.0, rng=None, clip=True, known=None, mask=None
):
    """DDIM sampling (Song, Meng and Ermon 2021, eq. 12) on ``steps`` evenly spaced timesteps.

    From timestep ``t`` to the next visited one ``s < t`` (``alpha_bar_s = 1`` after the last):
    ``x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)``,
    ``sigma = eta * sqrt((1 - ab_s) / (1 - ab_t)) * sqrt(1 - ab_t / ab_s)``,
    ``x_s = sqrt(ab_s) x0 + sqrt(1 - ab_s - sigma^2) eps + sigma z``.
    ``eta = 0`` is deterministic given ``x_T`` (an ODE solver); ``eta = 1`` with every step is
    DDPM's ancestral sampler with the posterior variance ``beta~_t``.

    Args:
        eps_fn: ``f(x_t, t) -> epsilon`` with ``x_t`` (N, ...) float32 and ``t`` an int timestep
            index; returns an array of the shape of ``x_t``.
        x_T: (N, ...) the starting noise (standard normal for generation).
        schedule: a :class:`NoiseSchedule`.
        steps: number of network evaluations (int in [1, T]).
        eta: noise scale, >= 0 (0: DDIM; 1: DDPM-like).
        rng: a ``numpy.random.Generator`` (needed when ``eta > 0`` or inpainting).
        clip: clip the predicted ``x_0`` to [-1, 1] at every step.
        known, mask: inpainting: images (N, ...) in [-1, 1] whose pixels with ``mask == 1`` are
            kept (replaced at every step, and exactly at the end).

    Returns:
        float32 array, the shape of ``x_T``: samples in the model's [-1, 1] space (not clipped
        when ``clip`` is False).

    Raises:
        ValueError, TypeError: bad arguments (named in the message).
    """
    eps_fn = _check_eps_fn(eps_fn)
    x = _finite_array("x_T", x_T)
    schedule = _check_schedule(schedule)
    eta = finite_number("eta", eta, low=0.0)
    known, mask = _check_known(x, known, mask)
    if rng is None and (eta > 0 or known is not None):
        raise ValueError("rng (a numpy.random.Generator) is needed when eta > 0 or inpainting.")
    ts = schedule.respaced(steps)
    for i, t in enumerate(ts):
        ab_t = schedule.alpha_bars[t]
        ab_s = schedule.alpha_bars[ts[i + 1]] if i + 1 < len(ts) else 1.0
        x = _replace_known(x, known, mask, ab_t, rng)
        x0, eps = _x0_from_eps(x, _predict(eps_fn, x, int(t), "eps_fn"), ab_t, clip)
        sigma = eta * np.sqrt((1.0 - ab_s) / (1.0 - ab_t) * (1.0 - ab_t / ab_s))
        x = np.sqrt(ab_s) * x0 + np.sqrt(max(1.0 - ab_s - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * rng.standard_normal(x.shape, dtype="float32")
        x = x.astype("float32")
    if known is not None:
        x = mask * known + (1.0 - mask) * x
    return x.astype("float32")


def ddpm_sample(eps_fn, x_T, schedule, *, steps=None, rng, clip=True, known=None, mask=None):
    """DDPM ancestral sampling (Ho, Jain and Abbeel 2020, algorithm 2 / eq. 11), on ``steps``
    evenly spaced timesteps of a respaced schedule (Nichol and Dhariwal 2021, section 4).

    Between visited timesteps ``t > s`` the respaced step has ``alpha = ab_t / ab_s`` and
    ``beta = 1 - alpha``; the sampler draws from the Gaussian posterior
    ``q(x_s | x_t, x0_hat)`` (eq. 7) with mean
    ``sqrt(ab_s) beta / (1 - ab_t) x0_hat + sqrt(alpha) (1 - ab_s) / (1 - ab_t) x_t`` and
    variance ``beta~ = (1 - ab_s) / (1 - ab_t) beta``, where ``x0_hat`` comes from the predicted
    noise. With every step (``steps = T``) this is Ho et al.'s sampler with ``sigma_t^2 =
    beta~_t``. The fresh noise of each step also corrects some of the network's errors: for the
    small, briefly trained network of chapter 07 this sampler beats deterministic DDIM at every
    step count tried.

    Args:
        eps_fn, x_T, schedule, rng, clip, known, mask: as :func:`ddim_sample` (``rng`` required).
        steps: network evaluations (int in [1, T]); ``None`` means all T.

    Returns:
        float32 array, the shape of ``x_T``, in the model's [-1, 1] space.

    Raises:
        ValueError, TypeError: bad arguments (named in the message).
    """
    eps_fn = _check_eps_fn(eps_fn)
    x = _finite_array("x_T", x_T)
    schedule = _check_schedule(schedule)
    known, mask = _check_known(x, known, mask)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}.")
    ts = schedule.respaced(schedule.timesteps if steps is None else steps)
    for i, t in enumerate(ts):
        ab_t = schedule.alpha_bars[t]
        ab_s = schedule.alpha_bars[ts[i + 1]] if i + 1 < len(ts) else 1.0
        alpha = ab_t / ab_s
        beta = 1.0 - alpha
        x = _replace_known(x, known, mask, ab_t, rng)
        x0, _ = _x0_from_eps(x, _predict(eps_fn, x, int(t), "eps_fn"), ab_t, clip)
        mean = (np.sqrt(ab_s) * beta * x0 + np.sqrt(alpha) * (1.0 - ab_s) * x) / (1.0 - ab_t)
        variance = (1.0 - ab_s) / (1.0 - ab_t) * beta
        x = mean
        if variance > 0:
            x = x + np.sqrt(variance) * rng.standard_normal(x.shape, dtype="float32")
        x = x.astype("float32")
    if known is not None:
        x = mask * known + (1.0 - mask) * x
    return x.astype("float32")


def ode_sample(velocity_fn, x_1, *, steps, solver="euler", known=None, mask=None, rng=None):
    """Integrate the flow-matching ODE ``dx/dt = v(x, t)`` from ``t = 1`` (noise) to ``t = 0``
    (data) with ``steps`` uniform steps (Lipman et al. 2023; Liu, Gong and Liu 2023).

    Euler: ``x <- x - h v(x, t)`` (one evaluation per step). Heun (Karras et al. 2022, alg. 1):
    an Euler predictor then the trapezoidal corrector, two evaluations per step except the last
    (which ends at ``t = 0``, where it stays Euler's), second-order accurate.

    Args:
        velocity_fn: ``f(x, t) -> v`` with ``x`` (N, ...) float32 and ``t`` a float in [0, 1].
        x_1: (N, ...) the starting noise.
        steps: int >= 1.
        solver: ``"euler"`` or ``"heun"``.
        known, mask, rng: inpainting, as :func:`ddim_sample` (the known pixels are set to
            ``(1 - t) known + t z`` on the straight path).

    Returns:
        float32 array, the shape of ``x_1``, in the model's [-1, 1] space (not clipped).

    Raises:
        ValueError, TypeError: bad arguments (named in the message).
    """
    velocity_fn = _check_eps_fn(velocity_fn, "velocity_fn")
    x = _finite_array("x_1", x_1)
    steps = positive_int("steps", steps)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")
    known, mask = _check_known(x, known, mask)
    if known is not None and rng is None:
        raise ValueError("rng (a numpy.random.Generator) is needed for inpainting.")
    grid = np.linspace(1.0, 0.0, steps + 1)
    for i in range(steps):
        t, s = float(grid[i]), float(grid[i + 1])
        if known is not None:
            z = rng.standard_normal(x.shape, dtype="float32")
            x = mask * ((1.0 - t) * known + t * z) + (1.0 - mask) * x
        v = _predict(velocity_fn, x, t, "velocity_fn")
        x_euler = x + (s - t) * v
        if solver == "heun" and s > 0:
            v2 = _predict(velocity_fn, x_euler.astype("float32"), s, "velocity_fn")
            x = x + (s - t) * 0.5 * (v + v2)
        else:
            x = x_euler
        x = x.astype("float32")
    if known is not None:
        x = mask * known + (1.0 - mask) * x
    return x.astype("float32")


# ----------------------------------------------------------------------------------------------
# The models
# ----------------------------------------------------------------------------------------------


class _IterativeGenerator(GenerativeModel, keras.Model):
    """What the diffusion and flow-matching models share: the network and its inputs, label
    dropout for classifier-free guidance, batched prediction, seeds, the contract's checks."""

    _time_scale = 1.0  # network time input = _time_scale * model time

    def __init__(self, network, *, num_classes=None, label_dropout=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        inputs = getattr(network, "inputs", None) or []
        if not isinstance(network, keras.Model) or not inputs:
            raise ValueError(
                f"network must be a built keras Model (functional), got {type(network).__name__}."
            )
        expected = 2 if num_classes is None else 3
        if len(inputs) != expected:
            raise ValueError(
                f"num_classes={num_classes} needs a network with {expected} inputs "
                f"[x, t{', label' if num_classes else ''}], got {len(inputs)}: build it with "
                "build_unet(num_classes=...) to match."
            )
        if num_classes is not None:
            num_classes = positive_int("num_classes", num_classes)
        self.network = network
        self.num_classes = num_classes
        self.label_dropout = finite_number(
            "label_dropout", label_dropout, low=0.0, high=1.0, high_open=True
        )
        self.seed = check_seed(seed)
        self.image_shape = tuple(int(d) for d in inputs[0].shape[1:])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    # -- training ------------------------------------------------------------------------------

    def compile(self, optimizer="adam", **kwargs):
        """``keras.Model.compile`` with ``jit_compile`` defaulting to
        :func:`utils.backend.default_jit_compile`; the loss is the model's own
        (:meth:`compute_loss`): pass no ``loss``. For EMA weights pass an optimizer with
        ``use_ema=True`` (``fit`` ends by copying the averages into the model)."""
        from . import backend

        if "loss" in kwargs:
            raise ValueError(f"{type(self).__name__} computes its own loss: pass no loss.")
        kwargs.setdefault("jit_compile", backend.default_jit_compile())
        super().compile(optimizer=optimizer, **kwargs)

    def _split(self, inputs):
        if self.num_classes is None:
            if isinstance(inputs, (list, tuple)):
                raise ValueError("this model is unconditional: its inputs are images x alone.")
            return inputs, None
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "a class-conditional model takes inputs (x, labels) with integer labels (B,)."
            )
        x, labels = inputs
        return x, ops.cast(ops.reshape(labels, (-1,)), "int32")

    def _network_inputs(self, x, t, labels):
        t = ops.cast(t, "float32") * self._time_scale
        return [x, t] if self.num_classes is None else [x, t, labels]

    def _drop_labels(self, labels, training):
        """Replace each label by the null class with probability ``label_dropout`` (training)."""
        if labels is None or not training or self.label_dropout == 0:
            return labels
        drop = keras.random.uniform(ops.shape(labels), seed=self.seed_generator)
        null = ops.full_like(labels, self.num_classes)
        return ops.where(drop < self.label_dropout, null, labels)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean squared error between the network's prediction and its target (the pair
        :meth:`call` returns), averaged over pixels and the batch."""
        if y_pred is None:
            y_pred = self(x, training=training)
        prediction, target = y_pred
        per_image = ops.mean(ops.square(prediction - target), axis=(1, 2, 3))
        if sample_weight is not None:
            w = ops.cast(ops.reshape(sample_weight, (-1,)), per_image.dtype)
            return ops.sum(w * per_image) / ops.maximum(ops.sum(w), 1e-12)
        return ops.mean(per_image)

    # -- sampling ------------------------------------------------------------------------------

    def _check_generate(self, n, labels, seed, guidance, batch_size):
        n = positive_int("n", n)
        batch_size = positive_int("batch_size", batch_size)
        guidance = finite_number("guidance", guidance, low=0.0)
        if self.num_classes is None:
            labels = check_labels(labels, n, None)
            if guidance:
                raise ValueError("guidance needs a class-conditional model (num_classes set).")
        elif labels is not None:
            labels = check_labels(labels, n, self.num_classes)
        elif guidance:
            raise ValueError("guidance needs labels: the class each image is guided towards.")
        seed = check_seed(seed)
        if seed is None:
            seed = int(
                ops.convert_to_numpy(
                    keras.random.randint((), 0, 2**31 - 1, seed=self.seed_generator)
                )
            )
        return n, labels, np.random.default_rng(seed), guidance, batch_size

    def predictor(self, labels=None, guidance=0.0):
        """``f(x, t) -> prediction`` for a batch: the network through ``predict_on_batch`` (Keras'
        compiled predict function), with the null class when ``labels`` is ``None`` on a
        conditional model and classifier-free guidance when ``guidance > 0`` (one forward pass
        over the conditional and null copies of the batch).

        Args:
            labels: (B,) int class ids of the batch, or ``None``.
            guidance: ``w`` >= 0 (needs labels).

        Raises:
            ValueError: guidance without labels, bad labels.
        """
        guidance = finite_number("guidance", guidance, low=0.0)
        if labels is not None:
            labels = check_labels(labels, len(labels), self.num_classes)
        if guidance and labels is None:
            raise ValueError("guidance needs labels: the class each image is guided towards.")

        def fn(x, t):
            b = len(x)
            lab = labels
            if self.num_classes is not None and lab is None:
                lab = np.full(b, self.num_classes, dtype="int32")
            if guidance:
                xx = np.concatenate([x, x])
                ll = np.concatenate([lab, np.full(b, self.num_classes, dtype="int32")])
                out = self._network_predict(xx, t, ll)
                return guided_prediction(out[:b], out[b:], guidance)
            return self._network_predict(x, t, lab)

        return fn

    def _network_predict(self, x, t, labels):
        tt = np.full(len(x), float(t) * self._time_scale, dtype="float32")
        inputs = [x, tt] if self.num_classes is None else [x, tt, labels]
        return np.asarray(self.network.predict_on_batch(inputs), dtype="float32")

    def _generate(self, sample, n, labels, seed, guidance, batch_size, return_noise):
        """Checks, then ``sample(predictor, noise, rng)`` batch by batch; images in [0, 1]."""
        n, labels, rng, guidance, batch_size = self._check_generate(
            n, labels, seed, guidance, batch_size
        )
        out = np.empty((n,) + self.image_shape, dtype="float32")
        noises = np.empty_like(out) if return_noise else None
        for start, stop, lab, noise in self._batches(n, batch_size, labels, rng):
            out[start:stop] = self._to_images(sample(self.predictor(lab, guidance), noise, rng))
            if return_noise:
                noises[start:stop] = noise
        return (out, noises) if return_noise else out

    def _batches(self, n, batch_size, labels, rng):
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            lab = None if labels is None else labels[start:stop]
            noise = rng.standard_normal((stop - start,) + self.image_shape, dtype="float32")
            yield start, stop, lab, noise

    @staticmethod
    def _to_images(x):
        return np.clip((x + 1.0) / 2.0, 0.0, 1.0).astype("float32")

    def _known_and_mask(self, known, mask):
        known = check_images(known, name="known", shape=self.image_shape)
        m = np.asarray(mask, dtype="float32")
        if m.shape == known.shape[1:]:
            m = np.broadcast_to(m, known.shape)
        if m.shape != known.shape or not np.all((m == 0) | (m == 1)):
            raise ValueError(
                f"mask must be binary (1 = known pixel) of shape {known.shape[1:]} or "
                f"{known.shape}, got shape {np.shape(mask)}."
            )
        return 2.0 * known - 1.0, np.ascontiguousarray(m)

    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "num_classes": self.num_classes,
            "label_dropout": self.label_dropout,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="course")
class DiffusionModel(_IterativeGenerator):
    """A denoising diffusion model (Ho, Jain and Abbeel 2020) on the course contract.

    Training (``fit(x)`` or ``fit((x, labels))``, images in [0, 1]): each call draws a timestep
    ``t ~ U{0..T-1}`` and noise ``epsilon ~ N(0, I)`` per image, forms
    ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) epsilon`` and :meth:`compute_loss` is
    ``|| epsilon - epsilon_theta(x_t, t) ||^2`` averaged over pixels: Ho et al.'s ``L_simple``
    (eq. 14), the ELBO with its per-timestep weights dropped. A conditional model replaces each
    label by the null class with probability ``label_dropout`` so that one network learns
    ``p(x | y)`` and ``p(x)`` (Ho and Salimans 2022).

    Sampling: :meth:`generate` with ``sampler="ddim"`` (``steps``, ``eta``) or ``"ddpm"``
    (``steps``), classifier-free ``guidance`` ``w``; :meth:`inpaint` completes images.

    Course contract: ``likelihood_kind = "lower_bound"``; :meth:`log_likelihood` is a Monte Carlo
    estimate of the variational bound on the 8-bit image (nats per image; Ho et al. 2020, eq. 5
    with the discretized decoder of section 3.3).

    Args:
        network: from :func:`build_unet` (inputs ``[x, t]``, or ``[x, t, label]`` when
            ``num_classes`` is set, where label ``num_classes`` is the null class).
        schedule: ``"linear"`` or ``"cosine"`` (:class:`NoiseSchedule`).
        timesteps: ``T`` (1000 in Ho et al.).
        num_classes: classes of a conditional network, ``None`` otherwise.
        label_dropout: probability of training on the null class, in [0, 1).
        seed: seed of the model-owned ``keras.random.SeedGenerator``.

    Raises:
        ValueError: a network whose inputs do not match ``num_classes``; bad arguments.
    """

    likelihood_kind = "lower_bound"

    def __init__(
        self,
        network,
        *,
        schedule="cosine",
        timesteps=1000,
        num_classes=None,
        label_dropout=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            network, num_classes=num_classes, label_dropout=label_dropout, seed=seed, **kwargs
        )
        self.schedule = NoiseSchedule(schedule, timesteps)
        self._alpha_bars = ops.convert_to_tensor(self.schedule.alpha_bars.astype("float32"))

    def call(self, inputs, training=False):
        """One training draw: returns ``(epsilon_theta(x_t, t), epsilon)``, both (B, H, W, C).

        ``inputs`` is ``x`` (B, H, W, C) in [0, 1], or ``(x, labels)`` for a conditional model.
        """
        x, labels = self._split(inputs)
        x0 = 2.0 * ops.cast(x, "float32") - 1.0
        shape = ops.shape(x0)
        t = keras.random.randint(shape[:1], 0, self.schedule.timesteps, seed=self.seed_generator)
        eps = keras.random.normal(shape, seed=self.seed_generator)
        ab = ops.reshape(ops.take(self._alpha_bars, t), (-1, 1, 1, 1))
        x_t = ops.sqrt(ab) * x0 + ops.sqrt(1.0 - ab) * eps
        labels = self._drop_labels(labels, training)
        prediction = self.network(self._network_inputs(x_t, t, labels), training=training)
        return prediction, eps

    def generate(
        self,
        n,
        *,
        labels=None,
        seed=None,
        sampler="ddim",
        steps=50,
        eta=0.0,
        guidance=0.0,
        batch_size=500,
        return_noise=False,
    ):
        """``n`` images (course contract).

        Args:
            n: number of images (int >= 1).
            labels: (n,) int class ids for a conditional model; ``None`` draws from the
                unconditional model (the null class) of a conditional one.
            seed: int >= 0 for a repeatable draw; ``None`` draws one from the model's generator.
            sampler: ``"ddim"`` (:func:`ddim_sample`) or ``"ddpm"`` (:func:`ddpm_sample`).
            steps: network evaluations per image (int in [1, T]); guidance doubles the batch.
            eta: DDIM's noise scale (>= 0; ignored by DDPM).
            guidance: classifier-free guidance weight ``w`` >= 0 (needs labels).
            batch_size: images per forward pass.
            return_noise: also return the starting noise ``x_T``.

        Returns:
            float32 array (n, H, W, C) in [0, 1] (and the noise (n, H, W, C) if asked).

        Raises:
            ValueError, TypeError: bad arguments (named in the message).
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}.")

        def sample(fn, noise, rng):
            if sampler == "ddim":
                return ddim_sample(fn, noise, self.schedule, steps=steps, eta=eta, rng=rng)
            return ddpm_sample(fn, noise, self.schedule, steps=steps, rng=rng)

        return self._generate(sample, n, labels, seed, guidance, batch_size, return_noise)

    def inpaint(
        self,
        known,
        mask,
        *,
        labels=None,
        seed=None,
        sampler="ddim",
        steps=50,
        eta=1.0,
        guidance=0.0,
        batch_size=500,
    ):
        """Complete images: pixels with ``mask == 1`` are kept, the rest drawn from the model
        (replacement: at every step the known pixels are re-noised to the current level).

        Args:
            known: (N, H, W, C) images in [0, 1].
            mask: binary (H, W, C) or (N, H, W, C), 1 where a pixel is known.
            labels, seed, sampler, steps, eta, guidance, batch_size: as :meth:`generate`
                (``eta = 1`` by default: the fresh noise of each step helps the drawn pixels
                agree with the known ones).

        Returns:
            float32 array (N, H, W, C) in [0, 1], equal to ``known`` where ``mask == 1``.

        Raises:
            ValueError: bad images or mask; as :meth:`generate`.
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}.")
        known01 = check_images(known, name="known", shape=self.image_shape)
        known, mask = self._known_and_mask(known01, mask)
        n, labels, rng, guidance, batch_size = self._check_generate(
            len(known), labels, seed, guidance, batch_size
        )
        out = np.empty_like(known)
        for start, stop, lab, noise in self._batches(n, batch_size, labels, rng):
            fn = self.predictor(lab, guidance)
            kw = {"known": known[start:stop], "mask": mask[start:stop], "rng": rng}
            if sampler == "ddim":
                x = ddim_sample(fn, noise, self.schedule, steps=steps, eta=eta, **kw)
            else:
                x = ddpm_sample(fn, noise, self.schedule, steps=steps, **kw)
            out[start:stop] = self._to_images(x)
        out = np.where(mask == 1, known01, out)
        return out.astype("float32")

    def log_likelihood(self, x, *, labels=None, n_timesteps=20, seed=0, batch_size=500):
        """A Monte Carlo estimate of the variational bound ``log p(x) >= -L`` on 8-bit images, in
        nats per image (course contract, ``likelihood_kind = "lower_bound"``).

        ``L = L_T + sum_{t>1} L_{t-1} + L_0`` (Ho et al. 2020, eq. 5): ``L_T`` is the KL of
        ``q(x_T | x_0)`` to ``N(0, I)`` (exact); each ``L_{t-1}`` is the KL between Gaussians
        ``q(x_{t-1} | x_t, x_0)`` and ``p_theta(x_{t-1} | x_t)`` with variance ``beta~_t`` (the mean
        difference only); ``L_0`` is the discretized Gaussian decoder of section 3.3 with the
        variance ``beta_1``, on bins of width 2/255. The sum over ``t`` is estimated with
        ``n_timesteps`` stratified draws per image (an unbiased estimate of the bound: average
        many images before reading it). The images are 8-bit grey levels ``k / 255``.

        Args:
            x: (N, H, W, C) images in [0, 1] on the 8-bit grid (``uint8 / 255``).
            labels: (N,) int class ids for ``log p(x | y)``; ``None`` uses the null class.
            n_timesteps: draws of ``t`` per image (int >= 1).
            seed: int >= 0, the draws of ``t`` and of ``x_t``.
            batch_size: images per forward pass.

        Returns:
            float64 array (N,), the estimate of the bound in nats per image (<= 0 in
            expectation, larger is better).

        Raises:
            ValueError: images off the 8-bit grid, bad labels or arguments.
        """
        x = check_images(x, shape=self.image_shape)
        if not np.allclose(np.round(x * 255.0), x * 255.0, atol=1e-3):
            raise ValueError("x must be 8-bit images (uint8 values divided by 255).")
        n = len(x)
        n_timesteps = positive_int("n_timesteps", n_timesteps)
        batch_size = positive_int("batch_size", batch_size)
        if self.num_classes is not None and labels is not None:
            labels = check_labels(labels, n, self.num_classes)
        else:  # an unconditional model must get no labels; a conditional one uses the null class
            labels = check_labels(labels, n, None)
        rng = np.random.default_rng(check_seed(seed))
        s = self.schedule
        T = s.timesteps
        x0 = 2.0 * x.astype(np.float64) - 1.0
        # L_T: KL(N(sqrt(ab_T) x0, 1 - ab_T) || N(0, 1)) per pixel.
        ab_T = s.alpha_bars[-1]
        kl_T = 0.5 * ((1.0 - ab_T) + ab_T * x0**2 - 1.0 - np.log(1.0 - ab_T))
        total = kl_T.reshape(n, -1).sum(axis=1)
        # sum over t = 1 .. T-1 (index) of L_{t-1}, and L_0 at index 0: stratified draws of t.
        terms = np.zeros(n)
        for k in range(n_timesteps):
            u = (k + rng.random(n)) / n_timesteps
            t = np.minimum((u * T).astype(np.int64), T - 1)
            eps = rng.standard_normal(x0.shape)
            ab = s.alpha_bars[t].reshape(-1, 1, 1, 1)
            x_t = (np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * eps).astype("float32")
            eps_hat = self._eps_batches(x_t, t, labels, batch_size).astype(np.float64)
            term = np.empty(n)
            is0 = t == 0
            if np.any(~is0):
                i = ~is0
                beta = s.betas[t[i]]
                ab_i = s.alpha_bars[t[i]]
                var = s.posterior_variance[t[i]]
                # ||mu~ - mu_theta||^2 / (2 var) with both means written through epsilon:
                coef = beta**2 / (s.alphas[t[i]] * (1.0 - ab_i) * 2.0 * var)
                sq = ((eps[i] - eps_hat[i]) ** 2).reshape(int(i.sum()), -1).sum(axis=1)
                term[i] = T * coef * sq  # the sum over T terms estimated from one draw
            if np.any(is0):
                term[is0] = T * self._decoder_nll(x0[is0], x_t[is0], eps_hat[is0])
            terms += term / n_timesteps
        return -(total + terms)

    def _decoder_nll(self, x0, x_1, eps_hat):
        """``-log p(x_0 | x_1)``: the discretized Gaussian of Ho et al. (2020, eq. 13), mean from
        the predicted noise, variance ``beta_1``, bins of width 2/255 (open at the ends)."""
        from scipy.special import log_ndtr

        s = self.schedule
        ab = s.alpha_bars[0]
        mean = (x_1 - np.sqrt(1.0 - ab) * eps_hat) / np.sqrt(ab)
        std = np.sqrt(s.betas[0])
        upper = np.where(x0 > 1 - 1e-3, np.inf, (x0 + 1.0 / 255 - mean) / std)
        lower = np.where(x0 < -1 + 1e-3, -np.inf, (x0 - 1.0 / 255 - mean) / std)
        # log(Phi(upper) - Phi(lower)) computed stably from log Phi.
        log_up, log_lo = log_ndtr(upper), log_ndtr(lower)
        log_p = log_up + np.log1p(-np.exp(np.minimum(log_lo - log_up, -1e-12)))
        return -log_p.reshape(len(x0), -1).sum(axis=1)

    def _eps_batches(self, x_t, t, labels, batch_size):
        out = np.empty_like(x_t)
        null = None if self.num_classes is None else self.num_classes
        for start in range(0, len(x_t), batch_size):
            sl = slice(start, start + batch_size)
            tt = t[sl].astype("float32")
            if self.num_classes is None:
                inputs = [x_t[sl], tt]
            else:
                lab = labels[sl] if labels is not None else np.full(len(tt), null, dtype="int32")
                inputs = [x_t[sl], tt, lab]
            out[sl] = np.asarray(self.network.predict_on_batch(inputs))
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "schedule": self.schedule.name,
            "timesteps": self.schedule.timesteps,
        }


@keras.saving.register_keras_serializable(package="course")
class FlowMatchingModel(_IterativeGenerator):
    """Conditional flow matching with the straight (rectified-flow) path, on the course contract
    (Lipman et al. 2023; Liu, Gong and Liu 2023).

    Training: each call draws ``t ~ U(0, 1)`` and ``epsilon ~ N(0, I)``, forms
    ``x_t = (1 - t) x_0 + t epsilon`` and regresses the network on the path's velocity
    ``epsilon - x_0`` (:meth:`compute_loss`, mean squared error over pixels). Sampling integrates
    ``dx/dt = v_theta(x, t)`` from ``t = 1`` to 0 with :func:`ode_sample` (Euler or Heun). The
    network sees ``1000 t`` as its time input, the range of a diffusion step index, so the same
    U-Net serves both models. Classifier-free guidance works on velocities as on noise.

    Course contract: ``likelihood_kind = "unavailable"``: the ODE does define a density (by the
    instantaneous change of variables, Chen et al. 2018) but computing it needs the divergence of
    ``v`` along every path, which the course does not do; :meth:`log_likelihood` raises
    :class:`LikelihoodUnavailableError`.

    Args: as :class:`DiffusionModel`, without the schedule.
    """

    likelihood_kind = "unavailable"
    _time_scale = 1000.0

    def call(self, inputs, training=False):
        """One training draw: returns ``(v_theta(x_t, t), epsilon - x_0)``, both (B, H, W, C)."""
        x, labels = self._split(inputs)
        x0 = 2.0 * ops.cast(x, "float32") - 1.0
        shape = ops.shape(x0)
        t = keras.random.uniform(shape[:1], seed=self.seed_generator)
        eps = keras.random.normal(shape, seed=self.seed_generator)
        tt = ops.reshape(t, (-1, 1, 1, 1))
        x_t = (1.0 - tt) * x0 + tt * eps
        labels = self._drop_labels(labels, training)
        prediction = self.network(self._network_inputs(x_t, t, labels), training=training)
        return prediction, eps - x0

    def generate(
        self,
        n,
        *,
        labels=None,
        seed=None,
        steps=20,
        solver="euler",
        guidance=0.0,
        batch_size=500,
        return_noise=False,
    ):
        """``n`` images (course contract) by integrating the learned ODE.

        Args:
            n, labels, seed, guidance, batch_size, return_noise: as
                :meth:`DiffusionModel.generate`.
            steps: ODE steps (int >= 1); Heun uses ``2 steps - 1`` network evaluations.
            solver: ``"euler"`` or ``"heun"``.

        Returns:
            float32 array (n, H, W, C) in [0, 1] (and the noise if asked).

        Raises:
            ValueError, TypeError: bad arguments (named in the message).
        """
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")

        def sample(fn, noise, rng):
            return ode_sample(fn, noise, steps=steps, solver=solver)

        return self._generate(sample, n, labels, seed, guidance, batch_size, return_noise)

    def log_likelihood(self, x, *, labels=None, **kwargs):
        raise LikelihoodUnavailableError(
            "FlowMatchingModel does not compute log p(x): the ODE defines a density through the "
            "instantaneous change of variables (Chen et al. 2018), but it needs the divergence of "
            "the velocity integrated along each path; compare flow matching by FID instead."
        )
