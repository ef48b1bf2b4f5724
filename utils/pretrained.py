"""Pretrained course models: saved by each chapter's full-mode run, verified when loaded.

Every chapter's full-mode run by the course runner can save its headline models in ``models/``
(``python -m utils.run -p SAVE_PRETRAINED True chapters/NN_topic.ipynb``). Each model is two
files:

- ``models/NAME.keras``: the model in Keras' format, float32, *without* optimizer state (a
  pretrained model is for sampling and scoring; it can still be compiled and trained again);
- ``models/NAME.json``: its card: chapter, class, trainable parameters, training time and
  recipe, the data protocol, the backend and versions it was trained with, the SHA-256 and size
  of the ``.keras`` file, the chapter's headline metrics of that run, and a *check*: a
  deterministic number computed from the model right after saving (see :func:`model_check`),
  which loading must reproduce.

With ``USE_PRETRAINED = True`` in its parameters cell a chapter loads these models with
:func:`load_pretrained` instead of training them, so a class does not wait for the training.
:func:`load_pretrained` verifies the file's SHA-256 against the card before Keras reads it.

The folder is ``models/`` at the repository root, or ``$COURSE_MODELS_DIR`` when set.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import random
import re
import warnings
from pathlib import Path

import keras
import numpy as np

from .checks import positive_int

__all__ = [
    "MODELS_DIR_ENV",
    "PretrainedChecksumError",
    "PretrainedNotFoundError",
    "card_path",
    "list_pretrained",
    "load_pretrained",
    "model_check",
    "model_path",
    "models_dir",
    "read_card",
    "save_pretrained",
    "verify_pretrained",
    "describe",
]

MODELS_DIR_ENV = "COURSE_MODELS_DIR"
_REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
CARD_KEYS = (
    "name",
    "chapter",
    "class",
    "file",
    "sha256",
    "bytes",
    "parameters",
    "training_seconds",
    "training",
    "data",
    "backend",
    "versions",
    "saved_at",
    "metrics",
    "check",
    "extra",
)


class PretrainedNotFoundError(FileNotFoundError):
    """A pretrained model or its card is missing from the models folder."""


class PretrainedChecksumError(ValueError):
    """A pretrained model file does not match the SHA-256 on its card."""


def models_dir() -> Path:
    """The models folder: ``$COURSE_MODELS_DIR`` when set, else ``models/`` in the repository."""
    env = os.environ.get(MODELS_DIR_ENV)
    return Path(env) if env else _REPO_MODELS


def _check_name(name) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"name must be lower-case letters, digits and '_', starting with a letter (e.g. "
            f"'rbm_pcd'), got {name!r}."
        )
    return name


def model_path(name, directory=None) -> Path:
    """Path of the ``.keras`` file of pretrained model ``name``."""
    return Path(directory or models_dir()) / f"{_check_name(name)}.keras"


def card_path(name, directory=None) -> Path:
    """Path of the JSON card of pretrained model ``name``."""
    return Path(directory or models_dir()) / f"{_check_name(name)}.json"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_pretrained(directory=None) -> list[str]:
    """Names of the models that have a card in the models folder, sorted."""
    folder = Path(directory or models_dir())
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def read_card(name, directory=None) -> dict:
    """The card of pretrained model ``name`` (a dict with the keys of :data:`CARD_KEYS`).

    Raises:
        PretrainedNotFoundError: no card; the message says how to get one.
        ValueError: the card is not valid JSON or lacks keys.
    """
    path = card_path(name, directory)
    if not path.is_file():
        raise PretrainedNotFoundError(
            f"no pretrained model {name!r}: {path} does not exist. The committed models are in "
            f"models/ ({', '.join(list_pretrained(directory)) or 'none found'}); restore them with "
            f"`git checkout -- models/`, or train the model by running its chapter with "
            f"USE_PRETRAINED = False."
        )
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); restore it with git.") from None
    missing = [key for key in CARD_KEYS if key not in card]
    if missing:
        raise ValueError(f"{path} lacks the keys {missing}; restore it with git.")
    return card


def verify_pretrained(name, directory=None) -> dict:
    """Check that ``NAME.keras`` exists and matches the SHA-256 and size on its card.

    Returns:
        The card.

    Raises:
        PretrainedNotFoundError: the card or the model file is missing.
        PretrainedChecksumError: the file differs from the one the card describes (corrupt,
            truncated, a Git LFS pointer, or replaced by another run).
    """
    card = read_card(name, directory)
    path = model_path(name, directory)
    if not path.is_file():
        raise PretrainedNotFoundError(
            f"{path} is missing although its card exists; restore it with "
            f"`git checkout -- models/` or re-run chapter {card['chapter']} in full mode with "
            f"SAVE_PRETRAINED = True."
        )
    size, sha = path.stat().st_size, _file_sha256(path)
    if sha != card["sha256"] or size != card["bytes"]:
        raise PretrainedChecksumError(
            f"{path} ({size:,} bytes, SHA-256 {sha[:12]}...) is not the file its card describes "
            f"({card['bytes']:,} bytes, SHA-256 {card['sha256'][:12]}...). Restore it with "
            f"`git checkout -- models/`, or re-run chapter {card['chapter']} in full mode with "
            f"SAVE_PRETRAINED = True to save a new model and card together."
        )
    return card


def load_pretrained(name, *, directory=None, verify=True):
    """Load a committed course model after checking its SHA-256 against its card.

    Args:
        name: the model's name, e.g. ``"rbm_pcd"`` (see :func:`list_pretrained`).
        directory: the models folder (default: :func:`models_dir`).
        verify: check the file's SHA-256 and size first (default True).

    Returns:
        The model (a ``keras.Model`` of the course, not compiled, with the weights of the
        chapter's full-mode run). Its card is :func:`read_card` ``(name)``.

    Raises:
        ValueError: a malformed ``name``.
        PretrainedNotFoundError, PretrainedChecksumError: see :func:`verify_pretrained`.
    """
    if verify:
        verify_pretrained(name, directory)
    else:
        read_card(name, directory)
    return _load(model_path(name, directory))


def _load(path):
    """``keras.saving.load_model`` that leaves Python's global random state as it found it:
    Keras draws seeds for the unseeded initializers of the layers it rebuilds from ``random``,
    which would shift every later unseeded draw of a notebook (its numbers would depend on
    whether a model was saved or loaded before)."""
    state = random.getstate()
    try:
        with warnings.catch_warnings():  # saved without optimizer: nothing to compile
            warnings.filterwarnings("ignore", message=r".*compile\(\)")
            return keras.saving.load_model(path, compile=False)
    finally:
        random.setstate(state)


# --------------------------------------------------------------------------------------------
# The check: one deterministic number per model, the same on every backend
# --------------------------------------------------------------------------------------------


def _fid(samples) -> float:
    """FID of ``samples`` against the 10,000 test images (the course's features)."""
    from . import data, metrics

    reference, _ = data.load_mnist("test")
    return float(
        metrics.sample_quality(samples, reference, kid_subset_size=len(samples) // 2)["fid"]
    )


def _is_autoencoder(model) -> bool:
    """A plain functional ``keras.Model`` mapping (B, 28, 28, 1) images to images."""
    from .contract import GenerativeModel

    if isinstance(model, GenerativeModel) or not isinstance(model, keras.Model):
        return False
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    return (
        bool(inputs)
        and bool(outputs)
        and len(inputs) == len(outputs) == 1
        and tuple(inputs[0].shape[1:]) == tuple(outputs[0].shape[1:]) == (28, 28, 1)
    )


def model_check(model, *, n=None, extra=None) -> dict:
    """A deterministic number that identifies a trained model's behaviour, on any backend.

    It is computed from fixed data or fixed noise (NumPy generators, not Keras' backend-specific
    streams), so the same weights give the same number up to float rounding on TensorFlow, JAX
    and PyTorch. Where the chapter's headline is deterministic it is that headline on the first
    ``n`` test images; where it is random (sampling) it is the same score of samples drawn from
    fixed noise:

    - PixelCNN: mean exact log p(x) (nats, the class mixture for a conditional model) on the
      first ``n`` images of the course's binarized test set (``n = 500``);
    - RealNVP: mean test bits/dim in 8-bit space with dequantization seed 0 (``n = 1000``);
    - RBM: mean log p(x) = -F(x) - log Z with the AIS estimate of log Z on the card
      (``extra["log_z"]``), binarized test set (``n = 1000``);
    - deep belief net: mean variational bound with ``extra["log_z_top"]``, 2 draws, seed 0
      (``n = 500``);
    - energy-based model: mean energy of the first ``n`` grey-level test images (``n = 1000``);
      its samples (SGLD with Keras' noise) are not repeatable across backends;
    - GAN: FID (classifier features) of ``n`` samples from standard normal noise of
      ``numpy.random.default_rng(0)`` against the 10,000 test images (``n = 1000``; labels
      ``i % 10`` for a conditional GAN);
    - VAE: the same FID of the decoder means (probabilities) of codes from NumPy noise
      (``n = 1000``; labels ``i % 10`` for a conditional VAE);
    - autoencoder (a functional model from images to images): mean squared error per image on
      the first ``n`` grey-level test images (``n = 1000``);
    - diffusion / flow matching: the same FID of ``n`` unconditional samples with ``seed=0``
      (DDIM, eta 0, 10 steps / Heun, 5 steps; ``n = 500``).

    Args:
        model: a trained course model.
        n: images or samples (int >= 2; default per family, above).
        extra: dict of card extras (``log_z`` for an RBM, ``log_z_top`` for a DBN).

    Returns:
        dict ``{"name", "value", "n", "rtol", "description"}``.

    Raises:
        ValueError: a model class without a check, a bad ``n`` or a missing extra.
    """
    from . import boltzmann, data, diffusion, flows, gan, pixelcnn, vae

    extra = dict(extra or {})
    if n is not None:
        positive_int("n", n)
        if n < 2:
            raise ValueError(f"n must be at least 2, got {n}.")

    def need(key):
        if key not in extra:
            raise ValueError(f"the check of a {type(model).__name__} needs extra[{key!r}].")
        return float(extra[key])

    if isinstance(model, pixelcnn.PixelCNN):
        n = n or 500
        x, _ = data.load_binarized_test(limit=n)
        value = float(np.mean(model.log_likelihood(x)))
        return _check(
            "mean_log_likelihood", value, n, 1e-4, "mean exact log p(x), nats, binarized test"
        )
    if isinstance(model, flows.RealNVP):
        n = n or 1000
        x = data.read_mnist_arrays()["x_test"][:n, :, :, None]
        value = float(np.mean(model.bits_per_dim(x, seed=0)))
        return _check(
            "bits_per_dim", value, n, 1e-4, "mean test bits/dim, 8-bit, dequantization seed 0"
        )
    if isinstance(model, boltzmann.RBM):
        n = n or 1000
        x, _ = data.load_binarized_test(limit=n)
        value = float(np.mean(model.log_likelihood(x, log_z=need("log_z"))))
        return _check(
            "mean_log_likelihood",
            value,
            n,
            1e-4,
            "mean -F(x) - log Z (AIS log Z of the card), nats",
        )
    if isinstance(model, boltzmann.DeepBeliefNet):
        n = n or 500
        x, _ = data.load_binarized_test(limit=n)
        bound = model.log_likelihood(x, log_z_top=need("log_z_top"), n_samples=2, seed=0)
        return _check(
            "mean_lower_bound", float(np.mean(bound)), n, 1e-4, "mean variational bound, nats"
        )
    if isinstance(model, boltzmann.EnergyBasedModel):
        n = n or 1000
        x, _ = data.load_mnist("test", limit=n)
        value = float(np.mean(model.energy(x)))
        return _check("mean_energy", value, n, 1e-3, "mean energy of grey test images")
    if isinstance(model, gan.GAN):
        n = n or 1000
        noise = np.random.default_rng(0).standard_normal((n, model.latent_dim)).astype("float32")
        labels = np.arange(n) % model.num_classes if model.num_classes else None
        value = _fid(model.generate(noise=noise, labels=labels))
        return _check("fid_fixed_noise", value, n, 1e-2, "FID of samples from NumPy noise, seed 0")
    if isinstance(model, vae.VAE):
        n = n or 1000
        z = np.random.default_rng(0).standard_normal((n, model.latent_dim)).astype("float32")
        condition = (
            model._one_hot(np.arange(n) % model.num_classes, n) if model.conditional else None
        )
        means = keras.ops.convert_to_numpy(keras.ops.sigmoid(model.decode(z, condition)))
        return _check(
            "fid_fixed_noise", _fid(means), n, 1e-2, "FID of decoder means of NumPy noise, seed 0"
        )
    if _is_autoencoder(model):
        n = n or 1000
        x, _ = data.load_mnist("test", limit=n)
        out = np.asarray(model.predict(x, batch_size=500, verbose=0), dtype="float64")
        value = float(np.mean(np.sum((out - x) ** 2, axis=(1, 2, 3))))
        return _check("test_squared_error", value, n, 1e-4, "mean squared error per test image")
    if isinstance(model, diffusion.FlowMatchingModel):
        n = n or 500
        value = _fid(model.generate(n, seed=0, solver="heun", steps=5))
        return _check(
            "fid_seeded", value, n, 1e-2, "FID of unconditional samples, Heun 5 steps, seed 0"
        )
    if isinstance(model, diffusion.DiffusionModel):
        n = n or 500
        value = _fid(model.generate(n, seed=0, sampler="ddim", steps=10, eta=0.0))
        return _check(
            "fid_seeded",
            value,
            n,
            1e-2,
            "FID of unconditional samples, DDIM eta 0, 10 steps, seed 0",
        )
    raise ValueError(
        f"no check is defined for a {type(model).__name__}; expected a course model "
        "(PixelCNN, RealNVP, RBM, DeepBeliefNet, EnergyBasedModel, GAN, VAE, DiffusionModel, "
        "FlowMatchingModel) or an autoencoder from (28, 28, 1) images to images."
    )


def _check(name, value, n, rtol, description) -> dict:
    if not np.isfinite(value):
        raise ValueError(f"the check {name} of this model is not finite ({value}).")
    return {"name": name, "value": value, "n": n, "rtol": rtol, "description": description}


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def _parameter_count(model) -> int:
    return int(sum(int(np.prod(v.shape)) for v in model.trainable_weights))


_EBM_BUFFER_KEPT = 100  # replay-buffer images kept in a saved energy-based model


def _compact(model):
    """The model to write: an energy-based model keeps only the first 100 images of its replay
    buffer (10,000 float32 images are 31 MB; sampling from noise does not use the buffer)."""
    from . import boltzmann

    if not isinstance(model, boltzmann.EnergyBasedModel) or model.buffer_size <= _EBM_BUFFER_KEPT:
        return model
    copy = type(model).from_config({**model.get_config(), "buffer_size": _EBM_BUFFER_KEPT})
    copy.energy_network.set_weights(model.energy_network.get_weights())
    copy.buffer.assign(keras.ops.convert_to_numpy(model.buffer)[:_EBM_BUFFER_KEPT])
    return copy


def _save_without_optimizer(model, path: Path) -> None:
    """``model.save`` with the optimizer state left out (it is most of the file), also that of
    the models it holds (the RBMs of a deep belief net, a GAN's two optimizers)."""
    model = _compact(model)
    saved = []
    inner = [m for m in model._flatten_layers(include_self=False) if isinstance(m, keras.Model)]
    for owner in [model, *inner]:
        keys = ["optimizer", "compiled", "_compile_config", "d_optimizer", "g_optimizer"]
        for key in keys:
            if hasattr(owner, key):
                saved.append((owner, key, getattr(owner, key)))
    try:
        for owner, key, _ in saved:
            setattr(owner, key, False if key == "compiled" else None)
        model.save(path)
    finally:
        for owner, key, value in saved:
            setattr(owner, key, value)


def save_pretrained(
    model,
    name,
    *,
    chapter,
    training_seconds,
    training,
    data,
    metrics=(),
    extra=None,
    directory=None,
):
    """Save a trained model and its card in the models folder (the course runner's full run).

    The ``.keras`` file holds the weights (float32) and configuration but no optimizer state (and
    an energy-based model keeps 100 images of its replay buffer).
    The card records what the docstring of this module lists; ``metrics`` are read from the
    metrics this kernel recorded with :func:`utils.record_metric` (so call it after them), and
    the check (:func:`model_check`) is computed on the model as loaded back from the file, which
    also proves that the file round-trips.

    Args:
        model: a trained course model.
        name: lower-case file stem, e.g. ``"rbm_pcd"``.
        chapter: two-digit chapter, e.g. ``"06"``.
        training_seconds: wall time of its training (float >= 0), s.
        training: the recipe in words, e.g. ``"PCD, 20 epochs, batch 100, Adam 1e-3 cosine"``.
        data: the data protocol, e.g. ``"MNIST train 60,000, dynamic binarization"``.
        metrics: names of recorded headline metrics that belong to this model.
        extra: JSON-serializable numbers the check needs (``log_z`` of an RBM, ...).
        directory: the models folder (default: :func:`models_dir`).

    Returns:
        The card (dict).

    Raises:
        ValueError: a bad name, chapter, time, text, an unrecorded metric or a model without a
            check; nothing is written then.
    """
    from . import runtime

    _check_name(name)
    if not isinstance(chapter, str) or not re.fullmatch(r"\d\d", chapter):
        raise ValueError(f"chapter must be two digits such as '06', got {chapter!r}.")
    seconds = float(training_seconds)
    if not np.isfinite(seconds) or seconds < 0:
        raise ValueError(
            f"training_seconds must be a finite number >= 0, got {training_seconds!r}."
        )
    for key, text in (("training", training), ("data", data)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{key} must be a non-empty description, got {text!r}.")
    recorded = runtime.recorded_metrics()
    missing = [m for m in metrics if m not in recorded]
    if missing:
        raise ValueError(
            f"metrics {missing} were not recorded in this kernel (recorded: {sorted(recorded)}); "
            "call save_pretrained after utils.record_metric."
        )
    extra = {k: float(v) for k, v in (extra or {}).items()}
    folder = Path(directory or models_dir())
    folder.mkdir(parents=True, exist_ok=True)
    path = model_path(name, folder)
    _save_without_optimizer(model, path)
    loaded = _load(path)
    check = model_check(loaded, extra=extra)
    env = runtime.environment_info()
    card = {
        "name": name,
        "chapter": chapter,
        "class": f"{type(model).__module__}.{type(model).__name__}",
        "file": path.name,
        "sha256": _file_sha256(path),
        "bytes": path.stat().st_size,
        "parameters": _parameter_count(model),
        "training_seconds": round(seconds, 1),
        "training": training,
        "data": data,
        "backend": keras.backend.backend(),
        "versions": {k: env[k] for k in env if k in ("python", "keras", "backend_version")},
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "metrics": {m: recorded[m] for m in metrics},
        "check": check,
        "extra": extra,
    }
    card_path(name, folder).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return card


def describe(name, directory=None) -> str:
    """One line about a pretrained model, for a chapter's output: class, size, training."""
    card = read_card(name, directory)
    return (
        f"pretrained {name} ({card['class'].rsplit('.', 1)[-1]}, {card['parameters']:,} "
        f"trainable parameters, {card['bytes'] / 1e6:.1f} MB): chapter {card['chapter']}'s "
        f"full run, "
        f"{card['training']}, trained in {card['training_seconds'] / 60:.1f} min"
    )
