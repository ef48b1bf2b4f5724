"""2-D toy distributions: small enough to plot densities and count modes exactly.

- The ring of Gaussians (:func:`sample_ring`, :func:`ring_modes`, :func:`ring_mode_statistics`):
  the standard benchmark for mode collapse (Metz et al. 2017, unrolled GANs).

References:

- L. Metz, B. Poole, D. Pfau, J. Sohl-Dickstein (2017). Unrolled generative adversarial
  networks. *ICLR*.
"""

from __future__ import annotations

import numpy as np

from .checks import positive_int as _positive_int


def ring_modes(n_modes=8, radius=2.0):
    """(n_modes, 2) centres equally spaced on a circle of the given radius."""
    angles = 2 * np.pi * np.arange(_positive_int("n_modes", n_modes)) / n_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_ring(n, *, n_modes=8, radius=2.0, std=0.05, seed=0):
    """(n, 2) float32 points from an equal mixture of 2-D Gaussians on a ring (std per axis).

    The standard mode-collapse benchmark (Metz et al. 2017, unrolled GANs, use std 0.02; the
    course uses 0.05 by default so that short CPU runs reach the modes).
    """
    rng = np.random.default_rng(seed)
    centres = ring_modes(n_modes, radius)
    which = rng.integers(0, n_modes, size=_positive_int("n", n))
    return (centres[which] + std * rng.standard_normal((n, 2))).astype("float32")


def ring_mode_statistics(points, *, n_modes=8, radius=2.0, std=0.05, min_fraction=0.01):
    """How well 2-D samples cover the ring: modes covered and the fraction of high-quality samples.

    A sample is *high quality* when it lies within ``3 * std`` of its nearest mode centre; a mode
    is *covered* when at least ``min_fraction`` of all samples are high-quality samples of it.

    Args:
        points: (N, 2) generated points.

    Returns:
        dict: ``modes_covered`` (int), ``high_quality_fraction`` (float in [0, 1]),
        ``mode_fractions`` ((n_modes,) float array).

    Raises:
        ValueError: points not of shape (N, 2).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise ValueError(f"points must have shape (N, 2), got {p.shape}.")
    centres = ring_modes(n_modes, radius)
    dist = np.linalg.norm(p[:, None, :] - centres[None], axis=-1)
    nearest, good = dist.argmin(axis=1), dist.min(axis=1) <= 3 * std
    fractions = np.bincount(nearest[good], minlength=n_modes) / len(p)
    return {
        "modes_covered": int(np.sum(fractions >= min_fraction)),
        "high_quality_fraction": float(good.mean()),
        "mode_fractions": fractions,
    }
