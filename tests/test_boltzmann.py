"""Boltzmann machines (utils.boltzmann) against brute-force enumeration: free energies,
conditionals, Gibbs sampling (chi-square against the exact p(v)), exact and annealed log Z, CD-1 /
PCD training (exact NLL before and after), the deep belief net's bound against its exact log p(v),
the SGLD energy-based model, .keras round trips, bad inputs and backend.compile_function. Every
model is tiny, so exact answers exist. Runs on every backend."""

import utils  # noqa: F401  (registers the course's models with keras.saving)
from utils import backend, boltzmann
from utils.contract import LikelihoodUnavailableError
from utils.data import DynamicBinarization

import itertools
import json

import keras
import numpy as np
import pytest
from keras import ops
from scipy import stats

# -- helpers ---------------------------------------------------------------------------------------


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _configurations(n):
    """All 2**n binary vectors in counting order (most significant bit first), float64: built
    with itertools, independently of boltzmann.enumerate_binary."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _logsumexp(a, axis=None):
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)), axis=axis)


def _softplus(a):
    return np.logaddexp(0.0, a)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _rbm(n_visible, n_hidden, *, scale=1.0, bias_scale=0.5, seed=0, **kwargs):
    """An RBM whose parameters are NumPy N(0, scale^2) / N(0, bias_scale^2) draws: the same model
    on every backend, far from the near-zero initialization."""
    rbm = boltzmann.RBM(n_visible, n_hidden, seed=seed, **kwargs)
    rng = np.random.default_rng(seed)
    rbm.W.assign((scale * rng.standard_normal((n_visible, n_hidden))).astype("float32"))
    rbm.visible_bias.assign((bias_scale * rng.standard_normal(n_visible)).astype("float32"))
    rbm.hidden_bias.assign((bias_scale * rng.standard_normal(n_hidden)).astype("float32"))
    return rbm


def _neg_energies(rbm):
    """``-E(v, h)`` for every pair (2**V, 2**H), float64, with the configurations V and H."""
    W, b, c = rbm.numpy_parameters()
    V, H = _configurations(rbm.n_visible), _configurations(rbm.n_hidden)
    return V @ b[:, None] + (H @ c)[None, :] + V @ W @ H.T, V, H


def _exact_p_visible(rbm):
    """p(v) over all 2**V visible configurations, float64, by full enumeration of the joint."""
    neg_e, _, _ = _neg_energies(rbm)
    log_pv = _logsumexp(neg_e, axis=1)
    return np.exp(log_pv - _logsumexp(log_pv))


def _chisquare_pvalue(samples, probabilities):
    """Pearson's chi-square p-value for binary rows ``samples`` (N, D) drawn from
    ``probabilities`` over the 2**D configurations in counting order; cells expecting fewer than
    5 draws are pooled into one."""
    samples = np.asarray(samples).reshape(len(samples), -1)
    d = samples.shape[1]
    assert set(np.unique(samples)) <= {0.0, 1.0}
    index = samples.astype(np.int64) @ (2 ** np.arange(d - 1, -1, -1))
    counts = np.bincount(index, minlength=2**d).astype(float)
    expected = len(samples) * probabilities / probabilities.sum()
    small = expected < 5
    if small.any():
        counts = np.append(counts[~small], counts[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
    return stats.chisquare(counts, expected).pvalue


# -- enumeration, free energy, conditionals --------------------------------------------------------


def test_enumerate_binary_counts_in_order():
    np.testing.assert_array_equal(boltzmann.enumerate_binary(3), _configurations(3))
    rows = boltzmann.enumerate_binary(10)
    assert rows.shape == (1024, 10) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows @ (2.0 ** np.arange(9, -1, -1)), np.arange(1024))


def test_free_energy_is_minus_log_sum_over_hidden_of_exp_minus_energy():
    rbm = _rbm(6, 4, seed=1)
    neg_e, V, H = _neg_energies(rbm)
    expected = -_logsumexp(neg_e, axis=1)  # (64,): every visible configuration
    np.testing.assert_allclose(_np(rbm.free_energy(V.astype("float32"))), expected, rtol=1e-5)
    exact = rbm.free_energy_numpy(V)
    assert exact.dtype == np.float64 and exact.shape == (64,)
    np.testing.assert_allclose(exact, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rbm.free_energy_numpy(V, batch_size=7), exact, rtol=0, atol=1e-12)
    # energy(v, h) of every pair, against -(-E)
    vv = np.repeat(V, len(H), axis=0).astype("float32")
    hh = np.tile(H, (len(V), 1)).astype("float32")
    np.testing.assert_allclose(_np(rbm.energy(vv, hh)), -neg_e.ravel(), rtol=1e-5, atol=1e-5)
    # the same rows given as images (N,) + image_shape
    shaped = _rbm(6, 4, seed=1, image_shape=(2, 3, 1))
    np.testing.assert_allclose(shaped.free_energy_numpy(V.reshape(-1, 2, 3, 1)), exact)


def test_conditionals_match_the_enumerated_joint():
    rbm = _rbm(6, 4, seed=2)
    neg_e, V, H = _neg_energies(rbm)
    # p(h | v): normalize exp(-E) over h for each v; marginal of each h_j
    p_h_given_v = np.exp(neg_e - _logsumexp(neg_e, axis=1)[:, None])  # (64, 16)
    np.testing.assert_allclose(
        _np(rbm.hidden_probabilities(V.astype("float32"))), p_h_given_v @ H, rtol=1e-5, atol=1e-6
    )
    # p(v | h): normalize over v for each h
    p_v_given_h = np.exp(neg_e - _logsumexp(neg_e, axis=0)[None, :])  # (64, 16), columns sum to 1
    np.testing.assert_allclose(
        _np(rbm.visible_probabilities(H.astype("float32"))),
        p_v_given_h.T @ V,
        rtol=1e-5,
        atol=1e-6,
    )
    # and the joint conditional is the product of those marginals (the RBM's factorization)
    q = p_h_given_v @ H
    product = np.prod(np.where(H[None, :, :] == 1, q[:, None, :], 1 - q[:, None, :]), axis=2)
    np.testing.assert_allclose(product, p_h_given_v, rtol=1e-10, atol=1e-12)
    # the mean-field reconstruction p(v | h = p(h | v)) keeps the input's shape
    shaped = _rbm(6, 4, seed=2, image_shape=(2, 3, 1))
    W, b, c = shaped.numpy_parameters()
    out = _np(shaped(V[:5].reshape(5, 2, 3, 1).astype("float32")))
    assert out.shape == (5, 2, 3, 1)
    mean_field = _sigmoid(_sigmoid(V[:5] @ W + c) @ W.T + b)
    np.testing.assert_allclose(out.reshape(5, 6), mean_field, rtol=1e-5, atol=1e-6)


# -- Gibbs sampling against the exact p(v) -----------------------------------------------------


def test_gibbs_samples_follow_the_exact_distribution_and_a_wrong_one_is_rejected():
    rbm = _rbm(4, 3, scale=1.5, bias_scale=1.0, seed=3)
    exact = _exact_p_visible(rbm)
    # the free energies and the exact log Z give the same p(v) as the enumerated joint
    from_free_energy = np.exp(
        -rbm.free_energy_numpy(_configurations(4)) - boltzmann.exact_log_partition(rbm)
    )
    np.testing.assert_allclose(from_free_energy, exact, rtol=1e-10)
    assert exact.max() / exact.min() > 20  # far from uniform: the rejection below means something
    n = 4000
    samples = rbm.generate(n, steps=30, seed=0)  # n independent chains
    assert samples.shape == (n, 4) and samples.dtype == np.float32
    assert _chisquare_pvalue(samples, exact) > 1e-3
    assert _chisquare_pvalue(samples, np.full(16, 1 / 16)) < 1e-10
    # a wrong model close to the right one: the biases flipped in sign
    wrong = _rbm(4, 3, scale=1.5, bias_scale=1.0, seed=3)
    wrong.visible_bias.assign(-_np(wrong.visible_bias))
    assert _chisquare_pvalue(samples, _exact_p_visible(wrong)) < 1e-10
    # one long chain of gibbs_step from a fixed state, thinned: the same distribution
    generator = keras.random.SeedGenerator(1)
    v = ops.zeros((200, 4))
    kept = []
    for step in range(1, 101):
        v, h = rbm.gibbs_step(v, generator)
        if step > 20 and step % 4 == 0:
            kept.append(_np(v))
    assert tuple(h.shape) == (200, 3)
    assert _chisquare_pvalue(np.concatenate(kept), exact) > 1e-3


def test_generate_is_repeatable_and_returns_binary_images_or_probabilities():
    rbm = _rbm(6, 4, seed=4, image_shape=(2, 3, 1))
    a = rbm.generate(7, steps=3, seed=5, batch_size=3)  # batches of 3, 3 and 1
    assert a.shape == (7, 2, 3, 1) and a.dtype == np.float32
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, rbm.generate(7, steps=3, seed=5, batch_size=3))
    assert not np.array_equal(rbm.generate(50, steps=3, seed=5), rbm.generate(50, steps=3, seed=6))
    p = rbm.generate(7, steps=3, seed=5, probabilities=True)
    assert p.shape == (7, 2, 3, 1) and 0 < p.min() and p.max() < 1
    assert len(np.unique(p)) > 2


# -- the partition function ----------------------------------------------------------------------


@pytest.mark.parametrize("n_visible, n_hidden", [(6, 4), (4, 6), (5, 5)])
def test_exact_log_partition_equals_brute_force_over_all_pairs(n_visible, n_hidden):
    rbm = _rbm(n_visible, n_hidden, seed=n_visible)
    neg_e, _, _ = _neg_energies(rbm)
    brute = _logsumexp(neg_e.ravel())
    np.testing.assert_allclose(boltzmann.exact_log_partition(rbm), brute, rtol=1e-12)
    np.testing.assert_allclose(boltzmann.exact_log_partition(rbm, batch_size=3), brute, rtol=1e-12)


def _transposed(rbm):
    """The RBM with its layers swapped: E(h, v) is E(v, h), so Z is the same."""
    W, b, c = rbm.numpy_parameters()
    other = boltzmann.RBM(rbm.n_hidden, rbm.n_visible)
    other.W.assign(W.T.astype("float32"))
    other.visible_bias.assign(c.astype("float32"))
    other.hidden_bias.assign(b.astype("float32"))
    return other


def test_exact_log_partition_enumerates_either_layer_with_the_same_result():
    small = _rbm(3, 12, seed=6)  # enumerates the 3 visible units
    large = _transposed(small)  # enumerates the 3 hidden units
    np.testing.assert_allclose(
        boltzmann.exact_log_partition(small), boltzmann.exact_log_partition(large), rtol=1e-12
    )
    neg_e, _, _ = _neg_energies(small)
    np.testing.assert_allclose(boltzmann.exact_log_partition(large), _logsumexp(neg_e.ravel()))
    # an MNIST-sized RBM with 10 hidden units: 1,024 terms either way
    mnist = _rbm(784, 10, scale=0.05, seed=7)
    assert mnist.image_shape == (28, 28, 1)
    np.testing.assert_allclose(
        boltzmann.exact_log_partition(mnist),
        boltzmann.exact_log_partition(_transposed(mnist)),
        rtol=1e-10,
    )
    # no weights: independent units, log Z = sum softplus(b) + sum softplus(c)
    free = _rbm(8, 5, seed=8)
    free.W.assign(np.zeros((8, 5), "float32"))
    _, b, c = free.numpy_parameters()
    np.testing.assert_allclose(
        boltzmann.exact_log_partition(free), _softplus(b).sum() + _softplus(c).sum(), rtol=1e-12
    )


def test_log_likelihood_is_minus_free_energy_minus_log_z_and_normalizes():
    rbm = _rbm(6, 4, seed=9, image_shape=(2, 3, 1))
    V = _configurations(6).astype("float32")
    ll = rbm.log_likelihood(V.reshape(-1, 2, 3, 1), log_z=3.7)
    assert ll.dtype == np.float64 and ll.shape == (64,)
    np.testing.assert_allclose(ll, -rbm.free_energy_numpy(V) - 3.7, rtol=0, atol=1e-12)
    log_z = boltzmann.exact_log_partition(rbm)
    exact = rbm.log_likelihood(V, log_z=log_z)  # flat rows work as well as images
    np.testing.assert_allclose(np.exp(exact).sum(), 1.0, rtol=1e-10)
    np.testing.assert_allclose(exact, np.log(_exact_p_visible(rbm)), atol=1e-10)
    # without log_z, AIS estimates it: the same per-image differences, shifted by its error
    ais = rbm.log_likelihood(V[:5], n_betas=300, n_runs=50, seed=0)
    estimate = boltzmann.ais_log_partition(rbm, n_betas=300, n_runs=50, seed=0)
    np.testing.assert_allclose(ais, exact[:5] + log_z - estimate.log_z, atol=1e-9)
    assert abs(estimate.log_z - log_z) < 0.2


# -- annealed importance sampling ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ais_rbm():
    """20 visible, 8 hidden units, weights N(0, 1.5^2): log Z is exact by enumerating 256 states
    and AIS has work to do."""
    rbm = _rbm(20, 8, scale=1.5, seed=10)
    return rbm, boltzmann.exact_log_partition(rbm)


def test_ais_schedule_of_salakhutdinov_and_murray():
    betas = boltzmann.ais_schedule(14_500)
    assert betas.shape == (14_501,) and betas.dtype == np.float64
    assert betas[0] == 0.0 and betas[-1] == 1.0
    assert np.all(np.diff(betas) > 0)
    segments = [(0.0, 0.5, 500), (0.5, 0.9, 4_000), (0.9, 1.0, 10_000)]
    for low, high, count in segments:
        inside = betas[(betas > low) & (betas <= high + 1e-12)]
        assert len(inside) == count, (low, high)
        np.testing.assert_allclose(np.diff(inside), (high - low) / count, rtol=1e-6)
    np.testing.assert_allclose(boltzmann.ais_schedule(3), [0.0, 0.5, 0.9, 1.0])
    for n in (3, 4, 10, 101, 1000):
        short = boltzmann.ais_schedule(n)
        assert len(short) == n + 1 and short[0] == 0 and short[-1] == 1
        assert np.all(np.diff(short) > 0)


def test_ais_estimate_is_within_three_standard_errors_of_the_exact_log_z(ais_rbm):
    rbm, exact = ais_rbm
    result = boltzmann.ais_log_partition(rbm, n_betas=1000, n_runs=100, seed=0)
    assert abs(result.log_z - exact) < 3 * result.std_error, (result.log_z, exact)
    assert 0 < result.std_error < 0.1
    assert result.log_z_low < exact < result.log_z_high
    assert result.log_z_low < result.log_z < result.log_z_high
    assert result.n_betas == 1000 and result.log_weights.shape == (100,)
    # the reported estimate is log Z_A + log mean(w); Z_A of the zero-bias base is 2**(20 + 8)
    np.testing.assert_allclose(result.log_z_base, 28 * np.log(2.0), rtol=1e-12)
    np.testing.assert_allclose(
        result.log_z, result.log_z_base + _logsumexp(result.log_weights) - np.log(100), rtol=1e-12
    )
    assert 1.0 <= result.effective_sample_size <= 100.0
    assert result.seconds > 0
    # repeatable with a seed, different with another
    once, again, other = (boltzmann.ais_log_partition(rbm, n_betas=10, seed=s) for s in (1, 1, 2))
    np.testing.assert_allclose(again.log_weights, once.log_weights, rtol=1e-6)
    assert not np.allclose(other.log_weights, once.log_weights)


def test_ais_more_temperatures_give_smaller_errors_and_few_underestimate(ais_rbm):
    rbm, exact = ais_rbm
    seeds = range(4)
    few = [boltzmann.ais_log_partition(rbm, n_betas=10, seed=s).log_z for s in seeds]
    many = [boltzmann.ais_log_partition(rbm, n_betas=1000, seed=s).log_z for s in seeds]
    few_error, many_error = np.abs(np.array(few) - exact), np.abs(np.array(many) - exact)
    assert many_error.mean() < 0.1 and many_error.mean() < few_error.mean() / 3, (
        few_error,
        many_error,
    )
    # Jensen: E[log w] <= log E[w] = log(Z / Z_A), short by the KL divergence between the forward
    # and reverse annealing chains, large with 3 temperatures. Each run's log weight, and the AIS
    # estimate of groups of 10 runs, fall below log Z on average.
    result = boltzmann.ais_log_partition(rbm, n_betas=3, n_runs=320, seed=0)
    runs = result.log_z_base + result.log_weights
    assert runs.mean() < exact - 2.0, runs.mean() - exact
    groups = _logsumexp(runs.reshape(32, 10), axis=1) - np.log(10)  # 32 estimates, 10 runs each
    assert groups.mean() < exact - 0.3, groups.mean() - exact
    # (and, Jensen on the sample itself, pooling all 320 runs can only raise the estimate)
    assert groups.mean() < result.log_z


def test_ais_weights_are_unbiased_even_with_three_temperatures():
    """mean(w) estimates Z / Z_A without bias for any schedule: with 3 temperatures and 20,000
    runs on a 6 x 4 RBM (a light-tailed w), log mean(w) is within a few standard errors."""
    rbm = _rbm(6, 4, scale=1.0, seed=19)
    exact = boltzmann.exact_log_partition(rbm)
    result = boltzmann.ais_log_partition(rbm, n_betas=3, n_runs=20_000, seed=0)
    assert result.effective_sample_size > 5_000
    assert abs(result.log_z - exact) < 4 * result.std_error, (
        result.log_z - exact,
        result.std_error,
    )
    assert np.mean(result.log_weights) + result.log_z_base < exact - 0.01  # Jensen again


def test_ais_base_model_from_data_and_an_mnist_sized_rbm():
    rbm = _rbm(784, 10, scale=0.1, bias_scale=0.5, seed=11)
    data = (np.random.default_rng(0).random((50, 28, 28, 1)) < 0.3).astype("float32")
    p = boltzmann.visible_marginals(rbm, data)
    np.testing.assert_allclose(p, (data.reshape(50, -1).sum(0) + 1) / 52)
    result = boltzmann.ais_log_partition(rbm, n_betas=200, n_runs=50, data=data, seed=0)
    np.testing.assert_allclose(
        result.log_z_base, 10 * np.log(2.0) + _softplus(np.log(p / (1 - p))).sum(), rtol=1e-12
    )
    exact = boltzmann.exact_log_partition(rbm)
    assert abs(result.log_z - exact) < max(3 * result.std_error, 0.05), (result.log_z, exact)


# Regression: at commit 72d368f, a chunk that did not divide n_betas made np.stack raise "all input
# arrays must have the same shape" (the last chunk's beta_prev slice was one longer than its beta
# slice), e.g. n_betas=10 with the default chunk=100.
def test_ais_with_a_number_of_temperatures_that_is_not_a_multiple_of_the_chunk(ais_rbm):
    rbm, exact = ais_rbm
    short = boltzmann.ais_log_partition(rbm, n_betas=10, seed=0)  # one chunk of 10 steps
    assert short.n_betas == 10 and abs(short.log_z - exact) < 3.0
    result = boltzmann.ais_log_partition(rbm, n_betas=1050, seed=0)  # 10 chunks of 100, one of 50
    assert result.n_betas == 1050
    assert abs(result.log_z - exact) < 3 * result.std_error, (result.log_z, exact)


# -- training ------------------------------------------------------------------------------------


def _toy_patterns():
    """Four 4x4 prototypes (top half, left half, diagonal, border): 16 visible units with strong
    correlations that independent pixels cannot model."""
    p = np.zeros((4, 4, 4), "float32")
    p[0, :2, :] = 1
    p[1, :, :2] = 1
    p[2][np.eye(4, dtype=bool)] = 1
    p[3, [0, 3], :] = 1
    p[3, :, [0, 3]] = 1
    return p.reshape(4, 16)


@pytest.fixture(scope="module")
def toy_data():
    """(grey levels 0.05 / 0.95 around 512 prototype draws, a binary training set drawn from them,
    a binary test set), all (N, 4, 4, 1)."""
    rng = np.random.default_rng(0)
    clean = _toy_patterns()[rng.integers(0, 4, 512)]
    grey = np.abs(clean - 0.05)
    train = (rng.random(grey.shape) < grey).astype("float32")
    test = (rng.random(grey.shape) < grey).astype("float32")
    return tuple(a.reshape(-1, 4, 4, 1) for a in (grey, train, test))


def _exact_nll(rbm, x):
    return -rbm.log_likelihood(x, log_z=boltzmann.exact_log_partition(rbm)).mean()


@pytest.mark.parametrize("persistent", [False, True], ids=["cd1", "pcd"])
def test_training_lowers_the_exact_nll(toy_data, persistent):
    grey, train, test = toy_data
    keras.utils.set_random_seed(0)
    rbm = boltzmann.RBM(
        16, 6, image_shape=(4, 4, 1), persistent=persistent, n_chains=64, weight_scale=0.1, seed=0
    )
    rbm.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.5))
    chains = _np(rbm.chains).copy()
    seed_state = _np(rbm.seed_generator.state).copy()
    before = _exact_nll(rbm, test)
    if persistent:  # fresh binary draws of the grey levels at every epoch
        history = rbm.fit(
            DynamicBinarization(grey, 32, target="none", seed=0), epochs=10, verbose=0
        )
    else:
        history = rbm.fit(train, epochs=10, batch_size=32, verbose=0)
    after = _exact_nll(rbm, test)
    p = (train.reshape(-1, 16).sum(0) + 1) / (len(train) + 2)
    independent = -(test.reshape(-1, 16) * np.log(p) + (1 - test.reshape(-1, 16)) * np.log(1 - p))
    # before: ~16 log 2 = 11.1 nats; independent pixels: 9.8; the RBM learns the prototypes
    assert after < before - 2.0, (before, after)
    assert after < independent.sum(1).mean() - 1.0, (after, independent.sum(1).mean())
    recon = history.history["reconstruction"]
    assert np.all(np.isfinite(history.history["loss"])) and recon[-1] < recon[0]
    # the Gibbs noise is fresh at every step: the model's seed state advanced (under jax.jit too)
    assert not np.array_equal(_np(rbm.seed_generator.state), seed_state)
    new_chains = _np(rbm.chains)
    assert set(np.unique(new_chains)) <= {0.0, 1.0}
    if persistent:  # the persistent chains moved; CD-k leaves them alone
        assert np.mean(new_chains != chains) > 0.1
    else:
        np.testing.assert_array_equal(new_chains, chains)


def test_init_visible_bias_and_hidden_activations(toy_data):
    grey, train, _ = toy_data
    rbm = _rbm(16, 6, seed=12, image_shape=(4, 4, 1))
    biases = rbm.init_visible_bias(train)
    p = (train.reshape(-1, 16).sum(0) + 1) / (len(train) + 2)
    np.testing.assert_allclose(biases, np.log(p / (1 - p)), rtol=1e-5)
    np.testing.assert_allclose(_np(rbm.visible_bias), biases)
    # binary input: p(h | v) of the input itself
    np.testing.assert_allclose(
        boltzmann.hidden_activations(rbm, train, batch_size=100),
        _np(rbm.hidden_probabilities(train)),
        rtol=1e-6,
    )
    # grey input: binarized once with the seed, repeatably
    a = boltzmann.hidden_activations(rbm, grey, seed=3)
    assert a.shape == (512, 6) and a.dtype == np.float32
    np.testing.assert_array_equal(a, boltzmann.hidden_activations(rbm, grey, seed=3))
    assert not np.array_equal(a, boltzmann.hidden_activations(rbm, grey, seed=4))


# -- deep belief net -------------------------------------------------------------------------------


def _dbn(first_scale=1.0, seed=13):
    first = _rbm(6, 4, scale=first_scale, seed=seed)
    top = _rbm(4, 3, scale=1.0, seed=seed + 1)
    return boltzmann.DeepBeliefNet([first, top], seed=0)


def _dbn_exact(dbn):
    """Exact log p(v), the exact variational bound and the variance of its integrand under q,
    for every visible configuration, by enumerating h1 (float64)."""
    first, top = dbn.rbms
    W1, b1, c1 = first.numpy_parameters()
    V, H = _configurations(first.n_visible), _configurations(first.n_hidden)
    log_z_top = boltzmann.exact_log_partition(top)
    logits = H @ W1.T + b1  # (16, 6)
    log_v_given_h = V @ logits.T - _softplus(logits).sum(1)[None, :]  # (64, 16)
    log_prior = -top.free_energy_numpy(H) - log_z_top  # (16,)
    log_pv = _logsumexp(log_v_given_h + log_prior[None, :], axis=1)
    q1 = _sigmoid(V @ W1 + c1)  # (64, 4)
    log_q = H @ np.log(q1).T + (1 - H) @ np.log(1 - q1).T  # (16, 64)
    q = np.exp(log_q.T)  # (64, 16)
    integrand = log_v_given_h + log_prior[None, :]
    bound = np.sum(q * (integrand - log_q.T), axis=1)
    mean = np.sum(q * integrand, axis=1)
    variance = np.sum(q * (integrand - mean[:, None]) ** 2, axis=1)
    return log_pv, bound, variance, log_z_top


def test_dbn_bound_is_below_the_exact_log_likelihood_and_matches_its_enumeration():
    dbn = _dbn()
    log_pv, bound, variance, log_z_top = _dbn_exact(dbn)
    np.testing.assert_allclose(np.exp(log_pv).sum(), 1.0, rtol=1e-10)  # a distribution
    assert np.all(bound <= log_pv + 1e-12) and np.mean(log_pv - bound) > 0.05
    V = _configurations(6).astype("float32")
    n = 4000
    estimate = dbn.log_likelihood(V, log_z_top=log_z_top, n_samples=n, seed=0, batch_size=20)
    assert estimate.shape == (64,) and estimate.dtype == np.float64
    tolerance = 5 * np.sqrt(variance / n) + 1e-9  # Monte Carlo error of the expectation
    np.testing.assert_array_less(np.abs(estimate - bound), tolerance)
    np.testing.assert_array_less(estimate, log_pv + tolerance)
    assert np.mean(log_pv - estimate) > 0.05
    # repeatable with a seed; one sample is an unbiased but noisier estimate
    np.testing.assert_array_equal(
        estimate, dbn.log_likelihood(V, log_z_top=log_z_top, n_samples=n, seed=0, batch_size=20)
    )
    one = dbn.log_likelihood(V, log_z_top=log_z_top, n_samples=1, seed=1)
    assert np.abs(one - bound).max() > np.abs(estimate - bound).max()
    # without log_z_top, AIS on the top RBM: the same bound shifted by the AIS error
    ais = boltzmann.ais_log_partition(dbn.rbms[1], n_betas=100, n_runs=20, seed=0)
    with_ais = dbn.log_likelihood(V[:4], n_samples=5, seed=2, n_betas=100, n_runs=20)
    exact_z = dbn.log_likelihood(V[:4], log_z_top=log_z_top, n_samples=5, seed=2)
    np.testing.assert_allclose(with_ais, exact_z + log_z_top - ais.log_z, atol=1e-9)


def test_dbn_bound_is_tight_when_q_is_the_posterior():
    """Small first-layer weights and a top RBM that is the factorial sigmoid(c1) prior: the
    posterior p(h1 | v) is q(h1 | v) up to O(W1), and the bound closes."""
    dbn = _dbn(first_scale=0.01)
    first, top = dbn.rbms
    top.W.assign(np.zeros((4, 3), "float32"))
    top.visible_bias.assign(_np(first.hidden_bias))
    V = _configurations(6).astype("float32")
    log_pv, bound, variance, log_z_top = _dbn_exact(dbn)
    estimate = dbn.log_likelihood(V, log_z_top=log_z_top, n_samples=2000, seed=0)
    assert np.max(log_pv - bound) < 1e-3
    np.testing.assert_array_less(np.abs(estimate - log_pv), 5 * np.sqrt(variance / 2000) + 1e-3)
    # and the strong-weight DBN's gap is much larger
    strong_pv, strong_bound, _, _ = _dbn_exact(_dbn())
    assert np.mean(strong_pv - strong_bound) > 50 * np.mean(log_pv - bound)


def test_dbn_with_tied_weights_is_the_rbm_and_its_bound_is_exact():
    """transposed_rbm: a top RBM with W^T and swapped biases makes the two-layer DBN's p(v) the
    first RBM's p(v), and q(h | v) its true posterior, so the bound is exact."""
    first = _rbm(6, 4, seed=20)
    top = boltzmann.transposed_rbm(first, persistent=False, seed=0)
    assert (top.n_visible, top.n_hidden, top.persistent) == (4, 6, False)
    dbn = boltzmann.DeepBeliefNet([first, top])
    log_pv, bound, variance, log_z_top = _dbn_exact(dbn)
    np.testing.assert_allclose(log_z_top, boltzmann.exact_log_partition(first), rtol=1e-10)
    V = _configurations(6).astype("float32")
    rbm_ll = first.log_likelihood(V, log_z=boltzmann.exact_log_partition(first))
    np.testing.assert_allclose(log_pv, rbm_ll, atol=1e-9)
    np.testing.assert_allclose(bound, rbm_ll, atol=1e-9)
    estimate = dbn.log_likelihood(V, log_z_top=log_z_top, n_samples=2000, seed=0)
    np.testing.assert_array_less(np.abs(estimate - rbm_ll), 5 * np.sqrt(variance / 2000) + 1e-9)


def test_dbn_samples_follow_its_exact_distribution():
    dbn = _dbn(seed=15)
    log_pv, _, _, _ = _dbn_exact(dbn)
    samples = dbn.generate(4000, steps=30, seed=0)
    assert samples.shape == (4000, 6) and samples.dtype == np.float32
    assert _chisquare_pvalue(samples, np.exp(log_pv)) > 1e-3
    assert _chisquare_pvalue(samples, np.full(64, 1 / 64)) < 1e-10
    np.testing.assert_array_equal(samples[:50], dbn.generate(4000, steps=30, seed=0)[:50])
    p = dbn.generate(5, steps=2, seed=1, probabilities=True)
    assert p.shape == (5, 6) and 0 < p.min() and p.max() < 1
    # the mean-field pass up and down keeps the input's shape
    assert tuple(dbn(samples[:3]).shape) == (3, 6)
    # three layers sample (the bound is two-layer only)
    three = boltzmann.DeepBeliefNet([_rbm(6, 4), _rbm(4, 3), _rbm(3, 2)])
    deep = three.generate(5, steps=2, seed=0)
    assert deep.shape == (5, 6) and set(np.unique(deep)) <= {0.0, 1.0}


# -- the SGLD energy-based model -------------------------------------------------------------------


def _ebm(**kwargs):
    keras.utils.set_random_seed(0)
    net = boltzmann.build_energy_network((8, 8, 1), filters=4)
    args = dict(buffer_size=16, sgld_steps=2, step_size=1.0, noise_scale=0.005, seed=0)
    return boltzmann.EnergyBasedModel(net, **{**args, **kwargs})


def _linear_energy(w):
    """E(x) = sum(w * x): its input gradient is w."""
    inputs = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.kernel.assign(w.reshape(16, 1).astype("float32"))
    return model


def test_ebm_generate_shapes_range_and_seeds():
    model = _ebm()
    a = model.generate(4, steps=3, seed=1, batch_size=2)
    assert a.shape == (4, 8, 8, 1) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(a, model.generate(4, steps=3, seed=1, batch_size=2))
    assert not np.array_equal(a, model.generate(4, steps=3, seed=2, batch_size=2))
    b = model.generate(2, steps=1, seed=1, from_buffer=True)
    assert b.shape == (2, 8, 8, 1) and 0.0 <= b.min() and b.max() <= 1.0
    # zero steps: the uniform starting noise itself
    start = model.generate(2, steps=0, seed=7)
    np.testing.assert_array_equal(
        start, np.random.default_rng(7).random((2, 8, 8, 1)).astype("float32")
    )


def test_langevin_follows_the_energy_gradient_downhill():
    w = np.where(np.arange(16) % 2 == 0, 1.0, -1.0) * np.linspace(0.5, 1.0, 16)
    model = boltzmann.EnergyBasedModel(_linear_energy(w), buffer_size=4, seed=0)
    x = np.random.default_rng(0).uniform(0.3, 0.7, (3, 4, 4, 1)).astype("float32")
    step = _np(model.langevin(x, 1, step_size=0.1, noise_scale=0.0))
    np.testing.assert_allclose(step, np.clip(x - 0.1 * w.reshape(4, 4, 1), 0, 1), atol=1e-6)
    far = _np(model.langevin(x, 10, step_size=0.2, noise_scale=0.0))  # clipped at 0 and 1
    np.testing.assert_allclose(far, np.broadcast_to(w.reshape(4, 4, 1) < 0, x.shape), atol=1e-6)
    np.testing.assert_allclose(model.energy(x), (x.reshape(3, 16) * w).sum(1), rtol=1e-5, atol=1e-6)
    assert np.all(model.energy(far) < model.energy(step)) and np.all(
        model.energy(step) < model.energy(x)
    )
    # a convolutional energy: small steps lower the mean energy, with or without a little noise
    conv = _ebm()
    x = np.random.default_rng(1).uniform(0.2, 0.8, (8, 8, 8, 1)).astype("float32")
    grad = _np(backend.input_gradients(lambda t: conv(t), x))
    size = 0.02 / np.abs(grad).max()  # moves no pixel by more than 0.02 per step
    e0 = conv.energy(x).mean()
    e1 = conv.energy(_np(conv.langevin(x, 5, step_size=size, noise_scale=0.0))).mean()
    e2 = conv.energy(_np(conv.langevin(x, 5, step_size=size, noise_scale=1e-4, seed=3))).mean()
    assert e1 < e0 and e2 < e0, (e0, e1, e2)


def test_ebm_fit_updates_the_buffer_and_the_network():
    model = _ebm()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    buffer = _np(model.buffer).copy()
    weights = [_np(v).copy() for v in model.trainable_variables]
    x = np.random.default_rng(2).random((8, 8, 8, 1)).astype("float32")
    history = model.fit(x, epochs=1, batch_size=4, verbose=0)
    assert all(
        np.isfinite(history.history[k][0]) for k in ("loss", "energy_data", "energy_samples")
    )
    new = _np(model.buffer)
    changed = np.any(new != buffer, axis=(1, 2, 3))
    assert 1 <= changed.sum() <= 8  # two steps of four draws, written back
    assert 0.0 <= new.min() and new.max() <= 1.0
    assert any(not np.array_equal(a, _np(b)) for a, b in zip(weights, model.trainable_variables))


def test_ebm_has_no_likelihood():
    model = _ebm()
    assert model.likelihood_kind == "unavailable"
    with pytest.raises(LikelihoodUnavailableError, match="Z"):
        model.log_likelihood(np.zeros((2, 8, 8, 1), "float32"))
    energies = model.energy(np.zeros((3, 8, 8, 1), "float32"), batch_size=2)
    assert energies.shape == (3,) and energies.dtype == np.float64


# -- .keras round trips ----------------------------------------------------------------------------


def _plain(config):
    """A config as it reads from JSON (tuples become lists)."""
    return json.loads(json.dumps(config))


def _assert_same_weights(a, b):
    assert len(a.weights) == len(b.weights) > 0
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(_np(x), _np(y))


def test_rbm_keras_round_trip(tmp_path):
    rbm = _rbm(6, 4, seed=16, image_shape=(2, 3, 1), persistent=True, n_chains=5, cd_k=3)
    rbm.chains.assign((np.random.default_rng(0).random((5, 6)) < 0.5).astype("float32"))
    rbm.save(tmp_path / "rbm.keras")
    loaded = keras.saving.load_model(tmp_path / "rbm.keras")
    assert isinstance(loaded, boltzmann.RBM) and loaded.get_config() == rbm.get_config()
    assert (loaded.cd_k, loaded.persistent, loaded.image_shape) == (3, True, (2, 3, 1))
    _assert_same_weights(loaded, rbm)
    np.testing.assert_array_equal(_np(loaded.chains), _np(rbm.chains))
    V = _configurations(6)
    np.testing.assert_array_equal(loaded.free_energy_numpy(V), rbm.free_energy_numpy(V))
    np.testing.assert_array_equal(
        loaded.generate(4, steps=2, seed=1), rbm.generate(4, steps=2, seed=1)
    )


def test_dbn_keras_round_trip(tmp_path):
    dbn = _dbn()
    dbn.save(tmp_path / "dbn.keras")
    loaded = keras.saving.load_model(tmp_path / "dbn.keras")
    assert isinstance(loaded, boltzmann.DeepBeliefNet) and len(loaded.rbms) == 2
    assert loaded.get_config() == dbn.get_config()
    for a, b in zip(loaded.rbms, dbn.rbms):
        assert isinstance(a, boltzmann.RBM) and a.get_config() == b.get_config()
        _assert_same_weights(a, b)
    V = _configurations(6)
    np.testing.assert_array_equal(
        loaded.log_likelihood(V, log_z_top=1.0, n_samples=3),
        dbn.log_likelihood(V, log_z_top=1.0, n_samples=3),
    )
    np.testing.assert_array_equal(
        loaded.generate(4, steps=2, seed=1), dbn.generate(4, steps=2, seed=1)
    )


def test_ebm_keras_round_trip(tmp_path):
    model = _ebm(buffer_size=6, reinit_fraction=0.2, alpha=0.5)
    model.buffer.assign(np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32"))
    model.save(tmp_path / "ebm.keras")
    loaded = keras.saving.load_model(tmp_path / "ebm.keras")
    assert isinstance(loaded, boltzmann.EnergyBasedModel)
    assert _plain(loaded.get_config()) == _plain(model.get_config())
    assert (loaded.buffer_size, loaded.reinit_fraction, loaded.alpha) == (6, 0.2, 0.5)
    _assert_same_weights(loaded, model)
    np.testing.assert_array_equal(_np(loaded.buffer), _np(model.buffer))
    x = np.random.default_rng(1).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(loaded.energy(x), model.energy(x), rtol=1e-6)


# -- bad inputs ----------------------------------------------------------------------------------

BINARY6 = (np.arange(12).reshape(2, 6) % 2).astype("float32")


def _tiny():
    return _rbm(6, 4, seed=17)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: _tiny().log_likelihood(BINARY6 * 0.5, log_z=0.0), "binary"),
        (lambda: _tiny().log_likelihood(BINARY6[:, :5], log_z=0.0), r"6 visible units"),
        (lambda: _tiny().log_likelihood(BINARY6[0], log_z=0.0), r"6 visible units"),
        (lambda: _tiny().log_likelihood(np.zeros((0, 6)), log_z=0.0), "non-empty"),
        (lambda: _tiny().log_likelihood(BINARY6 * np.nan, log_z=0.0), "NaN"),
        (lambda: _tiny().log_likelihood(BINARY6.astype("uint8"), log_z=0.0), "uint8"),
        (lambda: _tiny().log_likelihood(BINARY6, labels=[0, 1], log_z=0.0), "unconditional"),
        (lambda: _tiny().log_likelihood(BINARY6, log_z=float("nan")), "log_z"),
        (lambda: _tiny().free_energy_numpy(BINARY6 * 0.5), "binary"),
        (lambda: _tiny().generate(2, labels=[0, 1]), "unconditional"),
        (lambda: _tiny().generate(0), "n must"),
        (lambda: _tiny().generate(2, steps=0), "steps"),
        (lambda: boltzmann.RBM(6, 4, image_shape=(2, 2, 1)), r"holds 4 units.*n_visible = 6"),
        (lambda: boltzmann.RBM(6, 4, image_shape=(2, -3)), "image_shape"),
        (lambda: boltzmann.RBM(6, 4, cd_k=0), "cd_k"),
        (lambda: boltzmann.RBM(6, 0), "n_hidden"),
        (lambda: boltzmann.RBM(6, 4, n_chains=0), "n_chains"),
        (lambda: boltzmann.RBM(6, 4, weight_scale=-0.1), "weight_scale"),
        (lambda: _tiny().init_visible_bias(BINARY6 + 1), r"\[0, 1\]"),
        (lambda: boltzmann.hidden_activations(_tiny(), BINARY6[:, :4]), "6 values per row"),
        (lambda: boltzmann.DeepBeliefNet([_tiny(), boltzmann.RBM(5, 3)]), "must be equal"),
        (lambda: boltzmann.DeepBeliefNet([_tiny()]), "at least two"),
        (lambda: boltzmann.DeepBeliefNet([_tiny(), "rbm"]), "at least two RBMs"),
        (lambda: _dbn().log_likelihood(BINARY6, labels=[0, 1], log_z_top=0.0), "unconditional"),
        (lambda: _dbn().log_likelihood(BINARY6 * 0.5, log_z_top=0.0), "binary"),
        (lambda: _dbn().log_likelihood(BINARY6, log_z_top=float("inf")), "log_z_top"),
        (lambda: _dbn().log_likelihood(BINARY6, log_z_top=0.0, n_samples=0), "n_samples"),
        (
            lambda: boltzmann.DeepBeliefNet([_tiny(), _rbm(4, 3), _rbm(3, 2)]).log_likelihood(
                BINARY6, log_z_top=0.0
            ),
            "two-layer",
        ),
        (lambda: boltzmann.exact_log_partition(boltzmann.RBM(25, 30)), "at most 24"),
        (lambda: boltzmann.enumerate_binary(0), "n_bits"),
        (lambda: boltzmann.enumerate_binary(25), "at most 24"),
        (lambda: boltzmann.ais_schedule(2), "at least 3"),
        (lambda: boltzmann.ais_schedule(0), "n_betas"),
        (lambda: boltzmann.ais_schedule(100.0), "n_betas"),
        (lambda: boltzmann.ais_log_partition(_tiny(), n_betas=2), "n_betas"),
        (lambda: boltzmann.ais_log_partition(_tiny(), n_runs=0), "n_runs"),
        (
            lambda: boltzmann.ais_log_partition(_tiny(), base_visible_bias=np.zeros(5)),
            "base_visible_bias",
        ),
        (lambda: boltzmann.ais_log_partition(_tiny(), data=BINARY6 * 2), r"\[0, 1\]"),
        (lambda: boltzmann.build_energy_network(filters=0), "filters"),
        (lambda: boltzmann.build_energy_network((8, 8)), r"\(H, W, C\)"),
        (lambda: boltzmann.EnergyBasedModel("net"), "energy_network"),
        (
            lambda: boltzmann.EnergyBasedModel(keras.Sequential([keras.Input((4,))])),
            "energy_network",
        ),
        (lambda: _ebm(step_size=0.0), "step_size"),
        (lambda: _ebm(reinit_fraction=1.5), "reinit_fraction"),
        (lambda: _ebm(buffer_size=0), "buffer_size"),
        (lambda: _ebm().generate(2, labels=[0, 1]), "unconditional"),
        (lambda: _ebm().generate(17, from_buffer=True), "exceeds buffer_size"),
        (lambda: _ebm().energy(np.zeros((2, 8, 8, 1), "uint8")), "uint8"),
        (lambda: _ebm().energy(np.zeros((2, 4, 4, 1), "float32")), "shape"),
    ],
)
def test_bad_inputs_raise_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


# -- backend.compile_function --------------------------------------------------------------------


def test_compile_function_computes_what_the_function_computes():
    def fn(a, b):
        def body(i, acc):
            return acc + ops.cast(i + 1, "float32") * ops.tanh(ops.matmul(acc, b))

        return ops.fori_loop(0, 4, body, a)

    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 5)).astype("float32")
    b = rng.standard_normal((5, 5)).astype("float32")
    ta, tb = ops.convert_to_tensor(a), ops.convert_to_tensor(b)  # "tensors in, tensors out"
    compiled = backend.compile_function(fn)
    assert callable(compiled)
    expected = _np(fn(ta, tb))
    np.testing.assert_allclose(_np(compiled(ta, tb)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(  # a second shape: traced again
        _np(compiled(ops.convert_to_tensor(a[:2]), tb)), expected[:2], rtol=1e-5, atol=1e-5
    )
    # NumPy reference of the same loop
    acc = a.astype(np.float64)
    for i in range(4):
        acc = acc + (i + 1) * np.tanh(acc @ b)
    np.testing.assert_allclose(expected, acc, rtol=1e-4, atol=1e-4)
    with pytest.raises(TypeError, match="function"):
        backend.compile_function("fn")


def test_compiled_ais_chunk_equals_the_eager_one():
    rbm = _rbm(5, 3, seed=18)
    rng = np.random.default_rng(1)
    steps, runs = 6, 4
    betas = boltzmann.ais_schedule(steps)
    pair = np.stack([betas[:-1], betas[1:]]).astype("float32")
    v = (rng.random((runs, 5)) < 0.5).astype("float32")
    u_h = rng.random((steps, runs, 3)).astype("float32")
    u_v = rng.random((steps, runs, 5)).astype("float32")
    b_a = np.zeros(5, "float32")
    args = [ops.convert_to_tensor(t) for t in (v, pair, u_h, u_v)]
    args += [ops.convert_to_tensor(rbm.W), ops.convert_to_tensor(rbm.visible_bias)]
    args += [ops.convert_to_tensor(rbm.hidden_bias), ops.convert_to_tensor(b_a)]
    eager_v, eager_w = boltzmann._ais_chunk(*args)
    compiled_v, compiled_w = backend.compile_function(boltzmann._ais_chunk)(*args)
    np.testing.assert_array_equal(_np(compiled_v), _np(eager_v))
    np.testing.assert_allclose(_np(compiled_w), _np(eager_w), rtol=1e-5, atol=1e-5)
    # NumPy reference of the same annealing steps with the same uniforms
    W, b, c = rbm.numpy_parameters()
    x, total = v.astype(np.float64), np.zeros(runs)
    for k in range(steps):
        lo, hi = float(pair[0, k]), float(pair[1, k])
        pre = x @ W + c
        total += (hi - lo) * x @ b + (_softplus(hi * pre) - _softplus(lo * pre)).sum(1)
        h = (u_h[k] < _sigmoid(hi * pre)).astype(np.float64)
        x = (u_v[k] < _sigmoid(hi * (h @ W.T + b))).astype(np.float64)
    np.testing.assert_array_equal(_np(eager_v), x)
    np.testing.assert_allclose(_np(eager_w), total, rtol=1e-4, atol=1e-4)
