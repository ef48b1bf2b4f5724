"""Reconstruction errors, likelihood units, PCA, probes, quantization."""

from utils import likelihood
from utils import reconstruction as E

import numpy as np
import pytest


def test_squared_error_per_image(rng):
    x = rng.random((4, 28, 28, 1))
    x_hat = rng.random((4, 28, 28, 1))
    expected = [np.sum((a - b) ** 2) for a, b in zip(x, x_hat)]
    np.testing.assert_allclose(E.per_image_squared_error(x, x_hat), expected)
    with pytest.raises(ValueError, match="same shape"):
        E.per_image_squared_error(x, x_hat[:3])


def test_bce_is_the_bernoulli_negative_log_likelihood(rng):
    p = rng.uniform(0.05, 0.95, (3, 10))
    x = (rng.random((3, 10)) < 0.5).astype(float)
    log_lik = np.sum(np.where(x == 1, np.log(p), np.log(1 - p)), axis=1)
    np.testing.assert_allclose(E.per_image_binary_cross_entropy(x, p), -log_lik)
    assert E.per_image_binary_cross_entropy(x, x).max() < 1e-4  # perfect prediction costs ~0 nats
    with pytest.raises(ValueError):
        E.per_image_binary_cross_entropy(x, p + 1)


def test_pca_is_exact_with_all_components_and_improves_with_k(rng):
    x = rng.random((60, 4, 4))
    x_hat, codes, _ = E.pca_reconstruction(x, x, 16)
    np.testing.assert_allclose(x_hat, x, atol=1e-4)
    sweep = E.pca_sweep(x, x, [1, 3, 8, 16])
    errors = [E.per_image_squared_error(x, sweep[k]).mean() for k in (1, 3, 8, 16)]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    np.testing.assert_allclose(sweep[3], E.pca_reconstruction(x, x, 3)[0], atol=1e-5)
    with pytest.raises(ValueError, match="n_components"):
        E.pca_reconstruction(x, x, 0)


def test_linear_probe_on_separable_and_random_labels(rng):
    centres = rng.normal(0, 10, (3, 5))
    y = np.repeat(np.arange(3), 40)
    f = centres[y] + rng.normal(0, 0.1, (120, 5))
    assert E.linear_probe_accuracy(f[::2], y[::2], f[1::2], y[1::2]) == 1.0
    noise = rng.normal(size=(400, 5))
    labels = rng.integers(0, 2, 400)
    assert E.linear_probe_accuracy(noise[:200], labels[:200], noise[200:], labels[200:]) < 0.65
    with pytest.raises(ValueError):
        E.linear_probe_accuracy(f, y[:-1], f, y)


def test_independent_bernoulli_is_the_smoothed_maximum_likelihood(rng):
    x = (rng.random((50, 6)) < np.linspace(0.1, 0.9, 6)).astype(float)
    theta = likelihood.fit_independent_bernoulli(x)
    np.testing.assert_allclose(theta, (x.sum(0) + 1) / 52)

    def nll(t):
        return E.per_image_binary_cross_entropy(x, np.broadcast_to(t, x.shape)).mean()

    mle = likelihood.fit_independent_bernoulli(x, alpha=1e-9)
    for delta in (0.02, -0.02):
        assert nll(np.clip(mle + delta, 1e-3, 1 - 1e-3)) > nll(mle)
    with pytest.raises(ValueError, match="only 0 and 1"):
        likelihood.fit_independent_bernoulli(x * 0.5)


def test_uniform_quantize_error_is_at_most_half_a_step(rng):
    v = rng.uniform(-2, 3, (100, 4))
    q = E.uniform_quantize(v, -2, 3, bits=4)
    assert np.abs(q - v).max() <= 0.5 * 5 / 15 + 1e-6
    assert len(np.unique(q[:, 0])) <= 16
    np.testing.assert_allclose(E.uniform_quantize(v, -2, 3, bits=16), v, atol=1e-4)
    with pytest.raises(ValueError):
        E.uniform_quantize(v, 1, 1)
