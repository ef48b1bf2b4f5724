"""Boltzmann machines and energy-based models: RBM, CD-k / PCD, AIS, deep belief nets, SGLD.

An energy-based model defines ``p(x) = exp(-E(x)) / Z`` with ``Z = sum_x exp(-E(x))``, the
*partition function*: a sum over every possible image, intractable for 784 binary pixels
(``2**784`` terms). This module holds what chapter 06 teaches:

- :class:`RBM`: the binary restricted Boltzmann machine, energy
  ``E(v, h) = -b.v - c.h - v^T W h`` (Smolensky 1986; Hinton 2002), its free energy
  ``F(v) = -b.v - sum_j softplus(c_j + (v W)_j)``, the factorial conditionals ``p(h | v)`` and
  ``p(v | h)``, block Gibbs sampling, and training by contrastive divergence CD-k (Hinton 2002)
  or persistent CD (Tieleman 2008) with plain ``fit``: the update is the gradient of the
  free-energy gap ``mean F(v_data) - mean F(v_model)`` with the negative samples held constant.
- :func:`ais_log_partition`: annealed importance sampling of ``log Z`` with its standard error
  (Neal 2001; Salakhutdinov and Murray 2008), and :func:`exact_log_partition` by enumeration for
  RBMs with at most :data:`MAX_ENUMERATION_BITS` units in one layer, to check it.
- :class:`DeepBeliefNet`: RBMs stacked by greedy layer-wise training (Hinton, Osindero and Teh
  2006), sampled by Gibbs sampling in the top RBM and one pass down; its variational lower bound
  on ``log p(v)`` (Salakhutdinov and Murray 2008, eq. 17).
- :class:`EnergyBasedModel`: a convolutional energy network trained with stochastic gradient
  Langevin dynamics (SGLD) and a replay buffer (Du and Mordatch 2019), using the backend-neutral
  input gradients of :mod:`utils.backend`.

Units: log-likelihoods and log-partition functions are in **nats** (natural log), free energies
and energies are dimensionless (nats up to the constant ``log Z``). Binary images are float32
(B, 28, 28, 1) with values exactly 0 or 1; the RBM also takes flat vectors (B, n_visible).
"""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np
from keras import layers, ops

from .checks import check_images, check_seed, finite_number, nonnegative_int, positive_int
from .contract import GenerativeModel, LikelihoodUnavailableError

#: Largest layer enumerated by :func:`exact_log_partition` (``2**24`` configurations).
MAX_ENUMERATION_BITS = 24

#: The temperature schedule of Salakhutdinov and Murray (2008, section 4.1): 500 inverse
#: temperatures spaced uniformly in [0, 0.5], 4,000 in [0.5, 0.9] and 10,000 in [0.9, 1].
SALAKHUTDINOV_MURRAY_SCHEDULE = ((0.5, 500), (0.9, 4_000), (1.0, 10_000))


def _softplus64(a):
    """softplus in float64 NumPy, stable for large |a|."""
    return np.logaddexp(0.0, a)


def _logsumexp64(a, axis=None):
    m = np.max(a, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis) if axis is not None else float(out.reshape(()))


def enumerate_binary(n_bits):
    """All ``2**n_bits`` binary vectors, float32 (2**n_bits, n_bits), in counting order.

    Row ``i`` is the binary expansion of ``i``, most significant bit first.

    Raises:
        ValueError: ``n_bits`` not an int in [1, MAX_ENUMERATION_BITS].
    """
    n_bits = positive_int("n_bits", n_bits)
    if n_bits > MAX_ENUMERATION_BITS:
        raise ValueError(
            f"n_bits must be at most {MAX_ENUMERATION_BITS} ({2**MAX_ENUMERATION_BITS:,} rows), "
            f"got {n_bits}."
        )
    codes = np.arange(2**n_bits, dtype=np.int64)[:, None]
    return ((codes >> np.arange(n_bits - 1, -1, -1)) & 1).astype("float32")


def _shape(name, value, *, rank=None):
    """``value`` as a tuple of positive ints (of length ``rank`` if given), or ``ValueError``."""
    try:
        shape = tuple(positive_int(name, d) for d in value)
    except (TypeError, ValueError):
        shape = None
    if shape is None or not shape or (rank is not None and len(shape) != rank):
        expected = "a tuple of positive ints" if rank != 3 else "(H, W, C), three positive ints"
        raise ValueError(f"{name} must be {expected}, e.g. (28, 28, 1), got {value!r}.")
    return shape


def _flat_binary(rbm, v, name="v"):
    """A finite binary (N, n_visible) float32 array from images or vectors."""
    arr = np.asarray(ops.convert_to_numpy(v) if not isinstance(v, np.ndarray) else v)
    if arr.dtype == np.uint8:
        raise ValueError(f"{name} must be binary floats (0.0 / 1.0), got uint8 values.")
    arr = arr.astype("float32", copy=False)
    if arr.ndim < 2 or len(arr) == 0 or int(np.prod(arr.shape[1:])) != rbm.n_visible:
        raise ValueError(
            f"{name} must be a non-empty batch of {rbm.n_visible} visible units per row, "
            f"shape (N, {rbm.n_visible}) or (N,) + {rbm.image_shape}, got {arr.shape}."
        )
    arr = arr.reshape(len(arr), rbm.n_visible)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values.")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(
            f"{name} must be binary (values 0 and 1): an RBM's likelihood is a distribution over "
            "binary vectors; binarize first (utils.load_binarized_test for the test set)."
        )
    return arr


def _bernoulli(probabilities, seed):
    """Binary float32 sample with ``P(1) = probabilities``."""
    u = keras.random.uniform(ops.shape(probabilities), seed=seed)
    return ops.cast(ops.less(u, probabilities), "float32")


# ----------------------------------------------------------------------------------------------
# The restricted Boltzmann machine
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="course")
class RBM(GenerativeModel, keras.Model):
    """A binary restricted Boltzmann machine, trained by CD-k or persistent CD with ``fit``.

    Energy of visible ``v`` (n_visible,) and hidden ``h`` (n_hidden,), both binary:
    ``E(v, h) = -b.v - c.h - v^T W h``; ``p(v, h) = exp(-E(v, h)) / Z``. Summing ``h`` out gives
    the free energy ``F(v) = -b.v - sum_j softplus(c_j + (v W)_j)`` and ``p(v) = exp(-F(v)) / Z``.
    No connections within a layer make both conditionals factorial:
    ``p(h_j = 1 | v) = sigmoid(c_j + (v W)_j)``, ``p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)``.

    Training (``fit(x)`` on binary images; :class:`utils.DynamicBinarization` redraws them every
    epoch): the loss is ``mean_batch F(v) - mean_chains F(v~)``, where the negative samples
    ``v~`` are held constant (``stop_gradient``). Its gradient is the contrastive-divergence
    estimate of ``-d log p / d theta`` (Hinton 2002, eq. 5). ``v~`` is the end of ``cd_k`` steps
    of block Gibbs sampling started at the batch (**CD-k**), or at ``n_chains`` persistent chains
    kept between updates (**PCD**, Tieleman 2008). The loss value is a free-energy gap, not a
    likelihood; ``fit`` also logs ``reconstruction``, the squared error of the mean-field
    reconstruction ``p(v | p(h | v))`` summed over pixels, the number CD practitioners watch
    (and the one that misleads: chapter 06, section "what goes wrong").

    Course contract (:mod:`utils.contract`): ``likelihood_kind = "stochastic_estimate"``:
    :meth:`log_likelihood` is ``-F(v) - log Z`` with ``log Z`` from :func:`ais_log_partition`
    (or :func:`exact_log_partition` for a tiny model); :meth:`generate` returns binary samples
    from long Gibbs chains.

    Args:
        n_visible: visible units (784 for MNIST).
        n_hidden: hidden units.
        image_shape: shape of one visible configuration as images, with product ``n_visible``;
            default (28, 28, 1) for 784 units, ``(n_visible,)`` otherwise.
        cd_k: Gibbs steps per update (the k of CD-k, or of each PCD update).
        persistent: persistent chains (PCD) instead of chains restarted at the data (CD-k).
        n_chains: number of persistent chains (PCD only).
        weight_scale: standard deviation of the initial weights (Hinton 2010's guide: 0.01).
        seed: seed of the model-owned ``keras.random.SeedGenerator`` (Gibbs sampling) and of the
            initial weights.

    Variables: ``W`` (n_visible, n_hidden), ``visible_bias`` (n_visible,), ``hidden_bias``
    (n_hidden,), trainable; ``chains`` (n_chains, n_visible), the persistent chains, not trainable.

    Raises:
        ValueError: non-positive sizes, ``cd_k``, ``n_chains``; an ``image_shape`` whose product is
            not ``n_visible``; a negative or non-finite ``weight_scale``.
    """

    likelihood_kind = "stochastic_estimate"

    def __init__(
        self,
        n_visible,
        n_hidden,
        *,
        image_shape=None,
        cd_k=1,
        persistent=False,
        n_chains=100,
        weight_scale=0.01,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_visible = positive_int("n_visible", n_visible)
        self.n_hidden = positive_int("n_hidden", n_hidden)
        if image_shape is None:
            image_shape = (28, 28, 1) if self.n_visible == 784 else (self.n_visible,)
        image_shape = _shape("image_shape", image_shape)
        if int(np.prod(image_shape)) != self.n_visible:
            raise ValueError(
                f"image_shape {image_shape} holds {int(np.prod(image_shape))} units, expected "
                f"n_visible = {self.n_visible}."
            )
        self.image_shape = image_shape
        self.cd_k = positive_int("cd_k", cd_k)
        self.persistent = bool(persistent)
        self.n_chains = positive_int("n_chains", n_chains)
        self.weight_scale = finite_number("weight_scale", weight_scale, low=0.0)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        init = keras.initializers.RandomNormal(stddev=self.weight_scale, seed=seed)
        self.W = self.add_weight(shape=(self.n_visible, self.n_hidden), initializer=init, name="W")
        self.visible_bias = self.add_weight(
            shape=(self.n_visible,), initializer="zeros", name="visible_bias"
        )
        self.hidden_bias = self.add_weight(
            shape=(self.n_hidden,), initializer="zeros", name="hidden_bias"
        )
        chain_init = np.random.default_rng(0 if seed is None else seed).random(
            (self.n_chains, self.n_visible)
        )
        self.chains = self.add_weight(
            shape=(self.n_chains, self.n_visible),
            initializer=keras.initializers.Constant((chain_init < 0.5).astype("float32")),
            trainable=False,
            name="chains",
        )
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.built = True

    # -- the mathematics, in keras.ops (tensors in, tensors out) ----------------------------

    def _flat(self, v):
        return ops.reshape(ops.cast(v, "float32"), (-1, self.n_visible))

    def hidden_probabilities(self, v):
        """``p(h_j = 1 | v) = sigmoid(c_j + (v W)_j)``: (B, n_hidden) for v (B, n_visible) or
        images (B,) + image_shape."""
        return ops.sigmoid(ops.matmul(self._flat(v), self.W) + self.hidden_bias)

    def visible_probabilities(self, h):
        """``p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)``: (B, n_visible) for h (B, n_hidden)."""
        return ops.sigmoid(
            ops.matmul(ops.cast(h, "float32"), ops.transpose(self.W)) + self.visible_bias
        )

    def energy(self, v, h):
        """``E(v, h) = -b.v - c.h - v^T W h``: (B,) for v (B, n_visible) and h (B, n_hidden)."""
        v = self._flat(v)
        h = ops.cast(h, "float32")
        interaction = ops.sum(ops.matmul(v, self.W) * h, axis=-1)
        return -ops.matmul(v, self.visible_bias) - ops.matmul(h, self.hidden_bias) - interaction

    def free_energy(self, v):
        """``F(v) = -log sum_h exp(-E(v, h)) = -b.v - sum_j softplus(c_j + (v W)_j)``: (B,)."""
        v = self._flat(v)
        pre = ops.matmul(v, self.W) + self.hidden_bias
        return -ops.matmul(v, self.visible_bias) - ops.sum(ops.softplus(pre), axis=-1)

    def gibbs_step(self, v, seed=None):
        """One block Gibbs step ``v -> h ~ p(h | v) -> v' ~ p(v | h)``.

        Returns ``(v', h)``: binary float32 (B, n_visible) and (B, n_hidden).
        """
        seed = self.seed_generator if seed is None else seed
        h = _bernoulli(self.hidden_probabilities(v), seed)
        return _bernoulli(self.visible_probabilities(h), seed), h

    def _chain(self, v, steps, seed=None):
        for _ in range(steps):
            v, _ = self.gibbs_step(v, seed)
        return v

    def call(self, inputs, training=False):
        """Mean-field reconstruction ``p(v | h = p(h | v))``, the shape of ``inputs``."""
        probabilities = self.visible_probabilities(self.hidden_probabilities(inputs))
        return ops.reshape(probabilities, ops.shape(inputs))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The CD-k / PCD surrogate ``mean F(v) - mean F(v~)`` (see the class docstring)."""
        v = self._flat(x)
        start = ops.convert_to_tensor(self.chains) if self.persistent else v
        negatives = ops.stop_gradient(self._chain(start, self.cd_k))
        if self.persistent and training:
            self.chains.assign(negatives)
        reconstruction = self.visible_probabilities(self.hidden_probabilities(v))
        self.reconstruction_tracker.update_state(ops.sum(ops.square(v - reconstruction), axis=-1))
        return ops.mean(self.free_energy(v)) - ops.mean(self.free_energy(negatives))

    def compile(self, optimizer="sgd", **kwargs):
        """``keras.Model.compile`` with ``jit_compile`` defaulting to
        :func:`utils.backend.default_jit_compile`; the loss is the model's own: pass no ``loss``."""
        from . import backend

        kwargs.setdefault("jit_compile", backend.default_jit_compile())
        super().compile(optimizer=optimizer, **kwargs)

    # -- NumPy float64 views for exact evaluation ---------------------------------------------

    def numpy_parameters(self):
        """``(W, b, c)``: float64 NumPy arrays (n_visible, n_hidden), (n_visible,), (n_hidden,)."""
        return tuple(
            ops.convert_to_numpy(t).astype("float64")
            for t in (self.W, self.visible_bias, self.hidden_bias)
        )

    def free_energy_numpy(self, v, *, batch_size=1000):
        """``F(v)`` in float64 for binary ``v`` (N, n_visible) or images: (N,) float64.

        Raises:
            ValueError: malformed or non-binary ``v``.
        """
        v = _flat_binary(self, v)
        W, b, c = self.numpy_parameters()
        out = np.empty(len(v))
        for i in range(0, len(v), positive_int("batch_size", batch_size)):
            rows = v[i : i + batch_size].astype("float64")
            out[i : i + batch_size] = -rows @ b - _softplus64(rows @ W + c).sum(axis=1)
        return out

    def init_visible_bias(self, x):
        """Set ``b_i = log(p_i / (1 - p_i))`` from the pixel means ``p_i`` of the data ``x``
        (Hinton 2010, *A practical guide to training RBMs*, section 8), smoothed as
        ``(count + 1) / (N + 2)``; returns the biases (n_visible,) float32.

        Raises:
            ValueError: ``x`` not a finite (N, n_visible) batch or images in [0, 1].
        """
        p = visible_marginals(self, x)
        self.visible_bias.assign(np.log(p / (1.0 - p)).astype("float32"))
        return ops.convert_to_numpy(self.visible_bias)

    # -- course contract -------------------------------------------------------------------------

    def generate(
        self, n, *, labels=None, seed=None, steps=1000, batch_size=1000, probabilities=False
    ):
        """``n`` samples from ``n`` independent Gibbs chains of ``steps`` steps (course contract).

        Each chain starts from independent pixels ``v ~ Bernoulli(sigmoid(b))`` (the visible
        biases alone) and runs ``steps`` block Gibbs steps.

        Args:
            n: number of samples (positive int).
            labels: must be ``None`` (the RBM is unconditional).
            seed: int >= 0 for a repeatable draw; ``None`` uses the model's generator.
            steps: Gibbs steps per chain (positive int); 1,000 or more to approach ``p(v)``.
            batch_size: chains run together.
            probabilities: return the last ``p(v | h)`` (grey levels, easier to look at) instead
                of the binary sample.

        Returns:
            float32 (n,) + image_shape: binary values, or probabilities in [0, 1].

        Raises:
            ValueError, TypeError: bad ``n``, ``steps``, ``batch_size``, ``seed`` or labels.
        """
        if labels is not None:
            raise ValueError("the RBM is unconditional: labels must be None.")
        n = positive_int("n", n)
        steps = positive_int("steps", steps)
        batch_size = positive_int("batch_size", batch_size)
        seed = check_seed(seed)
        generator = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        out = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            base = ops.sigmoid(ops.broadcast_to(self.visible_bias, (m, self.n_visible)))
            v = _bernoulli(base, generator)
            v = self._chain(v, steps - 1, generator)
            h = _bernoulli(self.hidden_probabilities(v), generator)
            p = self.visible_probabilities(h)
            out.append(ops.convert_to_numpy(p if probabilities else _bernoulli(p, generator)))
        return np.concatenate(out).reshape((n,) + self.image_shape).astype("float32")

    def log_likelihood(self, x, *, labels=None, log_z=None, **ais_kwargs):
        """``log p(v) = -F(v) - log Z`` per image, nats, float64 (N,) (course contract).

        The free energy is exact; ``log Z`` is ``log_z`` when given (an AIS estimate or the exact
        value), otherwise it is estimated now with :func:`ais_log_partition` (``ais_kwargs``).
        With an AIS ``log Z`` the result is a stochastic estimate: every image shares the error
        of ``log Z`` (its standard error is the AIS result's ``std_error``), and since AIS tends to
        *underestimate* ``log Z`` (Jensen), the log-likelihood tends to be overestimated.

        Raises:
            ValueError: ``labels`` given, non-binary or malformed ``x``, a non-finite ``log_z``.
        """
        if labels is not None:
            raise ValueError("the RBM is unconditional: labels must be None.")
        v = _flat_binary(self, x, "x")
        if log_z is None:
            log_z = ais_log_partition(self, **ais_kwargs).log_z
        log_z = finite_number("log_z", log_z)
        return -self.free_energy_numpy(v) - log_z

    def get_config(self):
        return {
            **super().get_config(),
            "n_visible": self.n_visible,
            "n_hidden": self.n_hidden,
            "image_shape": list(self.image_shape),
            "cd_k": self.cd_k,
            "persistent": self.persistent,
            "n_chains": self.n_chains,
            "weight_scale": self.weight_scale,
            "seed": self.seed,
        }


def gibbs_snapshots(rbm, v0, checkpoints, *, seed=0):
    """Run block Gibbs chains from ``v0`` and keep their states after ``checkpoints`` steps.

    Args:
        rbm: an :class:`RBM`.
        v0: (N, n_visible) binary vectors or images (N,) + image_shape, the chains' starts.
        checkpoints: increasing step counts >= 0 (0 keeps the start).
        seed: int >= 0.

    Returns:
        float32 array (len(checkpoints), N) + image_shape: the mean-field image
        ``p(v | h)`` of each chain at each checkpoint (its last ``h``; the start itself at 0).

    Raises:
        ValueError: non-binary or malformed ``v0``; checkpoints not increasing non-negative ints.
    """
    v = ops.convert_to_tensor(_flat_binary(rbm, v0, "v0"))
    checkpoints = [nonnegative_int("checkpoint", t) for t in checkpoints]
    if not checkpoints or any(b <= a for a, b in zip(checkpoints, checkpoints[1:])):
        raise ValueError(f"checkpoints must be increasing ints >= 0, got {checkpoints!r}.")
    generator = keras.random.SeedGenerator(nonnegative_int("seed", seed))
    frames, done, picture = [], 0, v
    for t in checkpoints:
        for _ in range(t - done):
            v, h = rbm.gibbs_step(v, generator)
            picture = rbm.visible_probabilities(h)
        done = t
        frames.append(ops.convert_to_numpy(picture))
    return np.stack(frames).reshape((len(checkpoints), -1) + rbm.image_shape).astype("float32")


def transposed_rbm(rbm, *, persistent=True, cd_k=1, n_chains=None, seed=None):
    """A new RBM whose visible layer is ``rbm``'s hidden layer, initialized with ``W^T`` and the
    biases swapped: the second layer of a deep belief net with tied weights (Hinton, Osindero and
    Teh 2006, section 4).

    With these weights the two-layer DBN defines exactly the same ``p(v)`` as ``rbm`` and its
    variational bound equals ``rbm``'s ``log p(v)`` (``q(h | v)`` is then the true posterior);
    training the new RBM on samples of ``p(h | v)`` can only raise the bound's expectation term.

    Returns:
        :class:`RBM` with ``n_visible = rbm.n_hidden`` and ``n_hidden = rbm.n_visible``.
    """
    top = RBM(
        rbm.n_hidden,
        rbm.n_visible,
        cd_k=cd_k,
        persistent=persistent,
        n_chains=rbm.n_chains if n_chains is None else n_chains,
        seed=seed,
    )
    # NumPy copies: on JAX, sharing one array between two models' variables lets the training
    # step of one (which donates its buffers) delete the other's weights.
    W, b, c = (
        np.array(ops.convert_to_numpy(t), dtype="float32")
        for t in (rbm.W, rbm.visible_bias, rbm.hidden_bias)
    )
    top.W.assign(W.T.copy())
    top.visible_bias.assign(c)
    top.hidden_bias.assign(b)
    return top


def visible_marginals(rbm, x):
    """Pixel means of ``x``, smoothed ``(sum + 1) / (N + 2)``: float64 (n_visible,) in (0, 1).

    Raises:
        ValueError: ``x`` not a finite batch of ``rbm.n_visible`` values per row in [0, 1].
    """
    arr = np.asarray(x, dtype="float64")
    if arr.ndim < 2 or len(arr) == 0 or int(np.prod(arr.shape[1:])) != rbm.n_visible:
        raise ValueError(
            f"x must be a non-empty batch with {rbm.n_visible} values per row, got {arr.shape}."
        )
    arr = arr.reshape(len(arr), -1)
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise ValueError("x must hold finite values in [0, 1] (probabilities or binary pixels).")
    return (arr.sum(axis=0) + 1.0) / (len(arr) + 2.0)


# ----------------------------------------------------------------------------------------------
# Partition functions: exact (tiny models) and annealed importance sampling
# ----------------------------------------------------------------------------------------------


def exact_log_partition(rbm, *, batch_size=2**14):
    """``log Z`` of an RBM by enumerating its smaller layer, in float64 (nats).

    With ``H <= MAX_ENUMERATION_BITS`` hidden units,
    ``log Z = logsumexp_h [c.h + sum_i softplus(b_i + (W h)_i)]`` over all ``2**H`` hidden
    configurations (the visible units summed out in closed form); symmetrically over the visible
    layer when it is the smaller one.

    Returns:
        float, ``log Z`` in nats.

    Raises:
        ValueError: both layers larger than :data:`MAX_ENUMERATION_BITS` units.
    """
    W, b, c = rbm.numpy_parameters()
    if min(rbm.n_visible, rbm.n_hidden) > MAX_ENUMERATION_BITS:
        raise ValueError(
            f"exact log Z enumerates the smaller layer, which must have at most "
            f"{MAX_ENUMERATION_BITS} units; this RBM has {rbm.n_visible} visible and "
            f"{rbm.n_hidden} hidden units. Use ais_log_partition."
        )
    if rbm.n_hidden <= rbm.n_visible:
        bits, own_bias, other_bias, weights = rbm.n_hidden, c, b, W.T
    else:
        bits, own_bias, other_bias, weights = rbm.n_visible, b, c, W
    batch_size = positive_int("batch_size", batch_size)
    states = enumerate_binary(bits).astype("float64")
    parts = []
    for i in range(0, len(states), batch_size):
        s = states[i : i + batch_size]
        parts.append(_logsumexp64(s @ own_bias + _softplus64(s @ weights + other_bias).sum(axis=1)))
    return _logsumexp64(np.array(parts))


def ais_schedule(n_betas):
    """Inverse temperatures ``0 = beta_0 < ... < beta_K = 1`` with the proportions of
    Salakhutdinov and Murray (2008, section 4.1): 500/14,500 of the steps in [0, 0.5],
    4,000/14,500 in [0.5, 0.9], 10,000/14,500 in [0.9, 1]. ``ais_schedule(14_500)`` is theirs.

    Returns:
        float64 array (n_betas + 1,), increasing from 0 to 1.

    Raises:
        ValueError: ``n_betas`` not an int >= 3.
    """
    n_betas = positive_int("n_betas", n_betas)
    if n_betas < 3:
        raise ValueError(f"n_betas must be at least 3 (one per segment), got {n_betas}.")
    total = sum(count for _, count in SALAKHUTDINOV_MURRAY_SCHEDULE)
    counts = [max(1, round(n_betas * count / total)) for _, count in SALAKHUTDINOV_MURRAY_SCHEDULE]
    counts[-1] = n_betas - sum(counts[:-1])
    betas, low = [np.zeros(1)], 0.0
    for (high, _), count in zip(SALAKHUTDINOV_MURRAY_SCHEDULE, counts):
        betas.append(np.linspace(low, high, count + 1)[1:])
        low = high
    return np.concatenate(betas)


@dataclasses.dataclass(frozen=True)
class AISResult:
    """An AIS estimate of ``log Z`` (nats).

    Attributes:
        log_z: ``log Z_A + log mean_m w_m``: the log of an unbiased estimate of Z.
        std_error: delta-method standard error of ``log_z``: ``std(w) / (sqrt(M) mean(w))``.
        log_z_low, log_z_high: ``log(mean(w) -/+ 3 std(w) / sqrt(M)) + log Z_A`` (the "+/- 3
            standard deviations" interval of Salakhutdinov and Murray 2008, Table 2; ``-inf`` for
            the low end when the interval reaches 0).
        log_z_base: ``log Z_A`` of the base-rate model.
        log_weights: float64 (M,), the runs' log importance weights.
        n_betas: intermediate distributions K; ``seconds``: wall time.
    """

    log_z: float
    std_error: float
    log_z_low: float
    log_z_high: float
    log_z_base: float
    log_weights: np.ndarray
    n_betas: int
    seconds: float

    @property
    def effective_sample_size(self):
        """``(sum w)^2 / sum w^2``: 1 when one run carries all the weight, M when all are equal."""
        w = np.exp(self.log_weights - self.log_weights.max())
        return float(w.sum() ** 2 / np.sum(w**2))


_AIS_CHUNK = {}


def _ais_chunk(v, pair, u_h, u_v, W, b, c, b_a):
    """``pair.shape[1]`` AIS steps: weight updates at (beta_prev, beta), then a Gibbs transition
    that leaves ``p_beta`` invariant. Pure (random numbers pre-drawn), so the backend compiles it.
    """
    field_gap = b - b_a  # d/d beta of the visible term of log p*_beta

    def step(k, carry):
        v, total = carry
        beta_prev, beta = pair[0, k], pair[1, k]
        pre = ops.matmul(v, W) + c  # (M, H)
        total = total + (
            (beta - beta_prev) * ops.matmul(v, field_gap)
            + ops.sum(ops.softplus(beta * pre) - ops.softplus(beta_prev * pre), axis=-1)
        )
        h = ops.cast(ops.less(u_h[k], ops.sigmoid(beta * pre)), "float32")
        v_field = (1.0 - beta) * b_a + beta * (ops.matmul(h, ops.transpose(W)) + b)
        v = ops.cast(ops.less(u_v[k], ops.sigmoid(v_field)), "float32")
        return v, total

    return ops.fori_loop(0, ops.shape(pair)[1], step, (v, ops.zeros(ops.shape(v)[:1])))


def _ais_chunk_function():
    """:func:`_ais_chunk` compiled once per backend (cached)."""
    from . import backend

    key = backend.name()
    if key not in _AIS_CHUNK:
        _AIS_CHUNK[key] = backend.compile_function(_ais_chunk)
    return _AIS_CHUNK[key]


def ais_log_partition(
    rbm, *, n_betas=14_500, n_runs=100, base_visible_bias=None, data=None, seed=0, chunk=100
):
    """Annealed importance sampling of an RBM's ``log Z`` (Neal 2001; Salakhutdinov and Murray
    2008, section 4).

    The path goes from a base-rate model ``p_A(v) = prod_i Bernoulli(v_i; sigmoid(b_A,i))`` with
    no weights (``log Z_A = H log 2 + sum_i softplus(b_A,i)`` when the RBM's H hidden units are
    kept with zero weights and biases) to the RBM through
    ``p*_beta(v) = exp((1 - beta) b_A.v + beta b.v) prod_j (1 + exp(beta (c_j + (v W)_j)))``.
    Each of ``n_runs`` independent runs starts with ``v ~ p_A``; at each ``beta_k`` it adds
    ``log p*_{beta_k}(v) - log p*_{beta_{k-1}}(v)`` to its log weight and moves ``v`` by one
    Gibbs step that leaves ``p_{beta_k}`` invariant. ``mean(w)`` estimates ``Z / Z_A`` without
    bias; its log underestimates ``log Z`` on average (Jensen's inequality), more so with fewer
    temperatures.

    Args:
        rbm: an :class:`RBM`.
        n_betas: number K of intermediate distributions, spaced by :func:`ais_schedule`
            (Salakhutdinov and Murray used 14,500).
        n_runs: independent AIS runs M (they used 100).
        base_visible_bias: (n_visible,) biases ``b_A`` of the base model; default: from ``data``
            via :func:`visible_marginals` (their choice), or all zeros when ``data`` is None.
        data: training images or vectors in [0, 1] for the base model, or None.
        seed: int >= 0, seeds the runs.
        chunk: steps per compiled call (their log-weight increments are summed in float32, then
            added in float64).

    Returns:
        :class:`AISResult`.

    Raises:
        ValueError: bad sizes or seed; a base bias of the wrong shape or not finite.
    """
    n_runs = positive_int("n_runs", n_runs)
    chunk = positive_int("chunk", chunk)
    seed = nonnegative_int("seed", seed)
    betas = ais_schedule(n_betas)
    if base_visible_bias is None:
        if data is None:
            base_visible_bias = np.zeros(rbm.n_visible)
        else:
            p = visible_marginals(rbm, data)
            base_visible_bias = np.log(p / (1.0 - p))
    base = np.asarray(base_visible_bias, dtype="float64")
    if base.shape != (rbm.n_visible,) or not np.all(np.isfinite(base)):
        raise ValueError(
            f"base_visible_bias must be finite with shape ({rbm.n_visible},), got {base.shape}."
        )
    start_time = time.perf_counter()
    log_z_base = rbm.n_hidden * np.log(2.0) + float(_softplus64(base).sum())
    generator = keras.random.SeedGenerator(seed)
    b_a = ops.convert_to_tensor(base.astype("float32"))
    weights = (ops.convert_to_tensor(rbm.W), ops.convert_to_tensor(rbm.visible_bias))
    weights += (ops.convert_to_tensor(rbm.hidden_bias), b_a)
    v = _bernoulli(ops.sigmoid(ops.broadcast_to(b_a, (n_runs, rbm.n_visible))), generator)
    log_w = np.zeros(n_runs)
    run_chunk = _ais_chunk_function()
    for first in range(1, len(betas), chunk):
        end = min(first + chunk, len(betas))
        pair = np.ones((2, chunk))  # padded with beta_prev = beta = 1: zero increments, and
        pair[0, : end - first] = betas[first - 1 : end - 1]  # one compiled shape per model
        pair[1, : end - first] = betas[first:end]
        u_h = keras.random.uniform((chunk, n_runs, rbm.n_hidden), seed=generator)
        u_v = keras.random.uniform((chunk, n_runs, rbm.n_visible), seed=generator)
        v, increment = run_chunk(
            v, ops.convert_to_tensor(pair.astype("float32")), u_h, u_v, *weights
        )
        log_w += ops.convert_to_numpy(increment).astype("float64")
    top = log_w.max()
    w = np.exp(log_w - top)
    mean_w = w.mean()
    se_w = w.std(ddof=1) / np.sqrt(n_runs) if n_runs > 1 else np.inf
    log_z = log_z_base + top + np.log(mean_w)
    low = mean_w - 3 * se_w
    return AISResult(
        log_z=float(log_z),
        std_error=float(se_w / mean_w),
        log_z_low=float(log_z_base + top + np.log(low)) if low > 0 else float("-inf"),
        log_z_high=float(log_z_base + top + np.log(mean_w + 3 * se_w)),
        log_z_base=float(log_z_base),
        log_weights=log_w,
        n_betas=len(betas) - 1,
        seconds=time.perf_counter() - start_time,
    )


# ----------------------------------------------------------------------------------------------
# Deep belief net
# ----------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="course")
class DeepBeliefNet(GenerativeModel, keras.Model):
    """RBMs stacked by greedy layer-wise training (Hinton, Osindero and Teh 2006).

    ``rbms[0]`` models the images; ``rbms[l]`` models the hidden units of ``rbms[l-1]`` (its
    ``n_visible`` equals their ``n_hidden``). The generative model is the top RBM (an undirected
    prior over the last hidden layer but one) followed by the directed conditionals
    ``p(h_{l-1} | h_l)`` of the lower RBMs, down to the pixels.

    Course contract: ``likelihood_kind = "lower_bound"``. :meth:`log_likelihood` of a two-layer
    DBN is the variational bound of Salakhutdinov and Murray (2008, eq. 17) with the factorial
    ``q(h | v) = p(h | v)`` of the first RBM:
    ``log p(v) >= E_q[log p(v | h) - F_2(h)] - log Z_2 + H(q)``, the expectation estimated with
    ``n_samples`` draws of ``h`` and ``log Z_2`` from AIS on the top RBM.

    Args:
        rbms: list of at least two :class:`RBM` whose sizes chain.
        seed: seed of the model-owned ``SeedGenerator``.

    Raises:
        ValueError: fewer than two RBMs, or sizes that do not chain.
    """

    likelihood_kind = "lower_bound"

    def __init__(self, rbms, *, seed=None, **kwargs):
        super().__init__(**kwargs)
        rbms = list(rbms)
        if len(rbms) < 2 or not all(isinstance(r, RBM) for r in rbms):
            raise ValueError(
                f"rbms must be a list of at least two RBMs, got {[type(r).__name__ for r in rbms]}."
            )
        for lower, upper in zip(rbms, rbms[1:]):
            if upper.n_visible != lower.n_hidden:
                raise ValueError(
                    f"an RBM with {lower.n_hidden} hidden units cannot be followed by one with "
                    f"{upper.n_visible} visible units: they must be equal."
                )
        self.rbms = rbms
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.image_shape = rbms[0].image_shape
        self.built = True

    def call(self, inputs, training=False):
        """Mean-field pass up and back down: reconstruction probabilities, the inputs' shape."""
        h = inputs
        for rbm in self.rbms:
            h = rbm.hidden_probabilities(h)
        for rbm in reversed(self.rbms):
            h = rbm.visible_probabilities(h)
        return ops.reshape(h, ops.shape(inputs))

    def generate(
        self, n, *, labels=None, seed=None, steps=1000, batch_size=1000, probabilities=False
    ):
        """``n`` images: ``steps`` Gibbs steps in the top RBM, then one sampled pass down.

        Returns float32 (n,) + image_shape, binary (or the last ``p(v | h)`` when
        ``probabilities``). Arguments as in :meth:`RBM.generate`.
        """
        if labels is not None:
            raise ValueError("the deep belief net is unconditional: labels must be None.")
        n = positive_int("n", n)
        seed = check_seed(seed)
        generator = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        top = self.rbms[-1].generate(
            n,
            steps=positive_int("steps", steps),
            batch_size=batch_size,
            seed=int(ops.convert_to_numpy(keras.random.randint((), 0, 2**31 - 1, seed=generator))),
        )
        h = ops.convert_to_tensor(top.reshape(n, -1))
        for rbm in reversed(self.rbms[1:-1]):
            h = _bernoulli(rbm.visible_probabilities(h), generator)
        p = self.rbms[0].visible_probabilities(h)
        out = p if probabilities else _bernoulli(p, generator)
        return ops.convert_to_numpy(out).reshape((n,) + self.image_shape).astype("float32")

    def log_likelihood(
        self, x, *, labels=None, log_z_top=None, n_samples=10, seed=0, batch_size=500, **ais_kwargs
    ):
        """Lower bound on ``log p(v)`` per image, nats, float64 (N,) (two-layer DBN).

        ``E_q[log p(v | h) - F_2(h)] - log Z_2 + H(q)`` with ``q(h | v) = p(h | v)`` of the first
        RBM (Salakhutdinov and Murray 2008, eq. 17); ``log_z_top``: the top RBM's ``log Z`` (AIS
        with ``ais_kwargs`` when None). ``n_samples`` draws of ``h`` per image (seeded by
        ``seed``, an int >= 0 or None for a fresh draw) estimate the expectation without bias.

        Raises:
            ValueError: ``labels`` given, more than two RBMs, malformed or non-binary ``x``.
        """
        if labels is not None:
            raise ValueError("the deep belief net is unconditional: labels must be None.")
        if len(self.rbms) != 2:
            raise ValueError(
                f"the bound is implemented for two-layer DBNs, this one has {len(self.rbms)} RBMs."
            )
        first, top = self.rbms
        v = _flat_binary(first, x, "x").astype("float64")
        n_samples = positive_int("n_samples", n_samples)
        batch_size = positive_int("batch_size", batch_size)
        if log_z_top is None:
            log_z_top = ais_log_partition(top, **ais_kwargs).log_z
        log_z_top = finite_number("log_z_top", log_z_top)
        W1, b1, c1 = first.numpy_parameters()
        W2, b2, c2 = top.numpy_parameters()
        rng = np.random.default_rng(None if seed is None else nonnegative_int("seed", seed))
        out = np.empty(len(v))
        for i in range(0, len(v), batch_size):
            rows = v[i : i + batch_size]
            q = 1.0 / (1.0 + np.exp(-(rows @ W1 + c1)))
            qc = np.clip(q, 1e-12, 1 - 1e-12)
            entropy = -np.sum(qc * np.log(qc) + (1 - qc) * np.log(1 - qc), axis=1)
            total = np.zeros(len(rows))
            for _ in range(n_samples):
                h = (rng.random(q.shape) < q).astype("float64")
                logits = h @ W1.T + b1
                log_v_given_h = np.sum(rows * logits - _softplus64(logits), axis=1)
                free_top = -h @ b2 - _softplus64(h @ W2 + c2).sum(axis=1)
                total += log_v_given_h - free_top
            out[i : i + batch_size] = total / n_samples + entropy - log_z_top
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "rbms": [keras.saving.serialize_keras_object(r) for r in self.rbms],
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["rbms"] = [keras.saving.deserialize_keras_object(r) for r in config["rbms"]]
        return cls(**config)


def hidden_activations(rbm, x, *, seed=0, batch_size=1000):
    """``p(h | v)`` of every row of ``x``: float32 (N, n_hidden), to train the next RBM of a DBN
    (on samples drawn from these probabilities at every epoch, e.g. with
    :class:`utils.DynamicBinarization`). ``x`` may be grey levels in [0, 1]: each call binarizes
    them once with ``seed`` first.

    Raises:
        ValueError: ``x`` not a finite batch with ``rbm.n_visible`` values per row in [0, 1].
    """
    visible_marginals(rbm, x)  # validates shape and range
    arr = np.asarray(x, dtype="float32").reshape(len(x), rbm.n_visible)
    binary = (np.random.default_rng(nonnegative_int("seed", seed)).random(arr.shape) < arr).astype(
        "float32"
    )
    batch_size = positive_int("batch_size", batch_size)
    return np.concatenate(
        [
            ops.convert_to_numpy(rbm.hidden_probabilities(binary[i : i + batch_size]))
            for i in range(0, len(binary), batch_size)
        ]
    )


# ----------------------------------------------------------------------------------------------
# A deep energy-based model trained with Langevin dynamics
# ----------------------------------------------------------------------------------------------


def build_energy_network(image_shape=(28, 28, 1), filters=32):
    """A small convolutional energy network ``E_theta``: images (B, H, W, C) -> energies (B, 1).

    Three stride-2 convolutions (``filters``, 2x and 4x as many channels; 28x28 -> 14 -> 7 -> 4)
    with the smooth swish activation, whose input gradients SGLD follows, then a linear output
    (no sigmoid: an energy is any real number). Small on purpose: every training step
    differentiates it ``sgld_steps`` times with respect to its input.

    Raises:
        ValueError: a non-positive ``filters`` or a malformed ``image_shape``.
    """
    filters = positive_int("filters", filters)
    image_shape = _shape("image_shape", image_shape, rank=3)
    x = keras.Input(image_shape)
    h = layers.Conv2D(filters, 4, strides=2, padding="same", activation="swish")(x)
    h = layers.Conv2D(2 * filters, 4, strides=2, padding="same", activation="swish")(h)
    h = layers.Conv2D(4 * filters, 3, strides=2, padding="same", activation="swish")(h)
    return keras.Model(x, layers.Dense(1)(layers.Flatten()(h)), name="energy_network")


@keras.saving.register_keras_serializable(package="course")
class EnergyBasedModel(GenerativeModel, keras.Model):
    """A deep energy-based model ``p(x) = exp(-E_theta(x)) / Z`` trained by contrastive
    divergence with SGLD negatives and a replay buffer (Du and Mordatch 2019, algorithm 1).

    Training step on a batch ``x+`` of real images in [0, 1]: draw starting points from the replay
    buffer (a fraction ``reinit_fraction`` replaced by uniform noise), run ``sgld_steps`` of
    ``x <- clip(x - step_size * dE/dx + noise_scale * N(0, I), 0, 1)`` (input gradients from
    :func:`utils.backend.input_gradients`), write the results back into the buffer, and minimize
    ``mean E(x+) - mean E(x-) + alpha * mean(E(x+)^2 + E(x-)^2)`` with ``x-`` held constant. The
    square term keeps energies near 0 (their regularizer). ``step_size`` and ``noise_scale`` are
    set separately: an exact Langevin step has ``step_size = noise_scale**2 / 2``; with a gradient
    step far larger than that (the defaults), the sampler is a noisy gradient descent, not an
    exact Langevin sampler of ``p``.

    Course contract: ``likelihood_kind = "unavailable"``: ``Z`` is an integral over all images
    and no estimate is attempted; :meth:`log_likelihood` raises
    :class:`utils.contract.LikelihoodUnavailableError`. :meth:`energy` gives ``E_theta(x)``.

    Args:
        energy_network: Keras model (B, H, W, C) -> (B, 1) or (B,) (e.g.
            :func:`build_energy_network`).
        buffer_size: images in the replay buffer (initialized with uniform noise).
        sgld_steps: Langevin steps per training step.
        step_size, noise_scale: of each Langevin step (positive, non-negative).
        reinit_fraction: share of buffer draws replaced by fresh noise, in [0, 1].
        alpha: weight of the energy-magnitude regularizer (>= 0).
        seed: seed of the model-owned ``SeedGenerator`` (buffer draws, noise) and of the buffer.

    Raises:
        ValueError: a network that is not a built Keras model with a 3-D image input; bad numbers.
    """

    likelihood_kind = "unavailable"

    def __init__(
        self,
        energy_network,
        *,
        buffer_size=10_000,
        sgld_steps=20,
        step_size=10.0,
        noise_scale=0.005,
        reinit_fraction=0.05,
        alpha=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        inputs = getattr(energy_network, "inputs", None) or []
        if (
            not isinstance(energy_network, keras.Model)
            or len(inputs) != 1
            or len(inputs[0].shape) != 4
        ):
            raise ValueError(
                "energy_network must be a built keras Model taking images (B, H, W, C), got "
                f"{type(energy_network).__name__}"
                + (f" with inputs {[tuple(t.shape) for t in inputs]}" if inputs else "")
                + "."
            )
        self.energy_network = energy_network
        self.image_shape = tuple(int(d) for d in inputs[0].shape[1:])
        self.buffer_size = positive_int("buffer_size", buffer_size)
        self.sgld_steps = positive_int("sgld_steps", sgld_steps)
        self.step_size = finite_number("step_size", step_size, low=0.0, low_open=True)
        self.noise_scale = finite_number("noise_scale", noise_scale, low=0.0)
        self.reinit_fraction = finite_number("reinit_fraction", reinit_fraction, low=0.0, high=1.0)
        self.alpha = finite_number("alpha", alpha, low=0.0)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        noise = np.random.default_rng(0 if seed is None else seed).random(
            (self.buffer_size,) + self.image_shape
        )
        self.buffer = self.add_weight(
            shape=(self.buffer_size,) + self.image_shape,
            initializer=keras.initializers.Constant(noise.astype("float32")),
            trainable=False,
            name="replay_buffer",
        )
        self.positive_energy_tracker = keras.metrics.Mean(name="energy_data")
        self.negative_energy_tracker = keras.metrics.Mean(name="energy_samples")
        self.built = True

    def call(self, inputs, training=False):
        """Energies (B,) of images (B, H, W, C)."""
        return ops.reshape(self.energy_network(inputs, training=training), (-1,))

    def langevin(self, x, steps, *, step_size=None, noise_scale=None, seed=None):
        """``steps`` SGLD steps from ``x`` (tensor (B, H, W, C)); returns the result, detached.

        ``step_size`` / ``noise_scale`` default to the model's.
        """
        step_size = self.step_size if step_size is None else step_size
        noise_scale = self.noise_scale if noise_scale is None else noise_scale
        seed = self.seed_generator if seed is None else seed
        from . import backend

        x = ops.convert_to_tensor(x)
        for _ in range(steps):
            grad = backend.input_gradients(lambda t: self(t), x)
            noise = keras.random.normal(ops.shape(x), seed=seed)
            x = ops.stop_gradient(ops.clip(x - step_size * grad + noise_scale * noise, 0.0, 1.0))
        return x

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Contrastive loss with SGLD negatives drawn from (and written back to) the buffer."""
        x = ops.cast(x, "float32")
        n = ops.shape(x)[0]
        index = keras.random.randint((n,), 0, self.buffer_size, seed=self.seed_generator)
        start = ops.take(ops.convert_to_tensor(self.buffer), index, axis=0)
        fresh = keras.random.uniform(ops.shape(start), seed=self.seed_generator)
        reset = keras.random.uniform((n, 1, 1, 1), seed=self.seed_generator) < self.reinit_fraction
        negatives = self.langevin(ops.where(reset, fresh, start), self.sgld_steps)
        if training:
            self.buffer.assign(ops.scatter_update(self.buffer, index[:, None], negatives))
        e_pos = self(x, training=training)
        e_neg = self(negatives, training=training)
        self.positive_energy_tracker.update_state(e_pos)
        self.negative_energy_tracker.update_state(e_neg)
        return (
            ops.mean(e_pos)
            - ops.mean(e_neg)
            + self.alpha * (ops.mean(ops.square(e_pos)) + ops.mean(ops.square(e_neg)))
        )

    def compile(self, optimizer="adam", **kwargs):
        """``keras.Model.compile`` with ``jit_compile`` defaulting to
        :func:`utils.backend.default_jit_compile`; pass no ``loss``."""
        from . import backend

        kwargs.setdefault("jit_compile", backend.default_jit_compile())
        super().compile(optimizer=optimizer, **kwargs)

    def energy(self, x, *, batch_size=500):
        """``E_theta(x)`` per image: float64 (N,) (lower = more probable under the model).

        Raises:
            ValueError: ``x`` not a finite batch of images in [0, 1] of the model's shape.
        """
        x = check_images(x, shape=self.image_shape)
        batch_size = positive_int("batch_size", batch_size)
        return np.concatenate(
            [
                ops.convert_to_numpy(self(x[i : i + batch_size])).astype("float64")
                for i in range(0, len(x), batch_size)
            ]
        )

    def generate(self, n, *, labels=None, seed=None, steps=None, batch_size=500, from_buffer=False):
        """``n`` images by SGLD from uniform noise (course contract).

        Args:
            n: number of images.
            labels: must be None (unconditional).
            seed: int >= 0 for a repeatable draw, or None (the model's generator).
            steps: Langevin steps (default: twice ``sgld_steps``).
            batch_size: chains run together.
            from_buffer: start from random replay-buffer images instead of noise (the
                persistent samples of training; requires ``n <= buffer_size``).

        Returns:
            float32 (n,) + image_shape in [0, 1].

        Raises:
            ValueError, TypeError: bad arguments.
        """
        if labels is not None:
            raise ValueError("the energy-based model is unconditional: labels must be None.")
        n = positive_int("n", n)
        steps = 2 * self.sgld_steps if steps is None else nonnegative_int("steps", steps)
        batch_size = positive_int("batch_size", batch_size)
        seed = check_seed(seed)
        generator = self.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        if from_buffer:
            if n > self.buffer_size:
                raise ValueError(f"n = {n} exceeds buffer_size = {self.buffer_size}.")
            rows = np.random.default_rng(seed).choice(self.buffer_size, n, replace=False)
            starts = ops.convert_to_numpy(self.buffer)[rows]
        else:
            starts = np.random.default_rng(seed).random((n,) + self.image_shape).astype("float32")
        out = [
            ops.convert_to_numpy(self.langevin(starts[i : i + batch_size], steps, seed=generator))
            for i in range(0, n, batch_size)
        ]
        return np.concatenate(out).astype("float32")

    def log_likelihood(self, x, *, labels=None, **kwargs):
        """Not available: raises :class:`LikelihoodUnavailableError` (``Z`` is intractable)."""
        raise LikelihoodUnavailableError(
            "an energy-based model defines p(x) = exp(-E(x)) / Z only up to Z, an integral over "
            "all images that this course does not estimate for the EBM; use energy(x) for "
            "relative comparisons, or an RBM with AIS for a likelihood."
        )

    def get_config(self):
        return {
            **super().get_config(),
            "energy_network": keras.saving.serialize_keras_object(self.energy_network),
            "buffer_size": self.buffer_size,
            "sgld_steps": self.sgld_steps,
            "step_size": self.step_size,
            "noise_scale": self.noise_scale,
            "reinit_fraction": self.reinit_fraction,
            "alpha": self.alpha,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["energy_network"] = keras.saving.deserialize_keras_object(config["energy_network"])
        return cls(**config)
