"""Normalizing flows (utils.flows): exact inverses, log-determinants against independent Jacobians,
the toy density's normalization, ActNorm's data-dependent initialization (compiled fit included),
the 8-bit likelihood protocol, training, sampling and saving. Runs on every backend."""

import utils  # noqa: F401  (registers the course's layers)
from utils import backend, flows, likelihood

import math

import keras
import numpy as np
import pytest
from keras import ops

# -- helpers ---------------------------------------------------------------------------------------


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _perturb(obj, scale=0.2, seed=0):
    """Add Gaussian noise to every trainable variable: the layer is no longer the identity."""
    rng = np.random.default_rng(seed)
    for v in obj.trainable_variables:
        v.assign(_np(v) + scale * rng.standard_normal(tuple(v.shape)).astype("float32"))
    return obj


def _randomize(obj, scale, seed=0):
    """Set every trainable variable to N(0, scale^2) draws of NumPy: the same flow on every
    backend."""
    rng = np.random.default_rng(seed)
    for v in obj.trainable_variables:
        v.assign(scale * rng.standard_normal(tuple(v.shape)).astype("float32"))
    return obj


def _jacobian(fn, x, examples=None):
    """Per-example Jacobians (B, D_out, D_in), float64, of ``fn`` applied to the batch ``x``.

    Independent of the layers' own log-determinants: for each example, one call of
    ``utils.backend.input_gradients`` on D_out copies of it, copy k differentiating output
    component k (the examples of a batch do not interact). ``examples``: the indices to do (all by
    default).
    """
    x = np.asarray(x, dtype="float32")
    d_in = x[0].size
    d_out = _np(fn(ops.convert_to_tensor(x[:1])))[0].size
    select = ops.convert_to_tensor(np.eye(d_out, dtype="float32"))

    def picked(t):
        return ops.sum(ops.reshape(fn(t), (d_out, d_out)) * select, axis=1)

    jacobians = []
    for b in range(len(x)) if examples is None else examples:
        copies = ops.convert_to_tensor(np.repeat(x[b : b + 1], d_out, axis=0))
        jacobians.append(_np(backend.input_gradients(picked, copies)).reshape(d_out, d_in))
    return np.stack(jacobians).astype(np.float64)


def _log_abs_det(jacobians):
    signs, logdets = np.linalg.slogdet(jacobians)
    assert np.all(signs != 0), "the Jacobian is singular"
    return logdets


RNG = np.random.default_rng(0)
IMAGES = RNG.standard_normal((2, 4, 4, 2)).astype("float32")
VECTORS = RNG.standard_normal((3, 4)).astype("float32")


def _actnorm_initialized(shape):
    layer = flows.ActNorm()
    data = RNG.standard_normal((16, *shape[1:])).astype("float32") * 2.0 + 0.5
    layer.forward(data, training=True)  # data-dependent initialization
    return layer


# name -> (layer factory, input, perturb?)
LAYERS = {
    "coupling_checkerboard_0": (lambda: flows.AffineCoupling("checkerboard", 0, 8, 1), IMAGES),
    "coupling_checkerboard_1": (lambda: flows.AffineCoupling("checkerboard", 1, 8, 1), IMAGES),
    "coupling_channel_0": (lambda: flows.AffineCoupling("channel", 0, 8, 1), IMAGES),
    "coupling_channel_1": (lambda: flows.AffineCoupling("channel", 1, 8, 0), IMAGES),
    "dense_coupling": (lambda: flows.DenseAffineCoupling(1, 8, 2), VECTORS),
    "squeeze": (flows.Squeeze, IMAGES),
    "actnorm_images": (lambda: _actnorm_initialized(IMAGES.shape), IMAGES),
    "actnorm_vectors": (lambda: _actnorm_initialized(VECTORS.shape), VECTORS),
    "1x1conv_images": (lambda: flows.Invertible1x1Conv(seed=3), IMAGES),
    "1x1conv_vectors": (lambda: flows.Invertible1x1Conv(seed=4), VECTORS),
    "dequantize": (lambda: flows.Dequantize(noise=False), np.abs(IMAGES) * 60.0),
    "logit": (lambda: flows.LogitTransform(0.05), 1.0 / (1.0 + np.exp(-IMAGES))),
}


def _layer(name):
    make, x = LAYERS[name]
    layer = make()
    y, log_det = layer.forward(ops.convert_to_tensor(x))  # builds it
    _perturb(layer, seed=len(name))
    return layer, x


# -- every layer: exact inverse, log-determinant = log |det J| ----------------------------------


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_inverse_of_forward_is_the_identity(name):
    layer, x = _layer(name)
    y, log_det = layer.forward(ops.convert_to_tensor(x))
    assert tuple(log_det.shape) == (len(x),)
    back = _np(layer.inverse(y))
    # float32 arithmetic: a few ulps of values of size ~1-100 (Dequantize: values up to 256)
    np.testing.assert_allclose(back, x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_log_det_equals_log_abs_det_of_the_jacobian(name):
    layer, x = _layer(name)
    _, log_det = layer.forward(ops.convert_to_tensor(x))
    expected = _log_abs_det(_jacobian(lambda t: layer.forward(t)[0], x))
    # float32 Jacobian entries (relative error ~1e-6) through slogdet: ~1e-4 absolute
    np.testing.assert_allclose(_np(log_det), expected, rtol=1e-4, atol=1e-3)


def test_perturbed_couplings_are_not_the_identity_so_the_checks_above_can_fail():
    for name in ("coupling_checkerboard_0", "coupling_channel_1", "dense_coupling"):
        layer, x = _layer(name)
        y, log_det = layer.forward(ops.convert_to_tensor(x))
        assert np.abs(_np(y) - x).max() > 1e-2 and np.abs(_np(log_det)).max() > 1e-2


def test_couplings_start_as_the_identity():
    for layer, x in [
        (flows.AffineCoupling("checkerboard", 0, 8, 2), IMAGES),
        (flows.AffineCoupling("channel", 1, 8, 1), IMAGES),
        (flows.DenseAffineCoupling(0, 8, 1), VECTORS),
    ]:
        y, log_det = layer.forward(ops.convert_to_tensor(x))
        np.testing.assert_array_equal(_np(y), x)
        np.testing.assert_array_equal(_np(log_det), np.zeros(len(x)))


def test_masks_keep_the_conditioning_part_exactly():
    mask = flows.checkerboard_mask(4, 4, parity=1)
    assert mask[0, 1] == 1 and mask[0, 0] == 0 and mask.sum() == 8
    layer, x = _layer("coupling_checkerboard_1")
    y = _np(layer.forward(ops.convert_to_tensor(x))[0])
    kept = mask[None, :, :, None].astype(bool).repeat(2, axis=-1).repeat(2, axis=0)
    np.testing.assert_array_equal(y[kept], x[kept])
    assert np.all(np.abs(y[~kept] - x[~kept]) > 0)
    for parity, kept_channel in [(0, 0), (1, 1)]:
        layer = flows.AffineCoupling("channel", parity, 8, 1)
        layer.build(IMAGES.shape)
        y = _np(_perturb(layer)(ops.convert_to_tensor(IMAGES))[0])
        np.testing.assert_array_equal(y[..., kept_channel], IMAGES[..., kept_channel])
        assert np.all(y[..., 1 - kept_channel] != IMAGES[..., 1 - kept_channel])


def test_squeeze_moves_each_2x2_block_into_the_channels():
    x = np.arange(2 * 4 * 6 * 3, dtype="float32").reshape(2, 4, 6, 3)
    y, log_det = flows.Squeeze().forward(ops.convert_to_tensor(x))
    y = _np(y)
    assert y.shape == (2, 2, 3, 12)
    np.testing.assert_array_equal(_np(log_det), [0.0, 0.0])
    for di in range(2):
        for dj in range(2):
            block = (2 * di + dj) * 3
            np.testing.assert_array_equal(y[:, :, :, block : block + 3], x[:, di::2, dj::2, :])


def test_lu_decomposition_and_the_initial_rotation():
    a = np.random.default_rng(5).standard_normal((5, 5))
    p, lower, upper = flows._lu_decompose(a)
    np.testing.assert_allclose(p @ lower @ upper, a, atol=1e-12)
    np.testing.assert_allclose(np.diag(lower), 1.0)
    assert np.allclose(np.triu(lower, 1), 0) and np.allclose(np.tril(upper, -1), 0)
    np.testing.assert_array_equal(np.sort(p, axis=1)[:, -1], 1.0)  # one 1 per row
    layer = flows.Invertible1x1Conv(seed=0)
    y, log_det = layer.forward(ops.convert_to_tensor(IMAGES))
    w = _np(layer.weight_matrix())
    np.testing.assert_allclose(w @ w.T, np.eye(2), atol=1e-6)  # a rotation: volume-preserving
    np.testing.assert_allclose(_np(log_det), 0.0, atol=1e-6)
    same = flows.Invertible1x1Conv(seed=0)
    same.build(IMAGES.shape)
    np.testing.assert_array_equal(_np(same.weight_matrix()), w)


def test_logit_transform_log_det_in_closed_form():
    y = np.array([[0.0, 0.5, 0.999]], "float32")
    z, log_det = flows.LogitTransform(0.05).forward(ops.convert_to_tensor(y))
    p = 0.05 + 0.9 * y.astype(np.float64)
    np.testing.assert_allclose(_np(z), np.log(p / (1 - p)), rtol=1e-5)
    np.testing.assert_allclose(_np(log_det), np.sum(np.log(0.9 / (p * (1 - p)))), rtol=1e-5)


def test_dequantize_adds_noise_inside_each_cell():
    levels = np.array([[0, 7, 255, 128]], "float32").repeat(50, axis=0)
    layer = flows.Dequantize(seed=1)
    y, log_det = layer(ops.convert_to_tensor(levels))
    y = _np(y)
    np.testing.assert_array_equal(np.floor(y * 256), levels)  # y in the level's cell
    assert y.std(axis=0).min() > 0.1 / 256  # fresh noise per entry
    np.testing.assert_allclose(_np(log_det), -4 * math.log(256), rtol=1e-6)
    y2 = _np(layer(ops.convert_to_tensor(levels))[0])
    assert not np.array_equal(y, y2)  # the generator moves on
    np.testing.assert_array_equal(_np(layer(levels, add_noise=False)[0]), levels / 256)


# -- ActNorm: data-dependent initialization -------------------------------------------------------


def test_actnorm_initializes_on_the_first_training_batch_only():
    data = (RNG.standard_normal((32, 3, 3, 3)) * [0.5, 2.0, 4.0] + [1, -2, 3]).astype("float32")
    layer = flows.ActNorm()
    y, log_det = layer.forward(ops.convert_to_tensor(data))  # training=False: identity, no init
    np.testing.assert_array_equal(_np(y), data)
    assert float(_np(layer.initialized)) == 0.0
    y, log_det = layer.forward(ops.convert_to_tensor(data), training=True)
    y = _np(y)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    assert float(_np(layer.initialized)) == 1.0
    # log_det = H * W * sum(log s) with s = 1 / std
    np.testing.assert_allclose(_np(log_det), -9 * np.log(data.std(axis=(0, 1, 2))).sum(), rtol=1e-4)
    params = [_np(v) for v in layer.weights]
    layer.forward(ops.convert_to_tensor(data * 10.0), training=True)  # a second batch: kept
    for before, after in zip(params, [_np(v) for v in layer.weights]):
        np.testing.assert_array_equal(before, after)


def test_actnorm_initializes_inside_compiled_fit():
    """The first step of ``fit`` (jit-compiled on JAX, a tf.function on TensorFlow) initializes
    ActNorm from its batch: the first ActNorm of a toy flow sees the raw points."""
    points = (RNG.standard_normal((64, 2)) * [2.0, 0.5] + [3.0, -2.0]).astype("float32")
    model = flows.ToyFlow(num_couplings=2, hidden_units=8, use_actnorm=True, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(points, epochs=1, batch_size=64, shuffle=False, verbose=0)
    first = model.steps[0]
    assert isinstance(first, flows.ActNorm)
    assert all(
        float(_np(s.initialized)) == 1.0 for s in model.steps if isinstance(s, flows.ActNorm)
    )
    # one Adam step moves each trainable offset by about the learning rate (1e-4)
    loc = _np(first.init_loc) + _np(first.loc)
    log_scale = _np(first.init_log_scale) + _np(first.log_scale)
    np.testing.assert_allclose(loc, -points.mean(axis=0), atol=1e-3)
    np.testing.assert_allclose(log_scale, -np.log(points.std(axis=0)), atol=1e-3)


# -- the 2-D toy flow --------------------------------------------------------------------------


def _toy(seed=0):
    model = flows.ToyFlow(num_couplings=4, hidden_units=16, seed=seed)
    return _randomize(model, scale=0.3, seed=seed)


def test_toy_density_integrates_to_one_and_is_not_the_gaussian():
    model = _toy()
    edges = np.linspace(-8.0, 8.0, 401)
    centres = (edges[:-1] + edges[1:]) / 2
    gx, gy = np.meshgrid(centres, centres)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    log_p = model.log_density(grid)
    cell = (edges[1] - edges[0]) ** 2
    # a midpoint sum on a 0.04 grid of a smooth density whose mass lies well inside [-8, 8]^2
    assert np.exp(log_p).sum() * cell == pytest.approx(1.0, abs=1e-3)
    gaussian = -0.5 * (grid**2).sum(axis=1) - math.log(2 * math.pi)
    inside = (np.abs(grid) < 2).all(axis=1)
    assert np.abs(log_p - gaussian)[inside].max() > 0.5  # the warp is not trivial


def test_toy_log_det_matches_the_jacobian_and_inverse_is_exact():
    model = _toy(1)
    x = RNG.standard_normal((5, 2)).astype("float32")
    z, log_det = model.flow_forward(ops.convert_to_tensor(x))
    np.testing.assert_allclose(
        _np(log_det),
        _log_abs_det(_jacobian(lambda t: model.flow_forward(t)[0], x)),
        rtol=1e-4,
        atol=1e-4,
    )
    np.testing.assert_allclose(_np(model.flow_inverse(z)), x, rtol=1e-5, atol=1e-5)


def test_toy_samples_and_layer_outputs():
    model = _toy(2)
    a, b = model.sample(100, seed=7), model.sample(100, seed=7)
    assert a.shape == (100, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.sample(100, seed=8))
    z = np.asarray(keras.random.normal((100, 2), seed=keras.random.SeedGenerator(7)))
    path = model.layer_outputs(z, inverse=True)
    assert len(path) == len(model.steps) + 1
    np.testing.assert_allclose(path[0], z, atol=0)
    np.testing.assert_allclose(path[-1], a, atol=1e-6)  # samples are the end of the path
    forward = model.layer_outputs(a)
    np.testing.assert_allclose(forward[-1], z, atol=1e-4)
    np.testing.assert_allclose(model.sample(5, seed=1, temperature=0.0), model.sample(5, seed=2,
                               temperature=0.0))  # fmt: skip


def test_toy_fit_lowers_the_nll():
    points = utils.toy.sample_ring(512, seed=0)
    model = flows.build_toy_flow(num_couplings=4, hidden_units=16, learning_rate=1e-2, seed=0)
    before = -model.log_density(points).mean()
    history = model.fit(points, epochs=5, batch_size=128, verbose=0)
    after = -model.log_density(points).mean()
    assert after < before - 0.2
    assert history.history["loss"][-1] < history.history["loss"][0]


# -- the image model ------------------------------------------------------------------------------


def _tiny(**kwargs):
    """A 4x4 flow: 4x4x1 -> squeeze 2x2x4 -> factor out 2 -> 2x2x2, Glow steps."""
    args = dict(num_scales=2, couplings_per_scale=2, hidden_channels=4, num_blocks=1,
                use_actnorm=True, use_1x1_conv=True, seed=0)  # fmt: skip
    return flows.RealNVP((4, 4, 1), **{**args, **kwargs})


# 16 images = the 16 dimensions: the Jacobian's copies have the batch's shape (fewer compilations)
TINY_X = RNG.integers(0, 256, (16, 4, 4, 1)).astype("uint8")


@pytest.fixture(scope="module")
def tiny():
    """A perturbed tiny Glow-style flow, ActNorms initialized with :meth:`initialize`, and the
    number of ActNorms that call initialized."""
    model = _perturb(_tiny(), scale=0.1)
    return model, model.initialize(TINY_X, seed=3)


def test_realnvp_initialize_standardizes_the_first_actnorm(tiny):
    model, count = tiny
    norms = [s for s in model.steps if isinstance(s, flows.ActNorm)]
    assert len(norms) == 2 + 2 + 3  # one per coupling: checkerboard, channel, final scale
    assert count == 7 and all(float(_np(a.initialized)) == 1.0 for a in norms)
    first = model.steps[0]
    logits = _np(model.logit(likelihood.uniform_dequantize(TINY_X, seed=3))[0])
    # its data-dependent parameters standardize the batch it was initialized on
    y = (logits + _np(first.init_loc)) * np.exp(_np(first.init_log_scale))
    np.testing.assert_allclose(y.mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(), 1.0, atol=1e-4)
    before = [_np(v) for v in first.non_trainable_weights]
    assert model.initialize(TINY_X, seed=4) == 0  # nothing left to initialize
    for old, new in zip(before, [_np(v) for v in first.non_trainable_weights]):
        np.testing.assert_array_equal(old, new)


def _mnist_flow():
    return flows.RealNVP(num_scales=3, couplings_per_scale=1, final_couplings=2,
                         hidden_channels=8, num_blocks=0, use_actnorm=True, seed=0)  # fmt: skip


@pytest.fixture(scope="module")
def mnist_model():
    return _mnist_flow()


def test_a_seed_fixes_the_initial_weights():
    a, b, c = _tiny(seed=3), _tiny(seed=3), _tiny(seed=4)
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(_np(va), _np(vb))
    kernels = [i for i, v in enumerate(a.weights) if "kernel" in v.path and _np(v).any()]
    assert kernels and all(
        not np.array_equal(_np(a.weights[i]), _np(c.weights[i])) for i in kernels
    )


def test_mnist_architecture_shapes(mnist_model):
    model = mnist_model
    assert model.latent_shapes == [(14, 14, 2), (7, 7, 4), (7, 7, 4)]
    assert model.dims == 784 and sum(model._latent_sizes) == 784
    kinds = [type(s).__name__ for s in model.steps]
    assert kinds.count("Squeeze") == 2 and kinds.count("AffineCoupling") == 1 + 1 + 1 + 1 + 2
    with pytest.raises(ValueError, match="divisible by 8"):
        flows.RealNVP(num_scales=4)


def test_whole_flow_inverse_and_log_det_against_the_jacobian(tiny):
    model, x = tiny[0], TINY_X
    v = 256.0 * likelihood.uniform_dequantize(x, seed=1)
    z, log_det = model.flow_forward(ops.convert_to_tensor(v))
    # float32 through the logit (|z| <= 3) and back: relative error ~1e-6 of values up to 256
    np.testing.assert_allclose(_np(model.flow_inverse(z)), v, rtol=0, atol=2e-3)
    some = [0, 5, 11]
    jac = _jacobian(lambda t: model.flow_forward(t)[0], v, examples=some)
    np.testing.assert_allclose(_np(log_det)[some], _log_abs_det(jac), rtol=1e-4, atol=1e-2)
    # log_likelihood is log N(z) + log |det dz/dv|, computed here from the Jacobian in NumPy
    z64 = _np(z).astype(np.float64)[some]
    expected = -0.5 * (z64**2).sum(axis=1) - 8 * math.log(2 * math.pi) + _log_abs_det(jac)
    ll = model.log_likelihood(v / 256.0, dequantized=True)
    np.testing.assert_allclose(ll[some], expected, rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(model.log_likelihood(x, seed=1), ll, rtol=1e-6)
    # batches of 5 (the last one padded): the same numbers
    np.testing.assert_allclose(model.log_likelihood(x, seed=1, batch_size=5), ll, rtol=1e-6)


def test_generate_in_batches_with_a_padded_last_batch(tiny):
    model = tiny[0]
    five = model.generate(5, seed=1, batch_size=2)
    assert five.shape == (5, 4, 4, 1) and len(np.unique(five.reshape(5, -1), axis=0)) == 5
    np.testing.assert_allclose(five[:4], model.generate(4, seed=1, batch_size=2), atol=1e-6)


def test_identity_flow_gives_the_logit_normal_density_in_8bit_space():
    """At initialization (no 1x1 convolutions) the flow is logit + a permutation: its density in
    8-bit space has a closed form."""
    model = flows.RealNVP((4, 4, 1), num_scales=2, couplings_per_scale=1, hidden_channels=4)
    x = RNG.integers(0, 256, (4, 4, 4, 1)).astype("uint8")
    y = likelihood.uniform_dequantize(x, seed=2).astype(np.float64).reshape(4, -1)
    p = 0.05 + 0.9 * y
    logit = np.log(p / (1 - p))
    log_p01 = np.sum(-0.5 * logit**2 - 0.5 * math.log(2 * math.pi) + np.log(0.9 / (p * (1 - p))), 1)
    ll = model.log_likelihood(x, seed=2)
    np.testing.assert_allclose(ll, log_p01 - 16 * math.log(256), rtol=1e-5)
    # bits/dim: one conversion, and it agrees with utils.likelihood.bits_per_dim_8bit
    bpd = model.bits_per_dim(x, seed=2)
    np.testing.assert_allclose(bpd, -ll / (16 * math.log(2)), rtol=1e-12)
    np.testing.assert_allclose(bpd, likelihood.bits_per_dim_8bit(log_p01, dims=16), rtol=1e-5)


def test_log_likelihood_of_mnist_images_is_finite_repeatable_and_sensible(mnist_model):
    x = RNG.integers(0, 256, (16, 28, 28, 1)).astype("uint8")
    ll = mnist_model.log_likelihood(x, batch_size=16)
    assert ll.shape == (16,) and ll.dtype == np.float64 and np.all(np.isfinite(ll))
    np.testing.assert_array_equal(ll, mnist_model.log_likelihood(x, batch_size=16))
    assert not np.array_equal(ll, mnist_model.log_likelihood(x, batch_size=16, seed=1))
    same = mnist_model.log_likelihood(
        likelihood.uniform_dequantize(x, seed=0), dequantized=True, batch_size=16
    )
    np.testing.assert_array_equal(ll, same)
    bpd = mnist_model.bits_per_dim(x, batch_size=16)
    np.testing.assert_allclose(bpd, -ll / (784 * math.log(2)), rtol=1e-12)
    # Uniformly random levels: no density on [0, 1)^D beats the uniform one on average (Gibbs),
    # so bits/dim >= 8; a flow near the identity is close to it.
    assert 8.0 < bpd.mean() < 9.5
    floats = mnist_model.log_likelihood(x.astype("float32"), batch_size=16)  # levels as floats
    np.testing.assert_array_equal(floats, ll)


def test_generate_shapes_seeds_and_temperature(mnist_model):
    images = mnist_model.generate(4, seed=5)  # 4 everywhere: one decoding shape to compile
    assert images.shape == (4, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, mnist_model.generate(4, seed=5))
    assert not np.array_equal(images, mnist_model.generate(4, seed=6))
    cold = mnist_model.generate(4, seed=1, temperature=0.0)
    np.testing.assert_array_equal(cold, mnist_model.generate(4, seed=9, temperature=0.0))
    np.testing.assert_allclose(cold, mnist_model.decode(np.zeros((4, 784), "float32")), atol=1e-7)
    spread = mnist_model.generate(4, seed=2, temperature=1.0).std(axis=0).mean()
    narrow = mnist_model.generate(4, seed=2, temperature=0.3).std(axis=0).mean()
    assert narrow < spread


def test_encode_decode_round_trip(mnist_model):
    x = RNG.integers(0, 256, (4, 28, 28, 1)).astype("uint8")
    z = mnist_model.encode(x, seed=3)
    assert z.shape == (4, 784) and z.dtype == np.float32
    back = mnist_model.decode(z)
    # float32 through the logit and back, in [0, 1) units: well inside one level (1/256)
    np.testing.assert_allclose(back, likelihood.uniform_dequantize(x, seed=3), atol=1e-5)


def test_fit_lowers_the_nll_of_real_mnist(subset_arrays):
    x = subset_arrays["x_train"][:256, :, :, None]
    x_test = subset_arrays["x_test"][:64, :, :, None]
    model = flows.RealNVP(num_scales=2, couplings_per_scale=1, final_couplings=1,
                          hidden_channels=8, num_blocks=0, use_actnorm=True, seed=0)  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(5e-3))  # before predicting: one compilation
    before = model.bits_per_dim(x_test, batch_size=64).mean()
    history = model.fit(x, epochs=3, batch_size=64, verbose=0)
    after = model.bits_per_dim(x_test, batch_size=64).mean()
    assert np.isfinite(after) and after < before - 0.5, (before, after)
    losses, bpd = history.history["loss"], history.history["bits_per_dim"]
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(bpd, np.array(losses) / (784 * math.log(2)), rtol=1e-4)
    assert all(
        float(_np(s.initialized)) == 1.0 for s in model.steps if isinstance(s, flows.ActNorm)
    )


def test_keras_file_round_trip_gives_identical_log_likelihood(tiny, tmp_path):
    model, x = tiny[0], TINY_X
    path = tmp_path / "flow.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, flows.RealNVP) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.log_likelihood(x), model.log_likelihood(x))
    for a, b in zip(loaded.weights, model.weights):  # ActNorm's flag and init values included
        np.testing.assert_array_equal(_np(a), _np(b))
    toy = _toy(3)
    toy.save(tmp_path / "toy.keras")
    grid = RNG.standard_normal((10, 2))
    np.testing.assert_array_equal(
        keras.saving.load_model(tmp_path / "toy.keras").log_density(grid), toy.log_density(grid)
    )


# -- bad inputs ----------------------------------------------------------------------------------

GOOD = RNG.integers(0, 256, (2, 4, 4, 1)).astype("uint8")


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: flows.Squeeze()(np.zeros((1, 5, 4, 1), "float32")), "even height"),
        (lambda: flows.Squeeze()(np.zeros((1, 4, 4), "float32")), r"\(B, H, W, C\)"),
        (lambda: flows.AffineCoupling("diagonal"), "mask must be one of"),
        (lambda: flows.AffineCoupling("channel", 2), "parity must be 0 or 1"),
        (lambda: flows.AffineCoupling(hidden_channels=0), "hidden_channels"),
        (lambda: flows.AffineCoupling("channel")(np.zeros((1, 4, 4, 3), "float32")), "even"),
        (lambda: flows.DenseAffineCoupling()(np.zeros((2, 1), "float32")), "at least 2"),
        (lambda: flows.ActNorm(epsilon=0.0), "epsilon"),
        (lambda: flows.ActNorm()(np.zeros((2, 3, 3), "float32")), r"\(B, D\) or \(B, H, W, C\)"),
        (lambda: flows.LogitTransform(alpha=0.5), "alpha"),
        (lambda: flows.Invertible1x1Conv(seed=-1), "seed"),
        (lambda: flows.RealNVP((4, 4, 1), num_scales=4), "divisible by 8"),
        (lambda: flows.build_toy_flow(learning_rate=0), "learning_rate"),
        (lambda: flows.RealNVP((4, 4), num_scales=1), "image_shape"),
        (lambda: flows.RealNVP((4, 4, 1), couplings_per_scale=0), "couplings_per_scale"),
        (lambda: _tiny().log_likelihood(np.full((2, 4, 4, 1), np.nan)), "NaN"),
        (lambda: _tiny().log_likelihood(GOOD.astype("int32") + 200), r"0\.\.255"),
        (lambda: _tiny().log_likelihood(GOOD / 255.0), "not all integers"),
        (lambda: _tiny().log_likelihood(GOOD[..., 0]), r"shape \(N, 4, 4, 1\)"),
        (lambda: _tiny().log_likelihood(GOOD, dequantized=True), "float data"),
        (lambda: _tiny().log_likelihood(GOOD + 0.5, dequantized=True), r"\[0, 1\)"),
        (lambda: _tiny().log_likelihood(GOOD, labels=[0, 1]), "unconditional"),
        (lambda: _tiny().log_likelihood(GOOD, seed=-1), "seed"),
        (lambda: _tiny().log_likelihood(GOOD, batch_size=0), "batch_size"),
        (lambda: _tiny().generate(0), "n must be a positive int"),
        (lambda: _tiny().generate(2, temperature=-0.1), "temperature"),
        (lambda: _tiny().generate(2, temperature=float("nan")), "temperature"),
        (lambda: _tiny().decode(np.zeros((2, 15))), r"z must have shape \(N, 16\)"),
        (lambda: flows.ToyFlow(dims=1), "dims"),
        (lambda: _toy().log_density(np.zeros((3, 3))), r"points must have shape \(N, 2\)"),
        (lambda: _toy().log_density(np.full((3, 2), np.inf)), "NaN or inf"),
        (lambda: _toy().sample(-1), "n must"),
    ],
)
def test_bad_inputs_raise_a_clear_value_error(call, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()


# -- the brute-force log-determinant ---------------------------------------------------------------


def test_jacobian_log_det_of_a_linear_map_is_log_abs_det_of_its_matrix():
    a = RNG.standard_normal((3, 3)).astype("float32")
    x = RNG.standard_normal((2, 3)).astype("float32")
    log_det, jacobians = flows.jacobian_log_det(lambda t: ops.matmul(t, a), x)
    assert log_det.shape == (2,) and jacobians.shape == (2, 3, 3) and log_det.dtype == np.float64
    np.testing.assert_allclose(jacobians[0], a.T, rtol=1e-6)  # y_j = sum_i x_i a_ij
    np.testing.assert_allclose(log_det, np.linalg.slogdet(a.astype(np.float64))[1], rtol=1e-5)
    singular, _ = flows.jacobian_log_det(lambda t: ops.matmul(t, 0.0 * a), x)
    assert np.all(np.isneginf(singular))


def test_jacobian_log_det_agrees_with_a_couplings_cheap_log_det():
    layer, x = _layer("coupling_checkerboard_1")
    cheap = _np(layer.forward(ops.convert_to_tensor(x))[1])
    expensive, jacobians = flows.jacobian_log_det(lambda t: layer.forward(t)[0], x)
    np.testing.assert_allclose(expensive, cheap, rtol=1e-4, atol=1e-4)
    # the coupling's Jacobian is triangular up to a permutation: the kept pixels are the identity
    kept = flows.checkerboard_mask(4, 4, 1)[:, :, None].repeat(2, axis=2).ravel() == 1
    np.testing.assert_allclose(jacobians[0][np.ix_(kept, kept)], np.eye(kept.sum()), atol=1e-6)
    np.testing.assert_allclose(jacobians[0][np.ix_(kept, ~kept)], 0.0, atol=1e-6)


def test_jacobian_log_det_rejects_bad_arguments():
    with pytest.raises(ValueError, match="number of dimensions"):
        flows.jacobian_log_det(lambda t: t[:, :2], np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="NaN or inf"):
        flows.jacobian_log_det(lambda t: t, np.full((1, 3), np.nan))
    with pytest.raises(ValueError, match="non-empty batch"):
        flows.jacobian_log_det(lambda t: t, np.zeros((3,), "float32"))
    with pytest.raises(TypeError, match="function"):
        flows.jacobian_log_det("not a function", np.zeros((1, 3), "float32"))
