"""Keras callbacks of the course, for any model that follows the course contract.

- :class:`StepLogger`: every logged value at every training step, not only per epoch.
- :class:`SampleGridCallback`: the same draw from ``model.generate`` after every epoch, as PNG
  frames and an animated GIF (``matplotlib.animation``).
- :class:`FIDCallback`: FID of fresh samples against reference images every few epochs.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .checks import nonnegative_int
from .checks import positive_int as _positive_int
from .classifier import _as_images, classifier_features
from .metrics import frechet_distance
from .plotting import tile_images


class StepLogger(keras.callbacks.Callback):
    """Record the value of each logged metric at *every* training step, not only per epoch.

    Keras reports running means over the epoch after each batch; with ``m_t`` the mean after
    step ``t`` of an epoch, the step's own value is ``t * m_t - (t - 1) * m_(t-1)`` (exact for the
    ``keras.metrics.Mean`` trackers of :class:`utils.gan.GAN`, which get one scalar per step).

    Attributes:
        values: dict name -> list of per-step floats, over all epochs.
    """

    def __init__(self):
        super().__init__()
        self.values = {}
        self._previous = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = {}

    def on_train_batch_end(self, batch, logs=None):
        t = batch + 1
        for name, mean in (logs or {}).items():
            mean = float(mean)
            value = t * mean - (t - 1) * self._previous.get(name, 0.0)
            self.values.setdefault(name, []).append(value)
            self._previous[name] = mean


class SampleGridCallback(keras.callbacks.Callback):
    """Draw the same samples from ``model.generate`` after every epoch; save PNGs and a GIF.

    Watching one fixed draw evolve shows training progress far better than fresh samples. The
    draw is fixed by calling ``generate(n, labels=labels, seed=seed)`` with the same seed every
    time (for a GAN or VAE: the same noise vectors through a changing network), so it works for
    every model of the course contract (:mod:`utils.contract`). Frames are kept in memory
    (``frames``: list of (n, 28, 28) float arrays, one per kept epoch); with ``directory`` each is
    also written as ``epoch_NNN.png`` and, at the end of training, all of them as ``samples.gif``
    (``matplotlib.animation`` with Pillow).

    Args:
        n: number of samples in the grid (positive int).
        labels: (n,) integer class ids for a conditional model.
        seed: the fixed seed of the draw (int >= 0).
        directory: folder for the PNGs and the GIF (created), or None to keep frames in memory only.
        ncols: grid columns.
        every: keep a frame every this many epochs.

    Raises:
        ValueError, TypeError: bad sizes, seed or labels.
    """

    def __init__(self, n, *, labels=None, seed=0, directory=None, ncols=10, every=1):
        super().__init__()
        self.n = _positive_int("n", n)
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None and self.labels.shape != (self.n,):
            raise ValueError(f"labels must have shape ({self.n},), got {self.labels.shape}.")
        self.seed = nonnegative_int("seed", seed)
        self.directory = None if directory is None else Path(directory)
        self.ncols = _positive_int("ncols", ncols)
        self.every = _positive_int("every", every)
        self.frames, self.epochs = [], []

    def tile(self, images):
        """(n, 28, 28[, 1]) -> one (rows*28, ncols*28) array (plotting.tile_images)."""
        return tile_images(images, ncols=self.ncols)

    def draw(self):
        """The fixed draw: ``model.generate(n, labels=labels, seed=seed)``, (n, 28, 28, 1)."""
        return self.model.generate(self.n, labels=self.labels, seed=self.seed)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        images = self.draw()[..., 0]
        self.frames.append(images)
        self.epochs.append(epoch + 1)
        if self.directory is not None:
            import matplotlib.image

            self.directory.mkdir(parents=True, exist_ok=True)
            matplotlib.image.imsave(
                self.directory / f"epoch_{epoch + 1:03d}.png",
                self.tile(images),
                cmap="gray",
                vmin=0,
                vmax=1,
            )

    def on_train_end(self, logs=None):
        if self.directory is not None and self.frames:
            self.save_gif(self.directory / "samples.gif")

    def save_gif(self, path, *, fps=2):
        """Write every frame as one animated GIF; returns the path."""
        import matplotlib.animation as animation
        from matplotlib.figure import Figure

        grid = self.tile(self.frames[0])
        fig = Figure(figsize=(grid.shape[1] / 56, grid.shape[0] / 56 + 0.3), dpi=80)
        ax = fig.add_axes([0, 0, 1, 1 - 0.3 / (grid.shape[0] / 56 + 0.3)])
        ax.set_axis_off()
        artists = []
        for epoch, images in zip(self.epochs, self.frames):
            im = ax.imshow(self.tile(images), cmap="gray", vmin=0, vmax=1, animated=True)
            title = ax.text(
                0.5, 1.01, f"epoch {epoch}", transform=ax.transAxes, ha="center", va="bottom"
            )
            artists.append([im, title])
        anim = animation.ArtistAnimation(fig, artists, interval=1000 // fps, blit=False)
        anim.save(str(path), writer=animation.PillowWriter(fps=fps))
        return Path(path)


class FIDCallback(keras.callbacks.Callback):
    """FID of fresh samples against fixed reference images after every ``every`` epochs.

    Works with any model that has a ``generate(n, labels=..., seed=...)`` method returning images
    in [0, 1] (e.g. :class:`utils.gan.GAN`). The same seed is used every time, so the curve shows
    the model changing, not the noise. The value is also added to the epoch's logs as ``"fid"``.

    Args:
        reference: (M, 28, 28[, 1]) real images in [0, 1], e.g. the whole MNIST test set.
        every: epochs between measurements (positive int).
        labels: (M,) labels of ``reference``, passed to ``generate`` (for a conditional model).
        seed: non-negative int, seed of the samples and of the reference subset.
        n: None (use all M reference images) or a positive int <= M: a random subset of ``n``
            reference images (and their labels), drawn once without replacement with ``seed``.
            Prefer passing the full test set with ``n`` over a prefix ``test[:n]``: the halves of
            the MNIST test set differ measurably.

    N = len(reference subset) samples are generated at each measurement.

    Attributes:
        epochs, fids: lists of the epochs measured and their FIDs.
        reference_indices: the rows of ``reference`` used (sorted).

    Raises:
        ValueError: a bad ``every``, ``n`` or ``seed``, labels whose length differs from the
            reference, or bad reference images (see :func:`utils.classifier.classifier_outputs`).
    """

    def __init__(self, reference, *, every=1, labels=None, seed=0, n=None):
        super().__init__()
        _positive_int("every", every)
        seed = nonnegative_int("seed", seed)
        reference = _as_images(reference, "reference")
        if labels is not None and len(labels) != len(reference):
            raise ValueError(
                f"labels must have one entry per reference image ({len(reference)}), "
                f"got {len(labels)}."
            )
        rows = np.arange(len(reference))
        if n is not None:
            n = _positive_int("n", n)
            if n > len(reference):
                raise ValueError(
                    f"n must be at most the {len(reference)} reference images, got {n}."
                )
            rows = np.sort(np.random.default_rng(seed).choice(len(reference), n, replace=False))
            reference = reference[rows]
            labels = None if labels is None else np.asarray(labels)[rows]
        self.reference_indices = rows
        self.reference_features = classifier_features(reference)
        self.every, self.labels, self.seed = int(every), labels, seed
        self.epochs, self.fids = [], []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        samples = self.model.generate(
            len(self.reference_features), labels=self.labels, seed=self.seed
        )
        fid = frechet_distance(classifier_features(samples), self.reference_features)
        self.epochs.append(epoch + 1)
        self.fids.append(fid)
        if logs is not None:
            logs["fid"] = fid
