"""Shared code of the course *Generative models with Keras 3*.

Every chapter notebook starts with ``import utils``. Importing the package imports Keras and the
modules that define the course's models and layers (VAE, GAN, PixelCNN, ...), so that they are
registered with Keras' serialization: ``import utils`` followed by
``keras.saving.load_model("model.keras")`` loads any course model in a fresh process. Before
Keras starts its backend, TensorFlow's C++ messages are turned down (``TF_CPP_MIN_LOG_LEVEL=3``
unless set; its fixed start-up lines are filtered out). The other submodules load on first use.

Submodules, by concept:

- ``utils.runtime``: smoke/full mode, seeds, the environment banner, recorded metrics and
  parameters.
- ``utils.data``: MNIST with SHA-256 verification, binarization, validation split, smoke-size
  limits.
- ``utils.autoencoders``: the dense and convolutional encoder/decoder builders, the autoencoder,
  its fit helper.
- ``utils.reconstruction``: reconstruction errors, the PCA baseline, linear probes.
- ``utils.likelihood``: log-densities, KL, log-mean-exp, nats <-> bits/dim, dequantization.
- ``utils.contract`` / ``utils.checks``: the model contract; the shared argument checks.
- ``utils.classifier``: the course's MNIST feature classifier.
- ``utils.callbacks``: per-step logs, sample grids and FID during training.
- ``utils.toy``: 2-D toy distributions (the ring of Gaussians).
- ``utils.likelihood``: likelihood units (nats, bits/dim), Bernoulli/Gaussian log-likelihoods, the
  Gaussian KL, log-mean-exp, and the 8-bit protocol of flows and diffusion (uniform dequantization,
  bits/dim in 8-bit space).
- ``utils.vae``: the Sampling layer (reparameterization trick), KL and log-likelihoods, the VAE
  model, importance-weighted NLL.
- ``utils.metrics``: the course's MNIST feature classifier and the sample-quality metrics (FID,
  KID, Inception Score, class histogram, the real-data floor).
- ``utils.gan``: the GAN model (minimax, non-saturating, WGAN-GP), DCGAN and MLP builders (the
  2-D ring benchmark is in ``utils.toy``, the sample-grid callback in ``utils.callbacks``).
- ``utils.pixelcnn``: masked convolutions, PixelCNN and Gated PixelCNN, exact likelihood, the
  pixel-by-pixel sampler.
- ``utils.flows``: normalizing flows: affine couplings (checkerboard, channel), squeeze, ActNorm,
  invertible 1x1 convolutions, dequantization and the logit transform, the multi-scale RealNVP /
  Glow model of 8-bit images, a 2-D toy flow.
- ``utils.boltzmann``: the restricted Boltzmann machine (CD-k, PCD), annealed importance sampling
  and exact partition functions, deep belief nets, the deep energy-based model trained with SGLD.
- ``utils.diffusion``: noise schedules (linear, cosine) and the forward process, the U-Net with
  time and class embeddings, DDPM / DDIM samplers, classifier-free guidance and inpainting, the
  diffusion and flow-matching models.
- ``utils.backend``: the only code that talks to TensorFlow, JAX or PyTorch directly: gradients,
  input gradients, the training-step convention, compiled pure functions, the default
  ``jit_compile``.
- ``utils.plotting``: headless-safe matplotlib figures (grids, latent maps, manifolds, curves).
- ``utils.run``: the course runner (``python -m utils.run``), the README chapter table, and the
  committed numbers of any chapter (``utils.chapter_metrics("05")``, ``utils.chapter_metric``).
- ``utils.pretrained``: the committed models of ``models/``: save with a JSON card (SHA-256,
  training, metrics, a deterministic check), verified loading (``USE_PRETRAINED``).
- ``utils.compare``: chapter 08's benchmark: the rows (committed model, chapter, sampler,
  likelihood metric), sampling each as its chapter did, scoring all on one protocol.
- ``utils.student``: the student edition (solutions replaced by stubs, outputs cleared).
"""

from __future__ import annotations

import importlib
import os

from .runtime import quiet_native_stderr, share_cores_between_test_workers

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
    "chapter_metrics": "run",
    "chapter_metric": "run",
    "chapter_parameter": "run",
}
_SUBMODULES = {
    "runtime",
    "data",
    "autoencoders",
    "reconstruction",
    "plotting",
    "run",
    "classifier",
    "callbacks",
    "toy",
    "exercises",
    "vae",
    "metrics",
    "gan",
    "backend",
    "pixelcnn",
    "flows",
    "boltzmann",
    "diffusion",
    "student",
    "checks",
    "contract",
    "likelihood",
    "pretrained",
    "compare",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)

# Modules whose classes are registered with keras.saving (package "course"): imported now.
_MODEL_MODULES = ("vae", "gan", "pixelcnn", "flows", "boltzmann", "diffusion")


def _register_models():
    # TensorFlow reads these once, at its first import: errors such as "failed call to cuInit" on a
    # machine without a GPU and grappler's "remapper failed" are level-2 C++ logs that no Python
    # code can catch. Set TF_CPP_MIN_LOG_LEVEL=0 before `import utils` to see everything.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    share_cores_between_test_workers()  # only inside a pytest-xdist worker
    try:
        with quiet_native_stderr():
            import keras
    except ImportError as error:  # pragma: no cover - an environment without the requirements
        raise ImportError(
            "the course needs Keras 3: pip install -r requirements.txt (see README)."
        ) from error
    if int(keras.__version__.split(".")[0]) < 3:
        raise ImportError(
            f"the course needs Keras 3, found Keras {keras.__version__}: "
            "pip install -r requirements.txt."
        )
    for name in _MODEL_MODULES:
        importlib.import_module(f".{name}", __name__)


_register_models()


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'utils' has no attribute {name!r}")


def __dir__():
    return __all__
