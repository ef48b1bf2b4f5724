"""The 1-D mixture toy of chapter 00: densities, the numerical KL, and both Gaussian fits."""

from utils import toy

import math

import numpy as np
import pytest
from scipy.stats import norm

W, M, S = [0.4, 0.6], [-2.0, 2.0], [0.6, 0.6]


def test_mixture_density_matches_scipy_and_integrates_to_one():
    x = np.linspace(-5, 5, 11)
    expected = np.log(0.4 * norm.pdf(x, -2, 0.6) + 0.6 * norm.pdf(x, 2, 0.6))
    np.testing.assert_allclose(toy.mixture_1d_log_density(x, W, M, S), expected, rtol=1e-12)
    density = np.exp(toy.mixture_1d_log_density(toy.DEFAULT_GRID, W, M, S))
    assert np.trapezoid(density, toy.DEFAULT_GRID) == pytest.approx(1.0, abs=1e-9)
    # far in the tails the log-density stays finite (no log 0)
    assert np.isfinite(toy.mixture_1d_log_density(np.array([-40.0, 40.0]), W, M, S)).all()


def test_kl_of_two_gaussians_matches_the_closed_form():
    g = toy.DEFAULT_GRID
    log_p = toy.mixture_1d_log_density(g, [1.0], [0.5], [1.0])
    log_q = toy.mixture_1d_log_density(g, [1.0], [-0.5], [2.0])
    closed = math.log(2.0 / 1.0) + (1.0 + 1.0**2) / (2 * 4.0) - 0.5
    assert toy.kl_divergence_1d(log_p, log_q, g) == pytest.approx(closed, abs=1e-6)
    assert toy.kl_divergence_1d(log_p, log_p, g) == pytest.approx(0.0, abs=1e-12)


def test_forward_fit_matches_the_moments():
    mu, sigma = toy.fit_gaussian_1d(W, M, S, direction="forward")
    assert mu == pytest.approx(0.4)
    assert sigma**2 == pytest.approx(0.36 + 4.0 - 0.16)


def test_forward_fit_minimizes_the_forward_kl():
    g = toy.DEFAULT_GRID
    log_p = toy.mixture_1d_log_density(g, W, M, S)
    mu, sigma = toy.fit_gaussian_1d(W, M, S, direction="forward")

    def forward(m, s):
        return toy.kl_divergence_1d(log_p, toy.mixture_1d_log_density(g, [1.0], [m], [s]), g)

    best = forward(mu, sigma)
    for dm, ds in ((0.1, 0), (-0.1, 0), (0, 0.1), (0, -0.1)):
        assert forward(mu + dm, sigma + ds) > best


@pytest.mark.parametrize("start, mode", [(2.0, 2.0), (-2.0, -2.0), (None, 2.0)])
def test_reverse_fit_seeks_the_mode_it_starts_on(start, mode):
    mu, sigma = toy.fit_gaussian_1d(W, M, S, direction="reverse", init_mean=start)
    assert mu == pytest.approx(mode, abs=0.05)
    assert sigma == pytest.approx(0.6, abs=0.05)


def test_a_single_gaussian_is_its_own_fit_in_both_directions():
    for direction in ("forward", "reverse"):
        mu, sigma = toy.fit_gaussian_1d([1.0], [1.5], [0.7], direction=direction)
        assert mu == pytest.approx(1.5, abs=1e-3) and sigma == pytest.approx(0.7, abs=1e-3)


@pytest.mark.parametrize(
    "weights, means, stds",
    [([0.5, 0.6], M, S), ([-0.4, 1.4], M, S), (W, M, [0.6, 0.0]), (W, [0.0], S), ([], [], [])],
)
def test_bad_mixtures_are_named(weights, means, stds):
    with pytest.raises(ValueError):
        toy.mixture_1d_log_density(0.0, weights, means, stds)


def test_bad_direction_and_grid():
    with pytest.raises(ValueError, match="direction"):
        toy.fit_gaussian_1d(W, M, S, direction="backward")
    with pytest.raises(ValueError, match="grid"):
        toy.kl_divergence_1d([0, 0, 0], [0, 0, 0], [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="length"):
        toy.kl_divergence_1d([0, 0], [0, 0, 0], [0.0, 1.0, 2.0])
