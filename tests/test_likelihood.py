"""Likelihood helpers: closed forms against Monte Carlo and SciPy, unit round trips, the 8-bit
protocol (dequantization cells, the uniform density at exactly 8 bits/dim), and argument checks."""

from utils import likelihood as L
from utils import vae

import math

import numpy as np
import pytest
from keras import ops
from scipy.special import logsumexp
from scipy.stats import norm


def _np(tensor):
    return np.asarray(ops.convert_to_numpy(tensor), dtype=np.float64)


# -- the old homes keep working -----------------------------------------------------------------


def test_functions_are_defined_once_and_reexported():
    for name in (
        "kl_divergence_standard_normal",
        "bernoulli_log_likelihood",
        "gaussian_log_likelihood",
        "standard_normal_log_density",
    ):
        assert getattr(vae, name) is getattr(L, name)


# -- units --------------------------------------------------------------------------------------


def test_unit_conversions_round_trip_and_match_the_definition(rng):
    nats = rng.uniform(0, 500, (7, 3))
    bits = L.nats_to_bits_per_dim(nats)
    np.testing.assert_allclose(bits, nats / 784 / math.log(2), rtol=1e-15)
    np.testing.assert_allclose(L.bits_per_dim_to_nats(bits), nats, rtol=1e-14)
    np.testing.assert_allclose(
        L.nats_to_bits_per_dim(L.bits_per_dim_to_nats(0.3, dims=3), dims=3), 0.3
    )
    assert L.nats_to_bits_per_dim(784 * math.log(2)) == pytest.approx(1.0, rel=1e-15)
    # A fair coin per pixel costs 1 bit per pixel: 784 ln 2 nats per image.
    assert L.bits_per_dim_to_nats(1.0) == pytest.approx(784 * math.log(2), rel=1e-15)


@pytest.mark.parametrize("function", [L.nats_to_bits_per_dim, L.bits_per_dim_to_nats])
def test_unit_conversions_reject_bad_inputs(function):
    with pytest.raises(ValueError, match="dims"):
        function(1.0, dims=0)
    with pytest.raises(ValueError, match="dims"):
        function(1.0, dims=2.5)
    with pytest.raises(ValueError, match="NaN"):
        function(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="finite"):
        function(np.inf)
    with pytest.raises(TypeError):
        function("many")


# -- log-mean-exp --------------------------------------------------------------------------------


def test_log_mean_exp_matches_the_naive_formula_on_safe_values(rng):
    v = rng.normal(0, 3, (5, 40))
    for axis in (0, 1, -1):
        naive = np.log(np.mean(np.exp(v), axis=axis))
        np.testing.assert_allclose(L.log_mean_exp(v, axis=axis), naive, rtol=1e-12)


def test_log_mean_exp_is_stable_where_the_naive_formula_fails():
    # log mean exp(1000 + c) = 1000 + log mean exp(c); the naive formula overflows to inf.
    c = np.array([0.0, 1.0, 2.0])
    expected = np.log(np.mean(np.exp(c)))
    assert L.log_mean_exp(1000.0 + c) == pytest.approx(1000.0 + expected, rel=1e-14)
    assert L.log_mean_exp(-1000.0 + c) == pytest.approx(-1000.0 + expected, rel=1e-14)
    v = np.array([[-1e4, 2e4, 3.0], [5.0, 5.0, 5.0]])
    np.testing.assert_allclose(
        L.log_mean_exp(v, axis=1), logsumexp(v, axis=1) - np.log(3), rtol=1e-14
    )
    # Zero weights (-inf) are allowed; all of them give -inf.
    assert L.log_mean_exp(np.array([-np.inf, 0.0])) == pytest.approx(np.log(0.5))
    assert L.log_mean_exp(np.array([-np.inf, -np.inf])) == -np.inf


def test_log_mean_exp_rejects_bad_inputs():
    with pytest.raises(ValueError, match="values must not contain NaN"):
        L.log_mean_exp(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="values must be finite"):
        L.log_mean_exp(np.array([0.0, np.inf]))
    with pytest.raises(ValueError, match="axis"):
        L.log_mean_exp(np.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError, match="axis"):
        L.log_mean_exp(np.zeros((2, 3)), axis=1.0)
    with pytest.raises(ValueError, match="no entries"):
        L.log_mean_exp(np.zeros((2, 0)), axis=1)
    with pytest.raises(ValueError, match="scalar"):
        L.log_mean_exp(1.0)


# -- densities ---------------------------------------------------------------------------------


def test_kl_closed_form_matches_monte_carlo(rng):
    mean = rng.normal(0, 1, (3, 4)).astype("float32")
    log_var = rng.normal(0, 0.7, (3, 4)).astype("float32")
    closed = _np(L.kl_divergence_standard_normal(mean, log_var))
    n = 200_000
    std = np.exp(0.5 * log_var.astype(np.float64))
    z = mean[:, None, :] + std[:, None, :] * rng.standard_normal((3, n, 4))
    samples = (norm.logpdf(z, mean[:, None, :], std[:, None, :]) - norm.logpdf(z)).sum(-1)
    mc, se = samples.mean(1), samples.std(1) / np.sqrt(n)
    assert np.all(closed >= 0)
    np.testing.assert_array_less(np.abs(closed - mc), 4 * se + 1e-4)
    assert _np(
        L.kl_divergence_standard_normal(np.zeros((2, 3)), np.zeros((2, 3)))
    ) == pytest.approx(0.0)


def test_log_likelihoods_match_scipy(rng):
    x = (rng.random((2, 5, 5, 1)) < 0.4).astype("float32")
    logits = rng.normal(0, 2, (2, 5, 5, 1)).astype("float32")
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = np.sum(np.where(x == 1, np.log(p), np.log1p(-p)), axis=(1, 2, 3))
    np.testing.assert_allclose(_np(L.bernoulli_log_likelihood(x, logits)), expected, rtol=1e-5)
    mean, log_var, y = (rng.normal(size=(2, 6)).astype("float32") for _ in range(3))
    expected = norm.logpdf(y, mean, np.exp(0.5 * log_var)).sum(1)
    np.testing.assert_allclose(
        _np(L.gaussian_log_likelihood(y, mean, log_var)), expected, rtol=1e-5
    )
    expected = norm.logpdf(y, mean, 2.0).sum(1)  # scalar log-variance log 4
    got = _np(L.gaussian_log_likelihood(y, mean, np.float32(np.log(4.0))))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(
        _np(L.standard_normal_log_density(y)), norm.logpdf(y).sum(1), rtol=1e-5
    )


def test_density_functions_accept_backend_tensors(rng):
    x = ops.convert_to_tensor((rng.random((3, 4)) < 0.5).astype("float32"))
    logits = ops.convert_to_tensor(rng.normal(size=(3, 4)).astype("float32"))
    p = 1 / (1 + np.exp(-_np(logits)))
    expected = np.sum(np.where(_np(x) == 1, np.log(p), np.log1p(-p)), axis=1)
    np.testing.assert_allclose(_np(L.bernoulli_log_likelihood(x, logits)), expected, rtol=1e-5)


def test_density_functions_reject_bad_inputs(rng):
    good = rng.normal(size=(2, 3)).astype("float32")
    with pytest.raises(ValueError, match="mean and log_var must have the same shape"):
        L.kl_divergence_standard_normal(good, good[:, :2])
    with pytest.raises(ValueError, match="log_var must not contain NaN"):
        L.kl_divergence_standard_normal(good, np.full((2, 3), np.nan, "float32"))
    with pytest.raises(ValueError, match="x and logits must have the same shape"):
        L.bernoulli_log_likelihood(np.zeros((2, 3)), good[:1])
    with pytest.raises(ValueError, match=r"x must hold values in \[0.0, 1.0\]"):
        L.bernoulli_log_likelihood(np.full((2, 3), 2.0), good)
    with pytest.raises(ValueError, match="logits must be finite"):
        L.bernoulli_log_likelihood(np.zeros((2, 3)), np.full((2, 3), np.inf))
    with pytest.raises(ValueError, match="x and mean must have the same shape"):
        L.gaussian_log_likelihood(good, good[:1], 0.0)
    with pytest.raises(ValueError, match="log_var of shape"):
        L.gaussian_log_likelihood(good, good, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="z must have at least 1 axes"):
        L.standard_normal_log_density(np.float32(1.0))
    with pytest.raises(TypeError, match="z must be"):
        L.standard_normal_log_density(object())


# -- the 8-bit protocol -------------------------------------------------------------------------


def test_dequantization_stays_in_each_levels_cell(rng):
    x = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    x[0] = 255  # the top cell, where rounding to 1.0 would be easiest
    x[1] = 0
    y = L.uniform_dequantize(x, seed=3)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert y.min() >= 0.0 and y.max() < 1.0
    np.testing.assert_array_equal(np.floor(256.0 * y.astype(np.float64)), x)
    np.testing.assert_array_equal(np.floor(256.0 * y), x)  # also in float32 arithmetic
    # Same seed, same data; another seed, other noise.
    np.testing.assert_array_equal(L.uniform_dequantize(x, seed=3), y)
    assert not np.array_equal(L.uniform_dequantize(x, seed=4), y)


def test_dequantization_noise_is_uniform_on_the_cell():
    x = np.full(200_000, 17, dtype=np.uint8)
    u = 256.0 * L.uniform_dequantize(x, seed=0).astype(np.float64) - 17.0
    # U[0, 1): mean 1/2, variance 1/12, and a flat histogram.
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / len(u))
    assert abs(u.var() - 1 / 12) < 0.002
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    expected = len(u) / 10
    assert np.sum((counts - expected) ** 2 / expected) < 30  # chi-square, 9 dof, p < 1e-3


def test_dequantization_rejects_bad_inputs():
    with pytest.raises(TypeError, match="x_uint8 must be an integer array"):
        L.uniform_dequantize(np.zeros((2, 3), np.float32), seed=0)
    with pytest.raises(ValueError, match=r"x_uint8 must hold values in 0..255"):
        L.uniform_dequantize(np.array([0, 256]), seed=0)
    with pytest.raises(ValueError, match="x_uint8 is empty"):
        L.uniform_dequantize(np.zeros((0,), np.uint8), seed=0)
    with pytest.raises(TypeError, match="seed"):
        L.uniform_dequantize(np.zeros(3, np.uint8), seed=None)
    with pytest.raises(ValueError, match="seed"):
        L.uniform_dequantize(np.zeros(3, np.uint8), seed=-1)
    with pytest.raises(TypeError):
        L.uniform_dequantize(np.zeros(3, np.uint8), 0)  # seed is keyword-only


def test_a_uniform_density_is_exactly_8_bits_per_dim():
    # p(y) = 1 on [0, 1)^D: log p = 0 nats, i.e. every 8-bit image has probability 256^-D.
    assert L.bits_per_dim_8bit(0.0) == 8.0
    np.testing.assert_array_equal(L.bits_per_dim_8bit(np.zeros(4), dims=3072), np.full(4, 8.0))
    assert L.bits_per_dim_8bit(0.0, scale=2) == 1.0


def test_8bit_conversion_matches_the_change_of_variables(rng):
    # Independent Gaussian pixels with std 0.1: the density of 256 y is the density of y / 256^D.
    y = rng.random((3, 784))
    log_p = norm.logpdf(y, 0.5, 0.1).sum(1)
    log_p_8bit = norm.logpdf(256 * y, 128.0, 25.6).sum(1)  # the same model in [0, 256) units
    np.testing.assert_allclose(
        L.bits_per_dim_8bit(log_p), -log_p_8bit / (784 * math.log(2)), rtol=1e-12
    )
    # 8-bit bits/dim and nats in [0, 1) space differ by exactly log2(256) = 8 per dimension.
    np.testing.assert_allclose(
        L.bits_per_dim_8bit(log_p) - L.nats_to_bits_per_dim(-log_p), 8.0, rtol=1e-13
    )


def test_8bit_conversion_rejects_bad_inputs():
    with pytest.raises(ValueError, match="log_density must not contain NaN"):
        L.bits_per_dim_8bit(np.array([np.nan]))
    with pytest.raises(ValueError, match="log_density must be finite"):
        L.bits_per_dim_8bit(-np.inf)
    with pytest.raises(ValueError, match="dims"):
        L.bits_per_dim_8bit(0.0, dims=-784)
    with pytest.raises(ValueError, match="scale"):
        L.bits_per_dim_8bit(0.0, scale=0)
    with pytest.raises(TypeError, match="scale"):
        L.bits_per_dim_8bit(0.0, scale="256")
