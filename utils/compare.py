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
    "benchmark_table",
    "committed_likelihood",
    "committed_scores",
    "complete_pixelcnn",
    "draw",
    "entry",
    "interpolate",
    "likelihood_cell",
    "load_models",
    "markdown_table",
    "sampler_settings",
    "seconds_cell",
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
        slow: the sampler is too slow for the course's N = 10,000 on a CPU; chapter 08 scores
            it at its smaller N only.
        committed: for a row scored in its chapter rather than re-evaluated (no committed
            model): its chapter's metric names
            ``{"fid": ..., "precision": ..., "recall": ...}``. :func:`benchmark` skips such a
            row.
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
    slow: bool = False
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
        {"window": "receptive", "batch_size": "@SAMPLE_BATCH"},
        conditional=True,
        binary=True,
        slow=True,  # one forward pass per pixel: 10,000 samples take half an hour on a CPU
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


def benchmark(
    entries,
    models,
    reference,
    n,
    *,
    binary_reference=None,
    seed=0,
    train_images=None,
    progress=print,
):
    """Score every entry on one protocol: ``n`` samples against the same real test images.

    Grey samples are scored against ``reference``; the samples of a binary entry
    (:attr:`Entry.binary`: RBM, PixelCNN) against ``binary_reference``, the same test images
    binarized, as chapters 05 and 06 score them: a binary model is compared with the data it
    models.

    Args:
        entries: :class:`Entry` rows.
        models: ``{model name: model}`` (:func:`load_models`).
        reference: (M, 28, 28, 1) real test images in [0, 1] (grey).
        n: samples per entry (int >= 2).
        binary_reference: (M, 28, 28, 1) the same test images binarized (the course's binarized
            test set, :func:`utils.load_binarized_test`); required when a binary entry is scored.
        seed: seed of every draw and of KID's subsets.
        train_images: grey training images (for the autoencoder entry).
        progress: called with one line per entry (None for silence).

    Returns:
        ``{key: {"samples", "seconds_per_1000", "fid", "kid", "kid_se", "precision",
        "recall", "inception_score", "modes", ...}}`` for each entry with a committed model and
        no committed scores (:attr:`Entry.committed`): the sample metrics of
        :func:`utils.metrics.sample_quality` plus the sampling time in seconds per 1,000 images
        (wall time of this draw, scaled).
    """
    from . import metrics

    positive_int("n", n)
    entries = [e for e in entries if e.model is not None and e.committed is None]
    if binary_reference is None and any(e.binary for e in entries):
        raise ValueError(
            "binary_reference is required to score the binary entries "
            f"{[e.key for e in entries if e.binary]}: pass the course's binarized test set."
        )
    results = {}
    for item in entries:
        start = time.perf_counter()
        samples = draw(item, models[item.model], n, seed=seed, train_images=train_images)
        seconds = time.perf_counter() - start
        scores = metrics.sample_quality(
            samples,
            binary_reference if item.binary else reference,
            kid_subset_size=min(1000, n // 2),
            seed=seed,
        )
        results[item.key] = {
            **scores,
            "samples": samples,
            "seconds_per_1000": seconds * 1000 / n,
        }
        if progress is not None:
            progress(
                f"{item.label:28s} FID {scores['fid']:7.2f}  "
                f"{seconds_cell(seconds * 1000 / n):>8s} s / 1,000"
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
    """The sample scores of a row scored in its chapter (:attr:`Entry.committed`), from the
    chapter's metadata: ``{"fid", "precision", "recall", "unit"}`` (the FID's unit says its
    N)."""
    from .run import chapter_metrics

    if not item.committed:
        raise ValueError(f"entry {item.key!r} has no committed scores.")
    metrics = chapter_metrics(item.chapter)
    out = {key: float(metrics[name]["value"]) for key, name in item.committed.items()}
    out["unit"] = metrics[item.committed["fid"]]["unit"]
    return out


def seconds_cell(seconds) -> str:
    """Seconds with one decimal, two below 1 s (0.04, 1.4, 170.1)."""
    return f"{seconds:.2f}" if seconds < 1 else f"{seconds:.1f}"


def likelihood_cell(item: Entry) -> str:
    """The table cell of an entry's committed NLL: value, unit and kind (``"—"`` without one)."""
    found = committed_likelihood(item)
    if found is None:
        return "—"
    value, unit = found
    unit = "nats" if "nats" in unit else "bits/dim"
    return f"{value:.4g} ({unit}, {item.kind.replace('_', ' ')})"


def benchmark_table(results, small, floors, cards, *, n, n_small) -> str:
    """Chapter 08's table (Markdown): one row per entry of :data:`ENTRIES`, then the floors.

    Args:
        results: :func:`benchmark`'s output (N = ``n``).
        small: ``{key: {"fid", "precision", "recall"}}`` at N = ``n_small`` for every entry
            (for a row scored in its chapter: :func:`committed_scores`). An entry whose
            ``results`` hold only ``n_small`` samples (a slow sampler) gets its scores at
            ``n_small`` only.
        floors: ``{(name, N): scores}`` of real training images for ``name`` in
            ``("grey", "binarized")`` and N in ``(n, n_small)``
            (:func:`utils.metrics.sample_quality`).
        cards: ``{model name: card}`` (:func:`utils.pretrained.read_card`).
        n, n_small: the two sample counts.

    Returns:
        str, a GitHub Markdown table: model, family, NLL (protocol, kind), FID, KID, precision and
        recall at ``n``, FID, precision and recall at ``n_small``, seconds per 1,000 samples,
        training minutes and trainable parameters (from the card).

    Raises:
        ValueError: a missing row in ``small``, a missing floor.
    """

    def cells(scores, names, digits):
        if scores is None:
            return ["—"] * len(names)
        return [f"{scores[m]:.{d}f}" for m, d in zip(names, digits)]

    def training(card):
        if card is None:
            return ["—", "—"]
        return [f"{card['training_seconds'] / 60:.1f}", f"{card['parameters']:,}"]

    rows = []
    for item in ENTRIES:
        if item.key not in small:
            raise ValueError(f"small has no scores for the row {item.key!r}.")
        label, big, seconds = item.label, results.get(item.key), "—"
        if item.committed is None:
            seconds = seconds_cell(big["seconds_per_1000"])
            if big["n"] != n:
                label, big = f"{item.label} (N={big['n']:,} only)", None
        else:
            label, big = f"{item.label} (scored in ch. {item.chapter})", None
        rows.append(
            [label, item.family, likelihood_cell(item)]
            + cells(big, ("fid", "kid", "precision", "recall"), (1, 2, 2, 2))
            + cells(small[item.key], ("fid", "precision", "recall"), (1, 2, 2))
            + [seconds]
            + training(cards.get(item.model))
        )
    for name in ("grey", "binarized"):
        if (name, n) not in floors or (name, n_small) not in floors:
            raise ValueError(f"floors needs the keys ({name!r}, {n}) and ({name!r}, {n_small}).")
        rows.append(
            [f"real training images ({name})", "floor", "—"]
            + cells(floors[(name, n)], ("fid", "kid", "precision", "recall"), (1, 2, 2, 2))
            + cells(floors[(name, n_small)], ("fid", "precision", "recall"), (1, 2, 2))
            + ["—", "—", "—"]
        )
    header = ["model", "family", "test NLL (protocol, kind)", f"FID N={n:,}", "KID"]
    header += ["precision", "recall", f"FID N={n_small:,}", "precision", "recall"]
    header += ["s / 1,000 images", "training min", "parameters"]
    return markdown_table(header, rows)


def interpolate(model, images, steps):
    """Decode a straight line between the codes of two images.

    The code depends on the family: an autoencoder's encoder output, a VAE's posterior mean
    (of the images thresholded at 0.5: the VAE models binary digits), a flow's exact inverse
    ``z = f(x + u)`` of the 8-bit images (Dinh et al. 2017).

    Args:
        model: an autoencoder (:func:`utils.autoencoders.build_autoencoder`), a
            :class:`utils.vae.VAE` or a :class:`utils.flows.RealNVP`.
        images: (2, 28, 28, 1) grey images in [0, 1].
        steps: images along the path, endpoints included (int >= 2).

    Returns:
        float32 (steps, 28, 28, 1) in [0, 1] (a VAE's Bernoulli means).

    Raises:
        ValueError: not two images, ``steps`` < 2, a model of another family.
    """
    from .checks import check_images
    from .flows import RealNVP
    from .vae import VAE

    images = check_images(images, name="images", shape=(28, 28, 1))
    if len(images) != 2:
        raise ValueError(f"images must hold 2 images (the endpoints), got {len(images)}.")
    if positive_int("steps", steps) < 2:
        raise ValueError(f"steps must be >= 2 (the two endpoints), got {steps}.")
    t = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    if isinstance(model, VAE):
        z = keras.ops.convert_to_numpy(model.encode((images > 0.5).astype("float32"))[0])
        path = (1 - t) * z[0] + t * z[1]
        out = keras.ops.convert_to_numpy(keras.ops.sigmoid(model.decode(path)))
    elif isinstance(model, RealNVP):
        z = model.encode(np.floor(images * 255).astype("uint8"), seed=0)
        out = model.decode((1 - t) * z[0] + t * z[1])
    elif (
        isinstance(model, keras.Model)
        and sum(isinstance(x, keras.Model) for x in model.layers) == 2
    ):
        encoder, decoder = _autoencoder_parts(model)
        z = np.asarray(encoder.predict(images, verbose=0))
        out = np.asarray(decoder.predict((1 - t) * z[0] + t * z[1], verbose=0))
    else:
        raise ValueError(
            f"interpolate takes an autoencoder, a VAE or a RealNVP, got {type(model).__name__}."
        )
    return np.clip(np.asarray(out, "float32").reshape(steps, 28, 28, 1), 0.0, 1.0)


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
