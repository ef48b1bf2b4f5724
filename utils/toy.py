"""Toy distributions in 1-D and 2-D: small enough to plot densities and count modes exactly.

- The ring of Gaussians (:func:`sample_ring`, :func:`ring_modes`, :func:`ring_mode_statistics`):
  the standard benchmark for mode collapse (Metz et al. 2017, unrolled GANs).
- A 1-D mixture of Gaussians and the best single Gaussian under either direction of the KL
  divergence (:func:`mixture_1d_log_density`, :func:`fit_gaussian_1d`, :func:`kl_divergence_1d`):
  forward KL covers the modes, reverse KL seeks one (Bishop 2006, section 10.1.2, Fig. 10.3).

References:

- C. M. Bishop (2006). *Pattern Recognition and Machine Learning*, section 10.1.2. Springer.

- L. Metz, B. Poole, D. Pfau, J. Sohl-Dickstein (2017). Unrolled generative adversarial
  networks. *ICLR*.
"""

from __future__ import annotations

import math

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


# ----------------------------------------------------------------------------------------------
# 1-D: one Gaussian fitted to a mixture by forward or reverse KL
# ----------------------------------------------------------------------------------------------

#: Default integration grid of the 1-D functions: wide enough for components within [-6, 6].
DEFAULT_GRID = np.linspace(-12.0, 12.0, 4801)


def _mixture_1d(weights, means, stds):
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    m = np.asarray(means, dtype=np.float64).reshape(-1)
    s = np.asarray(stds, dtype=np.float64).reshape(-1)
    if not (len(w) == len(m) == len(s)) or len(w) == 0:
        raise ValueError(
            f"weights, means and stds must be 1-D of one non-zero length, got {len(w)}, {len(m)} "
            f"and {len(s)} entries."
        )
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
        raise ValueError("weights, means and stds must be finite.")
    if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
        raise ValueError(f"weights must be >= 0 and sum to 1, got {w.tolist()}.")
    if np.any(s <= 0):
        raise ValueError(f"stds must be > 0, got {s.tolist()}.")
    return w, m, s


def _grid(grid):
    g = DEFAULT_GRID if grid is None else np.asarray(grid, dtype=np.float64).reshape(-1)
    if len(g) < 3 or not np.all(np.isfinite(g)) or np.any(np.diff(g) <= 0):
        raise ValueError("grid must hold at least 3 finite, strictly increasing points.")
    return g


def mixture_1d_log_density(x, weights, means, stds):
    """Log-density of a 1-D mixture of Gaussians, ``log sum_j w_j N(x; m_j, s_j^2)``, in nats.

    Args:
        x: points, any shape (float).
        weights: (J,) mixture weights, >= 0, summing to 1.
        means: (J,) component means.
        stds: (J,) component standard deviations, > 0.

    Returns:
        float64 array of the shape of ``x``.

    Raises:
        ValueError: mismatched lengths, weights that are negative or do not sum to 1, non-positive
            or non-finite parameters.
    """
    w, m, s = _mixture_1d(weights, means, stds)
    x = np.asarray(x, dtype=np.float64)
    z = (x[..., None] - m) / s
    with np.errstate(divide="ignore"):  # a zero weight contributes log 0 = -inf, which is exact
        terms = np.log(w) - 0.5 * z**2 - np.log(s) - 0.5 * math.log(2 * math.pi)
    top = terms.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(terms - top).sum(axis=-1, keepdims=True)))[..., 0]


def kl_divergence_1d(log_p, log_q, grid=None):
    """``KL(p || q) = integral of p (log p - log q)`` in nats, by the trapezoidal rule on a grid.

    Args:
        log_p: (G,) log-density of p on ``grid`` (``-inf`` where p vanishes).
        log_q: (G,) log-density of q on the same grid.
        grid: (G,) increasing points (default :data:`DEFAULT_GRID`). It must cover the mass of p.

    Returns:
        float: the divergence (>= 0 up to quadrature error; ``inf`` if q vanishes where p does not).

    Raises:
        ValueError: arrays of different lengths, or a bad grid.
    """
    g = _grid(grid)
    log_p = np.asarray(log_p, dtype=np.float64).reshape(-1)
    log_q = np.asarray(log_q, dtype=np.float64).reshape(-1)
    if not len(log_p) == len(log_q) == len(g):
        raise ValueError(
            f"log_p, log_q and grid must have one length, got {len(log_p)}, {len(log_q)} and "
            f"{len(g)}."
        )
    p = np.exp(log_p)
    with np.errstate(invalid="ignore"):
        integrand = np.where(p > 0, p * (log_p - log_q), 0.0)
    if np.any(np.isinf(integrand)):
        return math.inf
    return float(np.trapezoid(integrand, g))


def fit_gaussian_1d(weights, means, stds, *, direction, init_mean=None, grid=None):
    """The single Gaussian ``q = N(mu, sigma^2)`` closest to a 1-D mixture p in one KL direction.

    - ``direction="forward"`` minimizes ``KL(p || q)``, the maximum-likelihood direction: the
      optimum matches p's mean and variance (moment matching), so q spreads over every mode.
    - ``direction="reverse"`` minimizes ``KL(q || p)``, the direction of variational inference:
      q is penalized wherever p is small, so it settles on one mode. The objective has several
      local minima (one per well-separated mode); L-BFGS starts from ``init_mean`` and the
      average component width, so the start decides which mode is found.

    Args:
        weights, means, stds: the mixture p (see :func:`mixture_1d_log_density`).
        direction: ``"forward"`` or ``"reverse"``.
        init_mean: starting mean of the reverse fit (default: the mean of the heaviest component).
        grid: integration grid of the reverse fit (default :data:`DEFAULT_GRID`).

    Returns:
        ``(mu, sigma)``: two floats, sigma > 0.

    Raises:
        ValueError: a bad mixture, grid or ``direction``.
    """
    from scipy.optimize import minimize

    w, m, s = _mixture_1d(weights, means, stds)
    if direction == "forward":
        mu = float(np.sum(w * m))
        return mu, float(math.sqrt(np.sum(w * (s**2 + m**2)) - mu**2))
    if direction != "reverse":
        raise ValueError(f"direction must be 'forward' or 'reverse', got {direction!r}.")
    g = _grid(grid)
    log_p = mixture_1d_log_density(g, w, m, s)
    start = m[np.argmax(w)] if init_mean is None else float(init_mean)

    def reverse_kl(params):
        mu, log_sigma = params
        log_q = mixture_1d_log_density(g, [1.0], [mu], [math.exp(log_sigma)])
        return kl_divergence_1d(log_q, log_p, g)

    result = minimize(reverse_kl, x0=[start, math.log(float(np.sum(w * s)))], method="L-BFGS-B")
    return float(result.x[0]), float(math.exp(result.x[1]))
