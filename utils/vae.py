"""Variational autoencoders: the reparameterization trick, the ELBO, and importance-weighted NLL.

Everything here is Keras 3 (``keras.ops``, ``keras.random`` with model-owned seed generators) and
runs on any backend. Units are nats unless a name says bits.

References:

- D. P. Kingma, M. Welling (2014). Auto-encoding variational Bayes. *ICLR* (the reparameterization
  trick, eq. 10 for the Gaussian KL term used here).
- D. J. Rezende, S. Mohamed, D. Wierstra (2014). Stochastic backpropagation and approximate
  inference
  in deep generative models. *ICML*.
- Y. Burda, R. Grosse, R. Salakhutdinov (2016). Importance weighted autoencoders. *ICLR* (eq. 8, the
  k-sample bound used by :func:`importance_weighted_nll`).
- I. Higgins et al. (2017). beta-VAE: learning basic visual concepts with a constrained variational
  framework. *ICLR* (the ``beta`` weight).
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops

from .checks import check_images, check_labels, check_seed, finite_number, positive_int
from .contract import GenerativeModel
from .data import DynamicBinarization
from .likelihood import (  # noqa: F401  (re-exported: utils.vae.<name> keeps working)
    LOG_2PI,
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    kl_divergence_standard_normal,
    log_mean_exp,
    nats_to_bits_per_dim,
    standard_normal_log_density,
)
from .runtime import timed


@keras.saving.register_keras_serializable(package="course")
class Sampling(keras.layers.Layer):
    """The reparameterization trick: ``z = mean + exp(0.5 * log_var) * eps``, ``eps ~ N(0, I)``.

    Writing the sample as a deterministic, differentiable function of ``(mean, log_var)`` and
    independent noise lets gradients of ``E_q[f(z)]`` flow into the encoder (Kingma and Welling
    2014, section 2.4). The noise comes from a layer-owned ``keras.random.SeedGenerator``, so a
    fixed ``seed`` gives repeatable draws and compiled steps never call an unseeded generator.

    A ``.keras`` file stores the seed, not the generator's position: a loaded layer restarts its
    noise sequence from ``seed``.

    Args:
        seed: optional int seed of the layer's generator.

    Call arguments:
        inputs: a list ``[mean, log_var]`` of two (B, d) float tensors.

    Returns:
        (B, d) float tensor ``z``.

    Raises:
        ValueError: inputs are not two tensors of the same rank-2 shape, or a bad seed.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
        ):
            raise ValueError(f"seed must be None or a non-negative int, got {seed!r}.")
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def _check(self, shapes):
        if (
            not isinstance(shapes, (list, tuple))
            or len(shapes) != 2
            or not all(isinstance(s, (list, tuple)) for s in shapes)
        ):
            raise ValueError(
                f"Sampling expects [mean, log_var], two tensors; got input shape {shapes!r}."
            )
        a, b = (tuple(s) for s in shapes)
        if len(a) != 2 or a != b:
            raise ValueError(
                f"Sampling expects two (batch, latent_dim) tensors of one shape, got {a} and {b}."
            )

    def build(self, input_shape):
        self._check(input_shape)
        super().build(input_shape)

    def call(self, inputs):
        self._check(
            [tuple(t.shape) for t in inputs] if isinstance(inputs, (list, tuple)) else inputs
        )
        mean, log_var = inputs
        eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="course")
class VAE(GenerativeModel, keras.Model):
    """A variational autoencoder with a Gaussian posterior and a Bernoulli decoder.

    ``encoder`` maps an image (B, H, W, C) to (B, 2d): the posterior means and log-variances,
    concatenated. ``decoder`` maps a code (B, d) to pixel logits (B, H, W, C). Training with plain
    ``fit`` maximizes the ELBO

        ELBO(x) = E_{q(z|x)}[log p(x|z)] - beta * KL(q(z|x) || N(0, I)),

    estimated with one reparameterized sample per image (Kingma and Welling 2014, eq. 10); ``beta``
    = 1 is the true bound, other values give the beta-VAE of Higgins et al. (2017).

    The loss is overridden in ``compute_loss`` (not ``train_step``), so ``fit``, ``evaluate`` and
    ``validation_data`` work on every backend. The loss reported as ``loss`` is ``-ELBO`` in nats
    per
    image (for beta = 1); ``reconstruction`` (``-E_q log p(x|z)``) and ``kl`` are tracked separately
    and appear in ``History``. Targets: ``fit(x, y)`` uses ``y`` (e.g. a binarized copy) as the
    pixels to explain; ``fit(x)`` uses ``x``.

    Conditional VAE: with ``conditional=True`` the inputs are ``(x, c)`` (c: (B, m) labels, e.g.
    one-hot), the encoder takes ``[x, c]`` and the decoder ``[z, c]`` (Sohn, Lee and Yan 2015).

    Args:
        encoder: ``keras.Model`` image (and condition) -> (B, 2d).
        decoder: ``keras.Model`` code (and condition) -> logits of the image shape.
        beta: weight of the KL term (>= 0).
        conditional: whether inputs carry a condition.
        seed: seed of the sampling layer's generator.

    Course contract (:mod:`utils.contract`): :meth:`generate` and :meth:`log_likelihood` (the
    importance-weighted lower bound, ``likelihood_kind = "lower_bound"``); a conditional VAE takes
    integer class ids there (``num_classes`` is the size of its one-hot conditions).

    Calling the model returns a dict: ``logits`` (B, H, W, C), ``mean`` and ``log_var`` (B, d), and
    the sampled ``z`` (B, d).

    Raises:
        ValueError: an encoder whose output size is odd, a decoder whose code size is not half of
            it, or a negative ``beta``.
    """

    def __init__(self, encoder, decoder, beta=1.0, conditional=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        beta = finite_number("beta", beta, low=0.0)
        try:
            enc_out = int(encoder.outputs[0].shape[-1])
            dec_in = decoder.inputs[0].shape[-1]
        except (AttributeError, IndexError, TypeError, ValueError):
            raise ValueError(
                "encoder and decoder must be built keras Models with known input and output sizes "
                "(Functional, or Sequential starting with keras.Input)."
            ) from None
        if enc_out % 2:
            raise ValueError(
                f"the encoder must output 2 * latent_dim values (mean, log_var), got {enc_out}."
            )
        if int(dec_in) != enc_out // 2:
            raise ValueError(
                f"the encoder gives a latent size of {enc_out // 2} "
                f"but the decoder takes codes of size {dec_in}."
            )
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.conditional = bool(conditional)
        self.seed = seed
        self.latent_dim = enc_out // 2
        self.sampling = Sampling(seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # encoder and decoder are built models; Sampling has no weights

    def _split(self, inputs):
        if self.conditional:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError("a conditional VAE takes inputs (x, c).")
            return inputs[0], inputs[1]
        return inputs, None

    def encode(self, inputs):
        """Posterior parameters: ``(mean, log_var)``, each (B, d)."""
        x, c = self._split(inputs)
        h = self.encoder(
            [ops.convert_to_tensor(x), ops.convert_to_tensor(c)] if self.conditional else x
        )
        return h[:, : self.latent_dim], h[:, self.latent_dim :]

    def decode(self, z, condition=None):
        """Pixel logits (B, H, W, C) for codes z (B, d) (and a condition for a conditional VAE)."""
        if self.conditional:
            if condition is None:
                raise ValueError("a conditional VAE needs a condition to decode.")
            return self.decoder([ops.convert_to_tensor(z), ops.convert_to_tensor(condition)])
        return self.decoder(z)

    def call(self, inputs, training=False):
        mean, log_var = self.encode(inputs)
        z = self.sampling([mean, log_var])
        _, c = self._split(inputs)
        return {"logits": self.decode(z, c), "mean": mean, "log_var": log_var, "z": z}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        target = y if y is not None else self._split(x)[0]
        reconstruction = -bernoulli_log_likelihood(target, y_pred["logits"])
        kl = kl_divergence_standard_normal(y_pred["mean"], y_pred["log_var"])
        per_example = reconstruction + self.beta * kl
        if sample_weight is not None:
            w = ops.cast(ops.reshape(sample_weight, (-1,)), per_example.dtype)
            loss = ops.sum(w * per_example) / ops.maximum(ops.sum(w), 1e-12)
        else:
            loss = ops.mean(per_example)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return loss

    def sample(self, n, condition=None, seed=None):
        """Decode ``n`` codes drawn from the prior N(0, I).

        Args:
            n: number of samples.
            condition: (n, m) conditions, required for a conditional VAE.
            seed: int or ``keras.random.SeedGenerator`` for repeatable codes.

        Returns:
            (n, H, W, C) Bernoulli means in (0, 1) (the customary way to show VAE samples).
        """
        z = keras.random.normal((int(n), self.latent_dim), seed=seed)
        return ops.sigmoid(self.decode(z, condition))

    # -- the course contract --------------------------------------------------------------------

    likelihood_kind = "lower_bound"

    @property
    def num_classes(self):
        """Size of the one-hot condition of a conditional VAE (from the decoder), else ``None``."""
        if not self.conditional:
            return None
        return int(self.decoder.inputs[1].shape[-1])

    def _one_hot(self, labels, n):
        labels = check_labels(labels, n, self.num_classes)
        return None if labels is None else ops.one_hot(labels, self.num_classes)

    def generate(self, n, *, labels=None, seed=None, binary=False):
        """``n`` images decoded from codes drawn from the prior N(0, I) (course contract).

        Args:
            n: number of images (positive int).
            labels: (n,) integer class ids for a conditional VAE.
            seed: int for a repeatable draw; ``None`` uses the model's sampling generator.
            binary: return Bernoulli samples of the pixels (values 0/1) instead of their means.

        Returns:
            float32 array (n, H, W, C): Bernoulli means in (0, 1), or binary samples.

        Raises:
            ValueError, TypeError: a bad ``n``, ``seed`` or ``labels`` (see :mod:`utils.contract`).
        """
        n = positive_int("n", n)
        seed = check_seed(seed)
        condition = self._one_hot(labels, n)
        generator = (
            self.sampling.seed_generator if seed is None else keras.random.SeedGenerator(seed)
        )
        z = keras.random.normal((n, self.latent_dim), seed=generator)
        means = ops.sigmoid(self.decode(z, condition))
        if binary:
            u = keras.random.uniform(ops.shape(means), seed=generator)
            means = ops.cast(u < means, "float32")
        return ops.convert_to_numpy(means).astype("float32")

    def log_likelihood(self, x, *, labels=None, k=1000, batch_size=None, seed=0):
        """Importance-weighted lower bound ``L_k <= log p(x)`` per image, in nats (course contract).

        ``L_k`` of Burda, Grosse and Salakhutdinov (2016, eq. 8); ``k = 1`` gives the ELBO. See
        :func:`importance_weighted_nll`, whose negative this is.

        Args:
            x: (N, H, W, C) binary images (the course's test set:
                ``utils.data.load_binarized_test``).
            labels: (N,) integer class ids for a conditional VAE.
            k: importance samples per image.

        Returns:
            float64 array (N,) of ``L_k`` in nats (<= 0).

        Raises:
            ValueError: non-binary images, bad ``k``, labels that do not match the model.
        """
        x = check_images(x, binary=True)
        condition = self._one_hot(labels, len(x))
        if condition is not None:
            condition = ops.convert_to_numpy(condition)
        return -importance_weighted_nll(
            self, x, k, condition=condition, batch_size=batch_size, seed=seed
        )

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "conditional": self.conditional,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


def _check_condition(model, condition, n):
    if model.conditional and condition is None:
        raise ValueError("this VAE is conditional: pass condition=(N, m) conditions.")
    if not model.conditional and condition is not None:
        raise ValueError("this VAE is not conditional: condition must be None.")
    if condition is not None and len(condition) != n:
        raise ValueError(f"condition has {len(condition)} rows for {n} images.")


def importance_weighted_nll(
    model, x, k, *, condition=None, batch_size=None, seed=0, return_bits=False
):
    """Negative log-likelihood of each image estimated with ``k`` importance samples (IWAE bound).

    ``log p(x) >= L_k = E[log (1/k) sum_i p(x, z_i) / q(z_i | x)]`` with ``z_i ~ q(z | x)`` (Burda,
    Grosse and Salakhutdinov 2016, eq. 8). ``L_1`` is the ELBO; ``L_k`` is non-decreasing in ``k``
    and tends to ``log p(x)``, so ``-L_k`` is an upper bound on the NLL that tightens with ``k``.
    Computed in log space with logsumexp, in chunks of at most ``batch_size`` decoder evaluations,
    so ``k = 1000`` on 10,000 test images fits in a CPU's memory.

    Args:
        model: a :class:`VAE` (its ``encode``/``decode``; the Bernoulli decoder).
        x: (N, H, W, C) binary images.
        k: number of importance samples per image (positive int).
        condition: (N, m) conditions for a conditional VAE.
        batch_size: decoder evaluations per chunk (default: about 20,000).
        seed: seed of the importance samples.
        return_bits: also return bits per dimension.

    Returns:
        float64 array (N,) of NLL estimates in nats (``-L_k``); with ``return_bits``, a pair
        ``(nats, bits_per_dim)``.

    Raises:
        ValueError: ``k`` or ``batch_size`` not a positive int, images that are not binary (grey
            levels or raw uint8 pixels give numbers that only look like likelihoods), NaN images,
            or conditions missing for a conditional VAE, given to an unconditional one, or of the
            wrong length.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}.")
    x = check_images(x, binary=True)
    _check_condition(model, condition, len(x))
    budget = 20_000 if batch_size is None else batch_size
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    k_chunk = min(int(k), int(budget))
    images_per_batch = max(1, int(budget) // k_chunk)
    generator = keras.random.SeedGenerator(seed)
    d = model.latent_dim
    out = np.empty(len(x))
    for start in range(0, len(x), images_per_batch):
        xb = x[start : start + images_per_batch]
        cb = (
            None
            if condition is None
            else np.asarray(condition[start : start + images_per_batch], "float32")
        )
        b = len(xb)
        mean, log_var = model.encode((xb, cb) if model.conditional else xb)
        log_w = []
        for done in range(0, int(k), k_chunk):
            kc = min(k_chunk, int(k) - done)
            eps = keras.random.normal((b, kc, d), seed=generator)
            z = ops.expand_dims(mean, 1) + ops.exp(0.5 * ops.expand_dims(log_var, 1)) * eps
            z_flat = ops.reshape(z, (b * kc, d))
            x_rep = ops.repeat(xb, kc, axis=0)
            c_rep = None if cb is None else ops.repeat(cb, kc, axis=0)
            log_px_z = bernoulli_log_likelihood(x_rep, model.decode(z_flat, c_rep))
            log_pz = standard_normal_log_density(z_flat)
            log_qz = -0.5 * ops.sum(
                LOG_2PI + ops.expand_dims(log_var, 1) + ops.square(eps), axis=-1
            )
            log_w.append(ops.convert_to_numpy(ops.reshape(log_px_z + log_pz, (b, kc)) - log_qz))
        log_w = np.concatenate(log_w, axis=1).astype(np.float64)
        out[start : start + b] = -log_mean_exp(log_w, axis=1)
    if return_bits:
        return out, nats_to_bits_per_dim(out, dims=int(np.prod(x.shape[1:])))
    return out


def active_units(model, x, *, threshold=0.01, condition=None, batch_size=512):
    """Count latent dimensions that the encoder actually uses.

    A unit u is *active* when ``Cov_x(E_{q(u|x)}[u]) > threshold``: its posterior mean changes from
    image to image (Burda, Grosse and Salakhutdinov 2016, section 5.2, with threshold 0.01). Units
    whose posterior stays at the prior for every input carry no information: posterior collapse.

    Args:
        model: a :class:`VAE`.
        x: (N, H, W, C) images, N >= 2.
        threshold: variance above which a unit counts as active (> 0).
        condition: (N, m) conditions for a conditional VAE.
        batch_size: images per encoder call.

    Returns:
        ``(count, variances)``: the number of active units (int) and the (d,) float64 variances of
        the posterior means over the images.

    Raises:
        ValueError: fewer than two images, a non-positive threshold, or conditions that do not
            match the model (see :func:`importance_weighted_nll`).
    """
    if len(x) < 2:
        raise ValueError(f"need at least two images to measure a variance, got {len(x)}.")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}.")
    _check_condition(model, condition, len(x))
    means = []
    for mean, _ in _encoded_batches(model, x, condition, batch_size):
        means.append(mean)
    variances = np.var(np.concatenate(means).astype(np.float64), axis=0)
    return int(np.sum(variances > threshold)), variances


def fit_vae(
    model,
    images,
    *,
    validation=None,
    epochs,
    batch_size=128,
    learning_rate=1e-3,
    seed=0,
    labels=None,
    label="VAE",
    verbose=2,
):
    """Compile ``model`` with Adam and train it on freshly binarized images every epoch.

    The training images (grey levels in [0, 1]) are wrapped in
    :class:`utils.data.DynamicBinarization`, the standard protocol for binarized-MNIST likelihoods.
    Prints the wall time of the run (unless ``label`` is None).

    Args:
        model: a :class:`VAE`.
        images: (N, H, W, C) grey levels in [0, 1].
        validation: optional fixed binary validation images (M, H, W, C) (with ``labels``: a pair
            ``(images, one_hot)``).
        epochs: passes over the data (positive int).
        batch_size: images per step.
        learning_rate: Adam's step size.
        seed: seed of the binarization and shuffling.
        labels: conditions of a conditional VAE: (N,) integer class ids (one-hot encoded here,
            with ``model.num_classes`` classes) or (N, m) float conditions (e.g. one-hot digits).
            ``validation`` may then be ``(images, class_ids)`` too.
        label: name printed with the wall time; ``None`` prints nothing (a notebook whose outputs
            must not change from run to run).
        verbose: Keras verbosity.

    Returns:
        ``keras.callbacks.History`` with ``loss`` (-ELBO for beta = 1), ``reconstruction`` and
        ``kl``
        in nats per image, and their ``val_`` twins when ``validation`` is given.

    Raises:
        ValueError: a conditional model without labels (or labels for an unconditional one), or a
            non-positive epoch count.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}.")
    if model.conditional != (labels is not None):
        raise ValueError("pass labels exactly when the VAE is conditional.")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    if model.conditional:
        data = ConditionalBinarization(
            images, _conditions(model, labels), batch_size=batch_size, seed=seed
        )
        val = None
        if validation is not None:
            val_images, val_labels = validation
            val = ((val_images, _conditions(model, val_labels)), val_images)
    else:
        data = DynamicBinarization(images, batch_size=batch_size, seed=seed)
        val = None if validation is None else (validation, validation)
    if label is None:
        return model.fit(data, validation_data=val, epochs=int(epochs), verbose=verbose)
    with timed(label):
        return model.fit(data, validation_data=val, epochs=int(epochs), verbose=verbose)


def _conditions(model, labels):
    """(N, m) float32 conditions: integer class ids (N,) one-hot encoded, (N, m) passed through."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        ids = check_labels(labels, len(labels), model.num_classes)
        return np.eye(model.num_classes, dtype="float32")[ids]
    return labels.astype("float32")


def _encoded_batches(model, x, condition, batch_size):
    """Posterior ``(mean, log_var)`` of ``x`` batch by batch, as float64 NumPy arrays (B, d)."""
    for start in range(0, len(x), batch_size):
        xb = np.asarray(x[start : start + batch_size], "float32")
        cb = None if condition is None else condition[start : start + batch_size]
        inputs = (xb, np.asarray(cb, "float32")) if model.conditional else xb
        mean, log_var = model.encode(inputs)
        yield (ops.convert_to_numpy(t).astype(np.float64) for t in (mean, log_var))


def kl_per_unit(model, x, *, condition=None, batch_size=512):
    """Mean KL(q(u|x) || N(0, 1)) of each latent unit u over images: the rate, unit by unit.

    The rate of the ELBO, ``KL(q(z|x) || p(z))``, is a sum over the d latent units of a diagonal
    Gaussian posterior; this splits its average over ``x`` into those d terms. It complements
    :func:`active_units`, which only asks whether a unit's posterior *mean* moves: a unit whose mean
    varies a little but whose posterior variance stays near 1 passes that test while carrying
    almost no information (a few hundredths of a nat).

    Args:
        model: a :class:`VAE`.
        x: (N, H, W, C) images.
        condition: (N, m) conditions for a conditional VAE.
        batch_size: images per encoder call.

    Returns:
        float64 array (d,) in nats per image; its sum is the mean rate (the ``kl`` of ``fit``).

    Raises:
        ValueError: no images, or conditions that do not match the model.
    """
    if len(x) < 1:
        raise ValueError("need at least one image.")
    _check_condition(model, condition, len(x))
    total = np.zeros(model.latent_dim)
    for mean, log_var in _encoded_batches(model, x, condition, batch_size):
        total += np.sum(0.5 * (np.exp(log_var) + mean**2 - 1.0 - log_var), axis=0)
    return total / len(x)


class ConditionalBinarization(DynamicBinarization):
    """Dynamic binarization that also yields each image's condition: batches ``((x, c), x)``.

    Args:
        images: (N, H, W, C) grey levels in [0, 1].
        conditions: (N, m) conditions, e.g. one-hot digits.
        **kwargs: ``batch_size``, ``shuffle``, ``seed`` of :class:`utils.data.DynamicBinarization`.
    """

    def __init__(self, images, conditions, **kwargs):
        super().__init__(images, labels=conditions, target="labels", **kwargs)

    def __getitem__(self, index):
        x, c = super().__getitem__(index)
        return (x, c), x
