"""Generative adversarial networks trained with Keras' plain ``fit``.

A generator G maps noise z ~ N(0, I) (and optionally a class label) to an image; a discriminator
(or *critic*) D scores images. :class:`GAN` alternates their updates inside ``train_step``:
``critic_steps`` discriminator updates, then one generator update, each with its own optimizer.
Three objectives are available (``loss=``):

- ``"minimax"`` — the original game ``min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]``
  (Goodfellow et al. 2014, eq. 1). The generator minimizes ``log(1 - D(G(z)))``, whose gradient
  vanishes when D confidently rejects the fakes.
- ``"non_saturating"`` — the same discriminator, but the generator maximizes ``log D(G(z))``
  (Goodfellow et al. 2014, section 3): same fixed point, strong gradients early on.
- ``"wasserstein_gp"`` — the critic maximizes ``E[D(x)] - E[D(G(z))]`` (Arjovsky et al. 2017) with
  the gradient penalty ``lambda * E[(||grad D(x_hat)||_2 - 1)^2]`` at random interpolates
  ``x_hat = eps x + (1 - eps) G(z)``, ``eps ~ U(0, 1)`` (Gulrajani et al. 2017, Algorithm 1,
  lambda = 10, 5 critic steps per generator step).

The discriminator returns one unbounded score per image: a logit for the first two losses (so
``D(x) = sigmoid(score)``), the critic value for the Wasserstein loss. Images are grey levels in
[0, 1] at every interface; the builders below use ``tanh`` inside and rescale.

Gradients and the training-step convention come from :mod:`utils.backend` (TensorFlow, JAX or
PyTorch); everything else is ``keras.ops``.

References:

- I. Goodfellow et al. (2014). Generative adversarial nets. *NeurIPS*.
- A. Radford, L. Metz, S. Chintala (2016). Unsupervised representation learning with deep
  convolutional generative adversarial networks (DCGAN). *ICLR*.
- M. Mirza, S. Osindero (2014). Conditional generative adversarial nets. arXiv:1411.1784.
- M. Arjovsky, S. Chintala, L. Bottou (2017). Wasserstein generative adversarial networks. *ICML*.
- I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville (2017). Improved training of
  Wasserstein GANs. *NeurIPS*.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import layers, ops

from . import backend
from .checks import check_labels, check_seed, finite_number
from .checks import positive_int as _positive_int
from .contract import GenerativeModel, LikelihoodUnavailableError

LOSSES = ("minimax", "non_saturating", "wasserstein_gp")


def _check_loss(loss):
    if loss not in LOSSES:
        raise ValueError(
            f"unknown GAN loss {loss!r}; expected one of {', '.join(map(repr, LOSSES))}."
        )


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------


def discriminator_loss(loss, real_scores, fake_scores):
    """Discriminator (critic) loss to *minimize*, averaged over the batch (nats for the first two).

    - minimax / non_saturating: ``-E[log D(x)] - E[log(1 - D(G(z)))]`` with ``D = sigmoid(score)``,
      written as ``softplus(-s_real) + softplus(s_fake)`` for stability.
    - wasserstein_gp: ``E[D(G(z))] - E[D(x)]`` (the penalty is added separately).

    Args:
        loss: one of :data:`LOSSES`.
        real_scores, fake_scores: (B, 1) or (B,) scores of real and generated images.

    Returns:
        Scalar float tensor.

    Raises:
        ValueError: unknown ``loss``.
    """
    _check_loss(loss)
    if loss == "wasserstein_gp":
        return ops.mean(fake_scores) - ops.mean(real_scores)
    return ops.mean(ops.softplus(-real_scores)) + ops.mean(ops.softplus(fake_scores))


def generator_loss(loss, fake_scores):
    """Generator loss to *minimize*, averaged over the batch.

    - minimax: ``E[log(1 - D(G(z)))] = -E[softplus(s)]`` (saturates when D(G(z)) -> 0);
    - non_saturating: ``-E[log D(G(z))] = E[softplus(-s)]``;
    - wasserstein_gp: ``-E[D(G(z))]``.

    Raises:
        ValueError: unknown ``loss``.
    """
    _check_loss(loss)
    if loss == "minimax":
        return -ops.mean(ops.softplus(fake_scores))
    if loss == "non_saturating":
        return ops.mean(ops.softplus(-fake_scores))
    return -ops.mean(fake_scores)


def gradient_penalty(critic, real, fake, *, weight=10.0, labels=None, seed=None):
    """WGAN-GP penalty ``weight * E[(||grad_x D(x_hat)||_2 - 1)^2]`` (Gulrajani et al. 2017, eq. 3).

    ``x_hat = eps * real + (1 - eps) * fake`` with one ``eps ~ U(0, 1)`` per example. The result
    is differentiable with respect to the critic's weights (double back-propagation).

    Args:
        critic: a model scoring (B, ...) inputs (or ``[inputs, labels]`` when ``labels`` is given)
            with (B, 1) or (B,) values.
        real, fake: (B, ...) tensors of one shape.
        weight: lambda, >= 0.
        labels: (B,) integer labels for a conditional critic.
        seed: int or ``keras.random.SeedGenerator`` for ``eps``.

    Returns:
        Scalar float tensor (>= 0).

    Raises:
        ValueError: ``real`` and ``fake`` shapes differ, or a negative weight.
    """
    if tuple(real.shape) != tuple(fake.shape):
        raise ValueError(
            f"real and fake must have the same shape, "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}."
        )
    weight = finite_number("weight", weight, low=0.0)
    real = ops.convert_to_tensor(real)
    fake = ops.cast(ops.convert_to_tensor(fake), real.dtype)
    rank = len(real.shape)
    eps = keras.random.uniform(
        (ops.shape(real)[0],) + (1,) * (rank - 1), dtype=real.dtype, seed=seed
    )
    x_hat = eps * real + (1.0 - eps) * fake
    score = (
        (lambda t: critic([t, labels], training=True))
        if labels is not None
        else (lambda t: critic(t, training=True))
    )
    grads = backend.input_gradients(score, x_hat)
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=tuple(range(1, rank))) + 1e-12)
    return weight * ops.mean(ops.square(norms - 1.0))


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------


class OptimizerPair:
    """The discriminator's and the generator's optimizers, seen by Keras as one ``optimizer``.

    Keras' trainers carry the state of ``model.optimizer`` through ``fit``: on JAX, only the
    variables of that one object travel in and out of the compiled training step. A GAN has two
    optimizers; this object lists both optimizers' variables (discriminator first) so that both
    keep their moments and step counters under every backend. Updates are applied by the two
    optimizers themselves, in :meth:`GAN.discriminator_step` and :meth:`GAN.generator_step`.
    """

    built = True

    def __init__(self, d_optimizer, g_optimizer):
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    @property
    def variables(self):
        return list(self.d_optimizer.variables) + list(self.g_optimizer.variables)

    def build(self, variables):
        """Nothing to do: each optimizer is built on its own network in :meth:`GAN.compile`."""


@keras.saving.register_keras_serializable(package="course")
class GAN(GenerativeModel, keras.Model):
    """A generator and a discriminator trained in alternation by ``fit``.

    ``fit(x)`` for an unconditional GAN, ``fit(x, labels)`` for a conditional one (integer labels
    of shape (B,)). Each ``train_step`` splits its batch of B images into ``k = critic_steps``
    slices of ``B // k``, runs one :meth:`discriminator_step` on each (fresh real images and
    fresh noise for every critic update, as in Gulrajani et al. 2017, Algorithm 1), then one
    :meth:`generator_step` with ``B // k`` noise vectors. So for WGAN-GP with 5 critic steps of
    64 images, call ``fit(..., batch_size=320)``; an epoch then makes N / 320 generator updates.
    Logged metrics:
    ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake`` (mean D(x) and D(G(z)) as probabilities for
    the minimax and non-saturating losses; mean critic values for the Wasserstein loss), and for
    WGAN-GP also ``gp`` (the weighted penalty) and ``w_distance`` (``E[D(x)] - E[D(G(z))]``, the
    critic's estimate of the Wasserstein-1 distance up to scale).

    Args:
        generator: keras Model, z (B, latent_dim) -> images (B, H, W, C); conditional:
            ``[z, labels]`` -> images.
        discriminator: keras Model, images -> (B, 1) scores; conditional: ``[images, labels]``.
        loss: ``"minimax"``, ``"non_saturating"`` (default) or ``"wasserstein_gp"``.
        critic_steps: discriminator updates per generator update (positive int; 5 for WGAN-GP).
        gp_weight: lambda of the gradient penalty (>= 0; used by ``"wasserstein_gp"`` only).
        num_classes: number of classes of a conditional GAN (None: unconditional).
        seed: seed of the model-owned ``keras.random.SeedGenerator`` (noise and ``eps``).

    Use ``compile(d_optimizer=..., g_optimizer=...)`` before ``fit``.

    Raises:
        ValueError: unknown loss, ``critic_steps`` < 1, negative ``gp_weight``, a bad
            ``num_classes``, or generator and discriminator shapes that do not fit together.
    """

    def __init__(
        self,
        generator,
        discriminator,
        *,
        loss="non_saturating",
        critic_steps=1,
        gp_weight=10.0,
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_loss(loss)
        critic_steps = _positive_int("critic_steps", critic_steps)
        gp_weight = finite_number("gp_weight", gp_weight, low=0.0)
        if num_classes is not None:
            num_classes = _positive_int("num_classes", num_classes)
        n_inputs = 1 if num_classes is None else 2
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if (
                not isinstance(net, keras.Model)
                or len(getattr(net, "inputs", None) or []) != n_inputs
            ):
                kind = "conditional (num_classes given)" if n_inputs == 2 else "unconditional"
                raise ValueError(
                    f"the {name} must be a built keras Model with {n_inputs} input(s) "
                    f"for an {kind} GAN, "
                    f"got {len(getattr(net, 'inputs', None) or [])}."
                )
        out_shape, d_in_shape = (
            tuple(generator.outputs[0].shape[1:]),
            tuple(discriminator.inputs[0].shape[1:]),
        )
        if out_shape != d_in_shape:
            raise ValueError(
                f"the generator makes samples of shape {out_shape} "
                f"but the discriminator takes {d_in_shape}."
            )
        if tuple(discriminator.outputs[0].shape[1:]) not in ((1,), ()):
            raise ValueError(
                f"the discriminator must output one score per example, "
                f"got shape {discriminator.outputs[0].shape}."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.loss_name = loss
        self.critic_steps = critic_steps
        self.gp_weight = float(gp_weight)
        self.num_classes = num_classes
        self.seed = seed
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = ["d_loss", "g_loss", "d_real", "d_fake"]
        if loss == "wasserstein_gp":
            names += ["gp", "w_distance"]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.built = True  # both networks are built keras Models

    @property
    def metrics(self):
        return list(self.trackers.values())

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Set the two optimizers (default: Adam(2e-4, beta_1=0.5) each, as in DCGAN).

        Other keyword arguments go to ``keras.Model.compile``; ``jit_compile`` defaults to
        :func:`utils.backend.default_jit_compile` (the fastest setting measured on each backend).
        The pair is exposed to Keras as ``self.optimizer`` (an :class:`OptimizerPair`), so that the
        JAX trainer carries both optimizers' state through ``fit``.

        Raises:
            TypeError: an optimizer that is not a ``keras.optimizers.Optimizer``.
        """
        for name, opt in (("d_optimizer", d_optimizer), ("g_optimizer", g_optimizer)):
            if opt is not None and not isinstance(opt, keras.optimizers.Optimizer):
                raise TypeError(
                    f"{name} must be a keras.optimizers.Optimizer, got {type(opt).__name__}."
                )
        kwargs.setdefault("jit_compile", backend.default_jit_compile())
        kwargs.pop("optimizer", None)
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.optimizer = OptimizerPair(self.d_optimizer, self.g_optimizer)

    def get_compile_config(self):
        """None: the two optimizers are not saved with the model; call ``compile`` again after
        loading."""
        return None

    # -- helpers ------------------------------------------------------------------------------

    def _with_labels(self, x, labels):
        if self.num_classes is None:
            return x
        if labels is None:
            raise ValueError("this GAN is conditional: pass integer labels of shape (B,).")
        return [x, labels]

    def _probability(self, scores):
        return scores if self.loss_name == "wasserstein_gp" else ops.sigmoid(scores)

    def noise(self, n):
        """(n, latent_dim) standard normal noise from the model's seed generator."""
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def call(self, inputs, training=False):
        """Generator output for noise ``z`` (or ``[z, labels]`` when conditional)."""
        return self.generator(inputs, training=training)

    # -- the two phases -----------------------------------------------------------------------

    def discriminator_step(self, real, labels=None):
        """One discriminator update on a batch of real images; the generator is not changed.

        Returns:
            dict of scalar tensors: ``d_loss``, ``d_real``, ``d_fake`` (and ``gp``, ``w_distance``).
        """
        real = ops.convert_to_tensor(real)
        batch = ops.shape(real)[0]
        fake = self.generator(self._with_labels(self.noise(batch), labels), training=True)
        fake = ops.cast(ops.stop_gradient(fake), real.dtype)

        def loss_fn():
            s_real = self.discriminator(self._with_labels(real, labels), training=True)
            s_fake = self.discriminator(self._with_labels(fake, labels), training=True)
            loss = discriminator_loss(self.loss_name, s_real, s_fake)
            aux = {
                "d_real": ops.mean(self._probability(s_real)),
                "d_fake": ops.mean(self._probability(s_fake)),
            }
            if self.loss_name == "wasserstein_gp":
                gp = gradient_penalty(
                    self.discriminator,
                    real,
                    fake,
                    weight=self.gp_weight,
                    labels=labels if self.num_classes else None,
                    seed=self.seed_generator,
                )
                aux["gp"] = gp
                aux["w_distance"] = -loss
                loss = loss + gp
            return loss, aux

        variables = self.discriminator.trainable_variables
        loss, aux, grads = backend.value_and_gradients(loss_fn, variables, has_aux=True)
        self.d_optimizer.apply_gradients(zip(grads, variables))
        return {"d_loss": loss, **aux}

    def generator_step(self, batch_size, labels=None):
        """One generator update on ``batch_size`` fresh noise vectors; the discriminator is not
        changed.

        Returns:
            dict with the scalar ``g_loss``.
        """

        def loss_fn():
            fake = self.generator(self._with_labels(self.noise(batch_size), labels), training=True)
            return generator_loss(
                self.loss_name, self.discriminator(self._with_labels(fake, labels), training=True)
            )

        variables = self.generator.trainable_variables
        loss, grads = backend.value_and_gradients(loss_fn, variables)
        self.g_optimizer.apply_gradients(zip(grads, variables))
        return {"g_loss": loss}

    def train_step(self, *args):
        """One GAN update under Keras' ``fit`` on any backend (see
        :func:`utils.backend.custom_train_step`)."""
        return backend.custom_train_step(self, self._train_step, *args)

    def _train_step(self, data):
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.num_classes is None:
            labels = None
        elif labels is None:
            raise ValueError("a conditional GAN is trained with fit(images, labels).")
        real = ops.convert_to_tensor(real)
        logs = {}
        # The batch size is a Python int where the backend knows it (JAX traces one shape per
        # batch size), a tensor otherwise (a TensorFlow graph with an unknown batch dimension).
        batch = real.shape[0] if real.shape[0] is not None else ops.shape(real)[0]
        if self.critic_steps == 1:
            logs.update(self.discriminator_step(real, labels))
            logs.update(self.generator_step(batch, labels))
        else:
            # k critic updates, each on its own slice of the batch (fresh real data per critic
            # iteration, as in Gulrajani et al. 2017, Algorithm 1); indices wrap around when the
            # last batch of an epoch is short.
            if isinstance(batch, int):
                chunk = max(batch // self.critic_steps, 1)
            else:
                chunk = ops.maximum(batch // self.critic_steps, 1)
            for i in range(self.critic_steps):
                index = ops.mod(i * chunk + ops.arange(chunk), batch)
                part_labels = None if labels is None else ops.take(labels, index, axis=0)
                logs.update(self.discriminator_step(ops.take(real, index, axis=0), part_labels))
            logs.update(self.generator_step(chunk, part_labels))
        for name, tracker in self.trackers.items():
            tracker.update_state(logs[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # -- sampling -----------------------------------------------------------------------------

    def generate(self, n=None, *, labels=None, noise=None, seed=None, batch_size=1000):
        """Generator outputs (as NumPy, float32) for ``n`` new noise vectors or the given ``noise``.

        The course contract's ``generate`` (:mod:`utils.contract`).

        Args:
            n: number of samples (ignored when ``noise`` is given).
            labels: (n,) integer classes (required for a conditional GAN).
            noise: (n, latent_dim) fixed noise (e.g. for a grid that is redrawn every epoch).
            seed: int >= 0 for repeatable noise (default: the model's seed generator).
            batch_size: samples per generator call.

        Returns:
            (n, ...) array; images in [0, 1] for the course's image generators.

        Raises:
            ValueError, TypeError: neither ``n`` nor ``noise``, noise of the wrong shape, a bad
                ``seed`` or ``batch_size``, or labels missing / of the wrong length / not ids.
        """
        seed = check_seed(seed)
        batch_size = _positive_int("batch_size", batch_size)
        if noise is None:
            n = _positive_int("n", n)
            noise = keras.random.normal(
                (n, self.latent_dim), seed=seed if seed is not None else self.seed_generator
            )
        noise = ops.convert_to_numpy(noise).astype("float32")
        if noise.ndim != 2 or noise.shape[1] != self.latent_dim or not np.all(np.isfinite(noise)):
            raise ValueError(
                f"noise must be finite and of shape (n, {self.latent_dim}), got {noise.shape}."
            )
        labels = check_labels(labels, len(noise), self.num_classes)
        outputs = []
        for start in range(0, len(noise), batch_size):
            z = noise[start : start + batch_size]
            inputs = z if labels is None else [z, labels[start : start + batch_size]]
            outputs.append(ops.convert_to_numpy(self.generator(inputs, training=False)))
        return np.concatenate(outputs)

    likelihood_kind = "unavailable"

    def log_likelihood(self, x, *, labels=None, **kwargs):
        """A GAN has no log-likelihood: this always raises
        :class:`utils.contract.LikelihoodUnavailableError`.

        The generator is an *implicit* model: it maps noise z (latent_dim values) to an image
        (784 values) without any density. Its samples lie on an at most latent_dim-dimensional
        surface in pixel space, so ``p(x)`` is zero almost everywhere (and infinite on the
        surface), and the discriminator estimates a density *ratio*, not a density. Compare GANs
        by their samples instead (``utils.metrics.sample_quality``: FID, KID, precision, recall).
        """
        raise LikelihoodUnavailableError(
            "a GAN defines no log-likelihood: the generator maps noise to images without a density "
            f"(its samples lie on a surface of at most {self.latent_dim} dimensions "
            "in pixel space). "
            "Score it by its samples with utils.metrics.sample_quality "
            "(FID, KID, precision, recall)."
        )

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "loss": self.loss_name,
            "critic_steps": self.critic_steps,
            "gp_weight": self.gp_weight,
            "num_classes": self.num_classes,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)


# ----------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------


def build_dcgan_generator(
    latent_dim=64, *, filters=64, num_classes=None, embedding_dim=16, name="generator"
):
    """A DCGAN generator for 28x28x1 images (Radford et al. 2016, section 3, scaled to MNIST).

    ``z -> Dense(7*7*2f) -> BN -> ReLU -> ConvT(f, 4, stride 2) -> BN -> ReLU
    -> ConvT(1, 4, stride 2)
    -> tanh``, then rescaled to [0, 1]. Conditional (Mirza and Osindero 2014): the label's learned
    embedding is concatenated to z.

    Args:
        latent_dim: size of z (positive int).
        filters: f, the width (positive int).
        num_classes: classes of a conditional generator; its inputs are then ``[z, labels]`` with
            integer labels of shape (B,).
        embedding_dim: size of the label embedding.

    Returns:
        keras Model: (B, latent_dim) float32 [, (B,) int] -> (B, 28, 28, 1) in [0, 1].

    Raises:
        ValueError: a non-positive size.
    """
    latent_dim, filters = _positive_int("latent_dim", latent_dim), _positive_int("filters", filters)
    z = keras.Input((latent_dim,), name="z")
    inputs, h = [z], z
    if num_classes is not None:
        label = keras.Input((), dtype="int32", name="label")
        emb = layers.Embedding(
            _positive_int("num_classes", num_classes), _positive_int("embedding_dim", embedding_dim)
        )(label)
        inputs.append(label)
        h = layers.Concatenate()([z, emb])
    h = layers.Dense(7 * 7 * 2 * filters, use_bias=False)(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    h = layers.Reshape((7, 7, 2 * filters))(h)
    h = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(h)
    h = layers.ReLU()(layers.BatchNormalization()(h))
    h = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(h)
    out = layers.Rescaling(0.5, offset=0.5, name="to_unit_interval")(h)
    return keras.Model(inputs if len(inputs) > 1 else z, out, name=name)


def build_dcgan_discriminator(*, filters=64, num_classes=None, dropout=0.3, name="discriminator"):
    """A DCGAN discriminator / WGAN critic for 28x28x1 images in [0, 1].

    ``x -> [-1, 1] -> Conv(f, 4, stride 2) -> LeakyReLU(0.2) -> Dropout -> Conv(2f, 4, stride 2)
    -> LeakyReLU(0.2) -> Dropout -> Dense(1)``. No batch normalization, so each example's score
    depends on that example alone, as the gradient penalty requires (Gulrajani et al. 2017,
    section 4). Conditional: the label's learned 28x28 embedding is stacked as a second channel.

    Returns:
        keras Model: (B, 28, 28, 1) [, (B,) int] -> (B, 1) unbounded scores.

    Raises:
        ValueError: a non-positive width, or ``dropout`` outside [0, 1).
    """
    filters = _positive_int("filters", filters)
    if not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    x = keras.Input((28, 28, 1), name="image")
    inputs, h = [x], layers.Rescaling(2.0, offset=-1.0)(x)
    if num_classes is not None:
        label = keras.Input((), dtype="int32", name="label")
        emb = layers.Embedding(_positive_int("num_classes", num_classes), 28 * 28)(label)
        inputs.append(label)
        h = layers.Concatenate()([h, layers.Reshape((28, 28, 1))(emb)])
    for width in (filters, 2 * filters):
        h = layers.Conv2D(width, 4, strides=2, padding="same")(h)
        h = layers.LeakyReLU(0.2)(h)
        if dropout:
            h = layers.Dropout(dropout)(h)
    out = layers.Dense(1, name="score")(layers.Flatten()(h))
    return keras.Model(inputs if len(inputs) > 1 else x, out, name=name)


def build_mlp(input_dim, output_dim, hidden_units=(128, 128), *, name="mlp"):
    """A ReLU multilayer perceptron (B, input_dim) -> (B, output_dim) with a linear output.

    Used for the 2-D toy GANs (generator: noise -> point; discriminator: point -> score).

    Raises:
        ValueError: a non-positive size.
    """
    inputs = keras.Input((_positive_int("input_dim", input_dim),))
    h = inputs
    for units in hidden_units:
        h = layers.Dense(_positive_int("hidden unit count", units), activation="relu")(h)
    return keras.Model(inputs, layers.Dense(_positive_int("output_dim", output_dim))(h), name=name)
