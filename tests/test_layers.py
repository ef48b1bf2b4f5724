"""The contract of every custom layer, on the active backend: config round trip, output shape,
``.keras`` round trip with identical outputs. CI runs this file under TensorFlow, JAX and
PyTorch."""

import utils  # noqa: F401  (registers the course's layers)
from utils import flows, pixelcnn, vae

import keras
import numpy as np
import pytest

rng = np.random.default_rng(0)
IMAGE = rng.random((2, 6, 6, 1)).astype("float32")
FEATURES = rng.random((2, 6, 6, 4)).astype("float32")
CONDITION = np.eye(3, dtype="float32")[[0, 2]]
MEAN = rng.normal(size=(2, 3)).astype("float32")
LOG_VAR = np.full((2, 3), -200.0, "float32")  # exp(-100) noise: the output is the mean
LEVELS = np.floor(IMAGE * 256).astype("float32") + 0.5  # dequantized 8-bit values in [0, 256)

LAYERS = {
    "Sampling": (lambda: vae.Sampling(seed=1), [MEAN, LOG_VAR]),
    "MaskedConv2D_A": (lambda: pixelcnn.MaskedConv2D(4, 3, "A"), [IMAGE]),
    "MaskedConv2D_B": (lambda: pixelcnn.MaskedConv2D(4, (3, 5), "B"), [FEATURES]),
    "PixelCNNResidualBlock": (lambda: pixelcnn.PixelCNNResidualBlock(4), [FEATURES]),
    "GatedPixelCNNBlock": (lambda: pixelcnn.GatedPixelCNNBlock(4, 3, "A"), [[IMAGE, IMAGE]]),
    "GatedPixelCNNBlock_conditional": (
        lambda: pixelcnn.GatedPixelCNNBlock(4, 3, "B", conditional=True),
        [[FEATURES, FEATURES, CONDITION]],
    ),
    # normalizing flows: each returns (y, log_det)
    "AffineCoupling_checkerboard": (
        lambda: flows.AffineCoupling("checkerboard", 1, 4, 1),
        [FEATURES],
    ),
    "AffineCoupling_channel": (lambda: flows.AffineCoupling("channel", 0, 4, 0), [FEATURES]),
    "DenseAffineCoupling": (lambda: flows.DenseAffineCoupling(0, 4, 1), [MEAN]),
    "Squeeze": (flows.Squeeze, [FEATURES]),
    "ActNorm": (flows.ActNorm, [FEATURES]),
    "Invertible1x1Conv": (lambda: flows.Invertible1x1Conv(seed=2), [FEATURES]),
    "Dequantize": (lambda: flows.Dequantize(noise=False, seed=3), [LEVELS]),
    "LogitTransform": (lambda: flows.LogitTransform(0.1), [IMAGE]),
}


def _model(make, example):
    """A functional model around the layer, with inputs shaped like ``example``."""
    args = example[0]
    if isinstance(args, list) and len(example) == 1:
        inputs = [keras.Input(a.shape[1:]) for a in args]
        outputs = make()(inputs)
    else:
        inputs = [keras.Input(a.shape[1:]) for a in example]
        outputs = make()(inputs if len(inputs) > 1 else inputs[0])
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs)


def _call(model, example):
    """The model's outputs as a list of NumPy arrays (one per output)."""
    args = example[0] if isinstance(example[0], list) and len(example) == 1 else example
    out = model.predict_on_batch(args if len(args) > 1 else args[0])
    return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(out)]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_config_round_trip(name):
    make, _ = LAYERS[name]
    layer = make()
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_output_shape_matches_compute_output_shape(name):
    make, example = LAYERS[name]
    layer = make()
    args = example[0] if isinstance(example[0], list) and len(example) == 1 else example
    out = layer(args if len(args) > 1 else args[0])
    shapes = [tuple(a.shape) for a in args]
    expected = layer.compute_output_shape(shapes if len(shapes) > 1 else shapes[0])
    got = [tuple(o.shape) for o in out] if isinstance(out, (list, tuple)) else tuple(out.shape)
    if isinstance(got, list):
        assert [tuple(e) for e in expected] == got
    else:
        assert tuple(expected) == got


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_keras_file_round_trip_gives_identical_outputs(name, tmp_path):
    make, example = LAYERS[name]
    model = _model(make, example)
    before = _call(model, example)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = _call(loaded, example)
    assert len(after) == len(before)
    for a, b in zip(after, before):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert type(loaded.layers[-1]).__name__ == type(model.layers[-1]).__name__


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_bad_construction_raises_value_error(name):
    bad = {
        "Sampling": lambda: vae.Sampling(seed="x"),
        "MaskedConv2D_A": lambda: pixelcnn.MaskedConv2D(0, 3, "A"),
        "MaskedConv2D_B": lambda: pixelcnn.MaskedConv2D(4, 4, "B"),
        "PixelCNNResidualBlock": lambda: pixelcnn.PixelCNNResidualBlock(-1),
        "GatedPixelCNNBlock": lambda: pixelcnn.GatedPixelCNNBlock(4, 3, "Z"),
        "GatedPixelCNNBlock_conditional": lambda: pixelcnn.GatedPixelCNNBlock(
            4, 2, "B", conditional=True
        ),
        "AffineCoupling_checkerboard": lambda: flows.AffineCoupling("diagonal"),
        "AffineCoupling_channel": lambda: flows.AffineCoupling("channel", parity=2),
        "DenseAffineCoupling": lambda: flows.DenseAffineCoupling(hidden_units=0),
        "Squeeze": lambda: flows.Squeeze()(np.zeros((1, 3, 4, 1), "float32")),
        "ActNorm": lambda: flows.ActNorm(epsilon=-1.0),
        "Invertible1x1Conv": lambda: flows.Invertible1x1Conv(seed=-2),
        "Dequantize": lambda: flows.Dequantize(seed=1.5),
        "LogitTransform": lambda: flows.LogitTransform(alpha=0.0),
    }[name]
    with pytest.raises((ValueError, TypeError)):
        bad()
