"""PixelCNN layers: mask causality by gradients, the blind spot, exact likelihood, the sampler."""

from utils import backend, pixelcnn

import keras
import numpy as np
import pytest
from keras import ops


def _input_gradient(model, x, r, c):
    """|d logit(r, c) / d x| as an (H, W) array (summed over the batch)."""
    g = backend.input_gradients(lambda t: model(t)[:, r, c, :], ops.convert_to_tensor(x))
    return np.abs(ops.convert_to_numpy(g)).sum(axis=(0, 3))


def _raster_index(h, w):
    return np.arange(h * w).reshape(h, w)


def _random_image(shape=(1, 8, 8, 1), seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32")


# -- masks and the masked convolution ------------------------------------------------------------


def test_masks_of_a_3x3_kernel():
    np.testing.assert_array_equal(pixelcnn.causal_mask(3, "A"), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(pixelcnn.causal_mask(3, "B"), [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    assert pixelcnn.causal_mask((5, 3), "A").shape == (5, 3)


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("kernel", [3, 5, (3, 5)])
def test_single_masked_layer_is_causal(mask_type, kernel):
    layer = pixelcnn.MaskedConv2D(4, kernel, mask_type)
    model = keras.Sequential([keras.Input((8, 8, 1)), layer])
    order = _raster_index(8, 8)
    for r, c in [(0, 0), (3, 4), (4, 0), (7, 7), (2, 7)]:
        grad = _input_gradient(model, _random_image(), r, c)
        i = order[r, c]
        future = order >= i if mask_type == "A" else order > i
        assert np.all(grad[future] == 0), f"pixel {(r, c)} sees the future"
        if mask_type == "B":
            assert grad[r, c] > 0  # B sees the centre, A does not
        if i > 0 and (r > 0 or c > 0):
            assert grad[~future].sum() > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kernel_size": 4}, "odd"),
        ({"kernel_size": (3, 2)}, "odd"),
        ({"kernel_size": (3, 3, 3)}, "2-D"),
        ({"mask_type": "C"}, "'A' or 'B'"),
        ({"filters": 0}, "filters"),
    ],
)
def test_masked_conv_rejects_bad_arguments(kwargs, message):
    args = {"filters": 4, "kernel_size": 3, "mask_type": "A", **kwargs}
    with pytest.raises(ValueError, match=message):
        pixelcnn.MaskedConv2D(**args)


def test_masked_conv_rejects_non_image_inputs():
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        pixelcnn.MaskedConv2D(4, 3)(np.zeros((2, 8, 1), "float32"))


# -- whole networks: causality and the blind spot ------------------------------------------------


def _gated(n_layers=4, **kwargs):
    return pixelcnn.build_gated_pixelcnn(
        filters=8, n_layers=n_layers, image_shape=(10, 10, 1), **kwargs
    )


@pytest.mark.parametrize("builder", ["pixelcnn", "gated"])
def test_whole_network_is_causal(builder):
    keras.utils.set_random_seed(0)
    model = (
        pixelcnn.build_pixelcnn(filters=8, n_blocks=2, image_shape=(10, 10, 1))
        if builder == "pixelcnn"
        else _gated()
    )
    order = _raster_index(10, 10)
    x = _random_image((1, 10, 10, 1), seed=1)
    for r, c in [(0, 0), (0, 5), (1, 0), (4, 9), (5, 5), (9, 0), (9, 9)]:
        grad = _input_gradient(model, x, r, c)
        assert np.all(grad[order >= order[r, c]] == 0), (
            f"{builder}: pixel {(r, c)} sees itself or the future"
        )
    assert _input_gradient(model, x, 9, 9)[order < order[9, 9]].sum() > 0


def test_gated_network_has_no_blind_spot_and_stacked_masked_convs_do():
    keras.utils.set_random_seed(0)
    r, c = 6, 5
    x = _random_image((1, 10, 10, 1), seed=2)
    gated = _input_gradient(_gated(n_layers=4), x, r, c)
    # Every earlier pixel within reach: the two rows above (columns c-2..c+2) and two to the left.
    window_above = gated[r - 2 : r, c - 2 : c + 4]
    assert np.all(window_above > 0), window_above
    assert np.all(gated[r, c - 2 : c] > 0)
    # Four stacked 3x3 masked convolutions (A, B, B, B) reach just as far up, but not the
    # upper-right triangle: their blind spot, which the gated network covers.
    stack = keras.Sequential(
        [keras.Input((10, 10, 1))]
        + [pixelcnn.MaskedConv2D(8, 3, "A" if i == 0 else "B", activation="tanh") for i in range(4)]
    )
    plain = _input_gradient(stack, x, r, c)
    assert plain[r - 1, c - 1] > 0 and plain[r - 2, c - 2] > 0
    assert plain[r - 1, c + 1] > 0 and plain[r - 2, c + 2] > 0
    assert plain[r - 1, c + 2] == 0 and plain[r - 2, c + 3] == 0


def test_gated_block_rejects_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        pixelcnn.GatedPixelCNNBlock(8, 4)
    with pytest.raises(ValueError, match="'A' or 'B'"):
        pixelcnn.GatedPixelCNNBlock(8, 3, "V")
    with pytest.raises(ValueError, match="square"):
        pixelcnn.GatedPixelCNNBlock(8, (3, 5))
    with pytest.raises(ValueError, match="one-channel"):
        pixelcnn.build_gated_pixelcnn(image_shape=(28, 28, 3))
    with pytest.raises(ValueError, match="even"):
        pixelcnn.build_pixelcnn(filters=7)
    with pytest.raises(ValueError, match="even"):
        pixelcnn.PixelCNNResidualBlock(5)
    with pytest.raises(ValueError, match=r"expects \(B, H, W, 8\)"):
        pixelcnn.PixelCNNResidualBlock(8)(np.zeros((1, 6, 6, 4), "float32"))


# -- exact likelihood ----------------------------------------------------------------------------


def test_log_likelihood_is_the_summed_pixel_cross_entropy(rng):
    keras.utils.set_random_seed(0)
    model = _gated(n_layers=2)
    x = (rng.random((5, 10, 10, 1)) < 0.3).astype("float32")
    logits = ops.convert_to_numpy(model(x)).astype(np.float64)
    p = 1 / (1 + np.exp(-logits))
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(-pixelcnn.log_likelihood(model, x, batch_size=2), bce, rtol=1e-5)
    per_pixel = pixelcnn.log_likelihood(model, x, per_pixel=True)
    assert per_pixel.shape == (5, 10, 10)
    np.testing.assert_allclose(per_pixel.sum(axis=(1, 2)), -bce, rtol=1e-5)
    with pytest.raises(ValueError, match="binary"):
        pixelcnn.log_likelihood(model, x * 0.5 + 0.25)


def test_conditional_model_needs_labels(rng):
    model = _gated(n_layers=2, num_classes=3)
    x = (rng.random((4, 10, 10, 1)) < 0.5).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    ll = pixelcnn.log_likelihood(model, x, labels=labels)
    assert ll.shape == (4,) and np.all(ll < 0)
    with pytest.raises(ValueError, match="class-conditional"):
        pixelcnn.log_likelihood(model, x)
    with pytest.raises(ValueError, match="not conditional"):
        pixelcnn.log_likelihood(_gated(n_layers=2), x, labels=labels)


# -- the sampler ---------------------------------------------------------------------------------


def test_sampler_shapes_values_and_repeatability():
    keras.utils.set_random_seed(0)
    model = pixelcnn.build_gated_pixelcnn(filters=4, n_layers=2, image_shape=(6, 6, 1))
    a, seconds = pixelcnn.sample(model, 5, seed=3, batch_size=2, return_seconds=True)
    assert a.shape == (5, 6, 6, 1) and set(np.unique(a)) <= {0.0, 1.0} and seconds > 0
    np.testing.assert_array_equal(a, pixelcnn.sample(model, 5, seed=3, batch_size=2))
    assert not np.array_equal(a, pixelcnn.sample(model, 5, seed=4, batch_size=2))


def test_sampler_keeps_the_prefix_and_uses_labels(rng):
    keras.utils.set_random_seed(0)
    model = pixelcnn.build_gated_pixelcnn(
        filters=4, n_layers=2, num_classes=2, image_shape=(6, 6, 1)
    )
    prefix = (rng.random((3, 6, 6, 1)) < 0.5).astype("float32")
    labels = np.eye(2, dtype="float32")[[0, 1, 1]]
    out = pixelcnn.sample(model, prefix=prefix, n_known=15, labels=labels, seed=0)
    flat_in, flat_out = prefix.reshape(3, -1), out.reshape(3, -1)
    np.testing.assert_array_equal(flat_out[:, :15], flat_in[:, :15])
    assert set(np.unique(flat_out)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="class-conditional"):
        pixelcnn.sample(model, 2)
    with pytest.raises(ValueError, match="n_known"):
        pixelcnn.sample(model, prefix=prefix, n_known=37, labels=labels)
    with pytest.raises(ValueError, match="needs a prefix"):
        pixelcnn.sample(model, 2, n_known=3, labels=labels[:2])


# -- saving, training ----------------------------------------------------------------------------


@pytest.mark.parametrize("builder", ["pixelcnn", "gated_conditional"])
def test_keras_save_and_load_round_trip(tmp_path, builder, rng):
    if builder == "pixelcnn":
        model, inputs = (
            pixelcnn.build_pixelcnn(filters=8, n_blocks=1, image_shape=(10, 10, 1)),
            None,
        )
    else:
        model = _gated(n_layers=2, num_classes=3)
        inputs = np.eye(3, dtype="float32")[[0, 2]]
    x = (rng.random((2, 10, 10, 1)) < 0.5).astype("float32")
    args = x if inputs is None else [x, inputs]
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(args)), ops.convert_to_numpy(model(args)), rtol=1e-5, atol=1e-6
    )
    layer = pixelcnn.MaskedConv2D(3, 5, "A", activation="relu")
    clone = pixelcnn.MaskedConv2D.from_config(layer.get_config())
    assert (clone.filters, clone.kernel_size, clone.mask_type) == (3, (5, 5), "A")
    block = pixelcnn.PixelCNNResidualBlock.from_config(
        pixelcnn.PixelCNNResidualBlock(6, 5).get_config()
    )
    assert (block.filters, block.kernel_size) == (6, (5, 5))


def test_training_lowers_the_negative_log_likelihood(subset_arrays):
    keras.utils.set_random_seed(0)
    x = (subset_arrays["x_train"][:256, ..., None] > 127).astype("float32")
    model = pixelcnn.build_gated_pixelcnn(filters=8, n_layers=3)
    before = -pixelcnn.log_likelihood(model, x).mean()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    model.fit(x, x, epochs=10, batch_size=32, verbose=0)
    after = -pixelcnn.log_likelihood(model, x).mean()
    assert after < 0.6 * before  # 784 log 2 = 543 nats at random init


def test_label_dropout_binarization(subset_arrays):
    images = subset_arrays["x_train"][:400, ..., None].astype("float32") / 255.0
    labels = subset_arrays["y_train"][:400]
    data = pixelcnn.LabelDropoutBinarization(
        images, labels, label_dropout=0.25, batch_size=400, seed=0
    )
    (x, y), target = data[0]
    assert x is target and set(np.unique(x)) <= {0.0, 1.0}
    assert y.shape == (400,) and np.issubdtype(y.dtype, np.integer)
    dropped = y == 10  # the reserved "no label" id
    assert 0.15 < np.mean(dropped) < 0.35
    order = data._order[:400]
    np.testing.assert_array_equal(y[~dropped], labels[order][~dropped])
    # the form of a bare network: one-hot rows, all zeros where the label was dropped
    former = pixelcnn.LabelDropoutBinarization(
        images, labels, label_dropout=0.25, batch_size=400, seed=0, one_hot=True
    )
    (_, c), _ = former[0]
    assert c.shape == (400, 10)
    np.testing.assert_array_equal(c.sum(axis=1) == 0, dropped)
    np.testing.assert_array_equal(c[~dropped].argmax(axis=1), y[~dropped])
    with pytest.raises(ValueError, match="label_dropout"):
        pixelcnn.LabelDropoutBinarization(images, labels, label_dropout=1.5)
    with pytest.raises(ValueError, match="null_label"):
        pixelcnn.LabelDropoutBinarization(images, labels, null_label=3)


def test_windowed_sampler_draws_the_same_images_faster():
    keras.utils.set_random_seed(0)
    net = pixelcnn.build_gated_pixelcnn(
        filters=4, n_layers=3, num_classes=10, image_shape=(12, 12, 1)
    )
    seen = pixelcnn.receptive_field(net, (11, 6), labels=np.eye(10, dtype="float32")[[2]])
    rows, cols = np.nonzero(seen)
    up, side = 11 - rows.min(), max(6 - cols.min(), cols.max() - 6)
    assert (up, side) == (4, 4)  # n_layers + 1 for 3x3 kernels (the shift, mask A)
    labels = np.eye(10, dtype="float32")[[1, 7, 3]]
    full = pixelcnn.sample(net, 3, labels=labels, seed=5, batch_size=3)
    windowed = pixelcnn.sample(
        net, 3, labels=labels, seed=5, batch_size=3, window=(up + 1, 2 * side + 1)
    )
    np.testing.assert_array_equal(full, windowed)
    assert pixelcnn.receptive_window(net, labels=labels[:1]) == (up + 1, 2 * side + 1)
    model = pixelcnn.PixelCNN(net, num_classes=10)
    assert pixelcnn.receptive_window(model, labels=1) == (up + 1, 2 * side + 1)
    completed = model.generate(
        3, labels=[1, 7, 3], prefix=full, n_known=6 * 12, seed=9, window=(up + 1, 2 * side + 1)
    )
    np.testing.assert_array_equal(completed[:, :6], full[:, :6])  # the known top half is kept
    assert pixelcnn.seconds_per_pass(model, 2, window=(up + 1, 2 * side + 1), repeats=1) > 0
    with pytest.raises(ValueError, match="receptive field"):
        pixelcnn.sample(net, 1, labels=labels[:1], window=(up, 2 * side + 1))
    with pytest.raises(ValueError, match="larger than"):
        pixelcnn.sample(net, 1, labels=labels[:1], window=(13, 5))
