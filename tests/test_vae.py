"""VAE pieces: closed forms against Monte Carlo, the reparameterized gradient, the IWAE bound
against an exact likelihood, the Sampling layer, and the VAE model's training and save/load."""

import utils
from utils import vae as V

import math

import keras
import numpy as np
import pytest
from keras import ops
from scipy.stats import norm


def test_kl_closed_form_matches_monte_carlo(rng):
    mean = rng.normal(0, 1, (3, 4)).astype("float32")
    log_var = rng.normal(0, 0.7, (3, 4)).astype("float32")
    closed = ops.convert_to_numpy(V.kl_divergence_standard_normal(mean, log_var))
    n = 200_000
    std = np.exp(0.5 * log_var)
    z = mean[:, None, :] + std[:, None, :] * rng.standard_normal((3, n, 4))
    log_q = norm.logpdf(z, mean[:, None, :], std[:, None, :]).sum(-1)
    log_p = norm.logpdf(z).sum(-1)
    samples = log_q - log_p
    mc, se = samples.mean(1), samples.std(1) / np.sqrt(n)
    assert np.all(closed >= 0)
    np.testing.assert_array_less(np.abs(closed - mc), 4 * se + 1e-4)
    with pytest.raises(ValueError, match="same shape"):
        V.kl_divergence_standard_normal(mean, log_var[:, :2])


def test_log_likelihoods_match_references(rng):
    x = (rng.random((2, 5, 5, 1)) < 0.4).astype("float32")
    logits = rng.normal(0, 2, (2, 5, 5, 1)).astype("float32")
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = np.sum(np.where(x == 1, np.log(p), np.log1p(-p)), axis=(1, 2, 3))
    np.testing.assert_allclose(
        ops.convert_to_numpy(V.bernoulli_log_likelihood(x, logits)), expected, rtol=1e-5
    )
    mean = rng.normal(size=(2, 6)).astype("float32")
    log_var = rng.normal(size=(2, 6)).astype("float32")
    y = rng.normal(size=(2, 6)).astype("float32")
    expected = norm.logpdf(y, mean, np.exp(0.5 * log_var)).sum(1)
    np.testing.assert_allclose(
        ops.convert_to_numpy(V.gaussian_log_likelihood(y, mean, log_var)), expected, rtol=1e-5
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(V.standard_normal_log_density(y)), norm.logpdf(y).sum(1), rtol=1e-5
    )
    with pytest.raises(ValueError):
        V.bernoulli_log_likelihood(x, logits[:1])


def test_sampling_layer_shape_seed_and_errors():
    mean = np.zeros((1000, 3), "float32") + np.array([1.0, -2.0, 0.0], "float32")
    log_var = np.zeros((1000, 3), "float32") + np.log(np.array([0.25, 1.0, 4.0], "float32"))
    z1 = ops.convert_to_numpy(V.Sampling(seed=3)([mean, log_var]))
    z2 = ops.convert_to_numpy(V.Sampling(seed=3)([mean, log_var]))
    z3 = ops.convert_to_numpy(V.Sampling(seed=4)([mean, log_var]))
    assert z1.shape == (1000, 3)
    np.testing.assert_array_equal(z1, z2)
    assert not np.array_equal(z1, z3)
    np.testing.assert_allclose(z1.mean(0), [1.0, -2.0, 0.0], atol=0.2)
    np.testing.assert_allclose(z1.std(0), [0.5, 1.0, 2.0], rtol=0.1)
    layer = V.Sampling(seed=1)
    with pytest.raises(ValueError, match="same shape|one shape"):
        layer([mean, log_var[:, :2]])
    with pytest.raises(ValueError, match=r"\[mean, log_var\]"):
        layer(mean)
    with pytest.raises(ValueError, match="seed"):
        V.Sampling(seed=-1)
    assert V.Sampling.from_config(V.Sampling(seed=5).get_config()).seed == 5


class ReparameterizedToy(keras.Model):
    """E_{z ~ N(mu, exp(lv))}[sum z^2] with trainable mu, lv; its gradient is (2 mu, exp(lv))."""

    def __init__(self, mu, log_var):
        super().__init__(name="reparameterized_toy")
        self.mu = self.add_weight(shape=(len(mu),), initializer=keras.initializers.Constant(mu))
        self.log_var = self.add_weight(
            shape=(len(mu),), initializer=keras.initializers.Constant(log_var)
        )
        self.sampling = V.Sampling(seed=0)

    def call(self, x):
        ones = ops.ones((ops.shape(x)[0], 1))
        return self.sampling([ones * self.mu, ones * self.log_var])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(ops.sum(ops.square(y_pred), axis=1))


def test_reparameterized_gradient_matches_the_analytic_one():
    mu, log_var = np.array([0.5, -1.0]), np.array([0.0, -0.7])
    model = ReparameterizedToy(mu, log_var)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    model.train_on_batch(np.zeros((200_000, 1), "float32"))
    grad_mu = mu - ops.convert_to_numpy(model.mu)
    grad_log_var = log_var - ops.convert_to_numpy(model.log_var)
    np.testing.assert_allclose(grad_mu, 2 * mu, atol=0.03)
    np.testing.assert_allclose(grad_log_var, np.exp(log_var), atol=0.03)


def _tiny_vae(seed=0):
    """Latent size 1 and four pixels: log p(x) is a 1-D integral we can compute exactly."""
    utils.set_seed(seed)
    encoder = keras.Sequential(
        [keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    decoder = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(4), keras.layers.Reshape((2, 2, 1))]
    )
    decoder.layers[0].set_weights(
        [np.array([[3.0, -2.0, 1.5, 0.5]], "float32"), np.array([0.0, 0.5, -1.0, 0.2], "float32")]
    )
    return V.VAE(encoder, decoder, seed=seed)


def _exact_nll(model, x):
    z = np.linspace(-9, 9, 6001, dtype="float32")
    logits = ops.convert_to_numpy(model.decode(z[:, None])).reshape(len(z), 4)
    flat = x.reshape(len(x), 4)
    log_lik = flat @ logits.T - np.logaddexp(0, logits).sum(1)[None, :]  # (N, grid)
    log_joint = log_lik + norm.logpdf(z)[None, :]
    peak = log_joint.max(1, keepdims=True)
    return -(peak[:, 0] + np.log(np.sum(np.exp(log_joint - peak), axis=1) * (z[1] - z[0])))


def test_iwae_tightens_with_k_and_stays_above_the_exact_nll(rng):
    model = _tiny_vae()
    x = (rng.random((300, 2, 2, 1)) < 0.5).astype("float32")
    exact = _exact_nll(model, x).mean()
    nll = {
        k: V.importance_weighted_nll(model, x, k, seed=1, batch_size=3000).mean()
        for k in (1, 10, 100, 1000)
    }
    assert nll[1] >= nll[10] - 0.01 >= nll[100] - 0.02 >= nll[1000] - 0.03
    assert nll[1] - exact > 0.05  # the ELBO of an untrained encoder is a loose bound
    for k, value in nll.items():
        assert value >= exact - 0.01, (k, value, exact)
    assert nll[1000] - exact < 0.02
    nats, bits = V.importance_weighted_nll(model, x[:5], 3, return_bits=True)
    np.testing.assert_allclose(bits, nats / (4 * math.log(2)))
    with pytest.raises(ValueError, match="k must"):
        V.importance_weighted_nll(model, x, 0)


def _small_data():
    x, y = utils.load_mnist("train", limit=256, path=utils.data.subset_path())
    return x, y


def _mnist_vae(latent=4, seed=0, conditional=False):
    utils.set_seed(seed)
    from utils import autoencoders as A

    if conditional:
        image, label = keras.Input((28, 28, 1)), keras.Input((10,))
        h = keras.layers.Concatenate()([keras.layers.Flatten()(image), label])
        encoder = keras.Model(
            [image, label],
            keras.layers.Dense(2 * latent)(keras.layers.Dense(64, activation="relu")(h)),
        )
        code = keras.Input((latent,))
        h = keras.layers.Dense(64, activation="relu")(keras.layers.Concatenate()([code, label]))
        decoder = keras.Model(
            [code, label], keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784)(h))
        )
    else:
        encoder = A.build_dense_encoder(2 * latent, (64,))
        decoder = A.build_dense_decoder(latent, (64,), output_activation=None)
    return V.VAE(encoder, decoder, conditional=conditional, seed=seed)


def test_vae_trains_and_tracks_both_terms():
    x, _ = _small_data()
    data = utils.DynamicBinarization(x[:192], batch_size=32, seed=0)
    val = utils.load_mnist("train", limit=256, binarize="bernoulli", path=utils.data.subset_path())[
        0
    ][192:]
    model = _mnist_vae()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(data, validation_data=(val, val), epochs=4, verbose=0).history
    for key in ("loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"):
        assert key in history, key
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    np.testing.assert_allclose(
        np.array(history["reconstruction"]) + np.array(history["kl"]), history["loss"], rtol=1e-4
    )
    results = model.evaluate(val, val, verbose=0, return_dict=True)
    assert results["loss"] > 0 and results["kl"] >= 0
    samples = ops.convert_to_numpy(model.sample(5, seed=1))
    assert samples.shape == (5, 28, 28, 1) and 0 < samples.min() and samples.max() < 1


def test_beta_weights_the_kl_term():
    x = (_small_data()[0][:64] > 0.5).astype("float32")
    a, b = _mnist_vae(seed=0), _mnist_vae(seed=0)
    b.beta = 4.0
    for m in (a, b):
        m.compile(optimizer="adam")
    ra, rb = (m.evaluate(x, x, verbose=0, return_dict=True) for m in (a, b))
    np.testing.assert_allclose(rb["loss"] - ra["loss"], 3.0 * ra["kl"], rtol=1e-3)


def test_vae_save_and_load_round_trip(tmp_path):
    x = (_small_data()[0][:16] > 0.5).astype("float32")
    model = _mnist_vae(seed=7)
    model.compile(optimizer="adam")
    model.fit(x, x, epochs=1, verbose=0)
    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, V.VAE) and loaded.beta == model.beta and loaded.latent_dim == 4
    for a, b in zip(model.encode(x), loaded.encode(x)):
        np.testing.assert_allclose(
            ops.convert_to_numpy(a), ops.convert_to_numpy(b), rtol=1e-6, atol=1e-6
        )
    z = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.decode(z)),
        ops.convert_to_numpy(loaded.decode(z)),
        rtol=1e-6,
        atol=1e-6,
    )
    # Keras saves weights, not a seed generator's position: a loaded model restarts its noise from
    # `seed`. Put both generators in the same state and the sampled codes agree too.
    assert loaded.sampling.seed == 7
    loaded.sampling.seed_generator.state.assign(model.sampling.seed_generator.state)
    out_a, out_b = model(x), loaded(x)
    np.testing.assert_allclose(
        ops.convert_to_numpy(out_a["z"]), ops.convert_to_numpy(out_b["z"]), rtol=1e-6, atol=1e-6
    )


def test_conditional_vae_and_argument_errors():
    x, y = _small_data()
    onehot = np.eye(10, dtype="float32")[y]
    model = _mnist_vae(conditional=True)
    model.compile(optimizer="adam")
    model.fit((x[:64], onehot[:64]), (x[:64] > 0.5).astype("float32"), epochs=1, verbose=0)
    logits = model.decode(np.zeros((10, 4), "float32"), np.eye(10, dtype="float32"))
    assert tuple(logits.shape) == (10, 28, 28, 1)
    nll = V.importance_weighted_nll(model, (x[:4] > 0.5).astype("float32"), 5, condition=onehot[:4])
    assert nll.shape == (4,) and np.all(nll > 0)
    binary = (x[:4] > 0.5).astype("float32")
    with pytest.raises(ValueError, match="is conditional"):
        V.importance_weighted_nll(model, binary, 5)
    with pytest.raises(ValueError, match="not conditional"):
        V.importance_weighted_nll(_mnist_vae(), binary, 5, condition=onehot[:4])
    # grey levels, raw uint8 pixels and NaN images give numbers that only look like likelihoods
    with pytest.raises(ValueError, match="x must be binary"):
        V.importance_weighted_nll(model, x[:4], 5, condition=onehot[:4])
    with pytest.raises(ValueError, match="uint8"):
        V.importance_weighted_nll(model, (binary * 255).astype("uint8"), 5, condition=onehot[:4])
    with pytest.raises(ValueError, match="NaN"):
        V.importance_weighted_nll(model, np.full_like(binary, np.nan), 5, condition=onehot[:4])
    # the course contract: integer labels, log p (not -log p)
    np.testing.assert_allclose(
        model.log_likelihood(binary, labels=y[:4], k=5, seed=3),
        -V.importance_weighted_nll(model, binary, 5, condition=onehot[:4], seed=3),
    )
    with pytest.raises(ValueError, match="one-hot"):
        model.log_likelihood(binary, labels=onehot[:4], k=5)
    with pytest.raises(ValueError, match="rows"):
        V.active_units(model, x[:4], condition=onehot[:3])
    from utils import autoencoders as A

    with pytest.raises(ValueError, match="2 \\* latent_dim"):
        V.VAE(A.build_dense_encoder(3), A.build_dense_decoder(3))
    with pytest.raises(ValueError, match="decoder takes"):
        V.VAE(A.build_dense_encoder(6), A.build_dense_decoder(4))
    with pytest.raises(ValueError, match="beta"):
        V.VAE(A.build_dense_encoder(4), A.build_dense_decoder(2), beta=-1)


def test_active_units_counts_dimensions_the_encoder_uses():
    utils.set_seed(0)
    image = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(image)
    informative = keras.layers.Dense(2)(flat)  # means that depend on the image
    rest = keras.layers.Dense(4, kernel_initializer="zeros", bias_initializer="zeros")(
        flat
    )  # 2 dead means + 2 log-vars
    encoder = keras.Model(image, keras.layers.Concatenate()([informative, rest]))
    model = V.VAE(
        encoder,
        keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(784), keras.layers.Reshape((28, 28, 1))]
        ),
    )
    x = _small_data()[0][:200]
    count, variances = V.active_units(model, x, batch_size=64)
    assert count == 2 and variances.shape == (3,) and variances[2] == 0.0
    with pytest.raises(ValueError):
        V.active_units(model, x[:1])


def test_fit_vae_conditional_and_plain():
    x, y = _small_data()
    onehot = np.eye(10, dtype="float32")[y]
    plain = _mnist_vae()
    history = V.fit_vae(
        plain,
        x[:128],
        validation=(x[128:192] > 0.5).astype("float32"),
        epochs=2,
        batch_size=32,
        verbose=0,
    )
    assert {"loss", "kl", "reconstruction", "val_loss"} <= set(history.history)
    conditional = _mnist_vae(conditional=True)
    val = ((x[128:192] > 0.5).astype("float32"), onehot[128:192])
    history = V.fit_vae(
        conditional,
        x[:128],
        labels=onehot[:128],
        validation=val,
        epochs=2,
        batch_size=32,
        verbose=0,
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    with pytest.raises(ValueError, match="labels"):
        V.fit_vae(plain, x[:32], labels=onehot[:32], epochs=1)


def test_fit_vae_takes_integer_class_ids_and_can_stay_quiet(capsys):
    x, y = _small_data()
    model = _mnist_vae(conditional=True)
    val = ((x[128:192] > 0.5).astype("float32"), y[128:192])
    history = V.fit_vae(
        model,
        x[:128],
        labels=y[:128],
        validation=val,
        epochs=1,
        batch_size=32,
        label=None,
        verbose=0,
    )
    assert "val_loss" in history.history
    assert "[time]" not in capsys.readouterr().out  # label=None: no line that changes every run
    assert np.array_equal(V._conditions(model, y[:5]), np.eye(10, dtype="float32")[y[:5]])
    with pytest.raises(ValueError):
        V.fit_vae(model, x[:32], labels=np.full(32, 10), epochs=1, label=None)  # out of range


def test_kl_per_unit_sums_to_the_rate(rng):
    x = _small_data()[0][:64]
    xb = (x > 0.5).astype("float32")
    model = _mnist_vae()
    per_unit = V.kl_per_unit(model, xb, batch_size=16)
    mean, log_var = (ops.convert_to_numpy(t).astype(np.float64) for t in model.encode(xb))
    total = ops.convert_to_numpy(V.kl_divergence_standard_normal(mean, log_var)).mean()
    assert per_unit.shape == (model.latent_dim,) and np.all(per_unit >= 0)
    np.testing.assert_allclose(per_unit.sum(), total, rtol=1e-5)
    with pytest.raises(ValueError):
        V.kl_per_unit(model, xb[:0])
