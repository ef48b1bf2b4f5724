"""Shared code of the course *Generative models with Keras 3*.

Every chapter notebook starts with ``import utils``. Importing the package is cheap: the submodules
(and Keras with them) load on first use, so ``python -m utils.run`` does not start a deep-learning
backend just to execute notebooks.

Submodules, by concept:

- ``utils.runtime``: smoke/full mode, seeds, the environment banner, recorded metrics and parameters.
- ``utils.data``: MNIST with SHA-256 verification, binarization, validation split, smoke-size limits.
- ``utils.architectures``: the dense and convolutional encoder/decoder builders.
- ``utils.evaluation``: reconstruction errors, the PCA baseline, linear probes.
- ``utils.likelihood``: likelihood units (nats, bits/dim), Bernoulli/Gaussian log-likelihoods, the
  Gaussian KL, log-mean-exp, and the 8-bit protocol of flows and diffusion (uniform dequantization,
  bits/dim in 8-bit space).
- ``utils.training``: compile-and-fit helpers with timing.
- ``utils.vae``: the Sampling layer (reparameterization trick), KL and log-likelihoods, the VAE
  model, importance-weighted NLL.
- ``utils.metrics``: the course's MNIST feature classifier and the sample-quality metrics (FID,
  KID, Inception Score, class histogram, the real-data floor).
- ``utils.gan``: the GAN model (minimax, non-saturating, WGAN-GP), DCGAN builders, the 2-D ring
  benchmark, the sample-grid callback.
- ``utils.pixelcnn``: masked convolutions, PixelCNN and Gated PixelCNN, exact likelihood, the
  pixel-by-pixel sampler.
- ``utils.autodiff``: the backend-specific gradient computations (TensorFlow for now).
- ``utils.plotting``: headless-safe matplotlib figures (grids, latent maps, manifolds, curves).
- ``utils.run``: the course runner (``python -m utils.run``).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> submodule that defines it. Resolved lazily by __getattr__ (PEP 562).
_EXPORTS = {
    "smoke_mode": "runtime",
    "set_seed": "runtime",
    "check_environment": "runtime",
    "record_metric": "runtime",
    "recorded_metrics": "runtime",
    "show_parameters": "runtime",
    "timed": "runtime",
    "load_mnist": "data",
    "load_binarized_test": "data",
    "DynamicBinarization": "data",
    "MNISTNotFoundError": "data",
    "MNISTChecksumError": "data",
}
_SUBMODULES = {
    "runtime", "data", "architectures", "evaluation", "plotting", "run", "training", "vae",
    "metrics", "gan", "autodiff", "pixelcnn", "likelihood",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'utils' has no attribute {name!r}")


def __dir__():
    return __all__
