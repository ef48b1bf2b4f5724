"""Headless-safe matplotlib figures used across the chapters.

Every function builds a ``matplotlib.figure.Figure`` outside pyplot's figure registry and returns
it: a notebook shows it exactly once by leaving the call as the last line of a cell (or by
``display(fig)``), scripts can ``fig.savefig(...)``, and tests can inspect it. Nothing needs a
display
(the test command sets ``MPLBACKEND=Agg``). Images are (N, H, W, 1) or (N, H, W) arrays in [0, 1].
"""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

# Load the configured backend now. In a notebook this activates matplotlib's inline support, which
# renders a returned Figure, before the first helper is called (pyplot otherwise loads it lazily).
plt.switch_backend(matplotlib.get_backend())


def _images(images, name="images"):
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(
            f"{name} must be a non-empty batch of shape (N, H, W) or (N, H, W, 1), "
            f"got {images.shape}."
        )
    return images


def _figure(nrows=1, ncols=1, *, figsize):
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _hide_ticks(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def tile_images(images, *, ncols=10):
    """Tile images into one array, row by row, empty cells black: the course's one image tiler.

    Args:
        images: (n, H, W) or (n, H, W, 1) grey levels.
        ncols: images per row (positive int).

    Returns:
        float32 array (rows * H, ncols * W) with ``rows = ceil(n / ncols)``.

    Raises:
        ValueError: not a non-empty stack of single-channel images, or a bad ``ncols``.
    """
    from .checks import positive_int

    ncols = positive_int("ncols", ncols)
    imgs = _images(images)
    n, h, w = imgs.shape
    rows = -(-n // ncols)
    canvas = np.zeros((rows * h, ncols * w), dtype=np.float32)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncols)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    return canvas


def image_grid(
    images, *, ncols=10, titles=None, suptitle=None, cell_size=1.0, cmap="gray", row_labels=None
):
    """Show a batch of greyscale images in a grid.

    Args:
        images: (N, H, W) or (N, H, W, 1) array, values in [0, 1].
        ncols: images per row (the last row may be partly empty).
        titles: optional N short strings shown above the images (e.g. labels).
        suptitle: optional figure title.
        cell_size: inches per image.
        cmap: matplotlib colormap.
        row_labels: optional one short string per row, written left of the row.

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ValueError: bad image shape, ``ncols < 1``, a titles or row_labels list of the wrong
            length.
    """
    images = _images(images)
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have {len(images)} entries, got {len(titles)}.")
    ncols = min(ncols, len(images))
    nrows = math.ceil(len(images) / ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(
            f"row_labels must have {nrows} entries (one per row), got {len(row_labels)}."
        )
    fig, axes = _figure(
        nrows, ncols, figsize=(cell_size * ncols, cell_size * nrows + 0.3 * bool(suptitle))
    )
    for k, ax in enumerate(axes.flat):
        _hide_ticks(ax)
        if k < len(images):
            ax.imshow(images[k], cmap=cmap, vmin=0.0, vmax=1.0)
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=8)
        else:
            ax.axis("off")
        if row_labels is not None and k % ncols == 0:
            ax.set_ylabel(
                str(row_labels[k // ncols]), rotation=0, ha="right", va="center", fontsize=8
            )
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_reconstructions(
    originals, reconstructions, *, n=10, row_labels=("original", "reconstruction"), title=None
):
    """Originals on the first row, their reconstructions below (more rows: pass a list).

    Args:
        originals: (N, H, W[, 1]) images.
        reconstructions: an array of the same shape, or a list of such arrays (one row each).
        n: number of columns (first ``n`` images).
        row_labels: one label per row.
        title: optional figure title.

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ValueError: shapes differ or the number of row labels does not match the rows.
    """
    rows = [_images(originals, "originals")]
    extra = reconstructions if isinstance(reconstructions, (list, tuple)) else [reconstructions]
    rows += [_images(r, "reconstructions") for r in extra]
    if any(r.shape[1:] != rows[0].shape[1:] or len(r) < min(n, len(rows[0])) for r in rows):
        raise ValueError(
            f"all rows must share the image shape {rows[0].shape[1:]} and hold >= n images."
        )
    if len(row_labels) != len(rows):
        raise ValueError(f"row_labels must have {len(rows)} entries, got {len(row_labels)}.")
    n = min(n, len(rows[0]))
    fig, axes = _figure(len(rows), n, figsize=(n * 0.9, len(rows) * 1.0 + 0.3 * bool(title)))
    for r, (row, label) in enumerate(zip(rows, row_labels)):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(row[c], cmap="gray", vmin=0.0, vmax=1.0)
            _hide_ticks(ax)
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return fig


def plot_latent_scatter(
    codes, labels, *, title="2-D latent codes", ax=None, max_points=5000, seed=0
):
    """Scatter 2-D codes coloured by digit label (the course's latent map).

    Args:
        codes: (N, 2) codes.
        labels: (N,) integer labels 0..9.
        title: axes title.
        ax: optional axes to draw into (a new figure otherwise).
        max_points: plot at most this many points (a seeded random subset).
        seed: seed of that subset.

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ValueError: codes are not (N, 2) or labels have another length.
    """
    codes = np.asarray(codes)
    labels = np.asarray(labels)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must have shape (N, 2), got {codes.shape}.")
    if labels.shape != (len(codes),):
        raise ValueError(f"labels must have shape ({len(codes)},), got {labels.shape}.")
    if len(codes) > max_points:
        keep = np.random.default_rng(seed).choice(len(codes), max_points, replace=False)
        codes, labels = codes[keep], labels[keep]
    if ax is None:
        fig, axes = _figure(figsize=(5.5, 4.5))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    points = ax.scatter(
        codes[:, 0], codes[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=3, alpha=0.7
    )
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return fig


def plot_manifold(
    decode, *, z1_range=(-3.0, 3.0), z2_range=(-3.0, 3.0), n=15, title="Decoded latent grid"
):
    """Decode a regular grid of 2-D codes and tile the images (the "decoded manifold").

    Args:
        decode: callable mapping a (n*n, 2) float32 array to (n*n, H, W[, 1]) images in [0, 1],
            e.g. ``lambda z: decoder.predict(z, verbose=0)``.
        z1_range: (low, high) of the first latent coordinate (horizontal axis).
        z2_range: (low, high) of the second coordinate (vertical axis, high at the top).
        n: grid points per axis.
        title: figure title.

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ValueError: ``n < 2`` or the decoder returns the wrong number of images.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}.")
    z1 = np.linspace(*z1_range, n, dtype=np.float32)
    z2 = np.linspace(*z2_range, n, dtype=np.float32)[::-1]
    grid = np.array([[a, b] for b in z2 for a in z1], dtype=np.float32)
    images = _images(decode(grid), "decoded images")
    if len(images) != n * n:
        raise ValueError(f"decode returned {len(images)} images for {n * n} codes.")
    h, w = images.shape[1:]
    canvas = images.reshape(n, n, h, w).transpose(0, 2, 1, 3).reshape(n * h, n * w)
    fig, axes = _figure(figsize=(6, 6))
    ax = axes[0, 0]
    ax.imshow(
        canvas,
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
        aspect="auto",
        extent=(z1_range[0], z1_range[1], z2_range[0], z2_range[1]),
    )
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return fig


def plot_interpolation(
    decode, z_start, z_end, *, steps=10, title="Linear interpolation in latent space"
):
    """Decode evenly spaced points on the segment from ``z_start`` to ``z_end``.

    Args:
        decode: callable mapping (steps, k) float32 codes to (steps, H, W[, 1]) images.
        z_start: (k,) code of the first image.
        z_end: (k,) code of the last image.
        steps: number of images, endpoints included (>= 2).
        title: figure title.

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ValueError: codes of different shapes or ``steps < 2``.
    """
    z_start = np.asarray(z_start, dtype=np.float32).reshape(-1)
    z_end = np.asarray(z_end, dtype=np.float32).reshape(-1)
    if z_start.shape != z_end.shape:
        raise ValueError(
            f"z_start and z_end must have the same shape, got {z_start.shape} and {z_end.shape}."
        )
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}.")
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    codes = (1.0 - t) * z_start + t * z_end
    images = _images(decode(codes), "decoded images")
    return image_grid(images, ncols=steps, titles=[f"t={v:.2f}" for v in t[:, 0]], suptitle=title)


def plot_history(history, *, keys=None, title="Training curves", logy=False):
    """Plot loss/metric curves from a Keras ``History`` (or its ``.history`` dict).

    Each key ``k`` is drawn with its validation twin ``val_k`` when present.

    Args:
        history: ``keras.callbacks.History`` or ``{name: [value per epoch]}``.
        keys: names to plot (default: every key without the ``val_`` prefix).
        title: figure title.
        logy: logarithmic y axis.

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ValueError: the history is empty or a requested key is missing.
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("history must be a keras History or a non-empty dict of per-epoch values.")
    if keys is None:
        keys = [k for k in logs if not k.startswith("val_")]
    missing = [k for k in keys if k not in logs]
    if missing:
        raise ValueError(f"history has no keys {missing}; it has {sorted(logs)}.")
    fig, axes = _figure(1, len(keys), figsize=(4.5 * len(keys), 3.2))
    for ax, key in zip(axes[0], keys):
        epochs = np.arange(1, len(logs[key]) + 1)
        ax.plot(epochs, logs[key], marker="o", ms=3, label="train")
        if f"val_{key}" in logs:
            ax.plot(epochs, logs[f"val_{key}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        if logy:
            ax.set_yscale("log")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def _grid_2d(extent, resolution):
    """(resolution^2, 2) float32 cell centres on [-extent, extent]^2, and the cell area."""
    edges = np.linspace(-extent, extent, resolution + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    gx, gy = np.meshgrid(centres, centres)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    return grid, float((edges[1] - edges[0]) ** 2)


def plot_densities_2d(
    log_densities, *, titles=None, extent=3.0, resolution=150, suptitle=None, cell_size=3.0
):
    """Heat maps of 2-D densities on one square grid, one panel per density (the toy flows).

    Each panel shows ``exp(log p)`` on ``[-extent, extent]^2`` and, in its title, the mass the grid
    holds (``sum p * cell area``: close to 1 when the density is normalized and the window holds
    its mass), a check that the picture is a density and not an arbitrary score.

    Args:
        log_densities: list of callables, each mapping a (G, 2) float32 array of points to (G,)
            log-densities in nats (e.g. ``toy_flow.log_density``).
        titles: optional list of one title per density.
        extent: half-width of the square window (finite, > 0).
        resolution: grid cells per axis (int >= 2).
        suptitle: optional figure title.
        cell_size: inches per panel.

    Returns:
        ``matplotlib.figure.Figure``; the mass on the grid of each density is in
        ``fig.grid_masses`` (list of floats).

    Raises:
        ValueError: an empty list, a titles list of another length, a bad extent or resolution,
            or a callable that returns the wrong number of values.
    """
    from .checks import finite_number, positive_int

    if not log_densities or not all(callable(f) for f in log_densities):
        raise ValueError("log_densities must be a non-empty list of callables (points -> log p).")
    if titles is not None and len(titles) != len(log_densities):
        raise ValueError(f"titles must have {len(log_densities)} entries, got {len(titles)}.")
    extent = finite_number("extent", extent, low=0.0, low_open=True)
    resolution = positive_int("resolution", resolution)
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}.")
    grid, cell = _grid_2d(extent, resolution)
    fig, axes = _figure(1, len(log_densities), figsize=(cell_size * len(log_densities), cell_size))
    fig.grid_masses = []
    for k, (ax, log_density) in enumerate(zip(axes[0], log_densities)):
        values = np.asarray(log_density(grid), dtype=np.float64).reshape(-1)
        if values.shape != (len(grid),):
            raise ValueError(
                f"log_densities[{k}] returned {values.size} values for {len(grid)} points."
            )
        density = np.exp(values).reshape(resolution, resolution)
        fig.grid_masses.append(float(density.sum() * cell))
        ax.imshow(density, origin="lower", extent=(-extent, extent, -extent, extent), cmap="magma")
        name = titles[k] if titles is not None else f"density {k}"
        ax.set_title(f"{name}\nmass on the grid {fig.grid_masses[-1]:.3f}", fontsize=9)
        _hide_ticks(ax)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_flow_stages(
    stages, *, colors=None, titles=None, extent=None, suptitle=None, max_points=3000
):
    """Scatter 2-D points as they pass through the layers of a flow, one panel per stage.

    Args:
        stages: list of (N, 2) arrays, the same N points after each layer (e.g.
            ``ToyFlow.layer_outputs(z, inverse=True)``: from the latent to the data).
        colors: optional (N,) array of values (or matplotlib colours) that follow each point
            through every panel, e.g. the index of the mode it ends in.
        titles: optional list of one title per stage (default "input", "after layer k").
        extent: half-width of every panel's square window (default: fitted to all points).
        suptitle: optional figure title.
        max_points: plot at most this many points (the first ones).

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ValueError: no stages, stages of different shapes or not (N, 2), or colors / titles of the
            wrong length.
    """
    if not stages:
        raise ValueError("stages must be a non-empty list of (N, 2) arrays.")
    arrays = [np.asarray(s, dtype=np.float64) for s in stages]
    shape = arrays[0].shape
    if len(shape) != 2 or shape[1] != 2 or any(a.shape != shape for a in arrays):
        raise ValueError(
            f"every stage must be an (N, 2) array of the same N, got shapes "
            f"{[a.shape for a in arrays]}."
        )
    if titles is not None and len(titles) != len(arrays):
        raise ValueError(f"titles must have {len(arrays)} entries, got {len(titles)}.")
    if colors is not None and len(colors) != shape[0]:
        raise ValueError(f"colors must have {shape[0]} entries, got {len(colors)}.")
    keep = slice(0, max_points)
    if extent is None:
        extent = 1.05 * max(float(np.abs(a[keep]).max()) for a in arrays)
    fig, axes = _figure(1, len(arrays), figsize=(2.4 * len(arrays), 2.6))
    for k, (ax, points) in enumerate(zip(axes[0], arrays)):
        c = None if colors is None else np.asarray(colors)[keep]
        ax.scatter(points[keep, 0], points[keep, 1], c=c, s=2, cmap="tab10", alpha=0.6)
        ax.set(xlim=(-extent, extent), ylim=(-extent, extent), aspect="equal")
        title = titles[k] if titles is not None else ("input" if k == 0 else f"after layer {k}")
        ax.set_title(title, fontsize=9)
        _hide_ticks(ax)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_labelled_points(
    x,
    y,
    labels,
    *,
    groups=None,
    xlabel="",
    ylabel="",
    title=None,
    logx=False,
    logy=False,
    hlines=None,
):
    """A scatter plot with a text label beside every point, coloured by group (e.g. family).

    Args:
        x, y: (M,) finite coordinates (positive on a log axis).
        labels: M strings written beside the points.
        groups: optional M group names; each group gets one colour and one legend entry.
        xlabel, ylabel, title: axis labels and title.
        logx, logy: logarithmic axes.
        hlines: optional ``{name: y}`` of dashed horizontal reference lines (e.g. a floor).

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ValueError: lengths that differ, non-finite values, or values <= 0 on a log axis.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(labels) != len(x):
        raise ValueError(
            f"x, y and labels must have one entry per point, got shapes {x.shape}, {y.shape} "
            f"and {len(labels)} labels."
        )
    if groups is not None and len(groups) != len(x):
        raise ValueError(f"groups must have {len(x)} entries, got {len(groups)}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite.")
    for name, values, log in (("x", x, logx), ("y", y, logy)):
        if log and np.any(values <= 0):
            raise ValueError(f"{name} must be > 0 on a logarithmic axis, got {values.min()}.")
    fig, axes = _figure(figsize=(7.5, 4.8))
    ax = axes[0, 0]
    groups = list(groups) if groups is not None else [None] * len(x)
    for group in dict.fromkeys(groups):
        pick = np.array([g == group for g in groups])
        ax.scatter(x[pick], y[pick], label=group, s=36)
    for label, xi, yi in zip(labels, x, y):
        ax.annotate(str(label), (xi, yi), textcoords="offset points", xytext=(5, 3), fontsize=7)
    for name, value in (hlines or {}).items():
        ax.axhline(value, ls="--", c="grey", lw=1)
        ax.annotate(
            name, (0.01, value), xycoords=("axes fraction", "data"), fontsize=7, va="bottom"
        )
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if any(g is not None for g in groups):
        ax.legend(fontsize=7)
    return fig
