"""The course's contract for generative models, so every family can be scored the same way.

Every generative model the course trains is a ``keras.Model`` subclass that also derives from
:class:`GenerativeModel` and offers

- ``generate(n, *, labels=None, seed=None) -> np.ndarray``: ``n`` new images, float32, shape
  (n, 28, 28, 1), values in [0, 1]; models of binary data return binary samples where the model
  defines them (say so in the docstring). ``labels`` are integer class ids (n,) for conditional
  models, ``None`` otherwise. ``seed`` (int) makes the call repeatable; ``None`` draws from the
  model's own ``keras.random.SeedGenerator``.
- ``log_likelihood(x, *, labels=None, ...) -> np.ndarray``: ``log p(x)`` per image, shape (n,),
  float64, in **nats per image** (``log``, not ``-log``: larger is better; the negative is the
  NLL, and :func:`utils.likelihood.nats_to_bits_per_dim` converts). What the number is, is the
  class attribute ``likelihood_kind``, one of :data:`LIKELIHOOD_KINDS`:

  - ``"exact"``: the model's exact log-probability (PixelCNN, normalizing flows);
  - ``"lower_bound"``: a bound ``<= log p(x)`` in expectation (VAE: ELBO / importance-weighted
    bound, Burda et al. 2016; diffusion: the variational bound);
  - ``"stochastic_estimate"``: an unbiased-in-``Z`` Monte Carlo estimate with a standard error
    (RBM with AIS, Salakhutdinov and Murray 2008);
  - ``"unavailable"``: the model defines no density (GANs, Goodfellow et al. 2014): the method
    raises :class:`LikelihoodUnavailableError`, which explains why.

Argument checks shared by every family live in :mod:`utils.checks`.
"""

from __future__ import annotations

LIKELIHOOD_KINDS = ("exact", "lower_bound", "stochastic_estimate", "unavailable")


class LikelihoodUnavailableError(NotImplementedError):
    """Raised by ``log_likelihood`` of a model that defines no density (an implicit model)."""


class GenerativeModel:
    """Mixin of the course contract; combine with ``keras.Model``
    (``class VAE(GenerativeModel, keras.Model)``).

    Subclasses set ``likelihood_kind`` and ``num_classes`` (``None`` for an unconditional model)
    and implement :meth:`generate` and :meth:`log_likelihood`.
    """

    likelihood_kind = "unavailable"
    num_classes = None

    def generate(self, n, *, labels=None, seed=None):  # pragma: no cover - each family overrides
        raise NotImplementedError(f"{type(self).__name__} does not implement generate().")

    def log_likelihood(self, x, *, labels=None, **kwargs):
        raise LikelihoodUnavailableError(f"{type(self).__name__} defines no log-likelihood.")
