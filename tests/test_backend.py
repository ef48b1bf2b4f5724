"""utils.backend on the active Keras backend: gradients against finite differences, state that
keeps updating under ``fit``. CI runs this file under TensorFlow, JAX and PyTorch."""

from utils import backend, gan

import keras
import numpy as np
import pytest
from keras import ops


def _critic(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    h = keras.layers.Dense(5, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def _finite_difference(f, x, eps=1e-3):
    """Central differences of a scalar NumPy function f at x (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def test_backend_name_is_the_active_keras_backend():
    assert backend.name() == keras.backend.backend()


def test_input_gradient_of_a_critic_matches_finite_differences():
    critic = _critic()
    x = np.random.default_rng(0).normal(size=(4, 3))
    g = ops.convert_to_numpy(backend.input_gradients(lambda t: critic(t), x.astype("float32")))

    def total(v):
        return float(np.sum(ops.convert_to_numpy(critic(v.astype("float32")))))

    np.testing.assert_allclose(g, _finite_difference(total, x), atol=2e-3, rtol=1e-2)


def test_gradient_penalty_weight_gradients_match_finite_differences():
    """Double back-propagation: d(penalty)/d(critic weights) through the input gradient."""
    critic = _critic(1)
    rng = np.random.default_rng(1)
    real, fake = (rng.normal(size=(6, 3)).astype("float32") for _ in range(2))

    def penalty():
        # a fixed eps (same seed every call) makes the penalty a deterministic function of w
        return gan.gradient_penalty(critic, real, fake, weight=1.0, seed=7)

    kernel = critic.trainable_variables[0]
    _, (g_kernel, *_) = backend.value_and_gradients(penalty, critic.trainable_variables)
    original = ops.convert_to_numpy(kernel).astype(np.float64)

    def at(w):
        kernel.assign(w.astype("float32"))
        return float(ops.convert_to_numpy(penalty()))

    numeric = _finite_difference(at, original, eps=1e-2)
    kernel.assign(original.astype("float32"))
    np.testing.assert_allclose(ops.convert_to_numpy(g_kernel), numeric, atol=5e-3, rtol=5e-2)
    assert np.abs(numeric).max() > 1e-3  # the check is not vacuous


def test_value_and_gradients_of_a_quadratic_and_its_aux():
    w = keras.Variable(np.array([1.0, -2.0, 3.0], "float32"))
    unused = keras.Variable(np.zeros(2, "float32"))
    loss, aux, (g, g_unused) = backend.value_and_gradients(
        lambda: (ops.sum(w * w), {"norm": ops.sqrt(ops.sum(w * w))}), [w, unused], has_aux=True
    )
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(14.0)
    assert float(ops.convert_to_numpy(aux["norm"])) == pytest.approx(np.sqrt(14.0))
    np.testing.assert_allclose(ops.convert_to_numpy(g), [2.0, -4.0, 6.0])
    np.testing.assert_array_equal(ops.convert_to_numpy(g_unused), [0.0, 0.0])
    with pytest.raises(ValueError, match="scalar"):
        backend.value_and_gradients(lambda: w * w, [w])


def test_variable_updates_inside_a_gradient_are_kept():
    """Batch-norm statistics and seed-generator states assigned inside ``fn`` reach the
    variables."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    model = keras.Model(
        inputs, keras.layers.Dense(1)(keras.layers.BatchNormalization(momentum=0.5)(inputs))
    )
    seeds = keras.random.SeedGenerator(3)
    x = np.array([[1.0, 2.0], [3.0, 6.0]], "float32")
    state_before = ops.convert_to_numpy(seeds.state).copy()

    def loss():
        noise = keras.random.normal((2, 1), seed=seeds)
        return ops.mean(model(x, training=True) + noise)

    backend.value_and_gradients(loss, model.trainable_variables)
    moving_mean = ops.convert_to_numpy(model.layers[1].moving_mean)
    np.testing.assert_allclose(moving_mean, 0.5 * np.array([2.0, 4.0]), rtol=1e-6)
    assert not np.array_equal(ops.convert_to_numpy(seeds.state), state_before)


def test_gan_fit_carries_both_optimizers_batch_norm_and_noise_state():
    """Under every backend's ``fit``: both optimizers step, BN statistics and the noise move on."""
    keras.utils.set_random_seed(0)
    model = gan.GAN(
        gan.build_dcgan_generator(8, filters=4), gan.build_dcgan_discriminator(filters=4), seed=0
    )
    model.compile()
    images = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
    bn = next(
        layer
        for layer in model.generator.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    mean_before = ops.convert_to_numpy(bn.moving_mean).copy()
    seed_before = ops.convert_to_numpy(model.seed_generator.state).copy()
    for epoch in (1, 2):
        model.fit(images, batch_size=16, epochs=1, verbose=0, shuffle=False)
        assert int(ops.convert_to_numpy(model.d_optimizer.iterations)) == 4 * epoch
        assert int(ops.convert_to_numpy(model.g_optimizer.iterations)) == 4 * epoch
    assert not np.allclose(ops.convert_to_numpy(bn.moving_mean), mean_before)
    assert not np.array_equal(ops.convert_to_numpy(model.seed_generator.state), seed_before)
    # Adam's moments moved too (they are the optimizers' other variables)
    moments = [ops.convert_to_numpy(v) for v in model.g_optimizer.variables[1:]]
    assert any(np.abs(m).max() > 0 for m in moments)


def test_default_jit_compile_per_backend():
    assert backend.default_jit_compile() is (keras.backend.backend() == "jax")
