"""Chapter 08's benchmark: every committed model of the course, scored on one protocol.

:data:`ENTRIES` lists the rows of the comparison: which committed model (``models/``), which
chapter trained it, how that chapter sampled it (read from the chapter's committed parameters,
never copied by hand), and which of its committed metrics is its log-likelihood, on which
protocol and of which kind. :func:`draw` samples an entry the way its chapter did;
:func:`benchmark` scores every entry with the course's one evaluation protocol
(:func:`utils.metrics.sample_quality` against the same reference images, N samples each) and
times the sampler.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras
import numpy as np

from .checks import positive_int

__all__ = [
    "ENTRIES",
    "Entry",
    "autoencoder_samples",
    "benchmark",
    "committed_likelihood",
    "committed_scores",
    "complete_pixelcnn",
    "draw",
    "entry",
    "load_models",
    "markdown_table",
    "sampler_settings",
]


@dataclass(frozen=True)
class Entry:
    """One row of the comparison.

    Attributes:
        key: short id of the row (``"dcgan"``).
        label: what the table shows (``"DCGAN"``).
        family: the model family (``"GAN"``).
        model: name of the committed model in ``models/`` (several rows may share one).
        chapter: the chapter that trained it (``"03"``).
        likelihood: name of its log-likelihood metric in that chapter's committed metadata, or
            None when the family has none.
        protocol: ``"binary"`` (nats/image on the course's binarized test set) or ``"8-bit"``
            (bits/dim of dequantized 8-bit images); None without likelihood.
        kind: ``"exact"``, ``"lower_bound"`` (the metric is an upper bound on the NLL),
            ``"stochastic_estimate"`` or ``"none"``.
        sampler: keyword arguments of ``generate``; a string value ``"@NAME"`` is the chapter's
            committed parameter ``NAME``, ``"#NAME"`` its committed metric ``NAME``;
            ``window="receptive"`` is chapter 05's windowed PixelCNN sampler.
        conditional: draw labels ``i % 10`` (an equal share of every digit).
        binary: the samples are binary images.
        committed: for a row without a committed model (``model`` None): its chapter's metric
            names ``{"fid": ..., "precision": ..., "recall": ...}``, shown instead of a
            re-evaluation.
    """

    key: str
    label: str
    family: str
    model: str | None
    chapter: str
    likelihood: str | None = None
    protocol: str | None = None
    kind: str = "none"
    sampler: dict = field(default_factory=dict)
    conditional: bool = False
    binary: bool = False
    committed: dict | None = None


ENTRIES = (
    Entry("ae", "autoencoder, random codes", "autoencoder", "conv_ae", "01"),
    Entry("vae", "VAE", "VAE", "vae", "02", "vae_test_nll", "binary", "lower_bound"),
    Entry("dcgan", "DCGAN", "GAN", "dcgan", "03"),
    Entry("wgan_gp", "WGAN-GP", "GAN", "wgan_gp", "03"),
    Entry("cgan", "conditional GAN", "GAN", "cgan", "03", conditional=True),
    Entry("flow", "RealNVP", "flow", "realnvp", "04", "flow_test_bits_per_dim", "8-bit", "exact"),
    Entry(
        "pixelcnn",
        "Gated PixelCNN",
        "autoregressive",
        "pixelcnn_gated",
        "05",
        "pixelcnn_test_nll",
        "binary",
        "exact",
        {"window": "receptive"},
        conditional=True,
        binary=True,
    ),
    Entry(
        "rbm",
        "RBM (PCD)",
        "energy-based",
        "rbm_pcd",
        "06",
        "rbm_test_nll",
        "binary",
        "stochastic_estimate",
        {"steps": "@GIBBS_STEPS"},
        binary=True,
    ),
    Entry(
        "dbn",
        "deep belief net",
        "energy-based",
        None,  # not committed: its second RBM trains in 37 s in chapter 06
        "06",
        "dbn_test_nll_bound",
        "binary",
        "lower_bound",
        binary=True,
        committed={"fid": "dbn_fid", "precision": "dbn_precision", "recall": "dbn_recall"},
    ),
    Entry("ebm", "EBM (SGLD)", "energy-based", "ebm", "06", sampler={"steps": "@EBM_SAMPLE_STEPS"}),
    Entry(
        "ddpm",
        "diffusion (DDPM)",
        "diffusion",
        "ddpm_unet",
        "07",
        "diffusion_test_bound_bits_per_dim",
        "8-bit",
        "lower_bound",
        {"sampler": "ddpm", "steps": "@FINAL_STEPS"},
    ),
    Entry(
        "guided",
        "guided diffusion",
        "diffusion",
        "ddpm_unet",
        "07",
        sampler={
            "sampler": "ddpm",
            "steps": "@GUIDANCE_STEPS",
            "guidance": "#diffusion_guidance_weight",
        },
        conditional=True,
    ),
    Entry(
        "flow_matching",
        "flow matching",
        "diffusion",
        "flow_matching_unet",
        "07",
        sampler={"solver": "heun", "steps": 5},
    ),
)


def entry(key) -> Entry:
    """The entry with this ``key`` (ValueError names the keys that exist)."""
    for item in ENTRIES:
        if item.key == key:
            return item
    raise ValueError(f"no entry {key!r}; expected one of {[e.key for e in ENTRIES]}.")


def sampler_settings(item: Entry) -> dict:
    """The ``generate`` keyword arguments of an entry, with ``@``/``#`` references resolved
    from its chapter's committed run."""
    from .run import chapter_metric, chapter_parameter

    settings = {}
    for name, value in item.sampler.items():
        if isinstance(value, str) and value.startswith("@"):
            value = chapter_parameter(item.chapter, value[1:])
        elif isinstance(value, str) and value.startswith("#"):
            value = chapter_metric(item.chapter, value[1:])
        settings[name] = value
    return settings


def load_models(entries=ENTRIES) -> dict:
    """``{model name: model}`` for the entries, each committed model loaded (and verified) once."""
    from . import pretrained

    names = dict.fromkeys(e.model for e in entries if e.model is not None)
    return {name: pretrained.load_pretrained(name) for name in names}


def _autoencoder_parts(model):
    parts = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(parts) != 2:
        raise ValueError(
            f"an autoencoder must hold an encoder and a decoder model, {model.name} holds "
            f"{len(parts)} sub-models."
        )
    return parts


def autoencoder_samples(model, n, *, train_images, seed=0):
    """Decoded random codes of an autoencoder, as chapter 01 drew them: codes from the Gaussian
    fitted (mean and covariance) to the codes of ``train_images``.

    Args:
        model: an autoencoder from :func:`utils.autoencoders.build_autoencoder`.
        n: number of images (int >= 1).
        train_images: (M, 28, 28, 1) grey-level training images.
        seed: NumPy seed of the codes.

    Returns:
        float32 (n, 28, 28, 1) in [0, 1].
    """
    positive_int("n", n)
    encoder, decoder = _autoencoder_parts(model)
    codes = np.asarray(encoder.predict(train_images, batch_size=1000, verbose=0), "float64")
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(codes.mean(axis=0), np.cov(codes, rowvar=False), size=n)
    out = decoder.predict(z.astype("float32"), batch_size=1000, verbose=0)
    return np.clip(np.asarray(out, "float32"), 0.0, 1.0)


def draw(item: Entry, model, n, *, seed=0, train_images=None):
    """``n`` samples of an entry, drawn the way its chapter drew them.

    Args:
        item: an :class:`Entry`.
        model: its loaded model (see :func:`load_models`).
        n: number of samples (int >= 1).
        seed: seed of the draw.
        train_images: grey-level training images (only the autoencoder entry needs them).

    Returns:
        float32 (n, 28, 28, 1) in [0, 1] (binary for binary models).
    """
    positive_int("n", n)
    if item.family == "autoencoder":
        if train_images is None:
            raise ValueError("the autoencoder entry needs train_images to fit its code Gaussian.")
        return autoencoder_samples(model, n, train_images=train_images, seed=seed)
    kwargs = sampler_settings(item)
    if kwargs.get("window") == "receptive":  # chapter 05's windowed sampler
        from .pixelcnn import receptive_window

        kwargs["window"] = receptive_window(model, labels=0)
    if item.conditional:
        kwargs["labels"] = np.arange(n) % 10
    out = model.generate(n, seed=seed, **kwargs)
    return np.asarray(keras.ops.convert_to_numpy(out), dtype="float32")


def benchmark(entries, models, reference, n, *, seed=0, train_images=None, progress=print):
    """Score every entry on one protocol: ``n`` samples against the same ``reference`` images.

    Args:
        entries: :class:`Entry` rows.
        models: ``{model name: model}`` (:func:`load_models`).
        reference: (M, 28, 28, 1) real test images in [0, 1].
        n: samples per entry (int >= 2).
        seed: seed of every draw and of KID's subsets.
        train_images: grey training images (for the autoencoder entry).
        progress: called with one line per entry (None for silence).

    Returns:
        ``{key: {"samples", "seconds_per_1000", "fid", "kid", "kid_se", "precision",
        "recall", "inception_score", "modes", ...}}`` for each entry with a committed model:
        the sample metrics of
        :func:`utils.metrics.sample_quality` plus the sampling time in seconds per 1,000 images
        (wall time of this draw, scaled).
    """
    from . import metrics

    positive_int("n", n)
    results = {}
    for item in entries:
        if item.model is None:
            continue
        start = time.perf_counter()
        samples = draw(item, models[item.model], n, seed=seed, train_images=train_images)
        seconds = time.perf_counter() - start
        scores = metrics.sample_quality(samples, reference, kid_subset_size=n // 2, seed=seed)
        results[item.key] = {
            **scores,
            "samples": samples,
            "seconds_per_1000": seconds * 1000 / n,
        }
        if progress is not None:
            progress(
                f"{item.label:28s} FID {scores['fid']:7.2f}  {seconds * 1000 / n:8.1f} s / 1,000"
            )
    return results


def committed_likelihood(item: Entry):
    """``(value, unit)`` of an entry's log-likelihood metric from its chapter's committed run
    (an NLL in nats/image or bits/dim: smaller is better), or None without one."""
    from .run import chapter_metrics

    if item.likelihood is None:
        return None
    record = chapter_metrics(item.chapter)[item.likelihood]
    return float(record["value"]), record["unit"]


def committed_scores(item: Entry) -> dict:
    """The sample scores of a row without a committed model, from its chapter's metadata:
    ``{"fid", "precision", "recall", "unit"}`` (the FID's unit says its N)."""
    from .run import chapter_metrics

    if not item.committed:
        raise ValueError(f"entry {item.key!r} has no committed scores.")
    metrics = chapter_metrics(item.chapter)
    out = {key: float(metrics[name]["value"]) for key, name in item.committed.items()}
    out["unit"] = metrics[item.committed["fid"]]["unit"]
    return out


def markdown_table(header, rows) -> str:
    """A GitHub Markdown table from a header (list of str) and rows (lists of str)."""
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells, the header {len(header)}: {row}.")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def complete_pixelcnn(model, images, *, n_rows, seed=0, batch_size=100, window=None):
    """Complete binary digits from their top ``n_rows`` rows with a class-conditional PixelCNN.

    The label is unknown, so it is drawn first from its posterior given the visible rows,
    ``p(y | top) ∝ p(top | y)`` (a uniform prior over the 10 digits; ``log p(top | y)`` is the
    sum of the first ``n_rows * 28`` per-pixel terms of the exact likelihood), then the hidden
    pixels from ``p(x | top, y)`` in raster order (van den Oord et al. 2016).

    Args:
        model: a class-conditional :class:`utils.pixelcnn.PixelCNN`.
        images: (N, 28, 28, 1) binary images.
        n_rows: visible rows, int in [1, 27].
        seed: seed of the label draw and of the sampler.
        batch_size, window: as :meth:`utils.pixelcnn.PixelCNN.generate`.

    Returns:
        ``(completions, labels)``: float32 (N, 28, 28, 1) binary images whose first ``n_rows``
        rows equal ``images``', and the (N,) drawn labels.

    Raises:
        ValueError: an unconditional model, ``n_rows`` out of range, non-binary images.
    """
    from .checks import check_images

    if not getattr(model, "num_classes", None):
        raise ValueError("complete_pixelcnn needs a class-conditional PixelCNN (num_classes set).")
    n_rows = positive_int("n_rows", n_rows)
    if n_rows > 27:
        raise ValueError(f"n_rows must be in [1, 27], got {n_rows}.")
    images = check_images(images, name="images", binary=True, shape=(28, 28, 1))
    log_top = np.stack(
        [
            model.log_likelihood(images, labels=np.full(len(images), d), per_pixel=True)[
                :, :n_rows
            ].sum(axis=(1, 2))
            for d in range(model.num_classes)
        ],
        axis=1,
    )
    posterior = np.exp(log_top - log_top.max(axis=1, keepdims=True))
    posterior /= posterior.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    labels = np.array([rng.choice(model.num_classes, p=p) for p in posterior])
    completions = model.generate(
        len(images),
        labels=labels,
        prefix=images,
        n_known=n_rows * 28,
        seed=seed,
        batch_size=batch_size,
        window=window,
    )
    return np.asarray(completions, dtype="float32"), labels
