"""Adversarial training: losses, the gradient penalty, the two phases of a step, saving, errors."""

from utils import backend, callbacks, gan, toy

import keras
import numpy as np
import pytest
from keras import ops


def _toy_gan(loss="non_saturating", critic_steps=1, seed=0):
    keras.utils.set_random_seed(seed)
    g = gan.build_mlp(4, 2, (16,), name="g")
    d = gan.build_mlp(2, 1, (16,), name="d")
    model = gan.GAN(g, d, loss=loss, critic_steps=critic_steps, seed=seed)
    model.compile(
        d_optimizer=keras.optimizers.Adam(1e-2, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(1e-2, beta_1=0.5),
    )
    return model


def _weights(model):
    return [np.array(w) for w in model.weights]


def _changed(before, after):
    return [not np.allclose(a, b) for a, b in zip(before, after)]


# -- losses -------------------------------------------------------------------------------------


def test_minimax_generator_loss_saturates_and_the_non_saturating_one_does_not():
    scores = ops.convert_to_tensor(
        np.array([[-8.0], [-6.0]], "float32")
    )  # D(G(z)) ~ 0.0003, 0.0025
    grad = {
        name: np.abs(
            ops.convert_to_numpy(
                backend.input_gradients(lambda s: gan.generator_loss(name, s), scores)
            )
        )
        for name in ("minimax", "non_saturating")
    }
    assert grad["minimax"].max() < 2e-3  # = sigmoid(s) / B
    np.testing.assert_allclose(
        grad["non_saturating"], 0.5 * (1 - 1 / (1 + np.exp(-np.array([[-8.0], [-6.0]])))), rtol=1e-5
    )


def test_discriminator_loss_is_the_binary_cross_entropy():
    real, fake = np.array([[2.0], [-1.0]], "float32"), np.array([[0.5], [-3.0]], "float32")
    sig = lambda s: 1 / (1 + np.exp(-s))  # noqa: E731
    expected = -np.mean(np.log(sig(real))) - np.mean(np.log(1 - sig(fake)))
    assert float(gan.discriminator_loss("minimax", real, fake)) == pytest.approx(expected, rel=1e-5)
    assert float(gan.discriminator_loss("wasserstein_gp", real, fake)) == pytest.approx(
        fake.mean() - real.mean()
    )


def test_unknown_loss_names_are_rejected():
    with pytest.raises(ValueError, match="unknown GAN loss 'hinge'"):
        gan.generator_loss("hinge", np.zeros((2, 1), "float32"))


# -- gradient penalty ---------------------------------------------------------------------------


@pytest.mark.parametrize("norm", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_a_linear_critic(norm, rng):
    w = rng.standard_normal((12, 1))
    w *= norm / np.linalg.norm(w)
    critic = keras.Sequential([keras.Input((3, 4)), keras.layers.Flatten(), keras.layers.Dense(1)])
    critic.layers[-1].set_weights([w.astype("float32"), np.array([0.7], "float32")])
    real = rng.standard_normal((8, 3, 4)).astype("float32")
    fake = rng.standard_normal((8, 3, 4)).astype("float32")
    gp = float(gan.gradient_penalty(critic, real, fake, weight=10.0, seed=3))
    assert gp == pytest.approx(10.0 * (norm - 1.0) ** 2, abs=1e-5)


def test_gradient_penalty_checks_its_arguments(rng):
    critic = gan.build_mlp(2, 1, (4,))
    with pytest.raises(ValueError, match="same shape"):
        gan.gradient_penalty(critic, np.zeros((4, 2), "float32"), np.zeros((3, 2), "float32"))
    with pytest.raises(ValueError, match="weight"):
        gan.gradient_penalty(
            critic, np.zeros((4, 2), "float32"), np.zeros((4, 2), "float32"), weight=-1.0
        )


def test_input_gradients_of_a_square():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(
        ops.convert_to_numpy(backend.input_gradients(lambda t: ops.sum(t * t), x)), 2 * x
    )


def test_unsupported_backend_is_named(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    with pytest.raises(NotImplementedError, match="'numpy'.*KERAS_BACKEND"):
        backend.value_and_gradients(lambda: 0.0, [keras.Variable(0.0)])


def test_gradient_functions_check_their_arguments():
    with pytest.raises(TypeError, match="fn must be"):
        backend.value_and_gradients(3.0, [keras.Variable(0.0)])
    with pytest.raises(ValueError, match="variables must be a non-empty"):
        backend.value_and_gradients(lambda: 0.0, [])
    with pytest.raises(TypeError, match="fn must be"):
        backend.input_gradients(None, np.zeros(3, "float32"))


# -- the two phases of a training step ----------------------------------------------------------


def test_each_phase_updates_only_its_own_network(rng):
    model = gan.GAN(
        gan.build_dcgan_generator(8, filters=4), gan.build_dcgan_discriminator(filters=4), seed=0
    )
    model.compile()
    real = rng.random((6, 28, 28, 1)).astype("float32")
    g0, d0 = _weights(model.generator), _weights(model.discriminator)
    g_trainable = [
        any(w is v for v in model.generator.trainable_weights) for w in model.generator.weights
    ]

    model.discriminator_step(real)
    g1, d1 = _weights(model.generator), _weights(model.discriminator)
    assert all(_changed(d0, d1)), "every discriminator weight moves in its phase"
    # The generator's trainable weights stay put (its batch-norm running statistics, which are
    # not trained, are refreshed whenever it runs in training mode).
    assert not any(c for c, t in zip(_changed(g0, g1), g_trainable) if t)

    model.generator_step(6)
    g2, d2 = _weights(model.generator), _weights(model.discriminator)
    assert not any(_changed(d1, d2)), "the discriminator does not move in the generator phase"
    assert all(c for c, t in zip(_changed(g1, g2), g_trainable) if t)


def test_train_step_with_several_critic_steps_logs_the_wasserstein_metrics():
    model = _toy_gan("wasserstein_gp", critic_steps=3)
    x = np.random.default_rng(0).standard_normal((30, 2)).astype("float32")
    g0, d0 = _weights(model.generator), _weights(model.discriminator)
    history = model.fit(
        x, epochs=2, batch_size=9, verbose=0
    )  # 9 = 3 critic slices of 3; last batch short
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake", "gp", "w_distance"}
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert all(_changed(g0, _weights(model.generator)))
    # The critic's output bias cancels in E[D(x)] - E[D(G(z))] and does not enter the penalty: it
    # receives no gradient under the Wasserstein loss. Every other critic weight moves.
    assert _changed(d0, _weights(model.discriminator)) == [True, True, True, False]
    assert model.d_optimizer.iterations.numpy() == 3 * model.g_optimizer.iterations.numpy() == 3 * 8


@pytest.mark.parametrize("loss", ["non_saturating", "wasserstein_gp"])
def test_a_toy_gan_learns_to_move_its_samples_to_the_data(loss):
    """1-D-ish target N((3, -2), 0.1^2 I): the generated mean must travel there."""
    model = _toy_gan(loss, critic_steps=1 if loss == "non_saturating" else 3, seed=1)
    target = np.array([3.0, -2.0])
    x = (target + 0.1 * np.random.default_rng(1).standard_normal((3000, 2))).astype("float32")
    start = np.linalg.norm(model.generate(500, seed=0).mean(axis=0) - target)
    model.fit(x, epochs=10, batch_size=30 * model.critic_steps, verbose=0)
    end = np.linalg.norm(model.generate(500, seed=0).mean(axis=0) - target)
    assert end < 0.25 * start


# -- conditional models, sampling, saving --------------------------------------------------------


def test_conditional_gan_trains_and_generates_per_class(tmp_path):
    g = gan.build_dcgan_generator(8, filters=4, num_classes=10)
    d = gan.build_dcgan_discriminator(filters=4, num_classes=10)
    model = gan.GAN(g, d, num_classes=10, seed=0)
    model.compile()
    x = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    model.fit(x, np.arange(16) % 10, epochs=1, batch_size=8, verbose=0)
    images = model.generate(5, labels=[0, 1, 2, 3, 4], seed=2)
    assert images.shape == (5, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    with pytest.raises(ValueError, match="class-conditional.*integer class ids"):
        model.generate(5, seed=2)
    with pytest.raises(ValueError, match="one-hot"):
        model.generate(5, labels=np.eye(10)[:5], seed=2)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        model.generate(5, labels=[0, 1, 2, 3, 10], seed=2)
    with pytest.raises(ValueError, match="fit\\(images, labels\\)"):
        model.fit(x, epochs=1, batch_size=8, verbose=0)


def test_generate_is_repeatable_with_a_seed_and_fixed_noise():
    model = _toy_gan()
    np.testing.assert_array_equal(model.generate(7, seed=5), model.generate(7, seed=5))
    noise = np.random.default_rng(0).standard_normal((4, 4)).astype("float32")
    np.testing.assert_allclose(
        model.generate(noise=noise), ops.convert_to_numpy(model.generator(noise)), rtol=1e-6
    )


@pytest.mark.parametrize("num_classes", [None, 10])
def test_generator_survives_keras_save_and_load(tmp_path, num_classes):
    g = gan.build_dcgan_generator(8, filters=4, num_classes=num_classes)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    inputs = z if num_classes is None else [z, np.array([1, 5, 9], "int32")]
    g.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(inputs)), ops.convert_to_numpy(g(inputs)), rtol=1e-6
    )


def test_gan_survives_keras_save_and_load(tmp_path):
    model = _toy_gan("wasserstein_gp", critic_steps=2)
    model.fit(np.zeros((8, 2), "float32"), epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert (loaded.loss_name, loaded.critic_steps, loaded.gp_weight) == ("wasserstein_gp", 2, 10.0)
    noise = np.ones((2, 4), "float32")
    np.testing.assert_allclose(loaded.generate(noise=noise), model.generate(noise=noise), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss": "hinge"}, "unknown GAN loss"),
        ({"critic_steps": 0}, "critic_steps must be a positive int"),
        ({"critic_steps": -2}, "critic_steps must be a positive int"),
        ({"critic_steps": 1.5}, "critic_steps must be a positive int"),
        ({"gp_weight": -1.0}, "gp_weight"),
        ({"num_classes": 10}, "2 input"),
    ],
)
def test_bad_gan_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gan.GAN(gan.build_mlp(4, 2, (8,)), gan.build_mlp(2, 1, (8,)), **kwargs)


def test_mismatched_networks_raise():
    with pytest.raises(
        ValueError, match=r"samples of shape \(3,\) but the discriminator takes \(2,\)"
    ):
        gan.GAN(gan.build_mlp(4, 3, (8,)), gan.build_mlp(2, 1, (8,)))
    with pytest.raises(ValueError, match="one score per example"):
        gan.GAN(gan.build_mlp(4, 2, (8,)), gan.build_mlp(2, 3, (8,)))
    with pytest.raises(ValueError, match="dropout"):
        gan.build_dcgan_discriminator(dropout=1.0)


# -- the ring of Gaussians, the sample-grid callback ---------------------------------------------


def test_ring_mode_statistics():
    real = toy.sample_ring(4000, seed=0)
    stats = toy.ring_mode_statistics(real)
    assert stats["modes_covered"] == 8 and stats["high_quality_fraction"] > 0.98
    one_mode = np.tile(toy.ring_modes()[3], (500, 1))
    assert toy.ring_mode_statistics(one_mode)["modes_covered"] == 1
    assert toy.ring_mode_statistics(np.zeros((100, 2)))["high_quality_fraction"] == 0.0
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        toy.ring_mode_statistics(np.zeros((5, 3)))


def test_sample_grid_callback_writes_frames_and_a_gif(tmp_path):
    model = gan.GAN(
        gan.build_dcgan_generator(8, filters=4), gan.build_dcgan_discriminator(filters=4), seed=0
    )
    model.compile()
    callback = callbacks.SampleGridCallback(6, seed=3, directory=tmp_path / "grid", ncols=3)
    x = np.random.default_rng(1).random((8, 28, 28, 1)).astype("float32")
    model.fit(x, epochs=2, batch_size=4, verbose=0, callbacks=[callback])
    assert callback.epochs == [1, 2] and callback.frames[0].shape == (6, 28, 28)
    assert not np.allclose(callback.frames[0], callback.frames[1])
    assert callback.tile(callback.frames[0]).shape == (56, 84)
    assert sorted(p.name for p in (tmp_path / "grid").iterdir()) == [
        "epoch_001.png",
        "epoch_002.png",
        "samples.gif",
    ]
    from PIL import Image

    assert Image.open(tmp_path / "grid" / "samples.gif").n_frames == 2


def test_step_logger_recovers_each_steps_value_and_fid_callback_measures_every_epoch(subset_arrays):

    model = gan.GAN(
        gan.build_dcgan_generator(8, filters=4), gan.build_dcgan_discriminator(filters=4), seed=0
    )
    model.compile()
    x = subset_arrays["x_train"][:40].astype("float32")[..., None] / 255.0
    steps = callbacks.StepLogger()
    fid = callbacks.FIDCallback(x[:20], seed=1)
    history = model.fit(x, epochs=2, batch_size=8, verbose=0, callbacks=[steps, fid])
    assert len(steps.values["d_loss"]) == 10  # 2 epochs x 5 steps
    # The mean of the recovered per-step values is the epoch mean Keras reports.
    for epoch in range(2):
        chunk = steps.values["g_loss"][5 * epoch : 5 * epoch + 5]
        assert np.mean(chunk) == pytest.approx(history.history["g_loss"][epoch], rel=1e-4)
    assert fid.epochs == [1, 2] and history.history["fid"] == pytest.approx(fid.fids)
    assert all(f > 0 for f in fid.fids)
